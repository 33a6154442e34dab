"""An answer no parser can read is Canvas's bad answer, and never keeps the breaker shut.

The body here is 60,000 "[": under the 64 KiB cap, and deeper than Python's JSON parser
can go (it raises ``RecursionError``, not ``ValueError``).
"""

from __future__ import annotations

import pytest
import responses
from django.test import Client

from canvas_oauth import breaker, tokens
from canvas_oauth.api import CanvasSession
from canvas_oauth.canvas import CanvasClient
from canvas_oauth.exceptions import CanvasRequestError, TokenRefreshError
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.testing.pytest_plugin import fake_from_settings
from tests.conftest import start_dance, store_token

TOKEN_URL = "https://canvas.example.edu/login/oauth2/token"
DEEP = "[" * 60_000

pytestmark = pytest.mark.django_db


def deep_canvas():
    """A Canvas whose token endpoint answers 200 with the deep body."""
    mock = responses.RequestsMock()
    mock.add(responses.POST, TOKEN_URL, body=DEEP, content_type="application/json")
    return mock


def test_a_refresh_gets_the_page_of_a_canvas_failing(user, settings):
    store_token(fake_from_settings(), user, expires_in=-10)
    with deep_canvas(), pytest.raises(TokenRefreshError):
        tokens.get_token(user)
    assert CanvasOAuth2Token.objects.filter(user=user).exists()  # kept: it may pass


def test_the_callback_answers_502(browser):
    location = start_dance(browser)
    state = dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))["state"]
    with deep_canvas():
        page = browser.get("/oauth/oauth-callback", {"state": state, "code": "a-code"})
    assert page.status_code == 502
    assert not CanvasOAuth2Token.objects.exists()


def test_complete_answers_502(browser):
    body = browser.get("/oauth/authorize", {"popup": "1"}, HTTP_ACCEPT="application/json").json()
    back = Client().get("/oauth/oauth-callback", {"state": body["state"], "code": "a-code"})
    assert back.status_code == 200
    with deep_canvas():
        page = browser.post("/oauth/complete", {"state": body["state"]})
    assert page.status_code == 502


@pytest.fixture
def open_breaker(settings, monkeypatch):
    """The breaker of canvas.example.edu, open, its cool-down just over."""
    settings.CANVAS_OAUTH_BREAKER_THRESHOLD = 3
    settings.CANVAS_OAUTH_BREAKER_COOLDOWN = 30
    now = [1000.0]
    monkeypatch.setattr(breaker, "_clock", lambda: now[0])
    gate = breaker.for_domain("canvas.example.edu")
    for token in "abc":
        gate.failed(token)
    assert gate.state == breaker.OPEN
    now[0] += 30
    return gate, now


def test_an_unreadable_answer_to_the_probe_ends_it(user, open_breaker):
    gate, now = open_breaker
    store_token(fake_from_settings(), user, expires_in=-10)
    with deep_canvas(), pytest.raises(TokenRefreshError):
        tokens.get_token(user)  # the probe
    assert gate.state == breaker.OPEN  # for another cool-down, then a new probe
    now[0] += 30
    assert gate.allow()


def test_any_exception_in_the_probe_ends_it(user, fake_canvas, open_breaker, monkeypatch):
    gate, now = open_breaker
    store_token(fake_canvas, user, expires_in=-10)

    def broken(self, refresh_token):
        raise RuntimeError("a bug below the refresh")

    with monkeypatch.context() as patch:
        patch.setattr(CanvasClient, "refresh", broken)
        with pytest.raises(RuntimeError):
            tokens.get_token(user)  # the probe
    assert gate.state == breaker.OPEN
    now[0] += 30
    assert breaker.for_domain("canvas.example.edu") is gate
    assert fake_canvas.is_live(tokens.get_token(user).access_token)  # the next probe
    assert gate.state == breaker.CLOSED


def test_a_list_page_too_deep_to_read_is_canvass_bad_answer(user):
    store_token(fake_from_settings(), user)
    session = CanvasSession.for_user(user)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, session.url_for("courses"), body=DEEP)
        with pytest.raises(CanvasRequestError):
            list(session.paginate("courses"))
