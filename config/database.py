"""Connection strings for the PostgreSQL server that holds the platform's database."""

from __future__ import annotations

from django.conf import settings
from psycopg.conninfo import make_conninfo


def platform_conninfo(*, dbname: str | None = None, connect_timeout: int = 10) -> str:
    """Return a libpq conninfo for the platform's server, optionally for another database."""
    db = settings.DATABASES["default"]
    params = {
        "dbname": dbname or db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": str(db["PORT"]) if db.get("PORT") else None,
        "connect_timeout": str(connect_timeout),
    }
    return make_conninfo(**{key: value for key, value in params.items() if value is not None})
