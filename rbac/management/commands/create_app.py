"""`manage.py create_app --name N --role R`: create an app and print its API key once.

One rule: the key is printed once, to stdout, and only its digest is stored
(`rbac.keys.set_app_key`); `--regenerate` replaces an app's key the same way.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from rbac.keys import set_app_key
from rbac.models import App, Role


class Command(BaseCommand):
    help = (
        "Create an app with a default role and print its API key, which is shown only once; "
        "--regenerate gives an existing app a new key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="the app's name")
        parser.add_argument("--role", help="the name of the app's default role")
        parser.add_argument("--description", help="what the app is for")
        parser.add_argument(
            "--inactive", action="store_true", help="create it inactive (its key is refused)"
        )
        parser.add_argument(
            "--regenerate",
            action="store_true",
            help="replace an existing app's key; its previous key stops working",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        if options["regenerate"]:
            given = [
                flag
                for flag, option in (
                    ("--role", "role"),
                    ("--description", "description"),
                    ("--inactive", "inactive"),
                )
                if options[option]
            ]
            if given:
                raise CommandError(f"--regenerate only replaces the key; drop {', '.join(given)}.")
            app = App.objects.filter(name=name).first()
            if app is None:
                raise CommandError(f"There is no app '{name}'.")
            key = set_app_key(app)
            self.stdout.write(f"New key for app '{name}'; the previous key no longer works.")
        else:
            key = self.create(name=name, options=options)
        self.stdout.write(key)
        self.stdout.write("This key will not be shown again: store it now.")

    def create(self, *, name: str, options: dict[str, Any]) -> str:
        if not options["role"]:
            raise CommandError("A new app needs --role.")
        if App.objects.filter(name=name).exists():
            raise CommandError(f"App '{name}' already exists; use --regenerate for a new key.")
        role = Role.objects.filter(name=options["role"]).first()
        if role is None:
            raise CommandError(f"There is no role '{options['role']}'.")
        app = App(
            name=name,
            description=options["description"] or "",
            active=not options["inactive"],
            default_role=role,
        )
        try:
            app.full_clean()
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        # The app and its key are created together: never an app without a key.
        with transaction.atomic():
            app.save()
            key = set_app_key(app)
        self.stdout.write(f"Created app '{name}' with default role '{role.name}'.")
        return key
