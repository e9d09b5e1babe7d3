"""Django app configuration for `rbac`."""

from django.apps import AppConfig


class RbacConfig(AppConfig):
    """Access control."""

    name = "rbac"
    verbose_name = "Access control"

    def ready(self) -> None:
        from rbac import audit_changes, cors, signals

        signals.connect()
        audit_changes.connect()
        cors.connect()
