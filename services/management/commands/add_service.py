"""`manage.py add_service`: create or update a database service without prompts.

One rule: the password never travels on the command line (where `ps` and
shell history would show it); it comes from an environment variable or
stdin, and nothing secret is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from services.models import Service, SslMode

# Option name -> model field, for the settings a run may change.
FIELD_OPTIONS = {
    "label": "label",
    "description": "description",
    "host": "host",
    "port": "port",
    "database": "database",
    "user": "username",
    "sslmode": "sslmode",
    "schemas": "schemas",
    "max_records": "max_records",
    "pool_min_size": "pool_min_size",
    "pool_max_size": "pool_max_size",
    "statement_timeout_ms": "statement_timeout_ms",
    "active": "active",
}
REQUIRED_ON_CREATE = ("host", "database", "user")
FLAG_REFUSED_MESSAGE = (
    "there is no --password option (a password on the command line shows in `ps` and shell "
    "history); use --password-env VAR or --password-stdin"
)


class RefusePasswordFlag(argparse.Action):
    """Refuse `--password`, without echoing its value the way argparse's own errors would."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        parser.error(FLAG_REFUSED_MESSAGE)


class Command(BaseCommand):
    help = (
        "Create a database service (or change one with --update). The password comes from "
        "--password-env VAR or --password-stdin, never from the command line."
    )
    # Tests (and callers of call_command) may hand in their own stdin.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="URL name: /api/v2/<name>/…")
        parser.add_argument("--label", help="display name (default: the name)")
        parser.add_argument("--description")
        parser.add_argument("--host", help="host name, IP address or Unix socket directory")
        parser.add_argument("--port", type=int)
        parser.add_argument("--database", help="database name")
        parser.add_argument("--user", help="the PostgreSQL user to connect as")
        parser.add_argument("--sslmode", choices=SslMode.values)
        parser.add_argument("--schemas", help='comma-separated schemas (default "public")')
        parser.add_argument("--max-records", type=int)
        parser.add_argument("--pool-min-size", type=int)
        parser.add_argument("--pool-max-size", type=int)
        parser.add_argument("--statement-timeout-ms", type=int)
        parser.add_argument(
            "--active", action=argparse.BooleanOptionalAction, help="serve it (--no-active: do not)"
        )
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument(
            "--password-env", metavar="VAR", help="read the password from environment variable VAR"
        )
        secret.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        # Declared only to refuse it cleanly (and to stop argparse matching it as an
        # abbreviation of --password-env / --password-stdin and echoing the value).
        parser.add_argument(
            "--password", nargs="?", action=RefusePasswordFlag, help=argparse.SUPPRESS
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="change an existing service; options not given keep their values",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        password = read_password(
            env_var=options["password_env"],
            from_stdin=options["password_stdin"],
            stdin=options.get("stdin") or sys.stdin,
        )
        values = {
            field: options[option]
            for option, field in FIELD_OPTIONS.items()
            if options[option] is not None
        }
        if options["update"]:
            service = Service.objects.filter(name=name).first()
            if service is None:
                raise CommandError(f"There is no service '{name}' to update.")
        else:
            if Service.objects.filter(name=name).exists():
                raise CommandError(f"Service '{name}' already exists; use --update to change it.")
            missing = [f"--{option}" for option in REQUIRED_ON_CREATE if options[option] is None]
            if password is None:
                missing.append("--password-env or --password-stdin")
            if missing:
                raise CommandError(f"A new service needs {', '.join(missing)}.")
            service = Service(name=name, label=name)

        for field, value in values.items():
            setattr(service, field, value)
        if password is not None:
            service.set_password(password)
        try:
            service.full_clean()
        except ValidationError as error:
            raise CommandError(describe_validation_error(error)) from None
        created = service.pk is None
        service.save()
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} service '{service.name}' ({service.username}@{service.host}:"
            f"{service.port}/{service.database})."
        )


def read_password(*, env_var: str | None, from_stdin: bool, stdin: TextIO) -> str | None:
    """Return the password from `env_var` or `stdin`, or None when neither was asked for.

    Raises CommandError when the variable is unset or the password is empty.
    One trailing newline is dropped from stdin (as `echo` and here-strings add one).
    """
    if env_var:
        password = os.environ.get(env_var)
        if password is None:
            raise CommandError(f"Environment variable {env_var} is not set.")
    elif from_stdin:
        password = stdin.read().removesuffix("\n").removesuffix("\r")
    else:
        return None
    if not password:
        raise CommandError("The password is empty.")
    return password


def describe_validation_error(error: ValidationError) -> str:
    """Return one line per invalid field ("name: message"), for the console."""
    lines = []
    for field, messages in error.message_dict.items():
        label = "password" if field == "password_encrypted" else field
        for message in messages:
            lines.append(message if field == "__all__" else f"{label}: {message}")
    return "Invalid service:\n  " + "\n  ".join(lines)
