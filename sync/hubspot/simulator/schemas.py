"""The schemas API (read side): the custom object type's definition.

One rule: only custom object types have schemas; the answer is built from
the same catalog and property definitions the object endpoints use.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError, error_body
from .messages import ApiRequest, ApiResponse
from .properties import property_json
from .state import SimState
from .store import TypeStore
from .validation import iso_ms


def _schema(state: SimState, store: TypeStore) -> dict[str, Any]:
    kind = store.type
    singular = kind.singular.title()
    return {
        "id": kind.type_id.split("-", 1)[1],
        "name": kind.name.removeprefix("p_"),
        "objectTypeId": kind.type_id,
        "fullyQualifiedName": f"p{state.config.portal_id}_{kind.name.removeprefix('p_')}",
        "labels": {"singular": singular, "plural": f"{singular}s"},
        "primaryDisplayProperty": kind.default_properties[0],
        "requiredProperties": [kind.default_properties[0]],
        "searchableProperties": list(kind.query_properties),
        "secondaryDisplayProperties": [],
        "associations": [],
        "properties": [property_json(p) for p in store.definitions.values()],
        "createdAt": iso_ms(0),
        "updatedAt": iso_ms(0),
        "archived": False,
    }


def list_schemas(state: SimState, request: ApiRequest) -> ApiResponse:
    """GET /crm/v3/schemas: the custom object types."""
    with state.lock:
        results = [_schema(state, s) for s in state.stores.values() if s.type.scope == "custom"]
    return ApiResponse(200, {"results": results})


def get_schema(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """GET /crm/v3/schemas/{type}."""
    store = state.store_for(type_name)
    if store.type.scope != "custom":
        raise ApiError(404, error_body(f"Unable to find schema {type_name}", "OBJECT_NOT_FOUND"))
    with state.lock:
        return ApiResponse(200, _schema(state, store))
