"""Django app configuration for `sync`."""

from django.apps import AppConfig


class SyncConfig(AppConfig):
    """HubSpot sync."""

    name = "sync"
    verbose_name = "HubSpot sync"
