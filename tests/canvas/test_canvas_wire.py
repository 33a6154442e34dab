"""Every call to Canvas ends by its deadline and reads a bounded answer, over real sockets.

A Canvas that drips its answer a byte at a time must not hold a request (or the refresh
claim) past ``CANVAS_OAUTH_TIMEOUT``, and an endless body must not be read into memory.
"""

import socket
import time
from contextlib import contextmanager

import pytest
import requests

from canvas_oauth import conf, tokens
from canvas_oauth.exceptions import TokenRefreshError
from canvas_oauth.models import CanvasOAuth2Token
from tests.canvas.test_canvas_answers import finish_dance, store_token_at
from tests.loopback import MAX_SECONDS, drip, flood

TIMEOUT = 0.5
# A byte every DRIP seconds never trips a per-read timeout of TIMEOUT; the whole answer
# would take MAX_SECONDS (the server's own limit).
DRIP = 0.2
# Checked against the drip's MAX_SECONDS, not the deadline: the point is that the call
# ends near TIMEOUT instead of when the server is done, on however loaded a machine.
WELL_UNDER_THE_DRIP = MAX_SECONDS / 3


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_drip_fed_code_exchange_ends_at_the_deadline(browser, settings, user, phase):
    settings.CANVAS_OAUTH_TIMEOUT = TIMEOUT
    with drip(phase, DRIP) as server:
        started = time.monotonic()
        response = finish_dance(browser, settings, server)
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert b"did not answer in time" in response.content
    assert elapsed < WELL_UNDER_THE_DRIP
    assert not CanvasOAuth2Token.objects.exists()


def test_a_drip_fed_refresh_gives_up_at_the_deadline_and_keeps_the_token(settings, user):
    settings.CANVAS_OAUTH_TIMEOUT = TIMEOUT
    with drip("body", DRIP) as server:
        stored = store_token_at(settings, server, user)
        started = time.monotonic()
        with pytest.raises(TokenRefreshError):
            tokens.get_token(user)
        elapsed = time.monotonic() - started
    assert elapsed < WELL_UNDER_THE_DRIP
    assert server.requests == ["POST /login/oauth2/token HTTP/1.1"]
    assert CanvasOAuth2Token.objects.get(pk=stored.pk).access_token == "1~old"


def test_a_drip_fed_revoke_ends_at_the_deadline(settings, user, caplog):
    settings.CANVAS_OAUTH_TIMEOUT = TIMEOUT
    with drip("headers", DRIP) as server:
        store_token_at(settings, server, user, expires_in=3600)
        started = time.monotonic()
        assert tokens.revoke_token(user) is False
        elapsed = time.monotonic() - started
    assert elapsed < WELL_UNDER_THE_DRIP
    assert "canvas_unavailable" in caplog.text
    assert not CanvasOAuth2Token.objects.exists()


HUGE = 100 * 1024 * 1024
# Far below HUGE: the client stopped reading near the 64 KiB cap (plus socket buffers).
READ_AT_MOST = 8 * 1024 * 1024


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_huge_token_response_is_refused_without_reading_it(browser, settings, user, declared):
    with flood(HUGE, declared) as server:
        response = finish_dance(browser, settings, server)
        sent = server.sent
    assert response.status_code == 502
    assert b"could not read" in response.content
    assert sent < READ_AT_MOST
    assert not CanvasOAuth2Token.objects.exists()


def test_a_token_response_under_the_cap_is_read(browser, settings, user):
    with flood(60 * 1024, declared=False) as server:
        assert finish_dance(browser, settings, server).status_code == 302
    assert CanvasOAuth2Token.objects.get(user=user).access_token == "1~" + "a" * 64


@contextmanager
def a_host_that_never_accepts():
    """A listening socket whose backlog is full: further connections hang in SYN_SENT."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    waiting = []
    try:
        for _ in range(4):  # fill the accept queue; Linux then drops new SYNs
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(server.getsockname())
            waiting.append(client)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        for client in waiting:
            client.close()
        server.close()


def test_connecting_gives_up_after_the_connect_timeout():
    from canvas_oauth.canvas import CanvasClient
    from canvas_oauth.exceptions import CanvasUnavailableError

    with a_host_that_never_accepts() as origin:
        client = CanvasClient(origin, "1", "secret", timeout=30, connect_timeout=0.2)
        with pytest.raises(CanvasUnavailableError) as failure:
            client.refresh("a-refresh-token")
    # The connect timeout ended it, not the 30 s deadline of the whole call.
    assert isinstance(failure.value.__cause__, requests.ConnectTimeout)


def test_the_connect_timeout_is_a_setting(settings):
    from canvas_oauth import instances

    settings.CANVAS_OAUTH_CONNECT_TIMEOUT = 0.7
    assert instances.get(conf.default_domain()).client().connect_timeout == 0.7
