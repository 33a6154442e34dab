"""The error page's way out: "Try again" back into the dance, and a home link under the
site's script prefix."""

import re
from html import unescape

import pytest
from django.urls import set_script_prefix

from canvas_oauth.testing.records import DEFAULT_REDIRECT_URI
from tests.conftest import callback_path, dance, start_dance


def links(response) -> dict[str, str]:
    """Return the page's links, by their text."""
    found = re.findall(r'<a href="([^"]*)">([^<]*)</a>', response.content.decode())
    return {text: unescape(href) for href, text in found}


def test_declining_offers_to_try_again_back_to_where_the_user_was_going(browser, fake_canvas):
    response = dance(browser, fake_canvas, path="/canvas/?page=2", approve=False)
    assert response.status_code == 403
    assert links(response) == {
        "Try again": "/oauth/authorize?next=%2Fcanvas%2F%3Fpage%3D2",
        "Return to the start page": "/",
    }
    # Trying again is a new dance to Canvas that comes back to the same page.
    again = browser.get(links(response)["Try again"])
    assert again.status_code == 302
    assert again["Location"].startswith("https://canvas.example.edu/login/oauth2/auth?")


def test_a_callback_with_no_dance_tries_again_to_the_sites_root(browser, fake_canvas):
    location = fake_canvas.authorize(start_dance(browser))
    forged = re.sub(r"state=[^&]+", "state=forged", callback_path(location))
    response = browser.get(forged)
    assert response.status_code == 400
    assert links(response)["Try again"] == "/oauth/authorize?next=%2F"


def test_an_error_on_a_page_tries_that_page_again(browser):
    response = browser.get("/raise/refresh/")
    assert response.status_code == 503
    assert links(response)["Try again"] == "/oauth/authorize?next=%2Fraise%2Frefresh%2F"


@pytest.fixture
def script_prefix(settings):
    """Serve the site under /tool/, as a WSGI server would (the test client sets no prefix)."""
    settings.FORCE_SCRIPT_NAME = "/tool"
    settings.CANVAS_OAUTH_REDIRECT_URI = DEFAULT_REDIRECT_URI  # the fake's key lists this one
    set_script_prefix("/tool/")
    yield
    set_script_prefix("/")


def test_links_honour_the_script_prefix(browser, fake_canvas, script_prefix):
    response = dance(browser, fake_canvas, path="/canvas/", approve=False)
    assert response.status_code == 403
    assert links(response) == {
        "Try again": "/tool/oauth/authorize?next=%2Ftool%2Fcanvas%2F",
        "Return to the start page": "/tool/",
    }
