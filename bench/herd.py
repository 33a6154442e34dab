"""The herd: N threads need one expired token at once; Canvas should see one refresh.

    python -m bench.herd [--db postgres] [--sizes 1,8,32,128] [--latency 0.15]

The fake Canvas runs on loopback (real HTTP) and takes ``--latency`` seconds to answer
a token request. Every thread builds its own request and calls get_oauth_token when a
barrier releases them all; its wait is the time from the release to the token in hand.
Each thread connects to the database before the release (as a server thread with a
persistent connection would be) and closes its connection when it is done.

PostgreSQL's max_connections bounds how many threads can hold a connection at once. If
N is larger than the free connection slots, threads take a slot from a semaphore (a
stand-in for a connection pool) before their first query; the time spent waiting for a
slot is part of their wait, and the result says so.

After the rounds with an expired token, one round per N runs on a fresh token (no refresh):
the CPU floor of N threads doing the hot path in one process.
"""

from __future__ import annotations

import argparse
import threading
import time

from bench import common


def connection_slots() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        max_connections = int(cursor.fetchone()[0])
        cursor.execute("SHOW superuser_reserved_connections")
        reserved = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
        in_use = int(cursor.fetchone()[0])
    margin = 10  # other sessions (the test suites of other people) may connect meanwhile
    return {
        "max_connections": max_connections,
        "superuser_reserved_connections": reserved,
        "client_connections_in_use_before": in_use,
        "usable_for_bench": max(1, max_connections - reserved - in_use - margin),
    }


def one_round(
    n: int, user, fake, domain: str, slots: int, latency: float, expired: bool = True
) -> dict:
    from datetime import timedelta

    from django.db import connection
    from django.test import RequestFactory
    from django.utils import timezone

    from canvas_oauth.models import CanvasOAuth2Token
    from canvas_oauth.oauth import get_oauth_token

    CanvasOAuth2Token.objects.filter(user=user).delete()
    grant = fake.issue_token()
    CanvasOAuth2Token.objects.create(
        user=user,
        domain=domain,
        access_token=grant["access_token"],
        refresh_token=grant["refresh_token"],
        expires=timezone.now() + (timedelta(seconds=-1) if expired else timedelta(hours=1)),
    )
    if expired:
        fake.expire_access_tokens()
    fake.calls.clear()
    fake.latency["token"] = latency
    connection.close()

    factory = RequestFactory()
    gate = threading.BoundedSemaphore(slots) if n > slots else None
    barrier = threading.Barrier(n)
    waits: list[float | None] = [None] * n
    results: list[str | None] = [None] * n
    errors: list[str] = []

    def work(i: int) -> None:
        request = factory.get("/canvas/")
        request.user = user
        try:
            if gate is None:
                # Like a server thread with a persistent connection: connected beforehand.
                connection.ensure_connection()
            barrier.wait(timeout=30)
            start = time.perf_counter_ns()
            if gate is not None:
                gate.acquire()
            try:
                results[i] = get_oauth_token(request)
            finally:
                connection.close()
                if gate is not None:
                    gate.release()
            waits[i] = (time.perf_counter_ns() - start) / 1e6
        except BaseException as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    done = [w for w in waits if w is not None]
    return {
        "threads": n,
        "expired": expired,
        "refresh_calls": fake.calls["token:refresh_token"],
        "distinct_tokens_returned": len({r for r in results if r is not None}),
        "token_is_live": bool(results[0]) and fake.is_live(results[0]),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
        "connection_gate": slots if gate is not None else None,
        "wait_ms_p50": round(common.percentile(done, 50), 1) if done else None,
        "wait_ms_p99": round(common.percentile(done, 99), 1) if done else None,
        "wait_ms_max": round(max(done), 1) if done else None,
    }


def run(db: str, sizes: list[int], latency: float, repeats: int) -> dict:
    from canvas_oauth.testing import FakeCanvas, LiveFakeCanvas

    common.setup_django(common.url_for(db, "_herd"))
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from canvas_oauth import conf

    fake = FakeCanvas(
        client_id=settings.CANVAS_OAUTH_CLIENT_ID, client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET
    )
    live = LiveFakeCanvas(fake).start()
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = live.url  # read on every access, so this sticks
    domain = conf.domain_key(live.url)
    user = get_user_model().objects.create_user("herd", password="pw")
    slots = connection_slots() if db == "postgres" else {"usable_for_bench": 10_000}
    rounds = []
    try:
        for n in sizes:
            for _ in range(repeats):
                rounds.append(one_round(n, user, fake, domain, slots["usable_for_bench"], latency))
            # The same herd on a fresh token: what N threads cost with no refresh at all.
            rounds.append(
                one_round(n, user, fake, domain, slots["usable_for_bench"], latency, expired=False)
            )
    finally:
        live.stop()
    return {
        "database": common.db_version(),
        "refresh_latency_ms": latency * 1000,
        "connections": slots,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--sizes", default="1,8,32,128")
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    common.emit(run(options.db, sizes, options.latency, options.repeats), f"herd_{options.db}")


if __name__ == "__main__":
    main()
