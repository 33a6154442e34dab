"""What the endpoints share: developer key lookup and the token rows still in use.

``Store`` is the base of the endpoint mixins (``authorization``, ``tokens``, ``api``) that
``FakeCanvas`` is built from; ``provider.py`` says why mixins. The attributes annotated
here are set by ``FakeCanvas.__init__``; callers hold ``FakeCanvas``'s lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .clock import FakeClock
from .records import CodeGrant, FakeClient, TokenRecord

_MAX_CLIENT_ID = 2**63 - 1


class Store:
    """Find developer keys and usable token rows in the fake's state."""

    clock: FakeClock
    clients: dict[str, FakeClient]
    _codes: dict[str, CodeGrant]
    _tokens: list[TokenRecord]

    def _find_client(self, client_id: str) -> FakeClient | None:
        """Return the active developer key for ``client_id`` (a 64-bit integer)."""
        if not re.fullmatch(r"\d+", client_id) or int(client_id) > _MAX_CLIENT_ID:
            return None
        client = self.clients.get(client_id)
        return client if client is not None and client.active else None

    def _usable(self, record: TokenRecord) -> bool:
        """Tell whether a token row still exists for a usable developer key."""
        client = self.clients.get(record.client_id)
        ends = record.permanent_expires_at
        return (
            not record.deleted
            and client is not None
            and client.active
            and (ends is None or ends > self.clock.now())
        )

    def _live_access(self, access_token: str) -> TokenRecord | None:
        """Return the token row whose access token may call the API right now."""
        for record in self._tokens:
            if record.access_token == access_token and self._usable(record):
                return record if record.expires_at > self.clock.now() else None
        return None

    def _delete_tokens(self, doomed: Callable[[TokenRecord], bool]) -> None:
        """Soft-delete the token rows ``doomed`` picks, killing both of their tokens."""
        for record in self._tokens:
            if doomed(record):
                record.deleted = True
