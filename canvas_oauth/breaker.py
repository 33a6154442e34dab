"""A circuit breaker per Canvas instance, for refreshes, kept in each process.

When refreshes at one Canvas keep failing (timeouts, 5xx, unreadable answers), sending
every new request into a full timeout only holds server threads. The breaker then opens:
refreshes fail fast for a cool-down, after which one request probes Canvas. A success
closes it again.

One slow or broken token must not trip it for everyone, so it counts *tokens*: it opens
when ``CANVAS_OAUTH_BREAKER_THRESHOLD`` different tokens failed with no success at that
Canvas in between, within ``CANVAS_OAUTH_BREAKER_COOLDOWN`` seconds of each other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

from canvas_oauth import conf

logger = logging.getLogger(__name__)

CLOSED, OPEN, PROBING = "closed", "open", "probing"


class Breaker:
    """The breaker of one Canvas instance. Thread-safe."""

    def __init__(self, domain: str, clock: Callable[[], float] | None = None) -> None:
        self.domain = domain
        self.clock = clock
        self.state = CLOSED
        self.opened_at = 0.0
        self._failures: dict[Hashable, float] = {}  # token → when it last failed
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self.clock() if self.clock is not None else _clock()

    def allow(self) -> bool:
        """Tell whether a refresh may go to Canvas now.

        Closed: yes. Open: no, until the cool-down has passed; then yes for exactly one
        caller, the probe, and no for the others until its outcome is recorded.
        """
        with self._lock:
            if self.state == CLOSED:
                return True
            if self.state == OPEN and self._now() - self.opened_at >= _cooldown():
                self.state = PROBING
                logger.info("Canvas at %s: cool-down over, letting one refresh probe", self.domain)
                return True
            return False

    def succeeded(self) -> None:
        """Record a refresh Canvas answered (a refusal such as a dead token included)."""
        with self._lock:
            if self.state != CLOSED:
                logger.warning("Canvas at %s answers again; refreshes resume", self.domain)
            self.state = CLOSED
            self._failures.clear()

    def failed(self, token: Hashable) -> None:
        """Record that a refresh of ``token`` timed out or got no usable answer."""
        with self._lock:
            now = self._now()
            if self.state == PROBING:
                self._open(now, "the probe failed")
                return
            window = _cooldown()
            self._failures = {
                key: when for key, when in self._failures.items() if now - when < window
            }
            self._failures[token] = now
            if self.state == CLOSED and len(self._failures) >= _threshold():
                self._open(now, f"refreshes of {len(self._failures)} tokens failed in a row")

    def _open(self, now: float, why: str) -> None:
        self.state = OPEN
        self.opened_at = now
        self._failures.clear()
        logger.warning(
            "Canvas at %s: %s; failing refreshes fast for %ss", self.domain, why, _cooldown()
        )


def _clock() -> float:
    return time.monotonic()


def _threshold() -> int:
    return int(conf.settings.breaker_threshold)


def _cooldown() -> float:
    return float(conf.settings.breaker_cooldown)


_breakers: dict[str, Breaker] = {}
_breakers_guard = threading.Lock()


def for_domain(domain: str) -> Breaker:
    """Return this process's breaker for the Canvas instance ``domain``."""
    with _breakers_guard:
        breaker = _breakers.get(domain)
        if breaker is None:
            breaker = _breakers[domain] = Breaker(domain)
        return breaker


def reset() -> None:
    """Forget every breaker (for tests, and after reconfiguring instances)."""
    with _breakers_guard:
        _breakers.clear()
