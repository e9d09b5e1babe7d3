"""`manage.py demo`: load the demo CRM database, register it as service `demo`, add the admin."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from services.demo import load_demo
from services.demo.accounts import ensure_demo_admin, ensure_demo_api_key, ensure_demo_app
from services.demo.service import register_demo_service
from services.demo.sync_job import register_demo_sync


class Command(BaseCommand):
    help = (
        "Create the demo CRM database, register it as service 'demo' and create the demo "
        "admin user (all idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            default=None,
            help="name of the demo database (default: SLUICEGATE_DEMO_DATABASE)",
        )
        parser.add_argument(
            "--reset", action="store_true", help="drop and rebuild the demo data even if present"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dbname = options["database"] or settings.SLUICEGATE_DEMO_DATABASE
        result = load_demo(dbname, reset=options["reset"])
        counts = ", ".join(f"{table} {count}" for table, count in result.counts.items())
        verb = "Loaded" if result.loaded else "Kept"
        postgis = "with PostGIS" if result.postgis else "without PostGIS"
        self.stdout.write(f"{verb} demo database {dbname} ({postgis}): {counts}.")
        service = register_demo_service(dbname)
        self.stdout.write(f"Registered service '{service.name}'.")
        if ensure_demo_admin(settings.SLUICEGATE_DATA_DIR):
            self.stdout.write("Created the demo admin user 'admin'.")
        ensure_demo_api_key(settings.SLUICEGATE_DATA_DIR)
        ensure_demo_app(settings.SLUICEGATE_DATA_DIR, service)
        job = register_demo_sync(service)
        self.stdout.write(
            f"Sync job '{job.name}' pushes contacts to {job.account.base_url} "
            f"every {job.interval_seconds or 0} s."
        )
