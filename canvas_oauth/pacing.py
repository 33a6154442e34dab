"""Pace the API calls made with one access token, across every thread of the process.

Canvas throttles per access token with a leaky bucket (see ``canvas``): each request holds
some units while in flight, and the bucket refuses requests once it is full. Reacting to
its refusals alone lets a dozen threads fill it and be refused together. Here every
answer's ``X-Rate-Limit-Remaining`` is noted in the token's ``Pace``, and a thread about to
send waits while the room left (as last reported, plus what leaked since, less what
requests sent after the one that reported it hold) would not admit its request.

Canvas's admission rule (``request_throttle.rb``): a request first adds its up-front cost,
and is refused when the bucket then holds ``high_water`` or more. So a request goes in
while more than its up-front cost of room is left, and after an answer reporting ``r``
units left, the next one is admitted about ``(up_front_cost - r) / leak_rate`` seconds
later. Waiting for more (room for two requests, say) halves the rate after a refusal;
sending sooner is refused again.

Knows no HTTP and no Canvas header: the caller passes the numbers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

# Paces of tokens not used for a while are dropped; a new one starts from a full bucket.
MAX_TOKENS = 1024
# Units of room wanted beyond the up-front cost: Canvas refuses at exactly a full bucket,
# and the calls in flight add their real cost (a fraction of a unit each) when they finish.
MARGIN = 1.0


@dataclass(frozen=True)
class Bucket:
    """The throttle's numbers: units when full, leaked a second, held per request in flight.

    ``maximum`` is the most the bucket holds (the real cost of admitted requests may take
    it past ``high_water``); None when unknown, then taken as ``high_water``.
    """

    high_water: float
    leak_rate: float
    up_front_cost: float
    maximum: float | None = None

    def room(self, remaining: float) -> float:
        """Return ``remaining`` as Canvas can report it: ``high_water - maximum`` to ``high_water``.

        Canvas's bucket never holds less than 0 or more than ``maximum`` units, so a figure
        outside that range is not Canvas's, and is not waited on as if it were.
        """
        floor = self.high_water - (self.high_water if self.maximum is None else self.maximum)
        return min(self.high_water, max(floor, remaining))

    def base(self, remaining: float, others_in_flight: int) -> float:
        """Return the real cost the bucket holds, from an answer reporting ``remaining``.

        Canvas's figure is ``high_water - count`` with the answered call's own up-front cost
        taken back, so ``count`` is the real cost accumulated (it leaks) plus the up-front
        cost of every other call in flight at that moment.
        """
        return self.high_water - self.room(remaining) - self.up_front_cost * others_in_flight

    def room_now(self, base: float, elapsed: float, in_flight: int) -> float:
        """Return the room left ``elapsed`` seconds after ``base`` with ``in_flight`` calls out.

        The real cost leaks (never below nothing); the calls in flight hold their up-front
        cost until answered.
        """
        leaked = self.leak_rate * max(0.0, elapsed)
        return self.high_water - max(0.0, base - leaked) - self.up_front_cost * in_flight

    def admitted_after(self, room: float) -> float:
        """Return how long until a request is admitted with ``room`` units left; 0 now."""
        shortfall = self.up_front_cost + MARGIN - room
        return max(0.0, shortfall / self.leak_rate) if self.leak_rate > 0 else 0.0


class Pace:
    """The bucket of one access token, as this process knows it; safe across threads."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self._cond = threading.Condition()
        self._remaining: float | None = None  # as Canvas last said, None before it did
        self._seen_at = 0.0
        self._seen_ticket = -1  # the request whose answer said it
        self._in_flight: set[int] = set()  # tickets, numbered in the order sent
        self._next_ticket = 0
        self.waits = 0  # how often a request was held back

    def delay(self, now: float) -> float:
        """Return how long a request about to be sent at ``now`` should wait; 0 to go."""
        with self._cond:
            return self._delay(now)

    def _delay(self, now: float) -> float:
        b = self.bucket
        if self._remaining is None:
            room, held = b.high_water, len(self._in_flight)
        else:
            leaked = b.leak_rate * max(0.0, now - self._seen_at)
            room = min(b.high_water, self._remaining + leaked)
            # Requests sent before the one whose answer said it are in Canvas's figure.
            # Those sent after may not be: answers overtake each other, so count them.
            held = sum(1 for ticket in self._in_flight if ticket > self._seen_ticket)
        return b.admitted_after(room - b.up_front_cost * held)

    def acquire(self, deadline: float) -> int:
        """Wait for room (never past the monotonic ``deadline``); return the request's ticket."""
        with self._cond:
            held_back = False
            while True:
                now = time.monotonic()
                wait = min(self._delay(now), deadline - now)
                if wait <= 0:
                    break
                if not held_back:
                    held_back = True
                    self.waits += 1
                # An answer may free room sooner than leaking would: release() wakes us.
                self._cond.wait(wait)
            ticket = self._next_ticket
            self._next_ticket += 1
            self._in_flight.add(ticket)
            return ticket

    def release(self, ticket: int, remaining: float | None, now: float | None = None) -> None:
        """Count request ``ticket`` as answered; note the room Canvas reported, if any."""
        with self._cond:
            self._in_flight.discard(ticket)
            if remaining is not None:
                self._remaining = self.bucket.room(remaining)
                self._seen_at = time.monotonic() if now is None else now
                self._seen_ticket = ticket
            self._cond.notify_all()


_paces: OrderedDict[str, Pace] = OrderedDict()
_lock = threading.Lock()


@sensitive_variables()
def for_token(access_token: str, bucket: Bucket) -> Pace:
    """Return the process's ``Pace`` of ``access_token`` (kept under a digest, not the token)."""
    key = hashlib.sha256(access_token.encode()).hexdigest()
    with _lock:
        pace = _paces.get(key)
        if pace is None:
            pace = _paces[key] = Pace(bucket)
            if len(_paces) > MAX_TOKENS:
                _paces.popitem(last=False)
        else:
            _paces.move_to_end(key)
        return pace
