"""The soak's fake Canvas: the fault mix of issue #12 and a log of every refresh call.

The log tells the soak, per user, when each refresh call came, how long its answer took
and what the app got back; the owner map tells whose token a digest is.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

from canvas_oauth.testing import FakeCanvas

TOKEN_PATH = "/login/oauth2/token"
# Of all refresh calls: 10% fail, a third each as a 500, a garbage body, or too late.
FAULT_MIX = {"error": 1 / 30, "garbage": 1 / 30, "slow": 1 / 30}


def digest(token: str) -> str:
    """Return the short digest the soak view answers instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class SoakCanvas(FakeCanvas):
    """A ``FakeCanvas`` that logs refresh calls and who each access token belongs to."""

    def __init__(self, *, timeout: float, **options) -> None:
        super().__init__(**options)
        self.timeout = timeout
        self.refresh_log: list[dict] = []
        self.owner: dict[str, int] = {}  # token digest -> soak user index
        self._by_refresh: dict[str, int] = {}
        self._users: dict[int, object] = {}
        self._log_lock = threading.Lock()

    def add_soak_user(self, index: int) -> dict:
        """Create Canvas user ``index`` with a token; return the token's exchange JSON."""
        user = self._users[index] = self.add_user(f"Soak User {index}")
        grant = self.issue_token(user=user)
        self._by_refresh[grant["refresh_token"]] = index
        self.owner[digest(grant["access_token"])] = index
        return grant

    def declare_dead(self, index: int) -> None:
        """Revoke user ``index``'s token in Canvas: its next refresh is refused for good."""
        self.revoke_all(self._users[index])

    def refresh_token_of(self, index: int) -> str | None:
        """Return the refresh token Canvas still accepts for user ``index``, if any."""
        live = self.live_tokens(self._users[index])
        return live[0].refresh_token if live else None

    def inject_faults(self, seed: int) -> None:
        """Fail 10% of token calls (500, garbage, later than the app's timeout)."""
        self.random.seed(seed)
        for mode, rate in FAULT_MIX.items():
            self.misbehave("token", mode, rate=rate, delay=self.timeout + 1)

    def dispatch(self, method, path, query, form, headers):
        started = time.time()
        response = super().dispatch(method, path, query, form, headers)
        if method.upper() == "POST" and path.rstrip("/") == TOKEN_PATH:
            self._log_refresh(form.get("refresh_token", ""), started, response)
        return response

    def _log_refresh(self, refresh_token: str, started: float, response) -> None:
        index = self._by_refresh.get(refresh_token, -1)
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        access_token = body.get("access_token") if isinstance(body, dict) else None
        if access_token:
            # A late answer may still carry a token: Canvas refreshed, the app gave up.
            self.owner[digest(access_token)] = index
        if response.delay >= self.timeout:
            outcome = "late"
        elif response.status == 500:
            outcome = "error"
        elif response.status == 400:
            outcome = "dead"
        elif access_token:
            outcome = "ok"
        elif response.status == 200:
            outcome = "garbage"
        else:
            outcome = f"status {response.status}"
        with self._log_lock:
            self.refresh_log.append(
                {
                    "user": index,
                    "start": started,
                    "end": started + min(response.delay, self.timeout),
                    "outcome": outcome,
                }
            )
