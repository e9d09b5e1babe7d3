"""Fixtures for the API tests: services on the sample databases, keys, roles, a client."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from rbac.keys import create_admin_key, set_app_key
from rbac.models import AccessRule, App, Lookup, Role, UserAppRole
from rbac.sessions import issue_session
from rbac.state import forget_state
from services.api.registry import forget_services
from services.models import Service

_granted = itertools.count(1)


@dataclass(frozen=True)
class Credentials:
    """What a client of a granted role sends: the app's key, and a user's session if any."""

    key: str
    token: str | None = None


def grant(
    service: Service,
    rules: Sequence[Mapping[str, Any]],
    *,
    user_id: int | None = None,
    lookups: Mapping[str, str] | None = None,
    role_active: bool = True,
    app_active: bool = True,
) -> Credentials:
    """Make a role holding `rules` on `service`, an app with it as default role, and its key.

    A rule's `"service": "all"` makes it a rule on every service. With
    `user_id`, that user is made too (with `lookups` as theirs), given the
    role in the app, and logged in.
    """
    number = next(_granted)
    role = Role.objects.create(name=f"role-{number}", active=role_active)
    for spec in rules:
        fields = {"service": service, **spec}
        if fields["service"] == "all":
            fields["service"] = None
        AccessRule.objects.create(role=role, **fields)
    app = App.objects.create(name=f"app-{number}", default_role=role, active=app_active)
    key = set_app_key(app)
    if user_id is None:
        return Credentials(key)
    User.objects.create_user(f"user-{user_id}", f"u{user_id}@example.com", "pw-1", id=user_id)
    for name, value in (lookups or {}).items():
        Lookup.objects.create(key=name, value=value, user_id=user_id)
    UserAppRole.objects.create(user_id=user_id, app=app, role=role)
    return Credentials(key, issue_session(user_id=user_id, app_id=app.pk)[0])


def make_service(name: str, database: str, **fields: Any) -> Service:
    db = settings.DATABASES["default"]
    service = Service(
        name=name,
        label=name.title(),
        host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432),
        database=database,
        username=db.get("USER") or "postgres",
        **fields,
    )
    service.set_password(db.get("PASSWORD") or "")
    service.full_clean()
    service.save()
    return service


@dataclass
class Api:
    """A client that calls /api/v2 with an admin API key."""

    client: Client
    key: str
    service: str

    def get(self, path: str = "", headers: dict[str, str] | None = None, **params: Any) -> Any:
        url = path if path.startswith("/api/") else f"/api/v2/{self.service}{path}"
        return self.client.get(url, params, headers={"X-API-Key": self.key, **(headers or {})})

    def table(self, table: str, **params: Any) -> Any:
        return self.get(f"/_table/{table}", **params)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    forget_services()
    forget_state()
    yield
    forget_services()


@pytest.fixture
def admin_key(django_user_model: Any) -> str:
    user = django_user_model.objects.create_superuser(
        "api-admin", "admin@example.com", "pw-unused-1"
    )
    return create_admin_key(user=user, name="tests").key


@pytest.fixture
def target_service(db: None, target_database: str, worker_suffix: str) -> Service:
    name = f"target-{worker_suffix}".replace("_", "-")[:60]
    return make_service(name, target_database, schemas="public,extra")


@pytest.fixture
def api(client: Client, admin_key: str, target_service: Service) -> Api:
    return Api(client, admin_key, target_service.name)


@pytest.fixture
def demo_service(db: None, demo_database: str, worker_suffix: str) -> Service:
    name = f"demo-{worker_suffix}".replace("_", "-")[:60]
    return make_service(name, demo_database)


@pytest.fixture
def demo_api(client: Client, admin_key: str, demo_service: Service) -> Api:
    return Api(client, admin_key, demo_service.name)
