"""Disconnecting: revoke at Canvas, forget here, never blocked by Canvas being down."""

import pytest
import requests
from django.utils import timezone

from canvas_oauth import signals
from canvas_oauth.exceptions import InvalidTokenError, MissingTokenError
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token, invalidate_oauth_token, revoke_oauth_token
from canvas_oauth.tokens import revoke_token


@pytest.fixture
def req(rf, user):
    request = rf.get("/")
    request.user = user
    return request


@pytest.fixture
def received():
    seen = []

    def record(signal):
        def handler(sender, **kwargs):
            seen.append((signal, kwargs))

        return handler

    handlers = {
        s: record(name)
        for name, s in [
            ("obtained", signals.token_obtained),
            ("refreshed", signals.token_refreshed),
            ("revoked", signals.token_revoked),
        ]
    }
    for signal, handler in handlers.items():
        signal.connect(handler)
    yield seen
    for signal, handler in handlers.items():
        signal.disconnect(handler)


def test_revoke_calls_canvas_and_deletes(req, user, stored_token, fake_canvas, received):
    access = stored_token.access_token
    assert revoke_oauth_token(req) is True
    assert fake_canvas.calls["revoke"] == 1
    assert not fake_canvas.is_live(access)
    assert not CanvasOAuth2Token.objects.exists()
    assert received == [
        ("revoked", {"signal": signals.token_revoked, "user": user, "domain": "canvas.example.edu"})
    ]


def test_revoke_when_canvas_is_down_still_deletes_and_reports(
    req, stored_token, fake_canvas, caplog
):
    fake_canvas.misbehave("revoke", "drop")
    assert revoke_oauth_token(req) is False
    assert not CanvasOAuth2Token.objects.exists()
    assert "Could not revoke" in caplog.text


def test_revoke_an_expired_token_refreshes_first_so_canvas_accepts_it(
    req, expired_token, fake_canvas
):
    assert revoke_oauth_token(req) is True
    assert fake_canvas.live_tokens() == []


def test_revoke_without_token(req, fake_canvas):
    assert revoke_oauth_token(req) is False
    assert fake_canvas.calls["revoke"] == 0


def test_revoke_for_a_user_without_request(user, stored_token, fake_canvas):
    assert revoke_token(user) is True


def test_disconnect_view_is_post_only_and_csrf_protected(client, user, stored_token, fake_canvas):
    from django.test import Client

    client.force_login(user)
    assert client.get("/oauth/revoke").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/oauth/revoke").status_code == 403
    assert CanvasOAuth2Token.objects.exists()


def test_disconnect_view_returns_to_a_safe_next(browser, stored_token, fake_canvas):
    response = browser.post("/oauth/revoke", {"next": "/canvas/"})
    assert response["Location"] == "/canvas/"
    assert not CanvasOAuth2Token.objects.exists()
    evil = browser.post("/oauth/revoke", {"next": "https://evil.example/"})
    assert evil["Location"] == "/"


def test_deleting_a_user_revokes_their_tokens(user, stored_token, fake_canvas):
    access = stored_token.access_token
    user.delete()
    assert not fake_canvas.is_live(access)


def test_deleting_a_user_is_not_blocked_by_canvas(
    user, stored_token, fake_canvas, django_user_model
):
    fake_canvas.misbehave("revoke", "drop")
    user.delete()
    assert not django_user_model.objects.filter(pk=user.pk).exists()


def test_signals_carry_user_and_domain_never_tokens(browser, user, fake_canvas, received):
    from canvas_oauth.tokens import refresh
    from tests.conftest import dance

    dance(browser, fake_canvas)
    fake_canvas.expire_access_tokens()
    CanvasOAuth2Token.objects.update(expires=timezone.now())
    refresh(CanvasOAuth2Token.objects.get())
    assert [name for name, _ in received] == ["obtained", "refreshed"]
    for _, kwargs in received:
        assert set(kwargs) == {"signal", "user", "domain"}
        assert kwargs["user"] == user


def test_invalidate_after_canvas_api_401_restarts_the_dance(req, stored_token, fake_canvas):
    fake_canvas.revoke_all()  # revoked in Canvas's UI, unknown to us
    access = get_oauth_token(req)
    api = requests.get(
        f"{fake_canvas.base_url}/api/v1/users/self",
        headers={"Authorization": f"Bearer {access}"},
        timeout=5,
    )
    assert api.status_code == 401 and "WWW-Authenticate" in api.headers
    with pytest.raises(InvalidTokenError):
        invalidate_oauth_token(req)
    assert not CanvasOAuth2Token.objects.exists()
    with pytest.raises(MissingTokenError):
        get_oauth_token(req)
