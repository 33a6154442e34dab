"""The popup dance for tools inside a Canvas iframe, whose popup has no session."""

import pytest
from django.test import Client

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import callback_path


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
