"""Tokens are encrypted at rest, keys rotate, and an undecryptable row is not a 500."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from canvas_oauth import crypto, undecryptable
from canvas_oauth.exceptions import MissingTokenError
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token
from tests.conftest import MADE, made, store_token


def raw_row(pk):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM canvas_oauth_canvasoauth2token WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


def as_request(rf, user):
    request = rf.get("/")
    request.user = user
    return request


def test_the_database_holds_no_plaintext_token(user, fake_canvas):
    token = store_token(fake_canvas, user)
    fresh = CanvasOAuth2Token.objects.get(pk=token.pk)
    access, refresh = raw_row(token.pk)
    assert fresh.access_token not in access
    assert fresh.refresh_token not in refresh
    assert access.startswith("fernet$")
    assert fake_canvas.is_live(fresh.access_token)


def test_full_table_dump_shows_no_token(browser, fake_canvas, user):
    from tests.conftest import dance

    dance(browser, fake_canvas)
    token = CanvasOAuth2Token.objects.get(user=user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM canvas_oauth_canvasoauth2token")
        dump = repr(cursor.fetchall())
    assert token.access_token not in dump
    assert token.refresh_token not in dump


def test_configured_keys_first_encrypts_all_decrypt(user, fake_canvas, settings, rf):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [old]
    token = store_token(fake_canvas, user)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [new, old]
    assert get_oauth_token(as_request(rf, user)) == token.access_token
    out = io.StringIO()
    call_command("canvas_oauth_rotate_keys", batch_size=1, stdout=out)
    assert "Re-encrypted 1 of 1 tokens" in out.getvalue()
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [new]
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token == token.access_token


def test_secret_key_rotation_with_fallbacks(user, fake_canvas, settings, rf):
    token = store_token(fake_canvas, user)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key"
    assert get_oauth_token(as_request(rf, user)) == token.access_token
    call_command("canvas_oauth_rotate_keys", stdout=io.StringIO())
    settings.SECRET_KEY_FALLBACKS = []
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token == token.access_token


def test_undecryptable_row_restarts_the_dance_and_logs_once(
    user, fake_canvas, settings, rf, caplog
):
    store_token(fake_canvas, user)
    settings.SECRET_KEY = "lost-the-old-key"
    for _ in range(2):
        with pytest.raises(MissingTokenError):
            get_oauth_token(as_request(rf, user))
    errors = [r for r in caplog.records if "cannot be decrypted" in r.getMessage()]
    assert len(errors) == 1


def test_refreshing_an_undecryptable_row_keeps_it_for_when_the_key_returns(
    user, fake_canvas, settings, rf, caplog
):
    from canvas_oauth.oauth import refresh_oauth_token

    key = Fernet.generate_key()
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [key]
    token = store_token(fake_canvas, user)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]  # the key is lost
    with pytest.raises(MissingTokenError):
        refresh_oauth_token(as_request(rf, user))
    assert [r.levelname for r in caplog.records if "cannot be decrypted" in r.getMessage()] == [
        "ERROR"
    ]
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [key]  # and found again
    assert get_oauth_token(as_request(rf, user)) == token.access_token


def test_a_row_lost_again_after_a_new_dance_is_reported_again(
    browser, user, fake_canvas, settings, rf, caplog
):
    from tests.conftest import dance

    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    store_token(fake_canvas, user)
    for _ in range(2):
        settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]  # the key is lost
        for _ in range(2):
            with pytest.raises(MissingTokenError):
                get_oauth_token(as_request(rf, user))
        dance(browser, fake_canvas)  # the user authorizes again: the row is written anew
    errors = [r for r in caplog.records if "cannot be decrypted" in r.getMessage()]
    assert len(errors) == 2


def test_the_memory_of_reported_rows_is_bounded(
    user, other_user, fake_canvas, settings, rf, caplog, monkeypatch
):
    from canvas_oauth import undecryptable

    monkeypatch.setattr(undecryptable, "REPORTED_LIMIT", 1)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    store_token(fake_canvas, user)
    store_token(fake_canvas, other_user)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    for someone in (user, other_user, user):
        with pytest.raises(MissingTokenError):
            get_oauth_token(as_request(rf, someone))
    errors = [r for r in caplog.records if "cannot be decrypted" in r.getMessage()]
    assert len(errors) == 3


def test_undecryptable_row_is_replaced_by_a_new_dance(browser, user, fake_canvas, settings):
    from tests.conftest import dance

    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    store_token(fake_canvas, user)
    # The key is lost (SECRET_KEY stays: changing it would log the browser out).
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    assert dance(browser, fake_canvas).status_code == 302
    assert browser.get("/canvas/").status_code == 200


def test_rotation_reports_rows_no_key_can_read(user, fake_canvas, settings):
    store_token(fake_canvas, user)
    settings.SECRET_KEY = "lost-the-old-key"
    err = io.StringIO()
    call_command("canvas_oauth_rotate_keys", stdout=io.StringIO(), stderr=err)
    assert "cannot be decrypted" in err.getvalue()


def test_plaintext_values_read_unchanged_and_encrypt_on_save(user, fake_canvas):
    token = store_token(fake_canvas, user)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE canvas_oauth_canvasoauth2token SET access_token = %s WHERE id = %s",
            ["plain-legacy-token", token.pk],
        )
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert row.access_token == "plain-legacy-token"
    row.save()
    assert raw_row(token.pk)[0].startswith(crypto.PREFIX)


def test_an_unread_value_is_saved_back_without_reencryption(user, fake_canvas):
    token = store_token(fake_canvas, user)
    before = raw_row(token.pk)
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    row.canvas_user_name = "renamed"
    row.save()
    assert raw_row(token.pk) == before


def test_unusable_keys_stop_the_callback_before_canvas_is_asked(browser, fake_canvas, settings):
    from tests.conftest import dance

    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    response = dance(browser, fake_canvas)
    assert response.status_code == 500
    assert b"configuration problem" in response.content
    assert fake_canvas.calls["token"] == 0
    assert not CanvasOAuth2Token.objects.exists()


def test_unusable_keys_are_a_system_check_error_without_deploy(settings):
    from django.core.management.base import SystemCheckError

    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(SystemCheckError, match=r"canvas_oauth\.E015"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


def test_error_reports_of_a_crash_while_storing_hide_the_token(user, settings, rf):
    import sys

    from django.views.debug import ExceptionReporter

    from canvas_oauth.canvas import TokenGrant
    from canvas_oauth.tokens import save_grant

    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    try:
        save_grant(user, "canvas.example.edu", TokenGrant(made("a"), made("r"), 3600, None), [])
    except Exception:
        report = ExceptionReporter(rf.get("/"), *sys.exc_info()).get_traceback_html()
    assert "_save_table" in report and "Local vars" in report
    assert MADE["a"] not in report and MADE["r"] not in report


def test_rotation_keeps_a_token_refreshed_while_it_runs(user, fake_canvas, settings, rf):
    from canvas_oauth.tokens import refresh

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [old]
    token = store_token(fake_canvas, user)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [new, old]
    refreshed = {}

    def refresh_before_the_first_write(execute, sql, params, many, context):
        # A request refreshes the token between the command's read and its write.
        if sql.startswith("UPDATE") and not refreshed:
            refreshed["token"] = None  # the refresh's own UPDATE passes straight through
            refreshed["token"] = refresh(CanvasOAuth2Token.objects.get(pk=token.pk), force=True)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refresh_before_the_first_write):
        call_command("canvas_oauth_rotate_keys", stdout=io.StringIO())
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [new]
    stored = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert stored.access_token == refreshed["token"].access_token != token.access_token
    assert fake_canvas.is_live(stored.access_token)


def test_unusable_keys_are_a_clear_page_where_a_token_is_read(browser, user, fake_canvas, settings):
    store_token(fake_canvas, user)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = "not-a-list-of-keys"
    response = browser.get("/canvas/")
    assert response.status_code == 500
    assert b"configuration problem" in response.content
    assert fake_canvas.calls.total() == 0
    assert CanvasOAuth2Token.objects.filter(user=user).exists()


def test_rotation_with_unusable_keys_stops_with_a_clear_message(user, fake_canvas, settings):
    store_token(fake_canvas, user)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(CommandError, match=r"not a Fernet key\. Nothing was re-encrypted\."):
        call_command("canvas_oauth_rotate_keys")


def _blaming_secret_key(caplog):
    return [r.getMessage() for r in caplog.records if "SECRET_KEY has changed" in r.getMessage()]


def test_a_changed_secret_key_is_explained_once_per_process(
    user, other_user, fake_canvas, settings, rf, caplog, monkeypatch
):
    monkeypatch.setattr(undecryptable, "_explained", False)  # a new process
    store_token(fake_canvas, user)
    store_token(fake_canvas, other_user)
    settings.SECRET_KEY = "made-up-at-start-up"  # as a settings file without one does
    for who in (user, other_user, user):
        with pytest.raises(MissingTokenError):
            get_oauth_token(as_request(rf, who))
    (explained,) = _blaming_secret_key(caplog)
    assert "CANVAS_OAUTH_ENCRYPTION_KEYS" in explained
    assert "SECRET_KEY_FALLBACKS" in explained
    rows = [r for r in caplog.records if "cannot be decrypted with the" in r.getMessage()]
    assert len(rows) == 2  # each row still said once


def test_with_configured_keys_a_lost_key_does_not_blame_secret_key(
    user, fake_canvas, settings, rf, caplog, monkeypatch
):
    monkeypatch.setattr(undecryptable, "_explained", False)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    store_token(fake_canvas, user)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    with pytest.raises(MissingTokenError):
        get_oauth_token(as_request(rf, user))
    assert "cannot be decrypted" in caplog.text
    assert not _blaming_secret_key(caplog)


def west_key(fernet_key, settings):
    """A developer key for canvas.west.edu, its secret encrypted under ``fernet_key``."""
    from canvas_oauth.models import CanvasDeveloperKey

    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [fernet_key]
    return CanvasDeveloperKey.objects.create(
        domain="canvas.west.edu", client_id="30000000000003", client_secret=made("west")
    )


def test_rotation_reencrypts_developer_key_secrets(browser, settings):
    from canvas_oauth.models import CanvasDeveloperKey

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    row = west_key(old, settings)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("canvas_oauth_rotate_keys", stdout=out)
    assert "Re-encrypted 1 of 1 developer keys" in out.getvalue()
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [new]  # the documented last step
    assert CanvasDeveloperKey.objects.get(pk=row.pk).client_secret == MADE["west"]
    response = browser.get("/oauth/authorize", {"domain": "canvas.west.edu"})
    assert response.status_code == 302
    assert response["Location"].startswith("https://canvas.west.edu/login/oauth2/auth?")


def test_an_undecryptable_developer_key_is_a_clear_page(browser, settings, caplog):
    row = west_key(Fernet.generate_key().decode(), settings)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # old one lost
    for params in ({}, {"popup": "1"}):
        response = browser.get("/oauth/authorize", {"domain": "canvas.west.edu", **params})
        assert response.status_code == 503
        assert b"because of a configuration problem" in response.content
    assert f"CanvasDeveloperKey pk={row.pk} (canvas.west.edu) cannot be decrypted" in caplog.text
    err = io.StringIO()
    call_command("canvas_oauth_rotate_keys", stdout=io.StringIO(), stderr=err)
    assert f"CanvasDeveloperKey pk={row.pk} cannot be decrypted" in err.getvalue()
