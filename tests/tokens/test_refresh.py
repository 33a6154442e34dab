"""Refreshing: once when needed, never losing a token that could still work."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from canvas_oauth.exceptions import MissingTokenError, TokenRefreshError
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token, refresh_oauth_token
from tests.conftest import store_token
from tests.tokens.test_claims import the_read_after_the_claim_fails


@pytest.fixture
def request_for(rf):
    def make(user):
        request = rf.get("/canvas/")
        request.user = user
        return request

    return make


def test_fresh_token_is_returned_without_calling_canvas(
    request_for, user, stored_token, fake_canvas
):
    assert get_oauth_token(request_for(user)) == stored_token.access_token
    assert fake_canvas.calls["token"] == 0


def test_expired_token_is_refreshed_and_kept(request_for, user, expired_token, fake_canvas):
    old_refresh = expired_token.refresh_token
    access = get_oauth_token(request_for(user))
    assert fake_canvas.is_live(access)
    assert fake_canvas.calls["token:refresh_token"] == 1
    row = CanvasOAuth2Token.objects.get(user=user)
    assert row.access_token == access
    # Canvas does not rotate a confidential client's refresh token: keep the old one.
    assert row.refresh_token == old_refresh
    assert row.expires > timezone.now() + timedelta(minutes=59)


def test_buffer_refreshes_a_token_before_it_expires(request_for, user, fake_canvas, settings):
    store_token(fake_canvas, user, expires_in=120)
    settings.CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER = timedelta(minutes=5)
    get_oauth_token(request_for(user))
    assert fake_canvas.calls["token:refresh_token"] == 1


def test_token_without_expiry_is_never_refreshed(request_for, user, fake_canvas):
    token = store_token(fake_canvas, user)
    CanvasOAuth2Token.objects.filter(pk=token.pk).update(expires=None)
    assert get_oauth_token(request_for(user)) == token.access_token
    assert fake_canvas.calls["token"] == 0


@pytest.mark.parametrize("fake_canvas_options", [{"public_client": True}], indirect=False)
def test_public_client_rotation_keeps_the_new_refresh_token(
    request_for, user, expired_token, fake_canvas
):
    old_refresh = expired_token.refresh_token
    get_oauth_token(request_for(user))
    row = CanvasOAuth2Token.objects.get(user=user)
    assert row.refresh_token != old_refresh
    fake_canvas.expire_access_tokens()
    CanvasOAuth2Token.objects.filter(pk=row.pk).update(expires=timezone.now())
    assert fake_canvas.is_live(get_oauth_token(request_for(user)))


def test_repeated_calls_in_one_request_make_no_queries(
    request_for, user, stored_token, django_assert_num_queries
):
    request = request_for(user)
    with django_assert_num_queries(1):
        get_oauth_token(request)
    with django_assert_num_queries(0):
        for _ in range(5):
            get_oauth_token(request)


def test_dead_refresh_token_deletes_the_row(request_for, user, expired_token, fake_canvas):
    fake_canvas.revoke_all()  # Canvas answers invalid_request "refresh_token not found"
    with pytest.raises(MissingTokenError):
        get_oauth_token(request_for(user))
    assert not CanvasOAuth2Token.objects.filter(user=user).exists()


def test_token_without_refresh_token_is_dropped_when_expired(request_for, user, fake_canvas):
    token = store_token(fake_canvas, user, expires_in=-1)
    CanvasOAuth2Token.objects.filter(pk=token.pk).update(refresh_token="")
    with pytest.raises(MissingTokenError):
        get_oauth_token(request_for(user))
    assert fake_canvas.calls["token"] == 0
    assert not CanvasOAuth2Token.objects.exists()


@pytest.mark.parametrize(
    "mode", ["error", "unavailable", "garbage", "html", "drop", "missing_token"]
)
def test_transient_refresh_failure_keeps_the_token(
    request_for, user, expired_token, fake_canvas, mode
):
    before = CanvasOAuth2Token.objects.get(pk=expired_token.pk)
    fake_canvas.misbehave("token", mode, times=1)
    with pytest.raises(TokenRefreshError):
        get_oauth_token(request_for(user))
    after = CanvasOAuth2Token.objects.get(pk=expired_token.pk)
    assert (after.access_token, after.refresh_token, after.expires) == (
        before.access_token,
        before.refresh_token,
        before.expires,
    )
    # Canvas is back: the next request refreshes.
    assert fake_canvas.is_live(get_oauth_token(request_for(user)))


def test_refresh_timeout_keeps_the_token(request_for, user, expired_token, fake_canvas, settings):
    settings.CANVAS_OAUTH_TIMEOUT = 0.05
    fake_canvas.misbehave("token", "slow", delay=1, times=1)
    with pytest.raises(TokenRefreshError):
        get_oauth_token(request_for(user))
    assert CanvasOAuth2Token.objects.filter(pk=expired_token.pk).exists()


def test_wrong_client_secret_on_refresh_keeps_the_token(
    request_for, user, expired_token, fake_canvas, settings
):
    settings.CANVAS_OAUTH_CLIENT_SECRET = "rotated-but-not-in-canvas"
    with pytest.raises(TokenRefreshError):
        get_oauth_token(request_for(user))
    assert CanvasOAuth2Token.objects.filter(pk=expired_token.pk).exists()


def test_transient_refresh_failure_renders_503(browser, expired_token, fake_canvas):
    fake_canvas.misbehave("token", "unavailable", times=1)
    response = browser.get("/canvas/")
    assert response.status_code == 503
    assert b"not available right now" in response.content
    assert browser.get("/canvas/").status_code == 200


def test_dead_refresh_token_restarts_the_dance_and_returns(
    browser, expired_token, fake_canvas, user
):
    fake_canvas.revoke_all()
    response = browser.get("/canvas/?page=3")
    assert response.status_code == 302
    location = fake_canvas.authorize(response["Location"])
    from tests.conftest import callback_path

    assert browser.get(callback_path(location))["Location"] == "/canvas/?page=3"
    assert browser.get("/canvas/?page=3").status_code == 200


def test_refresh_oauth_token_refreshes_on_demand(request_for, user, expired_token, fake_canvas):
    token = refresh_oauth_token(request_for(user))
    assert fake_canvas.is_live(token.access_token)


def test_refresh_oauth_token_without_token(request_for, user, fake_canvas):
    with pytest.raises(MissingTokenError):
        refresh_oauth_token(request_for(user))


def test_a_refresh_made_meanwhile_is_not_repeated(request_for, user, expired_token, fake_canvas):
    from canvas_oauth import tokens

    stale = CanvasOAuth2Token.objects.get(pk=expired_token.pk)
    get_oauth_token(request_for(user))  # another request refreshes first
    assert tokens.refresh(stale).access_token == CanvasOAuth2Token.objects.get().access_token
    assert fake_canvas.calls["token:refresh_token"] == 1


def test_a_refresh_whose_read_fails_leaves_the_token_to_the_next_request(
    request_for, user, expired_token, fake_canvas, settings
):
    settings.CANVAS_OAUTH_REFRESH_WAIT = 0.1
    with the_read_after_the_claim_fails(), pytest.raises(OperationalError):
        get_oauth_token(request_for(user))
    access = get_oauth_token(request_for(user))  # not kept waiting on a claim nobody holds
    assert fake_canvas.is_live(access)
    assert fake_canvas.calls["token:refresh_token"] == 1


def test_scope_drift_asks_the_user_again(request_for, user, stored_token, settings):
    stored_token.scopes = ""  # recorded: granted with no scopes asked for
    stored_token.save()
    settings.CANVAS_OAUTH_SCOPES = ["url:GET|/api/v1/courses"]
    with pytest.raises(MissingTokenError):
        get_oauth_token(request_for(user))
    assert CanvasOAuth2Token.objects.filter(pk=stored_token.pk).exists()


def test_the_hot_path_row_reads_like_the_orm_row(user, stored_token, django_assert_num_queries):
    from canvas_oauth import tokens

    with django_assert_num_queries(1):
        token = tokens.get_token(user)
    orm = CanvasOAuth2Token.objects.get(pk=stored_token.pk)
    assert (token.pk, token.user_id, token.domain, token.expires, token.scopes) == (
        orm.pk,
        orm.user_id,
        orm.domain,
        orm.expires,
        orm.scopes,
    )
    assert token.access_token == orm.access_token
    with django_assert_num_queries(1):  # columns the hot path skips load when first read
        assert token.refresh_token == orm.refresh_token
