"""The tutorial, run as written in ``docs/tutorial.md``, against the fake Canvas.

Its settings are added to those ``startproject`` writes (read from Django's own template)
and must pass the system checks, as they come before ``migrate``. Its view, URLconf and
test are executed into this module.
"""

import re
import types
from pathlib import Path

import django
import pytest
from django.core import checks
from django.test import override_settings
from django.urls import include, path

from tests.docs_examples import run_block

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
    assert SETTINGS["LOGIN_URL"] == "/admin/login/"
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
    assert [str(p.pattern) for p in namespace["urlpatterns"]] == ["admin/", "oauth/", ""]
