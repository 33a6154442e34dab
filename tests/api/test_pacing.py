"""The pace of one access token: what Canvas last reported, what leaked since, what is held."""

import threading
import time

import pytest

from canvas_oauth import pacing

CANVAS = pacing.Bucket(high_water=600.0, leak_rate=10.0, up_front_cost=50.0, maximum=800.0)


def reported(remaining, now=0.0):
    """Return a pace to which Canvas answered one request with ``remaining``."""
    pace = pacing.Pace(CANVAS)
    pace.release(pace.acquire(deadline=0.0), remaining=remaining, now=now)
    return pace


def test_a_token_canvas_has_not_reported_on_goes_at_once():
    assert pacing.Pace(CANVAS).delay(now=0.0) == 0.0


def test_requests_in_flight_hold_room_until_a_dozen_would_fill_the_bucket():
    pace = pacing.Pace(CANVAS)
    for _ in range(11):
        assert pace.delay(now=0.0) == 0.0
        pace.acquire(deadline=0.0)
    # 11 x 50 held: one more would leave no room for anyone else's request.
    assert pace.delay(now=0.0) > 0.0


def test_after_a_report_the_next_request_waits_until_canvas_would_admit_it():
    # Canvas adds the 50 up front and refuses at a full bucket: a request goes in while
    # more than 50 units are left (one unit of margin here), 10 units leaking a second.
    pace = reported(40.0, now=100.0)
    assert pace.delay(now=100.0) == pytest.approx(1.1)  # (50 - 40) / 10, and the margin
    assert pace.delay(now=100.5) == pytest.approx(0.6)
    assert pace.delay(now=101.2) == 0.0


@pytest.mark.parametrize(("remaining", "wait"), [(0.0, 5.1), (45.0, 0.6), (-150.0, 20.1)])
def test_a_throttled_answer_holds_everyone_back_as_long_as_canvas_will(remaining, wait):
    assert reported(remaining).delay(now=0.0) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("remaining", "wait"), [(-1e300, 25.1), (-801.0, 25.1), (1e300, 0.0), (601.0, 0.0)]
)
def test_figures_canvas_cannot_report_are_clamped_to_the_bucket(remaining, wait):
    # The bucket holds 0 to 800 units: Canvas reports from 600 - 800 to 600 left.
    assert reported(remaining).delay(now=0.0) == pytest.approx(wait)


def test_without_a_maximum_the_room_never_goes_below_empty():
    bucket = pacing.Bucket(high_water=600.0, leak_rate=10.0, up_front_cost=50.0)
    assert bucket.room(-1e300) == 0.0
    assert pacing.Bucket(600.0, 0.0, 50.0).admitted_after(0.0) == 0.0  # no leak: no pacing


def test_requests_sent_after_the_report_count_against_it():
    pace = reported(300.0)
    for _ in range(4):
        pace.acquire(deadline=0.0)
    # 300 reported, 4 x 50 sent since: 100 left, room for one more.
    assert pace.delay(now=0.0) == 0.0
    pace.acquire(deadline=0.0)
    # 50 left: Canvas would refuse (its bucket full with the request's own 50 in).
    assert pace.delay(now=0.0) == pytest.approx(0.1)


def test_an_answer_that_overtook_later_requests_does_not_forget_them():
    pace = pacing.Pace(CANVAS)
    first = pace.acquire(deadline=0.0)
    later = [pace.acquire(deadline=0.0) for _ in range(4)]
    # Canvas counted the four later requests in flight when it answered the first...
    pace.release(later[0], remaining=400.0, now=0.0)
    # ...but the first's answer, arriving last, was written before three of them arrived.
    pace.release(first, remaining=300.0, now=0.0)
    # 300 less the three still in flight that were sent after the first: 150 left.
    assert pace.delay(now=0.0) == 0.0
    pace.acquire(deadline=0.0)
    assert pace.delay(now=0.0) == 0.0
    pace.acquire(deadline=0.0)
    assert pace.delay(now=0.0) == pytest.approx(0.1)


def test_the_room_never_exceeds_a_full_bucket():
    pace = reported(0.0)
    for _ in range(11):
        pace.acquire(deadline=0.0)  # past deadlines: sent without waiting
    # An hour of leaking fills the bucket, not more: 11 in flight still hold it back.
    assert pace.delay(now=3600.0) > 0.0


def test_a_waiting_thread_goes_when_an_answer_frees_room():
    pace = pacing.Pace(CANVAS)
    tickets = [pace.acquire(deadline=0.0) for _ in range(11)]
    sent = threading.Event()

    def caller():
        pace.acquire(deadline=float("inf"))
        sent.set()

    thread = threading.Thread(target=caller)
    thread.start()
    while not pace.waits:  # until the caller is held back
        time.sleep(0.001)
    assert not sent.is_set()
    pace.release(tickets[-1], remaining=500.0)  # Canvas says there is room after all
    thread.join()
    assert sent.is_set()
    assert pace.waits == 1


def test_each_token_has_one_pace_kept_under_a_digest():
    first = pacing.for_token("1~token-a", CANVAS)
    assert pacing.for_token("1~token-a", CANVAS) is first
    assert pacing.for_token("1~token-b", CANVAS) is not first
    assert all("token" not in key for key in pacing._paces)
