"""The document's shared schemas (envelopes, errors, descriptions) and its error responses.

One rule: each schema is the exact shape of an answer the API gives (API.md
"Envelopes and types", "Errors"); status codes are listed per kind of
operation only where the code can really answer them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from services.api.openapi.types import GEOJSON, GEOJSON_SCHEMA

VERBS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


NULLABLE_STRING = {"type": ["string", "null"]}
# A table's fields to add or change; null (or none) leaves them as they are.
FIELD_LIST = {"type": ["array", "null"], "items": ref("FieldDefinition")}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
IDENTIFIER = {"type": ["string", "integer", "number", "null"]}

ERROR_BODY = obj(
    {
        "code": {"type": "integer", "description": "The HTTP status, or 1000 for a batch error."},
        "message": {"type": "string"},
        "status_code": {"type": "integer"},
        "context": {"description": "More about the error (a batch error's per-record results)."},
        "request_id": {
            **NULLABLE_STRING,
            "description": "The request's id, as in the `X-Request-Id` header.",
        },
    },
    ("code", "message", "status_code"),
)

SHARED: dict[str, dict[str, Any]] = {
    "Error": obj(
        {"error": ERROR_BODY},
        ("error",),
        description="Every error answer (DreamFactory's envelope).",
    ),
    "BatchError": obj(
        {
            "error": {
                **ERROR_BODY,
                "properties": {
                    **ERROR_BODY["properties"],
                    "code": {"type": "integer", "const": 1000},
                    "context": obj(
                        {
                            "error": array({"type": "integer"}),
                            "resource": array({}),
                        },
                        ("error", "resource"),
                        description="`error`: the indices of the failed records; `resource`: "
                        "each record's result, or its error object.",
                    ),
                },
            }
        },
        ("error",),
        description="A batch that did not fully succeed: `Batch Error: Not all requested "
        "records could be created|updated|deleted|retrieved.` (` All changes rolled back.` "
        "with `rollback`).",
    ),
    "ListMeta": obj(
        {
            "count": {"type": "integer", "description": "Records matching (`include_count`)."},
            "next": {"type": "integer", "description": "The offset of the next page."},
            "schema": ref("TableSchema"),
        },
        description="Added with `include_count` or `include_schema`, and whenever the maximum "
        "page size cut the answer and no `limit` was asked.",
    ),
    "Success": obj({"success": {"type": "boolean", "const": True}}, ("success",)),
    "IdentifierList": obj(
        {"resource": array(IDENTIFIER)},
        ("resource",),
        description="`as_list`: each record's identifier (composite keys joined by `,`).",
    ),
    "TableInfo": obj(
        {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "is_view": {"type": "boolean"},
            "access": array({"type": "string", "enum": VERBS}),
        },
        ("name",),
    ),
    "TableList": obj(
        {"resource": array({"anyOf": [ref("TableInfo"), {"type": "string"}]})},
        ("resource",),
        description="The tables and views the role can reach (names only with `as_list`).",
    ),
    "NameList": obj(
        {
            "resource": array(
                {
                    "anyOf": [
                        obj({"name": {"type": "string"}, "label": {"type": "string"}}, ("name",)),
                        {"type": "string"},
                    ]
                }
            )
        },
        ("resource",),
    ),
    "FieldSchema": obj(
        {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "description": NULLABLE_STRING,
            "type": {"type": "string", "description": "DreamFactory's simple type."},
            "db_type": {"type": "string", "description": "The PostgreSQL type."},
            "length": NULLABLE_INTEGER,
            "precision": NULLABLE_INTEGER,
            "scale": NULLABLE_INTEGER,
            "default": NULLABLE_STRING,
            "required": {"type": "boolean"},
            "allow_null": {"type": "boolean"},
            "auto_increment": {"type": "boolean"},
            "is_primary_key": {"type": "boolean"},
            "is_unique": {"type": "boolean"},
            "is_foreign_key": {"type": "boolean"},
            "ref_table": NULLABLE_STRING,
            "ref_field": NULLABLE_STRING,
            "picklist": {"type": ["array", "null"], "items": {"type": "string"}},
            "json_type": {"type": "string"},
        },
        ("name", "type"),
    ),
    "RelationSchema": obj(
        {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "type": {"type": "string", "enum": ["belongs_to", "has_many", "many_many"]},
            "field": array({"type": "string"}),
            "ref_table": {"type": "string"},
            "ref_field": array({"type": "string"}),
            "junction_table": NULLABLE_STRING,
            "junction_field": {"type": ["array", "null"], "items": {"type": "string"}},
            "junction_ref_field": {"type": ["array", "null"], "items": {"type": "string"}},
        },
        ("name", "type"),
    ),
    "TableSchema": obj(
        {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "plural": {"type": "string"},
            "description": NULLABLE_STRING,
            "is_view": {"type": "boolean"},
            "primary_key": array({"type": "string"}),
            "field": array(ref("FieldSchema")),
            "related": array(ref("RelationSchema")),
            "access": array({"type": "string", "enum": VERBS}),
        },
        ("name", "field"),
        description="A table as the role sees it: readable fields, reachable relations.",
    ),
    "FieldDefinition": obj(
        {
            "name": {"type": "string"},
            "type": {
                "type": "string",
                "description": "Simple type (`string`, `integer`, `reference` …) or use `db_type`.",
            },
            "db_type": {"type": "string"},
            "length": {"type": "integer", "minimum": 0},
            "size": {"type": "integer", "minimum": 0},
            "precision": {"type": "integer", "minimum": 0},
            "scale": {"type": "integer", "minimum": 0},
            "fixed_length": {"type": "boolean"},
            "allow_null": {"type": "boolean"},
            "default": {},
            "is_primary_key": {"type": "boolean"},
            "is_unique": {"type": "boolean"},
            "is_index": {"type": "boolean"},
            "auto_increment": {"type": "boolean"},
            "ref_table": {"type": "string"},
            "ref_field": {"type": "string"},
            "ref_on_delete": {"type": "string"},
            "ref_on_update": {"type": "string"},
            "description": NULLABLE_STRING,
        },
        ("name",),
    ),
    "TableDefinition": obj(
        {"name": {"type": "string"}, "description": NULLABLE_STRING, "field": FIELD_LIST},
        ("name",),
    ),
    "TableChange": obj(
        {
            "name": {"description": "Ignored (any value): the path names the table."},
            "description": NULLABLE_STRING,
            "field": FIELD_LIST,
        },
        description="Changes to the table the path names.",
    ),
    "TableDefinitions": {
        "anyOf": [
            obj({"resource": array(ref("TableDefinition"))}, ("resource",)),
            array(ref("TableDefinition")),
            ref("TableDefinition"),
        ],
        "description": 'Tables to create or change: `{"resource": [...]}`, a bare list or one '
        "table.",
    },
    "NamedTables": obj(
        {"resource": array(obj({"name": {"type": "string"}}, ("name",)))}, ("resource",)
    ),
    "TableName": obj({"name": {"type": "string"}}, ("name",)),
    "RoutineParams": obj(
        {
            "params": {
                "anyOf": [
                    array(
                        {
                            "anyOf": [
                                obj({"name": {"type": "string"}, "value": {}}, ("value",)),
                                {},
                            ]
                        }
                    ),
                    {"type": "object"},
                ]
            }
        },
        ("params",),
        description='Arguments as `{"params": [{"name": "a", "value": 1}]}`, `{"params": '
        '[1, 2]}` (by position) or `{"params": {"a": 1}}`.',
    ),
    "OpenApiDocument": {"type": "object", "description": "An OpenAPI 3.1 document."},
    GEOJSON: GEOJSON_SCHEMA,
}

ERROR_TEXT = {
    400: "Bad request: a malformed parameter or body, an unknown or hidden field, or a value "
    "that does not fit its field.",
    401: "No credential, or a wrong, revoked or expired one.",
    403: "The role does not allow this (or the app or role is inactive).",
    404: "Not found, or not reachable by this role (both answer alike).",
    409: "A request with this Idempotency-Key is still running, or concurrent changes kept "
    "this one from completing; retry it.",
    413: "The request body is larger than the server accepts.",
    422: "This Idempotency-Key was already used with a different request.",
    429: "API limit(s) exceeded; retry after `Retry-After` seconds.",
    503: "The service's database is unavailable, or its schema changed under the request.",
    504: "The query took longer than the service allows and was cancelled.",
}
ERROR_EXAMPLES: dict[int, tuple[str, str]] = {
    401: ("No credential", "No session token or API key was given. Log in, or send an API key."),
    403: (
        "Verb not allowed",
        "Access Forbidden. POST access to component '_table/contacts' of service 'db' is not "
        "allowed by this user's role.",
    ),
    404: ("Missing", "Record with identifier '5' not found."),
    429: ("Over the limit", "API limit(s) exceeded."),
}

# Which statuses each kind of operation can answer besides 200.
READS = (400, 401, 403, 404, 429, 503, 504)
TABLE_WRITES = (400, 401, 403, 404, 409, 413, 422, 429, 503, 504)
SCHEMA_READS = (400, 401, 403, 404, 429, 503)
SCHEMA_WRITES = (400, 401, 403, 404, 409, 429, 503, 504)
LISTINGS = (400, 401, 403, 404, 429, 503)
CALLS = (400, 401, 403, 404, 429, 503, 504)
SPEC = (401, 403, 404, 429, 503)


def error_example(status: int, message: str, *, code: int | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code if code is not None else status,
            "message": message,
            "status_code": status,
            "context": None,
            "request_id": "4f9c2d7e5b0a4c1e9d3f8a6b2c1e0d9f",
        }
    }


def error_responses(
    statuses: tuple[int, ...], *, batch: bool = False
) -> dict[Any, OpenApiResponse]:
    """The error responses for `statuses`; with `batch`, 400 and 404 may be batch errors."""
    found: dict[Any, OpenApiResponse] = {}
    for status in statuses:
        schema: dict[str, Any] = ref("Error")
        if batch and status in (400, 404):
            schema = {"anyOf": [ref("BatchError"), ref("Error")]}
        examples = []
        if status in ERROR_EXAMPLES:
            title, message = ERROR_EXAMPLES[status]
            examples.append(OpenApiExample(title, value=error_example(status, message)))
        found[status] = OpenApiResponse(
            response=schema, description=ERROR_TEXT[status], examples=examples
        )
    return found
