"""Describe tables as DreamFactory's `_schema` does, limited to what the caller may read.

One rule: a description shows only readable columns, and only relationships
whose target the caller can reach, so it never reveals what the policy hides.
"""

from __future__ import annotations

from typing import Any

from services.sql.policy import Policy
from services.sql.schema import Column, SchemaSnapshot, Table

SIMPLE_TYPES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "numeric": "decimal",
    "float4": "float",
    "float8": "double",
    "bool": "boolean",
    "text": "text",
    "varchar": "string",
    "bpchar": "string",
    "uuid": "uuid",
    "date": "date",
    "time": "time",
    "timetz": "time",
    "timestamp": "datetime",
    "timestamptz": "timestamp",
    "interval": "interval",
    "json": "json",
    "jsonb": "json",
    "bytea": "binary",
    "money": "money",
    "geometry": "geometry",
    "geography": "geography",
}


def label(name: str) -> str:
    """DreamFactory's label for a name: `contact_segments` -> `Contact Segments`."""
    return " ".join(part.capitalize() for part in name.replace(".", " ").split("_") if part)


def simple_type(table: Table, column: Column) -> str:
    if column.auto and column.name in table.primary_key and column.json_kind == "integer":
        return "id"
    if column.json_kind == "array":
        return "array"
    if column.enum_labels is not None:
        return "string"
    return SIMPLE_TYPES.get(column.base_type, "string")


def describe_field(table: Table, column: Column) -> dict[str, Any]:
    foreign = next((fk for fk in table.foreign_keys if column.name in fk.columns), None)
    ref_field = None
    if foreign is not None:
        ref_field = foreign.ref_columns[foreign.columns.index(column.name)]
    return {
        "name": column.name,
        "label": label(column.name),
        "description": column.comment,
        "type": simple_type(table, column),
        "db_type": column.type_name,
        "length": column.max_length,
        "precision": column.precision,
        "scale": column.scale,
        "default": column.default,
        "required": not column.nullable and column.default is None and not column.auto,
        "allow_null": column.nullable,
        "auto_increment": column.auto,
        "is_primary_key": column.name in table.primary_key,
        "is_unique": any(column.name in unique and len(unique) == 1 for unique in table.unique)
        or table.primary_key == (column.name,),
        "is_foreign_key": foreign is not None,
        "ref_table": foreign.ref_table if foreign is not None else None,
        "ref_field": ref_field,
        "picklist": list(column.enum_labels) if column.enum_labels is not None else None,
        "json_type": column.json_kind,
    }


def describe_table(
    snapshot: SchemaSnapshot, table: Table, policy: Policy, *, policy_of: Any, access: list[str]
) -> dict[str, Any]:
    """Return `_schema/{table}`'s body for a caller with `policy` on `table`."""
    fields = [
        describe_field(table, column) for column in table.columns if policy.can_read(column.name)
    ]
    related = []
    for relation in table.relationships:
        target = snapshot.table(relation.ref_table)
        if target is None or policy_of(target) is None:
            continue
        if not all(policy.can_read(name) for name in relation.columns):
            continue
        related.append(
            {
                "name": relation.name,
                "label": label(relation.name),
                "type": relation.kind,
                "field": list(relation.columns),
                "ref_table": relation.ref_table,
                "ref_field": list(relation.ref_columns),
                "junction_table": relation.junction,
                "junction_field": list(relation.junction_columns) or None,
                "junction_ref_field": list(relation.junction_ref_columns) or None,
            }
        )
    return {
        "name": table.name,
        "label": label(table.name),
        "plural": label(table.name),
        "description": table.comment,
        "is_view": table.is_view,
        "primary_key": [name for name in table.primary_key if policy.can_read(name)],
        "field": fields,
        "related": related,
        "access": access,
    }
