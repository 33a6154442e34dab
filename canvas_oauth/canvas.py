"""Canvas's OAuth2 endpoints: the one module that speaks Canvas's wire protocol.

It builds the authorize URL, exchanges codes, refreshes and revokes tokens, and turns
Canvas's answers into ``TokenGrant`` values or ``CanvasOAuthError`` subclasses. For the
REST API it knows where paths start, how Canvas says a token is dead, and how its throttle
answers and counts. It knows nothing about sessions, users or the database.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf, pacing
from canvas_oauth.exceptions import (
    CanvasOAuthError,
    CanvasRejectedError,
    CanvasRequestError,
    CanvasTokenThrottledError,
    InvalidOAuthReturnError,
    bounded_text,
)
from canvas_oauth.transport import Reply, exchange

__all__ = [
    "ACCESS_TOKEN_URL_PATTERN",
    "AUTHORIZE_URL_PATTERN",
    "get_access_token",
    "get_oauth_login_url",
]

logger = logging.getLogger(__name__)

AUTHORIZE_PATH = "/login/oauth2/auth"
TOKEN_PATH = "/login/oauth2/token"
# The error codes of a token endpoint (RFC 6749 §5.2); Canvas sends the first four (spec
# §2.5). Anything else in "error" is not reported as it is (see KeyProbe).
TOKEN_ERRORS = frozenset(
    {
        "invalid_client",
        "invalid_grant",
        "invalid_request",
        "unsupported_grant_type",
        "invalid_scope",
        "unauthorized_client",
    }
)
# The original app's names; they assume https, as its CANVAS_OAUTH_CANVAS_DOMAIN did.
AUTHORIZE_URL_PATTERN = "https://%s" + AUTHORIZE_PATH
ACCESS_TOKEN_URL_PATTERN = "https://%s" + TOKEN_PATH

# Canvas's answer, a 400 rendered on Canvas, to a redirect URI its developer key does not
# list (spec §1.3).
REDIRECT_MISMATCH = "redirect_uri does not match client settings"
# Canvas answers a dead refresh token with invalid_request "refresh_token not found"
# (spec §2.5); invalid_grant is what other providers and future Canvas may say.
DEAD_REFRESH_ERRORS = frozenset({"invalid_grant", "invalid_request"})
# An older Canvas (its no_redirect_on_oauth_token_method flag off) answers a refused token
# request that sent a redirect_uri with a redirect there, carrying the refusal in the
# query, instead of a JSON 400 or 401 (spec §2.5, §9.3).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


# Canvas's access tokens live an hour (spec §4.1). An answer whose expires_in we cannot
# use gets this lifetime: a token stored with no expiry would never be refreshed, and die.
DEFAULT_EXPIRES_IN = 3600
# Anything beyond a year (or infinite) is garbage, not a lifetime.
MAX_EXPIRES_IN = 366 * 24 * 3600

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class CanvasUser:
    """The Canvas user a token acts for, as the token response names them."""

    id: int | None
    global_id: str
    name: str


@dataclass(frozen=True, repr=False)
class TokenGrant:
    """A successful answer of the token endpoint."""

    access_token: str
    refresh_token: str | None
    expires_in: int | None
    user: CanvasUser | None

    def expires_at(self, now: datetime) -> datetime | None:
        """Return when the access token expires, or None when Canvas set no expiry."""
        if self.expires_in is None:
            return None
        return now + timedelta(seconds=self.expires_in)

    def __repr__(self) -> str:
        # Tracebacks and debug pages print reprs; keep the token values out of them.
        return f"TokenGrant(user={self.user!r}, expires_in={self.expires_in!r})"


@dataclass(frozen=True)
class KeyProbe:
    """What Canvas's token endpoint said to a code that cannot be valid.

    ``verdict`` is "valid" (Canvas accepted the client id and secret, then refused the
    code: 400 ``invalid_grant``), "invalid_client" (401: ``description`` says whether the
    client id is unknown or the secret wrong) or "unexpected" (any other answer).
    ``error`` is Canvas's OAuth error code when it is one the token endpoint sends
    (``TOKEN_ERRORS``), "other" for any other value, "" when there is none: whatever
    answers at that URL may echo the request, secret and all. ``canvas_time`` is Canvas's
    ``Date`` header (None when absent or unreadable), and ``received_at`` our clock when
    the answer arrived.
    """

    verdict: str
    http_status: int
    error: str
    description: str
    canvas_time: datetime | None
    received_at: datetime

    @property
    def clock_skew(self) -> timedelta | None:
        """Return how far Canvas's clock is ahead of ours (negative: behind), if it said."""
        return None if self.canvas_time is None else self.canvas_time - self.received_at


@dataclass(frozen=True)
class RedirectProbe:
    """What Canvas's authorize endpoint said to a redirect URI, before anyone logged in.

    ``verdict`` is "registered" (Canvas sent the browser on, to log in or consent),
    "mismatch" (400: the developer key does not list the URI) or "unexpected" (any other
    answer).
    """

    verdict: str
    http_status: int
    error: str
    description: str


class CanvasClient:
    """Speak to one Canvas instance on behalf of one developer key.

    Methods that hold a code, a token or the secret are marked ``sensitive_variables``,
    so Django's error reports (and the DEBUG page) never show their values.

    Without a ``session``, each call ends within ``timeout`` seconds, however slowly
    Canvas answers (see ``canvas_oauth.transport``), and gives up connecting after
    ``connect_timeout``. A ``session`` you pass is used as it is: ``timeout`` then bounds
    each read, and the whole call only between body chunks.
    """

    @sensitive_variables()
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        timeout: float,
        session: requests.Session | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = str(client_id)
        self.client_secret = client_secret
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        # None: each call gets its own session, which the deadline can cut off mid-read.
        self.http = session

    def __repr__(self) -> str:
        return f"CanvasClient({self.base_url!r}, client_id={self.client_id!r})"

    @sensitive_variables()
    def authorize_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        scopes: list[str] | tuple[str, ...] = (),
        purpose: str | None = None,
        force_login: bool = False,
        code_challenge: str | None = None,
        prompt: str | None = None,
    ) -> str:
        """Return the URL that sends the user's browser to Canvas's consent page."""
        return self._authorize_url(
            {
                "client_id": self.client_id,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "state": state,
                "scope": " ".join(scopes) or None,
                "purpose": purpose or None,
                # Canvas forces a login for any value it is sent, "False" included.
                "force_login": "1" if force_login else None,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256" if code_challenge else None,
                "prompt": prompt,
            }
        )

    @sensitive_variables()
    def _authorize_url(self, params: dict[str, object]) -> str:
        # Sorted, as the original app sent them; unset parameters are left out.
        query = sorted((name, value) for name, value in params.items() if value is not None)
        return f"{self.base_url}{AUTHORIZE_PATH}?{urlencode(query)}"

    @sensitive_variables()
    def exchange_code(
        self,
        code: str,
        redirect_uri: str,
        *,
        code_verifier: str | None = None,
        replace_tokens: bool = False,
        timeout: float | None = None,
    ) -> TokenGrant:
        """Trade an authorization code for tokens.

        ``timeout`` bounds this call when shorter than the client's (a retry's time left).
        """
        data = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        }
        if code_verifier:
            data["code_verifier"] = code_verifier
        if replace_tokens:
            data["replace_tokens"] = "1"
        return self._grant(data, timeout)

    @sensitive_variables()
    def refresh(self, refresh_token: str, *, timeout: float | None = None) -> TokenGrant:
        """Get a new access token; the refresh token is kept unless Canvas rotates it.

        ``timeout`` bounds this call when shorter than the client's (a retry's time left).
        """
        data = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": refresh_token,
        }
        return self._grant(data, timeout)

    @sensitive_variables()
    def revoke(self, access_token: str) -> None:
        """Ask Canvas to delete the token (and with it its refresh token)."""
        if not _sendable(access_token):
            raise CanvasOAuthError("This token cannot be sent to Canvas, so it was not revoked.")
        response = self._send(
            "DELETE",
            TOKEN_PATH,
            headers={"Authorization": f"Bearer {access_token}"},
        )
        # 401 means Canvas no longer knows the token: it is as revoked as it can be.
        if response.status_code in (200, 204, 401):
            return
        raise self._error_for(response)

    @sensitive_variables()
    def probe_key(self) -> KeyProbe:
        """Ask the token endpoint to trade a code that cannot exist, to test the key.

        Canvas checks the client id, then the secret, and only then the code (spec §2.5),
        so its refusal tells whether the key is live without any user's consent. Raise
        ``CanvasUnavailableError`` when Canvas does not answer within the timeout.
        """
        data = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            # Random, so that it can never be a code Canvas issued.
            "code": "canvas-oauth-probe-" + secrets.token_hex(16),
        }
        response = self._send("POST", TOKEN_PATH, data=data)
        received_at = timezone.now()
        error, description = _oauth_error(response)
        if response.status_code == 400 and error == "invalid_grant":
            verdict = "valid"
        elif response.status_code == 401 and error == "invalid_client":
            verdict = "invalid_client"
        else:
            verdict = "unexpected"
        return KeyProbe(
            verdict=verdict,
            http_status=response.status_code,
            error=error if error in TOKEN_ERRORS else "other" if error else "",
            description=description,
            canvas_time=_http_date(response.headers.get("Date")),
            received_at=received_at,
        )

    def probe_redirect_uri(self, redirect_uri: str) -> RedirectProbe:
        """Ask the authorize endpoint whether the key lists ``redirect_uri``.

        Canvas checks the client id, then the redirect URI, before it looks for a logged-in
        user (spec §1.2): a GET that does not follow the redirect learns the answer with no
        user and no consent. Raise ``CanvasUnavailableError`` when Canvas does not answer.
        """
        url = self.authorize_url(redirect_uri=redirect_uri, state=secrets.token_urlsafe(16))
        response = self._send("GET", url[len(self.base_url) :])
        error, description = _oauth_error(response)
        status = response.status_code
        if 300 <= status < 400:
            verdict = "registered"
        elif status == 400 and error == "invalid_request" and description == REDIRECT_MISMATCH:
            verdict = "mismatch"
        else:
            verdict = "unexpected"
        return RedirectProbe(verdict, status, error or "", description)

    @sensitive_variables()
    def _grant(self, data: dict[str, str], timeout: float | None = None) -> TokenGrant:
        response = self._send("POST", TOKEN_PATH, data=data, timeout=timeout)
        if response.status_code != 200:
            raise self._error_for(response)
        body = self._json(response)
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise CanvasRequestError(
                "Canvas's token response had no access token.", http_status=200
            )
        refresh_token = body.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            refresh_token = None
        if not _sendable(access_token) or not _sendable(refresh_token or ""):
            # Refused now: stored, it would fail later, in a revoke or the app's own calls.
            logger.warning("Canvas's token response had a token that cannot be sent back")
            raise CanvasRequestError(
                "Canvas sent a token we cannot use. Please try again later.", http_status=200
            )
        return TokenGrant(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_in=_parse_expires_in(body.get("expires_in")),
            user=_parse_user(body.get("user")),
        )

    @sensitive_variables()
    def _send(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> Reply:
        return exchange(
            method,
            self.base_url + path,
            timeout=self.timeout if timeout is None else min(timeout, self.timeout),
            connect_timeout=self.connect_timeout,
            session=self.http,
            **kwargs,
        )

    @staticmethod
    @sensitive_variables()
    def _json(response: Reply) -> dict[str, Any]:
        body = None
        if response.complete:  # else too long, and logged as such
            with contextlib.suppress(ValueError):
                body = response.json()
        if not isinstance(body, dict):
            logger.warning(
                "Canvas answered %s with a body that is not a JSON object (%s)",
                response.status_code,
                response.headers.get("Content-Type", "no content type"),
            )
            raise CanvasRequestError(
                "Canvas answered with something we could not read. Please try again later.",
                http_status=response.status_code,
            )
        return body

    def _error_for(self, response: Reply) -> CanvasRequestError:
        """Turn a non-success answer into the matching error, logging what Canvas said."""
        status = response.status_code
        if is_throttled(response):
            # A token request carries no access token, so Canvas buckets it by whatever
            # else it knows of the sender: this server's address (spec §9.2).
            remaining = rate_limit_remaining(response)
            logger.warning("Canvas throttled a token request (%s, %s left)", status, remaining)
            return CanvasTokenThrottledError(http_status=status, remaining=remaining)
        if status >= 500:
            logger.warning("Canvas answered %s", status)
            return CanvasRequestError(http_status=status)
        error, description = _oauth_error(response)
        if error is None:
            logger.warning("Canvas answered %s without an OAuth error", status)
            return CanvasRequestError(http_status=status)
        logger.warning("Canvas refused a token request: %s %s (%s)", status, error, description)
        return CanvasRejectedError(
            f"Canvas refused the request: {description or error}",
            http_status=status,
            error=error,
            description=description,
        )


@sensitive_variables()
def _oauth_error(response: Reply) -> tuple[str | None, str]:
    """Return Canvas's OAuth ``error`` (None when it sent none) and its description."""
    if response.status_code in REDIRECT_STATUSES:
        return _redirected_oauth_error(response.headers.get("Location", ""))
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, str):
        return None, ""
    description = body.get("error_description")
    return bounded_text(error), bounded_text(description) if isinstance(description, str) else ""


def _redirected_oauth_error(location: str) -> tuple[str | None, str]:
    """Read a refusal an older Canvas redirected: ``error`` in the Location's query.

    Canvas appends its parameters to the ``redirect_uri`` sent, so the last ones are its.
    """
    try:
        params = dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
    except ValueError:  # a Location that is not a URL
        return None, ""
    error = params.get("error")
    if not error:
        return None, ""
    return bounded_text(error), bounded_text(params.get("error_description", ""))


def _http_date(value: str | None) -> datetime | None:
    """Read an HTTP ``Date`` header as an aware datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # "-0000" (and the obsolete forms without a zone) parse naive; HTTP dates are in GMT.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt_timezone.utc)


def is_dead_refresh_token(exc: CanvasRequestError) -> bool:
    """Tell whether Canvas's refusal means the refresh token will never work again."""
    return (
        isinstance(exc, CanvasRejectedError)
        and exc.http_status == 400
        and exc.error in DEAD_REFRESH_ERRORS
    )


# -- The REST API (``/api/v1/``): how Canvas says "token dead" and "slow down" -------------

API_PATH = "/api/v1/"

# Canvas's request throttle (spec §4.3, §8.2, §9.1): a leaky bucket per access token (per
# sender for requests without one, the token endpoint's) that refuses requests once it
# holds THROTTLE_HIGH_WATER units, leaks THROTTLE_LEAK_RATE units a second, holds
# THROTTLE_UP_FRONT_COST units for each request in flight, and never more than
# THROTTLE_MAXIMUM. Hosted Canvas refuses with 429 (since 2025-10-08); self-hosted and
# older Canvas with a 403 whose body says so.
THROTTLE_HIGH_WATER = 600.0
THROTTLE_LEAK_RATE = 10.0
THROTTLE_UP_FRONT_COST = 50.0
THROTTLE_MAXIMUM = 800.0
THROTTLE_BUCKET = pacing.Bucket(
    THROTTLE_HIGH_WATER, THROTTLE_LEAK_RATE, THROTTLE_UP_FRONT_COST, THROTTLE_MAXIMUM
)
RATE_LIMIT_REMAINING = "X-Rate-Limit-Remaining"
_THROTTLED_BODY = b"403 Forbidden (Rate Limit Exceeded)"


def api_base_url(base_url: str) -> str:
    """Return the URL API paths are relative to, such as ``https://host/api/v1/``."""
    return base_url.rstrip("/") + API_PATH


def rejects_token(response: requests.Response) -> bool:
    """Tell whether Canvas refused the access token itself (401 with WWW-Authenticate).

    A 401 without the header means "token fine, permission missing" (spec §4.2).
    """
    return response.status_code == 401 and "WWW-Authenticate" in response.headers


def is_throttled(response: requests.Response | Reply) -> bool:
    """Tell whether Canvas's throttle refused the request.

    Hosted Canvas answers 429; self-hosted and older Canvas a 403 told apart from a
    permission error by its body, and a permission 403 is never a throttle.
    """
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    if not response.headers.get("Content-Type", "").startswith("text/plain"):
        return False  # Canvas's permission 403s are JSON; do not read a large body
    # Canvas's throttle text, read without keeping the body (a token answer's) in a variable.
    return (response.body if isinstance(response, Reply) else response.content).startswith(
        _THROTTLED_BODY
    )


def rate_limit_remaining(response: requests.Response | Reply) -> float | None:
    """Return the units left in the token's bucket, as Canvas reported them, if it did."""
    try:
        value = float(response.headers.get(RATE_LIMIT_REMAINING, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parse_expires_in(raw: object) -> int:
    """Return Canvas's ``expires_in`` in seconds; Canvas's hour when absent or unusable."""
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raw = None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return DEFAULT_EXPIRES_IN
    if not 0 <= raw <= MAX_EXPIRES_IN:  # also false for NaN
        return DEFAULT_EXPIRES_IN
    return int(raw)


def _parse_user(raw: object) -> CanvasUser | None:
    """Read the token response's ``user``, bounded to what the database columns hold."""
    if not isinstance(raw, dict):
        return None
    user_id = raw.get("id")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or abs(user_id) >= 2**63:
        user_id = None
    global_id = raw.get("global_id")
    name = raw.get("name")
    return CanvasUser(
        id=user_id,
        global_id=_bounded(str(global_id), 64) if isinstance(global_id, (str, int)) else "",
        name=_bounded(name, 255) if isinstance(name, str) else "",
    )


def _sendable(token: str) -> bool:
    """Tell whether ``token`` can travel in an HTTP header: visible Latin-1 characters only."""
    return all("!" <= ch <= "~" or "\xa1" <= ch <= "\xff" for ch in token)


def _bounded(text: str, length: int) -> str:
    # PostgreSQL refuses NUL in text, UTF-8 cannot hold a lone surrogate (JSON's "\ud800"),
    # and every backend refuses text longer than its column.
    return _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))[:length]


# The original app's module-level functions, for code written against it. They speak to
# the default instance's Canvas (``CANVAS_OAUTH_CANVAS_DOMAIN``, or the single entry of
# ``CANVAS_OAUTH_INSTANCES``, as everywhere else) through the same client as the rest of the
# app: with its timeout, and without logging Canvas's answers (which hold the tokens).


@sensitive_variables()
def _configured_client(client_id: object, client_secret: str = "") -> CanvasClient:
    try:
        base_url = conf.base_url(conf.default_domain())
    except ValueError:
        raise ImproperlyConfigured(
            "CANVAS_OAUTH_CANVAS_DOMAIN must name the Canvas host, such as canvas.example.edu"
            " (or CANVAS_OAUTH_INSTANCES hold a single instance)"
        ) from None
    return CanvasClient(
        base_url,
        str(client_id),
        client_secret,
        conf.settings.timeout,
        connect_timeout=conf.settings.connect_timeout,
    )


@sensitive_variables()
def get_oauth_login_url(
    client_id: object,
    redirect_uri: str,
    response_type: str = "code",
    state: object = None,
    scopes: list[str] | tuple[str, ...] | str | None = None,
    purpose: str | None = None,
    force_login: object = None,
) -> str:
    """Return the URL of the configured Canvas's authorization page (the original's API)."""
    if isinstance(scopes, str):
        scopes = scopes.split()
    return _configured_client(client_id)._authorize_url(
        {
            "client_id": str(client_id),
            "redirect_uri": redirect_uri,
            "response_type": response_type,
            "state": None if state is None else str(state),
            "scope": " ".join(scopes) if scopes else None,
            "purpose": purpose or None,
            "force_login": "1"
            if force_login is True
            else (str(force_login) if force_login else None),
        }
    )


@sensitive_variables()
def get_access_token(
    grant_type: str,
    client_id: object,
    client_secret: str,
    redirect_uri: str,
    code: str | None = None,
    refresh_token: str | None = None,
) -> tuple[str, datetime | None, str | None]:
    """Return ``(access_token, expires, refresh_token)`` from the configured Canvas.

    The original app's API: ``grant_type`` ``"authorization_code"`` trades ``code``, any
    other value refreshes ``refresh_token``. ``expires`` is an aware datetime, and
    ``refresh_token`` is None when Canvas sent none. Canvas refusing, or answering
    something unreadable, raises ``InvalidOAuthReturnError``; Canvas not answering in
    time raises ``CanvasUnavailableError``.
    """
    client = _configured_client(client_id, client_secret)
    try:
        if grant_type == "authorization_code":
            grant = client.exchange_code(code or "", redirect_uri)
        else:
            grant = client.refresh(refresh_token or "")
    except CanvasRequestError as exc:
        raise InvalidOAuthReturnError(
            f"{grant_type} request failed to get a token: {exc.message}"
        ) from exc
    return grant.access_token, grant.expires_at(timezone.now()), grant.refresh_token
