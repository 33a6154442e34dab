"""Retention: delete stored tokens nobody obtained or refreshed for a while.

A token of someone who left is access nobody needs (student-data rules such as FERPA ask
for no more than needed). "Unused" is ``updated_on``: a new authorization and every
refresh write it. Safe while the site serves users: a row being refreshed at that moment
is kept (see ``claims.delete_unclaimed``), and so is one a request refreshed since the
run began.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import router
from django.db.models import QuerySet

from canvas_oauth import claims, conf, tokens
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.signals import token_revoked


@dataclass
class Tally:
    """What a run found and did so far."""

    unused: int = 0  # rows unused since the cutoff, when the run began
    deleted: int = 0
    in_use: int = 0  # kept: being refreshed, or refreshed (or authorized) since the run began
    not_revoked: int = 0  # kept: Canvas could not be told (--revoke only)


def unused(cutoff: datetime) -> QuerySet[CanvasOAuth2Token]:
    """Return the token rows not obtained or refreshed since ``cutoff``, where they are written."""
    alias = router.db_for_write(CanvasOAuth2Token)
    return CanvasOAuth2Token._default_manager.db_manager(alias).filter(updated_on__lt=cutoff)


def count(cutoff: datetime) -> Tally:
    """Count what a run would delete now, and the rows among them being refreshed."""
    rows = unused(cutoff)
    return Tally(unused=rows.count(), in_use=claims.claimed(rows).count())


def prune(
    cutoff: datetime,
    *,
    batch_size: int,
    revoke: bool = False,
    progress: Callable[[Tally], None] = lambda tally: None,
) -> Tally:
    """Delete the rows unused since ``cutoff``, ``batch_size`` at a time; call ``progress``
    after each batch.

    With ``revoke``, each token is revoked at Canvas first (best effort), and
    ``token_revoked`` is sent for it once deleted. A token Canvas could not be told about
    is kept, for a later run: its row is the only way left to revoke it.
    """
    tally = Tally(unused=unused(cutoff).count())
    last_pk = 0
    while True:
        rows = unused(cutoff).filter(pk__gt=last_pk).order_by("pk")
        batch = list(rows.values_list("pk", flat=True)[:batch_size])
        if not batch:
            return tally
        last_pk = batch[-1]
        if revoke:
            for pk in batch:
                _revoke_and_delete(pk, cutoff, tally)
        else:
            deleted = claims.delete_unclaimed(unused(cutoff).filter(pk__in=batch))
            tally.deleted += deleted
            tally.in_use += len(batch) - deleted
        progress(tally)


def _revoke_and_delete(pk: int, cutoff: datetime, tally: Tally) -> None:
    """Revoke one token at Canvas and delete its row, holding its claim meanwhile."""
    # The claim keeps refreshes off the row while Canvas is told: a refresh, then a revoke,
    # each within the timeout.
    with claims.hold(CanvasOAuth2Token(pk=pk), 2 * conf.settings.timeout) as claim:
        if claim is None:  # being refreshed (or deleted meanwhile)
            tally.in_use += 1
            return
        row = claim.row
        if row is None:
            return
        if row.updated_on >= cutoff:  # refreshed since the run began: in use after all
            tally.in_use += 1
            return
        if tokens.revoke(row, delete=False) is tokens.Revocation.NOT_REVOKED:
            tally.not_revoked += 1
            return
        if claim.delete_unused_since(cutoff):
            tally.deleted += 1
            token_revoked.send(sender=CanvasOAuth2Token, user=row.user, domain=row.domain)
        else:
            tally.in_use += 1  # a new authorization replaced the row meanwhile: keep it
