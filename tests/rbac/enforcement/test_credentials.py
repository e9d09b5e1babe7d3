"""API keys and role resolution: wrong, revoked and inactive credentials, and where keys travel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from rbac import keys
from rbac.keys import create_admin_key, key_digest, revoke_app_key, set_app_key
from rbac.models import AccessRule, App, Role, UserAppRole
from rbac.sessions import issue_session
from rbac.state import current_state
from services.models import Service
from tests.rbac.enforcement.conftest import Caller

READ_ALL = [{"component": "*", "verbs": ["GET"]}]


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["message"]


def test_key_in_header_and_in_query_both_work(
    make_caller: Callable[..., Caller], client: Client
) -> None:
    caller = make_caller(READ_ALL)
    assert caller.table("owners").status_code == 200
    url = f"/api/v2/{caller.service}/_table/owners"
    assert client.get(url, {"api_key": caller.key}).status_code == 200
    assert client.get(url, headers={"X-DreamFactory-API-Key": caller.key}).status_code == 200


@pytest.mark.parametrize(
    "key", ["sg_" + "x" * 43, "not-a-key", "sg_", "sg_" + "y" * 200, "' OR 1=1 --"]
)
def test_wrong_key_is_401(make_caller: Callable[..., Caller], client: Client, key: str) -> None:
    caller = make_caller(READ_ALL)
    response = client.get(f"/api/v2/{caller.service}/_table/owners", headers={"X-API-Key": key})
    assert error(response) == (401, "Invalid API key.")


def test_a_near_miss_key_answers_like_any_wrong_key(
    make_caller: Callable[..., Caller], client: Client
) -> None:
    caller = make_caller(READ_ALL)
    url = f"/api/v2/{caller.service}/_table/owners"
    near = caller.key[:-1] + ("A" if caller.key[-1] != "A" else "B")
    far = "sg_" + "Z" * (len(caller.key) - 3)
    same_id = {"X-Request-Id": "near-miss"}
    assert client.get(url, headers={"X-API-Key": near, **same_id}).content == (
        client.get(url, headers={"X-API-Key": far, **same_id}).content
    )


def test_keys_are_found_by_digest_only(make_caller: Callable[..., Caller]) -> None:
    """A presented key is hashed once and found by a dictionary look-up of its digest.

    No stored key exists to compare against character by character: the
    platform keeps only digests, so the look-up time does not depend on how
    much of a key an attacker has guessed right.
    """
    caller = make_caller(READ_ALL)
    app = App.objects.get(key_digest=key_digest(caller.key))
    stored = [str(value) for value in App.objects.filter(pk=app.pk).values().get().values()]
    assert caller.key not in stored
    assert app.key_prefix == caller.key[:8]
    state = current_state()
    assert state.apps_by_digest[key_digest(caller.key)] == app.pk
    assert caller.key not in repr(state)


def test_regenerated_and_revoked_keys_stop_working(make_caller: Callable[..., Caller]) -> None:
    caller = make_caller(READ_ALL)
    app = App.objects.get(key_digest=key_digest(caller.key))
    new_key = set_app_key(app)
    assert error(caller.table("owners")) == (401, "Invalid API key.")
    caller.key = new_key
    assert caller.table("owners").status_code == 200
    revoke_app_key(app)
    assert error(caller.table("owners")) == (401, "Invalid API key.")


def test_inactive_app_is_403(make_caller: Callable[..., Caller]) -> None:
    caller = make_caller(READ_ALL, app_active=False)
    status, message = error(caller.table("owners"))
    assert status == 403
    assert message.startswith("Access Forbidden. The app ")
    assert message.endswith("is not active.")


def test_inactive_role_is_403(make_caller: Callable[..., Caller]) -> None:
    caller = make_caller(READ_ALL, role_active=False)
    status, message = error(caller.table("owners"))
    assert status == 403
    assert message.startswith("Access Forbidden. The role ")
    assert message.endswith("is not active.")


def test_app_without_role_is_403(client: Client, clinic: Service) -> None:
    key = set_app_key(App.objects.create(name="no-role"))
    response = client.get(f"/api/v2/{clinic.name}/_table/owners", headers={"X-API-Key": key})
    assert error(response) == (403, "Access Forbidden. No role is assigned to this user or app.")


def test_users_role_for_the_app_wins_over_the_default(client: Client, clinic: Service) -> None:
    narrow = Role.objects.create(name="narrow")
    AccessRule.objects.create(role=narrow, service=clinic, component="_table/owners")
    wide = Role.objects.create(name="wide")
    AccessRule.objects.create(role=wide, service=clinic, component="*")
    app = App.objects.create(name="portal", default_role=narrow)
    key = set_app_key(app)
    user = User.objects.create_user("nurse", "nurse@example.com", "pw-1")
    UserAppRole.objects.create(user=user, app=app, role=wide)
    url = f"/api/v2/{clinic.name}/_table/patients"
    assert client.get(url, headers={"X-API-Key": key}).status_code == 404
    token = issue_session(user_id=user.pk, app_id=app.pk)[0]
    with_session = {"X-API-Key": key, "X-DreamFactory-Session-Token": token}
    assert client.get(url, headers=with_session).status_code == 200
    # The session remembers its app: the token alone resolves the same role.
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get(url, headers=bearer).status_code == 200


def test_superuser_session_bypasses_roles(client: Client, clinic: Service) -> None:
    admin = User.objects.create_superuser("chief", "chief@example.com", "pw-1")
    token = issue_session(user_id=admin.pk, app_id=None)[0]
    response = client.get(
        f"/api/v2/{clinic.name}/_table/patients",
        {"fields": "ssn", "limit": "1"},
        headers={"X-DreamFactory-Session-Token": token},
    )
    assert response.status_code == 200


def test_admin_key_of_a_demoted_user_stops_working(client: Client, clinic: Service) -> None:
    admin = User.objects.create_superuser("ops", "ops@example.com", "pw-1")
    key = create_admin_key(user=admin, name="ops").key
    url = f"/api/v2/{clinic.name}/_table/owners"
    assert client.get(url, headers={"X-API-Key": key}).status_code == 200
    admin.is_superuser = False
    admin.save()
    assert error(client.get(url, headers={"X-API-Key": key})) == (401, "Invalid API key.")


def test_rule_changes_apply_to_the_next_request(
    make_caller: Callable[..., Caller], clinic: Service
) -> None:
    caller = make_caller([{"component": "_table/owners", "verbs": ["GET"]}])
    assert caller.table("patients").status_code == 404
    rule = AccessRule.objects.get(component="_table/owners", role__name__startswith="role-")
    AccessRule.objects.create(role=rule.role, service=clinic, component="_table/patients")
    assert caller.table("patients").status_code == 200
    rule.role.active = False
    rule.role.save()
    assert caller.table("owners").status_code == 403


def test_key_helpers_refuse_malformed_keys() -> None:
    assert keys.digest_of_presented("sg_" + "a" * 200) is None
    assert keys.digest_of_presented("abc") is None
    with pytest.raises(ValueError, match="starts with"):
        set_app_key(App(name="x"), "short")


def test_session_is_refused_with_503_when_revocations_cannot_be_read(
    client: Client, clinic: Service, settings: Any
) -> None:
    admin = User.objects.create_superuser("night", "night@example.com", "pw-1")
    token = issue_session(user_id=admin.pk, app_id=None)[0]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
        }
    }
    response = client.get(
        f"/api/v2/{clinic.name}/_table/owners", headers={"X-DreamFactory-Session-Token": token}
    )
    assert response.status_code == 503
    assert "retry" in response.json()["error"]["message"]
