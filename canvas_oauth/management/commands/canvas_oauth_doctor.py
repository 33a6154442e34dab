"""Check that the OAuth dance will work here, for every configured Canvas instance.

The checks live in ``canvas_oauth.doctor``; this module parses arguments and prints.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from canvas_oauth import doctor


class Command(BaseCommand):
    help = (
        "Check this deployment: developer keys live at Canvas, https, clocks, encryption "
        "keys and stored rows, the popup-state cache, and the system checks. Exit status 1 "
        "when a check fails."
    )
    # The system checks are one of the doctor's own checks: a failing one is reported
    # with the rest, instead of stopping the command before it starts.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--domain", help="check only this Canvas instance")
        parser.add_argument(
            "--base-url",
            help="this site's origin, such as https://tool.example.edu, to check the "
            "redirect URI built from it (when CANVAS_OAUTH_REDIRECT_URI is unset)",
        )
        parser.add_argument(
            "--sample",
            type=int,
            default=100,
            help="token rows to decrypt from each end of the table (default 100; 0: none)",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print a machine-readable report"
        )

    def handle(
        self,
        *args: Any,
        domain: str | None,
        base_url: str | None,
        sample: int,
        as_json: bool,
        **options: Any,
    ) -> None:
        if sample < 0:
            raise CommandError("--sample must be 0 or more.")
        if base_url is not None:
            try:
                parts = urlsplit(base_url)
                usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            except ValueError:  # an unclosed [ of an IPv6 address
                usable = False
            if not usable:
                raise CommandError(
                    f"--base-url {base_url!r} is not an origin such as https://tool.example.edu."
                )
        try:
            report = doctor.examine(domain=domain, base_url=base_url, sample=sample)
        except doctor.UnknownDomainError as exc:
            raise CommandError(str(exc)) from None
        if as_json:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
        else:
            for finding in report.findings:
                where = f"{finding.domain} " if finding.domain else ""
                line = f"{finding.status.upper():8} {where}{finding.check}: {finding.message}"
                self.stdout.write(self._styled(finding.status, line))
        failed = sum(f.status == doctor.ERROR for f in report.findings)
        if failed:
            raise CommandError(f"{failed} check(s) failed.", returncode=1)
        if not as_json:
            self.stdout.write(self.style.SUCCESS("All checks passed."))

    def _styled(self, status: str, line: str) -> str:
        if status == doctor.ERROR:
            return self.style.ERROR(line)
        if status == doctor.WARNING:
            return self.style.WARNING(line)
        return line
