"""Faults a test can inject, and the answers they turn into."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random

from . import errors
from .pages import error_page, page
from .wire import HTML_TYPE, JSON_TYPE, TEXT_TYPE, FakeResponse, html_response, json_response

ENDPOINTS = frozenset({"authorize", "token", "revoke", "api", "*"})
# "*" means the calls a client makes server to server; the browser pages are left alone.
WILDCARD_ENDPOINTS = frozenset({"token", "revoke", "api"})
MODES = frozenset(
    {
        "slow",
        "error",
        "unavailable",
        "garbage",
        "html",
        "wrong_type",
        "drop",
        "missing_token",
        "throttle",
        "invalid_token",
    }
)
DEFAULT_DELAY = 30.0


@dataclass
class Fault:
    """One injected fault: ``mode`` on ``endpoint``, for ``remaining`` calls (None: forever).

    With a ``rate``, the fault hits only that share of the calls, picked at random.
    """

    endpoint: str
    mode: str
    remaining: int | None = None
    delay: float = DEFAULT_DELAY
    rate: float | None = None

    def matches(self, endpoint: str) -> bool:
        """Tell whether this fault applies to a call of ``endpoint``."""
        if self.endpoint == "*":
            return endpoint in WILDCARD_ENDPOINTS
        return self.endpoint == endpoint


class FaultPlan:
    """The faults waiting to happen, oldest first. The caller holds the lock.

    ``random`` draws the calls that faults with a rate hit; seed it for a repeatable run.
    """

    def __init__(self, random: Random | None = None) -> None:
        self._faults: list[Fault] = []
        self.random = random or Random()  # noqa: S311 -- picks faults, not secrets

    def add(
        self,
        endpoint: str,
        mode: str,
        times: int | None,
        delay: float,
        rate: float | None = None,
    ) -> Fault:
        """Schedule a fault after checking its names."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {sorted(ENDPOINTS)}")
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {sorted(MODES)}")
        if times is not None and times < 1:
            raise ValueError("times must be a positive number of calls, or None")
        if rate is not None and not 0 < rate <= 1:
            raise ValueError("rate must be a share of the calls above 0 and at most 1, or None")
        fault = Fault(endpoint, mode, times, delay, rate)
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every fault."""
        self._faults.clear()

    def take(self, endpoint: str) -> Fault | None:
        """Return the fault for this call of ``endpoint``, spending one of its uses.

        One draw per call decides among the faults with a rate: their rates add up, so
        rates of 0.05 and 0.05 fail 10% of the calls, each fault half of those. A call the
        draw spares goes on to the next fault without a rate, if any.
        """
        draw: float | None = None
        share = 0.0
        for fault in self._faults:
            if fault.matches(endpoint):
                if fault.rate is not None:
                    if draw is None:
                        draw = self.random.random()
                    share += fault.rate
                    if draw >= share:
                        continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None


def faulty_answer(
    fault: Fault, answer: Callable[[], FakeResponse], throttle_status: int = 429
) -> FakeResponse:
    """Answer a call under ``fault``; ``answer`` handles the request for real.

    "throttle" answers with ``throttle_status``: 429 as hosted Canvas, or 403 as older Canvas.

    Only "slow" and "wrong_type" let the request through, since they spoil the delivery
    of a real answer; every other mode replaces the answer without touching any state.
    """
    if fault.mode == "slow":
        response = answer()
        response.delay += fault.delay
        return response
    if fault.mode == "wrong_type":
        response = answer()
        response.headers["Content-Type"] = TEXT_TYPE
        return response
    if fault.mode == "drop":
        return FakeResponse(0, dropped=True)
    if fault.mode == "error":
        return html_response(500, error_page(500, "Internal Server Error"))
    if fault.mode == "unavailable":
        return html_response(503, error_page(503, "Service Unavailable"))
    if fault.mode == "garbage":
        return FakeResponse(200, {"Content-Type": JSON_TYPE}, b"<<<\x00 not json at all")
    if fault.mode == "html":
        body = page("Canvas", "<h1>Canvas is down for maintenance</h1>").encode()
        return FakeResponse(200, {"Content-Type": HTML_TYPE}, body)
    if fault.mode == "throttle":
        return errors.rate_limited(throttle_status)
    if fault.mode == "invalid_token":
        # What Canvas says when a token dies before its expiry, or when the developer key
        # is turned off for the account (spec §4.2): refreshing does not help then.
        return errors.invalid_access_token()
    # missing_token: a well-formed success that forgot the one field that matters.
    return json_response(200, {"token_type": "Bearer", "canvas_region": "unknown"})
