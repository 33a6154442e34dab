"""Every bad answer at the callback gets a clear page, never a 500, and no token."""

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import callback_path, start_dance

CALLBACK = "/oauth/oauth-callback"


def state_of(url):
    return parse_qs(urlsplit(url).query)["state"][0]


def test_forged_state_is_refused_without_calling_canvas(browser, fake_canvas, user):
    url = start_dance(browser)
    location = fake_canvas.authorize(url)
    forged = location.replace(state_of(url), "forged-" + "A" * 40)
    response = browser.get(callback_path(forged))
    assert response.status_code == 400
    assert b"invalid or has expired" in response.content
    assert fake_canvas.calls["token"] == 0
    assert not CanvasOAuth2Token.objects.exists()


def test_missing_state_is_refused(browser, fake_canvas):
    start_dance(browser)
    response = browser.get(CALLBACK, {"code": "abc"})
    assert response.status_code == 400
    assert fake_canvas.calls["token"] == 0


def test_replayed_state_is_refused(browser, fake_canvas, user):
    location = fake_canvas.authorize(start_dance(browser))
    assert browser.get(callback_path(location)).status_code == 302
    CanvasOAuth2Token.objects.all().delete()
    replay = browser.get(callback_path(location))
    assert replay.status_code == 400
    assert fake_canvas.calls["token"] == 1
    assert not CanvasOAuth2Token.objects.exists()


def test_expired_state_is_refused(browser, fake_canvas, settings):
    location = fake_canvas.authorize(start_dance(browser))
    settings.CANVAS_OAUTH_STATE_TTL = timedelta(0)
    response = browser.get(callback_path(location))
    assert response.status_code == 400
    assert fake_canvas.calls["token"] == 0


def test_callback_with_no_dance_started(browser, fake_canvas):
    response = browser.get(CALLBACK, {"code": "abc", "state": "x" * 43})
    assert response.status_code == 400
    assert fake_canvas.calls["token"] == 0


def test_callback_with_neither_code_nor_error(browser, fake_canvas):
    state = state_of(start_dance(browser))
    response = browser.get(CALLBACK, {"state": state})
    assert response.status_code == 400
    assert b"cannot use" in response.content
    assert fake_canvas.calls["token"] == 0


def test_callback_finished_by_another_django_user(client, user, other_user, fake_canvas):
    client.force_login(user)
    location = fake_canvas.authorize(start_dance(client))
    # Someone else logs in on the same browser; force_login keeps the session's data.
    client.force_login(other_user)
    response = client.get(callback_path(location))
    assert response.status_code == 400
    assert fake_canvas.calls["token"] == 0
    assert not CanvasOAuth2Token.objects.exists()


def test_user_declining_gets_a_friendly_403(browser, fake_canvas):
    location = fake_canvas.authorize(start_dance(browser), approve=False)
    response = browser.get(callback_path(location))
    assert response.status_code == 403
    assert b"You declined access" in response.content
    assert not CanvasOAuth2Token.objects.exists()


def test_other_canvas_errors_show_the_description_escaped(browser, fake_canvas):
    state = state_of(start_dance(browser))
    response = browser.get(
        CALLBACK,
        {"state": state, "error": "invalid_scope", "error_description": "<script>x()</script>"},
    )
    assert response.status_code == 403
    assert b"<script>x()" not in response.content
    assert b"&lt;script&gt;x()&lt;/script&gt;" in response.content


def test_canvas_refusal_without_state_is_shown(browser, fake_canvas):
    # client_not_allowed_for_user comes back without state (spec 1.3). No dance is named,
    # so the page says our words for the code, not the description anyone could write.
    response = browser.get(
        CALLBACK,
        {
            "error": "client_not_allowed_for_user",
            "error_description": "The current user is logged in but does not have permission",
        },
    )
    assert response.status_code == 403
    assert b"Your Canvas account may not authorize this application" in response.content
    assert b"does not have permission" not in response.content


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("error", 502),
        ("unavailable", 502),
        ("garbage", 502),
        ("html", 502),
        ("wrong_type", 200),  # a JSON body with the wrong content type is still JSON
        ("missing_token", 502),
        ("drop", 504),
    ],
)
def test_code_exchange_failures(browser, fake_canvas, user, mode, status):
    location = fake_canvas.authorize(start_dance(browser))
    fake_canvas.misbehave("token", mode)
    response = browser.get(callback_path(location))
    if status == 200:
        assert response.status_code == 302
        return
    assert response.status_code == status
    assert not CanvasOAuth2Token.objects.exists()


def test_code_exchange_timeout_is_a_504(browser, fake_canvas, settings):
    settings.CANVAS_OAUTH_TIMEOUT = 0.05
    location = fake_canvas.authorize(start_dance(browser))
    fake_canvas.misbehave("token", "slow", delay=1)
    response = browser.get(callback_path(location))
    assert response.status_code == 504
    assert b"did not answer in time" in response.content
    assert not CanvasOAuth2Token.objects.exists()


def test_code_canvas_rejects_is_a_502_with_canvas_reason(browser, fake_canvas, settings):
    settings.CANVAS_OAUTH_PKCE = False  # so that this test can spend the code itself
    location = fake_canvas.authorize(start_dance(browser))
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "client_id": fake_canvas.client_id,
        "client_secret": fake_canvas.client_secret,
        "code": code,
    }
    assert fake_canvas.dispatch("POST", "/login/oauth2/token", {}, form, {}).status == 200
    # The code was used once already: Canvas says invalid_grant.
    response = browser.get(callback_path(location))
    assert response.status_code == 502
    assert b"authorization_code not found" in response.content
    assert not CanvasOAuth2Token.objects.exists()


def test_wrong_client_secret_is_a_502(browser, fake_canvas, settings):
    location = fake_canvas.authorize(start_dance(browser))
    settings.CANVAS_OAUTH_CLIENT_SECRET = "not-the-secret"
    response = browser.get(callback_path(location))
    assert response.status_code == 502
    assert b"not-the-secret" not in response.content
    assert not CanvasOAuth2Token.objects.exists()


def test_connection_refused_is_a_504(browser, fake_canvas, settings):
    # The in-process fake answers only its own origin; requests to any other host fail
    # with requests' ConnectionError, as a refused connection does.
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = "http://127.0.0.1:9"
    location = fake_canvas.authorize(start_dance(browser))
    response = browser.get(callback_path(location))
    assert response.status_code == 504


def test_json_clients_get_the_error_as_json(browser, fake_canvas):
    response = browser.get(
        CALLBACK + "?" + urlencode({"code": "x", "state": "y"}), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_state"
