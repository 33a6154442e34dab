"""The tutorial, run as written in ``docs/tutorial.md``, against the fake Canvas.

Its settings are added to those ``startproject`` writes (read from Django's own template)
and must pass the system checks, as they come before ``migrate``. Its view, URLconf and
test are executed into this module.
"""

import re
import shlex
import types
from pathlib import Path

import django
import pytest
from django.contrib.auth.models import User
from django.core import checks
from django.test import Client, override_settings
from django.urls import include, path

from canvas_oauth.testing import mock_canvas
from canvas_oauth.testing.server import build_parser, fake_from_options
from tests.docs_examples import DOCS, run_block

PAGE = "tutorial.md"


def startproject_settings():
    """Return the settings `django-admin startproject mysite` writes, from Django's template."""
    template = Path(django.__file__).parent / "conf/project_template/project_name/settings.py-tpl"
    source = template.read_text()
    values = {"project_name": "mysite", "secret_key": "x" * 50}
    source = re.sub(r"\{\{ (\w+) \}\}", lambda match: values.get(match[1], ""), source)
    namespace = {"__file__": "/srv/mysite/mysite/settings.py"}
    exec(compile(source, str(template), "exec"), namespace)
    return namespace


def tutorial_settings():
    namespace = startproject_settings()
    run_block(PAGE, "# mysite/settings.py", namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


views = types.SimpleNamespace(__name__="mysite.views")
run_block(PAGE, "# mysite/views.py", views.__dict__)
run_block(PAGE, "# mysite/test_views.py", globals())

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("oauth/", include("canvas_oauth.urls")),
    path("", views.hello),
]

SETTINGS = tutorial_settings()
CANVAS = {name: value for name, value in SETTINGS.items() if name.startswith("CANVAS_OAUTH_")}

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls(__name__),
    pytest.mark.usefixtures("_tutorial_canvas"),
]


@pytest.fixture(autouse=True)
def _tutorial_canvas(settings):
    """The tutorial's Canvas settings, set before the fake Canvas reads them."""
    for name, value in CANVAS.items():
        setattr(settings, name, value)


@pytest.fixture
def fake_canvas(_tutorial_canvas, fake_canvas):
    return fake_canvas


def test_the_settings_pass_the_system_checks():
    assert "canvas_oauth" in SETTINGS["INSTALLED_APPS"]
    assert SETTINGS["MIDDLEWARE"][-1] == "canvas_oauth.middleware.OAuthMiddleware"
    assert SETTINGS["LOGIN_URL"] == "/accounts/login/"
    assert SETTINGS["TEMPLATES"][0]["DIRS"] == [Path("/srv/mysite/templates")]
    touched = ["INSTALLED_APPS", "MIDDLEWARE", "LOGIN_URL", *CANVAS]
    with override_settings(**{name: SETTINGS[name] for name in touched}):
        messages = checks.run_checks()
    assert not [m for m in messages if m.id and m.id.startswith("canvas_oauth.")]


def test_the_urlconf_is_valid_python():
    namespace = {"views": views}
    # `from mysite import views` has no mysite here: give the block our views.
    import sys

    sys.modules.setdefault("mysite", types.SimpleNamespace(views=views))
    try:
        run_block(PAGE, "# mysite/urls.py", namespace)
    finally:
        if isinstance(sys.modules.get("mysite"), types.SimpleNamespace):
            del sys.modules["mysite"]
    assert [str(p.pattern) for p in namespace["urlpatterns"]] == [
        "admin/",
        "accounts/",
        "oauth/",
        "",
    ]


def fenced(language, first_line):
    """Return the tutorial's one ``language`` block that starts with ``first_line``."""
    page = (DOCS / PAGE).read_text()
    found = [
        body
        for body in re.findall(rf"^```{language}\n(.*?)^```$", page, re.MULTILINE | re.DOTALL)
        if body.startswith(first_line)
    ]
    assert len(found) == 1, found
    return found[0]


def test_an_ordinary_user_logs_in_at_the_tutorials_login_page(client, tmp_path, settings):
    (tmp_path / "registration").mkdir()
    template = fenced("html", "<!-- templates/registration/login.html -->")
    (tmp_path / "registration" / "login.html").write_text(template)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    settings.LOGIN_URL = SETTINGS["LOGIN_URL"]
    User.objects.create_user("ada", password="change-me")  # not staff
    to_login = client.get("/")
    assert to_login["Location"] == "/accounts/login/?next=/"
    page = client.get(to_login["Location"])
    assert b'name="username"' in page.content and b'name="next" value="/"' in page.content
    logged_in = client.post(
        "/accounts/login/", {"username": "ada", "password": "change-me", "next": "/"}
    )
    assert logged_in["Location"] == "/"
    assert "/login/oauth2/auth?" in client.get("/")["Location"]  # on to Canvas


def test_the_tutorials_fake_canvas_lists_250_courses_over_three_pages(settings):
    command = fenced("bash", "python -m canvas_oauth.testing.server").strip()
    fake = fake_from_options(build_parser().parse_args(shlex.split(command)[3:]))
    fake.base_url = CANVAS["CANVAS_OAUTH_CANVAS_DOMAIN"]
    browser = Client(HTTP_HOST="127.0.0.1:8000")  # the site of `runserver 127.0.0.1:8000`
    browser.force_login(User.objects.create_user("ada"))
    with mock_canvas(fake):
        location = fake.authorize(browser.get("/")["Location"])
        assert browser.get(location.removeprefix("http://127.0.0.1:8000"))["Location"] == "/"
        page = browser.get("/")
    assert page.content == b"Connected to Canvas as Ada Lovelace, with 250 courses."
    assert fake.calls["courses"] == 3
    assert "with 250 courses" in (DOCS / PAGE).read_text()
