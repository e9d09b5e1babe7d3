"""LDAP logins at /api/v2/user/session against a real slapd: sessions, roles, failures."""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from config.environment import parse_ldap
from rbac import throttle
from rbac.keys import set_app_key
from rbac.models import AccessRule, App, Role, UserAppRole
from services.models import Service
from tests.rbac.ldap.conftest import GROUPS, PEOPLE, READER_DN, READER_PASSWORD, Directory
from tests.rbac.ldap.conftest import group_dn as dn_of
from tests.rbac.test_sessions import SESSION_KEYS
from tests.services.api.conftest import make_service

pytestmark = pytest.mark.django_db

URL = "/api/v2/user/session"
PASSWORD = "directory-pass-1"
LOCAL_PASSWORD = "local-pass-1"
UNAVAILABLE = "The directory server cannot be reached right now; try again shortly."


@pytest.fixture(autouse=True)
def _login_settings(settings: Any) -> None:
    """Cheap local hashing; a per-IP limit no parallel test reaches; LDAP off until a test sets it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_IP = 100_000
    settings.SLUICEGATE_LOGIN_FAILURE_WINDOW = 900
    settings.SLUICEGATE_LDAP = None
    throttle.clear_ip_failures("127.0.0.1")


@dataclass
class Portal:
    """An app with no default role, two roles and a service they can read."""

    app: App
    key: str
    service: Service
    readers: Role
    editors: Role

    def role_map(self, *pairs: tuple[str, Role]) -> dict[str, dict[str, str]]:
        return {self.app.name: {dn_of(group): role.name for group, role in pairs}}


@pytest.fixture
def portal(db: None, target_database: str, worker_suffix: str) -> Portal:
    service = make_service(f"ldap-{worker_suffix}".replace("_", "-")[:60], target_database)
    suffix = uuid.uuid4().hex[:8]
    readers = Role.objects.create(name=f"readers-{suffix}")
    editors = Role.objects.create(name=f"editors-{suffix}")
    for role in (readers, editors):
        AccessRule.objects.create(role=role, service=service, component="_table/*", verbs=["GET"])
    app = App.objects.create(name=f"portal-{suffix}")
    return Portal(app, set_app_key(app), service, readers, editors)


def use_ldap(settings: Any, directory: Directory, **env: Any) -> None:
    """Turn LDAP logins on, configured as an operator would through the environment."""
    environ = {
        "SLUICEGATE_LDAP_SERVER_URI": directory.uri,
        "SLUICEGATE_LDAP_BIND_DN": READER_DN,
        "SLUICEGATE_LDAP_BIND_PASSWORD": READER_PASSWORD,
        "SLUICEGATE_LDAP_USER_SEARCH_BASE": PEOPLE,
        "SLUICEGATE_LDAP_GROUP_SEARCH_BASE": GROUPS,
        "SLUICEGATE_LDAP_CONNECT_TIMEOUT": "2",
        "SLUICEGATE_LDAP_NETWORK_TIMEOUT": "2",
    }
    for name, value in env.items():
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        environ[f"SLUICEGATE_LDAP_{name.upper()}"] = text
    settings.SLUICEGATE_LDAP = parse_ldap(environ)


def log_in(client: Client, key: str | None = None, **body: Any) -> Any:
    headers = {"X-API-Key": key} if key else {}
    return client.post(URL, body, content_type="application/json", headers=headers)


def ldap_login(client: Client, portal: Portal, uid: str, password: str = PASSWORD) -> Any:
    return log_in(client, portal.key, username=uid, password=password, service="ldap")


def read_authors(client: Client, portal: Portal, token: str) -> Any:
    return client.get(
        f"/api/v2/{portal.service.name}/_table/authors",
        headers={"X-DreamFactory-Session-Token": token},
    )


def error_of(response: Any) -> dict[str, Any]:
    """The error envelope's content, without the per-request id some answers carry."""
    body: dict[str, Any] = response.json()["error"]
    return {key: value for key, value in body.items() if key != "request_id"}


def role_names(uid: str) -> dict[str, str]:
    rows = UserAppRole.objects.filter(user__username=uid).select_related("app", "role")
    return {row.app.name: row.role.name for row in rows}


def test_ldap_login_returns_the_session_object_and_its_token_works(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD, groups=["readers"], given_name="Ada", surname="Byron")
    use_ldap(settings, directory, role_map=portal.role_map(("readers", portal.readers)))

    response = ldap_login(client, portal, uid)

    assert response.status_code == 200, response.content
    session = response.json()
    assert set(session) == SESSION_KEYS
    user = User.objects.get(username=uid)
    assert session["id"] == user.pk
    assert (session["first_name"], session["last_name"], session["name"]) == (
        "Ada",
        "Byron",
        "Ada Byron",
    )
    assert session["email"] == f"{uid}@example.org"
    assert (session["role"], session["role_id"]) == (portal.readers.name, portal.readers.pk)
    assert session["is_sys_admin"] is False
    assert not user.has_usable_password()  # the directory keeps the password
    read = read_authors(client, portal, session["session_token"])
    assert read.status_code == 200, read.content
    assert "resource" in read.json()
    assert (
        client.get(URL, headers={"X-DreamFactory-Session-Token": session["session_token"]}).json()[
            "id"
        ]
        == user.pk
    )


def test_wrong_ldap_password_answers_401_like_a_wrong_local_password(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD, groups=["readers"])
    use_ldap(settings, directory)
    local = User.objects.create_user(f"local-{uuid.uuid4().hex[:8]}", password=LOCAL_PASSWORD)

    wrong_local = log_in(client, username=local.username, password="nope-1")
    wrong_ldap = ldap_login(client, portal, uid, password="nope-1")
    unknown_ldap = ldap_login(client, portal, f"ghost-{uuid.uuid4().hex[:8]}")

    assert wrong_local.status_code == wrong_ldap.status_code == unknown_ldap.status_code == 401
    assert error_of(wrong_ldap) == error_of(wrong_local) == error_of(unknown_ldap)
    assert error_of(wrong_ldap) == {
        "code": 401,
        "message": "Invalid credentials supplied.",
        "status_code": 401,
        "context": None,
    }
    assert not User.objects.filter(username=uid).exists()


def test_user_in_no_mapped_group_gets_no_role_and_the_api_forbids(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD, groups=["admins"])
    use_ldap(settings, directory, role_map=portal.role_map(("readers", portal.readers)))

    response = ldap_login(client, portal, uid)

    assert response.status_code == 200, response.content
    assert response.json()["role"] is None
    assert role_names(uid) == {}
    read = read_authors(client, portal, response.json()["session_token"])
    assert read.status_code == 403
    assert error_of(read)["message"].startswith("Access Forbidden")


def test_no_mapped_group_falls_back_to_the_apps_default_role(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    portal.app.default_role = portal.readers
    portal.app.save()
    uid = directory.add_user(PASSWORD)
    use_ldap(settings, directory, role_map=portal.role_map(("editors", portal.editors)))

    response = ldap_login(client, portal, uid)

    assert response.json()["role"] == portal.readers.name
    assert role_names(uid) == {}
    assert read_authors(client, portal, response.json()["session_token"]).status_code == 200


def test_group_changes_in_the_directory_change_the_role_at_the_next_login(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD, groups=["readers"])
    use_ldap(
        settings,
        directory,
        role_map=portal.role_map(("editors", portal.editors), ("readers", portal.readers)),
    )
    assert ldap_login(client, portal, uid).json()["role"] == portal.readers.name
    assert role_names(uid) == {portal.app.name: portal.readers.name}

    directory.set_groups(uid, add=["editors"], remove=["readers"])
    directory.set_attribute(uid, "sn", "Renamed")
    again = ldap_login(client, portal, uid)

    assert again.json()["role"] == portal.editors.name
    assert again.json()["last_name"] == "Renamed"
    assert role_names(uid) == {portal.app.name: portal.editors.name}
    assert UserAppRole.objects.filter(user__username=uid).count() == 1

    directory.set_groups(uid, remove=["editors"])
    last = ldap_login(client, portal, uid)

    assert last.status_code == 200
    assert last.json()["role"] is None
    assert role_names(uid) == {}
    assert read_authors(client, portal, last.json()["session_token"]).status_code == 403


def test_the_first_matching_group_in_the_mapping_wins(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD, groups=["readers", "editors"])
    use_ldap(
        settings,
        directory,
        role_map=portal.role_map(("readers", portal.readers), ("editors", portal.editors)),
    )

    assert ldap_login(client, portal, uid).json()["role"] == portal.readers.name


def test_roles_in_apps_the_mapping_does_not_name_are_kept(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD, groups=["readers"])
    use_ldap(settings, directory, role_map=portal.role_map(("readers", portal.readers)))
    ldap_login(client, portal, uid)
    other = App.objects.create(name=f"other-{uuid.uuid4().hex[:8]}")
    UserAppRole.objects.create(user=User.objects.get(username=uid), app=other, role=portal.editors)

    ldap_login(client, portal, uid)

    assert role_names(uid) == {
        portal.app.name: portal.readers.name,
        other.name: portal.editors.name,
    }


def assert_unavailable(response: Any, started: float) -> None:
    assert time.monotonic() - started < 4, "a dead directory must answer quickly"
    assert response.status_code == 503
    assert error_of(response) == {
        "code": 503,
        "message": UNAVAILABLE,
        "status_code": 503,
        "context": None,
    }
    assert b"127.0.0.1" not in response.content
    assert b"Traceback" not in response.content


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_directory_that_is_down_answers_503_quickly(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    use_ldap(settings, directory, server_uri=f"ldap://127.0.0.1:{closed_port()}")
    uid = f"down-{uuid.uuid4().hex[:8]}"

    # Not counted as failed logins: no password could be checked.
    for _attempt in range(4):
        started = time.monotonic()
        assert_unavailable(ldap_login(client, portal, uid), started)


def test_a_directory_that_never_answers_times_out_with_503(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        use_ldap(settings, directory, server_uri=f"ldap://127.0.0.1:{port}", network_timeout=1)

        started = time.monotonic()
        assert_unavailable(ldap_login(client, portal, "anyone"), started)


def test_a_wrong_bind_password_answers_503_not_401(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD)
    use_ldap(settings, directory, bind_password="not-the-password")

    started = time.monotonic()
    assert_unavailable(ldap_login(client, portal, uid), started)


def test_ldap_first_logs_in_directory_users_without_naming_the_service(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD, groups=["readers"])
    use_ldap(
        settings, directory, first="true", role_map=portal.role_map(("readers", portal.readers))
    )

    response = log_in(client, portal.key, username=uid, password=PASSWORD)

    assert response.status_code == 200, response.content
    assert response.json()["role"] == portal.readers.name


def test_without_ldap_first_a_login_without_service_checks_local_accounts_only(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD)
    use_ldap(settings, directory)

    response = log_in(client, portal.key, username=uid, password=PASSWORD)

    assert response.status_code == 401
    assert not User.objects.filter(username=uid).exists()


@pytest.mark.parametrize("first", ["false", "true"])
def test_a_local_user_still_logs_in_with_ldap_configured(
    client: Client, settings: Any, directory: Directory, portal: Portal, first: str
) -> None:
    use_ldap(settings, directory, first=first)
    local = User.objects.create_user(
        f"local-{uuid.uuid4().hex[:8]}", "local@example.com", LOCAL_PASSWORD, first_name="Lin"
    )

    by_name = log_in(client, portal.key, username=local.username, password=LOCAL_PASSWORD)
    by_email = log_in(client, portal.key, email="local@example.com", password=LOCAL_PASSWORD)

    assert by_name.status_code == by_email.status_code == 200
    assert by_name.json()["id"] == by_email.json()["id"] == local.pk


def test_ldap_first_with_the_directory_down_still_logs_in_local_users(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    use_ldap(settings, directory, first="true", server_uri=f"ldap://127.0.0.1:{closed_port()}")
    local = User.objects.create_user(f"local-{uuid.uuid4().hex[:8]}", password=LOCAL_PASSWORD)

    good = log_in(client, portal.key, username=local.username, password=LOCAL_PASSWORD)
    started = time.monotonic()
    bad = log_in(client, portal.key, username=local.username, password="nope-1")

    assert good.status_code == 200
    assert_unavailable(bad, started)  # the directory might have known that password


def test_a_local_account_is_never_taken_over_by_a_directory_user_of_that_name(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD, groups=["readers"])
    local = User.objects.create_user(uid, password=LOCAL_PASSWORD)
    use_ldap(settings, directory, role_map=portal.role_map(("readers", portal.readers)))

    response = ldap_login(client, portal, uid)

    assert response.status_code == 401
    assert role_names(uid) == {}
    local.refresh_from_db()
    assert local.check_password(LOCAL_PASSWORD)


def test_failed_ldap_logins_are_throttled(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD)
    use_ldap(settings, directory)

    for _attempt in range(3):
        assert ldap_login(client, portal, uid, password="nope-1").status_code == 401
    refused = ldap_login(client, portal, uid)

    assert refused.status_code == 429
    assert error_of(refused)["message"] == throttle.THROTTLED_MESSAGE
    assert int(refused["Retry-After"]) > 0


def test_an_inactive_directory_user_cannot_log_in(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD)
    use_ldap(settings, directory)
    assert ldap_login(client, portal, uid).status_code == 200
    User.objects.filter(username=uid).update(is_active=False)

    assert ldap_login(client, portal, uid).status_code == 401


def test_start_tls_with_the_servers_ca_logs_in(
    client: Client, settings: Any, directory: Directory, portal: Portal
) -> None:
    uid = directory.add_user(PASSWORD)
    use_ldap(settings, directory, start_tls="true", ca_file=str(directory.ca_file))

    response = ldap_login(client, portal, uid)

    assert response.status_code == 200, response.content


def test_start_tls_with_an_untrusted_certificate_answers_503(
    client: Client, settings: Any, directory: Directory, portal: Portal, tmp_path: Any
) -> None:
    from tests.rbac.ldap.conftest import write_certificates

    write_certificates(tmp_path)  # a CA that did not sign the server's certificate
    uid = directory.add_user(PASSWORD)
    use_ldap(settings, directory, start_tls="true", ca_file=str(tmp_path / "ca.pem"))

    started = time.monotonic()
    assert_unavailable(ldap_login(client, portal, uid), started)


def test_service_ldap_while_ldap_is_off_answers_400(client: Client, portal: Portal) -> None:
    response = log_in(client, username="someone", password=PASSWORD, service="ldap")

    assert response.status_code == 400
    assert error_of(response)["message"] == "LDAP logins are not enabled on this server."


@pytest.mark.parametrize("service", ["oauth", 5, ["ldap"]])
def test_an_unknown_login_service_answers_400(
    client: Client, settings: Any, directory: Directory, service: Any
) -> None:
    use_ldap(settings, directory)

    response = log_in(client, username="someone", password=PASSWORD, service=service)

    assert response.status_code == 400
    assert error_of(response)["message"] == 'A login\'s "service" can only be "ldap".'


def test_djangos_own_logins_treat_a_dead_directory_as_a_failed_login(
    settings: Any, directory: Directory, rf: Any
) -> None:
    from django.contrib.auth import authenticate

    uid = directory.add_user(PASSWORD)
    use_ldap(settings, directory)
    assert authenticate(rf.post("/admin/login/"), username=uid, password=PASSWORD) is not None

    use_ldap(settings, directory, server_uri=f"ldap://127.0.0.1:{closed_port()}")

    assert authenticate(rf.post("/admin/login/"), username=uid, password=PASSWORD) is None
