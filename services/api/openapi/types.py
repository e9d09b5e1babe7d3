"""JSON Schema of a column's values, exactly as the API reads and writes them (API.md "Types").

One rule: a schema describes the JSON form `services.sql` produces and
accepts for the column's PostgreSQL type — never a looser or a stricter one —
so that generated clients and response validators agree with real answers.
JSON Schema formats are only claimed where every value has them
(`timestamptz` is always ISO 8601 with an offset; `timestamp`, `time`,
`timetz` and `interval` values do not fit RFC 3339's formats and are
described in words instead).
"""

from __future__ import annotations

from typing import Any

from services.sql.schema import Column, JsonKind

GEOJSON = "GeoJSONGeometry"
GEOJSON_REF = {"$ref": f"#/components/schemas/{GEOJSON}"}

INTEGERS: dict[str, tuple[str, int, int]] = {
    "int2": ("int32", -(2**15), 2**15 - 1),
    "int4": ("int32", -(2**31), 2**31 - 1),
    "int8": ("int64", -(2**63), 2**63 - 1),
}
FLOATS = {"float4": "float", "float8": "double"}
DESCRIBED: dict[str, str] = {
    "timestamp": "Date and time without an offset, ISO 8601 (`2024-02-29T13:45:00`).",
    "time": "Time of day, `HH:MM:SS[.ffffff]`.",
    "timetz": "Time of day with an offset, `HH:MM:SS[.ffffff]+HH[:MM]`.",
    "interval": "Duration, ISO 8601 (`P1DT2H3M4.5S`).",
    "bytea": "Bytes, base64-encoded.",
    "inet": "IPv4 or IPv6 address, with an optional `/mask`.",
    "cidr": "IPv4 or IPv6 network, `address/mask`.",
    "macaddr": "MAC address, `08:00:2b:01:02:03`.",
    "macaddr8": "MAC address (EUI-64), `08:00:2b:01:02:03:04:05`.",
    "money": "Amount of money, as PostgreSQL formats it.",
}

# RFC 7946: the geometry objects PostGIS renders with ST_AsGeoJSON.
GEOJSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A GeoJSON geometry (RFC 7946), e.g. "
    '`{"type": "Point", "coordinates": [4.9, 52.37]}`.',
    "required": ["type"],
    "properties": {
        "type": {
            "type": "string",
            "enum": [
                "Point",
                "MultiPoint",
                "LineString",
                "MultiLineString",
                "Polygon",
                "MultiPolygon",
                "GeometryCollection",
            ],
        },
        "coordinates": {"type": "array"},
        "geometries": {"type": "array", "items": {"type": "object"}},
        "crs": {"type": "object"},
        "bbox": {"type": "array", "items": {"type": "number"}},
    },
}


def scalar_schema(
    kind: JsonKind,
    base_type: str,
    *,
    enum_labels: tuple[str, ...] | None = None,
    max_length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
) -> dict[str, Any]:
    """The schema of one value of a non-array type (`kind` as `Column.json_kind`)."""
    if enum_labels is not None:
        return {"type": "string", "enum": list(enum_labels)}
    if kind == "integer":
        fmt, low, high = INTEGERS.get(base_type, INTEGERS["int8"])
        return {"type": "integer", "format": fmt, "minimum": low, "maximum": high}
    if kind == "number":
        schema: dict[str, Any] = {"type": "number"}
        if base_type in FLOATS:
            schema["format"] = FLOATS[base_type]
        elif precision is not None:
            bound = 10 ** (precision - (scale or 0))
            schema.update(exclusiveMinimum=-bound, exclusiveMaximum=bound)
            schema["description"] = (
                f"Decimal, at most {precision} digits, {scale or 0} after the point."
            )
        return schema
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "date":
        return {"type": "string", "format": "date"}
    if kind == "datetime":
        if base_type == "timestamptz":
            return {"type": "string", "format": "date-time"}
        return {"type": "string", "description": DESCRIBED["timestamp"]}
    if kind == "json":
        return {}
    if kind == "geojson":
        return dict(GEOJSON_REF)
    return string_schema(base_type, max_length=max_length)


def string_schema(base_type: str, *, max_length: int | None = None) -> dict[str, Any]:
    """Text-like types, and those that travel as text (uuid, bytea, inet, ranges …)."""
    schema: dict[str, Any] = {"type": "string"}
    if base_type == "uuid":
        schema["format"] = "uuid"
    elif base_type == "bytea":
        schema["contentEncoding"] = "base64"
    elif base_type.endswith(("range", "multirange")):
        schema["description"] = f"A {base_type} literal, e.g. `[1,10)`."
    if base_type in DESCRIBED:
        schema["description"] = DESCRIBED[base_type]
    if max_length is not None and base_type in ("varchar", "bpchar"):
        schema["maxLength"] = max_length
    return schema


def column_schema(column: Column) -> dict[str, Any]:
    """The schema of `column`'s non-null values (nullability is added by `nullable`)."""
    if column.json_kind != "array":
        return scalar_schema(
            column.json_kind,
            column.base_type,
            enum_labels=column.enum_labels,
            max_length=column.max_length,
            precision=column.precision,
            scale=column.scale,
        )
    element_kind = column.element_kind or "string"
    element = scalar_schema(
        element_kind,
        column.base_type,
        enum_labels=column.enum_labels,
        max_length=column.max_length,
        precision=column.precision,
        scale=column.scale,
    )
    if column.base_type == "bytea":
        # Only a bare bytea is base64; in arrays PostgreSQL's `\x…` text travels.
        element = {"type": "string"}
    # Elements may be NULL; the declared dimensions give the nesting.
    schema: dict[str, Any] = {"type": "array", "items": nullable(element)}
    for _ in range(max(column.array_dimensions, 1) - 1):
        schema = {"type": "array", "items": schema}
    return schema


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or null (JSON Schema 2020-12, as OpenAPI 3.1 has it)."""
    if schema == {}:
        return {}  # any JSON value, null included
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    result = dict(schema)
    kind = result.get("type")
    if isinstance(kind, str):
        result["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        result["type"] = [*kind, "null"]
    if "enum" in result and None not in result["enum"]:
        result["enum"] = [*result["enum"], None]
    return result
