# Tokens are encrypted at rest from here on; rows stored in plaintext are encrypted now,
# and decrypted again if this migration is reversed.

from collections.abc import Callable

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

import canvas_oauth.fields
from canvas_oauth import crypto

BATCH = 500


def encrypt_rows(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _rewrite(apps, schema_editor, crypto.reencrypt)


def decrypt_rows(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _rewrite(apps, schema_editor, crypto.decrypt)


def _rewrite(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor, transform: Callable[[str], str]
) -> None:
    # Raw SQL: the historical model's field would encrypt whatever it is given.
    Token = apps.get_model("canvas_oauth", "CanvasOAuth2Token")
    table = schema_editor.quote_name(Token._meta.db_table)
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        last = 0
        while True:
            cursor.execute(
                f"SELECT id, access_token, refresh_token FROM {table} "  # noqa: S608
                "WHERE id > %s ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            for pk, access, refresh in rows:
                last = pk
                try:
                    values = [transform(access), transform(refresh or "")]
                except crypto.DecryptionError:
                    continue  # written under a key we no longer have; leave it as it is
                cursor.execute(
                    f"UPDATE {table} SET access_token = %s, refresh_token = %s "  # noqa: S608
                    "WHERE id = %s",
                    [*values, pk],
                )


class Migration(migrations.Migration):
    dependencies = [
        ("canvas_oauth", "0003_token_per_domain"),
    ]

    operations = [
        migrations.AlterField(
            model_name="canvasoauth2token",
            name="access_token",
            field=canvas_oauth.fields.EncryptedTextField(),
        ),
        migrations.AlterField(
            model_name="canvasoauth2token",
            name="refresh_token",
            field=canvas_oauth.fields.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(encrypt_rows, decrypt_rows),
    ]
