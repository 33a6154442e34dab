"""Re-encrypt every stored Canvas token with the current (first) encryption key.

Run it after putting a new key first in CANVAS_OAUTH_ENCRYPTION_KEYS (or a new
SECRET_KEY with the old one in SECRET_KEY_FALLBACKS); afterwards the old key can go.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import TextField, Value
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf, crypto
from canvas_oauth.fields import Ciphertext
from canvas_oauth.models import CanvasOAuth2Token

FIELDS = ["access_token", "refresh_token"]

# A row that keeps changing under us is being refreshed over and over; let it be.
ATTEMPTS = 3


class Command(BaseCommand):
    help = "Re-encrypt all stored Canvas tokens with the current encryption key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        problem = crypto.keys_problem(conf.settings.encryption_keys)
        if problem:
            raise CommandError(f"{problem} Nothing was re-encrypted.")
        total = CanvasOAuth2Token.objects.count()
        done = failed = 0
        last_pk = 0
        rows = CanvasOAuth2Token.objects.order_by("pk").values_list("pk", *FIELDS)
        while batch := list(rows.filter(pk__gt=last_pk)[:batch_size]):
            last_pk = batch[-1][0]
            for pk, *stored in batch:
                try:
                    done += rotate_row(pk, stored)
                except crypto.DecryptionError:
                    failed += 1
                    self.stderr.write(f"Token pk={pk} cannot be decrypted with any key.")
            self.stdout.write(f"Re-encrypted {done} of {total} tokens")
        self.stdout.write(self.style.SUCCESS(f"Done: {done} re-encrypted, {failed} undecryptable."))


@sensitive_variables()  # rows from the original app hold plaintext
def rotate_row(pk: int, stored: list[str]) -> bool:
    """Re-encrypt one row unless it changed since ``stored`` was read; then read it again.

    Comparing the stored values in the UPDATE itself means a token refreshed meanwhile is
    never overwritten with the one it replaced. Return False when the row is gone, or
    kept changing.
    """
    rows = CanvasOAuth2Token.objects.filter(pk=pk)
    for _ in range(ATTEMPTS):
        # Compared as stored text: a plain value would be encrypted first, and never match.
        pairs = list(zip(FIELDS, stored, strict=True))
        unchanged = {f: Value(old, output_field=TextField()) for f, old in pairs}
        fresh = {f: Ciphertext(crypto.reencrypt(old)) for f, old in pairs}
        if rows.filter(**unchanged).update(**fresh):
            return True
        current = rows.values_list(*FIELDS).first()
        if current is None:
            return False
        stored = list(current)
    return False
