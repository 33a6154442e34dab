"""The refresh claim on a token row, as ``refresher`` and ``prune`` rely on it.

These run on whichever database ``DATABASE_URL`` names: a claim is SQL.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.db.models.signals import post_delete, pre_delete
from django.utils import timezone

from canvas_oauth import claims
from canvas_oauth.canvas import TokenGrant
from canvas_oauth.models import CanvasOAuth2Token
from tests.tokens.locking import lock_wait_setting, row_locked_elsewhere

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(user):
    return CanvasOAuth2Token.objects.create(
        user=user,
        access_token="old-access",
        refresh_token="old-refresh",
        expires=timezone.now() - timedelta(seconds=10),
    )


def stored(token):
    return CanvasOAuth2Token.objects.filter(pk=token.pk).first()


def authorize_again(token):
    """Save a new authorization over the row, as ``tokens.save_grant`` does."""
    row = stored(token)
    claims.supersede(row)
    row.access_token = "dance-access"
    row.save()


def claimed_by_someone_else(token, seconds=30):
    CanvasOAuth2Token.objects.filter(pk=token.pk).update(
        refresh_claim="another-process",
        refresh_claimed_until=timezone.now() + timedelta(seconds=seconds),
    )


GRANT = TokenGrant("new-access", "new-refresh", 3600, None)


def test_a_claim_is_taken_once_and_refused_while_held(token):
    with claims.hold(token, 5) as claim:
        assert claim is not None
        assert claim.held
        assert claims.is_claimed(stored(token))
        assert claims.take(token, 5) is None
        with claims.hold(token, 5) as second:
            assert second is None


def test_a_claim_lasts_its_holders_time_and_the_margin(token):
    before = timezone.now()
    with claims.hold(token, 5):
        until = stored(token).refresh_claimed_until
    assert before + timedelta(seconds=5 + claims.MARGIN) <= until
    assert until <= timezone.now() + timedelta(seconds=5 + claims.MARGIN)


def test_the_claim_comes_with_the_row_as_read_after_taking_it(token):
    CanvasOAuth2Token.objects.filter(pk=token.pk).update(canvas_user_name="Ada")
    with claims.hold(token, 5) as claim:
        assert claim.row.pk == token.pk
        assert claim.row.canvas_user_name == "Ada"
        assert claim.row.refresh_claim != ""


def test_leaving_the_block_releases_the_claim(token):
    with claims.hold(token, 5):
        pass
    row = stored(token)
    assert (row.refresh_claim, row.refresh_claimed_until) == ("", None)
    assert not claims.is_claimed(row)
    assert claims.take(token, 5) is not None


def test_an_exception_releases_the_claim_and_goes_on(token):
    with pytest.raises(ZeroDivisionError), claims.hold(token, 5):
        1 / 0  # noqa: B018
    assert not claims.is_claimed(stored(token))


def test_release_leaves_the_row_as_it_is_and_is_done_once(token):
    claim = claims.take(token, 5)
    claim.release()
    assert not claim.held
    assert stored(token).access_token == "old-access"
    claimed_by_someone_else(token)
    claim.release()  # no longer ours: someone else's claim stays
    assert stored(token).refresh_claim == "another-process"


def test_finish_stores_the_grant_and_releases(token):
    with claims.hold(token, 5) as claim:
        assert claim.finish(GRANT)
        assert not claim.held
        claimed_by_someone_else(token)  # the row is free again: another refresh takes it
    row = stored(token)
    assert (row.access_token, row.refresh_token) == ("new-access", "new-refresh")
    assert not row.is_expired
    assert row.refresh_claim == "another-process"  # leaving the block released nothing
    assert claim.row.access_token == "new-access"
    assert claim.row.refresh_claim == ""  # the row object says what the row says


def test_finish_is_done_once(token):
    with claims.hold(token, 5) as claim:
        assert claim.finish(GRANT)
        assert not claim.finish(TokenGrant("later-access", None, 3600, None))
    assert stored(token).access_token == "new-access"


def test_a_new_authorization_wins_over_finish(token):
    with claims.hold(token, 5) as claim:
        authorize_again(token)
        claimed_by_someone_else(token)  # and a later refresh claims the new token
        assert not claim.finish(GRANT)
    row = stored(token)
    assert row.access_token == "dance-access"
    assert row.refresh_claim == "another-process"


def test_a_new_authorization_wins_over_delete(token):
    with claims.hold(token, 5) as claim:
        authorize_again(token)
        claim.delete()
    assert stored(token).access_token == "dance-access"


def right_after_the_claim(action):
    """Run ``action`` between the claim's UPDATE and the read that follows it."""
    done = []

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("UPDATE") and not done:
            done.append(True)
            action()
        return result

    return connection.execute_wrapper(wrapper)


def test_a_claim_found_lost_when_read_is_not_held(token):
    """A new authorization saved between the claim's UPDATE and its read."""

    def authorize_and_claim_elsewhere():
        authorize_again(token)
        claimed_by_someone_else(token)

    with right_after_the_claim(authorize_and_claim_elsewhere), claims.hold(token, 5) as claim:
        assert claim is not None
        assert not claim.held
        assert claim.row.access_token == "dance-access"
    assert stored(token).refresh_claim == "another-process"


def test_a_row_deleted_right_after_the_claim_is_read_as_gone(token):
    def delete():
        CanvasOAuth2Token.objects.filter(pk=token.pk).delete()

    with right_after_the_claim(delete), claims.hold(token, 5) as claim:
        assert claim is not None
        assert claim.row is None
        assert not claim.held
        assert not claim.finish(GRANT)


def the_read_after_the_claim_fails():
    """Make the SELECT that follows the claim's UPDATE fail, as a dropped connection would."""
    claimed = []

    def wrapper(execute, sql, params, many, context):
        row = "canvas_oauth_canvasoauth2token" in sql
        if sql.startswith("SELECT") and row and claimed:
            raise OperationalError("the read after the claim failed")
        result = execute(sql, params, many, context)
        if sql.startswith("UPDATE") and row:
            claimed.append(True)
        return result

    return connection.execute_wrapper(wrapper)


def test_a_failed_read_after_taking_the_claim_releases_it(token):
    with the_read_after_the_claim_fails(), pytest.raises(OperationalError), claims.hold(token, 5):
        pass  # pragma: no cover -- the claim's read raises before the block
    assert not claims.is_claimed(stored(token))


def test_a_row_already_gone_is_not_claimed(token):
    CanvasOAuth2Token.objects.filter(pk=token.pk).delete()
    assert claims.take(token, 5) is None
    assert claims.read(token) is None


def test_delete_deletes_the_row_while_held_and_sends_the_signal(token):
    seen = []

    def on_delete(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_delete.connect(on_delete, sender=CanvasOAuth2Token)
    try:
        with claims.hold(token, 5) as claim:
            claim.delete()
            assert not claim.held
    finally:
        post_delete.disconnect(on_delete, sender=CanvasOAuth2Token)
    assert stored(token) is None
    assert seen == [token.pk]


def test_a_new_authorization_wins_over_delete_with_delete_receivers_connected(token):
    """With a delete receiver connected, Django's own delete reads the row and deletes it by
    pk later: a new authorization saved in between (here, by a pre_delete receiver, which
    runs in that gap) must survive, and no post_delete is sent for a row that stayed."""
    deleted = []

    def authorize_in_the_gap(sender, instance, **kwargs):
        authorize_again(token)

    def on_post_delete(sender, instance, **kwargs):
        deleted.append(instance.pk)

    pre_delete.connect(authorize_in_the_gap, sender=CanvasOAuth2Token)
    post_delete.connect(on_post_delete, sender=CanvasOAuth2Token)
    try:
        with claims.hold(token, 5) as claim:
            claim.delete()
    finally:
        pre_delete.disconnect(authorize_in_the_gap, sender=CanvasOAuth2Token)
        post_delete.disconnect(on_post_delete, sender=CanvasOAuth2Token)
    assert stored(token).access_token == "dance-access"
    assert deleted == []


def test_delete_after_release_keeps_the_row(token):
    claim = claims.take(token, 5)
    claim.release()
    claim.delete()
    assert not claim.delete_unused_since(timezone.now() + timedelta(days=1))
    assert stored(token) is not None


def test_delete_unused_since_deletes_a_row_not_written_since(token):
    with claims.hold(token, 5) as claim:
        assert claim.delete_unused_since(timezone.now() + timedelta(seconds=1))
    assert stored(token) is None


def test_delete_unused_since_keeps_a_row_written_since(token):
    cutoff = timezone.now() - timedelta(days=1)
    with claims.hold(token, 5) as claim:
        assert not claim.delete_unused_since(cutoff)
        assert not claim.held
    assert stored(token) is not None


def test_delete_unused_since_keeps_a_new_authorization(token):
    with claims.hold(token, 5) as claim:
        authorize_again(token)
        assert not claim.delete_unused_since(timezone.now() + timedelta(days=1))
    assert stored(token).access_token == "dance-access"


def test_an_expired_claim_can_be_taken_over(token):
    old = claims.take(token, 5)
    CanvasOAuth2Token.objects.filter(pk=token.pk).update(
        refresh_claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert not claims.is_claimed(stored(token))
    with claims.hold(token, 5) as claim:
        assert claim is not None
        assert not old.finish(GRANT)  # the first holder lost it: its answer is not stored
        old.release()
        assert claims.is_claimed(stored(token))
    assert stored(token).access_token == "old-access"


def test_delete_unclaimed_leaves_claimed_rows(user, other_user, token):
    free = CanvasOAuth2Token.objects.create(user=other_user, access_token="a", refresh_token="r")
    lapsed = CanvasOAuth2Token.objects.create(
        user=other_user,
        domain="canvas.other.edu",
        access_token="a",
        refresh_token="r",
        refresh_claim="gone-worker",
        refresh_claimed_until=timezone.now() - timedelta(seconds=1),
    )
    rows = CanvasOAuth2Token.objects.all()
    with claims.hold(token, 5):
        assert list(claims.claimed(rows)) == [stored(token)]
        assert claims.delete_unclaimed(rows) == 2
        assert set(rows.values_list("pk", flat=True)) == {token.pk}
    assert stored(free) is None
    assert stored(lapsed) is None


@pytest.mark.django_db(transaction=True)
def test_a_claim_waits_boundedly_for_a_locked_row_and_puts_the_limit_back(token):
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    before = lock_wait_setting()
    with row_locked_elsewhere(row.pk):
        started = time.monotonic()
        assert claims.take(row, seconds=5) is None
        # MySQL counts lock waits in whole seconds: one second is its shortest wait. The
        # bound is loose for loaded machines; unbounded would be 50 s (InnoDB) or forever.
        assert time.monotonic() - started < 10
    assert lock_wait_setting() == before
    claim = claims.take(row, seconds=5)
    assert claim is not None
    assert claims.take(row, seconds=5) is None  # taken: nobody else gets it
    claim.release()
    assert claims.take(row, seconds=5) is not None
    assert lock_wait_setting() == before
