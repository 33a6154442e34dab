"""``canvasapi_for``: canvasapi's calls with this app's token handling, over real HTTP."""

import logging

import pytest
from django.http import JsonResponse
from django.urls import include, path

from canvas_oauth import pacing
from canvas_oauth.api import CanvasSession, canvasapi_for
from canvas_oauth.exceptions import CanvasThrottledError, InvalidTokenError
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import store_token

canvasapi = pytest.importorskip("canvasapi")


def courses(request):
    canvas = canvasapi_for(request)
    return JsonResponse({"courses": [course.name for course in canvas.get_courses()]})


urlpatterns = [path("oauth/", include("canvas_oauth.urls")), path("courses/", courses)]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def token(live_fake_canvas, user, settings):
    return store_token(live_fake_canvas, user, domain=settings.CANVAS_OAUTH_CANVAS_DOMAIN)


def test_a_job_lists_every_page_with_canvasapi(live_fake_canvas, token, user):
    live_fake_canvas.add_courses(n=150)
    canvas = canvasapi_for(user)
    assert canvas.get_current_user().name == "Ada Lovelace"
    names = [course.name for course in canvas.get_courses()]
    assert names == [f"Course {n}" for n in range(1, 151)]
    assert live_fake_canvas.calls["courses"] == 2  # canvasapi asks for 100 a page


def test_canvasapi_current_user_calls_name_the_user_by_number(live_fake_canvas, token, user):
    live_fake_canvas.add_page_views(n=250)
    canvas = canvasapi_for(user)
    me = canvas.get_current_user()
    views = list(me.get_page_views())  # GET users/1/page_views, 100 a bookmarked page
    assert len(views) == 250 and views[0].url.endswith("/page-249")
    assert canvas.get_user(me.id).name == "Ada Lovelace"  # GET users/1
    assert live_fake_canvas.calls["page_views"] == 3
    assert live_fake_canvas.calls["users"] == 1


def test_a_view_uses_canvasapi_with_the_users_token(browser, live_fake_canvas, token):
    live_fake_canvas.add_courses(n=2)
    assert browser.get("/courses/").json() == {"courses": ["Course 1", "Course 2"]}


def test_canvasapi_calls_refresh_a_token_that_died_early(live_fake_canvas, token, user):
    live_fake_canvas.expire_access_tokens()
    assert canvasapi_for(user).get_current_user().name == "Ada Lovelace"
    assert live_fake_canvas.calls["token:refresh_token"] == 1


def test_canvasapi_calls_follow_the_401_rule_in_a_job(live_fake_canvas, token, user):
    live_fake_canvas.misbehave("api", "invalid_token", times=2)
    with pytest.raises(InvalidTokenError) as caught:
        canvasapi_for(user).get_current_user()
    assert caught.value.authorize_url.startswith("/oauth/authorize?domain=http")
    assert not CanvasOAuth2Token.objects.exists()


def test_canvasapi_calls_follow_the_401_rule_in_a_view(browser, live_fake_canvas, token):
    live_fake_canvas.misbehave("api", "invalid_token", times=2)
    response = browser.get("/courses/")
    assert response.status_code == 302
    assert "/login/oauth2/auth?" in response["Location"]


@pytest.mark.parametrize("status", [429, 403])  # hosted Canvas, then older Canvas
def test_canvasapi_never_sees_a_throttle_the_budget_absorbs(
    live_fake_canvas, token, user, monkeypatch, status
):
    # Canvas's bucket, leaking a hundred times faster: the retries wait milliseconds.
    monkeypatch.setattr(CanvasSession, "bucket", pacing.Bucket(600.0, 1000.0, 50.0, 800.0))
    live_fake_canvas.throttle.status = status
    live_fake_canvas.add_courses(n=3)
    live_fake_canvas.misbehave("api", "throttle", times=3)
    canvas = canvasapi_for(user)
    assert canvas.get_current_user().name == "Ada Lovelace"  # canvasapi raises on a 429
    assert [c.name for c in canvas.get_courses()] == ["Course 1", "Course 2", "Course 3"]
    # Three refusals in a row, each retried by the session; canvasapi saw none of them.
    assert live_fake_canvas.calls["users_self"] == 4 and live_fake_canvas.calls["courses"] == 1


def test_canvasapi_calls_are_throttled_by_the_session(live_fake_canvas, token, user, settings):
    settings.CANVAS_OAUTH_API_RETRY_BUDGET = 0
    live_fake_canvas.misbehave("api", "throttle")
    with pytest.raises(CanvasThrottledError):
        canvasapi_for(user).get_current_user()


def test_canvasapi_never_holds_the_token(live_fake_canvas, token, user, caplog):
    caplog.set_level(logging.DEBUG)
    canvas = canvasapi_for(user)
    assert canvas.get_current_user().name == "Ada Lovelace"
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "Authorization" in logged  # canvasapi logged its headers
    assert token.access_token not in logged
    assert token.access_token[-4:] not in logged


def test_other_statuses_raise_canvasapis_own_errors(live_fake_canvas, token, user):
    from canvasapi.exceptions import ResourceDoesNotExist

    with pytest.raises(ResourceDoesNotExist):
        canvasapi_for(user).get_course(404)
    assert CanvasOAuth2Token.objects.exists()
