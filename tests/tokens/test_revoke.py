"""Disconnecting: revoke at Canvas, forget here, never blocked by Canvas being down."""

import pytest
import requests
from django.db import transaction
from django.utils import timezone

from canvas_oauth import signals, tokens
from canvas_oauth.exceptions import InvalidTokenError, MissingTokenError
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token, invalidate_oauth_token, revoke_oauth_token
from canvas_oauth.tokens import Revocation, revoke, revoke_token
from tests.conftest import dance, store_token


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


def test_revoke_says_what_canvas_made_of_it(user, fake_canvas, received):
    live = store_token(fake_canvas, user)
    assert revoke(live, delete=False) is Revocation.REVOKED
    assert not fake_canvas.is_live(live.access_token)
    assert CanvasOAuth2Token.objects.filter(pk=live.pk).exists()  # left to the caller
    assert received == []
    CanvasOAuth2Token.objects.all().delete()

    dead = store_token(fake_canvas, user, expires_in=-10)
    fake_canvas.revoke_all()  # the refresh token too: Canvas cannot refresh it to revoke it
    assert revoke(dead, delete=False) is Revocation.DEAD
    CanvasOAuth2Token.objects.all().delete()

    unreachable = store_token(fake_canvas, user)
    fake_canvas.misbehave("revoke", "drop")
    outcome = revoke(unreachable)
    assert outcome is Revocation.NOT_REVOKED and not outcome
    assert not CanvasOAuth2Token.objects.exists()  # deleted whatever Canvas said
    assert [signal for signal, _ in received] == ["revoked"]


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


def test_deleting_a_user_revokes_their_tokens_after_the_delete_commits(
    user, stored_token, fake_canvas, django_capture_on_commit_callbacks
):
    access = stored_token.access_token
    with django_capture_on_commit_callbacks() as on_commit:
        user.delete()
        assert fake_canvas.calls["revoke"] == 0  # never inside the delete
    assert fake_canvas.is_live(access)
    for callback in on_commit:
        callback()
    assert not fake_canvas.is_live(access)


def test_a_delete_that_rolls_back_revokes_nothing(
    user, stored_token, fake_canvas, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as on_commit,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        user.delete()
        raise RuntimeError("the rest of the delete failed")
    assert on_commit == []
    assert fake_canvas.is_live(CanvasOAuth2Token.objects.get().access_token)


def test_deleting_a_user_is_not_blocked_by_canvas(
    user, stored_token, fake_canvas, django_user_model, django_capture_on_commit_callbacks
):
    fake_canvas.misbehave("revoke", "drop")
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert not django_user_model.objects.filter(pk=user.pk).exists()


def test_revoking_on_user_delete_can_be_turned_off(
    user, stored_token, fake_canvas, settings, django_capture_on_commit_callbacks
):
    settings.CANVAS_OAUTH_REVOKE_ON_USER_DELETE = False
    with django_capture_on_commit_callbacks(execute=True) as on_commit:
        user.delete()
    assert on_commit == []
    assert fake_canvas.calls["revoke"] == 0


def test_authorizing_as_another_canvas_user_revokes_the_replaced_token(
    browser, user, fake_canvas, django_capture_on_commit_callbacks
):
    from tests.conftest import callback_path, start_dance

    dance(browser, fake_canvas)
    first = CanvasOAuth2Token.objects.get(user=user).access_token
    someone_else = fake_canvas.add_user("Someone Else")
    location = fake_canvas.authorize(start_dance(browser, "/oauth/authorize"), user=someone_else)
    with django_capture_on_commit_callbacks() as on_commit:
        browser.get(callback_path(location))
    assert fake_canvas.is_live(first)  # not before the new token is committed
    for callback in on_commit:
        callback()
    assert not fake_canvas.is_live(first)
    assert fake_canvas.is_live(CanvasOAuth2Token.objects.get(user=user).access_token)


def test_signals_carry_user_and_domain_never_tokens(browser, user, fake_canvas, received):
    from canvas_oauth.tokens import refresh

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


def test_invalidate_keeps_a_token_refreshed_elsewhere_since_the_request_read_it(
    req, rf, user, stored_token, fake_canvas
):
    """Another process refreshed the token after this request read it: Canvas retired the
    access token this request sent, but the row now holds a live one, and keeps it."""
    sent = get_oauth_token(req)
    refreshed = tokens.refresh(CanvasOAuth2Token.objects.get(pk=stored_token.pk), force=True)
    assert not fake_canvas.is_live(sent) and fake_canvas.is_live(refreshed.access_token)
    with pytest.raises(InvalidTokenError):
        invalidate_oauth_token(req)  # what a view does on the 401 its call got
    later = rf.get("/")
    later.user = user
    assert get_oauth_token(later) == refreshed.access_token


def test_invalidate_token_deletes_the_rejected_token_only_while_the_row_holds_it(
    user, stored_token, fake_canvas
):
    rejected = CanvasOAuth2Token.objects.get(pk=stored_token.pk)
    tokens.refresh(CanvasOAuth2Token.objects.get(pk=stored_token.pk), force=True)
    tokens.invalidate_token(user, rejected=rejected)
    assert CanvasOAuth2Token.objects.filter(pk=stored_token.pk).exists()
    current = CanvasOAuth2Token.objects.get(pk=stored_token.pk)
    tokens.invalidate_token(user, rejected=current)
    assert not CanvasOAuth2Token.objects.exists()
