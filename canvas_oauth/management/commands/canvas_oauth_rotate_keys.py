"""Re-encrypt every encrypted column (Canvas tokens, developer-key secrets) with the
current (first) encryption key.

Run it after putting a new key first in CANVAS_OAUTH_ENCRYPTION_KEYS (or a new
SECRET_KEY with the old one in SECRET_KEY_FALLBACKS); afterwards the old key can go.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Model, TextField, Value
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf, crypto
from canvas_oauth.fields import Ciphertext, EncryptedTextField
from canvas_oauth.models import CanvasDeveloperKey, CanvasOAuth2Token

# Every model with encrypted columns, and what its rows are called in the output.
MODELS: list[tuple[type[Model], str]] = [
    (CanvasOAuth2Token, "tokens"),
    (CanvasDeveloperKey, "developer keys"),
]

# A row that keeps changing under us is being refreshed over and over; let it be.
ATTEMPTS = 3


def encrypted_fields(model: type[Model]) -> list[str]:
    """Return the names of ``model``'s encrypted columns."""
    return [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]


class Command(BaseCommand):
    help = "Re-encrypt all stored Canvas tokens and developer-key secrets with the current key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        problem = crypto.keys_problem(conf.settings.encryption_keys)
        if problem:
            raise CommandError(f"{problem} Nothing was re-encrypted.")
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        done = failed = 0
        for model, label in MODELS:
            model_done, model_failed = self._rotate(model, label, batch_size)
            done, failed = done + model_done, failed + model_failed
        self.stdout.write(self.style.SUCCESS(f"Done: {done} re-encrypted, {failed} undecryptable."))

    def _rotate(self, model: type[Model], label: str, batch_size: int) -> tuple[int, int]:
        fields = encrypted_fields(model)
        total = model._default_manager.count()
        done = failed = 0
        last_pk = 0
        rows = model._default_manager.order_by("pk").values_list("pk", *fields)
        while batch := list(rows.filter(pk__gt=last_pk)[:batch_size]):
            last_pk = batch[-1][0]
            for pk, *stored in batch:
                try:
                    done += rotate_row(model, fields, pk, stored)
                except crypto.DecryptionError:
                    failed += 1
                    self.stderr.write(f"{model.__name__} pk={pk} cannot be decrypted with any key.")
            self.stdout.write(f"Re-encrypted {done} of {total} {label}")
        return done, failed


@sensitive_variables()  # rows from the original app hold plaintext
def rotate_row(model: type[Model], fields: list[str], pk: int, stored: list[str]) -> bool:
    """Re-encrypt one row unless it changed since ``stored`` was read; then read it again.

    Comparing the stored values in the UPDATE itself means a token refreshed meanwhile is
    never overwritten with the one it replaced. Return False when the row is gone, or
    kept changing.
    """
    rows = model._default_manager.filter(pk=pk)
    for _ in range(ATTEMPTS):
        # Compared as stored text: a plain value would be encrypted first, and never match.
        pairs = list(zip(fields, stored, strict=True))
        unchanged = {f: Value(old, output_field=TextField()) for f, old in pairs}
        fresh = {f: Ciphertext(crypto.reencrypt(old)) for f, old in pairs}
        if rows.filter(**unchanged).update(**fresh):
            return True
        current = rows.values_list(*fields).first()
        if current is None:
            return False
        stored = list(current)
    return False
