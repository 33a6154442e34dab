"""Token responses outside Canvas's spec: odd lifetimes, unusable tokens, endless text.

A loopback server plays the token endpoint (``tests.loopback.canned``), so each answer
travels through sockets and ``requests`` as Canvas's would.
"""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import start_dance
from tests.loopback import TOKEN_BODY, canned

CALLBACK = "/oauth/oauth-callback"


def finish_dance(browser, settings, server):
    """Start a dance against ``server`` and come back with a code; return the response."""
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = server.url
    url = start_dance(browser)
    state = parse_qs(urlsplit(url).query)["state"][0]
    return browser.get(CALLBACK, {"code": "c0de", "state": state})


def token_answer(**fields):
    return {**TOKEN_BODY, **fields}


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (1800, 1800),
        ("7200", 7200),
        ("3600.0", 3600),
        (-100, 3600),
        (None, 3600),
        (True, 3600),
        ([], 3600),
        ({}, 3600),
        ("soon", 3600),
        ("NaN", 3600),
        ("Infinity", 3600),
        (1e12, 3600),
        (float("nan"), 3600),  # json.dumps writes NaN, which json.loads reads
        (float("inf"), 3600),
    ],
)
def test_a_token_always_gets_an_expiry(browser, settings, user, expires_in, lifetime):
    with canned(200, token_answer(expires_in=expires_in)) as server:
        before = timezone.now()
        assert finish_dance(browser, settings, server).status_code == 302
    expires = CanvasOAuth2Token.objects.get(user=user).expires
    assert before + timedelta(seconds=lifetime - 5) <= expires
    assert expires <= timezone.now() + timedelta(seconds=lifetime)


def test_an_absent_expires_in_gets_canvas_hour(browser, settings, user):
    body = dict(TOKEN_BODY)
    del body["expires_in"]
    with canned(200, body) as server:
        assert finish_dance(browser, settings, server).status_code == 302
    expires = CanvasOAuth2Token.objects.get(user=user).expires
    assert timezone.now() + timedelta(minutes=59) < expires <= timezone.now() + timedelta(hours=1)


HUGE = "y" * 200_000


def assert_bounded(text):
    assert "y" * 301 not in text
    assert "\nforged log line" not in text


@pytest.mark.parametrize(
    "query",
    [
        {"error": "invalid_scope", "error_description": HUGE},
        {"error": "invalid_scope", "error_description": "bad\nforged log line"},
        {"error": HUGE},
        {"error": "access_denied", "error_description": HUGE},
    ],
)
def test_canvas_error_text_at_the_callback_is_bounded(
    browser, fake_canvas, settings, caplog, query
):
    url = start_dance(browser)
    state = parse_qs(urlsplit(url).query)["state"][0]
    caplog.set_level("DEBUG")
    for params in ({**query, "state": state}, query):  # Canvas omits state on some refusals
        response = browser.get(CALLBACK, params)
        assert response.status_code == 403
        assert_bounded(response.content.decode())
        json_answer = browser.get(CALLBACK, params, HTTP_ACCEPT="application/json")
        assert_bounded(json_answer.content.decode())
    assert_bounded(caplog.text)


@pytest.mark.parametrize(
    "body",
    [
        {"error": "invalid_grant", "error_description": HUGE},
        {"error": HUGE},
        {"error": "invalid_grant", "error_description": "bad\nforged log line"},
    ],
)
def test_canvas_error_text_of_the_token_endpoint_is_bounded(browser, settings, user, caplog, body):
    caplog.set_level("DEBUG")
    with canned(400, body) as server:
        response = finish_dance(browser, settings, server)
    assert response.status_code == 502
    assert b"Canvas refused the request" in response.content
    assert_bounded(response.content.decode())
    assert_bounded(caplog.text)
    assert not CanvasOAuth2Token.objects.exists()
