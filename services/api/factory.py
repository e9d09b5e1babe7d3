"""The viewset factory: one DRF ViewSet class per (service, schema version, table).

One rule: classes are built from the schema snapshot and cached under its
version, so a schema change yields new classes and nothing is rebuilt per
request. Each class carries a serializer generated from the table's columns
(for the OpenAPI document and for validating input).
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django.http import HttpResponse, StreamingHttpResponse
from rest_framework import serializers, viewsets
from rest_framework.request import Request

from services.api.reads import ReadContext, read_record, read_records
from services.sql.schema import Column, Table

CACHE_LIMIT = 4096


def serializer_field(column: Column) -> serializers.Field[Any, Any, Any, Any]:
    """The DRF field matching a column's JSON form."""
    options: dict[str, Any] = {
        "required": not column.nullable and column.default is None and not column.auto,
        "allow_null": column.nullable,
        "read_only": column.auto,
    }
    kind = column.json_kind
    if column.enum_labels is not None and kind != "array":
        return serializers.ChoiceField(choices=list(column.enum_labels), **options)
    if kind == "integer":
        return serializers.IntegerField(**options)
    if kind == "number":
        if column.precision is not None:
            return serializers.DecimalField(
                max_digits=column.precision,
                decimal_places=column.scale or 0,
                coerce_to_string=False,
                **options,
            )
        return serializers.FloatField(**options)
    if kind == "boolean":
        return serializers.BooleanField(**options)
    if kind == "date":
        return serializers.DateField(**options)
    if kind == "datetime":
        return serializers.DateTimeField(**options)
    if kind == "time":
        return serializers.TimeField(**options)
    if kind in ("json", "geojson"):
        return serializers.JSONField(**options)
    if kind == "array":
        return serializers.ListField(child=serializers.JSONField(), **options)
    if column.base_type == "uuid":
        return serializers.UUIDField(**options)
    if column.max_length is not None:
        options["max_length"] = column.max_length
    return serializers.CharField(allow_blank=True, **options)


def build_serializer(table: Table) -> type[serializers.Serializer[Any]]:
    fields = {column.name: serializer_field(column) for column in table.columns}
    name = "".join(part.capitalize() for part in table.name.replace(".", "_").split("_")) or "Table"
    return type(f"{name}Serializer", (serializers.Serializer,), fields)


class TableViewSet(viewsets.ViewSet):
    """Reads of one table; the router sets `context` before calling an action."""

    table: ClassVar[Table]
    service_name: ClassVar[str]
    schema_version: ClassVar[str]
    serializer_class: ClassVar[type[serializers.Serializer[Any]]]
    context: ReadContext

    def list(self, request: Request) -> HttpResponse | StreamingHttpResponse:
        # META directly: `request.headers` builds a dict of every header on first use.
        return read_records(
            self.context, self.request_values, accept=request.META.get("HTTP_ACCEPT", "")
        )

    def retrieve(self, request: Request, pk: str) -> HttpResponse:
        return read_record(self.context, pk, self.request_values)

    request_values: dict[str, Any]


_classes: dict[tuple[str, str, str], type[TableViewSet]] = {}
_lock = threading.Lock()


def viewset_for(service_name: str, schema_version: str, table: Table) -> type[TableViewSet]:
    """Return the cached ViewSet class of `table` at `schema_version`."""
    key = (service_name, schema_version, table.name)
    with _lock:
        found = _classes.get(key)
    if found is not None:
        return found
    attrs = {
        "table": table,
        "service_name": service_name,
        "schema_version": schema_version,
        "serializer_class": build_serializer(table),
    }
    cls = type(f"{service_name}_{table.name}_ViewSet", (TableViewSet,), attrs)
    with _lock:
        if len(_classes) >= CACHE_LIMIT:
            _classes.clear()
        _classes[key] = cls
    return cls
