"""Pace one access token across processes and hosts, through a shared cache (Redis).

``pacing`` paces the threads of one process; processes sharing a token cannot see each
other's calls in flight, so together they send more than Canvas's bucket admits, and the
refused calls wait seconds by Canvas's rule. With ``CANVAS_OAUTH_PACING_CACHE`` naming a
Django cache every process reaches, the pace lives there instead, per token digest:

- a sequence number, counted up with the cache's atomic ``incr`` for each call sent;
- Canvas's last figure of the room left, when it came, and the number of the call whose
  answer said it.

As in ``pacing``, calls sent before the one whose answer gave the figure are in Canvas's
figure, and those sent after it may not be: a call about to go takes its number ``n``
(``incr``), and with the figure ``r`` from call ``m``, the room is ``r`` plus what leaked
since, less 50 units for each of the ``n - 1 - m`` calls sent since. When Canvas would not
admit it, it gives its number back (``decr``) and waits. ``incr`` hands each caller its own
number, so no two processes take the same room; a figure only replaces one from an earlier
call, so answers that overtake each other do not make the room look larger.

A cache that fails (down, unreachable) never fails a call: the call is paced by its
process alone, and a warning is logged.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.cache import caches
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf, pacing

logger = logging.getLogger(__name__)

# How long the shared pace outlives its last answer, in seconds.
TTL = 600
# A waiting call looks again this often: another process's answer may free room sooner.
POLL = 0.05
# Logged once per this many seconds while the cache keeps failing.
WARN_EVERY = 60.0

_last_warning = [-WARN_EVERY]


class AnyPace(Protocol):
    """What ``api`` needs of a pace, the process's own or a shared one."""

    def acquire(self, deadline: float) -> Any: ...

    def release(self, ticket: Any, remaining: float | None) -> None: ...


@dataclass(frozen=True)
class Ticket:
    """A call's place: its number in the shared pace, or (the cache failing) the process's."""

    shared: bool
    number: int = 0
    local: int | None = None


class SharedPace:
    """The pace of one access token in a shared cache; the process's ``Pace`` as fallback."""

    def __init__(self, cache: Any, digest: str, bucket: pacing.Bucket, local: pacing.Pace):
        self.cache = cache
        self.bucket = bucket
        self.local = local
        self._sent = f"canvas_oauth:pace:{digest}:n"
        self._figure = f"canvas_oauth:pace:{digest}:fig"

    def acquire(self, deadline: float) -> Ticket:
        """Wait for room (never past the monotonic ``deadline``); return the call's ticket."""
        try:
            number = self._acquire(deadline)
        except Exception as exc:  # the shared cache failed: pace this process alone
            _warn(exc)
            return Ticket(shared=False, local=self.local.acquire(deadline))
        return Ticket(shared=True, number=number)

    def release(self, ticket: Ticket, remaining: float | None) -> None:
        """Count the call as answered; share the room Canvas reported, if any."""
        if not ticket.shared:
            assert ticket.local is not None
            self.local.release(ticket.local, remaining)
            return
        try:
            if remaining is not None:
                newest = self.cache.get(self._figure)
                if newest is None or newest[2] <= ticket.number:
                    figure = (self.bucket.room(remaining), time.time(), ticket.number)
                    self.cache.set(self._figure, figure, TTL)
            self.cache.touch(self._sent, TTL)
        except Exception as exc:
            _warn(exc)

    def _acquire(self, deadline: float) -> int:
        held_back = False
        while True:
            number = self._take_number()
            wait = min(self._delay(number), deadline - time.monotonic())
            if wait <= 0:
                return number
            self.cache.decr(self._sent)  # not sent: the number goes back
            if not held_back:
                held_back = True
                self.local.waits += 1
            time.sleep(min(wait, POLL))

    def _delay(self, number: int) -> float:
        """Return how long call ``number`` waits until Canvas would admit it."""
        b = self.bucket
        figure = self.cache.get(self._figure)
        if figure is None:  # expired apart from the count: Canvas's refusals will tell
            return 0.0
        remaining, at, reported_by = figure
        room = min(b.high_water, remaining + b.leak_rate * max(0.0, time.time() - at))
        return b.admitted_after(room - b.up_front_cost * max(0, number - 1 - reported_by))

    def _take_number(self) -> int:
        if self.cache.add(self._sent, 0, TTL):
            # A new pace: a full bucket, as Canvas has not said otherwise.
            self.cache.set(self._figure, (self.bucket.high_water, time.time(), 0), TTL)
        return int(self.cache.incr(self._sent))


@sensitive_variables("access_token")
def for_token(access_token: str, bucket: pacing.Bucket) -> AnyPace:
    """Return the pace of ``access_token``: shared when ``CANVAS_OAUTH_PACING_CACHE`` is set."""
    local = pacing.for_token(access_token, bucket)
    alias = conf.settings.pacing_cache
    if not alias:
        return local
    digest = hashlib.sha256(access_token.encode()).hexdigest()
    return SharedPace(caches[alias], digest, bucket, local)


def _warn(exc: Exception) -> None:
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY:
        _last_warning[0] = now
        logger.warning(
            "The pacing cache %r failed (%s); pacing API calls per process meanwhile",
            conf.settings.pacing_cache,
            type(exc).__name__,
        )
