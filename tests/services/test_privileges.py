"""Defence in depth: privileges that get past row-level security, and assumed roles.

The test database and roles are this worker's own (roles are cluster-wide,
so their names carry `worker_suffix`) and are dropped at the end. The local
PostgreSQL trusts connections from 127.0.0.1, so the LOGIN roles created here
connect without a password; `postgres` is a superuser there.
"""

from __future__ import annotations

import html
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from psycopg import sql
from psycopg.conninfo import make_conninfo

from config.database import platform_conninfo
from config.environment import BASE_DIR
from services import checks as service_checks
from services.connection import ServiceConfig
from services.models import Service
from services.probe import test_connection
from services.sql import session
from services.sql.probe import PrivilegeReport, Risk, read_privileges

PASSWORD = "pw-Privileges-Unused-4410"
SCHEMA_SQL = """
CREATE SCHEMA other;
CREATE TABLE notes (id serial PRIMARY KEY, owner integer NOT NULL, body text NOT NULL);
INSERT INTO notes (owner, body) VALUES (1, 'first of 1'), (2, 'only of 2'), (1, 'second of 1');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY notes_of_owner ON notes
    USING (owner = (current_setting('request.claims', true)::jsonb->>'user_id')::int);
CREATE TABLE ledger (id integer PRIMARY KEY);
CREATE VIEW ledger_ids AS SELECT id FROM ledger;
CREATE TABLE other.archive (id integer PRIMARY KEY);
"""


@dataclass(frozen=True, slots=True)
class Roles:
    """The roles of this worker: names are unique per run and worker."""

    reader: str  # NOLOGIN, SELECT on notes: the role requests assume
    plain: str  # LOGIN, owns nothing
    owner: str  # LOGIN, owns ledger, the view ledger_ids and other.archive
    member: str  # LOGIN, member of `owner`
    bypass: str  # LOGIN BYPASSRLS, owns nothing

    def all(self) -> tuple[str, ...]:
        return (self.member, self.reader, self.plain, self.owner, self.bypass)


@dataclass(frozen=True, slots=True)
class PrivDatabase:
    name: str
    roles: Roles


def drop_roles(names: tuple[str, ...], dbname: str) -> None:
    """Drop what the roles own or were granted in `dbname`, then the roles themselves."""
    with psycopg.connect(platform_conninfo(dbname=dbname), autocommit=True) as conn:
        existing = [
            row[0]
            for row in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(names)]
            )
        ]
        if existing:
            roles = sql.SQL(", ").join(sql.Identifier(name) for name in existing)
            conn.execute(sql.SQL("DROP OWNED BY {}").format(roles))
    with psycopg.connect(platform_conninfo(), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def priv_database(
    worker_suffix: str, django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[PrivDatabase]:
    """A database of this worker's own with an RLS table, and the roles of `Roles`."""
    from services.demo import drop_database, ensure_database

    name = f"sg_test_priv_{worker_suffix}"
    roles = Roles(
        reader=f"sg_rls_reader_{worker_suffix}",
        plain=f"sg_plain_login_{worker_suffix}",
        owner=f"sg_table_owner_{worker_suffix}",
        member=f"sg_owner_member_{worker_suffix}",
        bypass=f"sg_bypass_rls_{worker_suffix}",
    )
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        # Left over by an interrupted run: the database first, so the roles own nothing.
        drop_database(name)
        drop_roles(roles.all(), "postgres")
        ensure_database(name)
        try:
            with psycopg.connect(platform_conninfo(dbname=name), autocommit=True) as conn:
                ident = {f.name: sql.Identifier(getattr(roles, f.name)) for f in fields(roles)}
                for statement in (
                    "CREATE ROLE {reader} NOLOGIN",
                    "CREATE ROLE {plain} LOGIN",
                    "CREATE ROLE {owner} LOGIN",
                    "CREATE ROLE {member} LOGIN IN ROLE {owner}",
                    "CREATE ROLE {bypass} LOGIN BYPASSRLS",
                ):
                    conn.execute(sql.SQL(statement).format(**ident))
                conn.execute(SCHEMA_SQL.encode())
                for statement in (
                    "GRANT SELECT ON notes TO {reader}",
                    "GRANT USAGE ON SCHEMA other TO {owner}",
                    "ALTER TABLE ledger OWNER TO {owner}",
                    "ALTER VIEW ledger_ids OWNER TO {owner}",
                    "ALTER TABLE other.archive OWNER TO {owner}",
                ):
                    conn.execute(sql.SQL(statement).format(**ident))
            yield PrivDatabase(name=name, roles=roles)
        finally:
            drop_roles(roles.all(), name)
            drop_database(name)


def platform_host() -> str:
    return str(settings.DATABASES["default"].get("HOST") or "localhost")


def platform_port() -> int:
    return int(settings.DATABASES["default"].get("PORT") or 5432)


def connect_as(db: PrivDatabase, user: str | None = None) -> psycopg.Connection[Any]:
    """An autocommit connection to the test database, like the pools' (as `user`)."""
    conninfo = platform_conninfo(dbname=db.name)
    if user is not None:
        conninfo = make_conninfo(conninfo, user=user, password="")
    return psycopg.connect(conninfo, autocommit=True)


def config_for(db: PrivDatabase, user: str, **overrides: Any) -> ServiceConfig:
    values: dict[str, Any] = {
        "name": "priv",
        "host": platform_host(),
        "port": platform_port(),
        "database": db.name,
        "user": user,
        "password": PASSWORD,
        "sslmode": "prefer",
    }
    values.update(overrides)
    return ServiceConfig(**values)


def saved_service(db: PrivDatabase, user: str, **overrides: Any) -> Service:
    values: dict[str, Any] = {
        "name": "priv",
        "label": "Privileges",
        "host": platform_host(),
        "port": platform_port(),
        "database": db.name,
        "username": user,
    }
    values.update(overrides)
    service = Service(**values)
    service.set_password(PASSWORD)
    service.full_clean()
    service.save()
    return service


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def report_as(db: PrivDatabase, user: str | None, *schemas: str) -> PrivilegeReport:
    with connect_as(db, user) as conn:
        return read_privileges(conn, schemas=schemas or ("public",))


# --- the privilege probe ---


def test_a_superuser_connection_is_reported(priv_database: PrivDatabase) -> None:
    report = report_as(priv_database, None)
    assert report.superuser
    assert report.owned == ()  # a superuser is a member of every role: ownership says nothing
    assert [risk for risk, _ in report.risks] == [Risk.SUPERUSER]
    assert report.warnings == (
        f"connects as superuser '{report.user}': row-level security does not apply to it, "
        "so Sluicegate's own policy is the only protection",
    )


def test_a_login_role_that_owns_nothing_has_no_warnings(priv_database: PrivDatabase) -> None:
    report = report_as(priv_database, priv_database.roles.plain, "public", "other")
    assert report == PrivilegeReport(
        user=priv_database.roles.plain, superuser=False, bypass_rls=False, owned=()
    )
    assert report.warnings == ()


def test_an_owner_of_exposed_tables_and_views_is_reported(priv_database: PrivDatabase) -> None:
    owner = priv_database.roles.owner
    report = report_as(priv_database, owner)
    assert report.owned == ("ledger", "ledger_ids")
    assert report.warnings == (
        f"connects as role '{owner}', which owns 2 exposed tables (ledger, ledger_ids): "
        "row-level security does not apply to owners unless FORCE ROW LEVEL SECURITY is set",
    )


def test_a_member_of_the_owning_role_counts_as_owner(priv_database: PrivDatabase) -> None:
    report = report_as(priv_database, priv_database.roles.member)
    assert report.owned == ("ledger", "ledger_ids")
    assert [risk for risk, _ in report.risks] == [Risk.OWNER]


def test_only_the_services_schemas_count_and_later_ones_are_qualified(
    priv_database: PrivDatabase,
) -> None:
    owner = priv_database.roles.owner
    assert report_as(priv_database, owner, "other").owned == ("archive",)
    assert report_as(priv_database, owner, "other", "public").owned == (
        "archive",
        "public.ledger",
        "public.ledger_ids",
    )
    assert report_as(priv_database, owner, "sg_no_such_schema").warnings == ()


def test_bypassrls_is_reported(priv_database: PrivDatabase) -> None:
    bypass = priv_database.roles.bypass
    report = report_as(priv_database, bypass)
    assert report.warnings == (
        f"connects as role '{bypass}', which has BYPASSRLS: row-level security does not "
        "apply to it",
    )


def test_many_owned_tables_are_counted_with_three_examples() -> None:
    report = PrivilegeReport(
        user="crm", superuser=False, bypass_rls=False, owned=tuple(f"t{i:02}" for i in range(12))
    )
    assert report.warnings == (
        "connects as role 'crm', which owns 12 exposed tables (e.g. t00, t01, t02, …): "
        "row-level security does not apply to owners unless FORCE ROW LEVEL SECURITY is set",
    )


def test_test_connection_carries_the_warnings(priv_database: PrivDatabase) -> None:
    result = test_connection(config_for(priv_database, "postgres"))
    assert result.ok, result.message
    assert result.privileges is not None
    assert result.privileges.superuser
    assert result.warnings == result.privileges.warnings
    plain = test_connection(config_for(priv_database, priv_database.roles.plain))
    assert plain.ok, plain.message
    assert plain.warnings == ()


def test_a_failed_connection_has_no_warnings() -> None:
    port = closed_port()
    result = test_connection(ServiceConfig("x", "127.0.0.1", port, "db", "u", "p"))
    assert not result.ok
    assert result.message == f"Cannot reach 127.0.0.1:{port}: connection refused."
    assert (result.warnings, result.privileges) == ((), None)


# --- "Test connection" in the admin, and test_service ---


def text_of(response: Any) -> str:
    return html.unescape(bytes(response.content).decode())


def warning_messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"] if m.level_tag == "warning"]


@pytest.mark.django_db
def test_test_connection_button_warns_about_a_superuser(
    admin_client: Client, priv_database: PrivDatabase
) -> None:
    service = saved_service(priv_database, "postgres")
    response = admin_client.post(
        reverse("admin:services_service_test_connection", args=[service.pk]), follow=True
    )
    text = text_of(response)
    assert "Service 'priv': Connected to PostgreSQL " in text
    assert warning_messages(response) == [
        "Service 'priv' connects as superuser 'postgres': row-level security does not apply "
        "to it, so Sluicegate's own policy is the only protection."
    ]
    assert PASSWORD not in text


@pytest.mark.django_db
def test_test_connection_button_of_a_plain_role_shows_no_warning(
    admin_client: Client, priv_database: PrivDatabase
) -> None:
    service = saved_service(priv_database, priv_database.roles.plain)
    response = admin_client.post(
        reverse("admin:services_service_test_connection", args=[service.pk]), follow=True
    )
    assert "Service 'priv': Connected to PostgreSQL " in text_of(response)
    assert warning_messages(response) == []


@pytest.mark.django_db
def test_test_connection_action_warns_per_service(
    admin_client: Client, priv_database: PrivDatabase
) -> None:
    owner = saved_service(priv_database, priv_database.roles.owner, name="owned")
    plain = saved_service(priv_database, priv_database.roles.plain, name="plain")
    response = admin_client.post(
        reverse("admin:services_service_changelist"),
        {"action": "test_connection_action", "_selected_action": [owner.pk, plain.pk]},
        follow=True,
    )
    assert warning_messages(response) == [
        f"Service 'owned' connects as role '{priv_database.roles.owner}', which owns 2 exposed "
        "tables (ledger, ledger_ids): row-level security does not apply to owners unless "
        "FORCE ROW LEVEL SECURITY is set."
    ]


@pytest.mark.django_db
def test_test_service_prints_the_warnings_to_stderr(priv_database: PrivDatabase) -> None:
    saved_service(priv_database, "postgres")
    saved_service(priv_database, priv_database.roles.plain, name="plain")
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("test_service", "priv", stdout=stdout, stderr=stderr, no_color=True)
    assert stdout.getvalue().startswith("priv: Connected to PostgreSQL ")
    assert stderr.getvalue() == (
        "Warning: service 'priv' connects as superuser 'postgres': row-level security does "
        "not apply to it, so Sluicegate's own policy is the only protection.\n"
    )
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("test_service", "plain", stdout=stdout, stderr=stderr, no_color=True)
    assert stdout.getvalue().startswith("plain: Connected to PostgreSQL ")
    assert stderr.getvalue() == ""


# --- the deployment check ---


def messages_by_id(found: list[checks.CheckMessage]) -> dict[str, list[checks.CheckMessage]]:
    grouped: dict[str, list[checks.CheckMessage]] = {}
    for message in found:
        grouped.setdefault(str(message.id), []).append(message)
    return grouped


def test_the_check_runs_only_as_a_deployment_check() -> None:
    from django.core.checks.registry import registry

    assert service_checks.check_service_privileges in registry.get_checks(
        include_deployment_checks=True
    )
    assert service_checks.check_service_privileges not in registry.get_checks()


@pytest.mark.django_db
def test_the_check_warns_about_each_risky_service(priv_database: PrivDatabase) -> None:
    roles = priv_database.roles
    saved_service(priv_database, "postgres", name="super")
    saved_service(priv_database, roles.plain, name="plain")
    saved_service(priv_database, roles.owner, name="owner")
    saved_service(priv_database, roles.bypass, name="bypass")
    saved_service(priv_database, "postgres", name="asleep", active=False)
    found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.database])
    grouped = messages_by_id(found)
    assert [(m.obj.name, m.level) for m in grouped["services.W011"]] == [("super", checks.WARNING)]
    assert [m.obj.name for m in grouped["services.W012"]] == ["bypass"]
    assert [m.obj.name for m in grouped["services.W013"]] == ["owner"]
    assert "services.W010" not in grouped
    assert grouped["services.W011"][0].msg.startswith(
        "The service connects as superuser 'postgres': "
    )
    assert all(m.hint for m in found)


@pytest.mark.django_db
def test_an_unreachable_service_is_a_warning_not_an_error(priv_database: PrivDatabase) -> None:
    port = closed_port()
    saved_service(
        priv_database, priv_database.roles.plain, name="gone", host="127.0.0.1", port=port
    )
    saved_service(priv_database, priv_database.roles.plain, name="nodb", database="sg_no_such_db")
    found = service_checks.check_service_privileges()
    assert [(m.id, m.level, m.obj.name, m.msg) for m in found] == [
        (
            "services.W010",
            checks.WARNING,
            "gone",
            f"Cannot test the service's database: Cannot reach 127.0.0.1:{port}: "
            "connection refused.",
        ),
        (
            "services.W010",
            checks.WARNING,
            "nodb",
            "Cannot test the service's database: Database 'sg_no_such_db' does not exist.",
        ),
    ]


@pytest.mark.django_db
def test_an_undecryptable_password_is_a_warning(priv_database: PrivDatabase) -> None:
    service = saved_service(priv_database, priv_database.roles.plain)
    Service.objects.filter(pk=service.pk).update(password_encrypted="not-a-fernet-token")
    found = service_checks.check_service_privileges()
    assert [(m.id, m.obj.name) for m in found] == [("services.W010", "priv")]
    assert "cannot be decrypted" in found[0].msg


@pytest.mark.django_db
def test_check_deploy_prints_the_warnings_and_succeeds(priv_database: PrivDatabase) -> None:
    saved_service(priv_database, "postgres")
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(
        "check", "--deploy", "--tag", "database", stdout=stdout, stderr=stderr, no_color=True
    )
    assert "priv: (services.W011) The service connects as superuser 'postgres'" in (
        stderr.getvalue()
    )


@pytest.mark.parametrize(
    "command",
    [("check", "--deploy"), ("makemigrations", "--check", "--dry-run")],
    ids=["check-deploy", "makemigrations-check"],
)
def test_without_a_platform_database_the_check_is_skipped(command: tuple[str, ...]) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/sg_nowhere",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "services." not in result.stdout + result.stderr


# --- assume_role ---


def current(conn: psycopg.Connection[Any]) -> tuple[str, str | None]:
    row = conn.execute("SELECT current_user, current_setting('request.claims', true)").fetchone()
    assert row is not None
    return str(row[0]), row[1]


def owners_seen(conn: psycopg.Connection[Any]) -> list[int]:
    return [row[0] for row in conn.execute("SELECT owner FROM notes ORDER BY id")]


def begin(conn: psycopg.Connection[Any], *, read_only: bool = True) -> None:
    session.begin(conn, read_only=read_only, statement_timeout_ms=5000, lock_timeout_ms=1000)


def test_assumed_role_sees_only_its_rows_and_nothing_leaks(priv_database: PrivDatabase) -> None:
    reader = priv_database.roles.reader
    with connect_as(priv_database) as conn:
        login_user, _ = current(conn)

        begin(conn)
        session.assume_role(conn, pg_role=reader, claims={"user_id": 1})
        assert current(conn) == (reader, '{"user_id":1}')
        assert owners_seen(conn) == [1, 1]
        session.commit(conn)

        # The same (pooled) connection, next transaction: back to the login role, no claims.
        begin(conn)
        user, claims = current(conn)
        assert (user, claims or None) == (login_user, None)
        assert owners_seen(conn) == [1, 2, 1]  # the superuser again, whom RLS does not bind
        session.commit(conn)

        # Another caller's claims replace, never add to, the earlier ones.
        begin(conn)
        with conn.cursor() as cursor:
            session.assume_role(cursor, pg_role=reader, claims={"user_id": 2})
        assert owners_seen(conn) == [2]
        session.rollback(conn)
        user, claims = current(conn)
        assert (user, claims or None) == (login_user, None)


def test_a_failed_transaction_also_ends_the_role(priv_database: PrivDatabase) -> None:
    reader = priv_database.roles.reader
    with connect_as(priv_database) as conn:
        begin(conn, read_only=False)
        session.assume_role(conn, pg_role=reader, claims={"user_id": 1})
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM notes")
        session.rollback(conn)
        assert current(conn)[0] != reader
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (3,)


def test_without_a_role_only_the_claims_are_set(priv_database: PrivDatabase) -> None:
    with connect_as(priv_database) as conn:
        login_user, _ = current(conn)
        begin(conn)
        session.assume_role(conn, pg_role=None, claims={"user_id": 7, "name": "Zoë", "r": [1]})
        user, claims = current(conn)
        assert user == login_user
        assert claims is not None
        assert json.loads(claims) == {"user_id": 7, "name": "Zoë", "r": [1]}
        name = conn.execute("SELECT current_setting('request.claims')::jsonb->>'name'").fetchone()
        assert name == ("Zoë",)
        session.rollback(conn)


def test_assume_role_refuses_to_run_outside_a_transaction(priv_database: PrivDatabase) -> None:
    reader = priv_database.roles.reader
    with connect_as(priv_database) as conn:
        login_user, _ = current(conn)
        with pytest.raises(psycopg.ProgrammingError, match="open transaction"):
            session.assume_role(conn, pg_role=reader, claims={"user_id": 1})
        assert current(conn)[0] == login_user
        begin(conn)
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(psycopg.ProgrammingError, match="open transaction"):
            session.assume_role(conn, pg_role=reader, claims={"user_id": 1})
        session.rollback(conn)


def test_a_role_name_is_an_identifier_never_sql(priv_database: PrivDatabase) -> None:
    with connect_as(priv_database) as conn:
        begin(conn, read_only=False)
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="does not exist"):
            session.assume_role(conn, pg_role="x; DROP TABLE notes; --", claims={})
        session.rollback(conn)
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (3,)


def test_a_role_the_login_role_is_not_a_member_of_is_refused(
    priv_database: PrivDatabase,
) -> None:
    roles = priv_database.roles
    with connect_as(priv_database, roles.plain) as conn:
        begin(conn)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            session.assume_role(conn, pg_role=roles.reader, claims={"user_id": 1})
        session.rollback(conn)


def test_claims_that_are_not_json_are_refused_before_anything_is_sent(
    priv_database: PrivDatabase,
) -> None:
    with connect_as(priv_database) as conn:
        login_user, _ = current(conn)
        begin(conn)
        with pytest.raises(TypeError):
            session.assume_role(conn, pg_role=priv_database.roles.reader, claims={"x": object()})
        assert current(conn)[0] == login_user
        session.rollback(conn)
