"""The viewset factory: one DRF ViewSet class per (service, schema version, table).

One rule: classes are built from the schema snapshot and cached under its
version, so a schema change yields new classes and nothing is rebuilt per
request. Each class carries a serializer generated from the table's columns
(for the OpenAPI document and for validating input), and its actions answer
exactly as the table routes do: reads through `services.api.reads`, writes
through `services.api.writes`.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar

from django.http import HttpResponse, StreamingHttpResponse
from rest_framework import serializers, viewsets
from rest_framework.request import Request

from services.api.errors import ApiError
from services.api.idempotency import with_idempotency
from services.api.reads import ReadContext, read_record, read_records
from services.api.writes import WriteContext, write_records
from services.sql.schema import Column, Relationship, Table

CACHE_LIMIT = 4096


def column_required(column: Column) -> bool:
    """Return whether a new record must give `column`: NOT NULL, no default, not database-filled."""
    return not column.nullable and column.default is None and not column.auto


def serializer_field(
    column: Column, *, required: bool | None = None, read_only: bool | None = None
) -> serializers.Field[Any, Any, Any, Any]:
    """The DRF field matching a column's JSON form.

    `required` and `read_only` default to what the column itself says
    (`column_required`; filled in by the database); a field is never both.
    """
    read_only = column.auto if read_only is None else read_only
    required = column_required(column) if required is None else required
    options: dict[str, Any] = {
        "required": required and not read_only,
        "allow_null": column.nullable,
        "read_only": read_only,
        "help_text": column.comment,
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


class TableSerializer(serializers.Serializer[Any]):
    """Records of one table (or some of its columns), one field per column.

    `column_of` maps each field to its column, so a schema generator can
    describe the exact PostgreSQL type; `relations` names the related records
    a response may embed (`related=`).
    """

    table: ClassVar[Table]
    column_of: ClassVar[Mapping[str, Column]]
    relations: ClassVar[tuple[Relationship, ...]] = ()


def serializer_name(table: Table) -> str:
    """`contact_segments` -> `ContactSegments` (schema-qualified names keep their schema)."""
    return "".join(part.capitalize() for part in table.name.replace(".", "_").split("_")) or "Table"


def build_serializer(
    table: Table,
    *,
    columns: Sequence[Column] | None = None,
    required: Collection[str] | None = None,
    read_only: bool | None = None,
    relations: Sequence[Relationship] = (),
    name: str | None = None,
    description: str | None = None,
) -> type[TableSerializer]:
    """A serializer class of `table`'s records.

    `columns` (default: all) are its fields; `required` names the fields a
    request must give (default: `column_required`); `read_only` overrides
    every field's (default: the database fills the column in); `relations`
    are the related records a response may carry; `name` is the class name
    (default: from the table's name); `description` its docstring (default:
    the table's comment, else a sentence naming the table).
    """
    chosen = table.columns if columns is None else tuple(columns)
    fields: dict[str, Any] = {
        column.name: serializer_field(
            column,
            required=None if required is None else column.name in required,
            read_only=read_only,
        )
        for column in chosen
    }
    attrs: dict[str, Any] = {
        **fields,
        "table": table,
        "column_of": {column.name: column for column in chosen},
        "relations": tuple(relations),
        "__doc__": description or table.comment or f"A record of {table.name}.",
    }
    class_name = name or f"{serializer_name(table)}Serializer"
    return type(class_name, (TableSerializer,), attrs)


# The write verb each write action performs.
ACTION_VERBS = {"create": "POST", "update": "PUT", "partial_update": "PATCH", "destroy": "DELETE"}


class TableViewSet(viewsets.ViewSet):
    """The records of one table; the router sets `context` (reads) or `write_context`
    (writes) and `request_values` before calling an action."""

    table: ClassVar[Table]
    service_name: ClassVar[str]
    schema_version: ClassVar[str]
    serializer_class: ClassVar[type[serializers.Serializer[Any]]]
    context: ReadContext
    write_context: WriteContext
    request_values: dict[str, Any]

    def list(self, request: Request) -> HttpResponse | StreamingHttpResponse:
        # META directly: `request.headers` builds a dict of every header on first use.
        return read_records(
            self.context, self.request_values, accept=request.META.get("HTTP_ACCEPT", "")
        )

    def retrieve(self, request: Request, pk: str) -> HttpResponse:
        return read_record(self.context, pk, self.request_values)

    def create(self, request: Request) -> HttpResponse:
        """POST: create the body's records."""
        return self.write(request, None)

    def update(self, request: Request, pk: str | None = None) -> HttpResponse:
        """PUT: update the given fields of the targeted records."""
        return self.write(request, pk)

    def partial_update(self, request: Request, pk: str | None = None) -> HttpResponse:
        """PATCH: update the given fields of the targeted records (as PUT does)."""
        return self.write(request, pk)

    def destroy(self, request: Request, pk: str | None = None) -> HttpResponse:
        """DELETE: delete the targeted records."""
        return self.write(request, pk)

    def write(self, request: Request, pk: str | None) -> HttpResponse:
        """Run the write of `write_context` (an `Idempotency-Key` replays the first answer).

        Raises ApiError 405 when the context was built for another verb than
        the action's.
        """
        context = self.write_context
        if ACTION_VERBS.get(str(self.action)) != context.verb:
            raise ApiError(405, f"Method {context.verb} is not allowed on this resource.")
        return with_idempotency(
            request,
            context.principal,
            lambda: write_records(context, request, pk),
            method=context.verb,
        )


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
