"""The refresh claim on a token row: one refresh at a time, with no lock held meanwhile.

A refresh first claims the row with one short conditional UPDATE, committed at once. Only
the holder of a live claim calls Canvas, so Canvas sees one refresh per token however
many threads, processes and machines ask; and since no transaction stays open during
the call, nobody waits on a database lock while Canvas takes its time (on SQLite, the
write lock is held for the UPDATE alone). The result is written back with another
conditional UPDATE, only if the claim is still there: a new authorization saved meanwhile
(``forget_claim``) wins over the refresh.

A claim lapses at ``refresh_claimed_until``, set past the Canvas call's deadline, so a
worker that dies holding one delays the next refresh by seconds, not forever.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import DatabaseError, connections, router, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from canvas_oauth.canvas import TokenGrant
from canvas_oauth.locks import bounded_wait, patiently
from canvas_oauth.models import CanvasOAuth2Token, concrete_field

# How long taking a claim may wait for a row or database locked by another transaction.
LOCK_WAIT = 1.0
# What a refresh writes back, besides releasing its claim.
REFRESHED_FIELDS = (
    "access_token",
    "refresh_token",
    "expires",
    "canvas_user_id",
    "canvas_user_global_id",
    "canvas_user_name",
    "updated_on",
)


def _unclaimed(now: datetime) -> Q:
    """Match rows nobody holds a live claim on."""
    return Q(refresh_claimed_until__isnull=True) | Q(refresh_claimed_until__lt=now)


def _row(token: CanvasOAuth2Token) -> tuple[str, QuerySet[CanvasOAuth2Token]]:
    # Claims are taken and read where the row is written, whatever a router reads from.
    alias = router.db_for_write(CanvasOAuth2Token, instance=token)
    return alias, CanvasOAuth2Token._default_manager.db_manager(alias).filter(pk=token.pk)


def take(token: CanvasOAuth2Token, seconds: float) -> str | None:
    """Claim ``token``'s row for ``seconds``; return the claim, or None when it is taken.

    None also when the row is gone, or locked by another transaction for longer than
    ``LOCK_WAIT``.
    """
    alias, rows = _row(token)
    now = timezone.now()
    claim = secrets.token_hex(16)
    free = _unclaimed(now)

    def claim_row() -> int:
        with transaction.atomic(using=alias), bounded_wait(connections[alias], LOCK_WAIT):
            return rows.filter(free).update(
                refresh_claim=claim, refresh_claimed_until=now + timedelta(seconds=seconds)
            )

    try:
        taken = patiently(alias, claim_row)
    except DatabaseError:  # a lock wait that ran out: someone else is writing the row
        return None
    return claim if taken else None


def read(token: CanvasOAuth2Token) -> CanvasOAuth2Token | None:
    """Return ``token``'s row as it is now, or None when it is gone."""
    alias, rows = _row(token)
    return patiently(alias, rows.first)


def is_claimed(token: CanvasOAuth2Token) -> bool:
    """Tell whether ``token`` (as read) carries a claim that has not lapsed."""
    until = token.refresh_claimed_until
    return until is not None and until >= timezone.now()


def release(token: CanvasOAuth2Token, claim: str) -> None:
    """Give the claim up, leaving the row as it is."""
    _row(token)[1].filter(refresh_claim=claim).update(refresh_claim="", refresh_claimed_until=None)


@sensitive_variables()
def finish(token: CanvasOAuth2Token, claim: str, grant: TokenGrant) -> bool:
    """Store Canvas's answer in the row and release the claim; False if it was lost.

    ``token`` takes the new values either way, encrypted as they are written.
    """
    token.apply_grant(grant)
    # Each field prepares its value as save() would: the tokens are encrypted here.
    values = {
        name: concrete_field(CanvasOAuth2Token, name).pre_save(token, False)
        for name in REFRESHED_FIELDS
    }
    alias, rows = _row(token)
    written = patiently(
        alias,
        lambda: rows.filter(refresh_claim=claim).update(
            **values, refresh_claim="", refresh_claimed_until=None
        ),
    )
    if written:
        token.forget_claim()  # as the row now says
    return bool(written)


def delete(token: CanvasOAuth2Token, claim: str) -> None:
    """Delete the row, unless the claim was lost (a new authorization replaced it)."""
    alias, rows = _row(token)
    patiently(alias, lambda: rows.filter(refresh_claim=claim).delete())


def delete_unclaimed(rows: QuerySet[CanvasOAuth2Token]) -> int:
    """Delete those of ``rows`` nobody holds a live claim on; return how many went.

    The claim is checked by the DELETE itself, so a refresh that claims a row meanwhile
    either finds it gone or keeps it.
    """
    return _delete_in_one_statement(rows.filter(_unclaimed(timezone.now())))


def delete_if_claimed(rows: QuerySet[CanvasOAuth2Token], claim: str) -> int:
    """Delete those of ``rows`` that still carry ``claim``, in one statement; return how many.

    A new authorization saved meanwhile dropped the claim, and is kept.
    """
    return _delete_in_one_statement(rows.filter(refresh_claim=claim))


def _delete_in_one_statement(rows: QuerySet[CanvasOAuth2Token]) -> int:
    # QuerySet.delete() first SELECTs the rows and then deletes them by pk whenever a
    # pre_delete or post_delete receiver is connected: a row claimed or written between
    # the two would go all the same. One DELETE carries the condition to the database.
    alias = rows.db
    return patiently(alias, lambda: rows._raw_delete(alias))
