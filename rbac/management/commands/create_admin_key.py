"""`manage.py create_admin_key --user NAME --name LABEL`: print a new admin API key once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rbac.keys import create_admin_key


class Command(BaseCommand):
    help = "Create an API key acting as the given superuser; the key is printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="an active superuser's username")
        parser.add_argument("--name", required=True, help="what the key is for")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None or not (user.is_active and user.is_superuser):
            raise CommandError(f"No active superuser named '{options['user']}'.")
        created = create_admin_key(user=user, name=options["name"])
        self.stdout.write(created.key)
