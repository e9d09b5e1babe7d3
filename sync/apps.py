"""Django app configuration for `sync`."""

from django.apps import AppConfig


class SyncConfig(AppConfig):
    """HubSpot sync."""

    name = "sync"
    verbose_name = "HubSpot sync"

    def ready(self) -> None:
        # Every process (web, worker, management command) publishes job
        # changes, so the API's write path learns of them at once.
        from sync import triggers  # noqa: F401
