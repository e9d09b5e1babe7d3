"""The project's own app: system checks for configuration invariants."""

from __future__ import annotations

from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Registers the `config.*` system checks."""

    name = "config"
    label = "sluicegate_config"
    verbose_name = "Sluicegate"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the checks)
