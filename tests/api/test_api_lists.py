"""``CanvasSession.paginate`` and throttling under load, against the fake Canvas's lists."""

import threading

import pytest
import requests

from canvas_oauth import pacing
from canvas_oauth.api import CanvasSession
from canvas_oauth.exceptions import CanvasRequestError, CanvasThrottledError, CanvasURLError
from canvas_oauth.testing import FakeCanvas, LiveFakeCanvas, mock_canvas
from canvas_oauth.testing.pytest_plugin import fake_from_settings
from tests.conftest import store_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(fake_canvas, stored_token, user):
    return CanvasSession.for_user(user)


# -- Pagination -------------------------------------------------------------------------------


def test_pages_are_followed_with_100_items_a_page_by_default(fake_canvas, session):
    fake_canvas.add_courses(n=150)
    courses = list(session.paginate("courses"))
    assert [c["id"] for c in courses] == list(range(1, 151))
    assert fake_canvas.calls["courses"] == 2  # Canvas's default of 10 would take 15


def test_the_callers_per_page_and_parameters_are_kept_on_every_page(fake_canvas, session):
    fake_canvas.add_courses(n=25)
    courses = list(session.paginate("courses", {"per_page": 10, "include[]": "term"}))
    assert len(courses) == 25
    assert fake_canvas.calls["courses"] == 3


def test_a_per_page_in_the_path_is_kept(fake_canvas, session):
    fake_canvas.add_courses(n=25)
    assert len(list(session.paginate("courses?per_page=10"))) == 25
    assert fake_canvas.calls["courses"] == 3


def test_bookmark_pages_are_followed_as_given(fake_canvas, session):
    views = fake_canvas.add_page_views(n=25)
    listed = list(session.paginate("users/self/page_views", {"per_page": 10}))
    assert [v["id"] for v in listed] == [v.id for v in reversed(views)]
    assert fake_canvas.calls["page_views"] == 3


def test_max_pages_stops_early(fake_canvas, session):
    fake_canvas.add_page_views(n=25)
    listed = list(session.paginate("users/self/page_views", {"per_page": 10}, max_pages=2))
    assert len(listed) == 20
    assert fake_canvas.calls["page_views"] == 2


def test_pages_are_fetched_as_they_are_consumed(fake_canvas, session):
    fake_canvas.add_courses(n=25)
    items = session.paginate("courses", {"per_page": 10})
    assert next(items)["id"] == 1
    assert fake_canvas.calls["courses"] == 1


def test_a_page_canvas_refuses_raises_http_error(fake_canvas, session):
    with pytest.raises(requests.HTTPError):
        list(session.paginate("courses", {"page": "0"}))  # Canvas: 404


def test_an_answer_that_is_not_a_list_is_a_clear_error(fake_canvas, session):
    with pytest.raises(CanvasRequestError, match="not a list"):
        list(session.paginate("users/self"))
    fake_canvas.misbehave("api", "garbage", times=1)
    with pytest.raises(CanvasRequestError, match="not a list"):
        list(session.paginate("courses"))


def test_a_next_link_to_another_host_raises_and_that_host_sees_nothing(user):
    canvas = fake_from_settings()
    evil = FakeCanvas(base_url="https://evil.example.com")
    with mock_canvas(canvas, evil) as mock:
        store_token(canvas, user)
        canvas.add_courses(n=25)
        canvas.base_url = evil.base_url  # Canvas's links now name the other host
        items = CanvasSession.for_user(user).paginate("courses", {"per_page": 10})
        assert len([next(items) for _ in range(10)]) == 10
        with pytest.raises(CanvasURLError):
            next(items)
        assert [call.request.url.split("/")[2] for call in mock.calls] == ["canvas.example.edu"]
    assert sum(evil.calls.values()) == 0


def test_a_next_link_to_another_port_raises_over_http(live_fake_canvas, user, settings):
    store_token(live_fake_canvas, user, domain=settings.CANVAS_OAUTH_CANVAS_DOMAIN)
    live_fake_canvas.add_courses(n=25)
    other = FakeCanvas()
    with LiveFakeCanvas(other) as elsewhere:
        live_fake_canvas.base_url = elsewhere.url  # 127.0.0.1 still, on another port
        with pytest.raises(CanvasURLError):
            list(CanvasSession.for_user(user).paginate("courses", {"per_page": 10}))
    assert live_fake_canvas.calls["courses"] == 1
    assert sum(other.calls.values()) == 0


# -- Throttling -------------------------------------------------------------------------------


def test_a_call_canvas_says_it_cannot_admit_in_time_is_not_retried(fake_canvas, session, settings):
    settings.CANVAS_OAUTH_API_RETRY_BUDGET = 0.3
    fake_canvas.throttle.hwm = 40  # below one request's up-front cost: every call refused
    with pytest.raises(CanvasThrottledError):
        session.get("users/self")
    # The refusal said 40 units left: admitted in about 1.1 s, past the budget. Retrying
    # sooner would only be refused again.
    assert fake_canvas.calls["throttled"] == fake_canvas.calls["users_self"] == 1


def test_heavy_pages_that_drain_the_bucket_are_paced_and_retried(fake_canvas, user, stored_token):
    # Canvas charges each call what it cost it; a heavy list drains the bucket in a few
    # pages. Leaking a hundred times faster here, on both sides, to keep the test short.
    fake_canvas.throttle.route_costs["/api/v1/courses"] = 200.0
    fake_canvas.throttle.outflow = 1000.0
    fake_canvas.add_courses(n=30)
    session = CanvasSession.for_user(user)
    session.bucket = pacing.Bucket(600.0, 1000.0, 50.0, maximum=800.0)
    courses = list(session.paginate("courses", {"per_page": 5}))
    assert [c["id"] for c in courses] == list(range(1, 31))
    assert fake_canvas.calls["courses"] - fake_canvas.calls["throttled"] == 6


THREADS = 16


def run_threads(call):
    """Run ``call`` from THREADS threads at once, twice each; return the statuses."""
    statuses = []
    barrier = threading.Barrier(THREADS)

    def worker():
        barrier.wait()
        for _ in range(2):
            statuses.append(call())

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_unpaced_threads_on_one_token_are_throttled(fake_canvas, stored_token):
    # The load of the next test, sent without the session: Canvas refuses part of it.
    fake_canvas.latency["api"] = 0.2
    url = "https://canvas.example.edu/api/v1/users/self"
    headers = {"Authorization": f"Bearer {stored_token.access_token}"}
    statuses = run_threads(lambda: requests.get(url, headers=headers, timeout=5).status_code)
    assert statuses.count(429) > 0
    assert fake_canvas.calls["throttled"] == statuses.count(429)


def test_threads_sharing_a_token_pace_themselves_before_canvas_refuses(
    fake_canvas, stored_token, user
):
    fake_canvas.latency["api"] = 0.2
    # Two sessions (as two requests of one user would have), one token, one pace.
    sessions = [CanvasSession.for_user(user), CanvasSession.for_user(user)]
    for session in sessions:
        assert session.get("users/self").status_code == 200  # reads the token
    turn = iter(range(2 * THREADS))
    statuses = run_threads(lambda: sessions[next(turn) % 2].get("users/self").status_code)
    assert statuses == [200] * 2 * THREADS
    assert fake_canvas.calls["throttled"] == 0
    assert pacing.for_token(stored_token.access_token, CanvasSession.bucket).waits > 0


def test_threads_sharing_one_session_pace_themselves_over_http(live_fake_canvas, user, settings):
    token = store_token(live_fake_canvas, user, domain=settings.CANVAS_OAUTH_CANVAS_DOMAIN)
    live_fake_canvas.latency["api"] = 0.2
    session = CanvasSession.for_user(user)
    assert session.get("users/self").status_code == 200
    statuses = run_threads(lambda: session.get("users/self").status_code)
    assert statuses == [200] * 2 * THREADS
    assert live_fake_canvas.calls["throttled"] == 0
    assert pacing.for_token(token.access_token, CanvasSession.bucket).waits > 0
