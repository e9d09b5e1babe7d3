"""Management commands for services: add_service, test_service, refresh_schema, and demo."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from pytest_django.fixtures import Settings

from config.environment import BASE_DIR
from services import probe
from services.models import Service


def platform_host() -> str:
    """The host of the platform's own PostgreSQL (a socket directory for the embedded one)."""
    return str(settings.DATABASES["default"].get("HOST") or "localhost")


def platform_port() -> int:
    return int(settings.DATABASES["default"].get("PORT") or 5432)


pytestmark = pytest.mark.django_db

PASSWORD = "pw-Command-Secret-3306"
PASSWORD_VAR = "SG_TEST_SERVICE_PASSWORD"


def run(*args: str, **kwargs: Any) -> tuple[str, str]:
    """Run a command; return its stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(*args, stdout=stdout, stderr=stderr, **kwargs)
    return stdout.getvalue(), stderr.getvalue()


def add_args(name: str = "crm", **overrides: str) -> list[str]:
    options = {
        "name": name,
        "label": "CRM",
        "host": platform_host(),
        "port": str(platform_port()),
        "database": settings.DATABASES["default"]["NAME"],
        "user": "postgres",
    }
    options.update(overrides)
    return [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_VAR, PASSWORD)
    return PASSWORD_VAR


def server_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0])


# --- add_service ---


def test_add_service_reads_the_password_from_the_environment(password_env: str) -> None:
    out, err = run(
        "add_service",
        *add_args(sslmode="disable", schemas="public,sales", max_records="25"),
        "--statement-timeout-ms=1000",
        f"--password-env={password_env}",
    )
    service = Service.objects.get(name="crm")
    assert service.get_password() == PASSWORD
    assert PASSWORD not in service.password_encrypted
    assert (service.sslmode, service.schema_names(), service.max_records) == (
        "disable",
        ("public", "sales"),
        25,
    )
    assert service.statement_timeout_ms == 1000
    assert out.strip() == (
        f"Created service 'crm' (postgres@{platform_host()}:{platform_port()}/"
        f"{settings.DATABASES['default']['NAME']})."
    )
    assert PASSWORD not in out + err


def test_add_service_reads_the_password_from_stdin() -> None:
    out, _ = run("add_service", *add_args(), "--password-stdin", stdin=io.StringIO(PASSWORD + "\n"))
    assert Service.objects.get(name="crm").get_password() == PASSWORD
    assert PASSWORD not in out


def test_add_service_without_a_password_is_refused() -> None:
    with pytest.raises(CommandError, match="--password-env or --password-stdin"):
        run("add_service", *add_args())
    assert not Service.objects.exists()


def test_add_service_with_an_unset_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    with pytest.raises(CommandError, match=f"{PASSWORD_VAR} is not set"):
        run("add_service", *add_args(), f"--password-env={PASSWORD_VAR}")
    assert not Service.objects.exists()


def test_add_service_with_an_empty_password_is_refused() -> None:
    with pytest.raises(CommandError, match="empty"):
        run("add_service", *add_args(), "--password-stdin", stdin=io.StringIO("\n"))


@pytest.mark.parametrize("flag", [[f"--password={PASSWORD}"], ["--password", PASSWORD]])
def test_add_service_refuses_a_password_flag_without_echoing_it(flag: list[str]) -> None:
    with pytest.raises(CommandError, match="there is no --password option") as caught:
        run("add_service", *add_args(), *flag)
    assert PASSWORD not in str(caught.value)
    assert not Service.objects.exists()


def test_add_service_refuses_the_password_flag_on_a_real_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "add_service", "--name=x", f"--password={PASSWORD}"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "there is no --password option" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_add_service_needs_the_connection_settings(password_env: str) -> None:
    with pytest.raises(CommandError, match="--host, --database, --user"):
        run("add_service", "--name=crm", f"--password-env={password_env}")


def test_add_service_validates_with_full_clean(password_env: str) -> None:
    with pytest.raises(CommandError) as caught:
        run("add_service", *add_args(name="docs", port="70000"), f"--password-env={password_env}")
    message = str(caught.value)
    assert "name: 'docs' is reserved" in message
    assert "port:" in message
    assert PASSWORD not in message
    assert not Service.objects.exists()


def test_add_service_refuses_an_existing_name_without_update(password_env: str) -> None:
    run("add_service", *add_args(), f"--password-env={password_env}")
    with pytest.raises(CommandError, match="already exists; use --update"):
        run("add_service", *add_args(), f"--password-env={password_env}")


def test_add_service_update_changes_only_what_is_given(password_env: str) -> None:
    run("add_service", *add_args(), f"--password-env={password_env}")
    out, _ = run("add_service", "--name=crm", "--update", "--port=6543", "--no-active")
    service = Service.objects.get(name="crm")
    assert (service.port, service.active, service.label) == (6543, False, "CRM")
    assert service.get_password() == PASSWORD
    assert out.startswith("Updated service 'crm'")

    run("add_service", "--name=crm", "--update", "--password-stdin", stdin=io.StringIO("other"))
    service.refresh_from_db()
    assert service.get_password() == "other"


def test_add_service_update_of_an_unknown_service_is_refused() -> None:
    with pytest.raises(CommandError, match="no service 'ghost' to update"):
        run("add_service", "--name=ghost", "--update", "--port=6543")


# --- test_service ---


def test_test_service_prints_the_server_version(password_env: str) -> None:
    run("add_service", *add_args(), f"--password-env={password_env}")
    out, _ = run("test_service", "crm")
    assert out.strip() == f"crm: Connected to PostgreSQL {server_version()}."


def test_test_service_fails_with_the_clean_message_and_status_1(password_env: str) -> None:
    run("add_service", *add_args(database="sg_no_such_database"), f"--password-env={password_env}")
    with pytest.raises(CommandError) as caught:
        run("test_service", "crm")
    assert str(caught.value) == "crm: Database 'sg_no_such_database' does not exist."
    assert caught.value.returncode == 1


def test_test_service_of_an_unknown_service_fails() -> None:
    with pytest.raises(CommandError, match="There is no service 'ghost'"):
        run("test_service", "ghost")


def platform_url() -> str:
    """The test database's URL, for a subprocess that must see committed rows."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_test_service_exit_status_in_a_real_process(password_env: str) -> None:
    run("add_service", *add_args(name="good"), f"--password-env={password_env}")
    run(
        "add_service",
        *add_args(name="bad", database="sg_no_such_database"),
        f"--password-env={password_env}",
    )
    env = {**os.environ, "DATABASE_URL": platform_url()}

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    good = manage("test_service", "good")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == f"good: Connected to PostgreSQL {server_version()}."
    bad = manage("test_service", "bad")
    assert bad.returncode == 1
    assert "bad: Database 'sg_no_such_database' does not exist." in bad.stderr
    assert "Traceback" not in bad.stderr
    assert PASSWORD not in good.stdout + good.stderr + bad.stdout + bad.stderr


# --- refresh_schema (uses services.schema_cache) ---


def test_refresh_schema_prints_the_counts(password_env: str, target_database: str) -> None:
    run("add_service", *add_args(database=target_database), f"--password-env={password_env}")
    out, _ = run("refresh_schema", "crm")
    assert out.startswith("crm: Schema refreshed: ")
    assert " tables, " in out or " table, " in out
    assert "(version " in out


def test_refresh_schema_failure_exits_with_status_1(password_env: str) -> None:
    run("add_service", *add_args(database="sg_no_such_database"), f"--password-env={password_env}")
    with pytest.raises(CommandError) as caught:
        run("refresh_schema", "crm")
    assert caught.value.returncode == 1
    assert "crm" in str(caught.value)


def test_refresh_schema_all_tries_every_active_service(
    password_env: str, target_database: str
) -> None:
    run(
        "add_service",
        *add_args(name="good", database=target_database),
        f"--password-env={password_env}",
    )
    run(
        "add_service",
        *add_args(name="bad", database="sg_no_such_database"),
        f"--password-env={password_env}",
    )
    run("add_service", *add_args(name="off", database="sg_no_such_database"), "--no-active",
        f"--password-env={password_env}")  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="failed for bad"):
        call_command("refresh_schema", "--all", stdout=stdout, stderr=stderr)
    assert stdout.getvalue().startswith("good: Schema refreshed: ")
    assert "bad: Database 'sg_no_such_database' does not exist." in stderr.getvalue()
    assert "off" not in stdout.getvalue() + stderr.getvalue()


def test_refresh_schema_needs_a_name_or_all() -> None:
    with pytest.raises(CommandError, match="name or --all"):
        run("refresh_schema")
    with pytest.raises(CommandError, match="There is no service 'ghost'"):
        run("refresh_schema", "ghost")


# --- demo ---


def test_demo_command_registers_the_demo_service_idempotently(
    settings: Settings, tmp_path: Path, demo_database: str
) -> None:
    settings.SLUICEGATE_DATA_DIR = tmp_path
    out, _ = run("demo", database=demo_database)
    assert "Registered service 'demo'." in out
    service = Service.objects.get(name="demo")
    db = settings.DATABASES["default"]
    assert service.label == "Demo CRM"
    assert service.database == demo_database
    assert (service.host, service.port) == (platform_host(), platform_port())
    assert service.username == db["USER"]
    assert service.get_password() == (db.get("PASSWORD") or "")
    stamp = service.config().stamp

    out, _ = run("demo", database=demo_database)
    assert "Registered service 'demo'." in out
    assert Service.objects.filter(name="demo").count() == 1
    assert Service.objects.get(name="demo").config().stamp == stamp  # nothing changed, no save

    result = probe.test_connection(Service.objects.get(name="demo").config())
    assert result.ok, result.message


def test_registering_the_demo_again_points_it_at_the_new_database(demo_database: str) -> None:
    from services.demo.service import register_demo_service

    register_demo_service("sg_some_other_demo")
    service = register_demo_service(demo_database)
    assert Service.objects.filter(name="demo").count() == 1
    assert service.database == demo_database
    assert Service.objects.get(name="demo").database == demo_database
