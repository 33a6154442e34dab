"""The pytest setup the testing guide and the tutorial show, run as written.

The guide's ``fake_canvas_options`` fixture is executed into this module, so it is the
fixture of every test here, and goes with the ``CANVAS_OAUTH_REDIRECT_URI`` it is for.
"""

import pytest

from tests import conftest
from tests.docs_examples import run_block

TESTING = "howto/testing.md"
TUTORIAL = "tutorial.md"

run_block(TESTING, "def fake_canvas_options():", globals())

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls")]


@pytest.fixture(autouse=True)
def _redirect_uri(settings):
    settings.CANVAS_OAUTH_REDIRECT_URI = "https://tool.example.edu/oauth/oauth-callback"


def test_canvas_sends_the_user_to_the_redirect_uri_setting(fake_canvas, browser):
    assert fake_canvas.client.redirect_uris == ["https://tool.example.edu/oauth/oauth-callback"]
    back = fake_canvas.authorize(browser.get("/canvas/")["Location"])
    assert back.startswith("https://tool.example.edu/oauth/oauth-callback?code=")


@pytest.mark.parametrize(
    ("page", "key"),
    [(TESTING, "pytest_plugins = ["), (TUTORIAL, "# conftest.py")],
)
def test_the_conftest_loads_the_plugin_this_suite_uses(page, key):
    namespace = {}
    run_block(page, key, namespace)
    assert namespace["pytest_plugins"] == conftest.pytest_plugins
