"""`manage.py import_config FILE [--dry-run]`: apply a YAML configuration document.

One rule: the document applies whole or not at all, in one transaction;
`--dry-run` prints the same report and rolls back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rbac.config_io import ConfigError, import_config


class Command(BaseCommand):
    help = (
        "Create or update services, roles, apps, users' roles and lookups from a YAML document "
        "(as export_config writes it) and report what changed."
    )
    # Tests (and callers of call_command) may hand in their own stdin.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="the YAML document; - reads stdin")
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change; write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["file"]
        try:
            if path == "-":
                text = (options.get("stdin") or sys.stdin).read()
            else:
                text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}.") from None
        try:
            report = import_config(text, dry_run=options["dry_run"])
        except ConfigError as error:
            raise CommandError(f"Not imported, nothing was changed: {error}") from None
        for line in report.lines():
            self.stdout.write(line)
        if report.dry_run:
            self.stdout.write("Dry run: nothing was written.")
