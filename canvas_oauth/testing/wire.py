"""HTTP-shaped values without an HTTP library: the fake's answers and request parsing."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qsl, urlsplit

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass
class FakeResponse:
    """An answer of the fake Canvas, for an adapter to put on the wire.

    ``delay`` asks the adapter to wait that many seconds before answering, and
    ``dropped`` asks it to close the connection without answering at all. An adapter
    calls ``complete()`` once the delay is over: until then the request is still in
    flight, and holds its place in the request throttle's bucket.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    dropped: bool = False
    on_complete: Callable[[], None] | None = field(default=None, repr=False)

    def complete(self) -> None:
        """Finish the request (once): release its in-flight cost, stamp the final headers."""
        finish, self.on_complete = self.on_complete, None
        if finish is not None:
            finish()

    @property
    def text(self) -> str:
        """Return the body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> object:
        """Return the body parsed as JSON."""
        return json.loads(self.body)

    @property
    def location(self) -> str | None:
        """Return the ``Location`` header of a redirect, if any."""
        return self.headers.get("Location")


def json_response(
    status: int, payload: object, headers: dict[str, str] | None = None
) -> FakeResponse:
    """Build a JSON answer, serialised compactly like Rails does."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return FakeResponse(status, {"Content-Type": JSON_TYPE, **(headers or {})}, body)


def html_response(status: int, page: str) -> FakeResponse:
    """Build an HTML answer."""
    return FakeResponse(status, {"Content-Type": HTML_TYPE}, page.encode())


def text_response(status: int, text: str) -> FakeResponse:
    """Build a plain-text answer."""
    return FakeResponse(status, {"Content-Type": TEXT_TYPE}, text.encode())


def redirect_response(location: str) -> FakeResponse:
    """Build a 302 redirect, as Rails' ``redirect_to`` sends it."""
    return FakeResponse(302, {"Location": location, "Content-Type": HTML_TYPE}, b"")


def http_date(seconds: float) -> str:
    """Format a time as HTTP's ``Date`` header does (RFC 9110: IMF-fixdate, in GMT)."""
    return formatdate(seconds, usegmt=True)


def lower_keys(headers: dict[str, str]) -> dict[str, str]:
    """Return the headers with lower-case names, since HTTP names are case-insensitive."""
    return {name.lower(): value for name, value in headers.items()}


def split_target(target: str) -> tuple[str, dict[str, str]]:
    """Split a request target (path or full URL) into its path and query parameters."""
    parts = urlsplit(target)
    # A repeated parameter keeps its last value, as Rails' params do.
    return parts.path or "/", dict(parse_qsl(parts.query, keep_blank_values=True))


def parse_body(headers: dict[str, str], body: bytes) -> dict[str, str]:
    """Read a form-encoded or JSON body into string fields, as Rails' params would."""
    if not body:
        return {}
    content_type = lower_keys(headers).get("content-type", "")
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(key): _param_string(value) for key, value in data.items()}
    text = body.decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True))


def _param_string(value: object) -> str:
    """Turn a JSON value into the string Rails would see in params."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def basic_credentials(headers: dict[str, str]) -> tuple[str, str]:
    """Return the (username, password) of an HTTP Basic header, blank when absent."""
    scheme, _, encoded = lower_keys(headers).get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password


def bearer_token(headers: dict[str, str], params: dict[str, str]) -> str:
    """Return the Bearer token, or the ``access_token`` parameter when no header is sent.

    The scheme is case-sensitive, as Canvas compares it with "Bearer": ``bearer x`` is
    no credentials at all.
    """
    scheme, _, token = lower_keys(headers).get("authorization", "").partition(" ")
    if scheme == "Bearer" and token.strip():
        return token.strip()
    return params.get("access_token", "")
