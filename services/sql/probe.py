"""The one statement "test connection" runs on a target database.

One rule (the package's): SQL text for target databases lives in
`services.sql`; `services.probe` connects and calls this.
"""

from __future__ import annotations

from typing import Any

import psycopg


def server_version(conn: psycopg.Connection[Any]) -> str:
    """Return the server's version string, e.g. "16.4 (Debian 16.4-1.pgdg120+1)"."""
    row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else ""
