"""Serve a ``FakeCanvas`` over real HTTP, for browsers, demos and end-to-end tests.

Run it in the foreground with::

    python -m canvas_oauth.testing.server --port 8001 --client-id 10000000000001 \\
        --client-secret s3cret --auto-approve --courses 250 --user "Grace Hopper"

The options are described in the docs' reference ("The fake Canvas on the command line").
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType

from .provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FakeCanvas

# Where ``make demo`` serves the example site; its callback is the key's default URI here.
DEMO_REDIRECT_URI = "http://127.0.0.1:8000/oauth/oauth-callback"


class _Server(ThreadingHTTPServer):
    """A threaded server that never waits for, or complains about, abandoned requests."""

    daemon_threads = True
    block_on_close = False
    verbose = False  # log every request (``--verbose``)
    # socketserver's default backlog of 5 makes concurrent clients wait a 1 s SYN retry.
    request_queue_size = 128
    # How often serve_until_stopped looks at ``stopping`` while no request comes.
    timeout = 0.05

    def __init__(self, address: tuple[str, int], fake: FakeCanvas) -> None:
        super().__init__(address, _Handler)
        self.fake = fake
        self.stopping = threading.Event()

    def serve_until_stopped(self) -> None:
        """Serve requests until ``stopping`` is set, looking at it every ``timeout`` seconds."""
        while not self.stopping.is_set():
            self.handle_request()

    def handle_error(self, request: object, client_address: object) -> None:
        """Ignore clients that hung up first (a timed-out client, a dropped socket)."""
        if not isinstance(sys.exc_info()[1], OSError):
            # socketserver's stubs want a socket and an address; we pass through what we got.
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    """Turn each HTTP request into a ``FakeCanvas.handle`` call."""

    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle adds 40 ms per answer.
    disable_nagle_algorithm = True
    server_version = "FakeCanvas/1.0"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.fake.handle(self.command, self.path, dict(self.headers), body)
        try:
            if response.delay:
                # Wake up early when the server stops, so stop() never waits on a slow fault.
                self.server.stopping.wait(response.delay)
        finally:
            response.complete()
        if response.dropped:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # send_response would add a second Date, the real one: the fake's says its clock.
        self.log_request(response.status)
        self.send_response_only(response.status)
        self.send_header("Server", self.version_string())
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet unless the command line asked for a request log."""
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class LiveFakeCanvas:
    """Run ``fake`` on a loopback HTTP server in a daemon thread.

    Starting it points ``fake.base_url`` at the server, so the fake's redirects and the
    out-of-band page use the real address.
    """

    def __init__(self, fake: FakeCanvas, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the server's origin, such as ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def start(self, verbose: bool = False) -> LiveFakeCanvas:
        """Bind the socket and start serving in the background."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self.fake)
        self._server.verbose = verbose
        self.port = self._server.server_address[1]
        self.fake.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_until_stopped,
            name=f"fake-canvas-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, waking any request that is sleeping in a slow fault."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stopping.set()
        # A thread that never started (Ctrl-C inside start()) has nothing to wait for;
        # socketserver's shutdown() would wait for it forever.
        if thread is not None and thread.ident is not None:
            thread.join()  # its loop sees ``stopping`` within a poll
        server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> LiveFakeCanvas:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line of the foreground server."""
    parser = argparse.ArgumentParser(
        prog="python -m canvas_oauth.testing.server",
        description="Run a fake Canvas OAuth2 provider for demos and browser tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument(
        "--port", type=int, default=8001, help="port to listen on (%(default)s; 0: any free one)"
    )
    parser.add_argument(
        "--client-id", default=DEFAULT_CLIENT_ID, help="the developer key's ID (%(default)s)"
    )
    parser.add_argument(
        "--client-secret",
        default=DEFAULT_CLIENT_SECRET,
        metavar="SECRET",
        help="the developer key's secret (default: the one the tutorial sets)",
    )
    parser.add_argument(
        "--client-name",
        default="Canvas OAuth demo",
        metavar="NAME",
        help="the key's name, shown on the consent page (%(default)s)",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        metavar="URI",
        help=f"a redirect URI the developer key lists, matched exactly (repeatable; "
        f"default: {DEMO_REDIRECT_URI}, the demo site's callback)",
    )
    parser.add_argument(
        "--legacy-redirect-uri",
        metavar="URI",
        help="the key's legacy redirect URI: any URL on its scheme and host or a subdomain "
        "is accepted (for example http://127.0.0.1/ for every local port)",
    )
    parser.add_argument(
        "--user-name",
        default="Ada Lovelace",
        metavar="NAME",
        help="the first Canvas user's name (default: %(default)s)",
    )
    parser.add_argument(
        "--user",
        action="append",
        dest="users",
        default=[],
        metavar="NAME",
        help="another Canvas user, shown on the login page (repeatable)",
    )
    parser.add_argument(
        "--courses",
        type=_count,
        default=0,
        metavar="N",
        help="enrol every user in N courses, listed by GET /api/v1/courses (default 0)",
    )
    parser.add_argument(
        "--auto-approve", action="store_true", help="skip the consent page and redirect at once"
    )
    parser.add_argument("--public-client", action="store_true", help="rotate refresh tokens")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def _count(text: str) -> int:
    """Read a whole number, 0 or more (argparse shows the message)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number, 0 or more")
    return value


def fake_from_options(options: argparse.Namespace) -> FakeCanvas:
    """Build the fake the command line describes, with its users and their courses."""
    fake = FakeCanvas(
        client_id=options.client_id,
        client_secret=options.client_secret,
        client_name=options.client_name,
        redirect_uris=options.redirect_uris or [DEMO_REDIRECT_URI],
        legacy_redirect_uri=options.legacy_redirect_uri,
        public_client=options.public_client,
        auto_approve=options.auto_approve,
    )
    fake.users[0].name = options.user_name
    for name in options.users:
        fake.add_user(name)
    for user in fake.users:
        fake.add_courses(user, options.courses)
    return fake


def _summary(live: LiveFakeCanvas) -> str:
    fake = live.fake
    users = ", ".join(f"{user.name} ({len(user.courses)} courses)" for user in fake.users)
    return f"Fake Canvas listening on {live.url} (client_id {fake.client_id}); users: {users}"


def main(argv: Sequence[str] | None = None, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C, SIGTERM or ``stop`` is set; return the exit status."""
    options = build_parser().parse_args(argv)
    live = LiveFakeCanvas(fake_from_options(options), host=options.host, port=options.port)
    stopping = stop or threading.Event()
    # Signals are handled only in the main thread; a test may run main() in another.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    # Everything after the SIGTERM handler is installed is inside the try: a Ctrl-C or a
    # SIGTERM that comes early, while the server starts, still stops it cleanly.
    try:
        if in_main_thread:
            signal.signal(signal.SIGTERM, on_sigterm)
        live.start(options.verbose)
        print(_summary(live), flush=True)
        # Short waits keep the main thread responsive to Ctrl-C.
        while not stopping.wait(0.1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    print("Fake Canvas stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a script
    sys.exit(main())
