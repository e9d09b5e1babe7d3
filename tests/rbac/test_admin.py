"""The access-control admin: roles with inline rules checked against the schema, app keys, explain."""

from __future__ import annotations

import html
import re
import socket
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from rbac.keys import key_digest, set_app_key
from rbac.models import AccessRule, App, Lookup, Role
from rbac.state import current_state, forget_state
from services.models import Service
from tests.services.api.conftest import make_service

pytestmark = pytest.mark.django_db

KEY_PATTERN = re.compile(r"sg_[A-Za-z0-9_-]{43}")
ROLE_ADD = reverse("admin:rbac_role_add")
APP_ADD = reverse("admin:rbac_app_add")


@pytest.fixture(autouse=True)
def _fresh_state() -> Any:
    forget_state()
    yield
    forget_state()


@pytest.fixture
def demo(db: None, demo_database: str, worker_suffix: str) -> Service:
    return make_service(f"admin-demo-{worker_suffix}".replace("_", "-")[:60], demo_database)


@pytest.fixture
def unreachable() -> Service:
    with socket.socket() as sock:  # a local port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service = Service(
        name="admin-down", label="Down", host="127.0.0.1", port=port, database="x", username="x"
    )
    service.set_password("unused")
    service.save()
    return service


def text_of(response: Any) -> str:
    return html.unescape(bytes(response.content).decode())


def role_data(*rules: dict[str, Any], name: str = "sales") -> dict[str, Any]:
    """The POST body of the role add page, with one inline form per item of `rules`."""
    data: dict[str, Any] = {
        "name": name,
        "description": "",
        "active": "on",
        "pg_role": "",
        "rules-TOTAL_FORMS": str(len(rules)),
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    for index, rule in enumerate(rules):
        fields = {
            "service": "",
            "component": "*",
            "verbs": ["GET"],
            "requestors": ["API"],
            "readable_columns": "",
            "writable_columns": "",
            "row_filter": "",
            "presets": "{}",
            "max_page_size": "",
            **rule,
        }
        data.update({f"rules-{index}-{key}": value for key, value in fields.items()})
    return data


def rule_errors(response: Any) -> dict[str, str]:
    """The errors of the first inline rule form, each field's messages joined."""
    assert response.status_code == 200, "the form was accepted"
    formset = response.context["inline_admin_formsets"][0].formset
    return {field: " ".join(messages) for field, messages in formset.errors[0].items()}


def refused(admin_client: Client, **rule: Any) -> dict[str, str]:
    """Post a new role with one rule; assert nothing was saved; return the rule's errors."""
    response = admin_client.post(ROLE_ADD, role_data(rule))
    errors = rule_errors(response)
    assert not Role.objects.exists()
    assert not AccessRule.objects.exists()
    return errors


def page_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- roles and rules ---------------------------------------------------------------------


def test_role_page_renders_rules_inline_with_the_tables_columns(
    admin_client: Client, demo: Service
) -> None:
    role = Role.objects.create(name="sales")
    AccessRule.objects.create(
        role=role, service=demo, component="_table/contacts", readable_columns=["id", "email"]
    )
    AccessRule.objects.create(role=role, component="*", verbs=["GET"])

    response = admin_client.get(reverse("admin:rbac_role_change", args=[role.pk]))

    text = text_of(response)
    assert response.status_code == 200
    assert 'name="rules-0-component" value="_table/contacts"' in text
    assert 'name="rules-1-component" value="*"' in text
    # The first rule names one table: its columns are checkboxes, the stored ones ticked.
    assert re.search(r'name="rules-0-readable_columns" value="email"[^>]*checked', text)
    assert re.search(r'name="rules-0-readable_columns" value="last_name"(?![^>]*checked)', text)
    # The second does not: a comma-separated text input.
    assert re.search(r'<input type="text" name="rules-1-readable_columns"', text)
    assert f"Columns of the tables of service “{demo.name}”" in text
    assert '<option value="_table/deals/*">' in text
    assert "Explain access" in text


def test_a_valid_rule_is_saved(admin_client: Client, demo: Service) -> None:
    response = admin_client.post(
        ROLE_ADD,
        role_data(
            {
                "service": str(demo.pk),
                "component": "_table/contacts/*",
                "verbs": ["PATCH", "GET"],
                "requestors": ["SCRIPT", "API"],
                "readable_columns": "id, email, company_id",
                "writable_columns": ["email"],
                "row_filter": "company_id = {user.id} AND companies_by_company_id.country = 'NL'",
                "presets": '{"status": "customer"}',
                "max_page_size": "50",
            }
        ),
    )

    assert response.status_code == 302, rule_errors(response)
    rule = AccessRule.objects.get(role__name="sales")
    assert rule.service == demo
    assert rule.component == "_table/contacts/*"
    assert rule.verbs == ["GET", "PATCH"]
    assert rule.requestors == ["API", "SCRIPT"]
    assert rule.readable_columns == ["id", "email", "company_id"]
    assert rule.writable_columns == ["email"]
    assert rule.presets == {"status": "customer"}
    assert rule.max_page_size == 50


def test_empty_column_lists_mean_every_column(admin_client: Client) -> None:
    response = admin_client.post(ROLE_ADD, role_data({"component": "_table/*"}))

    assert response.status_code == 302
    rule = AccessRule.objects.get()
    assert rule.readable_columns is None
    assert rule.writable_columns is None
    assert rule.presets == {}


def test_row_filter_that_does_not_parse_is_refused(admin_client: Client) -> None:
    errors = refused(admin_client, row_filter="status = = 'lead'")

    assert "The row filter cannot be parsed: expected a value after '='" in errors["row_filter"]


def test_unknown_readable_column_is_refused(admin_client: Client, demo: Service) -> None:
    errors = refused(
        admin_client,
        service=str(demo.pk),
        component="_table/contacts",
        readable_columns="email, salary",
        writable_columns="email",
    )

    assert errors == {"readable_columns": "Unknown column in table 'contacts': salary"}


def test_unknown_column_in_row_filter_is_refused(admin_client: Client, demo: Service) -> None:
    errors = refused(
        admin_client,
        service=str(demo.pk),
        component="_table/deals",
        row_filter="owner_id = {user.id} OR companies_by_company_id.planet = 'Mars'",
    )

    assert errors == {
        "row_filter": "Unknown columns in table 'deals': owner_id, companies_by_company_id.planet"
    }


def test_unknown_preset_column_is_refused(admin_client: Client, demo: Service) -> None:
    errors = refused(
        admin_client,
        service=str(demo.pk),
        component="_table/contacts",
        presets='{"status": "lead", "owner_id": "{user.id}"}',
    )

    assert errors == {"presets": "Unknown column in table 'contacts': owner_id"}


def test_presets_must_be_a_json_object(admin_client: Client) -> None:
    errors = refused(admin_client, presets='["owner_id"]')

    assert errors["presets"].startswith("Presets must be a JSON object")


def test_private_lookup_in_row_filter_is_refused(admin_client: Client) -> None:
    Lookup.objects.create(key="tenant", value="t-1", private=True)
    Lookup.objects.create(key="region", value="eu")

    errors = refused(admin_client, row_filter="region = {region} AND tenant = {tenant}")

    assert errors == {
        "row_filter": "private lookups are only available to scripts: {tenant}",
    }


def test_unknown_table_is_refused(admin_client: Client, demo: Service) -> None:
    errors = refused(admin_client, service=str(demo.pk), component="_table/invoices")

    assert errors == {"component": f"Table 'invoices' does not exist in service '{demo.name}'."}


@pytest.mark.parametrize(
    "component", ["", "table/contacts", "_table/a b", "_table/*/x", "_tables/*"]
)
def test_malformed_component_is_refused(admin_client: Client, component: str) -> None:
    errors = refused(admin_client, component=component)

    assert set(errors) == {"component"}


def test_verbs_and_requestors_are_required_and_from_their_sets(admin_client: Client) -> None:
    errors = refused(admin_client, verbs=[], requestors=["API", "CRON"])

    assert errors["verbs"] == "Choose at least one verb."
    assert "CRON is not one of the available choices" in errors["requestors"]


def test_unreachable_service_skips_column_checks_with_a_warning(
    admin_client: Client, unreachable: Service
) -> None:
    response = admin_client.post(
        ROLE_ADD,
        role_data(
            {
                "service": str(unreachable.pk),
                "component": "_table/anything",
                "readable_columns": "whatever",
            }
        ),
        follow=True,
    )

    assert response.status_code == 200
    assert AccessRule.objects.get().readable_columns == ["whatever"]
    assert any("could not be reached" in message for message in page_messages(response))


# --- apps and keys -------------------------------------------------------------------------


def app_for(key: str) -> Any:
    forget_state()
    return current_state().app_for_digest(key_digest(key))


def shown_keys(response: Any) -> list[str]:
    return [key for message in page_messages(response) for key in KEY_PATTERN.findall(message)]


def test_new_app_shows_its_key_once_and_stores_only_the_digest(admin_client: Client) -> None:
    role = Role.objects.create(name="reader")

    response = admin_client.post(
        APP_ADD,
        {
            "name": "crm-<b>web</b>",
            "description": "",
            "active": "on",
            "default_role": str(role.pk),
            "user_roles-TOTAL_FORMS": "0",
            "user_roles-INITIAL_FORMS": "0",
            "user_roles-MIN_NUM_FORMS": "0",
            "user_roles-MAX_NUM_FORMS": "1000",
        },
        follow=True,
    )

    [key] = shown_keys(response)
    raw = bytes(response.content).decode()
    assert f"<code>{key}</code>" in raw
    assert "crm-&lt;b&gt;web&lt;/b&gt;" in raw  # the name is escaped, the key markup is not
    app = App.objects.get()
    assert app.key_digest == key_digest(key)
    assert app.key_prefix == key[:8]
    assert key not in str(list(App.objects.values_list()))
    assert app_for(key).id == app.pk

    # Never shown again: not on the change page, not in the list.
    change = admin_client.get(reverse("admin:rbac_app_change", args=[app.pk]))
    listing = admin_client.get(reverse("admin:rbac_app_changelist"))
    for page in (change, listing):
        assert key not in text_of(page)
        assert app.key_digest not in text_of(page)
        assert f"{app.key_prefix}…" in text_of(page)


def test_regenerate_gives_a_new_key_and_the_old_one_stops_working(admin_client: Client) -> None:
    app = App.objects.create(name="crm")
    old = set_app_key(app)

    response = admin_client.post(
        reverse("admin:rbac_app_regenerate_key", args=[app.pk]), follow=True
    )

    [new] = shown_keys(response)
    assert new != old
    assert app_for(old) is None
    assert app_for(new).id == app.pk


def test_regenerate_action_on_the_list(admin_client: Client) -> None:
    app = App.objects.create(name="crm")
    old = set_app_key(app)

    response = admin_client.post(
        reverse("admin:rbac_app_changelist"),
        {"action": "regenerate_keys", "_selected_action": [str(app.pk)]},
        follow=True,
    )

    [new] = shown_keys(response)
    assert app_for(old) is None
    assert app_for(new).id == app.pk


def test_revoke_removes_the_key(admin_client: Client) -> None:
    app = App.objects.create(name="crm")
    key = set_app_key(app)

    response = admin_client.post(reverse("admin:rbac_app_revoke_key", args=[app.pk]), follow=True)

    assert response.status_code == 200
    assert shown_keys(response) == []
    app.refresh_from_db()
    assert (app.key_digest, app.key_prefix) == (None, "")
    assert app_for(key) is None


def test_key_buttons_refuse_get(admin_client: Client) -> None:
    app = App.objects.create(name="crm")

    response = admin_client.get(reverse("admin:rbac_app_regenerate_key", args=[app.pk]))

    assert response.status_code == 405


def test_private_lookup_values_are_masked_in_the_list(admin_client: Client) -> None:
    Lookup.objects.create(key="tenant_secret", value="s3cr3t-value", private=True)
    Lookup.objects.create(key="region", value="eu-west")

    text = text_of(admin_client.get(reverse("admin:rbac_lookup_changelist")))

    assert "s3cr3t-value" not in text
    assert "eu-west" in text
    assert "••••••••" in text


# --- explain ----------------------------------------------------------------------------


@pytest.fixture
def explained_role(demo: Service) -> Role:
    role = Role.objects.create(name="sales")
    AccessRule.objects.create(role=role, service=demo, component="_table/*", verbs=["GET"])
    AccessRule.objects.create(
        role=role,
        service=demo,
        component="_table/contacts",
        verbs=["GET", "PATCH"],
        readable_columns=["email", "id", "first_name"],
        writable_columns=["email"],
        row_filter="id = {user.id} AND status != 'churned'",
        max_page_size=25,
    )
    AccessRule.objects.create(role=role, component="*", verbs=["GET", "DELETE"])
    AccessRule.objects.create(role=role, service=demo, component="_table/deals", verbs=["GET"])
    return role


def explain_url(role: Role) -> str:
    return reverse("admin:rbac_role_explain", args=[role.pk])


def test_explain_shows_the_winning_tier_columns_and_bound_row_filter(
    admin_client: Client, demo: Service, explained_role: Role
) -> None:
    ada = User.objects.create_user("ada", "ada@example.com")
    query: dict[str, Any] = {"service": demo.pk, "table": "contacts", "user": ada.pk, "verb": "GET"}

    response = admin_client.get(explain_url(explained_role), query)

    assert response.status_code == 200
    explanation = response.context["explanation"]
    assert explanation.component == "_table/contacts"
    assert explanation.winning_tier == 0
    assert explanation.verbs_granted == ("GET", "PATCH")
    assert explanation.readable == ("id", "email", "first_name")
    assert explanation.writable == ("email",)
    assert explanation.max_page_size == 25
    assert explanation.row_filter == "id = {user.id} AND status != 'churned'"
    assert explanation.bound_row_filter == f"id = {ada.pk} AND status != 'churned'"
    verdicts = [(v.rule.component, v.winner, v.tier) for v in explanation.verdicts]
    assert verdicts == [
        ("_table/*", False, 1),
        ("_table/contacts", True, 0),
        ("*", False, 5),
        ("_table/deals", False, None),
    ]
    text = text_of(response)
    assert "0: exact component on this service" in text
    assert "lower tier than the winner" in text
    assert "does not match _table/contacts" in text
    assert f"id = {ada.pk} AND status != 'churned'" in text
    assert "id, email, first_name" in text


def test_explain_without_user_says_the_lookup_has_no_value(
    admin_client: Client, demo: Service, explained_role: Role
) -> None:
    query: dict[str, Any] = {"service": demo.pk, "table": "contacts", "requestor": "API"}

    response = admin_client.get(explain_url(explained_role), query)

    explanation = response.context["explanation"]
    assert explanation.winning_tier == 0
    assert explanation.policy is None
    [winner] = [verdict for verdict in explanation.verdicts if verdict.winner]
    assert "no value for {user.id}: it grants nothing" in winner.reason
    assert "GET on contacts is not allowed" in text_of(response)


def test_explain_of_a_wildcard_table_gives_every_column(
    admin_client: Client, demo: Service, explained_role: Role
) -> None:
    query: dict[str, Any] = {"service": demo.pk, "table": "companies"}

    explanation = admin_client.get(explain_url(explained_role), query).context["explanation"]

    assert explanation.winning_tier == 1
    assert explanation.readable_all
    assert explanation.readable[:3] == ("id", "name", "domain")
    assert explanation.row_filter == ""


def test_explain_of_a_verb_not_granted_says_so(
    admin_client: Client, demo: Service, explained_role: Role
) -> None:
    query: dict[str, Any] = {"service": demo.pk, "table": "companies", "verb": "DELETE"}

    response = admin_client.get(explain_url(explained_role), query)

    assert response.context["explanation"].policy is None
    assert "DELETE on companies is not allowed" in text_of(response)


def test_explain_form_starts_on_a_table_of_the_role(
    admin_client: Client, demo: Service, explained_role: Role
) -> None:
    response = admin_client.get(explain_url(explained_role))

    assert response.status_code == 200
    assert response.context["explanation"] is None
    form = response.context["form"]
    assert form.initial["service"] == demo.pk
    assert form.initial["table"] == "contacts"
    assert '<option value="segments">' in text_of(response)


def test_explain_needs_change_permission_on_roles(client: Client, explained_role: Role) -> None:
    viewer = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_role"))
    client.force_login(viewer)

    response = client.get(explain_url(explained_role))

    assert response.status_code == 403


@pytest.mark.parametrize("model", ["role", "app", "lookup", "userapprole", "adminapikey"])
def test_list_and_add_pages_render(admin_client: Client, model: str) -> None:
    assert admin_client.get(reverse(f"admin:rbac_{model}_changelist")).status_code == 200
    if model != "adminapikey":  # admin keys are created on the command line
        assert admin_client.get(reverse(f"admin:rbac_{model}_add")).status_code == 200


def test_lookup_belongs_to_one_owner_at_most(admin_client: Client) -> None:
    role = Role.objects.create(name="sales")
    app = App.objects.create(name="crm")

    response = admin_client.post(
        reverse("admin:rbac_lookup_add"),
        {"key": "{region}", "value": "eu", "role": str(role.pk), "app": str(app.pk)},
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "one app, one role or one user" in " ".join(form.non_field_errors())
    assert "without braces" in " ".join(form.errors["key"])
    assert not Lookup.objects.exists()
