"""The demo service: the demo CRM database, served as `/api/v2/demo/...`.

One rule: registering is idempotent. The service points at the demo database
on the platform's own PostgreSQL server (same host, port, user and password
as `settings.DATABASES['default']`), and a run that changes nothing saves
nothing, so its config stamp (and every pool keyed on it) stays as it was.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.conf import settings

from config.crypto import DecryptionError
from services.models import Service

DEMO_SERVICE = "demo"
DEMO_LABEL = "Demo CRM"
DEMO_DESCRIPTION = "The demo CRM: companies, contacts, deals and segments, with views and routines."


def demo_service_settings(dbname: str) -> dict[str, Any]:
    """Return the demo service's field values for database `dbname` (password excluded)."""
    db = settings.DATABASES["default"]
    return {
        "label": DEMO_LABEL,
        "description": DEMO_DESCRIPTION,
        # HOST may be a Unix socket directory (the embedded server); libpq takes it as host.
        "host": db.get("HOST") or "localhost",
        "port": int(db.get("PORT") or 5432),
        "database": dbname,
        # libpq's default user is the OS user; say so explicitly.
        "username": db.get("USER") or getpass.getuser(),
        "sslmode": (db.get("OPTIONS") or {}).get("sslmode", "prefer"),
        "schemas": "public",
        "active": True,
    }


def register_demo_service(dbname: str) -> Service:
    """Create or update the service `demo` for the demo database `dbname`; return it.

    Raises django.core.exceptions.ValidationError if the platform's settings
    make an invalid service (e.g. a host longer than 255 characters).
    """
    values = demo_service_settings(dbname)
    password = settings.DATABASES["default"].get("PASSWORD") or ""
    existing = Service.objects.filter(name=DEMO_SERVICE).first()
    if existing is not None and unchanged(existing, values, password):
        return existing

    candidate = Service(name=DEMO_SERVICE, **values)
    candidate.set_password(password)
    candidate.full_clean(validate_unique=False)  # the name is ours; update_or_create below
    service, _ = Service.objects.update_or_create(
        name=DEMO_SERVICE,
        defaults={**values, "password_encrypted": candidate.password_encrypted},
    )
    return service


def unchanged(service: Service, values: dict[str, Any], password: str) -> bool:
    """Return whether `service` already has `values` and `password`."""
    if any(getattr(service, field) != value for field, value in values.items()):
        return False
    try:
        return service.get_password() == password
    except DecryptionError:
        return False
