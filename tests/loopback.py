"""Loopback HTTP servers that answer the way a broken or hostile Canvas might.

The fake Canvas plays Canvas; these play what sits outside its spec: an answer sent a
byte at a time, an endless body, a token response with odd values. Each one serves on
127.0.0.1 from daemon threads, stops sending as soon as the client hangs up or after a
bounded time, and counts the bytes the client accepted.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable

# No answer of these servers outlives this, whatever the client does.
MAX_SECONDS = 12.0

TOKEN_BODY = {
    "access_token": "1~" + "a" * 64,
    "token_type": "Bearer",
    "user": {"id": 42, "name": "Ada", "global_id": "10000000000042"},
    "canvas_region": "unknown",
    "refresh_token": "1~" + "r" * 64,
    "expires_in": 3600,
}


class Gone(Exception):
    """The client hung up, or the server is stopping: stop answering."""


class Reply:
    """The connection of one request, with sends that notice a client that hung up."""

    def __init__(self, sock: socket.socket, stopping: threading.Event, counter: Counter):
        self.sock = sock
        self.stopping = stopping
        self.counter = counter
        self.started = time.monotonic()

    def send(self, data: bytes) -> None:
        if self.stopping.is_set() or time.monotonic() - self.started > MAX_SECONDS:
            raise Gone()
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise Gone() from exc
        self.counter.add(len(data))

    def pause(self, seconds: float) -> None:
        if self.stopping.wait(seconds):
            raise Gone()


class Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.sent += n


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.request.settimeout(MAX_SECONDS)
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                data = self.request.recv(65536)
                if not data:
                    return
                head += data
            headers, _, body = head.partition(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                body += self.request.recv(65536)
            self.server.requests.append(headers.split(b"\r\n", 1)[0].decode())
            self.server.respond(Reply(self.request, self.server.stopping, self.server.counter))
        except (Gone, OSError):
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class LoopbackCanvas:
    """Serve ``respond(reply)`` for every request, until the ``with`` block ends."""

    def __init__(self, respond: Callable[[Reply], None]) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.respond = respond
        self._server.stopping = threading.Event()
        self._server.counter = Counter()
        self._server.requests = []
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def sent(self) -> int:
        """Return how many bytes the clients accepted, over all requests."""
        return self._server.counter.sent

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    def __enter__(self) -> LoopbackCanvas:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def head(
    status: int,
    content_length: int | None,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close"]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def canned(
    status: int,
    body: object,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> LoopbackCanvas:
    """Answer every request with ``body`` (JSON-encoded unless it is bytes) at once."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    def respond(reply: Reply) -> None:
        reply.send(head(status, len(data), content_type, headers) + data)

    return LoopbackCanvas(respond)


def drip(phase: str, interval: float) -> LoopbackCanvas:
    """Answer a valid token response one byte per ``interval``, from its status line
    (``phase="headers"``) or from its body (``phase="body"``)."""
    body = json.dumps(TOKEN_BODY).encode()
    answer = head(200, len(body), "application/json")

    def respond(reply: Reply) -> None:
        slow = answer + body
        if phase == "body":
            reply.send(answer)
            slow = body
        for i in range(len(slow)):
            reply.send(slow[i : i + 1])
            reply.pause(interval)

    return LoopbackCanvas(respond)


def flood(
    size: int, declared: bool, status: int = 200, headers: dict[str, str] | None = None
) -> LoopbackCanvas:
    """Answer a token response padded to ``size`` bytes, sent as fast as it is read.

    Read whole, it is valid JSON with a usable token. ``declared`` sends its length in
    ``Content-Length``; otherwise the body runs until the connection closes.
    """
    start = json.dumps(TOKEN_BODY)[:-1].encode() + b', "padding": "'
    end = b'"}'
    block = b"x" * 65536

    def respond(reply: Reply) -> None:
        length = size if declared else None
        reply.send(head(status, length, "application/json", headers) + start)
        left = size - len(start) - len(end)
        while left > 0:
            reply.send(block[:left])
            left -= len(block)
        reply.send(end)

    return LoopbackCanvas(respond)
