"""Schema changes through `_schema`: create, alter and drop tables and fields, as DreamFactory does.

One rule: a schema change needs an explicit `_schema` rule. Superusers may
always; anyone else only through a rule whose component is `_schema`,
`_schema/*`, `_schema/{table}` or below, granting the verb — a grant that
comes only from a `*` rule does not allow changing the schema. A table the
caller cannot reach at all answers like a missing one (404). Request bodies
are parsed here into frozen values; `services.sql.ddl` builds and runs the
statements, all of one request in one transaction, and the schema cache is
refreshed right after the commit so the next request sees the change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse, JsonResponse
from rest_framework.request import Request

from rbac import policies
from services.api.describe import describe_field
from services.api.errors import ApiError
from services.api.params import parse_bool
from services.api.tunnel import TUNNELLED_METHODS, overridden_method
from services.api.views import ApiView, SchemaIndexView, SchemaTableView, forbidden
from services.connection import ServiceConfig
from services.pools import write_transaction
from services.sql.ddl import (
    AlterTable,
    Change,
    CreateTable,
    DdlError,
    DropTable,
    FieldSpec,
    ForeignRef,
    TableSpec,
    apply_schema_changes,
    check_name,
    split_table_name,
)
from services.sql.schema import SchemaSnapshot, Table

logger = logging.getLogger(__name__)

# Tiers of `policies.resolve` that come from a `*` rule (on this service, on every service).
STAR_TIERS = frozenset({2, 5})
FIELDS = "_field"
NO_CREATE_DATA = "No data in schema create request."
NO_UPDATE_DATA = "No data in schema update request."
NO_DELETE_DATA = "No data in schema delete request."


@dataclass(frozen=True, slots=True)
class TableRequest:
    """A table as a request gives it; `fields` None when the body has no `field` list."""

    name: str
    fields: tuple[FieldSpec, ...] | None
    has_description: bool = False
    description: str | None = None

    def spec(self) -> TableSpec:
        return TableSpec(self.name, self.fields or (), self.has_description, self.description)


def unwrap(body: Any, message: str) -> list[Any]:
    """The items of `{"resource": [...]}`, a bare list or one bare object; 400 when empty."""
    items = body
    if isinstance(body, Mapping):
        items = body.get("resource", body.get("table", [body] if "name" in body else None))
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list) or not items:
        raise ApiError(400, message)
    return items


def names_in(request: Request, message: str) -> list[str]:
    """Names from `ids` (or `names`) as `a,b`, or from the body's items (names or objects)."""
    raw = request.query_params.get("ids") or request.query_params.get("names")
    if raw:
        return [name.strip() for name in raw.split(",") if name.strip()]
    names = []
    for item in unwrap(request.data, message):
        name = item.get("name") if isinstance(item, Mapping) else item
        if not isinstance(name, str) or not name:
            raise ApiError(400, message)
        names.append(name)
    return names


def boolean(data: Mapping[str, Any], key: str) -> bool | None:
    """`data[key]` as a boolean (None when not given); 400 for anything else."""
    return None if data.get(key) is None else parse_bool(data, key)


def whole(data: Mapping[str, Any], *keys: str) -> int | None:
    """The first of `keys` given, as a non-negative whole number."""
    for key in keys:
        raw = data.get(key)
        if raw is None:
            continue
        if isinstance(raw, bool) or not str(raw).strip().isdigit():
            raise ApiError(400, f"Invalid value for '{key}': expected a whole number.")
        return int(str(raw).strip())
    return None


def text(data: Mapping[str, Any], key: str) -> str | None:
    raw = data.get(key)
    if raw is None or isinstance(raw, str):
        return raw
    raise ApiError(400, f"Invalid value for '{key}': expected a string.")


def parse_field(data: Any, name: str | None = None) -> FieldSpec:
    """One field definition (`name` from the path wins over the body's); raise 400."""
    if not isinstance(data, Mapping):
        raise ApiError(400, "Invalid field definition: expected an object.")
    field_name = check_name(name if name is not None else data.get("name"))
    kind = text(data, "type")
    reference = None
    if data.get("ref_table") is not None:
        reference = ForeignRef(
            table=str(text(data, "ref_table")),
            field=text(data, "ref_field") or None,
            on_delete=text(data, "ref_on_delete"),
            on_update=text(data, "ref_on_update"),
        )
    elif kind is not None and kind.lower() == "reference":
        raise ApiError(400, f"Field '{field_name}' of type reference needs a ref_table.")
    return FieldSpec(
        name=field_name,
        type=kind.lower() if kind is not None else None,
        db_type=text(data, "db_type"),
        size=whole(data, "size", "length"),
        precision=whole(data, "precision"),
        scale=whole(data, "scale", "decimals"),
        fixed_length=bool(boolean(data, "fixed_length")),
        allow_null=boolean(data, "allow_null"),
        has_default="default" in data,
        default=data.get("default"),
        is_primary_key=boolean(data, "is_primary_key"),
        is_unique=boolean(data, "is_unique"),
        is_index=boolean(data, "is_index"),
        auto_increment=boolean(data, "auto_increment"),
        reference=reference,
        has_description="description" in data,
        description=text(data, "description"),
    )


def parse_table(data: Any, name: str | None = None) -> TableRequest:
    """One table definition (`name` from the path wins over the body's); raise 400."""
    if not isinstance(data, Mapping):
        raise ApiError(400, "Invalid table definition: expected an object.")
    table_name = name if name is not None else data.get("name")
    if not isinstance(table_name, str) or not table_name:
        raise ApiError(400, "Table schema received does not have a valid name.")
    raw_fields = data.get("field")
    fields = None
    if raw_fields is not None:
        if not isinstance(raw_fields, list):
            raise ApiError(400, f"Invalid field list of table '{table_name}'.")
        fields = tuple(parse_field(item) for item in raw_fields) or None
    return TableRequest(table_name, fields, "description" in data, text(data, "description"))


def plan_update(
    table: Table, fields: Iterable[FieldSpec], *, replace: bool, keep: Iterable[str] = ()
) -> AlterTable:
    """Add the fields `table` lacks, alter those it has; with `replace`, drop the others.

    `keep` names columns never dropped (those the caller may not read).
    """
    given = list(fields)
    add = tuple(item for item in given if table.column(item.name) is None)
    alter = tuple(item for item in given if table.column(item.name) is not None)
    drop: tuple[str, ...] = ()
    if replace and given:
        listed = {item.name for item in given} | set(keep)
        drop = tuple(column.name for column in table.columns if column.name not in listed)
    return AlterTable(table, add=add, alter=alter, drop=drop)


class SchemaWriter(ApiView):
    """What every `_schema` write needs: the rule check, table lookup, the transaction."""

    def tunnel(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse | None:
        """A POST carrying `X-HTTP-Method: GET|PUT|PATCH|DELETE` runs that verb instead."""
        method = overridden_method(request)
        if method in TUNNELLED_METHODS and hasattr(self, method.lower()):
            return getattr(self, method.lower())(request, *args, **kwargs)  # type: ignore[no-any-return]
        return None

    def may_change(self, verb: str, component: str) -> bool:
        """Return whether the caller may `verb` the schema `component` (explicit rules only)."""
        principal = self.principal
        if principal.is_superuser:
            return True
        role = principal.role
        if role is None or not role.active:
            return False
        grant = policies.resolve(
            self.access.state, role.id, self.access.service, component, principal.requestor
        )
        return grant is not None and grant.tier not in STAR_TIERS and verb in grant.verbs

    def require(self, verb: str, component: str) -> None:
        if not self.may_change(verb, component):
            raise forbidden(verb, component, self.access.service)

    def require_some(self, verb: str, snapshot: SchemaSnapshot) -> None:
        """403 unless the caller may `verb` the schema of some table it reaches.

        PUT and PATCH may also create tables, so the right to POST `_schema`
        suffices for them. Checked before the body is read: a caller with no
        such right is refused whatever it sends.
        """
        if self.principal.is_superuser:
            return
        if verb in ("PUT", "PATCH") and self.may_change("POST", "_schema"):
            return
        for table in snapshot.tables.values():
            component = f"_schema/{table.name}"
            if self.may_change(verb, component) and self.access.verbs_for(table):
                return
        raise forbidden(verb, "_schema", self.access.service)

    def require_field_rights(self, verb: str, table: Table, field: str | None) -> None:
        """403 unless the caller may `verb` the field (None: some field) of `table`.

        Checked before the body is read, like `require_some`: a caller with
        no such right is refused whatever it sends. Each field the body names
        is checked again once it is parsed.
        """
        base = f"_schema/{table.name}"
        if field is not None:
            self.require(verb, f"{base}/{field}")
            return
        names = [base, *(f"{base}/{column.name}" for column in table.columns)]
        if not any(self.may_change(verb, name) for name in names):
            raise forbidden(verb, base, self.access.service)

    def visible_table(self, snapshot: SchemaSnapshot, name: str) -> Table:
        """The table called `name`; 404 when missing or when the caller cannot reach it."""
        table = snapshot.table(name)
        if table is None or not self.access.verbs_for(table):
            raise ApiError(404, f'Table "{name}" does not exist in the database.')
        if table.is_view:
            raise ApiError(400, f"'{name}' is a view: its schema cannot be changed here.")
        return table

    def hidden_columns(self, table: Table) -> list[str]:
        """Columns of `table` the caller may not read: a replacing PUT leaves them alone."""
        policy = self.access.policy_for(table)
        return [c.name for c in table.columns if policy is None or not policy.can_read(c.name)]

    def check_references(
        self, snapshot: SchemaSnapshot, fields: Iterable[FieldSpec], creating: Iterable[str] = ()
    ) -> None:
        """A reference may only name a table of this request or one the caller can reach."""
        batch = set(creating)
        for item in fields:
            ref = item.reference
            if ref is None or ref.table in batch:
                continue
            target = snapshot.table(ref.table)
            if target is None or not self.access.verbs_for(target):
                raise ApiError(
                    400,
                    f"Referenced table '{ref.table[:100]}' of field '{item.name}' does not exist.",
                )

    def apply(
        self, config: ServiceConfig, snapshot: SchemaSnapshot, changes: Sequence[Change]
    ) -> list[str]:
        """Run `changes` in one transaction, then refresh the schema cache; return table names."""
        with write_transaction(config) as conn:
            names = apply_schema_changes(conn, snapshot, changes)
        try:
            self.snapshot(config, refresh=True)
        except ApiError:
            # Committed; other requests pick the change up within the check interval.
            logger.warning("service %s: schema refresh after a change failed", config.name)
        return names

    def new_table(
        self, snapshot: SchemaSnapshot, request: TableRequest, creating: Iterable[str]
    ) -> CreateTable:
        if request.fields is None:
            raise DdlError(f"Table '{request.name}' needs at least one field.")
        self.check_references(snapshot, request.fields, creating)
        return CreateTable(request.spec())


def api_names(snapshot: SchemaSnapshot, requests: Iterable[TableRequest]) -> list[str]:
    return [split_table_name(r.name, snapshot.schemas)[2] for r in requests]


class SchemaIndexWriteView(SchemaWriter, SchemaIndexView):
    """`/_schema`: list (GET), create (POST), create or update (PUT, PATCH), drop (DELETE) tables."""

    def post(self, request: Request, service: str) -> HttpResponse:
        if (tunnelled := self.tunnel(request, service)) is not None:
            return tunnelled
        config = self.service(service)
        snapshot = self.snapshot(config)
        self.require("POST", "_schema")
        requests = [parse_table(item) for item in unwrap(request.data, NO_CREATE_DATA)]
        names = api_names(snapshot, requests)
        changes = [self.new_table(snapshot, r, names) for r in requests]
        return JsonResponse(
            {"resource": [{"name": n} for n in self.apply(config, snapshot, changes)]}
        )

    def put(self, request: Request, service: str) -> HttpResponse:
        return self.upsert(request, service, "PUT")

    def patch(self, request: Request, service: str) -> HttpResponse:
        return self.upsert(request, service, "PATCH")

    def upsert(self, request: Request, service: str, verb: str) -> HttpResponse:
        """DreamFactory's update: existing tables are altered, the others created."""
        config = self.service(service)
        snapshot = self.snapshot(config)
        self.require_some(verb, snapshot)
        requests = [parse_table(item) for item in unwrap(request.data, NO_UPDATE_DATA)]
        names = api_names(snapshot, requests)
        creating = [n for n in names if snapshot.table(n) is None]
        changes: list[Change] = []
        for table_request, name in zip(requests, names, strict=True):
            if name in creating:
                self.require("POST", "_schema")
                changes.append(self.new_table(snapshot, table_request, creating))
                continue
            table = self.visible_table(snapshot, name)
            self.require(verb, f"_schema/{table.name}")
            self.check_references(snapshot, table_request.fields or (), creating)
            plan = plan_update(
                table,
                table_request.fields or (),
                replace=verb == "PUT",
                keep=self.hidden_columns(table),
            )
            changes.append(
                AlterTable(
                    plan.table,
                    plan.add,
                    plan.alter,
                    plan.drop,
                    table_request.has_description,
                    table_request.description,
                )
            )
        return JsonResponse(
            {"resource": [{"name": n} for n in self.apply(config, snapshot, changes)]}
        )

    def delete(self, request: Request, service: str) -> HttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        self.require_some("DELETE", snapshot)
        tables = [self.visible_table(snapshot, n) for n in names_in(request, NO_DELETE_DATA)]
        for table in tables:
            self.require("DELETE", f"_schema/{table.name}")
        names = self.apply(config, snapshot, [DropTable(table) for table in tables])
        return JsonResponse({"resource": [{"name": n} for n in names]})


class SchemaTableWriteView(SchemaWriter, SchemaTableView):
    """`/_schema/{table}`: describe (GET), create (POST), alter (PUT, PATCH), drop (DELETE).

    PUT replaces the field list: readable fields not given are dropped.
    PATCH only adds and alters the fields given.
    """

    def post(self, request: Request, service: str, table: str) -> HttpResponse:
        if (tunnelled := self.tunnel(request, service, table)) is not None:
            return tunnelled
        config = self.service(service)
        snapshot = self.snapshot(config)
        name = split_table_name(table, snapshot.schemas)[2]
        self.require("POST", f"_schema/{name}")
        body = request.data if isinstance(request.data, Mapping) else {}
        change = self.new_table(snapshot, parse_table(body, name=name), [name])
        return JsonResponse({"name": self.apply(config, snapshot, [change])[0]})

    def put(self, request: Request, service: str, table: str) -> HttpResponse:
        return self.alter(request, service, table, "PUT")

    def patch(self, request: Request, service: str, table: str) -> HttpResponse:
        return self.alter(request, service, table, "PATCH")

    def alter(self, request: Request, service: str, table: str, verb: str) -> HttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        found = self.visible_table(snapshot, table)
        self.require(verb, f"_schema/{found.name}")
        if not isinstance(request.data, Mapping) or not request.data:
            raise ApiError(400, NO_UPDATE_DATA)
        body = parse_table(request.data, name=found.name)
        self.check_references(snapshot, body.fields or ())
        plan = plan_update(
            found, body.fields or (), replace=verb == "PUT", keep=self.hidden_columns(found)
        )
        change = AlterTable(
            found, plan.add, plan.alter, plan.drop, body.has_description, body.description
        )
        return JsonResponse({"name": self.apply(config, snapshot, [change])[0]})

    def delete(self, request: Request, service: str, table: str) -> HttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        found = self.visible_table(snapshot, table)
        self.require("DELETE", f"_schema/{found.name}")
        self.apply(config, snapshot, [DropTable(found)])
        return JsonResponse({"success": True})


class SchemaFieldView(SchemaWriter):
    """`/_schema/{table}/{field}` and `/_schema/{table}/_field[/{field}]`: one table's fields.

    GET describes, POST adds, PUT and PATCH add or alter, DELETE drops. On
    `_field` itself the body is a list of fields (DELETE: `ids` or names).
    """

    def get(self, request: Request, service: str, table: str, field: str) -> HttpResponse:
        snapshot = self.snapshot(self.service(service))
        found, policy = self.table(snapshot, table)
        component = f"_schema/{found.name}"
        if "GET" not in self.access.component_verbs(component):
            raise forbidden("GET", component, service)
        if field == FIELDS:
            readable = [c for c in found.columns if policy.can_read(c.name)]
            return JsonResponse({"resource": [describe_field(found, c) for c in readable]})
        column = found.column(field)
        if column is None or not policy.can_read(column.name):
            raise ApiError(404, f"Field '{field}' does not exist in table '{found.name}'.")
        return JsonResponse(describe_field(found, column))

    def post(self, request: Request, service: str, table: str, field: str) -> HttpResponse:
        if (tunnelled := self.tunnel(request, service, table, field)) is not None:
            return tunnelled
        return self.change(request, service, table, field, "POST")

    def put(self, request: Request, service: str, table: str, field: str) -> HttpResponse:
        return self.change(request, service, table, field, "PUT")

    def patch(self, request: Request, service: str, table: str, field: str) -> HttpResponse:
        return self.change(request, service, table, field, "PATCH")

    def change(
        self, request: Request, service: str, table: str, field: str, verb: str
    ) -> HttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        found = self.visible_table(snapshot, table)
        self.require_field_rights(verb, found, None if field == FIELDS else field)
        empty = NO_CREATE_DATA if verb == "POST" else NO_UPDATE_DATA
        if field == FIELDS:
            fields = [parse_field(item) for item in unwrap(request.data, empty)]
        elif isinstance(request.data, Mapping) and request.data:
            fields = [parse_field(request.data, name=field)]
        else:
            raise ApiError(400, empty)
        for item in fields:
            self.require(verb, f"_schema/{found.name}/{item.name}")
            if verb == "POST" and found.column(item.name) is not None:
                raise ApiError(400, f"Field '{item.name}' already exists in table '{found.name}'.")
        self.check_references(snapshot, fields)
        self.apply(config, snapshot, [plan_update(found, fields, replace=False)])
        if field == FIELDS:
            return JsonResponse({"resource": [{"name": item.name} for item in fields]})
        return JsonResponse({"name": fields[0].name})

    def delete(self, request: Request, service: str, table: str, field: str) -> HttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        found = self.visible_table(snapshot, table)
        names = names_in(request, NO_DELETE_DATA) if field == FIELDS else [field]
        policy = self.access.policy_for(found)
        for name in names:
            column = found.column(name)
            if column is None or policy is None or not policy.can_read(name):
                raise ApiError(404, f"Field '{name}' does not exist in table '{found.name}'.")
            self.require("DELETE", f"_schema/{found.name}/{name}")
        self.apply(config, snapshot, [AlterTable(found, drop=tuple(names))])
        if field == FIELDS:
            return JsonResponse({"resource": [{"name": name} for name in names]})
        return JsonResponse({"success": True})
