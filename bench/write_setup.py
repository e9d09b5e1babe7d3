"""The write benchmark's fixtures: its own database, login role, service, key and servers.

One rule: everything made here is made only for `bench.write_api`, which
removes it again (`drop_database`, the login role, the service and key)
whatever fails; the demo database other benchmarks read is never touched.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from bench import read_setup
from bench.read_setup import revoke_key
from bench.servers import Server, start_server, stop_server
from config.database import platform_conninfo
from services.demo import CONTACT_COLUMNS, drop_database, load_demo
from services.models import Service

WRITE_DATABASE = "sluicegate_bench_write"
SERVICE = "bench-write"
WRITE_ROLE = read_setup.LoginRole(
    "sluicegate_bench_writer", "SELECT, INSERT, UPDATE", sequences=True
)
COLUMNS = CONTACT_COLUMNS[1:]  # every column the demo fills, less `id` (the identity)
MAX_RECORDS = 10_000
DEFAULT_MAX_BODY = 10 * 1024 * 1024  # SLUICEGATE_MAX_BODY_BYTES' default


def conninfo() -> str:
    """Return the libpq conninfo of the bench database (as the platform's user)."""
    return platform_conninfo(dbname=WRITE_DATABASE)


def create_database() -> None:
    """Load the demo into WRITE_DATABASE, then empty `contacts` (and the tables hanging off it)."""
    drop_database(WRITE_DATABASE)
    load_demo(WRITE_DATABASE)
    reset_table(fill=None)


def reset_table(fill: list[tuple[object, ...]] | None) -> None:
    """TRUNCATE contacts RESTART IDENTITY; with `fill`, COPY those rows back and VACUUM ANALYZE."""
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        # Idle pooled sessions hold no lock; a stuck one should fail the run, not hang it.
        conn.execute("SET lock_timeout = '20s'")
        conn.execute("TRUNCATE contacts RESTART IDENTITY CASCADE")
        if fill is not None:
            columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
            with (
                conn.cursor() as cur,
                cur.copy(sql.SQL("COPY contacts ({}) FROM STDIN").format(columns)) as copy,
            ):
                for row in fill:
                    copy.write_row(row)
            conn.execute("VACUUM (ANALYZE) contacts")


def prepare_sluicegate(env: dict[str, str]) -> tuple[str, list[str]]:
    """Create the admin, its API key and the SERVICE service; return (key, problems)."""
    return read_setup.prepare_sluicegate(
        env, service=SERVICE, label="Bench writes", database=WRITE_DATABASE, role=WRITE_ROLE,
        max_records=MAX_RECORDS,
    )  # fmt: skip


def start_servers(logdir: Path, base: dict[str, str], sg_env: dict[str, str], key: str,
                  body_bytes: int) -> list[Server]:  # fmt: skip
    """Start S and D and return them; if one fails, stop the other and raise."""
    sg = {**sg_env, "SLUICEGATE_ENV": "production", "ALLOWED_HOSTS": "127.0.0.1",
          "DJANGO_SETTINGS_MODULE": "config.settings"}  # fmt: skip
    drf = {**base, "DJANGO_SETTINGS_MODULE": "bench.drf_baseline.settings",
           "BENCH_DEMO_DATABASE": WRITE_DATABASE}  # fmt: skip
    if body_bytes > int(sg.get("SLUICEGATE_MAX_BODY_BYTES") or DEFAULT_MAX_BODY):
        # Through the servers' environment only; the baseline takes the same bound.
        sg["SLUICEGATE_MAX_BODY_BYTES"] = drf["SLUICEGATE_MAX_BODY_BYTES"] = str(2 * body_bytes)
    specs = (
        ("S", "config.wsgi:application", sg),
        ("D", "bench.drf_baseline.wsgi:application", drf),
    )
    servers: list[Server] = []
    try:
        for name, app, env in specs:
            servers.append(start_server(name, app, env, logdir))
    except BaseException:
        for server in servers:
            stop_server(server)
        raise
    servers[0].headers = f"X-API-Key: {key}" if key else ""
    return servers


def tear_down(key: str) -> None:
    """Revoke `key`, delete the service, drop the database and WRITE_ROLE, each whatever fails."""
    steps: list[Callable[[], object]] = [lambda: Service.objects.filter(name=SERVICE).delete(),
             lambda: drop_database(WRITE_DATABASE), lambda: read_setup.drop_login_role(WRITE_ROLE)]  # fmt: skip
    if key:
        steps.insert(0, lambda: revoke_key(key))
    for step in steps:
        # A cleanup that failed must not keep the next one from running.
        try:
            step()
        except Exception as exc:
            print(f"write_api cleanup failed: {type(exc).__name__}: {exc}", file=sys.stderr)
