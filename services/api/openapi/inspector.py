"""drf-spectacular's `AutoSchema` for one planned operation: ids, parameters, bodies, responses.

One rule: record schemas come from the factory's serializers, mapped field by
field from each column's exact type (`services.api.openapi.types`); the
envelopes around them are the ones the views answer with. drf-spectacular
registers every schema as a component and turns the whole into the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry, ResolvedComponent, append_meta
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from services.api.openapi import components as c
from services.api.openapi import parameters as p
from services.api.openapi.plan import Operation, ServicePlan, TableEntry
from services.api.openapi.security import requirements, security_schemes
from services.api.openapi.serializers import SerializerSet
from services.api.openapi.types import column_schema, nullable, scalar_schema
from services.sql.schema import Column

JSON = "application/json"
DESCRIPTIONS = {
    ("records", "GET"): (
        "The records the role may see (its row filter applies), with readable fields only: "
        '`{"resource": [...]}`, plus `meta` with `include_count` or `include_schema` or when '
        "the page maximum cut the answer; the bare count with `count_only`; identifiers "
        "with `as_list`; CSV or NDJSON with `Accept: text/csv` or `application/x-ndjson`. "
        "`ids` of which some are not found: a 404 batch error."
    ),
    ("records", "POST"): (
        'Create records given as `{"resource": [...]}` or a bare array. Records go in '
        "order and the batch stops at the first failure; `continue=true` tries them all, "
        "`rollback=true` undoes every change on a failure (both: 400). Answers each "
        "record's identifying fields (`fields` for more). The role's presets are applied "
        "and cannot be overridden; a record outside the role's row filter answers 403 and "
        "nothing is written."
    ),
    ("records", "PUT"): (
        "Update only the fields given (PUT and PATCH alike). Targets, in order: `ids` (the "
        "body's first record applied to each), `filter` (the first record applied to every "
        "match), else each record's own identifying fields. Only records the role can see "
        "are touched; the others are not found."
    ),
    ("records", "DELETE"): (
        "Delete by `ids`, by records carrying their identifying fields, or by `filter`; "
        "`force=true` deletes every record the role may see. Nothing given: 400 `No filter or "
        "records given for delete request.`"
    ),
    ("record", "GET"): (
        "One record by its primary key (composite keys: the values joined by `,` in key "
        "order), or by `id_field`; the bare object. A record outside the role's row filter "
        "is not found."
    ),
    ("record", "PUT"): "Update the fields given of one record; the body is the bare record.",
    ("record", "DELETE"): "Delete one record; answers its identifying fields.",
}
DESCRIPTIONS[("records", "PATCH")] = DESCRIPTIONS[("records", "PUT")]
DESCRIPTIONS[("record", "PATCH")] = DESCRIPTIONS[("record", "PUT")]

RATE_LIMIT_HEADERS = [
    OpenApiParameter(
        name,
        type={"type": "integer"},
        location=OpenApiParameter.HEADER,
        response=[429],
        description=text,
    )
    for name, text in (
        ("Retry-After", "Seconds until a request may be made again."),
        ("X-RateLimit-Limit", "The tightest limit that applies."),
        ("X-RateLimit-Remaining", "Requests left under it."),
        ("X-RateLimit-Reset", "Seconds until it resets."),
    )
]


@dataclass(slots=True)
class DocumentContext:
    """What every operation of one document shares."""

    plan: ServicePlan
    origin: str
    max_records: int
    serializers: SerializerSet


def envelope(items: dict[str, Any], *, meta: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {"resource": c.array(items)}
    if meta:
        properties["meta"] = c.ref("ListMeta")
    return c.obj(properties, ("resource",))


class ServiceAutoSchema(AutoSchema):
    """The schema of one `Operation` of a `ServicePlan`."""

    def __init__(self, operation: Operation, document: DocumentContext) -> None:
        super().__init__()
        self.op = operation
        self.document = document

    # --- what drf-spectacular asks -------------------------------------------------

    def get_operation(
        self,
        path: str,
        path_regex: str,
        path_prefix: str,
        method: str,
        registry: ComponentRegistry,
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        body = self.delete_body() if self.method == "DELETE" else None
        if body is not None:  # drf-spectacular documents bodies of POST, PUT and PATCH only
            operation["requestBody"] = {"content": {JSON: {"schema": body}}}
        elif "requestBody" in operation and self.op.kind != "routine":
            operation["requestBody"]["required"] = True
        return operation

    def get_operation_id(self) -> str:
        return self.op.operation_id

    def get_tags(self) -> list[str]:
        return [self.op.tag]

    def get_summary(self) -> str:
        return self.op.summary

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular drops DRF's arguments
        return DESCRIPTIONS.get((self.op.kind, self.method), "")

    def _is_list_view(self, serializer: Any = None) -> bool:
        return False  # every envelope is spelt out: nothing is wrapped in a list implicitly

    def get_auth(self) -> list[dict[str, list[str]]]:
        for name, scheme in security_schemes(self.document.origin).items():
            component = ResolvedComponent(  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
                name=name, type=ResolvedComponent.SECURITY_SCHEMA, object=name, schema=scheme
            )
            self.registry.register_on_missing(component)
        return requirements(self.method)

    def get_override_parameters(self) -> list[Any]:
        return [*self.parameters(), *RATE_LIMIT_HEADERS]

    def get_request_serializer(self) -> Any:
        body = self.request_body()
        return None if body is None else {JSON: body}

    def get_response_serializers(self) -> Any:
        return self.responses()

    # --- columns -----------------------------------------------------------------

    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> Any:
        column = column_of(field)
        if column is None:
            return super()._map_serializer_field(field, direction, bypass_extensions)  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
        schema = column_schema(column)
        if field.allow_null:
            schema = nullable(schema)
        meta = self._get_serializer_field_meta(field, direction)  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
        meta.pop("nullable", None)  # `nullable` above knows enums, refs and "any"
        return append_meta(schema, meta)

    def _insert_field_validators(self, field: Any, schema: Any) -> None:
        if column_of(field) is None:  # a column's schema already holds its bounds
            super()._insert_field_validators(field, schema)  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> Any:
        schema = super()._map_basic_serializer(serializer, direction)  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
        for relation in getattr(serializer, "relations", ()):
            target = self.document.plan.tables.get(relation.ref_table)
            properties = schema.setdefault("properties", {})
            if target is None or relation.name in properties:
                continue
            record = self.record_ref(target)
            one = relation.kind == "belongs_to"
            related: dict[str, Any] = (
                {"anyOf": [record, {"type": "null"}]} if one else c.array(record)
            )
            related["description"] = (
                f"With `related={relation.name}`: the related {relation.ref_table} "
                + ("record." if one else "records.")
            )
            properties[relation.name] = related
        return schema

    # --- parameters --------------------------------------------------------------

    def parameters(self) -> list[OpenApiParameter]:
        op, verb = self.op, self.method
        entry = op.table
        if op.kind == "tables":
            return p.tables_parameters(superuser=self.document.plan.superuser)
        if op.kind in ("schemas", "routines") and verb == "GET":
            return [p.flag("as_list", "Answer the names only")]
        if op.kind == "schemas" and verb == "DELETE":
            return p.schema_delete_parameters()
        if op.kind == "routine":
            assert op.routine is not None
            return p.routine_parameters(op.routine.forms, verb)
        if entry is None or op.kind not in ("records", "record"):
            return []
        readable = entry.readable()
        relations = [relation.name for relation in entry.relations]
        key_size = len(entry.table.primary_key)
        if op.kind == "records" and verb == "GET":
            return p.read_list_parameters(
                readable, relations, max_records=self.page_maximum(entry), key_size=key_size
            )
        if op.kind == "records":
            return p.write_parameters(verb, readable, one=False, key_size=key_size)
        found = [id_parameter(entry)]
        if verb == "GET":
            return found + p.read_one_parameters(readable, relations)
        return found + p.write_parameters(verb, readable, one=True, key_size=key_size)

    def page_maximum(self, entry: TableEntry) -> int:
        cap = entry.read_policy.max_page_size if entry.read_policy is not None else None
        return min(self.document.max_records, cap) if cap else self.document.max_records

    # --- bodies ------------------------------------------------------------------

    def record_ref(self, entry: TableEntry) -> dict[str, Any]:
        return self.component(self.document.serializers.record(entry), "response")

    def write_ref(self, entry: TableEntry, verb: str) -> dict[str, Any]:
        return self.component(self.document.serializers.write(entry, verb), "request")

    def component(
        self, serializer: type[serializers.Serializer[Any]], direction: Any
    ) -> dict[str, Any]:
        """A $ref to the serializer's component (an open object when it has no fields)."""
        resolved = self.resolve_serializer(serializer, direction)
        return resolved.ref if resolved else {"type": "object"}

    def request_body(self) -> dict[str, Any] | None:
        op, verb = self.op, self.method
        if (
            op.kind in ("records", "record")
            and op.table is not None
            and verb in ("PUT", "PATCH", "POST")
        ):
            record = self.write_ref(op.table, verb)
            if op.kind == "record":
                return record
            shapes = [envelope(record), c.array(record)]
            if verb != "POST":
                shapes.append(record)  # with `ids` or `filter`: the record applied to each
            return {"anyOf": shapes}
        if op.kind == "schemas" and verb in ("POST", "PUT", "PATCH"):
            return c.ref("TableDefinitions")
        if op.kind == "schema" and verb in ("PUT", "PATCH"):
            return c.ref("TableChange")
        if op.kind == "routine" and verb == "POST" and op.routine is not None:
            arguments = self.component(self.document.serializers.arguments(op.routine), "request")
            return {"anyOf": [arguments, c.ref("RoutineParams"), c.array({})]}
        return None

    def delete_body(self) -> dict[str, Any] | None:
        """The optional body of a DELETE: records (with their keys) or names, or options."""
        if self.op.kind == "records":
            keyed = {"type": "object", "description": "A record with its identifying fields."}
            options = c.obj(
                {"ids": {}, "filter": {"type": "string"}, "force": {"type": "boolean"}},
                description="Options given in the body instead of the query.",
            )
            return {"anyOf": [envelope(keyed), c.array(keyed), options]}
        if self.op.kind == "schemas":
            named = {"anyOf": [{"type": "string"}, c.obj({"name": {"type": "string"}}, ("name",))]}
            return {"anyOf": [envelope(named), c.array(named)]}
        return None

    # --- responses ---------------------------------------------------------------

    def responses(self) -> dict[Any, OpenApiResponse]:
        op, verb = self.op, self.method
        if op.kind == "tables":
            return self.answer(c.ref("TableList"), "The tables and views.", c.LISTINGS)
        if op.kind == "spec":
            return self.answer(c.ref("OpenApiDocument"), "This document.", c.SPEC)
        if op.kind == "routines":
            return self.answer(c.ref("NameList"), "The routines.", c.LISTINGS)
        if op.kind == "schemas":
            if verb == "GET":
                return self.answer(c.ref("NameList"), "The tables.", c.SCHEMA_READS)
            return self.answer(c.ref("NamedTables"), "The tables changed.", c.SCHEMA_WRITES)
        if op.kind == "schema":
            if verb == "GET":
                return self.answer(c.ref("TableSchema"), "The table.", c.SCHEMA_READS)
            if verb == "DELETE":
                return self.answer(c.ref("Success"), "Dropped.", c.SCHEMA_WRITES)
            return self.answer(c.ref("TableName"), "The table changed.", c.SCHEMA_WRITES)
        if op.kind == "routine":
            return self.answer(self.routine_result(), "The result.", c.CALLS)
        assert op.table is not None
        record = self.record_ref(op.table)
        if op.kind == "record":
            statuses = c.READS if verb == "GET" else c.TABLE_WRITES
            return self.answer(record, "The record.", statuses)
        if verb == "GET":
            found = self.answer(
                {
                    "anyOf": [
                        envelope(record, meta=True),
                        c.ref("IdentifierList"),
                        {"type": "integer"},
                    ]
                },
                "The records (or identifiers, or the count).",
                c.READS,
                batch=True,
            )
            for media in ("text/csv", "application/x-ndjson"):
                found[(200, media)] = OpenApiResponse(
                    {"type": "string"}, description="The records, streamed."
                )
            return found
        shapes = [envelope(record), c.ref("IdentifierList")]
        if verb == "DELETE":
            shapes.append(c.ref("Success"))  # `force` without a filter
        return self.answer({"anyOf": shapes}, "The records written.", c.TABLE_WRITES, batch=True)

    def answer(
        self, schema: dict[str, Any], text: str, statuses: tuple[int, ...], *, batch: bool = False
    ) -> dict[Any, OpenApiResponse]:
        return {
            200: OpenApiResponse(schema, description=text),
            **c.error_responses(statuses, batch=batch),
        }

    def routine_result(self) -> dict[str, Any]:
        """Each form's answer; any of them may come wrapped under `wrapper`."""
        entry = self.op.routine
        assert entry is not None
        shapes: list[dict[str, Any]] = []
        for index, form in enumerate(entry.forms):
            untyped = form.return_type == "record" and not form.result_columns
            if form.kind == "procedure" or form.return_type == "void":
                if form.result_columns:
                    shapes.append(
                        self.component(self.document.serializers.result(entry, index), "response")
                    )
                else:
                    shapes.append(c.ref("Success"))
            elif form.returns_set and not untyped:
                rows = self.component(self.document.serializers.result(entry, index), "response")
                meta = c.obj({"next": {"type": "integer"}})
                shapes.append(c.obj({"resource": c.array(rows), "meta": meta}, ("resource",)))
            elif untyped or form.result_columns:
                shapes.append(
                    {"type": "object"}
                    if untyped
                    else self.component(self.document.serializers.result(entry, index), "response")
                )
            elif form.return_kind == "array":
                shapes.append(nullable(c.array({})))
            else:
                shapes.append(nullable(scalar_schema(form.return_kind, form.return_base_type)))
        shapes.append(c.obj({}, description="With `wrapper`: the result under that key."))
        unique: list[dict[str, Any]] = []
        for shape in shapes:
            if shape not in unique:
                unique.append(shape)
        return {"anyOf": unique}


def column_of(field: Any) -> Column | None:
    """The column a factory serializer's field stands for, if it is one."""
    columns = getattr(field.parent, "column_of", None)
    return columns.get(field.field_name) if columns is not None else None


def id_parameter(entry: TableEntry) -> OpenApiParameter:
    key = entry.table.primary_key
    text = "The record's primary key"
    if len(key) > 1:
        readable = set(entry.readable())
        names = ", ".join(name if name in readable else "…" for name in key)
        text += f" ({names}): the values joined by `,` in that order"
    text += ", or its `id_field` values."
    return OpenApiParameter(
        "id", type={"type": "string"}, location=OpenApiParameter.PATH, description=text
    )
