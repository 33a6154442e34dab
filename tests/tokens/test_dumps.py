"""dumpdata and loaddata: a dump holds the ciphertext, and loads back to the same tokens."""

import io
import json

import pytest
from cryptography.fernet import Fernet
from django import forms
from django.core import serializers
from django.core.management import call_command
from django.db import connection

from canvas_oauth import crypto
from canvas_oauth.exceptions import MissingTokenError
from canvas_oauth.models import CanvasDeveloperKey, CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token
from tests.conftest import MADE, made, store_token

FORMATS = ["json", "xml", "yaml", "python"]


def stored(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM canvas_oauth_{table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def dump(fmt):
    """The app's rows serialised as ``fmt``: the text, and what to load it from."""
    if fmt == "yaml":
        pytest.importorskip("yaml")
    if fmt == "python":
        objects = serializers.serialize("python", every_row())
        return repr(objects), objects
    out = io.StringIO()
    call_command("dumpdata", "canvas_oauth", format=fmt, stdout=out)
    return out.getvalue(), out.getvalue()


def every_row():
    return [*CanvasOAuth2Token.objects.all(), *CanvasDeveloperKey.objects.all()]


def load(fmt, payload, tmp_path):
    CanvasOAuth2Token.objects.all().delete()
    CanvasDeveloperKey.objects.all().delete()
    if fmt == "python":
        for obj in serializers.deserialize("python", payload):
            obj.save()
        return
    fixture = tmp_path / f"canvas.{fmt}"
    fixture.write_text(payload)
    call_command("loaddata", str(fixture), stdout=io.StringIO())


@pytest.fixture
def rows(fake_canvas, user):
    token = store_token(fake_canvas, user)
    key = CanvasDeveloperKey.objects.create(
        domain="canvas.west.edu", client_id="30000000000003", client_secret=made("west")
    )
    return token, key


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_dump_holds_no_plaintext_secret(rows, fmt):
    token, _ = rows
    text, _ = dump(fmt)
    for secret in (token.access_token, token.refresh_token, MADE["west"]):
        assert secret not in text
    assert text.count("fernet$") == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_dump_loads_back_to_the_same_secrets(rows, fmt, tmp_path, rf):
    token, key = rows
    load(fmt, dump(fmt)[1], tmp_path)
    loaded = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert (loaded.access_token, loaded.refresh_token) == (token.access_token, token.refresh_token)
    assert CanvasDeveloperKey.objects.get(pk=key.pk).client_secret == MADE["west"]
    # Encrypted once: the column decrypts straight to the token, not to another ciphertext.
    assert crypto.decrypt(stored("canvasoauth2token", "access_token", token.pk)) == (
        token.access_token
    )
    assert crypto.decrypt(stored("canvasdeveloperkey", "client_secret", key.pk)) == MADE["west"]
    request = rf.get("/")
    request.user = token.user
    assert get_oauth_token(request) == token.access_token


def test_an_unread_row_is_dumped_as_stored(rows):
    token, _ = rows
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    field = CanvasOAuth2Token._meta.get_field("refresh_token")
    assert field.value_to_string(row) == stored("canvasoauth2token", "refresh_token", token.pk)
    deferred = CanvasOAuth2Token.objects.defer("refresh_token").get(pk=token.pk)
    assert crypto.decrypt(field.value_to_string(deferred)) == token.refresh_token


def test_a_plaintext_row_of_an_older_version_is_dumped_encrypted(rows, tmp_path):
    token, _ = rows
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE canvas_oauth_canvasoauth2token SET access_token = %s WHERE id = %s",
            [token.access_token, token.pk],
        )
    text, _ = dump("json")
    assert token.access_token not in text
    load("json", text, tmp_path)
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token == token.access_token


def test_a_plaintext_dump_of_an_older_version_loads_encrypted(rows, tmp_path):
    token, key = rows
    # What dumpdata wrote before: the decrypted values.
    objects = json.loads(dump("json")[0])
    objects[0]["fields"].update(access_token=token.access_token, refresh_token=token.refresh_token)
    objects[1]["fields"]["client_secret"] = MADE["west"]
    load("json", json.dumps(objects), tmp_path)
    assert stored("canvasoauth2token", "access_token", token.pk).startswith("fernet$")
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token == token.access_token
    assert CanvasDeveloperKey.objects.get(pk=key.pk).client_secret == MADE["west"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_dump_no_key_decrypts_loads_and_is_reported_like_any_such_row(
    fake_canvas, user, settings, tmp_path, rf, caplog, browser, fmt
):
    old = Fernet.generate_key().decode()
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [old]
    token = store_token(fake_canvas, user)
    key = CanvasDeveloperKey.objects.create(
        domain="canvas.west.edu", client_id="30000000000003", client_secret=made("west")
    )
    text, payload = dump(fmt)
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # another site
    load(fmt, payload, tmp_path)
    assert stored("canvasoauth2token", "access_token", token.pk) in text  # kept as dumped
    request = rf.get("/")
    request.user = user
    with pytest.raises(MissingTokenError):
        get_oauth_token(request)
    assert f"Canvas token pk={token.pk} cannot be decrypted" in caplog.text
    page = browser.get("/oauth/authorize", {"domain": "canvas.west.edu"})
    assert page.status_code == 503
    assert f"CanvasDeveloperKey pk={key.pk} (canvas.west.edu) cannot be decrypted" in caplog.text
    # The key comes back: the loaded rows are whole.
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert get_oauth_token(request) == token.access_token
    assert CanvasDeveloperKey.objects.get(pk=key.pk).client_secret == MADE["west"]


class TokenForm(forms.ModelForm):
    class Meta:
        model = CanvasOAuth2Token
        fields = ["access_token"]


def test_a_ciphertext_typed_into_a_form_is_encrypted_as_typed(fake_canvas, user):
    """Only a dump's values are taken as stored: a form cannot plant another row's ciphertext."""
    victim = store_token(fake_canvas, user)
    theirs = stored("canvasoauth2token", "access_token", victim.pk)
    mine = store_token(fake_canvas, user, domain="canvas.west.edu")
    form = TokenForm({"access_token": theirs}, instance=mine)
    assert form.is_valid(), form.errors
    form.save()
    mine.full_clean()
    mine.save()
    CanvasOAuth2Token.objects.filter(pk=victim.pk).update(refresh_token=theirs)
    assert CanvasOAuth2Token.objects.get(pk=mine.pk).access_token == theirs
    assert CanvasOAuth2Token.objects.get(pk=victim.pk).refresh_token == theirs
