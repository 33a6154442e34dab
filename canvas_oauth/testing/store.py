"""What the endpoints share: developer key lookup and the token rows still in use.

``Store`` is the base of the endpoint mixins (``authorization``, ``tokens``, ``api``) that
``FakeCanvas`` is built from; ``provider.py`` says why mixins. The attributes annotated
here are set by ``FakeCanvas.__init__``; callers hold ``FakeCanvas``'s lock.
"""

from __future__ import annotations

import math
import re
import secrets
import string
from collections.abc import Callable

from .clock import FakeClock
from .records import CodeGrant, FakeClient, FakeUser, TokenRecord

ACCESS_TOKEN_TTL = 3600
_MAX_CLIENT_ID = 2**63 - 1
_SLUG_ALPHABET = string.ascii_letters + string.digits


class Store:
    """Find developer keys and usable token rows in the fake's state."""

    clock: FakeClock
    shard: int
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

    def _new_token_value(self) -> str:
        """Return a token looking like hosted Canvas's: shard, tilde, 64-character slug."""
        return f"{self.shard}~" + "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(64))

    def _regenerate_access_token(self, record: TokenRecord) -> None:
        """Give ``record`` a new access token; the old value stops working.

        It lives an hour when the key has ``auto_expire_tokens`` (every new key has), and
        until deleted otherwise.
        """
        record.access_token = self._new_token_value()
        record.expires_at = self._access_expiry(self.clients[record.client_id])

    def _access_expiry(self, client: FakeClient) -> float:
        """Return when an access token made now for ``client`` expires."""
        return self.clock.now() + ACCESS_TOKEN_TTL if client.auto_expire_tokens else math.inf

    def _reuse_token(
        self, client: FakeClient, user: FakeUser, scopes: tuple[str, ...], purpose: str
    ) -> TokenRecord | None:
        """Hand out ``user``'s token again when the key forces reuse; None when there is none.

        ``Token.find_reusable_access_token`` (``token.rb``): with ``force_token_reuse``, the
        user's live token for this key and purpose whose scopes match (in any order) gets
        a new access token, and the previous one stops working. Canvas does this wherever
        it asks, when the browser passes the authorization page as well as at the code
        exchange.
        """
        if not client.force_token_reuse:
            return None
        wanted = sorted(scopes)
        record = next(
            (
                record
                for record in self._tokens
                if record.client_id == client.client_id
                and record.user is user
                and record.purpose == purpose
                and sorted(record.scopes) == wanted
                and self._usable(record)
            ),
            None,
        )
        if record is not None:
            self._regenerate_access_token(record)
        return record
