"""Fixtures for enforcement tests: a clinic database, a service on it, and callers with roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from services.models import Service
from tests.conftest import scratch_database
from tests.services.api.conftest import grant, make_service

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
        # One request id for all calls, so two answers can be compared byte for byte.
        headers = {"X-API-Key": self.key, "X-Request-Id": "enforcement"}
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

    def build(
        rules: Sequence[RuleSpec],
        *,
        user_id: int | None = None,
        lookups: dict[str, str] | None = None,
        role_active: bool = True,
        app_active: bool = True,
    ) -> Caller:
        granted = grant(
            clinic, rules, user_id=user_id, lookups=lookups,
            role_active=role_active, app_active=app_active,
        )  # fmt: skip
        return Caller(client, clinic.name, granted.key, granted.token)

    return build
