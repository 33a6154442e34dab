"""Call the Canvas REST API as a user: ``CanvasSession`` and the functions that build one.

A ``CanvasSession`` is a ``requests.Session`` bound to one (Django user, Canvas instance).
Paths are relative to the instance's ``/api/v1/``; the session sends the user's token
(refreshed when due), refreshes and retries once when Canvas rejects it, paces and retries
calls Canvas throttles, and follows ``Link`` pages. It sends nothing off its Canvas origin.
"""

from __future__ import annotations

import http.cookiejar
import itertools
import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

import requests
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from canvas_oauth import canvas, conf, instances, oauth, pacing, redaction, shared_pacing, tokens
from canvas_oauth.exceptions import (
    CanvasRequestError,
    CanvasThrottledError,
    CanvasUnavailableError,
    CanvasURLError,
    InvalidTokenError,
    MissingTokenError,
)
from canvas_oauth.models import CanvasOAuth2Token

if TYPE_CHECKING:
    import canvasapi

__all__ = ["CanvasSession", "canvas_session", "canvasapi_for"]

logger = logging.getLogger(__name__)

BUCKET = canvas.THROTTLE_BUCKET
# Canvas caps per_page (100 on hosted instances); fewer pages, fewer throttle units.
DEFAULT_PER_PAGE = 100
# A throttled call whose answer did not say how full the bucket is (a proxy's 429, say)
# waits about this long before its first retry, doubling up to the cap.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 8.0
# A throttled call whose answer said so waits until Canvas admits it (see ``pacing``), and
# up to this much more, so that processes refused together do not all come back together.
JITTER = 0.2
# Connections kept alive per Canvas origin. About a dozen requests in flight on one token
# fill Canvas's bucket, so more would only wait.
POOL_SIZE = 16

_adapters: dict[str, HTTPAdapter] = {}
_adapters_lock = threading.Lock()


def _pooled_adapter(origin: str) -> HTTPAdapter:
    """Return the process's adapter for ``origin``: its kept-alive connections, shared."""
    with _adapters_lock:
        adapter = _adapters.get(origin)
        if adapter is None:
            adapter = _adapters[origin] = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE)
        return adapter


# Dot segments as a server reads them, percent-encoded or not (RFC 3986 §2.3, §5.2.4).
_DOTS = {
    spelled: "." * count
    for count in (1, 2)
    for spelled in map("".join, itertools.product((".", "%2e"), repeat=count))
}
# What some servers also read as a separator: a backslash, or a slash or backslash
# percent-encoded. A dot segment between them could climb out of /api/v1/ there.
_HIDDEN_SEPARATORS = re.compile(r"\\|%2f|%5c", re.IGNORECASE)


def _hides_dots(segment: str) -> bool:
    """Tell whether ``segment`` holds a dot segment behind a separator some servers read."""
    parts = _HIDDEN_SEPARATORS.split(segment)
    return len(parts) > 1 and any(part.lower() in _DOTS for part in parts)


def _origin(url: str) -> tuple[str, str, int | None]:
    """Return (scheme, host, port) of ``url``, the default port spelled out."""
    # Not conf.domain_key: that reads a configured domain, a bare host or origin, and
    # refuses anything else. This compares the origins of any URL (a redirect hop with a
    # path, a query, even credentials), and an explicit default port is the same origin
    # (https://h:443/x is https://h), where domain_key keeps "h:443" apart from "h".
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


class _Bearer(AuthBase):
    """Put the access token on a request; its repr (in tracebacks) does not show it."""

    @sensitive_variables()
    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._access_token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(…)"


class _TokenSource:
    """Where a ``CanvasSession`` gets its user's token, and who hears of a new or dead one."""

    def __init__(self, user: Any, domain: str) -> None:
        self.user = user
        self.domain = domain

    def get(self) -> CanvasOAuth2Token:
        """Return the token to send: usable now, refreshed when it expires soon."""
        raise NotImplementedError

    def refresh(self, token: CanvasOAuth2Token) -> CanvasOAuth2Token:
        """Return the token that replaces ``token``, which Canvas rejected."""
        # force: another process may have refreshed it already; then that token is used,
        # and Canvas is not asked (which would kill that process's token).
        return tokens.refresh(token, force=True)

    def invalidate(self, rejected: CanvasOAuth2Token) -> NoReturn:
        """Delete the stored token, which Canvas rejected fresh, and raise ``InvalidTokenError``."""
        tokens.invalidate_token(self.user, self.domain, rejected=rejected)
        raise tokens.add_authorize_url(InvalidTokenError(), self.domain)


class _UserTokens(_TokenSource):
    """The token of a session made for a user outside a request (``for_user``).

    No middleware will send the user to Canvas: a ``MissingTokenError`` carries
    ``authorize_url`` instead, for the job to pass on.
    """

    def get(self) -> CanvasOAuth2Token:
        try:
            return tokens.get_token(self.user, self.domain)
        except MissingTokenError as exc:
            tokens.add_authorize_url(exc, self.domain)
            raise

    def refresh(self, token: CanvasOAuth2Token) -> CanvasOAuth2Token:
        try:
            return super().refresh(token)
        except MissingTokenError as exc:
            tokens.add_authorize_url(exc, self.domain)
            raise


class _RequestTokens(_TokenSource):
    """The token of a session made in a view (``canvas_session``): the request's own.

    It is the one ``get_oauth_token(request)`` returns, and a refreshed one is used by the
    rest of the request too. Errors reach ``OAuthMiddleware``, which starts the dance.
    """

    def __init__(self, user: Any, domain: str, request: HttpRequest) -> None:
        super().__init__(user, domain)
        self.request = request

    def get(self) -> CanvasOAuth2Token:
        return oauth.get_token_row(self.request, self.domain)

    def refresh(self, token: CanvasOAuth2Token) -> CanvasOAuth2Token:
        # The refresh's frames hold the refresh token: hidden from the DEBUG page too.
        redaction.guard_callback(self.request)
        fresh = super().refresh(token)
        oauth.remember_token(self.request, fresh)
        return fresh

    def invalidate(self, rejected: CanvasOAuth2Token) -> NoReturn:
        # The request remembers ``rejected`` (see refresh), and invalidates that one.
        oauth.invalidate_oauth_token(self.request, self.domain)  # raises InvalidTokenError
        super().invalidate(rejected)  # pragma: no cover -- reached only had it not raised


class CanvasSession(requests.Session):
    """A ``requests.Session`` that calls one Canvas instance's API as one user.

    ``session.get("users/self")`` and ``session.get("courses/42/assignments")`` are
    relative to ``/api/v1/``; absolute URLs must be on the same Canvas origin, or
    ``CanvasURLError`` is raised and nothing is sent. Each call sends the user's token,
    refreshed when it expires within ``CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER``. A ``401``
    with ``WWW-Authenticate`` is refreshed and retried once; a second one deletes the token
    and raises ``InvalidTokenError``. A throttled call is retried within
    ``CANVAS_OAUTH_API_RETRY_BUDGET`` seconds, then raises ``CanvasThrottledError``. Any
    other answer is returned as it is. Safe to share between threads.
    """

    # Canvas's throttle numbers; a self-hosted Canvas may have changed its Settings.
    bucket: pacing.Bucket = BUCKET

    def __init__(self, user: Any, domain: str | None = None, *, request: HttpRequest | None = None):
        super().__init__()
        self.user = user
        self.domain = instances.domain_for(domain)
        instances.get(self.domain)  # an instance off the allow-list raises here
        self.origin = conf.base_url(self.domain)
        self.api_url = canvas.api_base_url(self.origin)
        self._origin = _origin(self.origin)
        self._tokens = (
            _UserTokens(user, self.domain)
            if request is None
            else _RequestTokens(user, self.domain, request)
        )
        # The token every thread of this session sends, and the one of those refreshed
        # after Canvas rejected its predecessor, until Canvas accepts it (see _rejected).
        self._token: CanvasOAuth2Token | None = None
        self._unproven: CanvasOAuth2Token | None = None
        self._token_lock = threading.Lock()
        # The API is called with the token alone: cookies Canvas sets would only be shared
        # state between threads (and a second way in), so none are kept.
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.mount(self.origin + "/", _pooled_adapter(self.origin))

    @classmethod
    def for_user(cls, user: Any, domain: str | None = None) -> CanvasSession:
        """Return a session for ``user`` outside a request (Celery, commands, cron).

        When the user has to authorize (again), the ``MissingTokenError`` (or
        ``InvalidTokenError``) it raises carries ``authorize_url``, a path on this site.
        """
        return cls(user, domain)

    def __repr__(self) -> str:
        return f"<CanvasSession user={getattr(self.user, 'pk', None)} {self.origin}>"

    def close(self) -> None:
        """Close this session; the connections it shares with other sessions stay open."""
        shared = _pooled_adapter(self.origin)
        for adapter in self.adapters.values():
            if adapter is not shared:
                adapter.close()

    # -- URLs ------------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """Return the full URL of an API path, or ``path_or_url`` when on this origin.

        Raise ``CanvasURLError`` for anything else: another host, scheme or port, or a URL
        with credentials in it.
        """
        if isinstance(path_or_url, bytes):
            path_or_url = path_or_url.decode("ascii", errors="replace")
        if not isinstance(path_or_url, str):
            raise CanvasURLError(f"An API path must be a string, not {type(path_or_url).__name__}.")
        path_or_url = path_or_url.strip()
        if any(ch < " " or ch == "\x7f" for ch in path_or_url):
            # A CR or LF would end the request line early: header injection, not a path.
            raise CanvasURLError("An API path cannot contain control characters.")
        given = urlsplit(path_or_url)
        has_dots = False
        if not given.scheme and not given.netloc:
            # A path: its dot segments, however spelled (%2e is a dot to the server), are
            # resolved here, and must not climb out of /api/v1/ (to the token URL, say).
            segments = [_DOTS.get(seg.lower(), seg) for seg in given.path.split("/")]
            path_or_url = urlunsplit(given._replace(path="/".join(segments)))
            has_dots = any(seg in (".", "..") for seg in segments)
            if any(_hides_dots(seg) for seg in segments):
                raise CanvasURLError("An API path cannot climb out of /api/v1/.")
        url = urljoin(self.api_url, path_or_url)
        parts = urlsplit(url)
        try:
            same = _origin(url) == self._origin
        except ValueError:  # a port that is not a number
            same = False
        if not same or parts.username is not None or parts.password is not None:
            raise CanvasURLError()
        if has_dots and not parts.path.startswith(urlsplit(self.api_url).path):
            raise CanvasURLError("An API path cannot climb out of /api/v1/.")
        # Spelled as the origin is (case, default port): one connection pool per origin.
        return self.origin + urlunsplit(("", "", parts.path, parts.query, ""))

    def should_strip_auth(self, old_url: str, new_url: str) -> bool:
        """Drop the token from a redirect that leaves this Canvas origin (a file's host)."""
        try:
            leaves = _origin(new_url) != self._origin
        except ValueError:
            leaves = True
        # types-requests leaves the base method unannotated.
        return leaves or super().should_strip_auth(old_url, new_url)  # type: ignore[no-untyped-call]

    # -- Calls -----------------------------------------------------------------------------

    @sensitive_variables()
    # requests' parameters after ``timeout`` (allow_redirects, …) pass through **kwargs
    # here, so they cannot be given by position: narrower than the base, hence the ignore.
    def request(  # type: ignore[override]
        self,
        method: str | bytes,
        url: str | bytes,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one API call as the session's user; see the class for what is retried.

        ``auth`` is ignored: the session always authenticates as its user.
        """
        target = self.url_for(url.decode() if isinstance(url, bytes) else url)
        if timeout is None:
            api_timeout = float(conf.settings.api_timeout)
            timeout = (min(float(conf.settings.connect_timeout), api_timeout), api_timeout)
        kwargs.update(
            params=params, data=data, headers=headers, cookies=cookies, files=files, timeout=timeout
        )
        deadline = time.monotonic() + float(conf.settings.api_retry_budget)
        throttled = 0
        while True:
            token = self._current_token()
            response = self._send(method, target, token, deadline, kwargs)
            # After a redirect off this origin (a file's host), the answer is that host's:
            # its 401 says nothing of the token, its 403 nothing of Canvas's throttle.
            from_canvas = self._from_canvas(response)
            if from_canvas and canvas.rejects_token(response):
                response.close()
                self._rejected(token)
                continue
            if from_canvas and canvas.is_throttled(response):
                response.close()
                throttled += 1
                if not self._wait_after_refusal(response, throttled, deadline):
                    logger.warning(
                        "Canvas throttled %s %s %s times; giving up", method, target, throttled
                    )
                    raise CanvasThrottledError()
                continue
            if token is self._unproven:
                self._accepted(token)
            return response

    def _wait_after_refusal(
        self, response: requests.Response, attempt: int, deadline: float
    ) -> bool:
        """Wait before sending a throttled call again; False when it cannot be in time.

        With Canvas's figure of the room left, ``_send``'s pace waits until Canvas admits
        the call, and here only a little more, so that processes refused together do not
        come back together. Without one (or with one that says the call fitted), back off.
        """
        now = time.monotonic()
        remaining = canvas.rate_limit_remaining(response)
        admitted = 0.0
        if remaining is not None:
            # By Canvas's figure alone: calls of ours still in flight will bring fresher
            # figures (and wake the pace) when they finish, so they do not count here.
            admitted = self.bucket.admitted_after(self.bucket.room(remaining))
        if admitted > 0:
            if now + admitted > deadline:
                return False  # Canvas's own numbers: not admitted within the budget
            wait = random.uniform(0, JITTER)  # noqa: S311 -- not a secret
        else:
            wait = _backoff(attempt)
        left = deadline - now
        if left <= 0:
            return False
        time.sleep(min(wait, left))
        return True

    @sensitive_variables()
    def _send(
        self,
        method: str | bytes,
        url: str,
        token: CanvasOAuth2Token,
        deadline: float,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        # The token is read where it is used, never kept in a variable of this frame, which
        # error reports list with its variables.
        pace = shared_pacing.for_token(token.access_token, self.bucket)
        ticket = pace.acquire(deadline)
        remaining = None
        failure = None
        try:
            response = super().request(method, url, auth=_Bearer(token.access_token), **kwargs)
            if self._from_canvas(response):  # another host's figure is not our bucket's
                remaining = canvas.rate_limit_remaining(response)
        except Exception as exc:  # whatever it is: wrapped, and raised below
            failure = _error_for(exc, method, url)
        finally:
            pace.release(ticket, remaining)
        if failure is not None:
            # Raised outside the handler, so with no chain: the frames of requests, urllib3
            # and http.client below hold the request's headers, the token among them, and
            # error reports show every chained exception's frames and variables.
            raise failure
        return response

    def _from_canvas(self, response: requests.Response) -> bool:
        """Tell whether ``response`` came from this Canvas origin, not a redirect's host.

        Every hop counts: an answer reached through another host, even one that sent the
        browser back to Canvas, was asked for without our token (dropped on leaving) and
        perhaps with a token of that host's choosing in the URL.
        """
        try:
            return all(
                _origin(hop.url or "") == self._origin for hop in (*response.history, response)
            )
        except ValueError:
            return False

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, *, max_pages: int | None = None
    ) -> Iterator[Any]:
        """Yield the items of every page of a list, following ``Link: rel="next"``.

        ``per_page`` is 100 unless ``params`` or ``path`` sets it. Stop after ``max_pages``
        pages when given. A page that is not a success raises ``requests.HTTPError``, and one
        reached through another host ``CanvasRequestError``; a next link off this Canvas
        origin raises ``CanvasURLError`` before anything is sent there.
        """
        url = self.url_for(path)
        first: dict[str, Any] = dict(params or {})
        if "per_page" not in first and "per_page" not in parse_qs(urlsplit(url).query):
            first["per_page"] = DEFAULT_PER_PAGE
        query: dict[str, Any] | None = first
        pages = 0
        while max_pages is None or pages < max_pages:
            with self.get(url, params=query) as response:
                response.raise_for_status()
                if not self._from_canvas(response):
                    # Its next link would be that host's choice of where our token goes.
                    raise CanvasRequestError(
                        "Canvas sent a list request to another host.",
                        http_status=response.status_code,
                    )
                items = _page_items(response)
                following = response.links.get("next", {}).get("url")
            pages += 1
            yield from items
            if not following:
                return
            url = self.url_for(following)
            query = None  # Canvas repeats the query in its links, as the next page needs it

    # -- The token -------------------------------------------------------------------------

    def _current_token(self) -> CanvasOAuth2Token:
        with self._token_lock:
            token = self._token
            if token is None or token.expires_within(conf.settings.token_expiration_buffer):
                token = self._token = self._tokens.get()
            return token

    def _rejected(self, token: CanvasOAuth2Token) -> None:
        """Canvas answered ``401`` to ``token``: refresh it, or give up on it.

        Threads sharing the session meet the same rejection at once, and calls in flight
        with a token another thread has just replaced come back ``401`` too (Canvas
        retires the old access token when it issues the new one): only the first to
        report a token's rejection acts on it; the others retry with what it got. A token
        refreshed after a rejection that Canvas rejects as well, before it accepted any
        call with it, is given up: the stored token is deleted and ``InvalidTokenError``
        raised, as for a single caller whose retry is refused.
        """
        with self._token_lock:
            if self._token is not token:
                return  # replaced meanwhile (or forgotten): retry with the current one
            if token is self._unproven:
                self._reject(token)
            try:
                fresh = self._tokens.refresh(token)
            except MissingTokenError:
                self._token = None
                raise
            self._token = self._unproven = fresh

    def _accepted(self, token: CanvasOAuth2Token) -> None:
        """Canvas accepted ``token``, refreshed after a rejection: a later 401 is news."""
        with self._token_lock:
            if self._unproven is token:
                self._unproven = None

    def _reject(self, token: CanvasOAuth2Token) -> NoReturn:
        """Canvas rejected a fresh token too: forget it, and raise ``InvalidTokenError``.

        Called with ``_token_lock`` held, so that no thread reads the row again before it
        is deleted.
        """
        self._token = self._unproven = None
        logger.warning(
            "Canvas rejected the refreshed token of user %s on %s",
            getattr(self.user, "pk", None),
            self.domain,
        )
        self._tokens.invalidate(token)


def _backoff(attempt: int) -> float:
    """Return the wait before retry ``attempt`` (from 1): doubling, with jitter."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** (attempt - 1))
    # Half fixed, half random: threads throttled together do not come back together.
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 -- not a secret


def _error_for(exc: Exception, method: str | bytes, url: str) -> Exception:
    name = type(exc).__name__
    if not isinstance(exc, requests.RequestException):
        # Raised below the send: a header that is not Latin-1, data of a type requests
        # cannot send. Only its class is told; its text may quote what was being sent.
        logger.warning("%s %s could not be sent to Canvas (%s)", method, url, name)
        return CanvasRequestError(f"The Canvas API call could not be sent ({name}).")
    if isinstance(exc, requests.Timeout):
        logger.warning("Canvas did not answer %s %s in time (%s)", method, url, name)
        return CanvasUnavailableError()
    if isinstance(exc, requests.ConnectionError):
        logger.warning("Canvas unreachable for %s %s (%s)", method, url, name)
        return CanvasUnavailableError("Canvas could not be reached. Please try again in a moment.")
    logger.warning("Canvas's answer to %s %s could not be read (%s)", method, url, name)
    return CanvasRequestError()


def _page_items(response: requests.Response) -> list[Any]:
    try:
        items = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's stack
        items = None
    if not isinstance(items, list):
        raise CanvasRequestError(
            "Canvas answered a list request with something that is not a list.",
            http_status=response.status_code,
        )
    return items


def canvas_session(request: HttpRequest, domain: str | None = None) -> CanvasSession:
    """Return a ``CanvasSession`` for ``request.user``, in a view.

    ``domain`` defaults to the instance the request is for. The token is the one
    ``get_oauth_token(request)`` returns; errors reach ``OAuthMiddleware``, which restarts
    the dance when the user has to authorize (again).
    """
    oauth.require_login(request)
    key = instances.domain_for(domain, request)
    return CanvasSession(request.user, key, request=request)


def canvasapi_for(request_or_user: Any, domain: str | None = None) -> canvasapi.Canvas:
    """Return a ``canvasapi.Canvas`` whose calls go through a ``CanvasSession``.

    Pass the request in a view, or the user outside one. Needs the ``canvasapi`` extra:
    ``pip install "django-canvas-oauth[canvasapi]"``.
    """
    # canvasapi is an optional extra: imported only by those who ask for it.
    from canvas_oauth import canvasapi_adapter

    if isinstance(request_or_user, HttpRequest):
        session = canvas_session(request_or_user, domain)
    else:
        session = CanvasSession.for_user(request_or_user, domain)
    return canvasapi_adapter.canvas(session)
