"""What a service's document shows to one caller: its operations, from the schema and the `Access`.

One rule: an operation is listed only when the caller's `Access` would let the
request through (the same checks the views make), and nothing about a table,
column, relation or routine the caller cannot reach appears, not even its
name. Superusers see everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from services.api.access import Access
from services.api.openapi import naming
from services.api.routines import ordered, routines_of_kind
from services.sql.policy import Policy
from services.sql.schema import Relationship, Routine, RoutineKind, SchemaSnapshot, Table

OperationKind = Literal[
    "tables", "records", "record", "schemas", "schema", "routines", "routine", "spec"
]
CALL_VERBS = ("GET", "POST")
ROUTINE_PREFIXES: tuple[tuple[RoutineKind, str], ...] = (
    ("function", "_func"),
    ("procedure", "_proc"),
)


@dataclass(frozen=True, slots=True)
class TableEntry:
    """A reachable table: its camel name, verbs, the policy of each verb and `_schema` verbs.

    `relations`: those the caller may embed (target and junction readable,
    own columns readable).
    """

    table: Table
    name: str
    verbs: tuple[str, ...]
    policies: Mapping[str, Policy]
    schema_verbs: tuple[str, ...]
    relations: tuple[Relationship, ...]

    @property
    def read_policy(self) -> Policy | None:
        return self.policies.get("GET")

    def readable(self) -> list[str]:
        """Readable column names, in table order (none without GET)."""
        policy = self.read_policy
        if policy is None:
            return []
        return [c.name for c in self.table.columns if policy.can_read(c.name)]


@dataclass(frozen=True, slots=True)
class RoutineEntry:
    """A reachable function or procedure: its forms (overloads) and the verbs allowed."""

    name: str
    camel: str
    kind: RoutineKind
    forms: tuple[Routine, ...]
    verbs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Operation:
    """One (path, method) of the document; `path` is relative to the service's URL."""

    kind: OperationKind
    path: str
    method: str
    operation_id: str
    tag: str
    summary: str
    table: TableEntry | None = None
    routine: RoutineEntry | None = None


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """Everything the caller may do on one service, at one schema version."""

    service: str
    camel: str
    superuser: bool
    role: str | None
    tables: Mapping[str, TableEntry]
    routines: Mapping[str, RoutineEntry] = field(default_factory=dict)
    operations: tuple[Operation, ...] = ()


def segment(name: str) -> str:
    """A table or routine name as a literal path segment."""
    return quote(name, safe="")


def schema_change_allowed(access: Access, verb: str, component: str) -> bool:
    """Return whether `_schema` writes of `verb` on `component` pass (as `SchemaWriter.require`)."""
    from services.api.schema_writes import SchemaWriter

    writer = SchemaWriter()
    writer.principal = access.principal
    writer.access = access
    return writer.may_change(verb, component)


def embeddable(
    access: Access, snapshot: SchemaSnapshot, table: Table, policy: Policy
) -> tuple[Relationship, ...]:
    """The relations of `table` the caller may embed with `related=` (as the compiler allows)."""
    found = []
    for relation in table.relationships:
        target = snapshot.table(relation.ref_table)
        if target is None or access.policy_for(target) is None:
            continue
        if relation.kind == "many_many":
            junction = snapshot.table(relation.junction or "")
            if junction is None or access.policy_for(junction) is None:
                continue
        if not all(policy.can_read(name) for name in relation.columns):
            continue
        found.append(relation)
    return tuple(found)


def table_entries(access: Access, snapshot: SchemaSnapshot) -> dict[str, TableEntry]:
    """Every table the caller can reach (any verb), by name."""
    reachable = [
        (table, verbs)
        for table in snapshot.tables.values()
        if "/" not in table.name and (verbs := access.verbs_for(table))
    ]
    names = naming.unique_camel(table.name for table, _verbs in reachable)
    entries: dict[str, TableEntry] = {}
    for table, verbs in sorted(reachable, key=lambda item: item[0].name):
        policies = {verb: p for verb in verbs if (p := access.policy_for(table, verb)) is not None}
        schema_verbs = []
        read = policies.get("GET")
        if read is not None and "GET" in access.component_verbs(f"_schema/{table.name}"):
            schema_verbs.append("GET")
        if not table.is_view:
            schema_verbs += [
                verb
                for verb in ("PUT", "PATCH", "DELETE")
                if schema_change_allowed(access, verb, f"_schema/{table.name}")
            ]
        entries[table.name] = TableEntry(
            table=table,
            name=names[table.name],
            verbs=tuple(verbs),
            policies=policies,
            schema_verbs=tuple(schema_verbs),
            relations=embeddable(access, snapshot, table, read) if read is not None else (),
        )
    return entries


def routine_entries(access: Access, snapshot: SchemaSnapshot) -> dict[str, RoutineEntry]:
    """Every function and procedure the caller may call, keyed `_func/name` / `_proc/name`."""
    reachable: list[tuple[str, RoutineKind, tuple[Routine, ...], tuple[str, ...]]] = []
    for kind, prefix in ROUTINE_PREFIXES:
        for name, forms in routines_of_kind(snapshot, kind).items():
            verbs = ordered(access.component_verbs(f"{prefix}/{name}"))
            callable_verbs = tuple(verb for verb in verbs if verb in CALL_VERBS)
            if callable_verbs:
                reachable.append((f"{prefix}/{name}", kind, forms, callable_verbs))
    names = naming.unique_camel(key.split("/", 1)[1] for key, *_rest in reachable)
    return {
        key: RoutineEntry(key.split("/", 1)[1], names[key.split("/", 1)[1]], kind, forms, verbs)
        for key, kind, forms, verbs in sorted(reachable)
    }


def plan_service(access: Access, snapshot: SchemaSnapshot) -> ServicePlan:
    """The operations the caller of `access` may use on its service."""
    principal = access.principal
    service = naming.camel(access.service)
    tables = table_entries(access, snapshot)
    routines = routine_entries(access, snapshot)
    operations: list[Operation] = [
        Operation(
            "tables",
            "/_table",
            "GET",
            f"get{service}Tables",
            "_table",
            "List the tables and views this role can reach",
        ),
        Operation(
            "spec",
            "/_spec",
            "GET",
            f"get{service}Spec",
            "_spec",
            "This document: the service's OpenAPI 3.1 description for this role",
        ),
    ]
    for entry in tables.values():
        operations += table_operations(service, entry)
    operations += schema_operations(access, service, tables)
    for kind, prefix, word in (
        ("function", "_func", "Functions"),
        ("procedure", "_proc", "Procedures"),
    ):
        of_kind = [routine for routine in routines.values() if routine.kind == kind]
        if not of_kind:
            continue
        operations.append(
            Operation(
                "routines",
                f"/{prefix}",
                "GET",
                f"get{service}{word}",
                prefix,
                f"List the {word.lower()} this role may call",
            )
        )
        for routine in of_kind:
            operations += [
                Operation(
                    "routine",
                    f"/{prefix}/{segment(routine.name)}",
                    verb,
                    naming.routine_operation(
                        verb, service, routine.camel, procedure=kind == "procedure"
                    ),
                    prefix,
                    f"Call the {kind} {routine.name}"
                    + (" with arguments in the body" if verb == "POST" else ""),
                    routine=routine,
                )
                for verb in routine.verbs
            ]
    return ServicePlan(
        service=access.service,
        camel=service,
        superuser=principal.is_superuser,
        role=principal.role.name if principal.role is not None else None,
        tables=tables,
        routines=routines,
        operations=tuple(operations),
    )


RECORDS_SUMMARY = {
    "GET": "Read {t} records",
    "POST": "Create {t} records",
    "PUT": "Update {t} records (the fields given)",
    "PATCH": "Update {t} records (the fields given)",
    "DELETE": "Delete {t} records",
}
RECORD_SUMMARY = {
    "GET": "Read one {t} record",
    "PUT": "Update one {t} record (the fields given)",
    "PATCH": "Update one {t} record (the fields given)",
    "DELETE": "Delete one {t} record",
}


def table_operations(service: str, entry: TableEntry) -> list[Operation]:
    table = entry.table
    path = f"/_table/{segment(table.name)}"
    found = [
        Operation(
            "records",
            path,
            verb,
            naming.records_operation(verb, service, entry.name, one=False),
            table.name,
            RECORDS_SUMMARY[verb].format(t=table.name),
            table=entry,
        )
        for verb in entry.verbs
    ]
    if table.primary_key:
        found += [
            Operation(
                "record",
                path + "/{id}",
                verb,
                naming.records_operation(verb, service, entry.name, one=True),
                table.name,
                RECORD_SUMMARY[verb].format(t=table.name),
                table=entry,
            )
            for verb in entry.verbs
            if verb != "POST"
        ]
    return found


def schema_operations(
    access: Access, service: str, tables: Mapping[str, TableEntry]
) -> list[Operation]:
    found: list[Operation] = []
    described = [entry for entry in tables.values() if "GET" in entry.schema_verbs]
    if described:
        found.append(
            Operation(
                "schemas",
                "/_schema",
                "GET",
                naming.schema_operation("GET", service, None),
                "_schema",
                "List the tables whose schema this role may read",
            )
        )
    index_verbs = []
    if schema_change_allowed(access, "POST", "_schema"):
        index_verbs.append("POST")
    for verb in ("PUT", "PATCH"):
        if "POST" in index_verbs or any(verb in e.schema_verbs for e in tables.values()):
            index_verbs.append(verb)
    if any("DELETE" in e.schema_verbs for e in tables.values()):
        index_verbs.append("DELETE")
    summaries = {
        "POST": "Create tables",
        "PUT": "Create tables, or replace the fields of existing ones",
        "PATCH": "Create tables, or add and change fields of existing ones",
        "DELETE": "Drop tables",
    }
    found += [
        Operation(
            "schemas",
            "/_schema",
            verb,
            naming.schema_operation(verb, service, None),
            "_schema",
            summaries[verb],
        )
        for verb in index_verbs
    ]
    one = {
        "GET": "Describe {t}",
        "PUT": "Replace the fields of {t}",
        "PATCH": "Add and change fields of {t}",
        "DELETE": "Drop {t}",
    }
    for entry in tables.values():
        found += [
            Operation(
                "schema",
                f"/_schema/{segment(entry.table.name)}",
                verb,
                naming.schema_operation(verb, service, entry.name),
                "_schema",
                one[verb].format(t=entry.table.name),
                table=entry,
            )
            for verb in entry.schema_verbs
        ]
    return found
