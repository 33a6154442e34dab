"""Pending authorizations: the ``state`` of each dance, kept in the user's session.

A dance begins when the user is sent to Canvas and ends when Canvas sends them back.
Each pending dance records its state value, the PKCE verifier, where to return, the
callback URL and which Django user started it. A state is single use, expires, and is
compared in constant time. Several dances (several tabs) may be pending at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import asdict, dataclass

from django.http import HttpRequest

from canvas_oauth import conf
from canvas_oauth.exceptions import InvalidOAuthStateError

SESSION_KEY = "_canvas_oauth_pending"
# Enough for a user with many tabs, small enough to keep the session small.
MAX_PENDING = 10


@dataclass(frozen=True)
class PendingDance:
    """One authorization that was started and has not come back yet."""

    state: str
    user_pk: str
    next_url: str
    redirect_uri: str
    domain: str
    code_verifier: str
    created: float
    silent: bool = False

    @property
    def code_challenge(self) -> str:
        """Return the PKCE S256 challenge for this dance's verifier (spec §1.4)."""
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def __repr__(self) -> str:
        return f"PendingDance(user_pk={self.user_pk!r}, next_url={self.next_url!r})"


def begin(
    request: HttpRequest,
    *,
    next_url: str,
    redirect_uri: str,
    domain: str,
    silent: bool = False,
    pkce: bool = True,
) -> PendingDance:
    """Record a new dance for ``request.user`` and return it.

    A ``silent`` dance asks Canvas not to show the user anything (``prompt=none``).
    """
    dance = PendingDance(
        # 32 bytes: 256 bits from the OS's CSPRNG.
        state=secrets.token_urlsafe(32),
        user_pk=str(request.user.pk),
        next_url=next_url,
        redirect_uri=redirect_uri,
        domain=domain,
        code_verifier=secrets.token_urlsafe(64) if pkce else "",
        created=time.time(),
        silent=silent,
    )
    pending = [d for d in _load(request) if not _expired(d)]
    pending.append(asdict(dance))
    request.session[SESSION_KEY] = pending[-MAX_PENDING:]
    return dance


def finish(request: HttpRequest, state: str) -> PendingDance:
    """Remove and return the pending dance whose state is ``state``.

    Raise ``InvalidOAuthStateError`` when no live dance has that state. Expired dances
    are dropped on the way, so a replayed or stale state never matches again.
    """
    pending = _load(request)
    found = None
    keep = []
    for entry in pending:
        # Every entry is compared so that the time taken does not depend on the match.
        if hmac.compare_digest(str(entry.get("state", "")).encode(), state.encode()):
            found = entry
        elif not _expired(entry):
            keep.append(entry)
    if pending:
        request.session[SESSION_KEY] = keep
    if found is None or _expired(found):
        raise InvalidOAuthStateError()
    try:
        return PendingDance(**found)
    except TypeError as exc:  # a session written by another version of this app
        raise InvalidOAuthStateError() from exc


def _load(request: HttpRequest) -> list[dict]:
    pending = request.session.get(SESSION_KEY)
    if not isinstance(pending, list):
        return []
    return [entry for entry in pending if isinstance(entry, dict)]


def _expired(entry: dict) -> bool:
    created = entry.get("created")
    if not isinstance(created, (int, float)):
        return True
    return time.time() - created > conf.settings.state_ttl.total_seconds()
