"""The callback's error page words Canvas's refusals itself: a link cannot put text on it.

Anyone can send a visitor to ``/oauth/oauth-callback?error=…&error_description=…``.
Canvas's description reaches the page only when the state names a live dance of the user
who sees it; otherwise the page says our message for the code, or a generic one.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from canvas_oauth.exceptions import DENIAL_MESSAGES, DENIED_MESSAGE
from tests.conftest import start_dance

CALLBACK = "/oauth/oauth-callback"
SPOOF = "Your account is locked, call 555-0100"


def state_of(url):
    return parse_qs(urlsplit(url).query)["state"][0]


def assert_not_spoofed(response):
    assert response.status_code == 403
    assert b"555-0100" not in response.content


@pytest.mark.parametrize("error", [*sorted(DENIAL_MESSAGES), "account_locked", "<b>x</b>"])
@pytest.mark.parametrize("logged_in", [False, True])
def test_a_stateless_refusal_shows_only_our_message(db, user, error, logged_in, caplog):
    visitor = Client()
    if logged_in:
        visitor.force_login(user)
    caplog.set_level("INFO", logger="canvas_oauth")
    params = {"error": error, "error_description": SPOOF}
    page = visitor.get(CALLBACK, params)
    assert_not_spoofed(page)
    expected = DENIAL_MESSAGES.get(error, DENIED_MESSAGE)
    assert expected.replace("'", "&#x27;").encode() in page.content
    if error not in DENIAL_MESSAGES:
        assert error.encode() not in page.content and b"&lt;b&gt;" not in page.content
    json_answer = visitor.get(CALLBACK, params, HTTP_ACCEPT="application/json")
    assert json_answer.json() == {"error": "authorization_denied", "message": expected}
    # Canvas's words go to the log, cut and on one line, for whoever runs the site.
    assert SPOOF in caplog.text


def test_canvas_description_is_shown_for_the_users_own_dance(browser, fake_canvas):
    state = state_of(start_dance(browser))
    page = browser.get(
        CALLBACK, {"state": state, "error": "invalid_scope", "error_description": "scope x"}
    )
    assert page.status_code == 403
    assert b"Canvas refused the permissions" in page.content
    assert b"Canvas said: scope x" in page.content


def test_another_users_dance_does_not_carry_the_description(client, user, other_user):
    attacker = Client()
    attacker.force_login(other_user)
    state = state_of(start_dance(attacker))
    client.force_login(user)
    page = client.get(CALLBACK, {"state": state, "error": "x", "error_description": SPOOF})
    assert page.status_code == 400
    assert b"555-0100" not in page.content


def test_an_unknown_state_does_not_carry_the_description(browser, fake_canvas):
    page = browser.get(CALLBACK, {"state": "x" * 43, "error": "x", "error_description": SPOOF})
    assert page.status_code == 400
    assert b"555-0100" not in page.content


def popup_dance(client):
    answer = client.get("/oauth/authorize", {"popup": "1"}, HTTP_ACCEPT="application/json")
    return answer.json()["state"]


def test_the_popup_page_shows_our_message_and_the_users_page_gets_canvass(db, browser):
    # The popup has no session to match the dance with: anyone who starts a popup dance
    # knows its state and could link someone else's popup to it.
    state = popup_dance(browser)
    popup = Client()
    back = popup.get(
        CALLBACK, {"state": state, "error": "invalid_scope", "error_description": SPOOF}
    )
    assert_not_spoofed(back)
    assert b"Canvas refused the permissions" in back.content
    claimed = browser.post("/oauth/complete", {"state": state}, HTTP_ACCEPT="application/json")
    assert claimed.status_code == 403
    assert claimed.json()["message"].endswith(f"Canvas said: {SPOOF}")
