"""The API examples of ``docs/howto/call-the-api.md`` and ``background-jobs.md``, as written.

Each block is executed into a namespace of its own (several define a ``profile`` or a
``nightly_sync``), its views are routed by this module's URLconf, and the tests walk what
the page describes against the fake Canvas: a ``401`` with ``WWW-Authenticate`` from the
API sends the user through the dance again. A view that ends in the docs' ``...`` (the rest
of the view) answers "rest of the view" here.
"""

import types
from functools import wraps

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpResponse
from django.urls import include, path

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import callback_path, store_token
from tests.docs_examples import run_block

API = "howto/call-the-api.md"
JOBS = "howto/background-jobs.md"


def example(page, key, **names):
    """Run one block into a module of its own, with ``names`` (the reader's own) defined."""
    module = types.ModuleType(f"docs_example_{key}")
    module.__dict__.update(names)
    run_block(page, key, module.__dict__)
    return module


dashboard = example(API, "def dashboard(request)").dashboard
course_list = example(API, "def course_list(request)").course_list
with_requests = example(API, "import requests").profile
with_canvasapi = example(API, "from canvasapi import Canvas").courses
async_profile = example(API, "async def profile(request)").profile

notified = []


def notify(user, message):
    notified.append((user, message))


sync_with_token = example(JOBS, "get_token_for_user(user)", notify=notify).nightly_sync
sync_with_session = example(JOBS, "CanvasSession.for_user(user)", notify=notify).nightly_sync


def rest_of_the_view(view):
    """Stand in for the docs' ``...``: the view, had it returned, answers this."""

    @wraps(view)
    def wrapper(request):
        return view(request) or HttpResponse("rest of the view")

    return wrapper


def async_rest_of_the_view(view):
    @wraps(view)
    async def wrapper(request):
        return await view(request) or HttpResponse("rest of the view")

    return wrapper


urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("dashboard/", dashboard),
    path("course-list/", course_list),
    path("requests/", rest_of_the_view(with_requests)),
    path("canvasapi/", rest_of_the_view(with_canvasapi)),
    path("async/", async_rest_of_the_view(async_profile)),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def seeded(fake_canvas, stored_token):
    fake_canvas.add_courses(n=120)
    return [f"Course {n}" for n in range(1, 121)]


def test_dashboard(browser, seeded, fake_canvas):
    assert browser.get("/dashboard/").json() == {"name": "Ada Lovelace", "courses": seeded}
    assert fake_canvas.calls["users_self"] == 1


def test_dashboard_without_a_token_goes_to_canvas(browser, fake_canvas):
    assert "/login/oauth2/auth?" in browser.get("/dashboard/")["Location"]


def test_course_list_with_canvasapi(browser, seeded):
    assert browser.get("/course-list/").json() == {"courses": seeded}


@pytest.mark.parametrize("url", ["/requests/", "/canvasapi/"])
def test_a_live_token_gets_to_the_rest_of_the_view(browser, fake_canvas, stored_token, url):
    response = browser.get(url)
    assert response.content == b"rest of the view"
    assert CanvasOAuth2Token.objects.get() == stored_token


@pytest.mark.parametrize("url", ["/requests/", "/canvasapi/"])
def test_a_rejected_token_sends_the_user_through_the_dance_again(
    browser, fake_canvas, stored_token, url
):
    fake_canvas.misbehave("api", "invalid_token", times=1)  # 401 with WWW-Authenticate
    response = browser.get(url)
    assert response.status_code == 302
    assert "/login/oauth2/auth?" in response["Location"]
    assert not CanvasOAuth2Token.objects.exists()
    back = browser.get(callback_path(fake_canvas.authorize(response["Location"])))
    assert back["Location"] == url
    assert browser.get(url).content == b"rest of the view"
    assert CanvasOAuth2Token.objects.get().access_token != stored_token.access_token


@pytest.mark.django_db(transaction=True)
def test_async_view(async_client, fake_canvas, user):
    async def visit():
        await async_client.aforce_login(user)
        return await async_client.get("/async/")

    missing = async_to_sync(visit)()
    assert missing.status_code == 302  # no token: the middleware starts the dance
    token = store_token(fake_canvas, user, expires_in=-5)
    fake_canvas.expire_access_tokens()
    page = async_to_sync(visit)()
    assert fake_canvas.calls["token:refresh_token"] == 1  # refreshed in the sync thread
    assert page.content == b"rest of the view"
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token != token.access_token


@pytest.fixture
def _notified():
    notified.clear()
    yield notified
    notified.clear()


RECONNECT = (
    "Please reconnect Canvas: https://tool.example.edu/oauth/authorize?domain=canvas.example.edu"
)


@pytest.mark.parametrize("nightly_sync", [sync_with_token, sync_with_session])
def test_nightly_sync_asks_the_user_to_reconnect(user, fake_canvas, _notified, nightly_sync):
    assert nightly_sync(user) is None
    assert _notified == [(user, RECONNECT)]


def test_nightly_sync_gets_a_fresh_token(user, fake_canvas, expired_token, _notified):
    assert sync_with_token(user) is None  # the docs' "..." comes next
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert _notified == []


def test_nightly_sync_reads_the_courses(user, seeded, fake_canvas, _notified):
    assert sync_with_session(user) is None  # the docs' "..." comes next
    assert fake_canvas.calls["courses"] == 2  # 120 courses: two pages
    assert _notified == []


def test_nightly_sync_asks_again_when_canvas_rejects_the_token(
    user, fake_canvas, stored_token, _notified
):
    fake_canvas.misbehave("api", "invalid_token", times=2)  # the refreshed token too
    assert sync_with_session(user) is None
    assert _notified == [(user, RECONNECT)]
    assert not CanvasOAuth2Token.objects.exists()
