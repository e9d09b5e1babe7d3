"""This installation's name in stores other installations may share (one Redis for several).

One rule: keys an installation keeps outside its own database (sync locks
and queues, event scripts' stores) carry `installation()`, so installations
sharing a Redis never read or clear each other's.
"""

from __future__ import annotations

from django.conf import settings


def installation() -> str:
    """The platform database's name: unique per installation on a database server."""
    return str(settings.DATABASES["default"].get("NAME") or "default")
