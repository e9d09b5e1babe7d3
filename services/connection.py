"""The connection settings of one database service, as an immutable value.

One rule: code that connects to a target database (pools, introspection,
"test connection") takes a `ServiceConfig`, never the Django model, so it
holds the decrypted password only as long as it needs it and never touches
the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How to reach one service's database and how to serve it.

    `stamp` changes whenever any connection setting changes (the model's
    `updated_at`), so pools keyed on (name, stamp) are rebuilt after an edit.
    """

    name: str
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    sslmode: str = "prefer"
    schemas: tuple[str, ...] = ("public",)
    max_records: int = 1000
    pool_min_size: int = 1
    pool_max_size: int = 10
    statement_timeout_ms: int = 30_000
    assume_roles: bool = False
    stamp: str = ""

    def conninfo_params(self) -> dict[str, str]:
        """Return libpq keyword parameters (for `psycopg.conninfo.make_conninfo`)."""
        return {
            "host": self.host,
            "port": str(self.port),
            "dbname": self.database,
            "user": self.user,
            "password": self.password,
            "sslmode": self.sslmode,
            "application_name": f"sluicegate:{self.name}",
        }
