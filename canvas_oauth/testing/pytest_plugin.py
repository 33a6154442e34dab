"""Pytest fixtures that put a fake Canvas behind your Django settings.

Load it from your ``conftest.py``::

    pytest_plugins = ["canvas_oauth.testing.pytest_plugin"]

Django is imported inside the fixtures only, so loading the plugin never touches settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from canvas_oauth import breaker

from .mock import mock_canvas
from .provider import DEFAULT_BASE_URL, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FakeCanvas
from .server import LiveFakeCanvas

__all__ = ["fake_canvas", "fake_canvas_options", "live_fake_canvas"]


def canvas_origin(domain: str) -> str:
    """Turn ``CANVAS_OAUTH_CANVAS_DOMAIN`` (a bare host or a full origin) into an origin."""
    domain = domain.strip().rstrip("/")
    return domain if "://" in domain else f"https://{domain}"


def client_callback_uris() -> list[str]:
    """Return the callback URL canvas_oauth builds under Django's test client, if routed.

    That is ``http://testserver`` and the path of ``canvas-oauth-callback`` in the URLconf;
    an empty list when the URLconf has no such route (then only ``oob`` is accepted).
    """
    from django.urls import NoReverseMatch, reverse

    try:
        return ["http://testserver" + reverse("canvas-oauth-callback")]
    except NoReverseMatch:
        return []


def fake_from_settings(**options: Any) -> FakeCanvas:
    """Build a ``FakeCanvas`` registered with the client id and secret of the settings.

    Its developer key lists one redirect URI, the test client's callback
    (``client_callback_uris``), and not ``CANVAS_OAUTH_REDIRECT_URI``: the fake stands
    for the key you registered in Canvas, so a wrong setting fails the test. Pass
    ``redirect_uris=[...]`` to list what your key lists instead.
    """
    from django.conf import settings

    domain = getattr(settings, "CANVAS_OAUTH_CANVAS_DOMAIN", None)
    defaults: dict[str, Any] = {
        "redirect_uris": client_callback_uris(),
        "base_url": canvas_origin(domain) if domain else DEFAULT_BASE_URL,
        "client_id": str(getattr(settings, "CANVAS_OAUTH_CLIENT_ID", None) or DEFAULT_CLIENT_ID),
        "client_secret": getattr(settings, "CANVAS_OAUTH_CLIENT_SECRET", None)
        or DEFAULT_CLIENT_SECRET,
        "auto_approve": False,
    }
    return FakeCanvas(**{**defaults, **options})


@pytest.fixture
def fake_canvas_options() -> dict[str, Any]:
    """Return extra ``FakeCanvas`` keyword arguments; override it to customise the fake."""
    return {}


@pytest.fixture
def fake_canvas(fake_canvas_options: dict[str, Any]) -> Iterator[FakeCanvas]:
    """Yield a fake Canvas answering ``requests`` in-process for the whole test."""
    fake = fake_from_settings(**fake_canvas_options)
    breaker.reset()  # a new Canvas: what earlier tests' failures tripped does not apply
    try:
        with mock_canvas(fake):
            yield fake
    finally:
        breaker.reset()


@pytest.fixture
def live_fake_canvas(fake_canvas_options: dict[str, Any]) -> Iterator[FakeCanvas]:
    """Yield a fake Canvas served over loopback HTTP, with the Canvas domain setting at it.

    Do not combine it with ``fake_canvas``: that fixture intercepts all ``requests`` calls.
    """
    from django.test import override_settings

    fake = fake_from_settings(**fake_canvas_options)
    breaker.reset()
    try:
        with LiveFakeCanvas(fake) as live, override_settings(CANVAS_OAUTH_CANVAS_DOMAIN=live.url):
            yield fake
    finally:
        breaker.reset()
