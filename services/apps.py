"""Django app configuration for `services`."""

from django.apps import AppConfig


class ServicesConfig(AppConfig):
    """Database services."""

    name = "services"
    verbose_name = "Database services"
