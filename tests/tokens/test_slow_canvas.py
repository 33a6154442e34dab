"""When Canvas is slow or failing, nobody waits on a refresh they do not need.

The rules of ``canvas_oauth.refresher``: a still-valid token is served while it is being
refreshed, waiters on an expired one wait a short bounded time, the breaker fails
refreshes fast at a failing Canvas, and no refresh holds a database lock while Canvas
answers.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import timedelta

import pytest
from django.db import connection

from canvas_oauth import breaker, claims, tokens
from canvas_oauth.canvas import TokenGrant
from canvas_oauth.exceptions import MissingTokenError, TokenRefreshError
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import PATIENCE, store_token, wait_until

BUFFER = timedelta(minutes=5)


@pytest.fixture
def early(settings):
    """Tokens are refreshed five minutes before they expire."""
    settings.CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER = BUFFER


def in_thread(call):
    """Start ``call`` in a thread; return (results, done event, thread)."""
    results, done = [], threading.Event()

    def run():
        try:
            results.append(call())
        except BaseException as exc:
            results.append(exc)
        finally:
            done.set()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return results, done, thread


def until_canvas_is_asked(fake_canvas, done):
    wait_until(
        lambda: fake_canvas.calls["token:refresh_token"] > 0 or done.is_set(),
        "the refresh reaching Canvas",
    )


@pytest.mark.django_db
def test_an_early_refresh_that_fails_serves_the_still_valid_token(user, fake_canvas, early):
    token = store_token(fake_canvas, user, expires_in=120)
    fake_canvas.misbehave("token", "unavailable", times=1)
    assert tokens.get_token(user).access_token == token.access_token  # no 503
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert (row.access_token, row.expires) == (token.access_token, token.expires)
    assert fake_canvas.is_live(tokens.get_token(user).access_token)  # the next one works
    assert fake_canvas.calls["token:refresh_token"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_waiter_on_an_expired_token_gives_up_after_the_refresh_wait(
    user, expired_token, fake_canvas, settings, held_latency
):
    settings.CANVAS_OAUTH_REFRESH_WAIT = 0.2
    fake_canvas.latency["token"] = 2.0  # held at Canvas until released
    first, done, thread = in_thread(lambda: tokens.get_token(user).access_token)
    until_canvas_is_asked(fake_canvas, done)
    with pytest.raises(TokenRefreshError):
        tokens.get_token(user)
    assert not done.is_set()  # it gave up while the refresh was still at Canvas
    held_latency.set()
    thread.join(PATIENCE)
    assert fake_canvas.is_live(first[0])
    assert fake_canvas.calls["token:refresh_token"] == 1


def trip_the_breaker(fake_canvas, django_user_model, failing=5):
    """Make ``failing`` different users' refreshes fail at Canvas."""
    fake_canvas.misbehave("token", "error", times=failing)
    for number in range(failing):
        someone = django_user_model.objects.create_user(f"user{number}")
        store_token(fake_canvas, someone, expires_in=-10)
        with pytest.raises(TokenRefreshError):
            tokens.get_token(someone)


@pytest.mark.django_db
def test_an_open_breaker_fails_expired_tokens_fast_and_serves_valid_ones(
    user, other_user, fake_canvas, django_user_model, early, caplog
):
    valid = store_token(fake_canvas, user, expires_in=120)
    expired = store_token(fake_canvas, other_user, expires_in=-10)
    trip_the_breaker(fake_canvas, django_user_model)
    asked = fake_canvas.calls["token:refresh_token"]
    assert "refreshes of 5 tokens failed in a row" in caplog.text
    with pytest.raises(TokenRefreshError):
        tokens.get_token(other_user)
    assert tokens.get_token(user).access_token == valid.access_token
    assert fake_canvas.calls["token:refresh_token"] == asked  # Canvas was left alone
    kept = CanvasOAuth2Token.objects.get(pk=expired.pk)
    assert kept.access_token == expired.access_token


@pytest.mark.django_db
def test_after_the_cool_down_one_probe_closes_the_breaker(
    user, fake_canvas, django_user_model, settings, monkeypatch
):
    settings.CANVAS_OAUTH_BREAKER_COOLDOWN = 30
    store_token(fake_canvas, user, expires_in=-10)
    now = [1000.0]
    monkeypatch.setattr(breaker, "_clock", lambda: now[0])
    trip_the_breaker(fake_canvas, django_user_model)
    with pytest.raises(TokenRefreshError):
        tokens.get_token(user)
    now[0] += 30
    assert fake_canvas.is_live(tokens.get_token(user).access_token)  # the probe
    assert breaker.for_domain("canvas.example.edu").state == breaker.CLOSED


@pytest.mark.django_db
def test_one_users_failing_refreshes_do_not_trip_it_for_everyone(
    user, other_user, fake_canvas, settings
):
    settings.CANVAS_OAUTH_BREAKER_THRESHOLD = 3
    store_token(fake_canvas, user, expires_in=-10)
    fake_canvas.misbehave("token", "unavailable", times=10)
    for _ in range(10):
        with pytest.raises(TokenRefreshError):
            tokens.get_token(user)
    fake_canvas.behave()
    store_token(fake_canvas, other_user, expires_in=-10)
    assert fake_canvas.is_live(tokens.get_token(other_user).access_token)


@pytest.mark.django_db
def test_dead_refresh_tokens_do_not_count_as_canvas_failing(
    fake_canvas, django_user_model, settings
):
    settings.CANVAS_OAUTH_BREAKER_THRESHOLD = 2
    for number in range(4):
        someone = django_user_model.objects.create_user(f"gone{number}")
        store_token(fake_canvas, someone, expires_in=-10)
        fake_canvas.revoke_all()
        with pytest.raises(MissingTokenError):
            tokens.get_token(someone)
    assert breaker.for_domain("canvas.example.edu").state == breaker.CLOSED


@pytest.mark.django_db
def test_a_new_authorization_during_a_refresh_wins(user, fake_canvas):
    """The dance's token is newer than what the refresh in flight brings back."""
    token = store_token(fake_canvas, user, expires_in=-10)
    claim = claims.take(token, seconds=5)
    assert claim is not None
    dance = as_grant(fake_canvas.issue_token())
    tokens.save_grant(user, token.domain, dance, [])
    refreshed = as_grant(fake_canvas.issue_token())
    assert not claim.finish(refreshed)
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token == dance.access_token


def as_grant(body):
    return TokenGrant(body["access_token"], body["refresh_token"], body["expires_in"], None)


# A SQLite file shared by processes: the refresh must not hold the write lock while
# Canvas answers, or every other write on the site waits for Canvas. (The worker lives in
# tests.tokens.test_herd, which a spawned process can import before Django is set up.)


@pytest.mark.django_db(transaction=True)
def test_a_refresh_leaves_a_sqlite_file_writable_while_canvas_answers(
    user, live_fake_canvas, settings, tmp_path
):
    from tests.tokens.test_herd import database_for_processes, refresh_in_own_process

    if connection.vendor != "sqlite":
        pytest.skip("about SQLite's database-wide write lock")
    fake = live_fake_canvas
    token = store_token(fake, user, expires_in=-10)
    config = database_for_processes(user, token, settings.CANVAS_OAUTH_CANVAS_DOMAIN, tmp_path)
    path = config["db_name"]
    context = multiprocessing.get_context("spawn")

    fake.latency["token"] = 1.5  # under the worker's deadline
    results = context.Queue()
    worker = context.Process(target=refresh_in_own_process, args=(config, results))
    worker.start()
    wait_until(
        lambda: fake.calls["token:refresh_token"] > 0 or not results.empty(),
        "the refresh reaching Canvas",
        patience=60,
    )
    if fake.calls["token:refresh_token"] == 0:
        pytest.fail(f"the refresh never reached Canvas: {results.get(timeout=5)}")
    # Another worker of the site writes, and would fail at once if the file were locked.
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute("UPDATE auth_user SET first_name = 'Ada'")
        other.commit()
    finally:
        other.close()
    answer = results.get(timeout=60)
    worker.join(30)
    assert fake.is_live(answer), answer


@pytest.mark.django_db
def test_a_refresh_writes_the_row_twice_claim_and_result(user, expired_token, fake_canvas):
    """The UPDATE that stores the new token also releases the claim: no third write."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert fake_canvas.is_live(tokens.get_token(user).access_token)
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("UPDATE") and "canvas_oauth_canvasoauth2token" in q["sql"]
    ]
    assert len(writes) == 2, writes
