"""Faults a test can inject, and the answers they turn into."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    }
)
DEFAULT_DELAY = 30.0


@dataclass
class Fault:
    """One injected fault: ``mode`` on ``endpoint``, for ``remaining`` calls (None: forever)."""

    endpoint: str
    mode: str
    remaining: int | None = None
    delay: float = DEFAULT_DELAY

    def matches(self, endpoint: str) -> bool:
        """Tell whether this fault applies to a call of ``endpoint``."""
        if self.endpoint == "*":
            return endpoint in WILDCARD_ENDPOINTS
        return self.endpoint == endpoint


class FaultPlan:
    """The faults waiting to happen, oldest first. The caller holds the lock."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, endpoint: str, mode: str, times: int | None, delay: float) -> Fault:
        """Schedule a fault after checking its names."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {sorted(ENDPOINTS)}")
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {sorted(MODES)}")
        if times is not None and times < 1:
            raise ValueError("times must be a positive number of calls, or None")
        fault = Fault(endpoint, mode, times, delay)
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every fault."""
        self._faults.clear()

    def take(self, endpoint: str) -> Fault | None:
        """Return the fault for this call of ``endpoint``, spending one of its uses."""
        for fault in self._faults:
            if fault.matches(endpoint):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None


def faulty_answer(fault: Fault, answer: Callable[[], FakeResponse]) -> FakeResponse:
    """Answer a call under ``fault``; ``answer`` handles the request for real.

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
        return errors.rate_limited()
    # missing_token: a well-formed success that forgot the one field that matters.
    return json_response(200, {"token_type": "Bearer", "canvas_region": "unknown"})
