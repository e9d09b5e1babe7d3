"""`manage.py refresh_schema NAME` / `--all`: re-read services' schemas into new snapshots.

One rule: every service asked for is tried, its outcome printed as one clean
line, and the command exits with status 1 if any of them failed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from services.models import Service
from services.probe import check_schema


class Command(BaseCommand):
    help = "Refresh the schema snapshot of one service, or of every active one with --all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="the service's name")
        parser.add_argument("--all", action="store_true", help="every active service")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str | None = options["name"]
        if bool(name) == bool(options["all"]):
            raise CommandError("Give a service name or --all (not both).")
        if name:
            services = list(Service.objects.filter(name=name))
            if not services:
                raise CommandError(f"There is no service '{name}'.")
        else:
            services = list(Service.objects.filter(active=True))
            if not services:
                self.stdout.write("No active services.")
                return

        failed = []
        for service in services:
            result = check_schema(service)
            line = f"{service.name}: {result.message}"
            if result.ok:
                self.stdout.write(line)
            else:
                failed.append(service.name)
                self.stderr.write(line)
        if failed:
            raise CommandError(f"Schema refresh failed for {', '.join(failed)}.")
