"""The refresh claim on a token row: one refresh at a time, with no lock held meanwhile.

A refresh first claims the row with one short conditional UPDATE, committed at once. Only
the holder of a live claim calls Canvas, so Canvas sees one refresh per token however
many threads, processes and machines ask; and since no transaction stays open during
the call, nobody waits on a database lock while Canvas takes its time (on SQLite, the
write lock is held for the UPDATE alone). The result is written back with another
conditional UPDATE, only if the claim is still there: a new authorization saved meanwhile
(``supersede``) wins over the refresh.

A claim lapses ``MARGIN`` seconds after its holder's deadline, so a worker that dies
holding one delays the next refresh by seconds, not forever; a lapsed claim can be taken.

The rules of a held claim, all kept by ``Claim``:

- ``hold`` (or ``take``) gives a claim, or None when the row is claimed already, gone, or
  locked by another transaction for longer than ``LOCK_WAIT``.
- Only the holder writes the row: ``finish`` stores Canvas's answer and clears the claim
  in the same UPDATE; ``delete`` deletes the row. Each does so only while the row still
  carries the claim, and either ends it.
- Any other way out of ``hold`` (a return, an exception) releases the claim, unless it
  was found lost: the row carried another claim, or none, when it was read.
- A release clears the row's claim and leaves the row object as read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import DatabaseError, connections, router, transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, pre_delete
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from canvas_oauth.canvas import TokenGrant
from canvas_oauth.locks import bounded_wait, patiently
from canvas_oauth.models import CanvasOAuth2Token, concrete_field

# A claim outlives its holder's deadline by this much, in seconds.
MARGIN = 2.0
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


class Claim:
    """A claim taken on one token row, with the row as read just after it was taken."""

    def __init__(self, token: CanvasOAuth2Token, value: str) -> None:
        self._alias, self._rows = _row(token)
        self._value = value
        #: The row as it was right after the claim was taken; None when it was gone.
        self.row = patiently(self._alias, self._rows.first)
        self._held = self.row is not None and self.row.refresh_claim == value

    @property
    def held(self) -> bool:
        """Tell whether the claim is still ours, as far as its holder knows.

        False once finished, deleted or released, and when the row read after taking it
        was gone or carried no claim of ours (a new authorization saved in between).
        """
        return self._held

    def _ours(self) -> QuerySet[CanvasOAuth2Token]:
        return self._rows.filter(refresh_claim=self._value)

    def release(self) -> None:
        """Give the claim up, leaving the row (and ``row``) as they are; then a no-op."""
        if self._held:
            self._held = False
            self._ours().update(refresh_claim="", refresh_claimed_until=None)

    @sensitive_variables()
    def finish(self, grant: TokenGrant) -> bool:
        """Store Canvas's answer in the row and release the claim; False if it was lost.

        ``row`` takes the new values, encrypted, whether or not the row still carried the
        claim (none when the claim was known lost already).
        """
        token = self.row
        if not self._held or token is None:
            return False
        self._held = False
        token.apply_grant(grant)
        # Each field prepares its value as save() would: the tokens are encrypted here.
        values = {
            name: concrete_field(CanvasOAuth2Token, name).pre_save(token, False)
            for name in REFRESHED_FIELDS
        }
        written = patiently(
            self._alias,
            lambda: self._ours().update(**values, refresh_claim="", refresh_claimed_until=None),
        )
        if written:
            supersede(token)  # as the row now says
        return bool(written)

    def delete(self) -> None:
        """Delete the row, unless the claim was lost (a new authorization replaced it).

        One DELETE checks the claim, so a new authorization saved at the same moment is
        kept. Django's delete signals are sent for the row as read, as ``Model.delete``
        would send them: ``pre_delete`` before, ``post_delete`` only if the row went.
        """
        if not self._held:
            return
        self._held = False
        row = self.row
        # Not QuerySet.delete: with a delete receiver connected, it reads the row and then
        # deletes it by pk, so a new authorization saved in between would go too.
        pre_delete.send(sender=CanvasOAuth2Token, instance=row, using=self._alias, origin=row)
        if _delete_in_one_statement(self._ours()):
            post_delete.send(sender=CanvasOAuth2Token, instance=row, using=self._alias, origin=row)

    def delete_unused_since(self, cutoff: datetime) -> bool:
        """Delete the row unless the claim was lost or the row was written since ``cutoff``;
        tell whether it went.

        One DELETE checks both, so a new authorization saved meanwhile is kept; no delete
        signal is sent.
        """
        if not self._held:
            return False
        self._held = False
        return bool(_delete_in_one_statement(self._ours().filter(updated_on__lt=cutoff)))


def take(token: CanvasOAuth2Token, seconds: float) -> Claim | None:
    """Claim ``token``'s row while its holder works ``seconds`` (and ``MARGIN`` more).

    Return None when it is claimed already, gone, or locked by another transaction for
    longer than ``LOCK_WAIT``. The caller releases what it takes (``hold`` does).
    """
    alias, rows = _row(token)
    now = timezone.now()
    value = secrets.token_hex(16)
    free = _unclaimed(now)
    until = now + timedelta(seconds=seconds + MARGIN)

    def claim_row() -> int:
        with transaction.atomic(using=alias), bounded_wait(connections[alias], LOCK_WAIT):
            return rows.filter(free).update(refresh_claim=value, refresh_claimed_until=until)

    try:
        taken = patiently(alias, claim_row)
    except DatabaseError:  # a lock wait that ran out: someone else is writing the row
        return None
    if not taken:
        return None
    try:
        return Claim(token, value)  # reads the row
    except BaseException:
        # The read failed: nobody would release the claim, which would keep every refresh
        # of the token waiting until it lapsed.
        rows.filter(refresh_claim=value).update(refresh_claim="", refresh_claimed_until=None)
        raise


@contextmanager
def hold(token: CanvasOAuth2Token, seconds: float) -> Iterator[Claim | None]:
    """Hold a claim on ``token``'s row for the block (None: not taken, see ``take``).

    The claim is released when the block ends, whichever way, unless it was finished,
    deleted or lost.
    """
    claim = take(token, seconds)
    try:
        yield claim
    finally:
        if claim is not None:
            claim.release()


def read(token: CanvasOAuth2Token) -> CanvasOAuth2Token | None:
    """Return ``token``'s row as it is now, or None when it is gone."""
    alias, rows = _row(token)
    return patiently(alias, rows.first)


def is_claimed(token: CanvasOAuth2Token) -> bool:
    """Tell whether ``token`` (as read) carries a claim that has not lapsed."""
    until = token.refresh_claimed_until
    return until is not None and until >= timezone.now()


def claimed(rows: QuerySet[CanvasOAuth2Token]) -> QuerySet[CanvasOAuth2Token]:
    """Return those of ``rows`` someone holds a live claim on."""
    return rows.filter(refresh_claimed_until__gte=timezone.now())


def delete_unclaimed(rows: QuerySet[CanvasOAuth2Token]) -> int:
    """Delete those of ``rows`` nobody holds a live claim on; return how many went.

    The claim is checked by the DELETE itself, so a refresh that claims a row meanwhile
    either finds it gone or keeps it.
    """
    return _delete_in_one_statement(rows.filter(_unclaimed(timezone.now())))


def supersede(token: CanvasOAuth2Token) -> None:
    """Save ``token`` with no claim: a new authorization wins over a refresh in flight.

    The claim's holder then finds its claim gone, so its ``finish`` and ``delete`` leave
    the new tokens alone.
    """
    token.refresh_claim = ""
    token.refresh_claimed_until = None


def _unclaimed(now: datetime) -> Q:
    """Match rows nobody holds a live claim on."""
    return Q(refresh_claimed_until__isnull=True) | Q(refresh_claimed_until__lt=now)


def _row(token: CanvasOAuth2Token) -> tuple[str, QuerySet[CanvasOAuth2Token]]:
    # Claims are taken and read where the row is written, whatever a router reads from.
    alias = router.db_for_write(CanvasOAuth2Token, instance=token)
    return alias, CanvasOAuth2Token._default_manager.db_manager(alias).filter(pk=token.pk)


def _delete_in_one_statement(rows: QuerySet[CanvasOAuth2Token]) -> int:
    # QuerySet.delete() first SELECTs the rows and then deletes them by pk whenever a
    # pre_delete or post_delete receiver is connected: a row claimed or written between
    # the two would go all the same. One DELETE carries the condition to the database.
    alias = rows.db
    return patiently(alias, lambda: rows._raw_delete(alias))
