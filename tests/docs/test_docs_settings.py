"""The settings snippets of the docs, executed and checked as a project would hold them.

Each snippet is run into a namespace (a settings module's), set with ``override_settings``,
and must pass canvas_oauth's system checks. Where it is cheap they also drive a dance
against the fake Canvas: the install page's settings, URLconf and view together, and the
second instance of the several-instances page.
"""

import os
from pathlib import Path

import pytest
from django.contrib.auth.views import LoginView
from django.core import checks
from django.db.utils import ConnectionHandler
from django.test import override_settings
from django.urls import path, resolve

from canvas_oauth import instances
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import callback_path, made
from tests.docs_examples import run_block
from tests.settings import INSTALLED_APPS as TEST_APPS

INSTALL = "install.md"
INSTANCES = "howto/several-instances.md"
LTI = "howto/lti-iframe.md"
ONE_REFRESH = "explanation/one-refresh.md"

pytestmark = pytest.mark.django_db


def settings_from(page, key, **names):
    """Run a settings snippet; return the settings (upper-case names) it defines."""
    namespace = dict(names)
    run_block(page, key, namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


def canvas_oauth_messages():
    return [m for m in checks.run_checks() if m.id and m.id.startswith("canvas_oauth.")]


# -- install.md: steps 1 to 4 and 6, as one project --------------------------------------

URLS = {}
run_block(INSTALL, "from django.contrib.auth import views as auth_views", URLS)
run_block(INSTALL, "def courses(request)", globals())
urlpatterns = [*URLS["urlpatterns"], path("courses/", globals()["courses"])]


@pytest.fixture
def install_settings(settings, monkeypatch):
    """The install page's settings; its `# ...` stand for the test project's others."""
    monkeypatch.setenv("CANVAS_OAUTH_CLIENT_SECRET", made("install secret"))
    apps = settings_from(INSTALL, "INSTALLED_APPS = [")["INSTALLED_APPS"]
    values = {
        "INSTALLED_APPS": [app for app in TEST_APPS if app not in apps] + apps,
        # The page's list is a whole MIDDLEWARE once its `# ...` is left out.
        **settings_from(INSTALL, "MIDDLEWARE = ["),
        **settings_from(INSTALL, 'os.environ["CANVAS_OAUTH_CLIENT_SECRET"]'),
    }
    assert values["CANVAS_OAUTH_CLIENT_SECRET"] == made("install secret")
    for name, value in values.items():
        setattr(settings, name, value)
    return values


def test_install_settings_pass_the_checks(install_settings):
    assert install_settings["MIDDLEWARE"][-1] == "canvas_oauth.middleware.OAuthMiddleware"
    assert canvas_oauth_messages() == []


@pytest.mark.urls(__name__)
def test_install_urls_send_a_visitor_to_log_in(install_settings, client):
    assert resolve("/accounts/login/").func.view_class is LoginView
    assert client.get("/courses/")["Location"] == "/accounts/login/?next=/courses/"


@pytest.mark.urls(__name__)
def test_install_project_does_the_dance_and_calls_canvas(install_settings, fake_canvas, browser):
    fake_canvas.add_courses(n=3)
    to_canvas = browser.get("/courses/")
    assert "/login/oauth2/auth?" in to_canvas["Location"]
    back = browser.get(callback_path(fake_canvas.authorize(to_canvas["Location"])))
    assert back["Location"] == "/courses/"
    assert [c["name"] for c in browser.get("/courses/").json()] == [
        "Course 1",
        "Course 2",
        "Course 3",
    ]


# -- several-instances.md ------------------------------------------------------------------

WEST = {"client_id": "20000000000022", "client_secret": made("west secret")}


@pytest.fixture
def several_instances(settings, monkeypatch):
    monkeypatch.setenv("EAST_CANVAS_SECRET", made("east secret"))
    monkeypatch.setenv("WEST_CANVAS_SECRET", WEST["client_secret"])
    values = settings_from(INSTANCES, "CANVAS_OAUTH_INSTANCES = {", os=os)
    for name, value in values.items():
        setattr(settings, name, value)
    return values


def test_several_instances_pass_the_checks(several_instances):
    assert canvas_oauth_messages() == []
    configured = instances.configured()
    assert set(configured) == {"canvas.east.edu", "canvas.west.edu", "canvas.example.edu"}
    assert configured["canvas.west.edu"].scopes == ("url:GET|/api/v1/users/:id",)


@pytest.mark.parametrize(
    "fake_canvas_options",
    [
        {
            "base_url": "https://canvas.west.edu",
            "redirect_uris": ["http://testserver/oauth/oauth-callback"],
            **WEST,
        }
    ],
)
def test_a_dance_with_the_second_instance(several_instances, fake_canvas, browser):
    to_canvas = browser.get("/oauth/authorize?domain=canvas.west.edu&next=/canvas/")
    assert to_canvas["Location"].startswith("https://canvas.west.edu/login/oauth2/auth?")
    assert "scope=url%3AGET%7C%2Fapi%2Fv1%2Fusers%2F%3Aid" in to_canvas["Location"]
    back = browser.get(callback_path(fake_canvas.authorize(to_canvas["Location"])))
    assert back["Location"] == "/canvas/"
    assert CanvasOAuth2Token.objects.get().domain == "canvas.west.edu"


# -- lti-iframe.md -------------------------------------------------------------------------


def test_lti_cookie_settings_pass_the_checks():
    values = settings_from(LTI, 'SESSION_COOKIE_SAMESITE = "None"')
    assert values["SESSION_COOKIE_SAMESITE"] == values["CSRF_COOKIE_SAMESITE"] == "None"
    with override_settings(**values):
        assert canvas_oauth_messages() == []


@pytest.mark.urls("tests.urls")
def test_lti_cookies_reach_the_browser_as_set(settings, fake_canvas, browser):
    for name, value in settings_from(LTI, 'SESSION_COOKIE_SAMESITE = "None"').items():
        setattr(settings, name, value)
    response = browser.get("/canvas/", secure=True)  # saves the dance in the session
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert (cookie["samesite"], cookie["secure"]) == ("None", True)


# -- one-refresh.md: SQLite's timeout ------------------------------------------------------


def test_sqlite_settings_give_the_timeout(tmp_path: Path):
    values = settings_from(ONE_REFRESH, '"OPTIONS": {"timeout": 20}', BASE_DIR=tmp_path)
    handler = ConnectionHandler(values["DATABASES"])
    connection = handler["default"]
    try:
        assert connection.get_connection_params()["timeout"] == 20
        with connection.cursor() as cursor:
            cursor.execute("select 1")
            assert cursor.fetchone() == (1,)
    finally:
        handler.close_all()
    assert (tmp_path / "db.sqlite3").exists()
