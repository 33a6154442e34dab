"""A clock that tests can move forward, so expiry is testable without sleeping."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """Tell the time the fake Canvas lives by.

    By default the clock follows real time plus an offset, so a demo server left running
    expires tokens naturally. Pass ``start`` to freeze it: then only ``advance`` moves it.
    """

    def __init__(self, start: float | None = None) -> None:
        self._frozen_at = start
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current fake time in seconds since the epoch."""
        with self._lock:
            base = time.time() if self._frozen_at is None else self._frozen_at
            return base + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
