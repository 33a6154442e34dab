"""A herd of callers with one expired token: Canvas sees exactly one refresh.

These run on whichever database ``DATABASE_URL`` names. Models are imported inside the
tests: the process workers import this module before Django is set up.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, connections

THREADS = 12
PROCESSES = 6
LATENCY = 0.2
# Seconds a worker process waits for a refresh, or for Canvas, before it gives up.
WORKER_PATIENCE = 30


def claim_elsewhere(pk: int, seconds: float = 30) -> None:
    """Mark the row as being refreshed by another process, as its claim would."""
    from datetime import timedelta

    from django.utils import timezone

    from canvas_oauth.models import CanvasOAuth2Token

    CanvasOAuth2Token.objects.filter(pk=pk).update(
        refresh_claim="another-process",
        refresh_claimed_until=timezone.now() + timedelta(seconds=seconds),
    )


def run_together(count: int, call: Callable[[], str]) -> list[str]:
    """Run ``call`` in ``count`` threads released at once; return their results in order."""
    barrier = threading.Barrier(count)
    results: list[str | None] = [None] * count
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    return results  # type: ignore[return-value]


def as_request(rf, user):
    request = rf.get("/canvas/")
    request.user = user
    return request


@pytest.mark.django_db(transaction=True)
def test_threads_share_one_refresh_through_get_oauth_token(rf, user, expired_token, fake_canvas):
    from canvas_oauth.models import CanvasOAuth2Token
    from canvas_oauth.oauth import get_oauth_token

    fake_canvas.latency["token"] = LATENCY
    results = run_together(THREADS, lambda: get_oauth_token(as_request(rf, user)))
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert len(set(results)) == 1
    assert results[0] != expired_token.access_token
    assert fake_canvas.is_live(results[0])
    assert CanvasOAuth2Token.objects.get(pk=expired_token.pk).access_token == results[0]


@pytest.mark.django_db(transaction=True)
def test_a_herd_on_a_token_made_by_hand_with_scopes_configured(
    rf, user, expired_token, fake_canvas, settings
):
    """The original app's rows record no scopes; configured scopes must not turn them away."""
    from canvas_oauth.oauth import get_oauth_token

    settings.CANVAS_OAUTH_SCOPES = ["url:GET|/api/v1/courses"]
    fake_canvas.latency["token"] = LATENCY
    results = run_together(THREADS, lambda: get_oauth_token(as_request(rf, user)))
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert len(set(results)) == 1
    assert fake_canvas.is_live(results[0])


@pytest.mark.django_db(transaction=True)
def test_threads_share_one_refresh_through_the_token_service(user, expired_token, fake_canvas):
    from canvas_oauth import tokens

    fake_canvas.latency["token"] = LATENCY
    results = run_together(THREADS, lambda: tokens.get_token(user).access_token)
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert len(set(results)) == 1
    assert fake_canvas.is_live(results[0])


@pytest.mark.django_db(transaction=True)
def test_a_dead_refresh_token_is_found_once_by_the_herd(user, expired_token, fake_canvas):
    from canvas_oauth import tokens
    from canvas_oauth.exceptions import MissingTokenError
    from canvas_oauth.models import CanvasOAuth2Token

    fake_canvas.revoke_all()
    fake_canvas.latency["token"] = LATENCY

    def call() -> str:
        try:
            return tokens.get_token(user).access_token
        except MissingTokenError:
            return "missing"

    assert set(run_together(THREADS, call)) == {"missing"}
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert not CanvasOAuth2Token.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_expired_token_refreshed_elsewhere_too_long_answers_503_and_is_kept(
    browser, user, expired_token, fake_canvas, settings
):
    from canvas_oauth import tokens
    from canvas_oauth.exceptions import TokenRefreshError
    from canvas_oauth.models import CanvasOAuth2Token

    settings.CANVAS_OAUTH_REFRESH_WAIT = 0.2
    before = CanvasOAuth2Token.objects.get(pk=expired_token.pk)
    claim_elsewhere(before.pk)  # another worker's refresh that takes far too long
    response = browser.get("/canvas/")
    with pytest.raises(TokenRefreshError):
        tokens.get_token(user)
    assert response.status_code == 503
    assert b"not available right now" in response.content
    assert fake_canvas.calls["token"] == 0
    after = CanvasOAuth2Token.objects.get(pk=before.pk)
    assert (after.access_token, after.refresh_token, after.expires) == (
        before.access_token,
        before.refresh_token,
        before.expires,
    )
    # That worker died: its claim lapses, and the next request refreshes, once.
    CanvasOAuth2Token.objects.filter(pk=before.pk).update(refresh_claimed_until=None)
    assert browser.get("/canvas/").status_code == 200
    assert browser.get("/canvas/").status_code == 200
    assert fake_canvas.calls["token:refresh_token"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_lapsed_claim_does_not_block_the_next_refresh(user, expired_token, fake_canvas):
    from canvas_oauth import tokens

    claim_elsewhere(expired_token.pk, seconds=-1)  # its holder died a while ago
    assert fake_canvas.is_live(tokens.get_token(user).access_token)
    assert fake_canvas.calls["token:refresh_token"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_valid_token_refreshed_elsewhere_is_used_at_once(user, fake_canvas, settings):
    from datetime import timedelta

    from canvas_oauth import tokens
    from tests.conftest import store_token

    settings.CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER = timedelta(minutes=5)
    token = store_token(fake_canvas, user, expires_in=120)  # within the buffer, still valid
    claim_elsewhere(token.pk)
    assert tokens.get_token(user).access_token == token.access_token
    assert fake_canvas.calls["token"] == 0


@pytest.mark.django_db(transaction=True)
def test_threads_do_not_queue_behind_an_early_refresh(user, fake_canvas, settings, held_latency):
    """While one thread refreshes a still-valid token, the others get it at once."""
    from datetime import timedelta

    from canvas_oauth import tokens
    from tests.conftest import PATIENCE, store_token, wait_until

    settings.CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER = timedelta(minutes=5)
    token = store_token(fake_canvas, user, expires_in=120)
    fake_canvas.latency["token"] = 1.0  # held at Canvas until released
    refreshed, done = [], threading.Event()

    def early_refresher() -> None:
        try:
            refreshed.append(tokens.get_token(user).access_token)
        finally:
            done.set()
            connection.close()

    thread = threading.Thread(target=early_refresher)
    thread.start()
    wait_until(
        lambda: fake_canvas.calls["token:refresh_token"] > 0 or done.is_set(),
        "the refresh reaching Canvas",
    )
    others = [tokens.get_token(user).access_token for _ in range(3)]
    assert not done.is_set()  # they did not wait for it
    held_latency.set()
    thread.join(PATIENCE)
    assert others == [token.access_token] * 3
    assert refreshed and refreshed[0] != token.access_token
    assert fake_canvas.calls["token:refresh_token"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_waiter_returns_the_token_refreshed_while_it_waited(user, expired_token, fake_canvas):
    from canvas_oauth import tokens
    from canvas_oauth.models import CanvasOAuth2Token
    from tests.conftest import wait_until

    fake_canvas.latency["token"] = 0.5
    stale = CanvasOAuth2Token.objects.get(pk=expired_token.pk)
    first: list[str] = []

    def refresher() -> None:
        try:
            first.append(tokens.get_token(user).access_token)
        finally:
            connection.close()

    thread = threading.Thread(target=refresher)
    thread.start()
    # The refresher holds the claim while Canvas answers.
    wait_until(lambda: fake_canvas.calls["token:refresh_token"] == 1, "the refresh at Canvas")
    second = tokens.refresh(stale).access_token
    thread.join(10)
    assert first == [second]
    assert fake_canvas.calls["token:refresh_token"] == 1


# Separate processes: each one its own Django, connection and process-local locks, all
# refreshing through a fake Canvas on loopback that counts the calls.


def _setup_django(config: dict) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = config["db_name"]
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = config["domain"]
    # Spawned processes on a loaded machine start and run late: the refresher may take
    # seconds, and its waiters must not give up (1 s by default) or time out (3 s) first.
    settings.CANVAS_OAUTH_REFRESH_WAIT = WORKER_PATIENCE
    settings.CANVAS_OAUTH_TIMEOUT = WORKER_PATIENCE
    import django

    django.setup()


def _prepare_file_db(config: dict, token: dict) -> None:
    """Create the schema, a user and an expired token in a SQLite file (own process)."""
    _setup_django(config)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from canvas_oauth.models import CanvasOAuth2Token

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("ada", "ada@example.edu", "pw")
    CanvasOAuth2Token.objects.create(
        user=user,
        access_token=token["access_token"],
        refresh_token=token["refresh_token"],
        expires=timezone.now() - timedelta(seconds=10),
    )
    connections.close_all()


def _herd_worker(config: dict, barrier, results) -> None:
    """Refresh the user's token in a process of its own; report the token or the error."""
    try:
        _setup_django(config)
        from django.contrib.auth import get_user_model

        from canvas_oauth import tokens

        user = get_user_model().objects.get(username=config["username"])
        barrier.wait(timeout=60)
        results.put(tokens.get_token(user).access_token)
    except BaseException as exc:
        results.put(f"error: {exc!r}")
    finally:
        connections.close_all()


def refresh_in_own_process(config: dict, results) -> None:
    """Refresh the user's token in a process of its own, right away."""
    try:
        _setup_django(config)
        from django.contrib.auth import get_user_model

        from canvas_oauth import tokens

        user = get_user_model().objects.get(username=config["username"])
        results.put(tokens.get_token(user).access_token)
    except BaseException as exc:
        results.put(f"error: {exc!r}")
    finally:
        connections.close_all()


def database_for_processes(user, token, domain: str, tmp_path) -> dict:
    """Return the worker config; an in-memory test database becomes a SQLite file first.

    An in-memory database lives in one process, so processes share a file instead.
    """
    db_name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        db_name = str(tmp_path / "site.sqlite3")
    config = {"db_name": db_name, "domain": domain, "username": user.username}
    if db_name != connection.settings_dict["NAME"]:
        values = {"access_token": token.access_token, "refresh_token": token.refresh_token}
        prepare = multiprocessing.get_context("spawn").Process(
            target=_prepare_file_db, args=(config, values)
        )
        prepare.start()
        prepare.join(60)
        assert prepare.exitcode == 0
    connections.close_all()  # nothing shared with the children
    return config


@pytest.mark.django_db(transaction=True)
def test_processes_share_one_refresh(user, live_fake_canvas, settings, tmp_path):
    from tests.conftest import store_token

    fake = live_fake_canvas
    token = store_token(fake, user, expires_in=-10)
    fake.expire_access_tokens()
    config = database_for_processes(user, token, settings.CANVAS_OAUTH_CANVAS_DOMAIN, tmp_path)
    context = multiprocessing.get_context("spawn")

    fake.latency["token"] = LATENCY
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_herd_worker, args=(config, barrier, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=90) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    assert not [answer for answer in answers if answer.startswith("error:")], answers
    assert fake.calls["token:refresh_token"] == 1
    assert len(set(answers)) == 1
    assert fake.is_live(answers[0])
