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


def store_token_at(settings, server, user, expires_in=-1, access_token="1~old"):
    """Store a token of ``user`` for the Canvas at ``server``."""
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = server.url
    return CanvasOAuth2Token.objects.create(
        user=user,
        access_token=access_token,
        refresh_token="1~refresh",
        expires=timezone.now() + timedelta(seconds=expires_in),
    )


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
LONG = "y" * 50_000  # a long error body that still fits the 64 KiB cap on answers


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
        {"error": "invalid_grant", "error_description": LONG},
        {"error": LONG},
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


@pytest.mark.parametrize(
    "tokens",
    [
        {"access_token": "1~tök€n"},  # € is not Latin-1
        {"access_token": "1~to\x00ken"},
        {"access_token": "1~to\r\nX-Injected: yes"},
        {"access_token": "1~to\x7fken"},
        {"access_token": "1~to\x85ken"},  # a C1 control character
        {"access_token": "1~to ken"},
        {"access_token": "1~token\ud800"},
        {"refresh_token": "1~refresh\ud800"},
        {"refresh_token": "1~refr€sh"},
    ],
)
def test_a_token_that_cannot_be_sent_back_is_refused(browser, settings, user, caplog, tokens):
    caplog.set_level("DEBUG")
    with canned(200, token_answer(**tokens)) as server:
        response = finish_dance(browser, settings, server)
    assert response.status_code == 502
    assert b"Canvas sent a token we cannot use" in response.content
    assert "1~to" not in caplog.text
    assert "1~refr" not in caplog.text
    assert not CanvasOAuth2Token.objects.exists()


def test_a_refresh_answer_with_a_token_that_cannot_be_sent_is_refused(settings, user):
    from canvas_oauth import tokens
    from canvas_oauth.exceptions import TokenRefreshError

    with canned(200, token_answer(access_token="1~tök€n")) as server:
        stored = store_token_at(settings, server, user)
        with pytest.raises(TokenRefreshError):
            tokens.get_token(user)
    assert CanvasOAuth2Token.objects.get(pk=stored.pk).access_token == "1~old"


def test_a_latin1_token_is_kept(browser, settings, user):
    with canned(200, token_answer(access_token="1~tökén")) as server:
        assert finish_dance(browser, settings, server).status_code == 302
    assert CanvasOAuth2Token.objects.get(user=user).access_token == "1~tökén"


def test_a_user_name_with_a_lone_surrogate_is_stored_mended(browser, settings, user):
    answer = token_answer(user={"id": 42, "name": "Ada \ud800 L.", "global_id": "4\udc00"})
    with canned(200, answer) as server:
        assert finish_dance(browser, settings, server).status_code == 302
    token = CanvasOAuth2Token.objects.get(user=user)
    assert (token.canvas_user_name, token.canvas_user_global_id) == ("Ada \ufffd L.", "4\ufffd")


def test_revoking_a_stored_token_that_cannot_be_sent_deletes_it(live_fake_canvas, user, caplog):
    from canvas_oauth import tokens

    CanvasOAuth2Token.objects.create(
        user=user,
        access_token="1~tök€n",
        refresh_token="1~refresh",
        expires=timezone.now() + timedelta(hours=1),
    )
    assert tokens.revoke_token(user) is False
    assert not CanvasOAuth2Token.objects.exists()
    assert live_fake_canvas.calls["revoke"] == 0
    assert "Could not revoke" in caplog.text
