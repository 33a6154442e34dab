"""One ``CanvasSession`` shared by 16 threads, against the fake Canvas over HTTP.

The threads call the API while the token is refreshed under them: Canvas stops accepting
the old access token the moment it issues the new one (spec §3), so the calls in flight
with it come back ``401``. Every call must still succeed, with one refresh per renewal,
and the stored token must survive.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections
from django.utils import timezone

from canvas_oauth.api import CanvasSession
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import store_token

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
CALLS = 8  # per thread


@pytest.fixture
def canvas(live_fake_canvas, user, settings):
    live_fake_canvas.latency["api"] = 0.05
    store_token(live_fake_canvas, user, domain=settings.CANVAS_OAUTH_CANVAS_DOMAIN)
    return live_fake_canvas


def hammer(session, during=None):
    """Make THREADS x CALLS calls on ``session`` from THREADS threads; run ``during`` meanwhile.

    Return each call's status, or the name of the exception it raised.
    """
    started = threading.Barrier(THREADS + 1)

    def worker(_):
        started.wait()
        outcomes = []
        try:
            for _ in range(CALLS):
                try:
                    outcomes.append(session.get("users/self").status_code)
                except Exception as exc:  # the test reports what happened
                    outcomes.append(type(exc).__name__)
        finally:
            connections.close_all()  # this thread's, if it read or refreshed the token
        return outcomes

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(worker, i) for i in range(THREADS)]
        started.wait()
        if during is not None:
            during()
        return [outcome for future in futures for outcome in future.result()]


def test_sixteen_threads_share_one_session(canvas, user):
    session = CanvasSession.for_user(user)
    assert hammer(session) == [200] * THREADS * CALLS
    assert canvas.calls["throttled"] == 0
    assert canvas.calls["token"] == 0


def test_canvas_renews_the_token_twice_while_sixteen_threads_call(canvas, user):
    session = CanvasSession.for_user(user)

    def renew_twice():
        # The token dies early (Canvas kills it) while calls are in flight, twice. The
        # second time, calls that met the first may still be on their retry.
        for renewal in (1, 2):
            time.sleep(0.1)
            canvas.expire_access_tokens()
            while canvas.calls["token:refresh_token"] < renewal:
                time.sleep(0.01)

    outcomes = hammer(session, renew_twice)
    assert outcomes == [200] * THREADS * CALLS
    assert canvas.calls["token:refresh_token"] == 2  # one per renewal, not one per thread
    row = CanvasOAuth2Token.objects.get(user=user)
    assert canvas.is_live(row.access_token)
    assert canvas.calls["throttled"] == 0


def test_the_token_expires_while_sixteen_threads_call(canvas, user):
    # The stored expiry passes mid-run: the thread that notices refreshes for all of them.
    CanvasOAuth2Token.objects.filter(user=user).update(
        expires=timezone.now() + timedelta(seconds=0.3)
    )
    session = CanvasSession.for_user(user)
    assert hammer(session) == [200] * THREADS * CALLS
    assert canvas.calls["token:refresh_token"] == 1
    row = CanvasOAuth2Token.objects.get(user=user)
    assert canvas.is_live(row.access_token)
    assert row.expires > timezone.now() + timedelta(minutes=30)


def test_cookies_canvas_sets_are_not_kept_to_be_shared(user, settings):
    # Canvas sets a session cookie on API answers. Were it kept, every thread would
    # send it, and a cookie is a second way in besides the token.
    seen_cookies = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen_cookies.append(self.headers.get("Cookie"))
            body = b'{"id": 1}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", "_normandy_session=abc; path=/; HttpOnly")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        settings.CANVAS_OAUTH_CANVAS_DOMAIN = origin
        CanvasOAuth2Token.objects.create(
            user=user,
            domain=origin,
            access_token="1~" + "a" * 64,
            refresh_token="1~" + "r" * 64,
            expires=timezone.now() + timedelta(hours=1),
        )
        with CanvasSession.for_user(user) as session:
            assert session.get("users/self").status_code == 200
            assert session.get("users/self").status_code == 200
            assert len(session.cookies) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert seen_cookies == [None, None]
