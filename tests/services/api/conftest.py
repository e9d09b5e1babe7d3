"""Fixtures for the API tests: services on the sample databases, an admin key, a client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from rbac.keys import create_admin_key
from rbac.state import forget_state
from services.api.registry import forget_services
from services.models import Service


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
