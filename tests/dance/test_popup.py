"""The popup dance for tools inside a Canvas iframe, whose popup has no session."""

import base64
import pickle
import threading
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client, RequestFactory

from canvas_oauth import oauth, state
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import PATIENCE, callback_path, start_dance

BACKENDS = ["default", "db", "redis"]  # local memory, the database, a real Redis server


@pytest.fixture
def iframe(browser):
    """The tool's page in the iframe: logged in through its own (partitioned) session."""
    return browser


@pytest.fixture
def popup(db):
    """The popup window: a first-party context that does not see the iframe's cookie."""
    return Client()


def start(iframe, next_url="/canvas/"):
    response = iframe.get(
        "/oauth/authorize", {"popup": "1", "next": next_url}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["authorize_url"].startswith("https://canvas.example.edu/login/oauth2/auth?")
    return body


def test_popup_dance_stores_the_token_for_the_iframes_user(iframe, popup, fake_canvas, user):
    body = start(iframe)
    assert iframe.post("/oauth/complete", {"state": body["state"]}).status_code == 202
    back = popup.get(callback_path(fake_canvas.authorize(body["authorize_url"])))
    assert back.status_code == 200
    assert b'"type": "canvas_oauth"' in back.content
    assert body["state"].encode() in back.content
    assert b"postMessage" in back.content
    assert fake_canvas.calls["token"] == 0  # nothing is exchanged until the session claims it
    claimed = iframe.post("/oauth/complete", {"state": body["state"]})
    assert claimed.status_code == 200
    assert claimed.json() == {"status": "connected", "next": "/canvas/"}
    token = CanvasOAuth2Token.objects.get(user=user)
    assert fake_canvas.is_live(token.access_token)
    assert iframe.get("/canvas/").status_code == 200


def test_popup_answer_can_be_claimed_once(iframe, popup, fake_canvas):
    body = start(iframe)
    popup.get(callback_path(fake_canvas.authorize(body["authorize_url"])))
    assert iframe.post("/oauth/complete", {"state": body["state"]}).status_code == 200
    again = iframe.post("/oauth/complete", {"state": body["state"]})
    assert again.status_code == 400
    assert fake_canvas.calls["token:authorization_code"] == 1


def test_another_user_cannot_claim_the_answer(iframe, popup, fake_canvas, other_user):
    body = start(iframe)
    popup.get(callback_path(fake_canvas.authorize(body["authorize_url"])))
    thief = Client()
    thief.force_login(other_user)
    response = thief.post("/oauth/complete", {"state": body["state"]})
    assert response.status_code == 400
    assert not CanvasOAuth2Token.objects.exists()
    assert fake_canvas.calls["token"] == 0


def test_claiming_needs_a_logged_in_session(popup, iframe, fake_canvas):
    body = start(iframe)
    popup.get(callback_path(fake_canvas.authorize(body["authorize_url"])))
    response = popup.post(
        "/oauth/complete", {"state": body["state"]}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 401
    assert not CanvasOAuth2Token.objects.exists()


def test_forged_state_in_the_popup_is_refused(iframe, popup, fake_canvas):
    body = start(iframe)
    location = fake_canvas.authorize(body["authorize_url"]).replace(body["state"], "forged")
    response = popup.get(callback_path(location))
    assert response.status_code == 302  # an unknown state from nobody: log in first
    assert iframe.post("/oauth/complete", {"state": "forged"}).status_code == 400


def test_declining_in_the_popup_is_reported_to_the_page(iframe, popup, fake_canvas):
    body = start(iframe)
    back = popup.get(callback_path(fake_canvas.authorize(body["authorize_url"], approve=False)))
    assert back.status_code == 403
    assert b"You declined access" in back.content
    response = iframe.post(
        "/oauth/complete", {"state": body["state"]}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 403
    assert "declined" in response.json()["message"]
    assert not CanvasOAuth2Token.objects.exists()


def test_popup_callback_without_code_or_error(iframe, popup, fake_canvas):
    body = start(iframe)
    back = popup.get("/oauth/oauth-callback", {"state": body["state"]})
    assert back.status_code == 400
    assert iframe.post("/oauth/complete", {"state": body["state"]}).status_code == 400


def original_callback(location):
    """The path of Canvas's redirect on a project's own route to ``oauth.oauth_callback``."""
    return f"/original-callback/?{urlsplit(location).query}"


def test_the_original_callback_name_finishes_a_session_dance(browser, fake_canvas, user):
    location = fake_canvas.authorize(start_dance(browser, "/canvas/"))
    back = browser.get(original_callback(location))
    assert back.status_code == 302
    assert back["Location"] == "/canvas/"
    assert fake_canvas.is_live(CanvasOAuth2Token.objects.get(user=user).access_token)


def test_the_original_callback_name_refuses_a_popup_dance_and_tells_the_page(
    iframe, popup, fake_canvas, caplog
):
    body = start(iframe)
    back = popup.get(original_callback(fake_canvas.authorize(body["authorize_url"])))
    assert back.status_code == 400
    assert b"cannot be finished here" in back.content
    assert "canvas_oauth.views.callback" in caplog.text
    # The page polling for the answer hears at once, instead of waiting for the state to expire.
    assert iframe.post("/oauth/complete", {"state": body["state"]}).status_code == 400
    assert fake_canvas.calls["token"] == 0
    assert not CanvasOAuth2Token.objects.exists()


def test_expired_popup_dance_is_refused(iframe, popup, fake_canvas, settings):
    from datetime import timedelta

    body = start(iframe)
    location = fake_canvas.authorize(body["authorize_url"])
    settings.CANVAS_OAUTH_STATE_TTL = timedelta(0)
    back = popup.get(callback_path(location))
    assert back.status_code == 400
    assert fake_canvas.calls["token"] == 0


def test_complete_is_post_only_and_csrf_protected(user, fake_canvas):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.get("/oauth/complete").status_code == 405
    assert strict.post("/oauth/complete", {"state": "x"}).status_code == 403


def test_connect_script_is_shipped_with_the_app():
    from pathlib import Path

    import canvas_oauth

    script = Path(canvas_oauth.__file__).parent / "static" / "canvas_oauth" / "connect.js"
    text = script.read_text()
    assert "window.canvasOAuthConnect" in text
    assert 'completeUrl: "/oauth/complete"' in text


def test_a_replayed_popup_callback_is_refused(iframe, popup, fake_canvas):
    body = start(iframe)
    location = callback_path(fake_canvas.authorize(body["authorize_url"]))
    assert popup.get(location).status_code == 200
    assert popup.get(location).status_code in (302, 400)  # no dance waits for it any more
    assert iframe.post("/oauth/complete", {"state": body["state"]}).status_code == 200


@pytest.fixture(params=BACKENDS)
def state_cache(request, settings):
    """Keep popup dances in each cache backend in turn (tests/settings.py names them)."""
    alias = request.param
    settings.CANVAS_OAUTH_STATE_CACHE = alias
    yield caches[alias]
    if alias == "redis":  # the server is shared: remove this run's keys, and only those
        import redis

        config = settings.CACHES[alias]
        client = redis.Redis.from_url(config["LOCATION"])
        try:
            keys = list(client.scan_iter(f"{config['KEY_PREFIX']}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def test_one_users_popup_dances_cannot_evict_another_users(
    state_cache, iframe, popup, fake_canvas, other_user
):
    victim = Client()
    victim.force_login(other_user)
    victims = start(victim)
    # A third-party page can make a logged-in browser do this (SameSite=None cookies).
    states = [start(iframe)["state"] for _ in range(400)]
    # Only the newest few wait; the older ones are gone from the cache, not just forgotten.
    assert [s for s in states if state.is_waiting(s)] == states[-state.MAX_PENDING :]
    back = popup.get(callback_path(fake_canvas.authorize(victims["authorize_url"])))
    assert back.status_code == 200
    claimed = victim.post("/oauth/complete", {"state": victims["state"]})
    assert claimed.json()["status"] == "connected"
    assert CanvasOAuth2Token.objects.get().user == other_user


def test_the_oldest_popup_dance_is_dropped_first(state_cache, iframe, popup, fake_canvas):
    first, *rest = [start(iframe) for _ in range(state.MAX_PENDING + 1)]
    location = callback_path(fake_canvas.authorize(first["authorize_url"]))
    assert popup.get(location).status_code == 302  # no dance waits for it any more
    assert iframe.post("/oauth/complete", {"state": first["state"]}).status_code == 400
    assert all(state.is_waiting(body["state"]) for body in rest)


@pytest.mark.django_db(transaction=True)
def test_concurrent_popup_dances_of_one_user_stay_capped(
    state_cache, user, fake_canvas, monkeypatch
):
    if state_cache is caches["db"] and connection.vendor == "sqlite":
        # SQLite's shared in-memory test database locks whole tables between threads.
        # CI runs this on PostgreSQL and MariaDB (.ci/databases.sh).
        pytest.skip("the database cache on SQLite cannot take concurrent writers")
    # Eight threads queue for the user's index; on a loaded machine the last may wait
    # longer than the 2 s after which a real user is told to try again. The cap is tested.
    monkeypatch.setattr(state, "INDEX_LOCK_WAIT", PATIENCE)
    threads, each = 8, 4
    barrier = threading.Barrier(threads)
    started: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(each):
                request = RequestFactory().get("/canvas/")
                request.user = user
                started.append(oauth.begin_dance(request, popup=True)[1].state)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not errors, errors
    assert len(started) == threads * each
    assert sum(state.is_waiting(s) for s in started) == state.MAX_PENDING


def test_a_user_busy_starting_popup_dances_is_told_to_wait(iframe, user, monkeypatch):
    monkeypatch.setattr(state, "INDEX_LOCK_WAIT", 0.05)
    # Another request of the same user is updating the user's index right now.
    with state._locked(state._user_lock(str(user.pk))):
        response = iframe.get("/oauth/authorize", {"popup": "1"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert response.json()["error"] == "too_many_authorizations"
    assert start(iframe)["state"]  # and once it is free, dances start again


def test_an_overlong_return_url_is_not_kept(iframe, popup, fake_canvas):
    body = start(iframe, next_url="/canvas/?q=" + "x" * state.MAX_NEXT_URL)
    popup.get(callback_path(fake_canvas.authorize(body["authorize_url"])))
    claimed = iframe.post("/oauth/complete", {"state": body["state"]})
    assert claimed.json() == {"status": "connected", "next": "/"}


def test_the_cache_holds_no_code_or_verifier_in_plaintext(iframe, popup, fake_canvas, settings):
    settings.CANVAS_OAUTH_STATE_CACHE = "db"
    body = start(iframe)
    location = fake_canvas.authorize(body["authorize_url"])
    code = dict(parse_qsl(urlsplit(location).query))["code"]
    popup.get(callback_path(location))  # the answer waits in the cache for the page
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM canvas_oauth_test_cache")
        # What the database cache writes: each value pickled, then base64.
        stored = repr([pickle.loads(base64.b64decode(value)) for (value,) in cursor.fetchall()])
    assert iframe.post("/oauth/complete", {"state": body["state"]}).status_code == 200
    verifier = fake_canvas.last_token_request["code_verifier"]
    assert "fernet$" in stored
    for secret in (code, verifier, body["state"]):
        assert secret not in stored


# Small enough that a flood which leaves an entry per round culls within a few dozen rounds,
# large enough for one user's bounded share (MAX_PENDING + 3) and the victim's.
SMALL_MAX_ENTRIES = 30


@pytest.fixture
def small_state_cache(state_cache, settings, db):
    """The state cache with a small ``MAX_ENTRIES`` (Redis has none: it keeps everything)."""
    alias = settings.CANVAS_OAUTH_STATE_CACHE
    if alias == "redis":
        yield state_cache
        return
    config = {**settings.CACHES[alias], "OPTIONS": {"MAX_ENTRIES": SMALL_MAX_ENTRIES}}
    if alias == "default":
        config["LOCATION"] = "canvas-oauth-small"  # local memory of its own, empty
    settings.CACHES = {**settings.CACHES, alias: config}
    cache = caches[alias]
    cache.clear()
    yield cache
    cache.clear()


def redis_keys(settings):
    import redis

    config = settings.CACHES["redis"]
    client = redis.Redis.from_url(config["LOCATION"])
    try:
        return {key: client.ttl(key) for key in client.scan_iter(f"{config['KEY_PREFIX']}:*")}
    finally:
        client.close()


def refuse_session_dance(client):
    location = start_dance(client, "/oauth/authorize?next=/canvas/")
    state_value = dict(parse_qsl(urlsplit(location).query))["state"]
    back = client.get("/oauth/oauth-callback", {"state": state_value, "error": "access_denied"})
    assert back.status_code == 403


def refuse_popup_dance(client, popup):
    body = start(client)
    back = popup.get("/oauth/oauth-callback", {"state": body["state"], "error": "access_denied"})
    assert back.status_code == 403


@pytest.mark.parametrize("refuse", ["session", "popup"])
def test_refused_dances_never_evict_another_users_popup_dance(
    small_state_cache, settings, iframe, popup, fake_canvas, other_user, refuse
):
    victim = Client()
    victim.force_login(other_user)
    victims = start(victim)
    waiting = start(victim)  # and one whose popup came back: its answer waits for the page
    back = popup.get(callback_path(fake_canvas.authorize(waiting["authorize_url"])))
    assert back.status_code == 200
    before = redis_keys(settings) if settings.CANVAS_OAUTH_STATE_CACHE == "redis" else {}
    # A third-party page can make a logged-in browser do this, with no call to Canvas.
    for _ in range(4 * SMALL_MAX_ENTRIES):
        if refuse == "session":
            refuse_session_dance(iframe)
        else:
            refuse_popup_dance(iframe, popup)
    if settings.CANVAS_OAUTH_STATE_CACHE == "redis":
        left = redis_keys(settings)
        assert len(left.keys() - before.keys()) <= state.MAX_PENDING + 3
        assert all(ttl > 0 for ttl in left.values())  # every one expires
    back = popup.get(callback_path(fake_canvas.authorize(victims["authorize_url"])))
    assert back.status_code == 200
    claimed = victim.post("/oauth/complete", {"state": victims["state"]})
    assert claimed.json()["status"] == "connected"
    claimed = victim.post("/oauth/complete", {"state": waiting["state"]})
    assert claimed.json()["status"] == "connected"


def test_a_session_state_is_claimed_once_past_many_refusals(browser, fake_canvas):
    # The marks of used states are bounded per user, yet the newest ones still hold.
    location = fake_canvas.authorize(start_dance(browser))
    replay = Client()
    replay.cookies = browser.cookies  # a second copy of the same session
    session_before = dict(browser.session)
    assert browser.get(callback_path(location)).status_code == 302
    for _ in range(3):
        refuse_session_dance(browser)
    session = replay.session
    session.update(session_before)
    session.save()
    assert replay.get(callback_path(location)).status_code == 400
    assert fake_canvas.calls["token:authorization_code"] == 1
