"""The admin change trail: who changed which configuration, from what to what, secrets masked."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from rbac.audit_changes import CHANGED, SET, WATCHED_MODELS, acting_as
from rbac.keys import create_admin_key, set_app_key
from rbac.models import AdminChange, App, Limit, Lookup, Role
from services.models import Service

pytestmark = pytest.mark.django_db

KEY_PATTERN = re.compile(r"sg_[A-Za-z0-9_-]{43}")


def only_change(**filters: Any) -> AdminChange:
    [change] = AdminChange.objects.filter(**filters)
    return change


def row_text(change: AdminChange) -> str:
    """Everything the trail stored for one change, as text."""
    return json.dumps(
        {
            "repr": change.object_repr,
            "id": change.object_id,
            "before": change.before,
            "after": change.after,
        }
    )


def lookup_post(**fields: Any) -> dict[str, Any]:
    return {"key": "region", "value": "NL", "app": "", "role": "", "user": "", **fields}


@pytest.fixture
def service() -> Service:
    service = Service(
        name="crm", label="CRM", host="127.0.0.1", port=5432, database="crm", username="crm"
    )
    service.set_password("old-database-password")
    service.save()
    return service


def service_post(service: Service, **fields: Any) -> dict[str, Any]:
    return {
        "name": service.name,
        "label": service.label,
        "description": "",
        "active": "on",
        "host": service.host,
        "port": str(service.port),
        "database": service.database,
        "username": service.username,
        "password": "",
        "sslmode": service.sslmode,
        "schemas": "public",
        "max_records": "1000",
        "pool_min_size": "1",
        "pool_max_size": "10",
        "statement_timeout_ms": "30000",
        **fields,
    }


def test_a_change_through_the_admin_records_who_what_and_before_after(
    admin_client: Client, admin_user: User
) -> None:
    response = admin_client.post(reverse("admin:rbac_lookup_add"), lookup_post())
    assert response.status_code == 302
    lookup = Lookup.objects.get()
    created = only_change(action="create")
    assert (created.user, created.username) == (admin_user, admin_user.username)
    assert (created.model, created.object_id) == ("rbac.Lookup", str(lookup.pk))
    assert created.object_repr == "{region}"
    assert created.before is None
    assert created.after is not None
    assert created.after["key"] == "region"
    assert created.after["value"] == "NL"

    response = admin_client.post(
        reverse("admin:rbac_lookup_change", args=[lookup.pk]), lookup_post(value="BE")
    )
    assert response.status_code == 302
    updated = only_change(action="update")
    assert updated.username == admin_user.username
    # Only the fields that changed.
    assert (updated.before, updated.after) == ({"value": "NL"}, {"value": "BE"})


def test_saving_without_changes_records_nothing(admin_client: Client) -> None:
    admin_client.post(reverse("admin:rbac_lookup_add"), lookup_post())
    lookup = Lookup.objects.get()
    admin_client.post(reverse("admin:rbac_lookup_change", args=[lookup.pk]), lookup_post())
    assert list(AdminChange.objects.values_list("action", flat=True)) == ["create"]


def test_a_private_lookups_value_is_masked(admin_client: Client) -> None:
    admin_client.post(
        reverse("admin:rbac_lookup_add"),
        lookup_post(key="crm_token", value="very-secret-value", private="on"),
    )
    lookup = Lookup.objects.get()
    admin_client.post(
        reverse("admin:rbac_lookup_change", args=[lookup.pk]),
        lookup_post(key="crm_token", value="another-secret", private="on"),
    )
    created, updated = AdminChange.objects.order_by("pk")
    assert created.after is not None
    assert created.after["value"] == SET
    assert (updated.before, updated.after) == ({"value": SET}, {"value": CHANGED})
    for change in (created, updated):
        assert "secret-value" not in row_text(change)
        assert "another-secret" not in row_text(change)


def test_a_service_password_change_is_masked_and_the_secret_stored_nowhere(
    admin_client: Client, admin_user: User, service: Service
) -> None:
    old_ciphertext = service.password_encrypted
    AdminChange.objects.all().delete()

    response = admin_client.post(
        reverse("admin:services_service_change", args=[service.pk]),
        service_post(service, password="new-database-password", max_records="500"),
    )

    assert response.status_code == 302
    service.refresh_from_db()
    assert service.get_password() == "new-database-password"
    change = only_change(action="update")
    assert (change.model, change.username) == ("services.Service", admin_user.username)
    assert change.before == {"password_encrypted": SET, "max_records": 1000}
    assert change.after == {"password_encrypted": CHANGED, "max_records": 500}
    text = row_text(change)
    for secret in (
        "new-database-password",
        "old-database-password",
        old_ciphertext,
        service.password_encrypted,
    ):
        assert secret not in text


def test_creating_a_service_never_stores_its_ciphertext(service: Service) -> None:
    change = only_change(model="services.Service", action="create")
    assert change.after is not None
    assert change.after["password_encrypted"] == SET
    assert service.password_encrypted not in row_text(change)
    assert change.username == "system"


def test_key_regeneration_is_recorded_without_the_key(
    admin_client: Client, admin_user: User
) -> None:
    app = App.objects.create(name="crm-web")
    set_app_key(app)
    old_digest, old_prefix = App.objects.values_list("key_digest", "key_prefix").get()
    AdminChange.objects.all().delete()

    response = admin_client.post(
        reverse("admin:rbac_app_regenerate_key", args=[app.pk]), follow=True
    )

    [key] = set(KEY_PATTERN.findall(bytes(response.content).decode()))
    app.refresh_from_db()
    change = only_change(action="update", model="rbac.App")
    assert change.username == admin_user.username
    assert change.object_repr == "crm-web"
    assert change.before is not None
    assert change.after is not None
    assert change.before["key_digest"] == SET
    assert change.after["key_digest"] == CHANGED
    assert change.after["key_prefix"] == CHANGED
    assert "key_created_at" in change.after
    text = row_text(change)
    for secret in (key, key[:8], app.key_digest, app.key_prefix, old_digest, old_prefix):
        assert secret
        assert secret not in text


def test_key_revocation_is_recorded(admin_client: Client) -> None:
    app = App.objects.create(name="crm-web")
    set_app_key(app)
    AdminChange.objects.all().delete()

    admin_client.post(reverse("admin:rbac_app_revoke_key", args=[app.pk]))

    change = only_change(action="update", model="rbac.App")
    assert change.before is not None
    assert change.after == {"key_prefix": None, "key_digest": None, "key_created_at": None}
    assert change.before["key_digest"] == change.before["key_prefix"] == SET


def test_cors_origins_change_is_recorded(admin_client: Client) -> None:
    app = App.objects.create(name="crm-web")
    AdminChange.objects.all().delete()

    response = admin_client.post(
        reverse("admin:rbac_app_change", args=[app.pk]),
        {
            "name": "crm-web",
            "description": "",
            "active": "on",
            "default_role": "",
            "cors_origins": "https://crm.example.com",
            "user_roles-TOTAL_FORMS": "0",
            "user_roles-INITIAL_FORMS": "0",
            "user_roles-MIN_NUM_FORMS": "0",
            "user_roles-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302
    change = only_change(action="update")
    assert (change.before, change.after) == (
        {"cors_origins": ""},
        {"cors_origins": "https://crm.example.com"},
    )


def test_a_delete_through_the_admin_is_recorded(admin_client: Client, admin_user: User) -> None:
    role = Role.objects.create(name="analysts", description="reads reports")
    AdminChange.objects.all().delete()

    response = admin_client.post(reverse("admin:rbac_role_delete", args=[role.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Role.objects.exists()
    change = only_change(action="delete")
    assert (change.model, change.object_id) == ("rbac.Role", str(role.pk))
    assert change.username == admin_user.username
    assert change.before is not None
    assert change.before["name"] == "analysts"
    assert change.before["description"] == "reads reports"
    assert change.after is None


def test_admin_api_keys_are_recorded_without_their_digest(admin_user: User) -> None:
    new = create_admin_key(user=admin_user, name="ci")
    change = only_change(model="rbac.AdminApiKey", action="create")
    assert change.after is not None
    assert change.after["digest"] == change.after["prefix"] == SET
    assert change.after["name"] == "ci"
    assert new.key not in row_text(change)
    assert new.record.digest not in row_text(change)


def test_import_config_changes_are_recorded_as_system(tmp_path: Path) -> None:
    Role.objects.create(name="imported", description="from the document")
    document = tmp_path / "config.yaml"
    call_command("export_config", "--output", str(document), stdout=io.StringIO())
    Role.objects.all().delete()
    AdminChange.objects.all().delete()

    call_command("import_config", str(document), stdout=io.StringIO())

    change = only_change(model="rbac.Role")
    assert (change.action, change.username, change.user) == ("create", "system", None)
    assert change.after is not None
    assert change.after["name"] == "imported"


def test_dry_run_import_leaves_no_trail(tmp_path: Path) -> None:
    Role.objects.create(name="imported")
    document = tmp_path / "config.yaml"
    call_command("export_config", "--output", str(document), stdout=io.StringIO())
    Role.objects.all().delete()
    AdminChange.objects.all().delete()

    call_command("import_config", str(document), "--dry-run", stdout=io.StringIO())

    assert not AdminChange.objects.exists()


def test_acting_as_names_who_changed_outside_a_request(admin_user: User) -> None:
    with acting_as(admin_user.username, admin_user.pk):
        Limit.objects.create(name="per-minute", rate=60)
    change = only_change(model="rbac.Limit")
    assert (change.user, change.username) == (admin_user, admin_user.username)


def test_every_configuration_model_is_watched() -> None:
    assert set(WATCHED_MODELS) >= {
        "services.Service",
        "rbac.Role",
        "rbac.AccessRule",
        "rbac.App",
        "rbac.AdminApiKey",
        "rbac.UserAppRole",
        "rbac.Lookup",
        "rbac.Limit",
        "rbac.OAuthClient",
    }


def test_the_trail_is_read_only_and_filterable_in_the_admin(
    admin_client: Client, admin_user: User
) -> None:
    admin_client.post(reverse("admin:rbac_lookup_add"), lookup_post())
    Role.objects.create(name="by-the-system")
    changelist = reverse("admin:rbac_adminchange_changelist")

    mine = admin_client.get(changelist, {"username": admin_user.username})
    assert mine.status_code == 200
    assert [c.model for c in mine.context["cl"].result_list] == ["rbac.Lookup"]
    by_model = admin_client.get(changelist, {"model": "rbac.Role", "action": "create"})
    assert [c.username for c in by_model.context["cl"].result_list] == ["system"]
    searched = admin_client.get(changelist, {"q": "by-the-system"})
    assert len(searched.context["cl"].result_list) == 1

    change = AdminChange.objects.filter(model="rbac.Lookup").get()
    page = admin_client.get(reverse("admin:rbac_adminchange_change", args=[change.pk]))
    assert page.status_code == 200
    assert b'name="username"' not in page.content  # shown, not editable
    assert admin_client.get(reverse("admin:rbac_adminchange_add")).status_code == 403
    delete = admin_client.post(
        reverse("admin:rbac_adminchange_delete", args=[change.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert AdminChange.objects.filter(pk=change.pk).exists()
