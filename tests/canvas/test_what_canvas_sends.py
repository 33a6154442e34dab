"""The app takes what Canvas sends, hosted or older (spec §9.3).

A code exchange without ``refresh_token`` (a key with ``force_token_reuse``), an error
redirect without ``state`` (older controllers' ``invalid_scope``) and a refused token
request redirected instead of answered (older Canvas) each get their right answer.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from canvas_oauth import instances
from canvas_oauth.canvas import get_access_token
from canvas_oauth.exceptions import CanvasRejectedError, InvalidOAuthReturnError
from canvas_oauth.models import CanvasOAuth2Token
from tests.canvas.test_canvas_answers import finish_dance
from tests.canvas.test_canvas_wire import HUGE, READ_AT_MOST
from tests.conftest import callback_path, dance, start_dance
from tests.dance.test_popup import start as start_popup_dance
from tests.loopback import canned, flood

CALLBACK = "/oauth/oauth-callback"
SCOPE = "url:GET|/api/v1/courses"


# -- a code exchange without refresh_token keeps the stored one -----------------------------


def test_a_reused_token_keeps_the_refresh_token_already_stored(browser, fake_canvas, user):
    fake_canvas.client.force_token_reuse = True
    assert dance(browser, fake_canvas).status_code == 302
    first = CanvasOAuth2Token.objects.get(user=user)
    # Again: Canvas hands the same token out with a new access token, and no refresh token.
    assert dance(browser, fake_canvas, "/oauth/authorize?next=/canvas/").status_code == 302
    again = CanvasOAuth2Token.objects.get(user=user)
    assert again.access_token != first.access_token
    assert fake_canvas.is_live(again.access_token)
    assert again.refresh_token == first.refresh_token
    assert len(fake_canvas.live_tokens()) == 1
    # And that refresh token still refreshes the token once its hour is up.
    fake_canvas.expire_access_tokens()
    CanvasOAuth2Token.objects.filter(pk=again.pk).update(expires=again.expires.replace(year=2000))
    assert browser.get("/canvas/").status_code == 200
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert fake_canvas.is_live(CanvasOAuth2Token.objects.get(user=user).access_token)


# -- an error redirect without state is the error page ---------------------------------------


@pytest.fixture
def scope_refused(fake_canvas, settings):
    """A Canvas that refuses the app's scope the way older controllers did: no state."""
    settings.CANVAS_OAUTH_SCOPES = [SCOPE]
    fake_canvas.client.require_scopes = True
    fake_canvas.scope_error_state = False
    return fake_canvas


def assert_scope_refusal_page(response):
    assert response.status_code == 403
    # No state names a dance: our words for the code, never the description of a link.
    assert b"Canvas refused the permissions this application asked for" in response.content
    assert b"A requested scope is invalid" not in response.content
    assert not CanvasOAuth2Token.objects.exists()


def test_invalid_scope_without_state_is_the_error_page(browser, scope_refused):
    location = scope_refused.authorize(start_dance(browser))
    assert "state" not in parse_qs(urlsplit(location).query)
    assert_scope_refusal_page(browser.get(callback_path(location)))
    assert scope_refused.calls["token"] == 0


def test_invalid_scope_without_state_in_the_popup_is_the_error_page(browser, scope_refused):
    # browser is the tool's page in the iframe; the popup has no session of this site,
    # and no state names its dance.
    location = scope_refused.authorize(start_popup_dance(browser)["authorize_url"])
    assert "state" not in parse_qs(urlsplit(location).query)
    assert_scope_refusal_page(Client().get(callback_path(location)))


# -- a refused token request redirected by an older Canvas is a refusal ----------------------


def assert_no_token_and_502(response, *, shown: bytes, logged: str, caplog) -> None:
    assert response.status_code == 502
    assert shown in response.content
    assert logged in caplog.text
    assert not CanvasOAuth2Token.objects.exists()


def test_a_redirected_refusal_of_the_code_exchange_is_shown_as_canvas_refusal(
    browser, fake_canvas, caplog
):
    fake_canvas.token_error_redirects = True
    location = fake_canvas.authorize(start_dance(browser))
    fake_canvas.client.client_secret = "rotated-" + "x" * 56  # Canvas refuses the key
    assert_no_token_and_502(
        browser.get(callback_path(location)),
        shown=b"Canvas refused the request: invalid client",
        logged="Canvas refused a token request: 302 invalid_client (invalid client)",
        caplog=caplog,
    )


def test_the_client_raises_canvas_refusal_for_a_redirect_carrying_error(fake_canvas, db):
    fake_canvas.token_error_redirects = True
    client = instances.get("canvas.example.edu").client()
    with pytest.raises(CanvasRejectedError) as caught:
        client.exchange_code("no-such-code", "http://testserver" + CALLBACK)
    assert (caught.value.http_status, caught.value.error) == (302, "invalid_grant")
    assert caught.value.description == "authorization_code not found"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Location": "https://canvas.example.edu/login"}, {"Location": "http://[::1/?error=x"}],
)
def test_a_redirect_without_a_readable_error_is_a_bad_answer(browser, settings, headers, caplog):
    with canned(302, b"", "text/html", headers) as server:
        response = finish_dance(browser, settings, server)
    assert_no_token_and_502(
        response,
        shown=b"Canvas answered with an error",
        logged="Canvas answered 302 without an OAuth error",
        caplog=caplog,
    )


def test_the_original_api_reads_a_redirected_refusal(fake_canvas, settings):
    fake_canvas.token_error_redirects = True
    with pytest.raises(InvalidOAuthReturnError) as caught:
        get_access_token(
            "authorization_code",
            settings.CANVAS_OAUTH_CLIENT_ID,
            settings.CANVAS_OAUTH_CLIENT_SECRET,
            "http://testserver" + CALLBACK,
            code="no-such-code",
        )
    assert "authorization_code not found" in str(caught.value)
    assert isinstance(caught.value.__cause__, CanvasRejectedError)


def test_a_redirect_with_a_huge_body_is_read_no_further_than_any_answer(browser, settings):
    location = "http://testserver/oauth/oauth-callback?error=invalid_grant"
    with flood(HUGE, declared=False, status=302, headers={"Location": location}) as server:
        response = finish_dance(browser, settings, server)
        sent = server.sent
    assert response.status_code == 502
    assert b"Canvas refused the request: invalid_grant" in response.content
    assert sent < READ_AT_MOST
