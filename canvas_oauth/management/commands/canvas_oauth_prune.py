"""Delete stored Canvas tokens not obtained or refreshed for N days.

The work is done by ``canvas_oauth.prune``; this module parses arguments and prints.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from canvas_oauth import prune


class Command(BaseCommand):
    help = (
        "Delete stored Canvas tokens not obtained or refreshed for --unused-days days "
        "(--revoke: revoke them at Canvas first). Safe while the site runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--unused-days",
            type=int,
            required=True,
            help="delete tokens not obtained or refreshed for this many days (1 or more)",
        )
        parser.add_argument(
            "--revoke",
            action="store_true",
            help="revoke each token at Canvas before deleting it (best effort)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(
        self,
        *args: Any,
        unused_days: int,
        revoke: bool,
        dry_run: bool,
        batch_size: int,
        **options: Any,
    ) -> None:
        if unused_days < 1:
            raise CommandError("--unused-days must be 1 or more.")
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        try:
            cutoff = timezone.now() - timedelta(days=unused_days)
        except OverflowError:
            raise CommandError(
                f"--unused-days {unused_days} reaches back before the year 1; give fewer days."
            ) from None
        what = f"tokens not obtained or refreshed for {unused_days} days"
        if dry_run:
            tally = prune.count(cutoff)
            verb = "revoke and delete" if revoke else "delete"
            self.stdout.write(
                f"Would {verb} {tally.unused} {what} "
                f"({tally.in_use} of them being refreshed right now would be kept)."
            )
            return

        def progress(tally: prune.Tally) -> None:
            self.stdout.write(f"Deleted {tally.deleted} of {tally.unused} {what}")

        tally = prune.prune(cutoff, batch_size=batch_size, revoke=revoke, progress=progress)
        if tally.not_revoked:
            self.stderr.write(
                f"Kept {tally.not_revoked} tokens Canvas could not be told about (see the "
                "log); the next run tries again. Without --revoke they would be deleted."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {tally.deleted} deleted, {tally.in_use} kept because in use, "
                f"{tally.not_revoked} kept because not revoked."
            )
        )
