"""A project written for django-canvas-oauth 1.1 keeps working, its own tests included.

Its tests patch the original's module-level functions, and its views catch
``InvalidOAuthReturnError``: both still do what they did (issue #19). The view and the
tests are the upgrade notes' own, run as written; this module is also their URLconf.
"""

from types import SimpleNamespace
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from django.utils import timezone

from canvas_oauth import oauth
from canvas_oauth.exceptions import (
    CanvasRejectedError,
    CanvasRequestError,
    InvalidOAuthReturnError,
    MissingTokenError,
    TokenRefreshError,
)
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import callback_path, dance, start_dance, store_token
from tests.docs_examples import run_block

UPGRADING = "howto/upgrading.md"

# The project's view, and its tests as written for 1.1 and on the fake Canvas.
run_block(UPGRADING, "def courses(request):", globals())
run_block(UPGRADING, "def test_courses_with_an_expiring_token(", globals())
run_block(UPGRADING, "def test_courses_refreshes_an_expired_token(", globals())


def project_callback(request):
    """The original's callback behind a view of the project's, as some projects route it."""
    try:
        return oauth.oauth_callback(request)
    except InvalidOAuthReturnError as exc:
        return JsonResponse({"redirect": True, "code": exc.code})


urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("courses/", courses),  # noqa: F821 -- defined by the upgrade notes' block
    path("project-callback/", project_callback),
]

pytestmark = pytest.mark.urls(__name__)


def without_the_projects_except(monkeypatch):
    """Make the view's ``except InvalidOAuthReturnError`` catch nothing of ours."""
    monkeypatch.setitem(courses.__globals__, "InvalidOAuthReturnError", LookupError)  # noqa: F821


def expiring_token(fake_canvas, user):
    token = store_token(fake_canvas, user, expires_in=-10)
    fake_canvas.expire_access_tokens()
    return token


# -- The seams: a patched function changes the behaviour, as it did --------------------------


def test_a_patched_refresh_oauth_token_decides_the_token(browser, user, fake_canvas):
    expiring_token(fake_canvas, user)
    fake_canvas.add_courses(n=1)
    fresh = SimpleNamespace(access_token=fake_canvas.issue_token()["access_token"])
    with mock.patch("canvas_oauth.oauth.refresh_oauth_token", return_value=fresh) as patched:
        response = browser.get("/courses/")
    assert response.json() == {"courses": ["Course 1"]}  # the stored token is dead at Canvas
    (request,), kwargs = patched.call_args
    assert kwargs == {} and request.path == "/courses/"  # called as the original called it
    assert fake_canvas.calls["token:refresh_token"] == 0


def test_a_patched_refresh_is_not_called_for_a_token_that_is_not_expiring(
    browser, user, fake_canvas
):
    store_token(fake_canvas, user)
    fake_canvas.add_courses(n=1)
    with mock.patch("canvas_oauth.oauth.refresh_oauth_token") as patched:
        assert browser.get("/courses/").json() == {"courses": ["Course 1"]}
    assert not patched.called


def test_a_named_domain_is_passed_on_to_the_refresh(rf, user, fake_canvas):
    expiring_token(fake_canvas, user)
    request = rf.get("/")
    request.user = user
    fresh = SimpleNamespace(access_token="made up")
    with mock.patch("canvas_oauth.oauth.refresh_oauth_token", return_value=fresh) as patched:
        assert oauth.get_oauth_token(request, "canvas.example.edu") == "made up"
    patched.assert_called_once_with(request, "canvas.example.edu")


def test_unpatched_the_same_name_makes_one_refresh(browser, user, fake_canvas):
    expiring_token(fake_canvas, user)
    fake_canvas.add_courses(n=1)
    spy = mock.patch("canvas_oauth.oauth.refresh_oauth_token", wraps=oauth.refresh_oauth_token)
    with spy as spied:
        for _ in range(2):
            assert browser.get("/courses/").json() == {"courses": ["Course 1"]}
    assert spied.call_count == 1  # the second request finds the refreshed token
    assert fake_canvas.calls["token:refresh_token"] == 1


def test_the_middleware_starts_the_dance_through_a_patched_handle_missing_token(browser):
    answer = HttpResponse("the project's own dance")
    with mock.patch("canvas_oauth.oauth.handle_missing_token", return_value=answer) as patched:
        response = browser.get("/courses/")  # no token: MissingTokenError
    assert response is answer
    (request,), _ = patched.call_args
    assert request.path == "/courses/"


def test_patching_the_middlewares_own_name_works_as_in_the_originals_tests(browser):
    answer = HttpResponse("patched where the original's tests patch it")
    with mock.patch("canvas_oauth.middleware.handle_missing_token", return_value=answer):
        assert browser.get("/courses/") is answer


def test_a_dead_refresh_token_starts_the_dance_through_a_patched_handle_missing_token(
    browser, user, fake_canvas, monkeypatch
):
    expiring_token(fake_canvas, user)
    fake_canvas.revoke_all()
    without_the_projects_except(monkeypatch)
    answer = HttpResponse("the project's own dance")
    with mock.patch("canvas_oauth.oauth.handle_missing_token", return_value=answer) as patched:
        assert browser.get("/courses/") is answer
    (request,), _ = patched.call_args
    assert request.path == "/courses/"


def test_a_missing_token_on_a_post_is_a_401_not_the_dance(browser):
    # A redirect to Canvas would drop the form: the upgrade notes say so.
    with mock.patch("canvas_oauth.oauth.handle_missing_token") as patched:
        response = browser.post("/courses/")
    assert not patched.called
    assert response.status_code == 401
    assert response.json()["error"] == MissingTokenError.code


@pytest.mark.urls("tests.urls")
def test_the_middleware_renders_errors_through_a_patched_render_oauth_error(browser):
    answer = HttpResponse("the project's error page", status=403)
    with mock.patch("canvas_oauth.oauth.render_oauth_error", return_value=answer) as patched:
        assert browser.get("/raise/plain/") is answer
    patched.assert_called_once_with("Your Canvas course is not set up for this tool.")


def test_a_patch_of_the_originals_get_access_token_fails_loudly_or_is_not_reached(
    browser, user, fake_canvas
):
    with pytest.raises(AttributeError), mock.patch("canvas_oauth.oauth.canvas.get_access_token"):
        pass  # canvas_oauth.oauth has no canvas attribute
    fake_canvas.add_courses(n=1)
    with mock.patch("canvas_oauth.canvas.get_access_token") as patched:
        assert dance(browser, fake_canvas, "/courses/").status_code == 302  # the code exchange
        fake_canvas.expire_access_tokens()
        CanvasOAuth2Token.objects.update(expires=timezone.now())
        assert browser.get("/courses/").json() == {"courses": ["Course 1"]}  # the refresh
    assert not patched.called
    assert fake_canvas.calls["token:refresh_token"] == 1


# -- except InvalidOAuthReturnError catches what it caught -----------------------------------
# The view's own tests (the upgrade notes' blocks) show the project's answer; these show the
# errors behind it, and what happens without the project's except.


@pytest.mark.parametrize(
    ("break_canvas", "error_class", "status", "code"),
    [
        (lambda fake: fake.revoke_all(), MissingTokenError, 401, "canvas_authorization_required"),
        (
            lambda fake: fake.misbehave("token", "error"),
            TokenRefreshError,
            503,
            "canvas_refresh_failed",
        ),
        (  # the key's secret was rotated: Canvas answers 401 invalid_client
            lambda fake: setattr(fake.client, "client_secret", "rotated-" + "x" * 56),
            TokenRefreshError,
            503,
            "canvas_refresh_failed",
        ),
        (  # a row made by hand without one: the original sent it blank, and Canvas refused
            lambda fake: CanvasOAuth2Token.objects.update(refresh_token=""),
            MissingTokenError,
            401,
            "canvas_authorization_required",
        ),
    ],
    ids=["dead refresh token", "canvas 500", "key refused", "no refresh token"],
)
def test_a_failed_refresh_is_both_what_it_was_and_what_it_is(
    rf, user, fake_canvas, break_canvas, error_class, status, code
):
    expiring_token(fake_canvas, user)
    break_canvas(fake_canvas)
    request = rf.get("/")
    request.user = user
    with pytest.raises(error_class) as caught:
        oauth.get_oauth_token(request)
    assert isinstance(caught.value, InvalidOAuthReturnError)
    assert (caught.value.status_code, caught.value.code) == (status, code)


def test_without_the_projects_except_a_dead_refresh_token_starts_the_dance(
    browser, user, fake_canvas, monkeypatch
):
    expiring_token(fake_canvas, user)
    fake_canvas.revoke_all()
    without_the_projects_except(monkeypatch)
    response = browser.get("/courses/")
    assert response.status_code == 302
    assert "/login/oauth2/auth?" in response["Location"]


def test_without_the_projects_except_a_failed_refresh_keeps_the_token(
    browser, user, fake_canvas, monkeypatch
):
    token = expiring_token(fake_canvas, user)
    fake_canvas.misbehave("token", "error")  # 500
    without_the_projects_except(monkeypatch)
    assert browser.get("/courses/").status_code == 503
    assert CanvasOAuth2Token.objects.filter(pk=token.pk).exists()


def returned_to_project(browser, fake_canvas):
    """Walk the dance to Canvas and back, landing on the project's own callback view."""
    location = fake_canvas.authorize(start_dance(browser, "/courses/"))
    return "/project-callback/?" + urlsplit(callback_path(location)).query


@pytest.mark.parametrize("fault", ["error", "garbage"])  # a 500; a 200 that is not JSON
def test_canvas_failing_on_the_code_exchange_reaches_the_projects_except(
    browser, fake_canvas, fault
):
    path = returned_to_project(browser, fake_canvas)
    fake_canvas.misbehave("token", fault)
    assert browser.get(path).json() == {"redirect": True, "code": CanvasRequestError.code}
    assert fake_canvas.calls["token"] == 1
    assert not CanvasOAuth2Token.objects.exists()


def test_canvas_refusing_the_code_reaches_the_projects_except(browser, fake_canvas):
    path = returned_to_project(browser, fake_canvas)
    code = parse_qs(urlsplit(path).query)["code"][0]
    fake_canvas.advance(3600)  # the code has expired: Canvas answers invalid_grant
    answer = browser.get(path).json()
    assert answer == {"redirect": True, "code": CanvasRejectedError.code}
    assert code not in str(answer)


@pytest.mark.urls("tests.urls")
def test_without_the_projects_except_a_failed_exchange_keeps_its_status(browser, fake_canvas):
    location = fake_canvas.authorize(start_dance(browser))
    fake_canvas.misbehave("token", "error")
    assert browser.get(callback_path(location)).status_code == 502
