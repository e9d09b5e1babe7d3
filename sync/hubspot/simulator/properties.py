"""The properties API: list, read and create property definitions of an object type.

One rule: definitions are shown in HubSpot's `Property` shape (with
`modificationMetadata.readOnlyValue`, options, `hasUniqueValue`), and a new
one is checked whole (name, type and field type pairing, options, the limit of
10 unique properties per object) before it is registered.
"""

from __future__ import annotations

import re
from typing import Any

from .catalog import BOOL_OPTIONS, Option, PropertyDef
from .errors import ApiError, bad_request, error_body
from .messages import ApiRequest, ApiResponse
from .state import SimState
from .validation import iso_ms

MAX_UNIQUE = 10
FIELD_TYPES = {
    "string": {"text", "textarea", "html", "phonenumber", "file", "calculation_equation"},
    "number": {"number", "calculation_equation"},
    "bool": {"booleancheckbox", "calculation_equation"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "phone_number": {"phonenumber", "text"},
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def property_json(prop: PropertyDef) -> dict[str, Any]:
    """A definition as the properties API shows it."""
    stamp = iso_ms(prop.created_ms)
    return {
        "updatedAt": stamp,
        "createdAt": stamp,
        "name": prop.name,
        "label": prop.label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "description": prop.description,
        "groupName": prop.group_name,
        "options": [
            {
                "label": option.label,
                "value": option.value,
                "displayOrder": option.display_order,
                "hidden": option.hidden,
            }
            for option in prop.options
        ],
        "displayOrder": prop.display_order,
        "calculated": False,
        "externalOptions": prop.external_options,
        "hasUniqueValue": prop.has_unique_value,
        "hidden": prop.hidden,
        "hubspotDefined": prop.hubspot_defined,
        "modificationMetadata": {
            "archivable": not prop.hubspot_defined,
            "readOnlyDefinition": prop.hubspot_defined,
            "readOnlyValue": prop.read_only,
        },
        "formField": not prop.read_only,
        "dataSensitivity": "non_sensitive",
        "archived": False,
    }


def list_properties(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """GET /properties/{type}: every definition (no archived ones exist)."""
    store = state.store_for(type_name)
    if request.flag("archived"):
        return ApiResponse(200, {"results": []})
    with state.lock:
        return ApiResponse(200, {"results": [property_json(p) for p in store.definitions.values()]})


def get_property(state: SimState, request: ApiRequest, type_name: str, name: str) -> ApiResponse:
    """GET /properties/{type}/{name}."""
    store = state.store_for(type_name)
    with state.lock:
        prop = store.definitions.get(name)
    if prop is None:
        raise ApiError(
            404,
            error_body(
                f"Unable to find property {name} on object type {store.type.type_id}",
                "OBJECT_NOT_FOUND",
            ),
        )
    return ApiResponse(200, property_json(prop))


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be a whole number.")
    return int(value)


def _options(raw: Any, kind: str) -> tuple[Option, ...]:
    if kind == "bool" and raw in (None, []):
        return tuple(Option(label, value, i) for i, (label, value) in enumerate(BOOL_OPTIONS))
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad_request("options must be a list.")
    options: list[Option] = []
    for i, item in enumerate(raw):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("value"), str)
            or not item["value"]
        ):
            raise bad_request("Each option needs a label and a non-empty value.")
        options.append(
            Option(
                str(item.get("label", item["value"])),
                item["value"],
                _whole(item.get("displayOrder", i), "displayOrder"),
                bool(item.get("hidden", False)),
            )
        )
    values = [option.value for option in options]
    if len(set(values)) != len(values):
        raise bad_request("Option values must be unique.")
    return tuple(options)


def _definition(
    state: SimState, body: dict[str, Any], existing: dict[str, PropertyDef]
) -> PropertyDef:
    missing = [
        key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)
    ]
    if missing:
        raise bad_request(f"Missing required fields: {', '.join(missing)}.")
    fields = {key: body[key] for key in ("name", "label", "type", "fieldType", "groupName")}
    if not all(isinstance(value, str) for value in fields.values()):
        raise bad_request("name, label, type, fieldType and groupName must be strings.")
    name = fields["name"].lower()
    if not _NAME.match(name):
        raise bad_request(f"Invalid property name {fields['name']!r}: use letters, digits and _.")
    kind, field_type = fields["type"], fields["fieldType"]
    if kind not in FIELD_TYPES:
        raise bad_request(f"Invalid type {kind!r}; use one of {sorted(FIELD_TYPES)}.")
    if field_type not in FIELD_TYPES[kind]:
        raise bad_request(f"fieldType {field_type!r} is not valid for type {kind!r}.")
    if name in existing:
        raise ApiError(
            409, error_body(f"A property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
        )
    external = bool(body.get("externalOptions", False))
    options = _options(body.get("options"), kind)
    if kind == "enumeration" and not options and not external:
        raise bad_request("An enumeration property needs options.")
    unique = bool(body.get("hasUniqueValue", False))
    if unique and sum(p.has_unique_value for p in existing.values()) >= MAX_UNIQUE:
        raise bad_request(f"An object can have at most {MAX_UNIQUE} unique value properties.")
    return PropertyDef(
        name=name,
        label=fields["label"],
        type="string" if kind == "phone_number" else kind,
        field_type=field_type,
        group_name=fields["groupName"],
        options=options,
        has_unique_value=unique,
        hubspot_defined=False,
        external_options=external,
        description=str(body.get("description", "")),
        display_order=_whole(body.get("displayOrder", -1), "displayOrder"),
        hidden=bool(body.get("hidden", False)),
        created_ms=state.now_ms(),
    )


def create_property(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST /properties/{type}: 201 with the new definition."""
    store = state.store_for(type_name)
    body = request.object_body()
    with state.lock:
        prop = _definition(state, body, store.definitions)
        store.add_definition(prop)
    return ApiResponse(201, property_json(prop))
