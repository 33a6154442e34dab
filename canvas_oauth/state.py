"""Pending authorizations: the ``state`` of each dance, kept server-side.

A dance begins when the user is sent to Canvas and ends when Canvas sends them back.
Each pending dance records its state value, the PKCE verifier, where to return, the
callback URL and which Django user started it. A state is single use, expires, and is
compared in constant time. Several dances (several tabs) may be pending at once.

Ordinary dances live in the user's session. Popup dances (for tools in an iframe, whose
session cookie the popup does not see) live in the cache, keyed by a hash of the state;
the code Canvas returns to the popup waits there until the user's own session claims it.
A per-user index in the same cache caps them, as the session caps its own, so one user
cannot fill the cache and push out other users' dances.

Whatever a dance leaves in the cache belongs to one user and counts against that user's
bound: a popup dance or its answer (at most ``MAX_PENDING``), the index of those, the
list of session states already claimed (at most ``MAX_USED``, in one entry), and a lock
held for a moment. Django's database and local-memory caches cull entries of every user
once they pass ``MAX_ENTRIES``; however many dances one user starts or refuses, they add at
most ``MAX_PENDING + 3`` entries, each expiring with ``CANVAS_OAUTH_STATE_TTL``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf, crypto
from canvas_oauth.exceptions import InvalidOAuthStateError, TooManyAuthorizationsError

SESSION_KEY = "_canvas_oauth_pending"
# Enough for a user with many tabs, small enough to keep the session (or the user's share
# of the cache) small. Past it, the oldest pending dance is dropped.
MAX_PENDING = 10
# Session states already claimed, per user. A request holding an older copy of the session
# may still list one of them; a session lists at most MAX_PENDING, so twice that is ample.
MAX_USED = 2 * MAX_PENDING
# How long a request waits for another request of the same user to update the popup
# index, and how long a lock of a worker that died keeps the others out (seconds).
INDEX_LOCK_WAIT = 2.0
INDEX_LOCK_TTL = 5
# A popup dance's return URL is kept in the shared cache; past this length it is "/".
MAX_NEXT_URL = 2048


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
    popup: bool = False

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
    popup: bool = False,
) -> PendingDance:
    """Record a new dance for ``request.user`` and return it.

    A ``silent`` dance asks Canvas not to show the user anything (``prompt=none``).
    """
    if popup and len(next_url) > MAX_NEXT_URL:
        next_url = "/"
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
        popup=popup,
    )
    if popup:
        _remember_popup(dance)
        return dance
    pending = [d for d in _load(request) if not _expired(d)]
    pending.append(asdict(dance))
    request.session[SESSION_KEY] = pending[-MAX_PENDING:]
    return dance


@sensitive_variables()
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
    if found is None:
        raise InvalidOAuthStateError()
    dance = _as_dance(found)
    # Two requests can hold copies of one session at once, and each copy still lists the
    # dance. Only the request that claims the state in the shared cache goes on to Canvas.
    if not _claim_once(dance):
        raise InvalidOAuthStateError()
    return dance


def _claim_once(dance: PendingDance) -> bool:
    """Record in the cache that ``dance``'s state was used; False if it already was.

    The marks live in one entry per user, newest ``MAX_USED`` kept, each for as long as
    its dance could still match: a user refusing dance after dance adds no entries.
    """
    cache, digest = _cache(), _digest(dance.state)
    used_key = _cache_key("used", dance.user_pk)
    with _locked(_user_lock(dance.user_pk)):
        used = _live(cache.get(used_key))
        if any(hmac.compare_digest(entry["hash"], digest) for entry in used):
            return False
        used.append({"hash": digest, "created": dance.created})
        cache.set(used_key, used[-MAX_USED:], _ttl())
    return True


@sensitive_variables()
def popup_dance(state: str) -> PendingDance | None:
    """Return the waiting popup dance whose state is ``state``, or None if there is none.

    It stays waiting until ``stash_answer`` replaces it with Canvas's answer, so that a
    page polling for the answer never finds neither.
    """
    entry = _cache().get(_cache_key("dance", state))
    return None if entry is None else _as_dance(_unseal(entry))


@sensitive_variables()
def is_waiting(state: str) -> bool:
    """Tell whether a popup dance with this state is still waiting for Canvas."""
    return _cache().get(_cache_key("dance", state)) is not None


@sensitive_variables()
def stash_answer(dance: PendingDance, answer: dict[str, str]) -> None:
    """Keep Canvas's answer to a popup dance (its code, or its error) for the user to claim.

    The dance stops waiting only once the answer is stored, and only one answer is kept:
    a replayed callback finds the dance gone and raises ``InvalidOAuthStateError``.
    """
    if _take(_cache_key("dance", dance.state)) is None:
        raise InvalidOAuthStateError()
    _cache().set(
        _cache_key("answer", dance.state), _seal({"dance": asdict(dance), **answer}), _ttl()
    )


@sensitive_variables()
def claim_answer(state: str) -> tuple[PendingDance, dict[str, str]]:
    """Remove and return the dance and Canvas's answer stashed for ``state`` (single use)."""
    stashed = _unseal(_take(_cache_key("answer", state)))
    if not isinstance(stashed, dict):
        raise InvalidOAuthStateError()
    dance = _as_dance(stashed.pop("dance", None))
    return dance, {k: v for k, v in stashed.items() if isinstance(v, str)}


def _remember_popup(dance: PendingDance) -> None:
    """Store a popup dance, dropping the user's oldest ones beyond ``MAX_PENDING``.

    The user's index lives in the cache beside the dances, so the cap holds for every
    process sharing it, and a per-user lock keeps concurrent requests from losing entries.
    """
    cache, ttl = _cache(), _ttl()
    index_key = _cache_key("popups", dance.user_pk)
    with _locked(_user_lock(dance.user_pk)):
        stored = cache.get(index_key)
        index = _live(stored)
        index.append({"hash": _digest(dance.state), "created": dance.created})
        dropped = [e for e in _entries(stored) if e not in index[-MAX_PENDING:]]
        index = index[-MAX_PENDING:]
        # The index first: a dance is never stored without the entry that limits it.
        cache.set(index_key, index, ttl)
        if dropped:
            # Whichever the dance left, the dance waiting or Canvas's answer to it.
            cache.delete_many(
                [_key(kind, e["hash"]) for e in dropped for kind in ("dance", "answer")]
            )
        cache.set(_cache_key("dance", dance.state), _seal(asdict(dance)), ttl)


def _entries(stored: object) -> list[dict[str, Any]]:
    """Return the well-formed entries of a per-user list (index or used marks)."""
    return [
        entry
        for entry in (stored if isinstance(stored, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("hash"), str)
    ]


def _live(stored: object) -> list[dict[str, Any]]:
    return [entry for entry in _entries(stored) if not _expired(entry)]


def _user_lock(user_pk: str) -> str:
    return _cache_key("lock", user_pk)


@contextmanager
def _locked(key: str) -> Iterator[None]:
    """Hold the lock ``key`` in the cache while the block runs.

    ``add`` is atomic in local memory, the database, Redis and memcached (not in the
    file-based cache), so only one request at a time gets past it.
    """
    cache, token = _cache(), secrets.token_hex(8)
    deadline = time.monotonic() + INDEX_LOCK_WAIT
    while not cache.add(key, token, INDEX_LOCK_TTL):
        if time.monotonic() > deadline:
            raise TooManyAuthorizationsError()
        time.sleep(0.01)
    try:
        yield
    finally:
        # A lock that outlived its TTL may be someone else's now: leave that one alone.
        if cache.get(key) == token:
            cache.delete(key)


@sensitive_variables()
def _as_dance(entry: object) -> PendingDance:
    if not isinstance(entry, dict) or _expired(entry):
        raise InvalidOAuthStateError()
    try:
        return PendingDance(**entry)
    except TypeError as exc:  # written by another version of this app
        raise InvalidOAuthStateError() from exc


@sensitive_variables()
def _seal(entry: dict[str, Any]) -> str:
    # The cache may be a database table or a Redis dump: the PKCE verifier and Canvas's
    # code are encrypted there as tokens are.
    return crypto.encrypt(json.dumps(entry))


@sensitive_variables()
def _unseal(stored: object) -> object:
    """Return the entry ``_seal`` stored, or None for anything else (unreadable, old)."""
    if not isinstance(stored, str) or not crypto.is_encrypted(stored):
        return None
    try:
        return json.loads(crypto.decrypt(stored))
    except (crypto.DecryptionError, ValueError):
        return None


def _cache() -> BaseCache:
    return caches[conf.settings.state_cache]


@sensitive_variables()
def _cache_key(kind: str, state: str) -> str:
    return _key(kind, _digest(state))


def _key(kind: str, digest: str) -> str:
    return f"canvas_oauth:{kind}:{digest}"


def _digest(value: str) -> str:
    # Hashed, so the lookup reveals nothing about the value through timing or the cache.
    return hashlib.sha256(value.encode()).hexdigest()


def _take(key: str) -> object:
    """Get and delete ``key``; only the caller whose delete succeeds gets the value."""
    cache = _cache()
    value = cache.get(key)
    if value is None or not cache.delete(key):
        return None
    return value


def _ttl() -> int:
    return max(1, int(conf.settings.state_ttl.total_seconds()))


@sensitive_variables()
def _load(request: HttpRequest) -> list[dict[str, Any]]:
    pending = request.session.get(SESSION_KEY)
    if not isinstance(pending, list):
        return []
    return [entry for entry in pending if isinstance(entry, dict)]


@sensitive_variables()
def _expired(entry: dict[str, Any]) -> bool:
    created = entry.get("created")
    if not isinstance(created, (int, float)):
        return True
    ttl: float = conf.settings.state_ttl.total_seconds()
    return time.time() - created > ttl
