"""The breaker of one Canvas instance: when it opens, fails fast, probes and closes."""

import logging

import pytest

from canvas_oauth import breaker
from canvas_oauth.breaker import CLOSED, OPEN, PROBING, Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def canvas(clock, settings):
    settings.CANVAS_OAUTH_BREAKER_THRESHOLD = 3
    settings.CANVAS_OAUTH_BREAKER_COOLDOWN = 30
    return Breaker("canvas.example.edu", clock=clock)


def test_it_opens_when_several_tokens_fail_in_a_row(canvas, caplog):
    for token in ("a", "b"):
        canvas.failed(token)
        assert canvas.allow()
    canvas.failed("c")
    assert canvas.state == OPEN
    assert not canvas.allow()
    assert "canvas.example.edu: refreshes of 3 tokens failed in a row" in caplog.text


def test_one_slow_token_never_trips_it(canvas):
    for _ in range(50):
        canvas.failed("the same slow user's token")
    assert canvas.state == CLOSED and canvas.allow()


def test_a_success_in_between_starts_the_count_again(canvas):
    canvas.failed("a")
    canvas.failed("b")
    canvas.succeeded()
    canvas.failed("c")
    canvas.failed("d")
    assert canvas.state == CLOSED


def test_failures_far_apart_do_not_add_up(canvas, clock):
    canvas.failed("a")
    clock.now += 20
    canvas.failed("b")
    clock.now += 20  # "a" is over 30 s old now
    canvas.failed("c")
    assert canvas.state == CLOSED
    canvas.failed("d")
    assert canvas.state == OPEN


def test_after_the_cool_down_one_request_probes(canvas, clock, caplog):
    caplog.set_level(logging.INFO)
    for token in "abc":
        canvas.failed(token)
    clock.now += 29.9
    assert not canvas.allow()
    clock.now += 0.1
    assert canvas.allow()  # the probe
    assert canvas.state == PROBING
    assert not canvas.allow()  # everyone else still fails fast
    assert "cool-down over, letting one refresh probe" in caplog.text


def test_a_good_probe_closes_it(canvas, clock, caplog):
    for token in "abc":
        canvas.failed(token)
    clock.now += 30
    assert canvas.allow()
    canvas.succeeded()
    assert canvas.state == CLOSED
    assert canvas.allow() and canvas.allow()
    assert "answers again; refreshes resume" in caplog.text


def test_a_failed_probe_opens_it_for_another_cool_down(canvas, clock):
    for token in "abc":
        canvas.failed(token)
    clock.now += 30
    assert canvas.allow()
    canvas.failed("d")
    assert canvas.state == OPEN
    clock.now += 29
    assert not canvas.allow()
    clock.now += 1
    assert canvas.allow()


def test_settings_are_read_when_used(canvas, settings):
    settings.CANVAS_OAUTH_BREAKER_THRESHOLD = 1
    canvas.failed("a")
    assert canvas.state == OPEN


def test_each_canvas_instance_has_its_own_breaker(settings):
    settings.CANVAS_OAUTH_BREAKER_THRESHOLD = 1
    breaker.reset()
    try:
        breaker.for_domain("canvas.east.edu").failed("a")
        assert not breaker.for_domain("canvas.east.edu").allow()
        assert breaker.for_domain("canvas.west.edu").allow()
        assert breaker.for_domain("canvas.east.edu") is breaker.for_domain("canvas.east.edu")
    finally:
        breaker.reset()
