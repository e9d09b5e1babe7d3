"""Fixtures for enforcement tests: a clinic database, a service on it, and callers with roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from rbac.keys import set_app_key
from rbac.models import AccessRule, App, Lookup, Role, UserAppRole
from rbac.sessions import issue_session
from services.models import Service
from tests.conftest import scratch_database
from tests.services.api.conftest import make_service

SCHEMA = Path(__file__).parent / "schema.sql"
OWNER_ADA, OWNER_BOB = 1001, 1002


@pytest.fixture(scope="session")
def clinic_database(
    worker_suffix: str, django_db_setup: None, django_db_blocker: Any
) -> Iterator[str]:
    name = f"sg_test_clinic_{worker_suffix}"
    with scratch_database(name, django_db_blocker, [SCHEMA.read_text()]) as created:
        yield created


@pytest.fixture
def clinic(db: None, clinic_database: str, worker_suffix: str) -> Service:
    return make_service(f"clinic-{worker_suffix}".replace("_", "-")[:60], clinic_database)


@dataclass
class Caller:
    """Calls the API with one app key (and optionally a user's session)."""

    client: Client
    service: str
    key: str
    token: str | None = None

    def get(self, path: str = "", **params: Any) -> Any:
        url = path if path.startswith("/api/") else f"/api/v2/{self.service}{path}"
        headers = {"X-API-Key": self.key}
        if self.token:
            headers["X-DreamFactory-Session-Token"] = self.token
        return self.client.get(url, params, headers=headers)

    def table(self, table: str, **params: Any) -> Any:
        return self.get(f"/_table/{table}", **params)


RuleSpec = dict[str, Any]


@pytest.fixture
def make_caller(client: Client, clinic: Service) -> Callable[..., Caller]:
    """Build a role from rule specs, an app with it as default role, and a caller.

    `user_id` creates a user with that id whose session the caller also sends;
    `lookups` become that user's lookups.
    """
    made = 0

    def build(
        rules: Sequence[RuleSpec],
        *,
        user_id: int | None = None,
        lookups: dict[str, str] | None = None,
        role_active: bool = True,
        app_active: bool = True,
    ) -> Caller:
        nonlocal made
        made += 1
        role = Role.objects.create(name=f"role-{made}", active=role_active)
        for spec in rules:
            fields = {"service": clinic, **spec}
            if fields["service"] == "all":
                fields["service"] = None
            AccessRule.objects.create(role=role, **fields)
        app = App.objects.create(name=f"app-{made}", default_role=role, active=app_active)
        key = set_app_key(app)
        token = None
        if user_id is not None:
            User.objects.create_user(
                f"user-{user_id}", f"u{user_id}@example.com", "pw-1", id=user_id
            )
            for name, value in (lookups or {}).items():
                Lookup.objects.create(key=name, value=value, user_id=user_id)
            UserAppRole.objects.create(user_id=user_id, app=app, role=role)
            token = issue_session(user_id=user_id, app_id=app.pk)[0]
        return Caller(client, clinic.name, key, token)

    return build
