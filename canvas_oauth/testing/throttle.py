"""Canvas's request throttle: a leaky bucket per access token (spec §4.3, §8.2, §9).

Read from ``app/middleware/request_throttle.rb`` and its ``increment_bucket.lua``: each
request first adds ``up_front_cost`` to its bucket and is refused when the bucket then
holds ``hwm`` or more; when it finishes, the up-front cost comes out again and the
request's real cost goes in. The bucket leaks ``outflow`` units a second, never holds
less than 0 or more than ``maximum``. Time is the fake's clock, so a test moves it to
let the bucket drain instead of sleeping.

A refusal is ``status`` (429, as hosted Canvas answers since 2025-10-08; 403 for older
Canvas). Requests without an access token are bucketed by what else identifies their
sender (its IP, for a server's token requests); with ``token_endpoint`` on, the fake
throttles token requests by the developer key that sends them, its stand-in for the
server, and a granted token costs ``grant_cost`` more (``oauth_token_additional_request_cost``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Bucket:
    """What one access token has poured in, as of ``touched`` (clock seconds)."""

    count: float = 0.0
    touched: float | None = None


@dataclass
class Ticket:
    """One request's place in a bucket, from arrival until its answer goes out."""

    key: str
    reserved: float
    throttled: bool


@dataclass
class RequestThrottle:
    """The bucket settings, and the buckets themselves, of one fake Canvas.

    The defaults are Canvas's. Change them on a live fake (``fake.throttle.hwm = 100``)
    or pass ``FakeCanvas(throttle=RequestThrottle(hwm=100))``. ``request_cost`` stands for
    what Canvas measures after the request (CPU and database seconds): every request that
    is let through costs that much, or what ``route_costs`` says for its path (such as
    ``{"/api/v1/courses": 5.0}``), so that heavy calls drain the bucket faster.
    """

    hwm: float = 600.0
    maximum: float = 800.0
    outflow: float = 10.0
    up_front_cost: float = 50.0
    request_cost: float = 0.05
    status: int = 429
    token_endpoint: bool = False
    grant_cost: float = 200.0
    route_costs: dict[str, float] = field(default_factory=dict)
    _buckets: dict[str, Bucket] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in ("hwm", "maximum", "outflow", "up_front_cost", "request_cost", "grant_cost"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if any(cost < 0 for cost in self.route_costs.values()):
            raise ValueError("route_costs must not be negative")
        if self.status not in (403, 429):
            raise ValueError("status must be 429 (hosted Canvas) or 403 (older Canvas)")

    def cost_of(self, path: str) -> float:
        """Return what a request to ``path`` costs once answered (before any grant's cost)."""
        return float(self.route_costs.get(path.rstrip("/") or "/", self.request_cost))

    def reserve(self, key: str, now: float) -> Ticket:
        """Pour a request's up-front cost in, and say whether it must be refused."""
        count = self._add(key, self.up_front_cost, now)
        return Ticket(key, self.up_front_cost, throttled=count >= self.hwm)

    def settle(self, ticket: Ticket, cost: float, now: float) -> float:
        """Swap the up-front cost for the real one; return what remains below ``hwm``."""
        return self.hwm - self._add(ticket.key, cost - ticket.reserved, now)

    def remaining(self, key: str, now: float) -> float:
        """Return ``hwm`` minus what the bucket of ``key`` holds after leaking until ``now``."""
        return self.hwm - self._add(key, 0.0, now)

    def reset(self) -> None:
        """Empty every bucket."""
        self._buckets.clear()

    def _add(self, key: str, amount: float, now: float) -> float:
        """Leak the bucket up to ``now``, then add ``amount``; clamp as the Lua script does."""
        bucket = self._buckets.setdefault(key, Bucket())
        if bucket.count > 0 and bucket.touched is not None:
            bucket.count -= self.outflow * max(0.0, now - bucket.touched)
        bucket.count = min(max(bucket.count + amount, 0.0), self.maximum)
        bucket.touched = now
        return bucket.count
