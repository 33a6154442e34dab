import secrets
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from canvas_oauth import breaker
from canvas_oauth.models import CanvasOAuth2Token

pytest_plugins = ["canvas_oauth.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _fresh_breakers():
    """Each test talks to a Canvas of its own: no breaker state carries over."""
    breaker.reset()
    yield
    breaker.reset()


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user("ada", "ada@example.edu", "pw")


@pytest.fixture
def other_user(db, django_user_model):
    return django_user_model.objects.create_user("grace", "grace@example.edu", "pw")


@pytest.fixture
def browser(client, user):
    """A Django test client logged in as ``user``."""
    client.force_login(user)
    return client


# How long a test waits for another thread or process to get somewhere. Generous: on a
# loaded machine (other test runs, `make bench`) a thread may not run for seconds.
PATIENCE = 30


def wait_until(condition, what="the condition", patience=PATIENCE):
    """Poll ``condition`` until it is true; fail the test, naming ``what``, after ``patience`` s.

    For state another thread or process changes (a live server counting a call, a worker
    reaching Canvas): asserting it at once races with that thread's scheduling.
    """
    deadline = time.monotonic() + patience
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {patience} s"
        time.sleep(0.01)


@pytest.fixture
def held_latency(monkeypatch):
    """Hold each in-process fake Canvas answer that has a latency until the test releases it.

    ``fake.latency`` in seconds races with the test's own steps on a loaded machine; held,
    the answer waits for ``release.set()`` (or ``PATIENCE``). Yields the ``release`` event.
    """
    release = threading.Event()
    clock = SimpleNamespace(sleep=lambda seconds: release.wait(PATIENCE))
    monkeypatch.setattr("canvas_oauth.testing.mock.time", clock)
    yield release
    release.set()


MADE = {}


def made(name):
    """Return a fresh secret value kept out of the test's own frame (reports show it)."""
    return MADE.setdefault(name, secrets.token_urlsafe(24))


def store_token(fake, user, expires_in=3600, **fields):
    """Mint a token at the fake Canvas and store it as the original app's code would."""
    body = fake.issue_token()
    return CanvasOAuth2Token.objects.create(
        user=user,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        expires=timezone.now() + timedelta(seconds=expires_in),
        **fields,
    )


@pytest.fixture
def stored_token(fake_canvas, user):
    return store_token(fake_canvas, user)


@pytest.fixture
def expired_token(fake_canvas, user):
    token = store_token(fake_canvas, user, expires_in=-10)
    fake_canvas.expire_access_tokens()
    return token


def start_dance(client, path="/canvas/"):
    """GET ``path`` and return the Canvas authorize URL the app redirected to."""
    response = client.get(path)
    assert response.status_code == 302, response.content
    assert "/login/oauth2/auth?" in response["Location"]
    return response["Location"]


def callback_path(location):
    """Turn the URL Canvas redirects to into a path for the test client."""
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def dance(client, fake, path="/canvas/", approve=True):
    """Walk the whole dance from ``path``; return the callback's response."""
    location = fake.authorize(start_dance(client, path), approve=approve)
    return client.get(callback_path(location))
