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


def test_the_real_cost_is_canvas_figure_less_the_other_calls_in_flight():
    from canvas_oauth.canvas import THROTTLE_BUCKET as bucket

    # 400 left while 3 other calls held 50 each: 50 units of real cost.
    assert bucket.base(400.0, 3) == 50.0
    # A figure Canvas cannot send is taken as the nearest it can.
    assert bucket.base(-1e300, 0) == 800.0


def test_the_room_is_what_leaked_less_the_calls_in_flight_now():
    from canvas_oauth.canvas import THROTTLE_BUCKET as bucket

    assert bucket.room_now(50.0, 0.0, 3) == 400.0
    assert bucket.room_now(50.0, 2.0, 3) == 420.0  # 20 of the 50 leaked
    assert bucket.room_now(50.0, 60.0, 3) == 450.0  # all of it, never less than nothing
    assert bucket.room_now(0.0, 0.0, 10) == 100.0  # the eleventh call goes
    assert bucket.admitted_after(bucket.room_now(0.0, 0.0, 10)) == 0.0
    assert bucket.admitted_after(bucket.room_now(0.0, 0.0, 11)) > 0.0  # the twelfth waits


@pytest.fixture
def shared_pace():
    from canvas_oauth import pacing, shared_pacing

    quick = pacing.Bucket(600.0, 1000.0, 50.0, 800.0)  # leaks a hundred times faster
    local = pacing.Pace(quick)
    return shared_pacing.SharedPace("redis", uuid.uuid4().hex, quick, local)


def other_process(pace):
    """Return a pace of the same token as another process sees it (its own threads, turn)."""
    from canvas_oauth import pacing, shared_pacing

    digest = pace._prefix.rsplit(":", 1)[1]
    return shared_pacing.SharedPace("redis", digest, pace.bucket, pacing.Pace(pace.bucket))


def test_a_call_waits_for_the_room_another_process_reported(shared_pace):
    # Another process's answer said the bucket was full: the call waits for the leak.
    shared_pace.release(shared_pace.acquire(time.monotonic() + 5), remaining=0.0)
    assert shared_pace.acquire(time.monotonic() + 5).shared
    assert shared_pace.local.waits == 1


def test_answered_calls_give_their_room_back(shared_pace):
    # Twenty calls, each answered before the next: Canvas holds none of them any more.
    for _ in range(20):
        shared_pace.release(shared_pace.acquire(time.monotonic() + 5), remaining=550.0)
    assert shared_pace.acquire(time.monotonic() + 5).shared
    assert shared_pace.local.waits == 0


def test_calls_in_flight_in_other_processes_hold_their_room(shared_pace):
    slow = pacing_bucket_leaking_nothing()
    shared_pace.bucket = slow
    others = other_process(shared_pace)
    held = [others.acquire(time.monotonic() + 5) for _ in range(11)]  # the bucket's 11
    assert others.local.waits == 0
    late = shared_pace.acquire(time.monotonic() + 0.1)  # no room: goes at its deadline
    assert shared_pace.local.waits == 1
    shared_pace.release(late, remaining=None)
    others.release(held[0], remaining=None)  # one answered: its room comes back
    assert shared_pace.acquire(time.monotonic() + 5).shared
    assert shared_pace.local.waits == 1


def test_calls_of_a_process_that_died_stop_holding_room(shared_pace):
    from canvas_oauth import shared_pacing

    shared_pace.bucket = pacing_bucket_leaking_nothing()
    # Eleven calls counted in flight, sent longer ago than the windows summed.
    old = time.time() - shared_pacing.WINDOW * (shared_pacing.HORIZON + 1)
    shared_pace.cache.set(shared_pace._windows(old)[-2], 11, 600)
    assert shared_pace.acquire(time.monotonic() + 5).shared
    assert shared_pace.local.waits == 0


def pacing_bucket_leaking_nothing():
    from canvas_oauth import pacing

    return pacing.Bucket(600.0, 1e-3, 50.0, 800.0)  # a thousandth of a unit a second


def test_an_expired_window_is_counted_out_quietly(shared_pace, caplog):
    ticket = shared_pace.acquire(time.monotonic() + 5)
    shared_pace.cache.delete(ticket.key)
    shared_pace.release(ticket, remaining=None)
    assert "pacing" not in caplog.text


def test_a_call_whose_turn_does_not_come_goes_at_its_deadline(shared_pace):
    with shared_pace._turn:  # another thread of the process waits for room meanwhile
        ticket = shared_pace.acquire(time.monotonic() + 0.05)
    assert ticket.shared
    shared_pace.release(ticket, remaining=None)


def test_an_answer_is_never_failed_by_the_cache_failing(shared_pace, settings):
    settings.CACHES = {
        **settings.CACHES,
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        },
    }
    ticket = shared_pace.acquire(time.monotonic() + 5)
    shared_pace.alias = "down"  # Redis went away while the call was out
    shared_pace.release(ticket, remaining=550.0)  # returns: the answer reaches its caller
    assert not shared_pace.acquire(time.monotonic() + 5).shared  # paced by its process


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


@pytest.mark.django_db
def test_a_cache_that_stays_down_is_warned_of_once_a_minute(
    fake_canvas, stored_token, user, settings, caplog, monkeypatch
):
    from canvas_oauth import shared_pacing
    from canvas_oauth.api import CanvasSession

    settings.CACHES = {
        **settings.CACHES,
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        },
    }
    settings.CANVAS_OAUTH_PACING_CACHE = "down"
    monkeypatch.setattr(shared_pacing, "_last_warning", [-shared_pacing.WARN_EVERY])
    caplog.set_level(logging.WARNING, logger="canvas_oauth.shared_pacing")
    session = CanvasSession.for_user(user)

    def warnings() -> int:
        return sum("per process meanwhile" in r.getMessage() for r in caplog.records)

    for _ in range(5):
        session.get("users/self")
    assert warnings() == 1  # five calls, each failing the cache twice: one line
    shared_pacing._last_warning[0] -= shared_pacing.WARN_EVERY  # a minute passes
    session.get("users/self")
    assert warnings() == 2


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
