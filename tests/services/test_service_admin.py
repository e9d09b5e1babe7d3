"""The service admin (write-only password, test/refresh buttons and actions) and the probe.

The local PostgreSQL at 127.0.0.1:5432 trusts local connections, so any
password works there; the wrong-password test starts an embedded server that
requires passwords.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse

from config.embedded import EmbeddedServer, start_postgres
from config.environment import database_config
from services import probe
from services.connection import ServiceConfig
from services.models import Service


def platform_host() -> str:
    """The host of the platform's own PostgreSQL (a socket directory for the embedded one)."""
    return str(settings.DATABASES["default"].get("HOST") or "localhost")


def platform_port() -> int:
    return int(settings.DATABASES["default"].get("PORT") or 5432)


pytestmark = pytest.mark.django_db

PASSWORD = "pw-Admin-Distinct-9137"
LEAK_MARKERS = ("Traceback", "OperationalError", "psycopg", "connection to server", "FATAL")


def local_service(**overrides: Any) -> Service:
    """A saved service on this machine's PostgreSQL, reaching the test database."""
    values: dict[str, Any] = {
        "name": "local",
        "label": "Local",
        "host": platform_host(),
        "port": platform_port(),
        "database": settings.DATABASES["default"]["NAME"],
        "username": "postgres",
    }
    values.update(overrides)
    service = Service(**values)
    service.set_password(PASSWORD)
    service.full_clean()
    service.save()
    return service


def closed_port() -> int:
    """Return a local TCP port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def text_of(response: Any) -> str:
    return html.unescape(bytes(response.content).decode())


def assert_clean(text: str) -> None:
    for marker in LEAK_MARKERS:
        assert marker not in text
    assert PASSWORD not in text


def server_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0])


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "local",
        "label": "Local",
        "description": "",
        "active": "on",
        "host": platform_host(),
        "port": str(platform_port()),
        "database": settings.DATABASES["default"]["NAME"],
        "username": "postgres",
        "password": PASSWORD,
        "sslmode": "prefer",
        "schemas": "public",
        "max_records": "1000",
        "pool_min_size": "1",
        "pool_max_size": "10",
        "statement_timeout_ms": "30000",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def button_url(service: Service, action: str) -> str:
    return reverse(f"admin:services_service_{action}", args=[service.pk])


# --- the form ---


def test_adding_a_service_through_the_form_stores_the_password_encrypted(
    admin_client: Client,
) -> None:
    response = admin_client.post(reverse("admin:services_service_add"), form_data())
    assert response.status_code == 302, text_of(response)
    service = Service.objects.get(name="local")
    assert service.get_password() == PASSWORD
    assert PASSWORD not in service.password_encrypted
    assert service.database == settings.DATABASES["default"]["NAME"]


def test_adding_without_a_password_is_refused(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:services_service_add"), form_data(password=""))
    assert response.status_code == 200
    assert "Enter the database password." in text_of(response)
    assert not Service.objects.exists()


def test_a_refused_form_does_not_echo_the_password(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:services_service_add"), form_data(name="_bad"))
    assert response.status_code == 200
    assert "reserved" in text_of(response)
    assert PASSWORD not in response.content.decode()


def test_reserved_name_is_refused_by_the_form(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:services_service_add"), form_data(name="system"))
    assert response.status_code == 200
    assert not Service.objects.exists()


def test_change_page_never_contains_the_password_or_its_token(admin_client: Client) -> None:
    service = local_service()
    response = admin_client.get(reverse("admin:services_service_change", args=[service.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert PASSWORD not in page
    assert service.password_encrypted not in page
    assert 'name="password"' in page
    assert "Leave blank to keep the current password" in text_of(response)
    assert "Test connection" in page
    assert "Refresh schema" in page
    assert button_url(service, "test_connection") in page
    assert button_url(service, "refresh_schema") in page


def test_list_page_shows_the_service_without_its_password(admin_client: Client) -> None:
    service = local_service()
    response = admin_client.get(reverse("admin:services_service_changelist") + "?q=local")
    page = response.content.decode()
    assert "local" in page
    assert PASSWORD not in page
    assert service.password_encrypted not in page


def test_editing_with_a_blank_password_keeps_the_stored_one(admin_client: Client) -> None:
    service = local_service()
    url = reverse("admin:services_service_change", args=[service.pk])
    response = admin_client.post(url, form_data(password="", label="Renamed"))
    assert response.status_code == 302, text_of(response)
    service.refresh_from_db()
    assert service.label == "Renamed"
    assert service.get_password() == PASSWORD


def test_editing_with_a_new_password_replaces_it(admin_client: Client) -> None:
    service = local_service()
    url = reverse("admin:services_service_change", args=[service.pk])
    response = admin_client.post(url, form_data(password="pw-New-Value-5521"))
    assert response.status_code == 302, text_of(response)
    service.refresh_from_db()
    assert service.get_password() == "pw-New-Value-5521"


def test_change_history_never_records_the_password(admin_client: Client) -> None:
    from django.contrib.admin.models import LogEntry

    service = local_service()
    url = reverse("admin:services_service_change", args=[service.pk])
    admin_client.post(url, form_data(password="pw-New-Value-5521"))
    for entry in LogEntry.objects.all():
        assert "pw-New-Value-5521" not in entry.change_message
        assert "pw-New-Value-5521" not in entry.object_repr


# --- "Test connection" ---


def test_test_connection_button_shows_the_server_version(admin_client: Client) -> None:
    service = local_service()
    response = admin_client.post(button_url(service, "test_connection"), follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "admin:services_service_change", args=[service.pk]
    )
    text = text_of(response)
    assert f"Service 'local': Connected to PostgreSQL {server_version()}." in text
    assert_clean(text)


def test_test_connection_reports_an_unknown_database_cleanly(admin_client: Client) -> None:
    service = local_service(database="sg_no_such_database")
    response = admin_client.post(button_url(service, "test_connection"), follow=True)
    text = text_of(response)
    assert "Service 'local': Database 'sg_no_such_database' does not exist." in text
    assert_clean(text)


def test_test_connection_reports_an_unreachable_port_cleanly(admin_client: Client) -> None:
    port = closed_port()
    service = local_service(host="127.0.0.1", port=port)
    response = admin_client.post(button_url(service, "test_connection"), follow=True)
    text = text_of(response)
    assert f"Service 'local': Cannot reach 127.0.0.1:{port}: connection refused." in text
    assert_clean(text)


def test_test_connection_needs_post(admin_client: Client) -> None:
    service = local_service()
    assert admin_client.get(button_url(service, "test_connection")).status_code == 405
    assert admin_client.get(button_url(service, "refresh_schema")).status_code == 405


def test_test_connection_is_csrf_protected(admin_user: User) -> None:
    service = local_service()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(button_url(service, "test_connection")).status_code == 403


def test_buttons_need_a_staff_login(client: Client) -> None:
    service = local_service()
    response = client.post(button_url(service, "test_connection"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_buttons_for_a_missing_service_go_back_to_the_list(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:services_service_test_connection", args=[999_999]), follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("admin:services_service_changelist")
    assert "No service with ID '999999'." in text_of(response)


def test_test_connection_action_reports_each_service(admin_client: Client) -> None:
    good = local_service()
    bad = local_service(name="missing", database="sg_no_such_database")
    response = admin_client.post(
        reverse("admin:services_service_changelist"),
        {"action": "test_connection_action", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )
    text = text_of(response)
    assert f"Service 'local': Connected to PostgreSQL {server_version()}." in text
    assert "Service 'missing': Database 'sg_no_such_database' does not exist." in text
    assert_clean(text)


# --- "Refresh schema" (uses services.schema_cache) ---


def test_refresh_schema_button_reports_counts_and_version(
    admin_client: Client, target_database: str
) -> None:
    service = local_service(database=target_database)
    response = admin_client.post(button_url(service, "refresh_schema"), follow=True)
    text = text_of(response)
    assert "Service 'local': Schema refreshed: " in text
    assert " tables, " in text
    assert "(version " in text
    assert_clean(text)


def test_refresh_schema_reports_an_unknown_database_cleanly(admin_client: Client) -> None:
    service = local_service(database="sg_no_such_database")
    response = admin_client.post(button_url(service, "refresh_schema"), follow=True)
    text = text_of(response)
    assert "Service 'local': Database 'sg_no_such_database' does not exist." in text
    assert_clean(text)


def test_refresh_schema_action_reports_each_service(
    admin_client: Client, target_database: str
) -> None:
    good = local_service(database=target_database)
    bad = local_service(name="unreachable", host="127.0.0.1", port=closed_port())
    response = admin_client.post(
        reverse("admin:services_service_changelist"),
        {"action": "refresh_schema_action", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )
    text = text_of(response)
    assert "Service 'local': Schema refreshed: " in text
    assert "Service 'unreachable': Cannot reach 127.0.0.1:" in text
    assert_clean(text)


# --- the probe's messages ---


def config_for(**overrides: Any) -> ServiceConfig:
    values: dict[str, Any] = {
        "name": "probe",
        "host": platform_host(),
        "port": platform_port(),
        "database": settings.DATABASES["default"]["NAME"],
        "user": "postgres",
        "password": PASSWORD,
    }
    values.update(overrides)
    return ServiceConfig(**values)


def test_probe_success_carries_the_version() -> None:
    result = probe.test_connection(config_for())
    assert result.ok
    assert result.server_version == server_version()


def test_probe_reports_an_unknown_host_name() -> None:
    result = probe.test_connection(config_for(host="sg-no-such-host.invalid"))
    assert not result.ok
    assert result.message == "Cannot reach sg-no-such-host.invalid:5432: host name not found."


def test_probe_reports_a_missing_socket_directory(tmp_path: Path) -> None:
    result = probe.test_connection(config_for(host=str(tmp_path)))
    assert result.message == f"Cannot reach {tmp_path}:5432: no server socket there."


def test_probe_reports_a_server_that_never_answers() -> None:
    with socket.socket() as listener:  # accepts TCP connections, never speaks
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = probe.test_connection(config_for(host="127.0.0.1", port=port))
    assert result.message == f"Cannot reach 127.0.0.1:{port}: no answer within 5 seconds."


def test_probe_reports_ssl_required_by_the_client_but_unsupported() -> None:
    # Whether the local server has SSL depends on the machine, so the mapping is
    # checked on libpq's own wording for this failure.
    error = psycopg.OperationalError("server does not support SSL, but SSL was required")
    message = probe.describe_connection_error(error, config_for(sslmode="require"))
    assert message == "The server does not support SSL, but sslmode is 'require'."


def test_probe_reports_an_unknown_role_as_an_authentication_failure() -> None:
    result = probe.test_connection(config_for(user="sg_no_such_role"))
    assert result.message == "Authentication failed for user 'sg_no_such_role'."


def test_unrecognised_errors_are_one_clean_line_without_the_password() -> None:
    config = config_for(password="hunter2-secret")
    error = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "FATAL:  something odd about hunter2-secret\nDETAIL: more\n  at line 2"
    )
    message = probe.describe_connection_error(error, config)
    assert message == "Connection failed: something odd about ***."
    assert "\n" not in message


def test_sqlstate_decides_when_the_driver_has_one() -> None:
    class AuthError(psycopg.OperationalError):
        sqlstate = "28P01"

    class NoDatabase(psycopg.OperationalError):
        sqlstate = "3D000"

    config = config_for(user="alice", database="sales")
    assert probe.describe_connection_error(AuthError("x"), config) == (
        "Authentication failed for user 'alice'."
    )
    assert probe.describe_connection_error(NoDatabase("x"), config) == (
        "Database 'sales' does not exist."
    )


# --- a server that checks passwords (slow: starts its own PostgreSQL) ---


@pytest.fixture
def password_server(tmp_path: Path) -> Iterator[ServiceConfig]:
    """An embedded PostgreSQL requiring scram-sha-256 passwords; role postgres has 'right'."""
    server: EmbeddedServer = start_postgres(tmp_path)
    try:
        socket_dir = database_config(server.url)["HOST"]
        with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres") as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute("ALTER ROLE postgres PASSWORD 'right'")
            conn.commit()
            hba = tmp_path / "postgres" / "pg_hba.conf"
            lines = [
                line.replace("trust", "scram-sha-256")
                if line.startswith(("local", "host"))
                else line
                for line in hba.read_text().splitlines()
            ]
            hba.write_text("\n".join(lines) + "\n")
            conn.execute("SELECT pg_reload_conf()")
        yield ServiceConfig(
            name="guarded",
            host=socket_dir,
            port=server.handle.get_postmaster_info().port or 5432,
            database="postgres",
            user="postgres",
            password="right",
        )
    finally:
        server.stop()


@pytest.mark.slow
def test_wrong_password_gives_the_clean_authentication_message(
    password_server: ServiceConfig,
) -> None:
    from dataclasses import replace

    wrong = probe.test_connection(replace(password_server, password="wrong"))
    assert not wrong.ok
    assert wrong.message == "Authentication failed for user 'postgres'."
    assert "wrong" not in wrong.message

    missing = probe.test_connection(replace(password_server, password=""))
    assert missing.message == "Authentication failed for user 'postgres'."

    right = probe.test_connection(password_server)
    assert right.ok, right.message
    assert right.server_version
