"""What the read benchmark sets up on the platform, and takes away again.

The admin, its API key and the `bench` service (`prepare_sluicegate`, also
used by the write benchmark), the app keys of the policy (P) and traffic
(L) rows, a login role when the platform's user has no password to give a
service, and the cleanup of each.

One rule: everything made here is named `bench…`, so cleanup removes the
run's own objects and nothing else.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from psycopg import sql

from config.database import platform_conninfo
from config.environment import BASE_DIR
from rbac.keys import key_digest, revoke_admin_key, set_app_key
from rbac.models import AccessRule, AdminApiKey, App, AuditRecord, Limit, Lookup, Role
from services.models import Service

DEMO_DATABASE = "sluicegate_bench_demo"
POLICY_NAME = "bench-policy"
LIMITED_NAME = "bench-limited"
NEVER_REACHED = 1_000_000_000  # calls per minute: counted on every call, never refused
HIDDEN_COLUMNS = frozenset({"phone", "birthday"})
# A row filter with a lookup the app carries, which every demo contact passes,
# so P and S answer the same rows and the statement binds a value per request.
# PostgreSQL checks it on every row a page's OFFSET skips too: a cheap
# comparison keeps that cost (the filter's own, not the policy's) small.
POLICY_FILTER = "id != {blocked}"
POLICY_LOOKUP = ("blocked", "0")


def command(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run `manage.py ARGS`; return (exit code, stdout, or stderr's tail on failure)."""
    done = subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, (done.stdout if done.returncode == 0 else done.stderr[-1500:])


@dataclass(frozen=True, slots=True)
class LoginRole:
    """A login role a benchmark makes when the platform's user has no password to give a service."""

    name: str
    privileges: str  # a fixed privilege list of our own, e.g. "SELECT"
    sequences: bool = False  # also USAGE on the sequences (for inserts)


READ_ROLE = LoginRole("sluicegate_bench", "SELECT")


def create_login_role(role: LoginRole, password: str, database: str) -> None:
    """Create (or reset) `role` with `password`, granted its privileges on `database`'s tables."""
    name = sql.Identifier(role.name)
    with psycopg.connect(platform_conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role.name]).fetchone()
        verb = sql.SQL("ALTER" if exists else "CREATE")
        # Utility statements take no bound parameters; Literal quotes the password.
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, name, sql.Literal(password))
        )
    with psycopg.connect(platform_conninfo(dbname=database), autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name))
        grant = sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA public TO {}")
        conn.execute(grant.format(sql.SQL(role.privileges), name))
        if role.sequences:
            conn.execute(
                sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(name)
            )


def drop_login_role(role: LoginRole) -> None:
    """Drop `role` if this run made it (its grants went with its database).

    A role that objects of another database still depend on is left in
    place, with a warning: the run's results are not lost to its cleanup.
    """
    with psycopg.connect(platform_conninfo(), autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role.name)))
        except psycopg.errors.DependentObjectsStillExist as error:
            print(f"role {role.name} left in place: {error}".strip(), file=sys.stderr)


def prepare_sluicegate(
    env: dict[str, str],
    *,
    service: str = "bench",
    label: str = "Bench",
    database: str = DEMO_DATABASE,
    role: LoginRole = READ_ROLE,
    max_records: int = 10_000,
) -> tuple[str, list[str]]:
    """Create the admin, its API key and `service` on `database`; return (key, problems).

    The commands run with the run's SECRET_KEY and encryption keys (in `env`),
    so the gunicorn started with them can read what they stored.
    """
    user_model = get_user_model()
    if not user_model.objects.filter(username="bench-admin").exists():
        user_model.objects.create_superuser(
            username="bench-admin", email="bench-admin@example.com",
            password=secrets.token_urlsafe(24),
        )  # fmt: skip
    with psycopg.connect(platform_conninfo(dbname=database)) as conn:
        # The effective host (TCP address or socket directory), port and user.
        host, port, user = conn.info.host, conn.info.port or 5432, conn.info.user
    password = str(settings.DATABASES["default"].get("PASSWORD") or "")
    if not password:
        # add_service refuses an empty password (trust/peer setups have none).
        user, password = role.name, secrets.token_urlsafe(24)
        create_login_role(role, password, database)
    problems = []
    # `--update` only changes an existing service; the first run creates it.
    update = ["--update"] if Service.objects.filter(name=service).exists() else []
    code, out = command(
        "add_service", "--name", service, "--label", label, "--host", host, "--port", str(port),
        "--database", database, "--user", user, "--password-env", "BENCH_DB_PASSWORD",
        "--max-records", str(max_records), *update,
        env={**env, "BENCH_DB_PASSWORD": password},
    )  # fmt: skip
    if code != 0:
        problems.append(f"add_service failed ({code}): {out.strip().splitlines()[-1:]}")
    code, out = command("create_admin_key", "--user", "bench-admin", "--name", service, env=env)
    key = out.strip().splitlines()[-1].strip() if code == 0 and out.strip() else ""
    if not key:
        problems.append(f"create_admin_key failed ({code}): {out.strip().splitlines()[-1:]}")
    return key, problems


def prepare_policy_key() -> str:
    """Create the role with a column policy and a row filter, and an app key with it."""
    service = Service.objects.get(name="bench")
    role = Role.objects.create(name=POLICY_NAME, description="bench: policy overhead")
    with psycopg.connect(platform_conninfo(dbname=DEMO_DATABASE)) as conn:
        columns = [row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'contacts'"
        )]  # fmt: skip
    AccessRule.objects.create(
        role=role, service=service, component="_table/contacts", verbs=["GET"],
        readable_columns=[name for name in columns if name not in HIDDEN_COLUMNS],
        row_filter=POLICY_FILTER,
    )  # fmt: skip
    app = App.objects.create(name=POLICY_NAME, default_role=role)
    Lookup.objects.create(app=app, key=POLICY_LOOKUP[0], value=POLICY_LOOKUP[1])
    return set_app_key(app)


def prepare_limited_key() -> str:
    """Create a second app with the policy's role and a rate limit it never reaches."""
    role = Role.objects.get(name=POLICY_NAME)
    app = App.objects.create(name=LIMITED_NAME, default_role=role)
    Lookup.objects.create(app=app, key=POLICY_LOOKUP[0], value=POLICY_LOOKUP[1])
    Limit.objects.create(
        name=LIMITED_NAME, scope="app", app=app, rate=NEVER_REACHED, period="minute"
    )
    return set_app_key(app)


def drop_policy_key() -> None:
    App.objects.filter(name__in=(POLICY_NAME, LIMITED_NAME)).delete()  # their limits go too
    Role.objects.filter(name=POLICY_NAME).delete()


def drop_audit_records(since: datetime) -> None:
    """Delete the audit records of the run's own calls (the platform's table is shared)."""
    AuditRecord.objects.filter(time__gte=since).filter(
        Q(username="bench-admin") | Q(app__in=(POLICY_NAME, LIMITED_NAME))
    ).delete()


def revoke_key(key: str) -> None:
    """Revoke the run's admin API key: no superuser key outlives the benchmark."""
    record = AdminApiKey.objects.filter(digest=key_digest(key)).first()
    if record is not None:
        revoke_admin_key(record)
