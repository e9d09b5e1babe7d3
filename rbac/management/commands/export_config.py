"""`manage.py export_config [--output FILE]`: write the configuration as one YAML document.

One rule: the document holds no secret (see `rbac.config_io`), so it may be
kept in version control.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rbac.config_io import export_config


class Command(BaseCommand):
    help = (
        "Write services, roles with their rules, apps, users' roles and lookups as one YAML "
        "document; passwords and private values become {env: VARIABLE} references."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        text = export_config()
        if not options["output"]:
            self.stdout.write(text, ending="")
            return
        try:
            Path(options["output"]).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot write {options['output']}: {error.strerror}.") from None
        self.stdout.write(f"Wrote the configuration to {options['output']}.")
