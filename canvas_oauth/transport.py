"""One HTTP exchange with Canvas, bounded in time and in size.

``requests``' ``timeout`` bounds each socket operation, not the call: a server that sends
a byte just within it holds the call (and any lock its caller holds) for as long as it
likes, and a body is read into memory whole, however large. Here the whole exchange
(connect, headers and body) has one deadline, and the body is read in chunks up to a cap.

The deadline is kept by a timer that shuts the connection's socket down when it passes:
that wakes a read blocked in ``requests``, which then fails at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection

from canvas_oauth.exceptions import CanvasUnavailableError

logger = logging.getLogger(__name__)

# Canvas's token responses are well under 1 KiB; its error pages a few KiB.
MAX_BODY = 64 * 1024
CHUNK = 8 * 1024

_calls = threading.local()


@dataclass(frozen=True, repr=False)
class Reply:
    """Canvas's answer: the status, the headers and the body, read up to the cap.

    ``complete`` is False when the body was longer than the cap; ``body`` is then empty.
    """

    status_code: int
    headers: Mapping[str, str]
    body: bytes
    complete: bool

    def json(self) -> Any:
        """Return the body parsed as JSON; raise ``ValueError`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except RecursionError:
            # 60,000 "[" fit under the cap and nest deeper than the parser's stack: as
            # unreadable as any other garbage, and never a crash of the view.
            raise ValueError("JSON nested too deeply to read") from None

    def __repr__(self) -> str:
        # The body of a token response holds tokens; tracebacks print reprs.
        return f"Reply({self.status_code}, {len(self.body)} bytes)"


class _Deadline:
    """Shut the sockets of one exchange down when its time is up."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def passed(self) -> bool:
        return self._expired or time.monotonic() >= self.at

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once if it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        """Stop watching: the exchange is over, and its sockets may soon be reused."""
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, even for TLS: SSLSocket.shutdown also drops the TLS
    # state that a read blocked in another thread is still using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched:
    """Hand the socket of a new connection to the deadline of the exchange it serves."""

    sock: socket.socket | None

    def connect(self) -> None:
        # A mixin: the connection class it is mixed into has the connect() called here.
        super().connect()  # type: ignore[misc]
        self._watch()

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A kept-alive connection serves the next exchange without connecting again: its
        # socket must be handed to that exchange's deadline too.
        if self.sock is not None:
            self._watch()
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _watch(self) -> None:
        deadline = getattr(_calls, "deadline", None)
        if deadline is not None and self.sock is not None:
            deadline.watch(self.sock)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections hand their sockets to the exchange's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # a SOCKS proxy keeps its own connections
            manager.pool_classes_by_scheme = _POOLS
        return manager


class _NoRedirectSession(requests.Session):
    """A session that never works out where a redirect leads.

    Even told not to follow redirects, ``requests`` prepares the next request of one: it
    first reads the whole body (past our cap), then parses the ``Location`` (a
    ``ValueError`` when that is no URL). A redirect is an answer here, never followed.
    """

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def new_session() -> requests.Session:
    """Return a session whose calls ``exchange`` can cut off at their deadline."""
    session = _NoRedirectSession()
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@sensitive_variables()
def exchange(
    method: str,
    url: str,
    *,
    timeout: float,
    connect_timeout: float | None = None,
    session: requests.Session | None = None,
    max_body: int = MAX_BODY,
    **kwargs: Any,
) -> Reply:
    """Send one request and read the answer, all within ``timeout`` seconds.

    Connecting gives up sooner, after ``connect_timeout`` seconds, when that is shorter: a
    host that does not accept the connection quickly is down, not busy. Raise
    ``CanvasUnavailableError`` when Canvas cannot be reached or does not finish answering
    in time. A ``session`` not made by ``new_session`` is cut off between chunks of the
    body only.
    """
    connect = timeout if connect_timeout is None else min(connect_timeout, timeout)
    own_session = session is None
    http = new_session() if session is None else session
    deadline = _Deadline(timeout)
    _calls.deadline = deadline
    deadline.start()
    try:
        response = http.request(
            method,
            url,
            timeout=(connect, timeout),
            allow_redirects=False,
            stream=True,
            **kwargs,
        )
        with response:
            body, complete = _read(response, deadline, max_body)
    except (requests.RequestException, OSError) as exc:
        if deadline.passed() or isinstance(exc, requests.Timeout):
            logger.warning("Canvas did not answer %s %s within %ss", method, url, timeout)
            raise CanvasUnavailableError() from exc
        # The exception text can include the request; log only its class.
        logger.warning("Canvas unreachable for %s %s: %s", method, url, type(exc).__name__)
        raise CanvasUnavailableError(
            "Canvas could not be reached. Please try again in a moment."
        ) from exc
    finally:
        deadline.cancel()
        _calls.deadline = None
        if own_session:
            http.close()
    if not complete:
        logger.warning("Canvas's answer to %s %s is longer than %s bytes", method, url, max_body)
    return Reply(response.status_code, response.headers, body, complete)


@sensitive_variables()
def _read(response: requests.Response, deadline: _Deadline, cap: int) -> tuple[bytes, bool]:
    """Read the body up to ``cap`` bytes; (b"", False) when it is longer."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        return b"", False
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK):
        if deadline.passed():
            raise requests.Timeout("Canvas's answer did not end in time")
        size += len(chunk)
        if size > cap:
            return b"", False
        chunks.append(chunk)
    return b"".join(chunks), True
