"""The callback's URL carries Canvas's code: its pages never send it on as a Referer."""

import pytest
from django.test import Client

from tests.conftest import callback_path, dance

# Django's default, one that would leak the full URL, and none at all.
POLICIES = ["same-origin", "unsafe-url", None]


@pytest.fixture(params=POLICIES)
def policy(request, settings):
    settings.SECURE_REFERRER_POLICY = request.param
    return request.param


def test_the_callbacks_redirect_sends_no_referrer(policy, browser, fake_canvas):
    response = dance(browser, fake_canvas)
    assert response.status_code == 302
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_callbacks_error_page_sends_no_referrer(policy, browser, fake_canvas):
    response = browser.get("/oauth/oauth-callback", {"code": "x", "state": "forged"})
    assert response.status_code == 400
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_popup_page_sends_no_referrer(policy, browser, fake_canvas):
    body = browser.get("/oauth/authorize", {"popup": "1"}, HTTP_ACCEPT="application/json").json()
    response = Client().get(callback_path(fake_canvas.authorize(body["authorize_url"])))
    assert response.status_code == 200
    assert b"postMessage" in response.content
    assert response["Referrer-Policy"] == "no-referrer"


def test_other_pages_keep_the_projects_policy(browser, settings):
    settings.SECURE_REFERRER_POLICY = "unsafe-url"
    assert browser.get("/").headers["Referrer-Policy"] == "unsafe-url"
