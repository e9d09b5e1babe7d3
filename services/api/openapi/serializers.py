"""The factory serializers one document describes: per table and verb, per routine.

One rule: a serializer holds only the columns the caller's policy for that
verb lets through — readable ones for answers, writable ones (less those the
role presets) for request bodies — and one class is built per generation, so
drf-spectacular registers each as one component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.api.factory import TableSerializer, build_serializer, column_required
from services.api.openapi.plan import RoutineEntry, TableEntry
from services.sql.routines import result_table
from services.sql.schema import Column, Routine, Table

# Component name suffix of each write verb's request records.
WRITE_SUFFIX = {"POST": "RecordCreate", "PUT": "RecordReplace", "PATCH": "RecordUpdate"}
ARGUMENT_MODES = ("IN", "INOUT", "VARIADIC")


@dataclass(slots=True)
class SerializerSet:
    """The serializer classes of one generation, built on first use."""

    _classes: dict[tuple[str, ...], type[TableSerializer]] = field(default_factory=dict)

    def record(self, entry: TableEntry) -> type[TableSerializer]:
        """Records as answers: readable columns (the key only without GET), nothing required."""
        key = ("record", entry.table.name)
        if key not in self._classes:
            policy = entry.read_policy
            table = entry.table
            if policy is not None:
                columns = [c for c in table.columns if policy.can_read(c.name)]
            else:
                columns = [c for c in table.columns if c.name in table.primary_key]
            self._classes[key] = build_serializer(
                table,
                columns=columns,
                required=(),
                read_only=False,
                relations=entry.relations,
                name=f"{entry.name}RecordSerializer",
            )
        return self._classes[key]

    def write(self, entry: TableEntry, verb: str) -> type[TableSerializer]:
        """Records as a `verb` request gives them: settable columns less presets (and the key).

        POST requires what a new row needs; updates require nothing.
        """
        key = ("write", entry.table.name, verb)
        if key not in self._classes:
            table = entry.table
            policy = entry.policies[verb]
            presets = {name for name, _value in policy.presets}
            columns = [
                c
                for c in table.columns
                if c.name not in presets
                and not c.is_generated
                and (policy.writable is None or c.name in policy.writable)
            ]
            if verb != "POST":  # records identify themselves by their key
                keyed = [c for c in table.columns if c.name in table.primary_key]
                columns += [c for c in keyed if c not in columns]
                columns.sort(key=lambda c: c.position)
            required = [c.name for c in columns if column_required(c)] if verb == "POST" else []
            self._classes[key] = build_serializer(
                table,
                columns=columns,
                required=required,
                read_only=False,
                name=f"{entry.name}{WRITE_SUFFIX[verb]}Serializer",
            )
        return self._classes[key]

    def result(self, entry: RoutineEntry, index: int) -> type[TableSerializer]:
        """The result columns (or OUT values) of form `index` of a routine."""
        key = ("result", entry.kind, entry.name, str(index))
        if key not in self._classes:
            suffix = str(index + 1) if index else ""
            self._classes[key] = build_serializer(
                result_table(entry.forms[index]),
                required=(),
                read_only=False,
                name=f"{entry.camel}Result{suffix}Serializer",
                description=f"What {entry.name} answers"
                + (" (its OUT values)." if entry.kind == "procedure" else " (a row)."),
            )
        return self._classes[key]

    def arguments(self, entry: RoutineEntry) -> type[TableSerializer]:
        """The named arguments of every form, by name (a body's plain object)."""
        key = ("arguments", entry.kind, entry.name)
        if key not in self._classes:
            self._classes[key] = build_serializer(
                arguments_table(entry.forms),
                required=required_arguments(entry.forms),
                read_only=False,
                name=f"{entry.camel}ArgumentsSerializer",
                description=f"The arguments of {entry.name}, by name.",
            )
        return self._classes[key]


def required_arguments(forms: Sequence[Routine]) -> frozenset[str]:
    """The named input arguments every form of a routine needs (none has a default)."""
    needed = [
        {
            argument.name
            for argument in form.arguments
            if argument.mode in ARGUMENT_MODES and argument.name and not argument.has_default
        }
        for form in forms
    ]
    return frozenset(set.intersection(*needed)) if needed else frozenset()


def arguments_table(forms: tuple[Routine, ...]) -> Table:
    """The named input arguments of `forms` as the columns of a table (first form wins a name)."""
    columns: list[Column] = []
    seen: set[str] = set()
    for form in forms:
        for argument in form.arguments:
            if argument.mode not in ARGUMENT_MODES or not argument.name or argument.name in seen:
                continue
            seen.add(argument.name)
            columns.append(
                Column(
                    name=argument.name,
                    position=len(columns) + 1,
                    type_name=argument.type_name,
                    base_type=argument.base_type,
                    json_kind=argument.json_kind,
                    nullable=True,
                    element_kind=None,
                )
            )
    lead = forms[0]
    return Table(
        name=lead.name,
        sql_schema=lead.sql_schema,
        sql_name=lead.sql_name,
        kind="view",
        columns=tuple(columns),
    )
