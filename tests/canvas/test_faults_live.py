"""Canvas misbehaving over real HTTP: the right page, the token kept, and recovery after.

The fake Canvas runs on a loopback server here, so timeouts, dropped connections and
odd bodies travel through sockets and ``requests`` exactly as they would in production.
"""

import pytest

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import callback_path, dance, start_dance, store_token

SLOW_TIMEOUT = 0.3

# Mode, then the status and a phrase of the page the user sees.
REFRESH_FAULTS = [
    ("slow", 503, b"not available right now"),
    ("drop", 503, b"not available right now"),
    ("error", 503, b"not available right now"),
    ("unavailable", 503, b"not available right now"),
    ("garbage", 503, b"not available right now"),
    ("html", 503, b"not available right now"),
    ("missing_token", 503, b"not available right now"),
    ("throttle", 503, b"not available right now"),
]
EXCHANGE_FAULTS = [
    ("slow", 504, b"did not answer in time"),
    ("drop", 504, b"could not be reached"),
    ("error", 502, b"answered with an error"),
    ("unavailable", 502, b"answered with an error"),
    ("garbage", 502, b"could not read"),
    ("html", 502, b"could not read"),
    ("missing_token", 502, b"no access token"),
    ("throttle", 503, b"busy with this site"),
]


@pytest.fixture
def expired_live_token(live_fake_canvas, user):
    token = store_token(live_fake_canvas, user, expires_in=-10)
    live_fake_canvas.expire_access_tokens()
    return token


def misbehave(fake, mode, settings):
    if mode == "slow":
        settings.CANVAS_OAUTH_TIMEOUT = SLOW_TIMEOUT
        fake.misbehave("token", "slow", times=1, delay=5)
    else:
        fake.misbehave("token", mode, times=1)


def row_values(pk):
    row = CanvasOAuth2Token.objects.get(pk=pk)
    return (row.access_token, row.refresh_token, row.expires, row.scopes)


@pytest.mark.parametrize(("mode", "status", "phrase"), REFRESH_FAULTS)
def test_refresh_fault_keeps_the_token_and_the_next_request_recovers(
    browser, live_fake_canvas, expired_live_token, settings, mode, status, phrase
):
    fake = live_fake_canvas
    before = row_values(expired_live_token.pk)
    misbehave(fake, mode, settings)
    response = browser.get("/canvas/")
    assert response.status_code == status
    assert phrase in response.content
    assert row_values(expired_live_token.pk) == before
    assert fake.calls["token:refresh_token"] == 1

    # Canvas is back; a loaded machine may take longer than SLOW_TIMEOUT to answer.
    settings.CANVAS_OAUTH_TIMEOUT = 5
    response = browser.get("/canvas/")
    assert response.status_code == 200
    assert fake.calls["token:refresh_token"] == 2
    assert fake.is_live(CanvasOAuth2Token.objects.get(pk=expired_live_token.pk).access_token)


def test_refresh_answer_with_the_wrong_content_type_is_still_read(
    browser, live_fake_canvas, expired_live_token
):
    # A JSON body labelled text/plain is still Canvas's answer; refusing it would waste it.
    live_fake_canvas.misbehave("token", "wrong_type", times=1)
    assert browser.get("/canvas/").status_code == 200
    row = CanvasOAuth2Token.objects.get(pk=expired_live_token.pk)
    assert live_fake_canvas.is_live(row.access_token)
    assert live_fake_canvas.calls["token:refresh_token"] == 1


def test_refresh_fault_answers_scripts_with_json(browser, live_fake_canvas, expired_live_token):
    live_fake_canvas.misbehave("token", "drop", times=1)
    response = browser.get("/api/canvas/", HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response.json()["error"] == "canvas_refresh_failed"
    assert browser.get("/api/canvas/", HTTP_ACCEPT="application/json").json()["ok"] is True


@pytest.mark.parametrize(("mode", "status", "phrase"), EXCHANGE_FAULTS)
def test_code_exchange_fault_stores_nothing_and_a_new_dance_works(
    browser, live_fake_canvas, user, settings, mode, status, phrase
):
    fake = live_fake_canvas
    location = fake.authorize(start_dance(browser))
    misbehave(fake, mode, settings)
    response = browser.get(callback_path(location))
    assert response.status_code == status
    assert phrase in response.content
    assert not CanvasOAuth2Token.objects.exists()

    settings.CANVAS_OAUTH_TIMEOUT = 5
    assert dance(browser, fake).status_code == 302
    assert browser.get("/canvas/").status_code == 200
    assert fake.is_live(CanvasOAuth2Token.objects.get(user=user).access_token)


def test_code_exchange_fault_keeps_the_token_of_an_earlier_dance(browser, live_fake_canvas, user):
    fake = live_fake_canvas
    assert dance(browser, fake).status_code == 302
    before = row_values(CanvasOAuth2Token.objects.get(user=user).pk)
    location = fake.authorize(start_dance(browser, "/oauth/authorize"))
    fake.misbehave("token", "garbage", times=1)
    assert browser.get(callback_path(location)).status_code == 502
    assert row_values(CanvasOAuth2Token.objects.get(user=user).pk) == before
    assert browser.get("/canvas/").status_code == 200


def test_code_exchange_with_the_wrong_content_type_is_still_read(browser, live_fake_canvas, user):
    location = live_fake_canvas.authorize(start_dance(browser))
    live_fake_canvas.misbehave("token", "wrong_type", times=1)
    assert browser.get(callback_path(location)).status_code == 302
    assert live_fake_canvas.is_live(CanvasOAuth2Token.objects.get(user=user).access_token)
