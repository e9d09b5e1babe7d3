"""Helpers of the `_spec` tests: fetch a document, walk its operations and schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.test import Client

from services.api.openapi import forget_documents
from services.api.openapi.naming import camel

METHODS = ("get", "post", "put", "patch", "delete")


def fetch(client: Client, service: str, key: str | None) -> Any:
    headers = {"X-API-Key": key} if key else {}
    return client.get(f"/api/v2/{service}/_spec", headers=headers)


def spec(client: Client, service: str, key: str) -> dict[str, Any]:
    response = fetch(client, service, key)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    document: dict[str, Any] = json.loads(response.content)
    return document


def fresh_spec(client: Client, service: str, key: str) -> dict[str, Any]:
    """A document generated now (not served from the cache)."""
    forget_documents()
    return spec(client, service, key)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def operation_ids(document: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {op["operationId"]: (path, method) for path, method, op in operations(document)}


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]  # type: ignore[no-any-return]


def properties(document: dict[str, Any], name: str) -> dict[str, Any]:
    return component(document, name).get("properties", {})  # type: ignore[no-any-return]


def service_camel(service: str) -> str:
    return camel(service)
