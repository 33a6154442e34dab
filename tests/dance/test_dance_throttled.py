"""Sign-ins refused by the throttle of Canvas's token endpoint (spec §9.2).

Canvas counts a server's token requests together and charges 200 units for each token it
grants, so a class signing in at once can have its code exchanges refused. A refused
request never reached Canvas's controller: the code is still good, and is sent again when
Canvas's figure says it will be admitted within ``CANVAS_OAUTH_TIMEOUT``.
"""

import pytest
from django.test import Client

from canvas_oauth import breaker, pacing, refresher
from canvas_oauth.exceptions import CanvasTokenThrottledError
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import dance

pytestmark = pytest.mark.django_db


@pytest.fixture
def quick_bucket(monkeypatch, fake_canvas):
    """Canvas's bucket on both sides, leaking a hundred times faster: waits of milliseconds."""
    monkeypatch.setattr(refresher, "TOKEN_BUCKET", pacing.Bucket(600.0, 1000.0, 50.0, 800.0))
    fake_canvas.throttle.outflow = 1000.0


def test_a_sign_in_refused_once_by_the_throttle_completes(browser, user, fake_canvas, quick_bucket):
    fake_canvas.misbehave("token", "throttle", times=1)
    response = dance(browser, fake_canvas)
    assert response.status_code == 302 and response["Location"] == "/canvas/"
    assert fake_canvas.calls["token:authorization_code"] == 2  # refused, then admitted
    assert fake_canvas.is_live(CanvasOAuth2Token.objects.get(user=user).access_token)


def test_a_class_signing_in_at_once_all_get_their_tokens(
    django_user_model, fake_canvas, quick_bucket
):
    # Three grants fill the bucket (200 units each, besides the 50 up front): later
    # exchanges are refused, then admitted as it leaks.
    fake_canvas.throttle.token_endpoint = True
    users = [django_user_model.objects.create_user(f"student{n}") for n in range(10)]
    for student in users:
        browser = Client()
        browser.force_login(student)
        assert dance(browser, fake_canvas)["Location"] == "/canvas/"
    assert fake_canvas.calls["throttled"] >= 1
    assert CanvasOAuth2Token.objects.filter(user__in=users).count() == 10
    assert breaker.for_domain("canvas.example.edu").state == breaker.CLOSED


def test_a_sign_in_canvas_will_not_admit_in_time_is_the_busy_page(
    browser, user, fake_canvas, settings
):
    settings.CANVAS_OAUTH_TIMEOUT = 3
    # Canvas's real numbers: refused with 0 left, admitted in 5 s, past the 3 s deadline.
    fake_canvas.misbehave("token", "throttle", times=1)
    response = dance(browser, fake_canvas)
    assert response.status_code == CanvasTokenThrottledError.status_code == 503
    assert b"Canvas is busy with this site&#x27;s requests." in response.content
    assert fake_canvas.calls["token:authorization_code"] == 1
    assert not CanvasOAuth2Token.objects.filter(user=user).exists()
    assert b'<a href="/oauth/authorize' in response.content  # "Try again": a new dance
