"""The whole authorization dance, against the fake Canvas."""

from urllib.parse import parse_qs, urlsplit

import pytest

from canvas_oauth.exceptions import MissingTokenError
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token, handle_missing_token
from canvas_oauth.testing import AuthorizationError
from tests.conftest import callback_path, dance, start_dance


def test_first_visit_sends_the_user_to_canvas_with_the_settings(browser, fake_canvas, settings):
    settings.CANVAS_OAUTH_SCOPES = ["url:GET|/api/v1/users/:id"]
    settings.CANVAS_OAUTH_PURPOSE = "Course tools"
    settings.CANVAS_OAUTH_FORCE_LOGIN = True
    url = start_dance(browser)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == "https://canvas.example.edu"
    assert query["client_id"] == [settings.CANVAS_OAUTH_CLIENT_ID]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://testserver/oauth/oauth-callback"]
    assert query["scope"] == ["url:GET|/api/v1/users/:id"]
    assert query["purpose"] == ["Course tools"]
    assert query["force_login"] == ["1"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 32  # 256 bits, url-safe base64
    assert "client_secret" not in query


def test_dance_stores_a_token_and_returns_to_the_page(browser, fake_canvas, user):
    response = dance(browser, fake_canvas, "/canvas/?tab=2")
    assert response.status_code == 302
    assert response["Location"] == "/canvas/?tab=2"
    token = CanvasOAuth2Token.objects.get(user=user)
    assert fake_canvas.is_live(token.access_token)
    assert token.domain == "canvas.example.edu"
    assert token.canvas_user_name == "Ada Lovelace"
    assert token.canvas_user_id == fake_canvas.current_user.id
    assert token.canvas_user_global_id == fake_canvas.current_user.global_id
    page = browser.get("/canvas/?tab=2")
    assert page.status_code == 200
    assert fake_canvas.calls["token:authorization_code"] == 1


def test_code_exchange_sends_the_pkce_verifier_and_the_secret(browser, fake_canvas):
    dance(browser, fake_canvas)
    sent = fake_canvas.last_token_request
    assert sent["grant_type"] == "authorization_code"
    assert sent["client_secret"] == fake_canvas.client_secret
    assert sent["code_verifier"]
    assert "replace_tokens" not in sent


def test_pkce_can_be_turned_off(browser, fake_canvas, settings):
    settings.CANVAS_OAUTH_PKCE = False
    url = start_dance(browser)
    assert "code_challenge" not in parse_qs(urlsplit(url).query)
    browser.get(callback_path(fake_canvas.authorize(url)))
    assert "code_verifier" not in fake_canvas.last_token_request


def test_replace_tokens_setting_reaches_the_code_exchange(browser, fake_canvas, settings):
    settings.CANVAS_OAUTH_REPLACE_TOKENS = True
    old = fake_canvas.issue_token()
    dance(browser, fake_canvas)
    assert fake_canvas.last_token_request["replace_tokens"] == "1"
    assert not fake_canvas.is_live(old["access_token"])


def test_fixed_redirect_uri_is_used_for_both_legs(browser, fake_canvas, settings):
    settings.CANVAS_OAUTH_REDIRECT_URI = "https://tool.example.edu/oauth/oauth-callback"
    fake_canvas.client.redirect_uris.append("https://tool.example.edu/oauth/oauth-callback")
    url = start_dance(browser)
    assert parse_qs(urlsplit(url).query)["redirect_uri"] == [
        "https://tool.example.edu/oauth/oauth-callback"
    ]
    browser.get(callback_path(fake_canvas.authorize(url)))
    assert fake_canvas.last_token_request["redirect_uri"] == (
        "https://tool.example.edu/oauth/oauth-callback"
    )


def test_a_fixed_redirect_uri_the_developer_key_does_not_list_fails(browser, fake_canvas, settings):
    settings.CANVAS_OAUTH_REDIRECT_URI = "https://tool.example.edu/oauth/callback"
    with pytest.raises(AuthorizationError) as caught:
        fake_canvas.authorize(start_dance(browser))
    assert caught.value.response.status == 400
    assert caught.value.response.json()["error_description"] == (
        "redirect_uri does not match client settings"
    )


def test_a_second_dance_updates_the_users_row(browser, fake_canvas, user, stored_token):
    old_access = stored_token.access_token
    # Started on demand, as a "reconnect" button would, although a token exists.
    response = dance(browser, fake_canvas, "/oauth/authorize?next=/canvas/")
    assert response.status_code == 302
    rows = CanvasOAuth2Token.objects.filter(user=user)
    assert rows.count() == 1
    assert rows.get().access_token != old_access


def test_a_different_canvas_user_replaces_the_token(browser, fake_canvas, user, caplog):
    dance(browser, fake_canvas)
    grace = fake_canvas.add_user("Grace Hopper")
    fake_canvas.current_user = grace
    dance(browser, fake_canvas, "/oauth/authorize?next=/canvas/")
    token = CanvasOAuth2Token.objects.get(user=user)
    assert token.canvas_user_name == "Grace Hopper"
    assert "different Canvas user" in caplog.text


def test_several_tabs_can_dance_at_once(browser, fake_canvas, user):
    first = start_dance(browser, "/canvas/?tab=1")
    second = start_dance(browser, "/canvas/?tab=2")
    back_second = browser.get(callback_path(fake_canvas.authorize(second)))
    back_first = browser.get(callback_path(fake_canvas.authorize(first)))
    assert back_second["Location"] == "/canvas/?tab=2"
    assert back_first["Location"] == "/canvas/?tab=1"


def test_authorize_view_starts_a_dance_returning_to_next(browser, fake_canvas):
    response = browser.get("/oauth/authorize?next=/canvas/%3Fx%3D1")
    assert response.status_code == 302
    location = fake_canvas.authorize(response["Location"])
    assert browser.get(callback_path(location))["Location"] == "/canvas/?x=1"


@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "javascript:alert(1)"]
)
def test_authorize_view_never_returns_off_site(browser, fake_canvas, target):
    response = browser.get("/oauth/authorize", {"next": target})
    location = fake_canvas.authorize(response["Location"])
    assert browser.get(callback_path(location))["Location"] == "/"


def test_a_request_path_that_looks_off_site_is_not_a_return_target(rf, browser, fake_canvas, user):
    request = rf.get("/")
    request.path = request.path_info = "//evil.example/x"
    request.user = user
    request.session = browser.session
    response = handle_missing_token(request)
    request.session.save()
    location = fake_canvas.authorize(response["Location"])
    assert browser.get(callback_path(location))["Location"] == "/"


def test_get_oauth_token_without_a_token_raises_missing_token(rf, user, fake_canvas):
    request = rf.get("/")
    request.user = user
    with pytest.raises(MissingTokenError):
        get_oauth_token(request)


def test_local_canvas_origin_is_supported(browser, fake_canvas, settings, user):
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = "http://localhost:3000"
    fake_canvas.base_url = "http://localhost:3000"
    from canvas_oauth.testing import mock_canvas

    with mock_canvas(fake_canvas):
        url = start_dance(browser)
        assert url.startswith("http://localhost:3000/login/oauth2/auth?")
        browser.get(callback_path(fake_canvas.authorize(url)))
    assert CanvasOAuth2Token.objects.get(user=user).domain == "http://localhost:3000"


def test_silent_reauthorization_comes_straight_back(browser, fake_canvas, user, settings):
    # The user approved this app before, and its key lets Canvas reuse that token.
    fake_canvas.client.force_token_reuse = True
    fake_canvas.issue_token()
    url = start_dance(browser, "/oauth/authorize?next=/canvas/&prompt=none")
    assert parse_qs(urlsplit(url).query)["prompt"] == ["none"]
    location = fake_canvas.authorize(url)
    assert browser.get(callback_path(location))["Location"] == "/canvas/"
    assert CanvasOAuth2Token.objects.filter(user=user).exists()


def test_silent_reauthorization_falls_back_to_consent(browser, fake_canvas, user):
    url = start_dance(browser, "/oauth/authorize?next=/canvas/&prompt=none")
    location = fake_canvas.authorize(url)
    assert "error=interaction_required" in location
    again = browser.get(callback_path(location))
    assert again.status_code == 302
    assert "prompt" not in parse_qs(urlsplit(again["Location"]).query)
    back = browser.get(callback_path(fake_canvas.authorize(again["Location"])))
    assert back["Location"] == "/canvas/"
