"""``docs/howto/bulk-jobs.md``, as written: a pool of threads on one session, per-item errors.

The page's blocks run against the fake Canvas served over HTTP (the pool's threads call
it for real), as the teacher of a course enrolling students the fake knows, and one it
does not. The database is shared with those threads, so these tests commit.
"""

import json
import types

import pytest
from django.test import RequestFactory
from django.urls import include, path

from canvas_oauth.api import CanvasSession
from canvas_oauth.exceptions import CanvasUnavailableError, MissingTokenError
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import store_token
from tests.docs_examples import run_block

PAGE = "howto/bulk-jobs.md"
progress = []
notified = []


def record_progress(teacher_pk, done, total):
    progress.append((done, total))


def notify(user, message):
    notified.append((user, message))


def example(page, key, **names):
    module = types.ModuleType("docs_bulk_jobs")
    module.__dict__.update(names)
    run_block(page, key, module.__dict__)
    return module


batch = example(PAGE, "def run_batch(")
view = example(PAGE, "def enroll_students(", run_batch=batch.run_batch, enroll=batch.enroll)
task = example(
    PAGE,
    "def enroll_students_task(",
    run_batch=batch.run_batch,
    enroll=batch.enroll,
    record_progress=record_progress,
    notify=notify,
)

urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("courses/<int:course_id>/enroll/", view.enroll_students),
]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


@pytest.fixture
def canvas(live_fake_canvas, user, settings):
    live_fake_canvas.latency["api"] = 0.02
    store_token(live_fake_canvas, user, domain=settings.CANVAS_OAUTH_CANVAS_DOMAIN)
    progress.clear()
    notified.clear()
    return live_fake_canvas


@pytest.fixture
def course(canvas):
    (taught,) = canvas.add_courses(n=1, enrollment="teacher")
    return taught


@pytest.fixture
def students(canvas):
    return [canvas.add_user(f"Student {n}") for n in range(20)]


def test_reading_many_courses_collects_each_failure_and_goes_on(canvas, user):
    ids = [c.id for c in canvas.add_courses(n=30)]
    with CanvasSession.for_user(user) as session:
        done, failed = batch.run_batch(
            session, [*ids, 9999], batch.read_course, progress=lambda *seen: progress.append(seen)
        )
    assert sorted(done) == ids
    assert done[ids[0]]["name"] == f"Course {ids[0]}"
    assert list(failed) == [9999]
    assert failed[9999].response.status_code == 404
    assert progress[-1] == (31, 31)
    assert [n for n, _ in progress] == list(range(1, 32))


def test_a_task_enrolls_everyone_and_reports_who_failed(canvas, user, course, students):
    ids = [s.id for s in students]
    result = task.enroll_students_task(user.pk, course.id, [*ids, 424242])
    assert result["enrolled"] == sorted(ids)
    assert list(result["failed"]) == [424242]
    assert "404" in result["failed"][424242]
    assert all(any(c.id == course.id for c in s.courses) for s in students)
    assert progress[-1] == (21, 21)
    assert canvas.calls["throttled"] == 0


def test_a_post_canvas_did_not_answer_is_not_sent_again(canvas, user, course, students):
    canvas.misbehave("api", "drop", times=1)
    canvas.misbehave("api", "throttle", times=1)  # refused before Canvas did anything
    with CanvasSession.for_user(user) as session:
        done, failed = batch.run_batch(
            session, [s.id for s in students], lambda c, u: batch.enroll(c, course.id, u)
        )
    assert len(done) == 19
    ((dropped, error),) = failed.items()
    assert isinstance(error, CanvasUnavailableError)
    assert [s.id for s in students if s.courses] == sorted(done)
    assert dropped not in done
    # 20 sent once, and the throttled one again: the dropped one was not sent again.
    assert canvas.calls["enroll"] == 21


def test_a_task_without_a_token_asks_the_user_to_reconnect(canvas, user, other_user, course):
    assert task.enroll_students_task(other_user.pk, course.id, [1]) is None
    ((whom, message),) = notified
    assert whom == other_user
    assert message.startswith("Please reconnect Canvas: https://tool.example.edu/oauth/authorize?")


def test_a_dead_token_stops_the_batch(canvas, user, course, students):
    canvas.misbehave("api", "invalid_token")  # every call, the refreshed token's too
    # The thread that meets the rejection raises InvalidTokenError; one that reads the
    # token after the row is gone raises its base, MissingTokenError. Which one the batch
    # reports first is up to the threads; the how-to catches the base for that reason.
    with CanvasSession.for_user(user) as session, pytest.raises(MissingTokenError):
        batch.run_batch(
            session, [s.id for s in students], lambda c, u: batch.enroll(c, course.id, u)
        )
    assert not any(s.courses for s in students)
    assert not CanvasOAuth2Token.objects.filter(user=user).exists()  # the user must renew


def test_the_view_enrolls_a_section(canvas, user, course, students):
    request = RequestFactory().post(
        f"/courses/{course.id}/enroll/", {"user_id": [str(s.id) for s in students[:5]] + ["77"]}
    )
    request.user = user
    request.session = {}
    body = json.loads(view.enroll_students(request, course.id).content)
    assert body["enrolled"] == sorted(str(s.id) for s in students[:5])
    assert list(body["failed"]) == ["77"]
