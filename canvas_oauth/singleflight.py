"""In-process single flight: callers asking for the same key at once share one call.

The row's claim (``claims``) already makes one refresh per token across processes and
machines. Within one process, threads that find the row claimed would each read it again
and again until the refresh lands; sharing the leader's outcome instead hands every
waiter the new token the moment it exists, with no further query.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

T = TypeVar("T")

_flights: dict[Hashable, _Flight] = {}
_guard = threading.Lock()


class FlightTimeout(Exception):
    """The call in flight did not finish within the wait."""


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None


def share(key: Hashable, wait: float, call: Callable[[], T]) -> T:
    """Run ``call`` unless a call for ``key`` is in flight; then wait for its outcome.

    Waiters get a copy of the leader's result, or a copy of its exception, raised from
    it. Raise ``FlightTimeout`` when the call in flight takes longer than ``wait``.
    """
    with _guard:
        flight = _flights.get(key)
        leader = flight is None
        if flight is None:
            flight = _flights[key] = _Flight()
    if leader:
        try:
            flight.result = call()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with _guard:
                del _flights[key]
            flight.done.set()
        return flight.result
    if not flight.done.wait(wait):
        raise FlightTimeout()
    if flight.error is not None:
        raise copy.copy(flight.error) from flight.error
    return copy.copy(cast(T, flight.result))
