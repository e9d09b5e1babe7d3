"""create_app, export_config and import_config: keys shown once, configuration as code."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from rbac import state
from rbac.config_io import lookup_value_var, service_password_var
from rbac.keys import key_digest, new_key
from rbac.models import AccessRule, App, Limit, Lookup, Role, UserAppRole
from services.models import Service

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Config-Secret-5432"
LOOKUP_SECRET = "lookup-Secret-Value-77"


def run(*args: str) -> str:
    """Run a command; return its stdout."""
    stdout = io.StringIO()
    call_command(*args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


def export() -> str:
    return run("export_config")


def import_text(tmp_path: Path, text: str, *args: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return run("import_config", str(path), *args)


def import_data(tmp_path: Path, data: dict[str, Any], *args: str) -> str:
    return import_text(tmp_path, yaml.safe_dump(data, sort_keys=False), *args)


def changed_lines(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith(("created", "updated"))]


def snapshot() -> str:
    """Everything an import could write, keys' digests included."""
    digests = sorted(
        (name, digest or "") for name, digest in App.objects.values_list("name", "key_digest")
    )
    return (
        export()
        + repr(digests)
        + repr(list(Service.objects.order_by("name").values_list("password_encrypted")))
    )


def wipe() -> None:
    """Leave an empty platform configuration (users stay: the import never creates them)."""
    Limit.objects.all().delete()
    Lookup.objects.all().delete()
    UserAppRole.objects.all().delete()
    App.objects.all().delete()
    Role.objects.all().delete()
    Service.objects.all().delete()


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("alice", password="x-alice-pw")


@pytest.fixture
def service() -> Service:
    service = Service(
        name="crm", label="CRM", host="db.internal", database="crm", username="api_reader"
    )
    service.set_password(PASSWORD)
    service.save()
    return service


@pytest.fixture
def platform(service: Service, alice: User, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A configuration of every kind, and the environment its export references."""
    second = Service(name="billing", label="Billing", host="db2", database="billing", username="u")
    second.set_password("pw-billing")
    second.save()
    analysts = Role.objects.create(name="analysts", description="Read the CRM", pg_role="analyst")
    admins = Role.objects.create(
        name="admins", description="Everything\non billing — ünïcode", active=False
    )
    AccessRule.objects.create(
        role=analysts,
        service=service,
        component="_table/contacts",
        verbs=["GET"],
        readable_columns=["id", "name"],
        row_filter="owner_id = {user.id}",
        presets={"owner_id": "{user.id}"},
        max_page_size=50,
    )
    AccessRule.objects.create(role=analysts, service=None, component="_schema/*", verbs=["GET"])
    AccessRule.objects.create(role=admins, service=second, component="*")
    portal = App.objects.create(name="portal", description="Customer portal", default_role=analysts)
    App.objects.create(name="batch", active=False)
    UserAppRole.objects.create(user=alice, app=portal, role=admins)
    Lookup.objects.create(key="region", value="eu")
    Lookup.objects.create(key="token", value=LOOKUP_SECRET, private=True, app=portal)
    Lookup.objects.create(key="team", value="north", role=analysts)
    Lookup.objects.create(key="desk", value="4", user=alice)
    Limit.objects.create(
        name="portal-users", scope="app.each_user", app=portal, rate=100, period="hour"
    )
    Limit.objects.create(
        name="crm-contacts",
        description="Contacts are expensive",
        scope="service.endpoint",
        service=service,
        endpoint="_table/cont*",
        verb="GET",
        rate=10,
    )
    Limit.objects.create(
        name="alice-daily", scope="role.user", role=admins, user=alice, rate=5000, period="day"
    )
    env = {
        service_password_var("crm"): PASSWORD,
        service_password_var("billing"): "pw-billing",
        lookup_value_var("token", "app", "portal"): LOOKUP_SECRET,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


# --- create_app ---


def test_create_app_prints_a_key_that_identifies_the_app() -> None:
    Role.objects.create(name="analysts")
    out = run("create_app", "--name=portal", "--role=analysts", "--description=Portal")
    keys = [line for line in out.splitlines() if line.startswith("sg_")]
    assert len(keys) == 1
    assert out.count(keys[0]) == 1
    assert "will not be shown again" in out
    state.forget_state()
    found = state.current_state().app_for_digest(key_digest(keys[0]))
    assert found is not None
    assert found.name == "portal"
    app = App.objects.get(name="portal")
    assert (app.description, app.active, app.default_role) == ("Portal", True, Role.objects.get())


def test_create_app_stores_only_the_digest() -> None:
    Role.objects.create(name="analysts")
    out = run("create_app", "--name=portal", "--role=analysts", "--inactive")
    key = next(line for line in out.splitlines() if line.startswith("sg_"))
    row = App.objects.filter(name="portal").values().get()
    assert row["key_digest"] == key_digest(key)
    assert row["active"] is False
    assert all(key not in str(value) for value in row.values())


def test_create_app_refuses_an_existing_name_and_an_unknown_role() -> None:
    Role.objects.create(name="analysts")
    run("create_app", "--name=portal", "--role=analysts")
    with pytest.raises(CommandError, match="already exists"):
        run("create_app", "--name=portal", "--role=analysts")
    with pytest.raises(CommandError, match="no role 'nobody'"):
        run("create_app", "--name=other", "--role=nobody")
    assert list(App.objects.values_list("name", flat=True)) == ["portal"]


def test_create_app_regenerate_prints_a_new_key_and_the_old_one_stops_working() -> None:
    Role.objects.create(name="analysts")
    first = run("create_app", "--name=portal", "--role=analysts").splitlines()[1]
    out = run("create_app", "--name=portal", "--regenerate")
    second = next(line for line in out.splitlines() if line.startswith("sg_"))
    assert second != first
    assert "will not be shown again" in out
    state.forget_state()
    assert state.current_state().app_for_digest(key_digest(first)) is None
    assert state.current_state().app_for_digest(key_digest(second)) is not None
    with pytest.raises(CommandError, match="no app 'nothing'"):
        run("create_app", "--name=nothing", "--regenerate")


# --- export_config ---


def test_export_holds_no_password_key_or_digest(platform: dict[str, Any], service: Service) -> None:
    key = run("create_app", "--name=keyed", "--role=analysts").splitlines()[1]
    text = export()
    digest = App.objects.get(name="keyed").key_digest
    assert digest
    for secret in (PASSWORD, service.password_encrypted, key, digest, LOOKUP_SECRET):
        assert secret not in text
    data = yaml.safe_load(text)
    crm = next(item for item in data["services"] if item["name"] == "crm")
    assert crm["password"] == {"env": "SLUICEGATE_SERVICE_CRM_PASSWORD"}
    assert all(
        set(app) == {"name", "description", "active", "default_role"} for app in data["apps"]
    )
    token = next(item for item in data["lookups"] if item["key"] == "token")
    assert token == {
        "key": "token",
        "value": {"env": "SLUICEGATE_LOOKUP_APP_PORTAL_TOKEN"},
        "private": True,
        "scope": {"app": "portal"},
    }


def test_export_is_ordered_by_name(platform: dict[str, Any], tmp_path: Path) -> None:
    data = yaml.safe_load(export())
    assert data["version"] == 1
    assert [item["name"] for item in data["limits"]] == [
        "alice-daily",
        "crm-contacts",
        "portal-users",
    ]
    assert data["limits"][1] == {
        "name": "crm-contacts",
        "description": "Contacts are expensive",
        "active": True,
        "scope": "service.endpoint",
        "rate": 10,
        "period": "minute",
        "verb": "GET",
        "app": None,
        "role": None,
        "user": None,
        "service": "crm",
        "endpoint": "_table/cont*",
    }
    assert data["limits"][0]["role"] == "admins"
    assert data["limits"][0]["user"] == "alice"
    assert data["limits"][2]["verb"] is None
    assert [item["name"] for item in data["services"]] == ["billing", "crm"]
    assert [item["name"] for item in data["roles"]] == ["admins", "analysts"]
    assert [item["name"] for item in data["apps"]] == ["batch", "portal"]
    analysts = data["roles"][1]
    assert [(rule["service"], rule["component"]) for rule in analysts["rules"]] == [
        (None, "_schema/*"),
        ("crm", "_table/contacts"),
    ]
    assert [item["scope"] for item in data["lookups"]] == [
        "system",
        {"app": "portal"},
        {"role": "analysts"},
        {"user": "alice"},
    ]
    output = tmp_path / "out.yaml"
    run("export_config", f"--output={output}")
    assert output.read_text() == export()


# --- import_config ---


def test_round_trip_into_an_empty_platform_is_identical(
    platform: dict[str, Any], tmp_path: Path
) -> None:
    before = export()
    wipe()
    report = import_text(tmp_path, before)
    assert "created role analysts with 2 rules" in report
    assert export() == before
    assert Service.objects.get(name="crm").get_password() == PASSWORD
    assert Lookup.objects.get(key="token").value == LOOKUP_SECRET


def test_import_is_idempotent(platform: dict[str, Any], tmp_path: Path) -> None:
    text = export()
    first = import_text(tmp_path, text)
    second = import_text(tmp_path, text)
    assert changed_lines(first) == changed_lines(second) == []
    assert "unchanged: 2 apps" in second
    assert "unchanged: 2 services" in second
    assert "no changes" in second
    assert export() == text


def test_import_reports_each_change(platform: dict[str, Any], tmp_path: Path) -> None:
    data = yaml.safe_load(export())
    crm = next(item for item in data["services"] if item["name"] == "crm")
    crm["max_records"] = 500
    analysts = data["roles"][1]
    analysts["rules"][1]["verbs"] = ["GET", "POST"]  # changed
    del analysts["rules"][0]  # removed
    analysts["rules"].append({"service": "billing", "component": "_table/*"})  # added
    data["roles"].append({"name": "auditors"})
    report = import_data(tmp_path, data)
    assert changed_lines(report) == [
        "updated service crm: max_records 1000 -> 500",
        'updated role analysts: rule _table/contacts on crm: verbs ["GET"] -> ["GET", "POST"]',
        "updated role analysts: added rule _table/* on billing",
        "updated role analysts: removed rule _schema/* on every service",
        "created role auditors",
    ]
    assert "unchanged: 2 apps" in report
    assert Service.objects.get(name="crm").max_records == 500
    assert sorted(Role.objects.get(name="analysts").rules.values_list("component", flat=True)) == [
        "_table/*",
        "_table/contacts",
    ]


def test_import_leaves_fields_the_document_omits(platform: dict[str, Any], tmp_path: Path) -> None:
    report = import_data(tmp_path, {"version": 1, "roles": [{"name": "analysts", "active": False}]})
    assert changed_lines(report) == ["updated role analysts: active true -> false"]
    role = Role.objects.get(name="analysts")
    assert (role.description, role.pg_role, role.rules.count()) == ("Read the CRM", "analyst", 2)


def test_dry_run_reports_and_writes_nothing(platform: dict[str, Any], tmp_path: Path) -> None:
    before = snapshot()
    data = yaml.safe_load(export())
    data["services"][1]["max_records"] = 500
    data["apps"].append({"name": "new-app", "default_role": "admins"})
    dry = import_data(tmp_path, data, "--dry-run")
    assert "updated service crm: max_records 1000 -> 500" in dry
    assert "created app new-app" in dry
    assert "Dry run: nothing was written." in dry
    assert snapshot() == before
    real = import_data(tmp_path, data)
    assert changed_lines(real) == changed_lines(dry)
    assert snapshot() != before


def test_app_key_from_the_environment_is_stored_hashed(
    platform: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    monkeypatch.setenv("PORTAL_KEY", key)
    data = {"version": 1, "apps": [{"name": "portal", "key": {"env": "PORTAL_KEY"}}]}
    assert changed_lines(import_data(tmp_path, data)) == ["updated app portal: key set"]
    row = App.objects.filter(name="portal").values().get()
    assert row["key_digest"] == key_digest(key)
    assert all(key not in str(value) for value in row.values())
    state.forget_state()
    found = state.current_state().app_for_digest(key_digest(key))
    assert found is not None
    assert found.name == "portal"
    created_at = row["key_created_at"]
    again = import_data(tmp_path, data)
    assert changed_lines(again) == []
    assert App.objects.get(name="portal").key_created_at == created_at
    assert key not in again
    assert key not in export()


def test_missing_environment_variable_writes_nothing(
    platform: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = export()
    data = yaml.safe_load(text)
    data["roles"].append({"name": "auditors"})
    monkeypatch.delenv("SLUICEGATE_SERVICE_CRM_PASSWORD")
    with pytest.raises(CommandError, match="SLUICEGATE_SERVICE_CRM_PASSWORD is not set"):
        import_data(tmp_path, data)
    assert not Role.objects.filter(name="auditors").exists()
    assert export() == text


def _service_with(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["services"][0].update(fields)

    return change


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set the value at a dotted path such as `roles.1.rules.0.verbs`."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


def _append(section: str, item: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda data: data[section].append(item)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(_set("colour", "blue"), "colour: unknown key", id="unknown-top-key"),
        pytest.param(
            _set("roles.0.colour", "blue"), r"roles\[0\]\.colour: unknown key", id="unknown-key"
        ),
        pytest.param(_set("version", 2), "version: unsupported version 2", id="version"),
        pytest.param(
            _set("services.0.port", "5432"),
            r"services\[0\]\.port: expected an integer, got a string",
            id="wrong-type",
        ),
        pytest.param(
            _set("roles.1.active", "yes"), r"roles\[1\]\.active: expected true or false", id="bool"
        ),
        pytest.param(
            _set("apps.1.default_role", "nobody"),
            r"apps\[1\]\.default_role: no role 'nobody'",
            id="unknown-role",
        ),
        pytest.param(
            _set("roles.1.rules.1.service", "nowhere"),
            r"roles\[1\]\.rules\[1\]\.service: no service 'nowhere'",
            id="unknown-service",
        ),
        pytest.param(
            _set("roles.1.rules.0.verbs", ["GET", "FETCH"]),
            r"roles\[1\]\.rules\[0\]\.verbs: unknown verb 'FETCH'",
            id="bad-verb",
        ),
        pytest.param(
            _set("roles.1.rules.0.requestors", ["HUMAN"]),
            r"roles\[1\]\.rules\[0\]\.requestors: unknown requestor 'HUMAN'",
            id="bad-requestor",
        ),
        pytest.param(
            _set("roles.1.rules.1.row_filter", "owner_id = "),
            r"roles\[1\]\.rules\[1\]\.row_filter: invalid row filter",
            id="bad-row-filter",
        ),
        pytest.param(
            _set("user_app_roles.0.username", "bob"),
            r"user_app_roles\[0\]\.username: no user 'bob' \(the import does not create users\)",
            id="unknown-user",
        ),
        pytest.param(
            _set("lookups.3.scope", {"user": "bob"}),
            r"lookups\[3\]\.scope\.user: no user 'bob'",
            id="unknown-lookup-user",
        ),
        pytest.param(
            _set("limits.0.scope", "galaxy"),
            r"limits\[0\]\.scope: unknown scope 'galaxy'",
            id="limit-scope",
        ),
        pytest.param(
            _set("limits.1.period", "week"),
            r"limits\[1\]\.period: unknown period 'week'",
            id="limit-period",
        ),
        pytest.param(
            _set("limits.1.verb", "FETCH"),
            r"limits\[1\]\.verb: unknown verb 'FETCH'",
            id="limit-verb",
        ),
        pytest.param(
            _set("limits.1.service", "nowhere"),
            r"limits\[1\]\.service: no service 'nowhere'",
            id="limit-unknown-service",
        ),
        pytest.param(
            _set("limits.0.user", "bob"),
            r"limits\[0\]\.user: no user 'bob'",
            id="limit-unknown-user",
        ),
        pytest.param(
            _append("limits", {"name": "crm-contacts", "scope": "instance", "rate": 1}),
            r"limits\[3\]\.name: limit 'crm-contacts' is also given at limits\[1\]",
            id="limit-duplicate",
        ),
        pytest.param(
            # Checked by the model's validation: an app scope needs its app.
            _set("limits.2.app", None),
            r"limits\[2\]\.app: A limit of scope 'App, each user' needs an app",
            id="limit-validation",
        ),
        pytest.param(
            _append("limits", {"name": "new", "scope": "instance"}),
            r"limits\[3\]: a new limit needs rate",
            id="limit-new-without-rate",
        ),
        pytest.param(
            _service_with(password="plain-text"),
            r"services\[0\]\.password: expected \{env: VARIABLE\}",
            id="plain-password",
        ),
        pytest.param(
            _append("roles", {"name": "analysts"}),
            r"roles\[2\]\.name: role 'analysts' is also given at roles\[1\]",
            id="duplicate",
        ),
        pytest.param(
            # Found only by the model's own validation, after earlier entries were written.
            _append(
                "services",
                {
                    "name": "api",
                    "host": "h",
                    "database": "d",
                    "username": "u",
                    "password": {"env": "SLUICEGATE_SERVICE_CRM_PASSWORD"},
                },
            ),
            r"services\[2\]\.name: 'api' is reserved",
            id="model-validation",
        ),
    ],
)
def test_invalid_document_is_refused_with_its_path_and_writes_nothing(
    platform: dict[str, Any],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    text = export()
    data = yaml.safe_load(text)
    data["services"][0]["max_records"] = 7  # written first, then rolled back
    change(data)
    with pytest.raises(CommandError, match=message):
        import_data(tmp_path, data)
    assert export() == text


def test_empty_limits_are_accepted(tmp_path: Path) -> None:
    report = import_data(tmp_path, {"version": 1, "limits": []})
    assert report.splitlines() == ["no changes"]


def test_key_given_twice_in_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="key 'name' is given twice"):
        import_text(tmp_path, "version: 1\nroles:\n- name: a\n  name: b\n")
    assert not Role.objects.exists()


def test_user_app_roles_and_lookups_are_updated_by_natural_key(
    platform: dict[str, Any], tmp_path: Path
) -> None:
    data = {
        "version": 1,
        "user_app_roles": [{"username": "alice", "app": "portal", "role": "analysts"}],
        "lookups": [
            {"key": "region", "value": "us", "scope": "system"},
            {"key": "token", "value": "other-secret", "scope": {"app": "portal"}},
        ],
    }
    report = import_data(tmp_path, data)
    assert changed_lines(report) == [
        'updated user app role alice in portal: role "admins" -> "analysts"',
        'updated lookup region (system): value "eu" -> "us"',
        "updated lookup token (app portal): value changed",
    ]
    assert "other-secret" not in report
    assert UserAppRole.objects.get().role.name == "analysts"
    assert Lookup.objects.get(key="token").value == "other-secret"
    assert Lookup.objects.count() == 4


def test_limits_are_imported_by_name_and_each_change_reported(
    platform: dict[str, Any], tmp_path: Path, alice: User
) -> None:
    data = {
        "version": 1,
        "limits": [
            {"name": "crm-contacts", "rate": 20, "verb": None},
            {"name": "portal-users", "scope": "app.user", "user": "alice"},
            {"name": "everyone", "scope": "instance", "rate": 1000, "period": "30-day"},
        ],
    }
    report = import_data(tmp_path, data, "--dry-run")
    expected = [
        "updated limit crm-contacts: rate 10 -> 20",
        'updated limit crm-contacts: verb "GET" -> ""',
        'updated limit portal-users: scope "app.each_user" -> "app.user"',
        'updated limit portal-users: user null -> "alice"',
        "created limit everyone",
    ]
    assert changed_lines(report) == expected
    assert Limit.objects.get(name="crm-contacts").rate == 10
    assert changed_lines(import_data(tmp_path, data)) == expected
    contacts = Limit.objects.get(name="crm-contacts")
    assert (contacts.rate, contacts.verb, contacts.endpoint) == (20, "", "_table/cont*")
    portal = Limit.objects.get(name="portal-users")
    portal_app = App.objects.get(name="portal")
    assert (portal.scope, portal.user_id, portal.app_id) == ("app.user", alice.pk, portal_app.pk)
    everyone = Limit.objects.get(name="everyone")
    assert (everyone.rate, everyone.period, everyone.app) == (1000, "30-day", None)
    again = import_data(tmp_path, data)
    assert changed_lines(again) == []
    assert "unchanged: 3 limits" in again


def test_a_limit_change_reaches_the_access_state(platform: dict[str, Any], tmp_path: Path) -> None:
    state.forget_state()
    assert sorted(limit.name for limit in state.current_state().limits) == [
        "alice-daily",
        "crm-contacts",
        "portal-users",
    ]
    import_data(tmp_path, {"version": 1, "limits": [{"name": "crm-contacts", "active": False}]})
    assert sorted(limit.name for limit in state.current_state().limits) == [
        "alice-daily",
        "portal-users",
    ]
