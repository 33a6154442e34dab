"""Pace one access token across processes and hosts, through a shared cache (Redis).

``pacing`` paces the threads of one process; processes sharing a token cannot see each
other's calls in flight, so together they send more than Canvas's bucket admits, and the
refused calls wait seconds by Canvas's rule. With ``CANVAS_OAUTH_PACING_CACHE`` naming a
Django cache every process reaches, the pace lives there instead, per token digest:

- the calls in flight, counted up with the cache's atomic ``incr`` when a call is sent
  and down when it is answered, under the window of ``WINDOW`` seconds it was sent in;
- the real cost the bucket held at the last answer, and when that answer came.

Canvas's figure of the room left already holds the up-front cost of every other call in
flight at Canvas, so an answer reporting ``r`` while ``k`` other calls are counted in
flight says the bucket holds ``high_water - r - 50 k`` of real cost (``Bucket.base``).
That leaks; the calls in flight now hold 50 each; a call goes while the room left would
admit it (``Bucket.room_now``). A call about to go counts itself in first and looks
again: ``incr`` hands each caller its own count, so no two processes take the same room;
one that lost the room counts itself out and waits.

A process that dies with calls in flight cannot count them out: only the windows of the
last ``HORIZON`` are summed, so its calls stop holding room after a minute at most (as
would a call still in flight that long; Canvas refuses what does not fit, and the call is
retried). Each host reads its own clock for the windows and the leak; hosts whose clocks
differ by seconds see a little more room than there is.

One thread per process at a time looks at the cache for room, the others wait their
turn: calls go in about the order they came, and the cache is asked less often.

A cache that fails (down, unreachable) never fails a call: the call is paced by its
process alone, and a warning is logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.cache import caches
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf, pacing

logger = logging.getLogger(__name__)

# How long the shared pace outlives its last answer, in seconds.
TTL = 600
# Calls in flight are counted under the window they were sent in, this many seconds long;
# the last HORIZON windows (and the next, for a host whose clock is ahead) are summed.
WINDOW = 10.0
HORIZON = 6
# A call waiting its turn looks again this often: another process's answer may free room.
POLL = 0.01
# Logged once per this many seconds while the cache keeps failing.
WARN_EVERY = 60.0

_last_warning = [-WARN_EVERY]


class AnyPace(Protocol):
    """What ``api`` needs of a pace, the process's own or a shared one."""

    def acquire(self, deadline: float) -> Any: ...

    def release(self, ticket: Any, remaining: float | None) -> None: ...


@dataclass(frozen=True)
class Ticket:
    """A call's place: its window's key in the shared pace, or (cache failing) the process's."""

    shared: bool
    key: str = ""
    local: int | None = None


class SharedPace:
    """The pace of one access token in a shared cache; the process's ``Pace`` as fallback."""

    def __init__(self, alias: str, digest: str, bucket: pacing.Bucket, local: pacing.Pace):
        self.alias = alias
        self.bucket = bucket
        self.local = local
        self._prefix = f"canvas_oauth:pace:{digest}"
        self._figure = f"{self._prefix}:base"
        self._turn = threading.Lock()  # the thread of this process looking for room

    @property
    def cache(self) -> Any:
        return caches[self.alias]  # Django's cache connections are per thread

    def acquire(self, deadline: float) -> Ticket:
        """Wait for room (never past the monotonic ``deadline``); return the call's ticket."""
        try:
            key = self._acquire(deadline)
        except Exception as exc:  # the shared cache failed: pace this process alone
            _warn(exc)
            return Ticket(shared=False, local=self.local.acquire(deadline))
        return Ticket(shared=True, key=key)

    def release(self, ticket: Ticket, remaining: float | None) -> None:
        """Count the call out of those in flight; share what Canvas's figure says, if any."""
        if not ticket.shared:
            assert ticket.local is not None
            self.local.release(ticket.local, remaining)
            return
        try:
            if remaining is not None:
                in_flight, _ = self._look(time.time())
                base = self.bucket.base(remaining, max(0, in_flight - 1))  # less this one
                self.cache.set(self._figure, (base, time.time()), TTL)
            self._count_out(ticket.key)
        except Exception as exc:
            _warn(exc)

    def _acquire(self, deadline: float) -> str:
        if not self._turn.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return self._count_in()[0]  # the deadline came first: go as a late call does
        try:
            held_back = False
            while True:
                late = deadline - time.monotonic() <= 0
                if late or self._delay(*self._look(time.time())) <= 0:
                    key, in_flight, figure = self._count_in()
                    # Counted in, this call sees every call counted before it.
                    if late or self._delay(in_flight - 1, figure) <= 0:
                        return key
                    self._count_out(key)  # another process took the room first
                if not held_back:
                    held_back = True
                    self.local.waits += 1
                time.sleep(POLL)
        finally:
            self._turn.release()

    def _delay(self, in_flight: int, figure: tuple[float, float] | None) -> float:
        """Return how long a call waits for room with ``in_flight`` other calls out."""
        base, at = (0.0, 0.0) if figure is None else figure  # none yet: an empty bucket
        room = self.bucket.room_now(base, time.time() - at, in_flight)
        return self.bucket.admitted_after(room)

    def _windows(self, now: float) -> list[str]:
        current = int(now // WINDOW)
        return [f"{self._prefix}:w{w}" for w in range(current - HORIZON + 1, current + 2)]

    def _look(self, now: float, skip: str = "") -> tuple[int, Any]:
        """Return the calls counted in flight (but under ``skip``), and the last figure."""
        keys = [w for w in self._windows(now) if w != skip]
        found = self.cache.get_many([*keys, self._figure])
        return sum(int(found.get(w, 0)) for w in keys), found.get(self._figure)

    def _count_in(self) -> tuple[str, int, Any]:
        """Count a call in under the current window; return its key, the calls in flight
        (itself included) and the last figure."""
        now = time.time()
        key = self._windows(now)[-2]
        try:
            mine = int(self.cache.incr(key))
        except ValueError:  # the window's first call
            self.cache.add(key, 0, int(WINDOW * (HORIZON + 2)))
            mine = int(self.cache.incr(key))
        others, figure = self._look(now, skip=key)
        return key, mine + others, figure

    def _count_out(self, key: str) -> None:
        with contextlib.suppress(ValueError):  # its window expired: no longer counted anyway
            self.cache.decr(key)


_paces: OrderedDict[tuple[str, str], SharedPace] = OrderedDict()
_lock = threading.Lock()


@sensitive_variables("access_token")
def for_token(access_token: str, bucket: pacing.Bucket) -> AnyPace:
    """Return the pace of ``access_token``: shared when ``CANVAS_OAUTH_PACING_CACHE`` is set."""
    local = pacing.for_token(access_token, bucket)
    alias = conf.settings.pacing_cache
    if not alias:
        return local
    digest = hashlib.sha256(access_token.encode()).hexdigest()
    with _lock:
        pace = _paces.get((alias, digest))
        if pace is None or pace.local is not local or pace.bucket != bucket:
            pace = _paces[alias, digest] = SharedPace(alias, digest, bucket, local)
            if len(_paces) > pacing.MAX_TOKENS:
                _paces.popitem(last=False)
        else:
            _paces.move_to_end((alias, digest))
        return pace


def _warn(exc: Exception) -> None:
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY:
        _last_warning[0] = now
        logger.warning(
            "The pacing cache %r failed (%s); pacing API calls per process meanwhile",
            conf.settings.pacing_cache,
            type(exc).__name__,
        )
