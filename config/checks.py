"""System checks for the platform's configuration (ids `config.W00x`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

HINT = (
    "Set {var}, or start the embedded servers with `make run` or "
    "`.venv/bin/python -m config.launch exec -- <command>`."
)


@checks.register()
def check_service_urls(**kwargs: Any) -> list[checks.CheckMessage]:
    """Report a missing DATABASE_URL / REDIS_URL when no embedded server stands in."""
    errors: list[checks.CheckMessage] = []
    if not settings.DATABASE_URL:
        errors.append(
            checks.Warning(
                "DATABASE_URL is not set and no embedded PostgreSQL is running.",
                hint=HINT.format(var="DATABASE_URL"),
                id="config.W001",
            )
        )
    if not settings.REDIS_URL:
        errors.append(
            checks.Warning(
                "REDIS_URL is not set and no embedded Redis is running.",
                hint=HINT.format(var="REDIS_URL"),
                id="config.W002",
            )
        )
    return errors
