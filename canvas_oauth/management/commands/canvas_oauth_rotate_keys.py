"""Re-encrypt every stored Canvas token with the current (first) encryption key.

Run it after putting a new key first in CANVAS_OAUTH_ENCRYPTION_KEYS (or a new
SECRET_KEY with the old one in SECRET_KEY_FALLBACKS); afterwards the old key can go.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from canvas_oauth import crypto
from canvas_oauth.fields import Ciphertext
from canvas_oauth.models import CanvasOAuth2Token


class Command(BaseCommand):
    help = "Re-encrypt all stored Canvas tokens with the current encryption key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        total = CanvasOAuth2Token.objects.count()
        done = failed = 0
        last_pk = 0
        while True:
            # Raw column values: they are re-encrypted without ever being decrypted here.
            batch = list(
                CanvasOAuth2Token.objects.filter(pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", "access_token", "refresh_token")[:batch_size]
            )
            if not batch:
                break
            with transaction.atomic():
                for pk, access, refresh in batch:
                    last_pk = pk
                    try:
                        values = {
                            "access_token": crypto.reencrypt(access),
                            "refresh_token": crypto.reencrypt(refresh or ""),
                        }
                    except crypto.DecryptionError:
                        failed += 1
                        self.stderr.write(f"Token pk={pk} cannot be decrypted with any key.")
                        continue
                    # Ciphertext tells the field these are encrypted already.
                    CanvasOAuth2Token.objects.filter(pk=pk).update(
                        **{name: Ciphertext(value) for name, value in values.items()}
                    )
                    done += 1
            self.stdout.write(f"Re-encrypted {done} of {total} tokens")
        self.stdout.write(self.style.SUCCESS(f"Done: {done} re-encrypted, {failed} undecryptable."))
