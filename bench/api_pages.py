"""Pagination: 50 pages of a list over HTTPS, connections opened and wall time.

    PYTHONPATH=. .venv/bin/python -m bench.api_pages [--pages 50] [--rounds 5] [--latency 0]

The fake Canvas is served on loopback over TLS: ``trustme`` makes a throwaway CA and a
certificate for 127.0.0.1, the fake's server socket is wrapped with it, and requests
trusts the CA through ``REQUESTS_CA_BUNDLE`` (both arms verify the certificate). The
server counts the connections it accepts. The user has ``pages`` times 100 courses, so
``GET /api/v1/courses?per_page=100`` has ``pages`` pages. The arms, alternated round by round:

- ``CanvasSession.paginate("courses")``: follows ``Link: rel="next"`` on the session's
  kept-alive connection.
- ``requests.get`` per page: the same walk, a call of ``requests.get`` for each page (as
  code written against the docs' examples does), each on a connection of its own.
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench import common

PER_PAGE = 100


def tls_fake_canvas(fake, ca):
    """Return a started ``LiveFakeCanvas`` for ``fake`` that speaks TLS and counts connections.

    ``canvas_oauth.testing`` serves plain HTTP only; this wraps the listening socket of its
    server (a subclass, here in the bench) instead of changing the library.
    """
    from canvas_oauth.testing import LiveFakeCanvas
    from canvas_oauth.testing.server import _Server

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    class CountingTLSServer(_Server):
        def __init__(self, address, fake) -> None:
            super().__init__(address, fake)
            self.socket = context.wrap_socket(self.socket, server_side=True)
            self.accepted = 0
            self.count_lock = threading.Lock()

        def get_request(self):
            connection, address = super().get_request()  # the TLS handshake happens here
            with self.count_lock:
                self.accepted += 1
            return connection, address

    class TLSFakeCanvas(LiveFakeCanvas):
        @property
        def url(self) -> str:
            return f"https://{self.host}:{self.port}"

        @property
        def accepted(self) -> int:
            return self._server.accepted  # type: ignore[union-attr]

        def start(self, verbose: bool = False) -> TLSFakeCanvas:
            self._server = CountingTLSServer((self.host, self.port), self.fake)
            self._server.verbose = verbose  # type: ignore[attr-defined]
            self.port = self._server.server_address[1]
            self.fake.base_url = self.url
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
            return self

    return TLSFakeCanvas(fake).start()


def with_session(user) -> int:
    from canvas_oauth.api import CanvasSession

    with CanvasSession.for_user(user) as session:
        return sum(1 for _ in session.paginate("courses"))


def with_requests_get(base_url: str, token: str) -> int:
    import requests

    url = f"{base_url}/api/v1/courses?per_page={PER_PAGE}"
    headers = {"Authorization": f"Bearer {token}"}
    items = 0
    while url:
        response = requests.get(url, headers=headers, timeout=30)
        response.raise_for_status()
        items += len(response.json())
        url = response.links.get("next", {}).get("url")
    return items


def measure(live, fn) -> dict:
    from canvas_oauth import api

    # A new process's first walk: no connection kept from an earlier round.
    for adapter in api._adapters.values():
        adapter.close()
    before_conn, before_calls = live.accepted, live.fake.calls["courses"]
    t0 = time.perf_counter()
    items = fn()
    wall = time.perf_counter() - t0
    time.sleep(0.05)  # let the server thread count the last accept
    return {
        "items": items,
        "pages": live.fake.calls["courses"] - before_calls,
        "connections": live.accepted - before_conn,
        "wall_ms": round(wall * 1000, 1),
    }


def run(pages: int, rounds: int, latency: float) -> dict:
    import trustme

    from canvas_oauth.testing import FakeCanvas

    common.setup_django(common.url_for("sqlite", "_api_pages"))
    from django.conf import settings

    ca = trustme.CA()
    tmp = tempfile.TemporaryDirectory()
    bundle = Path(tmp.name) / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)  # both arms verify against the test CA

    fake = FakeCanvas(
        client_id=settings.CANVAS_OAUTH_CLIENT_ID, client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET
    )
    fake.latency["api"] = latency
    fake.add_courses(n=pages * PER_PAGE)
    live = tls_fake_canvas(fake, ca)
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = live.url
    user, grant = common.user_with_fake_token(fake, live.url, "pages")
    arms = {
        "canvas_session": lambda: with_session(user),
        "requests_get": lambda: with_requests_get(live.url, grant["access_token"]),
    }
    samples: dict[str, list[dict]] = {name: [] for name in arms}
    try:
        for fn in arms.values():  # warm-up: imports, the token row, first TLS set-up
            measure(live, fn)
        for i in range(rounds):
            order = list(arms) if i % 2 == 0 else list(reversed(arms))
            for name in order:
                samples[name].append(measure(live, arms[name]))
    finally:
        live.stop()
        tmp.cleanup()
    summary = {}
    for name, rows in samples.items():
        summary[name] = {
            "items": rows[0]["items"],
            "pages": rows[0]["pages"],
            "connections": max(r["connections"] for r in rows),
            "connections_per_round": [r["connections"] for r in rows],
            "wall_ms_median": round(statistics.median(r["wall_ms"] for r in rows), 1),
            "wall_ms_each": [r["wall_ms"] for r in rows],
        }
    import ssl as _ssl

    return {
        "pages": pages,
        "per_page": PER_PAGE,
        "rounds": rounds,
        "api_latency_ms": latency * 1000,
        "tls": _ssl.OPENSSL_VERSION,
        "arms": summary,
        "wall_ratio_requests_to_session": round(
            summary["requests_get"]["wall_ms_median"] / summary["canvas_session"]["wall_ms_median"],
            2,
        ),
    }


LABELS = {"canvas_session": "CanvasSession.paginate", "requests_get": "requests.get per page"}


def table(result: dict) -> list[str]:
    lines = [
        "| client | pages | items | connections opened | wall ms (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in result["arms"].items():
        lines.append(
            f"| {LABELS[name]} | {s['pages']} | {s['items']:,} | {s['connections']} | "
            f"{s['wall_ms_median']} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per API call")
    options = parser.parse_args()
    result = run(options.pages, options.rounds, options.latency)
    common.emit(result, "api_pages")
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
