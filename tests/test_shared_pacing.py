"""Pacing shared through Redis: processes on one token send what Canvas's bucket admits.

The workers run in spawned processes, which import this module before Django is set up:
Django and canvas_oauth are imported inside the functions.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import uuid

import pytest

PROCESSES = 4
THREADS = 4
LATENCY = 0.5  # every call holds its 50 units this long: the first calls all overlap


def _pace_worker(url: str, token: str, shared: bool, barrier, results) -> None:
    """One process: THREADS threads make two calls each, paced, and report the statuses."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    import requests
    from django.conf import settings

    from canvas_oauth import canvas, shared_pacing

    settings.CANVAS_OAUTH_PACING_CACHE = "redis" if shared else None
    statuses: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        with requests.Session() as http:
            for _ in range(2):
                pace = shared_pacing.for_token(token, canvas.THROTTLE_BUCKET)
                ticket = pace.acquire(time.monotonic() + 30)
                remaining = None
                try:
                    answer = http.get(url, headers={"Authorization": f"Bearer {token}"})
                    remaining = canvas.rate_limit_remaining(answer)
                finally:
                    pace.release(ticket, remaining)
                with lock:
                    statuses.append(answer.status_code)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    barrier.wait(60)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(statuses)


def run_processes(shared: bool) -> tuple[list[int], int]:
    """Return the statuses PROCESSES processes got on one token, and Canvas's refusals."""
    from canvas_oauth.testing import FakeCanvas, LiveFakeCanvas

    fake = FakeCanvas()
    fake.latency["api"] = LATENCY
    token = fake.issue_token()["access_token"]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    with LiveFakeCanvas(fake) as live:
        url = f"{live.url}/api/v1/users/self"
        workers = [
            context.Process(target=_pace_worker, args=(url, token, shared, barrier, results))
            for _ in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        statuses = [s for _ in workers for s in results.get(timeout=120)]
        for worker in workers:
            worker.join(30)
    return statuses, fake.calls["throttled"]


def test_processes_sharing_a_pace_in_redis_are_never_refused():
    # 16 threads in 4 processes on one token, where Canvas admits 11 calls in flight.
    statuses, refused = run_processes(shared=True)
    assert statuses == [200] * (PROCESSES * THREADS * 2)
    assert refused == 0


def test_processes_pacing_alone_overfill_the_bucket():
    # The same load, each process pacing on its own: each lets its 4 calls go at once.
    statuses, refused = run_processes(shared=False)
    assert refused > 0
    assert statuses.count(429) == refused


# -- In one process ---------------------------------------------------------------------------


@pytest.fixture
def shared_pace():
    from django.core.cache import caches

    from canvas_oauth import pacing, shared_pacing

    quick = pacing.Bucket(600.0, 1000.0, 50.0, 800.0)  # leaks a hundred times faster
    local = pacing.Pace(quick)
    return shared_pacing.SharedPace(caches["redis"], uuid.uuid4().hex, quick, local)


def test_a_call_waits_for_the_room_another_process_reported(shared_pace):
    # Another process's answer said the bucket was full: the call waits for the leak.
    shared_pace.release(shared_pace.acquire(time.monotonic() + 5), remaining=0.0)
    assert shared_pace.acquire(time.monotonic() + 5).shared
    assert shared_pace.local.waits == 1


def test_an_older_figure_never_replaces_a_newer_one(shared_pace):
    first = shared_pace.acquire(time.monotonic() + 5)
    second = shared_pace.acquire(time.monotonic() + 5)
    shared_pace.release(second, remaining=500.0)
    shared_pace.release(first, remaining=550.0)  # overtaken: said before the second went
    assert shared_pace.cache.get(shared_pace._figure)[0::2] == (500.0, second.number)


def test_an_expired_figure_lets_calls_go(shared_pace):
    shared_pace.acquire(time.monotonic() + 5)
    shared_pace.cache.delete(shared_pace._figure)
    assert shared_pace.acquire(time.monotonic() + 5).number == 2
    assert shared_pace.local.waits == 0


@pytest.mark.django_db
def test_calls_go_on_paced_per_process_when_the_cache_is_down(
    fake_canvas, stored_token, user, settings, caplog
):
    from canvas_oauth.api import CanvasSession

    settings.CACHES = {
        **settings.CACHES,
        # Nothing listens on port 1: every cache call fails at once.
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        },
    }
    settings.CANVAS_OAUTH_PACING_CACHE = "down"
    caplog.set_level(logging.WARNING, logger="canvas_oauth.shared_pacing")
    session = CanvasSession.for_user(user)
    assert [session.get("users/self").status_code for _ in range(3)] == [200, 200, 200]
    assert "pacing API calls per process meanwhile" in caplog.text


@pytest.mark.parametrize(
    ("alias", "ids"),
    [
        (None, []),
        ("redis", []),
        ("nope", ["canvas_oauth.E025"]),
        ("default", ["canvas_oauth.W006"]),  # local memory: each process its own
        ("db", ["canvas_oauth.W006"]),  # the database cache's incr is not atomic
    ],
)
def test_the_check_names_a_cache_that_cannot_share_a_pace(settings, alias, ids):
    from canvas_oauth.checks import check_pacing_cache

    settings.CANVAS_OAUTH_PACING_CACHE = alias
    assert [message.id for message in check_pacing_cache()] == ids
