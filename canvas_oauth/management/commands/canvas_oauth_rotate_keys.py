"""Re-encrypt every stored Canvas token with the current (first) encryption key.

Run it after putting a new key first in CANVAS_OAUTH_ENCRYPTION_KEYS (or a new
SECRET_KEY with the old one in SECRET_KEY_FALLBACKS); afterwards the old key can go.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from canvas_oauth import crypto
from canvas_oauth.models import CanvasOAuth2Token

FIELDS = ["access_token", "refresh_token"]


class Command(BaseCommand):
    help = "Re-encrypt all stored Canvas tokens with the current encryption key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        total = CanvasOAuth2Token.objects.count()
        done = failed = 0
        last_pk = 0
        rows = CanvasOAuth2Token.objects.order_by("pk").only("pk", *FIELDS)
        while batch := list(rows.filter(pk__gt=last_pk)[:batch_size]):
            last_pk = batch[-1].pk
            readable = []
            for token in batch:
                try:
                    # Reading decrypts with any configured key; saving encrypts with the first.
                    token.access_token, token.refresh_token  # noqa: B018
                except crypto.DecryptionError:
                    failed += 1
                    self.stderr.write(f"Token pk={token.pk} cannot be decrypted with any key.")
                    continue
                readable.append(token)
            with transaction.atomic():
                CanvasOAuth2Token.objects.bulk_update(readable, FIELDS)
            done += len(readable)
            self.stdout.write(f"Re-encrypted {done} of {total} tokens")
        self.stdout.write(self.style.SUCCESS(f"Done: {done} re-encrypted, {failed} undecryptable."))
