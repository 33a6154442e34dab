"""One HTTP exchange, bounded in time and in size (``canvas_oauth.transport``), over real
sockets on loopback.

What a user sees of these bounds (the 504 and 502 pages, a refresh kept) is in
``test_canvas_wire.py``; here is the exchange itself: what it hands back, and where it stops.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

import pytest
import requests

from canvas_oauth.exceptions import CanvasUnavailableError
from canvas_oauth.transport import _Deadline, exchange, new_session
from tests.canvas.test_canvas_answers import finish_dance
from tests.loopback import MAX_SECONDS, TOKEN_BODY, LoopbackCanvas, canned, drip, flood, head

TIMEOUT = 0.5
# A byte every DRIP seconds never trips a per-read timeout of TIMEOUT; the whole answer
# would take MAX_SECONDS (the server's own limit).
DRIP = 0.2
# Checked against the drip's MAX_SECONDS, not the deadline: the point is that the call
# ends near TIMEOUT instead of when the server is done, on however loaded a machine.
WELL_UNDER_THE_DRIP = MAX_SECONDS / 3
CAP = 1024


def test_the_answer_is_handed_back_whole():
    with canned(201, TOKEN_BODY, headers={"X-Request-Cost": "0.5"}) as server:
        reply = exchange("POST", server.url + "/login/oauth2/token", timeout=5, data={"a": "b"})
    assert reply.status_code == 201
    assert reply.headers["x-request-cost"] == "0.5"  # headers as requests reads them
    assert reply.complete
    assert reply.json() == TOKEN_BODY
    assert server.requests == ["POST /login/oauth2/token HTTP/1.1"]


def test_the_answer_read_keeps_tokens_out_of_its_repr():
    with canned(200, TOKEN_BODY) as server:
        reply = exchange("POST", server.url + "/login/oauth2/token", timeout=5)
    assert reply.json()["access_token"] == TOKEN_BODY["access_token"]
    assert TOKEN_BODY["access_token"] not in repr(reply)


@pytest.mark.parametrize(
    "body", [b"<html>Bad gateway</html>", b"[" * 60_000], ids=["html", "nested-too-deep"]
)
def test_a_body_that_is_no_json_raises_value_error(body):
    with canned(502, body, content_type="text/html") as server:
        reply = exchange("GET", server.url, timeout=5)
    assert reply.complete
    with pytest.raises(ValueError):
        reply.json()


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_body_up_to_the_cap_is_read_and_one_byte_more_is_not(declared):
    with flood(CAP, declared) as server:
        reply = exchange("GET", server.url, timeout=5, max_body=CAP)
    assert reply.complete
    assert len(reply.body) == CAP
    assert reply.json()["access_token"] == TOKEN_BODY["access_token"]
    with flood(CAP + 1, declared) as server:
        reply = exchange("GET", server.url, timeout=5, max_body=CAP)
    assert (reply.complete, reply.body) == (False, b"")


BLOCK = 8 * 1024
BLOCKS = 100


def blocks_every(seconds: float) -> LoopbackCanvas:
    """Answer a body of ``BLOCKS`` blocks, one every ``seconds``: never a slow read, and
    all of it well within the server's ``MAX_SECONDS``."""

    def respond(reply):
        reply.send(head(200, BLOCKS * BLOCK, "application/octet-stream"))
        for _ in range(BLOCKS):
            reply.send(b"x" * BLOCK)
            reply.pause(seconds)

    return LoopbackCanvas(respond)


def test_a_callers_session_is_cut_off_between_chunks_and_left_open():
    """A session not made by ``new_session`` cannot be cut mid-read: the deadline is
    checked between the body's chunks, which this server sends steadily."""
    session = requests.Session()
    with blocks_every(0.05) as server:
        with pytest.raises(CanvasUnavailableError):
            exchange("GET", server.url, timeout=TIMEOUT, session=session, max_body=10**9)
        assert server.sent < BLOCKS * BLOCK
    with canned(200, {"ok": True}) as server:
        reply = exchange("GET", server.url, timeout=5, session=session)
    assert reply.json() == {"ok": True}  # the session is still open, and usable
    session.close()


def test_a_session_from_new_session_works_outside_an_exchange():
    session = new_session()
    with canned(200, {"ok": True}) as server:
        assert session.get(server.url, timeout=5).json() == {"ok": True}
    session.close()


def test_an_unreachable_canvas_is_unavailable_and_logged_without_the_request(caplog):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the connection is refused at once
    with (
        caplog.at_level(logging.WARNING, "canvas_oauth.transport"),
        pytest.raises(CanvasUnavailableError, match="could not be reached"),
    ):
        exchange("POST", f"http://127.0.0.1:{port}/login/oauth2/token", timeout=5)
    assert "ConnectionError" in caplog.text
    assert "Max retries" not in caplog.text  # requests' text, which names the request


def test_a_socket_handed_over_after_the_deadline_is_shut_at_once():
    """A connection made as the deadline passes must not outlive it."""
    deadline = _Deadline(0.01)
    deadline.start()
    deadline._timer.join(5)  # its timer has fired: the deadline has passed
    assert deadline.passed()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        deadline.watch(ours)
        assert ours.recv(1) == b""  # shut: a read returns at once, with nothing
    deadline.cancel()


def test_a_drip_feeding_proxy_is_cut_off_at_the_deadline_too(browser, settings, user, monkeypatch):
    settings.CANVAS_OAUTH_TIMEOUT = TIMEOUT
    with drip("headers", DRIP) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        canvas = type("Origin", (), {"url": "http://canvas.example.edu"})()
        started = time.monotonic()
        response = finish_dance(browser, settings, canvas)
        elapsed = time.monotonic() - started
    assert proxy.requests == ["POST http://canvas.example.edu/login/oauth2/token HTTP/1.1"]
    assert response.status_code == 504
    assert elapsed < WELL_UNDER_THE_DRIP


def keeps_alive_then_drips() -> tuple[socket.socket, threading.Thread]:
    """Serve one connection: the first answer at once, kept alive; the second one byte
    every DRIP seconds, for up to MAX_SECONDS."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(MAX_SECONDS)
    body = b'{"ok": true}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    answer += b"Content-Length: %d\r\n\r\n%s" % (len(body), body)

    def serve():
        with contextlib.suppress(OSError), listener.accept()[0] as conn:
            conn.settimeout(MAX_SECONDS)
            conn.recv(65536)
            conn.sendall(answer)
            conn.recv(65536)
            started = time.monotonic()
            for i in range(len(answer)):
                if time.monotonic() - started > MAX_SECONDS:
                    break
                conn.sendall(answer[i : i + 1])
                time.sleep(DRIP)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_a_kept_alive_connection_of_new_session_is_cut_off_at_the_deadline_too():
    """The second exchange on a session from ``new_session`` reuses the first one's
    connection: no new socket is made, and the deadline must still cut it off."""
    listener, thread = keeps_alive_then_drips()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    session = new_session()
    with listener, session:
        assert exchange("GET", url, timeout=5, session=session).json() == {"ok": True}
        started = time.monotonic()
        with pytest.raises(CanvasUnavailableError):
            exchange("GET", url, timeout=TIMEOUT, session=session)
        assert time.monotonic() - started < WELL_UNDER_THE_DRIP
    thread.join(MAX_SECONDS)
