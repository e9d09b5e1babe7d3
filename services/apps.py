"""Django app configuration for `services`."""

from django.apps import AppConfig


class ServicesConfig(AppConfig):
    """Database services; registers the `services.*` system checks."""

    name = "services"
    verbose_name = "Database services"

    def ready(self) -> None:
        from services import checks  # noqa: F401  (registers the checks)
