"""Refreshes refused by Canvas's throttle (spec §9.2): tried again in time, never an outage."""

import pytest
from django.views.debug import ExceptionReporter

from canvas_oauth import breaker, pacing, refresher
from canvas_oauth.exceptions import TokenRefreshError
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token
from canvas_oauth.signals import token_refreshed
from tests.conftest import store_token

pytestmark = pytest.mark.django_db

DOMAIN = "canvas.example.edu"


@pytest.fixture
def get_token(rf):
    def get(user):
        request = rf.get("/canvas/")
        request.user = user
        return get_oauth_token(request)

    return get


@pytest.fixture
def quick_bucket(monkeypatch, fake_canvas):
    """Canvas's bucket on both sides, leaking a hundred times faster: waits of milliseconds."""
    monkeypatch.setattr(refresher, "TOKEN_BUCKET", pacing.Bucket(600.0, 1000.0, 50.0, 800.0))
    fake_canvas.throttle.outflow = 1000.0


@pytest.fixture
def ten_users(fake_canvas, django_user_model):
    users = [django_user_model.objects.create_user(f"user{n}") for n in range(10)]
    for user in users:
        store_token(fake_canvas, user, expires_in=-10)
    fake_canvas.expire_access_tokens()
    return users


def test_ten_users_whose_refreshes_are_each_throttled_once_all_get_their_tokens(
    fake_canvas, ten_users, get_token, quick_bucket
):
    for user in ten_users:
        fake_canvas.misbehave("token", "throttle", times=1)
        assert fake_canvas.is_live(get_token(user))
    assert fake_canvas.calls["token:refresh_token"] == 20
    assert breaker.for_domain(DOMAIN).state == breaker.CLOSED


def test_a_burst_of_refreshes_through_canvass_token_throttle_all_get_their_tokens(
    fake_canvas, ten_users, get_token, quick_bucket
):
    # Canvas buckets token requests by their sender, and a granted token costs 200 units
    # more: three grants fill the bucket, and every later refresh is refused, then admitted.
    fake_canvas.throttle.token_endpoint = True
    for user in ten_users:
        assert fake_canvas.is_live(get_token(user))
    assert fake_canvas.calls["throttled"] >= 1
    assert fake_canvas.calls["token:refresh_token"] == 10 + fake_canvas.calls["throttled"]


def test_a_refresh_canvas_will_not_admit_in_time_fails_as_a_timeout_keeping_the_token(
    fake_canvas, user, expired_token, get_token, settings
):
    settings.CANVAS_OAUTH_TIMEOUT = 3
    # Canvas's real numbers: refused with 0 left, admitted in 5 s, past the 3 s deadline.
    fake_canvas.misbehave("token", "throttle", times=1)
    with pytest.raises(TokenRefreshError):
        get_token(user)
    assert fake_canvas.calls["token:refresh_token"] == 1
    row = CanvasOAuth2Token.objects.get(pk=expired_token.pk)
    assert (row.access_token, row.refresh_token) == (
        expired_token.access_token,
        expired_token.refresh_token,
    )
    assert fake_canvas.is_live(get_token(user))  # the next request refreshes it


def test_throttled_refreshes_never_open_the_breaker(fake_canvas, ten_users, get_token, settings):
    settings.CANVAS_OAUTH_BREAKER_THRESHOLD = 3
    fake_canvas.misbehave("token", "throttle", times=5)
    for user in ten_users[:5]:
        with pytest.raises(TokenRefreshError):
            get_token(user)
    assert breaker.for_domain(DOMAIN).state == breaker.CLOSED
    assert fake_canvas.is_live(get_token(ten_users[5]))  # Canvas is asked, not skipped
    assert fake_canvas.calls["token:refresh_token"] == 6


class ReceiverFailed(Exception):
    pass


def test_a_crash_after_a_throttled_refresh_shows_no_token_in_the_error_report(
    fake_canvas, user, expired_token, get_token, quick_bucket, rf, settings
):
    # The project's receiver of token_refreshed raises once the retried refresh is stored;
    # the report walks every frame below the view, the refresher's own among them.
    def receiver(**kwargs):
        raise ReceiverFailed()

    fake_canvas.misbehave("token", "throttle", times=1)
    token_refreshed.connect(receiver)
    try:
        with pytest.raises(ReceiverFailed) as caught:
            get_token(user)
    finally:
        token_refreshed.disconnect(receiver)
    below_the_test = caught.tb.tb_next
    reporter = ExceptionReporter(rf.get("/"), caught.type, caught.value, below_the_test)
    report = reporter.get_traceback_html() + reporter.get_traceback_text()
    row = CanvasOAuth2Token.objects.get(pk=expired_token.pk)
    assert fake_canvas.calls["token:refresh_token"] == 2
    for secret in (
        expired_token.access_token,
        expired_token.refresh_token,
        row.access_token,
        row.refresh_token,
        settings.CANVAS_OAUTH_CLIENT_SECRET,
    ):
        assert secret not in report
