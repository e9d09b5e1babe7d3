"""The write benchmark's fixtures: its own database, login role, service, key and servers.

One rule: everything made here is made only for `bench.write_api`, which
removes it again (`drop_database`, `drop_bench_role`, the service and key)
whatever fails; the demo database other benchmarks read is never touched.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from psycopg import sql

from bench.read_api import command, revoke_key
from bench.servers import Server, start_server, stop_server
from config.database import platform_conninfo
from services.demo import CONTACT_COLUMNS, drop_database, load_demo
from services.models import Service

WRITE_DATABASE = "sluicegate_bench_write"
SERVICE = "bench-write"
BENCH_ROLE = "sluicegate_bench_writer"  # made only when the platform's user has no password
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


def create_bench_role(password: str) -> None:
    """Create (or reset) BENCH_ROLE, allowed to read and write the bench database's tables."""
    role = sql.Identifier(BENCH_ROLE)
    with psycopg.connect(platform_conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [BENCH_ROLE]).fetchone()
        verb = sql.SQL("ALTER" if exists else "CREATE")
        # Utility statements take no bound parameters; Literal quotes the password.
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, role, sql.Literal(password))
        )
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        grant = "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {}"
        conn.execute(sql.SQL(grant).format(role))
        conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(role))


def drop_bench_role() -> None:
    """Drop BENCH_ROLE if this run made it (its grants went with the bench database)."""
    with psycopg.connect(platform_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(BENCH_ROLE)))


def prepare_sluicegate(env: dict[str, str]) -> tuple[str, list[str]]:
    """Create the admin, its API key and the SERVICE service; return (key, problems)."""
    user_model = get_user_model()
    if not user_model.objects.filter(username="bench-admin").exists():
        user_model.objects.create_superuser(
            username="bench-admin", email="bench-admin@example.com",
            password=secrets.token_urlsafe(24),
        )  # fmt: skip
    with psycopg.connect(conninfo()) as conn:
        host, port, user = conn.info.host, conn.info.port or 5432, conn.info.user
    password = str(settings.DATABASES["default"].get("PASSWORD") or "")
    if not password:
        # add_service refuses an empty password (trust/peer setups have none).
        user, password = BENCH_ROLE, secrets.token_urlsafe(24)
        create_bench_role(password)
    problems = []
    update = ["--update"] if Service.objects.filter(name=SERVICE).exists() else []
    code, out = command(
        "add_service", "--name", SERVICE, "--label", "Bench writes", "--host", host,
        "--port", str(port), "--database", WRITE_DATABASE, "--user", user,
        "--password-env", "BENCH_DB_PASSWORD", "--max-records", str(MAX_RECORDS), *update,
        env={**env, "BENCH_DB_PASSWORD": password},
    )  # fmt: skip
    if code != 0:
        problems.append(f"add_service failed ({code}): {out.strip().splitlines()[-1:]}")
    code, out = command("create_admin_key", "--user", "bench-admin", "--name", SERVICE, env=env)
    key = out.strip().splitlines()[-1].strip() if code == 0 and out.strip() else ""
    if not key:
        problems.append(f"create_admin_key failed ({code}): {out.strip().splitlines()[-1:]}")
    return key, problems


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
    """Revoke `key`, delete the service, drop the database and BENCH_ROLE, each whatever fails."""
    steps = [lambda: Service.objects.filter(name=SERVICE).delete(),
             lambda: drop_database(WRITE_DATABASE), drop_bench_role]  # fmt: skip
    if key:
        steps.insert(0, lambda: revoke_key(key))
    for step in steps:
        # A cleanup that failed must not keep the next one from running.
        try:
            step()
        except Exception as exc:
            print(f"write_api cleanup failed: {type(exc).__name__}: {exc}", file=sys.stderr)
