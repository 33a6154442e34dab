"""``canvas_oauth_prune``: retention of stored tokens, against the fake Canvas."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models.signals import post_delete
from django.utils import timezone

from canvas_oauth import claims, tokens
from canvas_oauth.canvas import TokenGrant
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.signals import token_revoked
from tests.conftest import store_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(django_user_model):
    return [
        django_user_model.objects.create_user(f"user{n}", f"user{n}@example.edu", "pw")
        for n in range(4)
    ]


def age(token, days):
    """Make ``token`` look last obtained or refreshed ``days`` ago (auto_now skips update())."""
    then = timezone.now() - timedelta(days=days)
    CanvasOAuth2Token.objects.filter(pk=token.pk).update(updated_on=then)


def prune(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("canvas_oauth_prune", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def remaining():
    return set(CanvasOAuth2Token.objects.values_list("pk", flat=True))


@pytest.fixture
def revoked_signals():
    sent = []

    def record(sender, user, domain, **kwargs):
        sent.append((user.pk, domain))

    token_revoked.connect(record)
    yield sent
    token_revoked.disconnect(record)


def test_deletes_only_tokens_unused_for_n_days(fake_canvas, users, revoked_signals):
    old = [store_token(fake_canvas, u) for u in users[:3]]
    fresh = store_token(fake_canvas, users[3])
    for token in old:
        age(token, 91)
    age(fresh, 89)
    out, err = prune("--unused-days", "90", "--batch-size", "2")
    assert remaining() == {fresh.pk}
    lines = out.splitlines()
    assert lines[:2] == [
        "Deleted 2 of 3 tokens not obtained or refreshed for 90 days",
        "Deleted 3 of 3 tokens not obtained or refreshed for 90 days",
    ]
    assert "Done: 3 deleted, 0 kept because in use" in lines[-1]
    assert revoked_signals == []  # deleted, not revoked: Canvas was not told
    assert fake_canvas.calls["revoke"] == 0
    assert all(fake_canvas.is_live(t.access_token) for t in old)
    assert not any(t.access_token in out + err for t in old)


def test_dry_run_counts_and_deletes_nothing(fake_canvas, users):
    tokens_ = [store_token(fake_canvas, u) for u in users[:3]]
    for token in tokens_:
        age(token, 200)
    claims.take(tokens_[0], 30)
    out, _ = prune("--unused-days", "90", "--dry-run", "--revoke")
    assert out.strip() == (
        "Would revoke and delete 3 tokens not obtained or refreshed for 90 days "
        "(1 of them being refreshed right now would be kept)."
    )
    assert len(remaining()) == 3
    assert fake_canvas.calls["revoke"] == 0


def test_a_row_being_refreshed_is_kept_and_its_refresh_lands(fake_canvas, users):
    token = store_token(fake_canvas, users[0])
    age(token, 100)
    claim = claims.take(token, 30)  # a refresh has claimed the row and is asking Canvas
    out, _ = prune("--unused-days", "90")
    assert remaining() == {token.pk}
    assert "0 deleted, 1 kept because in use" in out
    grant = TokenGrant("new-access", None, 3600, None)
    assert claim.finish(grant)
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert row.access_token == "new-access"
    assert row.updated_on > timezone.now() - timedelta(minutes=1)


def test_a_lapsed_claim_does_not_keep_a_row(fake_canvas, users):
    token = store_token(fake_canvas, users[0])
    age(token, 100)
    CanvasOAuth2Token.objects.filter(pk=token.pk).update(
        refresh_claim="x" * 32, refresh_claimed_until=timezone.now() - timedelta(seconds=1)
    )
    prune("--unused-days", "90")
    assert remaining() == set()


def test_a_refresh_after_the_delete_finds_the_row_gone(fake_canvas, users):
    token = store_token(fake_canvas, users[0])
    age(token, 100)
    prune("--unused-days", "90")
    assert claims.take(token, 30) is None


@pytest.mark.parametrize("meanwhile", ["claimed", "authorized again"])
def test_the_delete_itself_checks_claim_and_age(fake_canvas, users, meanwhile):
    """A refresh claiming the row, or a new authorization, between the batch's SELECT and
    its DELETE keeps it, even with a post_delete receiver connected (QuerySet.delete would
    select the rows first, then delete them by pk)."""
    token = store_token(fake_canvas, users[0])
    age(token, 100)
    seen = []

    def on_delete(sender, instance, **kwargs):
        seen.append(instance.pk)

    def act_just_before(execute, sql, params, many, context):
        if sql.startswith("DELETE") and not seen:
            seen.append(meanwhile)
            if meanwhile == "claimed":
                claims.take(token, 30)
            else:
                CanvasOAuth2Token.objects.get(pk=token.pk).save()  # updated_on: now
        return execute(sql, params, many, context)

    post_delete.connect(on_delete, sender=CanvasOAuth2Token)
    try:
        with connection.execute_wrapper(act_just_before):
            prune("--unused-days", "90")
    finally:
        post_delete.disconnect(on_delete, sender=CanvasOAuth2Token)
    assert seen == [meanwhile]
    assert remaining() == {token.pk}


def test_pruned_rows_send_no_delete_signals(fake_canvas, users):
    token = store_token(fake_canvas, users[0])
    age(token, 100)
    seen = []

    def on_delete(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_delete.connect(on_delete, sender=CanvasOAuth2Token)
    try:
        prune("--unused-days", "90")
    finally:
        post_delete.disconnect(on_delete, sender=CanvasOAuth2Token)
    assert remaining() == set()
    assert seen == []


def test_a_refresh_through_the_claim_counts_as_use(fake_canvas, users):
    token = store_token(fake_canvas, users[0], expires_in=-10)
    fake_canvas.expire_access_tokens()
    age(token, 100)
    tokens.refresh(CanvasOAuth2Token.objects.get(pk=token.pk))
    assert fake_canvas.calls["token:refresh_token"] == 1
    prune("--unused-days", "90")
    assert remaining() == {token.pk}


def test_revoke_tells_canvas_first_and_signals_each(fake_canvas, users, revoked_signals):
    old = [store_token(fake_canvas, u) for u in users[:2]]
    for token in old:
        age(token, 400)
    _, err = prune("--unused-days", "365", "--revoke")
    assert remaining() == set()
    assert fake_canvas.calls["revoke"] == 2
    assert not any(fake_canvas.is_live(t.access_token) for t in old)
    assert sorted(revoked_signals) == sorted((u.pk, "canvas.example.edu") for u in users[:2])
    assert err == ""


def test_revoke_refreshes_an_expired_token_to_revoke_it(fake_canvas, users):
    token = store_token(fake_canvas, users[0], expires_in=-10)
    fake_canvas.expire_access_tokens()
    age(token, 400)
    prune("--unused-days", "365", "--revoke")
    assert remaining() == set()
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert fake_canvas.live_tokens() == []


@pytest.mark.parametrize("expires_in", [-10, 3600])
def test_revoke_deletes_a_token_already_dead_at_canvas(
    fake_canvas, users, revoked_signals, expires_in
):
    token = store_token(fake_canvas, users[0], expires_in=expires_in)
    fake_canvas.revoke_all()
    age(token, 400)
    prune("--unused-days", "365", "--revoke")
    assert remaining() == set()
    assert revoked_signals == [(users[0].pk, "canvas.example.edu")]


def test_revoke_keeps_tokens_canvas_could_not_be_told_about(fake_canvas, users, revoked_signals):
    token = store_token(fake_canvas, users[0])
    age(token, 400)
    fake_canvas.misbehave("revoke", "unavailable")
    out, err = prune("--unused-days", "365", "--revoke")
    assert remaining() == {token.pk}
    assert "Kept 1 tokens Canvas could not be told about" in err
    assert "1 kept because not revoked" in out
    assert revoked_signals == []
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert row.refresh_claim == ""  # released: the site may refresh it as usual
    fake_canvas.behave()
    prune("--unused-days", "365", "--revoke")
    assert remaining() == set()
    assert not fake_canvas.is_live(token.access_token)


def test_revoke_skips_a_row_being_refreshed(fake_canvas, users):
    token = store_token(fake_canvas, users[0])
    age(token, 400)
    claims.take(token, 30)
    out, _ = prune("--unused-days", "365", "--revoke")
    assert remaining() == {token.pk}
    assert fake_canvas.calls["revoke"] == 0
    assert "1 kept because in use" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--unused-days"),
        (["--unused-days", "0"], "--unused-days must be 1 or more"),
        (["--unused-days", "-3"], "--unused-days must be 1 or more"),
        (["--unused-days", "ninety"], "invalid int value"),
        (["--unused-days", "90", "--batch-size", "0"], "--batch-size must be 1 or more"),
        (["--unused-days", "99999999"], "reaches back before the year 1"),
        (["--unused-days", "999999999999"], "reaches back before the year 1"),
        (["--unused-days", "99999999", "--dry-run"], "reaches back before the year 1"),
    ],
)
def test_bad_arguments_get_a_clear_message(fake_canvas, users, args, message):
    token = store_token(fake_canvas, users[0])
    age(token, 400)
    with pytest.raises(CommandError, match=message):
        prune(*args)
    assert remaining() == {token.pk}


def test_revoke_holds_the_claim_while_canvas_is_told(fake_canvas, users, monkeypatch):
    token = store_token(fake_canvas, users[0])
    age(token, 400)
    claimed_during_revoke = []
    revoke_endpoint = fake_canvas._revoke

    def revoke_and_look(*args):
        row = CanvasOAuth2Token.objects.get(pk=token.pk)
        claimed_during_revoke.append(claims.is_claimed(row))
        return revoke_endpoint(*args)

    monkeypatch.setattr(fake_canvas, "_revoke", revoke_and_look)
    prune("--unused-days", "365", "--revoke")
    assert claimed_during_revoke == [True]
    assert remaining() == set()


def test_revoke_keeps_rows_that_cannot_be_revoked(fake_canvas, users, settings):
    undecryptable = store_token(fake_canvas, users[0])
    unconfigured = store_token(fake_canvas, users[1], domain="canvas.gone.edu")
    settings.SECRET_KEY = "lost-the-old-key"
    settings.SECRET_KEY_FALLBACKS = []
    fresh_key_token = store_token(fake_canvas, users[2], domain="canvas.gone.edu")
    for token in (undecryptable, unconfigured, fresh_key_token):
        age(token, 400)
    out, _ = prune("--unused-days", "365", "--revoke")
    assert remaining() == {undecryptable.pk, unconfigured.pk, fresh_key_token.pk}
    assert "3 kept because not revoked" in out
    assert fake_canvas.calls["revoke"] == 0
    prune("--unused-days", "365")  # without --revoke they go
    assert remaining() == set()


def test_revoke_keeps_a_row_refreshed_since_the_run_began(fake_canvas, users):
    token = store_token(fake_canvas, users[0])
    age(token, 400)
    done = []

    def refresh_before_the_claim(execute, sql, params, many, context):
        if sql.startswith("UPDATE") and not done:
            done.append(True)
            CanvasOAuth2Token.objects.get(pk=token.pk).save()  # updated_on: now
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refresh_before_the_claim):
        out, _ = prune("--unused-days", "365", "--revoke")
    assert remaining() == {token.pk}
    assert fake_canvas.calls["revoke"] == 0
    assert CanvasOAuth2Token.objects.get(pk=token.pk).refresh_claim == ""
    assert "1 kept because in use" in out


def test_revoke_keeps_a_new_authorization_saved_while_canvas_is_told(
    fake_canvas, users, monkeypatch, revoked_signals
):
    token = store_token(fake_canvas, users[0])
    age(token, 400)
    revoke_endpoint = fake_canvas._revoke

    def revoke_while_the_user_authorizes(*args):
        row = CanvasOAuth2Token.objects.get(pk=token.pk)
        claims.supersede(row)  # what save_grant does with a new dance's tokens
        row.save()
        return revoke_endpoint(*args)

    monkeypatch.setattr(fake_canvas, "_revoke", revoke_while_the_user_authorizes)
    prune("--unused-days", "365", "--revoke")
    assert remaining() == {token.pk}
    assert revoked_signals == []


def test_revoke_failing_unexpectedly_releases_the_claim(fake_canvas, users, monkeypatch):
    """A bug or an outage nobody foresaw while Canvas is told stops the run; the token stays,
    and the site may refresh it at once rather than after its claim lapses."""
    token = store_token(fake_canvas, users[0])
    age(token, 400)

    def broken(self, access_token):
        raise RuntimeError("unforeseen")

    monkeypatch.setattr("canvas_oauth.canvas.CanvasClient.revoke", broken)
    with pytest.raises(RuntimeError, match="unforeseen"):
        prune("--unused-days", "365", "--revoke")
    assert remaining() == {token.pk}
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert (row.refresh_claim, row.refresh_claimed_until) == ("", None)
