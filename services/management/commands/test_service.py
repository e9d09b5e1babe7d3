"""`manage.py test_service NAME`: connect to a service's database and print its version.

One rule: the output is the clean message of `services.probe`, and a failed
connection exits with status 1, so scripts and health checks can rely on it.
Warnings about the role's privileges go to stderr and leave the status 0.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from services.models import Service
from services.probe import check_connection


class Command(BaseCommand):
    help = (
        "Test a service's database connection; print the server version or why it failed, "
        "and warn about privileges that get past row-level security."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the service's name")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        service = Service.objects.filter(name=name).first()
        if service is None:
            raise CommandError(f"There is no service '{name}'.")
        result = check_connection(service)
        if not result.ok:
            raise CommandError(f"{name}: {result.message}")
        self.stdout.write(f"{name}: {result.message}")
        for warning in result.warnings:
            self.stderr.write(f"Warning: service '{name}' {warning}.", self.style.WARNING)
