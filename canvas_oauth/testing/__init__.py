"""A fake Canvas LMS OAuth2 provider for testing apps built on ``canvas_oauth``.

``FakeCanvas`` plays Canvas's authorization-code flow (``/login/oauth2/auth``, the
consent page, ``/login/oauth2/token``, ``DELETE /login/oauth2/token``) and
``GET /api/v1/users/:id``, with Canvas's exact error bodies, and lists
``GET /api/v1/courses`` and ``GET /api/v1/users/:id/page_views`` with Canvas's
pagination and request throttle, as hosted Canvas answers today (options bring back an
older Canvas; see the docs' fidelity page). It lets a test move its clock, count calls
and inject faults. Serve it in one of two ways:

* ``mock_canvas(fake)`` answers ``requests`` calls in-process (through ``responses``);
* ``LiveFakeCanvas(fake)`` runs a real HTTP server on loopback, for browsers and demos
  (also ``python -m canvas_oauth.testing.server --port 8001``).

In pytest, load the fixtures ``fake_canvas`` and ``live_fake_canvas`` with::

    pytest_plugins = ["canvas_oauth.testing.pytest_plugin"]

Conveniences for tests::

    location = fake.authorize(authorize_url)   # what the browser ends up at: code & state
    grant = fake.issue_token()                 # a token without the dance (exchange JSON)
    fake.advance(3600)                         # move the clock: the access token expires
    fake.misbehave("token", "unavailable", times=1)   # the next token call gets a 503
    fake.misbehave("token", "error", rate=0.1)        # a random 10% of token calls get a 500
    fake.calls["token:refresh_token"]          # how often the client refreshed
    fake.last_token_request["code_verifier"]   # what the client sent
    fake.add_courses(user, 25)                 # what GET /api/v1/courses lists for user
    fake.throttle.hwm = 150                    # the rate limit's bucket (RequestThrottle)
    fake.latency["api"] = 0.5                  # requests stay in flight, holding 50 units
"""

from typing import TYPE_CHECKING, Any

from .clock import FakeClock
from .mock import mock_canvas
from .provider import AuthorizationError, FakeCanvas
from .records import FakeClient, FakeUser, TokenRecord
from .throttle import RequestThrottle
from .wire import FakeResponse

if TYPE_CHECKING:
    from .server import LiveFakeCanvas

__all__ = [
    "AuthorizationError",
    "FakeCanvas",
    "FakeClient",
    "FakeClock",
    "FakeResponse",
    "FakeUser",
    "LiveFakeCanvas",
    "RequestThrottle",
    "TokenRecord",
    "mock_canvas",
]


def __getattr__(name: str) -> Any:
    """Import ``LiveFakeCanvas`` on first use.

    ``python -m canvas_oauth.testing.server`` imports this package before it runs the
    server module as ``__main__``: had the package imported that module already, it would
    run a second copy of it, and Python warns (``RuntimeWarning: ... found in sys.modules``).
    """
    if name == "LiveFakeCanvas":
        from .server import LiveFakeCanvas

        return LiveFakeCanvas
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
