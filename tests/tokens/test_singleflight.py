"""Threads asking for the same refresh at once share the one call in flight."""

import threading

import pytest

from canvas_oauth import singleflight
from canvas_oauth.exceptions import TokenRefreshError


def run_together(count, target):
    started = threading.Barrier(count)
    outcomes = [None] * count

    def worker(index):
        started.wait()
        try:
            outcomes[index] = ("ok", target())
        except Exception as exc:
            outcomes[index] = ("error", exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcomes


def slow_call(calls, release, value):
    def call():
        calls.append(1)
        release.wait(5)
        if isinstance(value, Exception):
            raise value
        return value

    return call


def test_one_call_serves_every_waiter():
    calls, release = [], threading.Event()
    call = slow_call(calls, release, {"token": "new"})
    threading.Timer(0.2, release.set).start()
    outcomes = run_together(8, lambda: singleflight.share("key", 5, call))
    assert len(calls) == 1
    assert all(outcome == ("ok", {"token": "new"}) for outcome in outcomes)


def test_waiters_get_the_leaders_error():
    calls, release = [], threading.Event()
    call = slow_call(calls, release, TokenRefreshError())
    threading.Timer(0.2, release.set).start()
    outcomes = run_together(4, lambda: singleflight.share("key", 5, call))
    assert len(calls) == 1
    assert all(kind == "error" and isinstance(exc, TokenRefreshError) for kind, exc in outcomes)


def test_a_waiter_gives_up_after_the_wait():
    calls, release = [], threading.Event()
    leader = threading.Thread(
        target=singleflight.share, args=("slow", 5, slow_call(calls, release, "done"))
    )
    leader.start()
    while not singleflight._flights:
        pass
    with pytest.raises(singleflight.FlightTimeout):
        singleflight.share("slow", 0.05, lambda: "never called")
    release.set()
    leader.join()
    assert singleflight.share("slow", 1, lambda: "a new flight") == "a new flight"


def test_refresh_waiter_that_gives_up_answers_503(user, expired_token, monkeypatch, rf):
    from canvas_oauth import tokens

    def too_slow(key, wait, call):
        raise singleflight.FlightTimeout()

    monkeypatch.setattr(singleflight, "share", too_slow)
    with pytest.raises(TokenRefreshError):
        tokens.refresh(expired_token)
