"""Check and prepare the records of a table write under a caller's policy.

One rule: a record may set only columns the caller may write (anything else
is refused exactly like a column that does not exist), the policy's presets
replace whatever the caller sent for their columns, and every value is kept
exactly as parsed (numbers as Decimal) until it is bound as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from services.sql.ast import SelectItem
from services.sql.clauses import PolicyFor
from services.sql.errors import InvalidField, MissingIdentifier, QueryError
from services.sql.policy import Policy
from services.sql.schema import Column, SchemaSnapshot, Table
from services.sql.values import as_text

LOOKUP_VALUE = re.compile(r"^\{([^{}]+)\}$")


@dataclass(frozen=True, slots=True)
class WriteTarget:
    """The table a write goes to and the caller's rights on it.

    policy: the caller's policy for the write verb (writable columns, presets,
      row filter). key: the identifying columns (primary key or `id_field`).
    output: the columns of each result record (rendered as reads render them).
    """

    snapshot: SchemaSnapshot
    table: Table
    policy: Policy
    policy_for: PolicyFor
    key: tuple[Column, ...]
    output: tuple[Column, ...]
    lookups: Mapping[str, object] = field(default_factory=dict)
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One record ready for a statement: its document and the columns it sets.

    values: JSON-ready values by column name (keys included for updates and
      deletes). columns: the columns set, in table order (records with the same
      columns share a statement). identifier: the key as shown in a 404.
    """

    values: Mapping[str, object]
    columns: tuple[Column, ...]
    identifier: str = ""


# --- result columns and keys ------------------------------------------------------


def key_columns_for(
    table: Table, id_field: tuple[str, ...] | None, read_policy: Policy | None
) -> tuple[Column, ...]:
    """The identifying columns: `id_field` (readable ones only) or the primary key.

    Raises InvalidField for an `id_field` that is unknown or hidden.
    """
    if not id_field:
        return tuple(column for name in table.primary_key if (column := table.column(name)))
    columns = []
    for name in id_field:
        column = table.column(name)
        if column is None or (
            name not in table.primary_key
            and (read_policy is None or not read_policy.can_read(name))
        ):
            raise InvalidField(name)
        columns.append(column)
    return tuple(columns)


def output_columns(
    table: Table,
    read_policy: Policy | None,
    key: tuple[Column, ...],
    fields: tuple[SelectItem, ...] | None,
) -> tuple[Column, ...]:
    """The columns of each write result: the key by default, `()` for `*`, or those named.

    Results go through the caller's read policy: readable columns only, and
    only the key when the caller may not read the table at all. Raises
    InvalidField for a named column that is unknown or hidden.
    """
    if fields is None:
        return key
    keys = {column.name for column in key}
    if not fields:
        if read_policy is None:
            return key
        return tuple(
            column
            for column in table.columns
            if column.name in keys or read_policy.can_read(column.name)
        )
    chosen: list[Column] = []
    for item in fields:
        if not isinstance(item, str):
            raise InvalidField(item.alias)
        column = table.column(item)
        readable = read_policy is not None and read_policy.can_read(item)
        if column is None or not (readable or item in keys):
            raise InvalidField(item)
        if column not in chosen:
            chosen.append(column)
    return tuple(chosen)


# --- records ----------------------------------------------------------------------


def preset_values(policy: Policy, lookups: Mapping[str, object]) -> dict[str, object]:
    """The policy's presets with `{lookup}` values resolved.

    Raises QueryError when a preset names a lookup the caller has no value for.
    """
    values: dict[str, object] = {}
    for name, text in policy.presets:
        value = json.loads(text, parse_float=Decimal)
        if isinstance(value, str) and (match := LOOKUP_VALUE.match(value)):
            lookup = match.group(1)
            if lookup not in lookups:
                raise QueryError(
                    f"No value for lookup '{{{lookup}}}' to preset field '{name}' with."
                )
            value = lookups[lookup]
        values[name] = value
    return values


def settable(target: WriteTarget, name: str) -> Column:
    """The column `name` if the caller may set it; InvalidField otherwise.

    Unknown, non-writable and generated columns all get the same answer.
    """
    column = target.table.column(name)
    writable = target.policy.writable
    if column is None or column.is_generated or (writable is not None and name not in writable):
        raise InvalidField(name)
    return column


def document_value(column: Column, value: object) -> object:
    """The value as it travels in the statement's document.

    json/jsonb values travel as their exact JSON text (numbers with every
    digit), every other value as itself (see `dump_document`).
    """
    if column.json_kind == "json" and value is not None:
        return exact_json(value)
    return value


class RecordShaper:
    """The look-ups a batch of records needs, computed once per batch.

    settable: the names `settable` accepts. Per set of field names it keeps
    the columns set (in table order) and the json/jsonb columns among them,
    so records sharing their fields share these (and their statement).
    """

    __slots__ = ("_columns", "_json", "key_names", "settable", "table")

    def __init__(self, target: WriteTarget) -> None:
        table = target.table
        writable = target.policy.writable
        self.table = table
        self.settable = frozenset(
            column.name
            for column in table.columns
            if not column.is_generated and (writable is None or column.name in writable)
        )
        self.key_names = tuple(column.name for column in target.key)
        self._columns: dict[tuple[str, ...], tuple[Column, ...]] = {}
        self._json: dict[tuple[str, ...], tuple[str, ...]] = {}

    def check(self, names: Iterable[str], *, skip: Container[str] = ()) -> None:
        """Raise InvalidField for the first of `names` (less `skip`) the caller may not set."""
        for name in names:
            if name not in skip and name not in self.settable:
                raise InvalidField(name)

    def columns_of(self, shape: tuple[str, ...]) -> tuple[Column, ...]:
        """The columns named in `shape`, in table order."""
        columns = self._columns.get(shape)
        if columns is None:
            chosen = set(shape)
            columns = tuple(column for column in self.table.columns if column.name in chosen)
            self._columns[shape] = columns
        return columns

    def json_names(self, shape: tuple[str, ...]) -> tuple[str, ...]:
        """The json/jsonb columns among `shape` (every name a column)."""
        names = self._json.get(shape)
        if names is None:
            found = []
            for name in shape:
                column = self.table.column(name)
                assert column is not None  # checked by the callers
                if column.json_kind == "json":
                    found.append(name)
            names = self._json[shape] = tuple(found)
        return names

    def finish(self, values: Mapping[str, object], *, set_names: Iterable[str]) -> Prepared:
        """As `finish`: the Prepared record of `values` (all checked), setting `set_names`."""
        shape = tuple(values)
        columns = self.columns_of(shape if set_names is values else tuple(set_names))
        document = dict(values)
        for name in self.json_names(shape):
            value = document[name]
            if value is not None:
                document[name] = exact_json(value)
        keys = [values[name] for name in self.key_names if name in values]
        identifier = ",".join(as_text(value) for value in keys) if keys else ""
        return Prepared(document, columns, identifier)


def prepare_create(
    target: WriteTarget, records: Sequence[Mapping[str, object]]
) -> list[Prepared | QueryError]:
    """Check and prepare records to insert.

    Raises InvalidField for a field the caller may not set (the whole request
    fails); presets replace whatever the caller sent for their columns.
    """
    presets = preset_values(target.policy, target.lookups)
    shaper = RecordShaper(target)
    allowed = shaper.settable.union(presets)
    prepared: list[Prepared | QueryError] = []
    for record in records:
        if not allowed.issuperset(record):
            shaper.check(record, skip=presets)
        values: Mapping[str, object] = record
        if presets:
            values = {name: value for name, value in record.items() if name not in presets}
            values.update(presets)
        prepared.append(shaper.finish(values, set_names=values))
    return prepared


def prepare_update(
    target: WriteTarget, records: Sequence[Mapping[str, object]], *, keyed: bool
) -> list[Prepared | QueryError]:
    """Check and prepare records to update: keyed ones carry their key, others are a patch.

    A keyed record without its key is a per-record MissingIdentifier. Raises
    InvalidField for a field the caller may not set.
    """
    presets = preset_values(target.policy, target.lookups)
    shaper = RecordShaper(target)
    key_names = shaper.key_names
    skipped = set(presets).union(key_names)
    allowed = shaper.settable.union(skipped)
    prepared: list[Prepared | QueryError] = []
    for index, record in enumerate(records):
        if not allowed.issuperset(record):
            shaper.check(record, skip=skipped)
        changes = {name: value for name, value in record.items() if name not in skipped}
        changes.update(presets)
        if keyed and any(record.get(name) is None for name in key_names):
            prepared.append(MissingIdentifier(index))
            continue
        keys = {name: record[name] for name in key_names} if keyed else {}
        prepared.append(shaper.finish({**changes, **keys}, set_names=changes))
    return prepared


def prepare_keys(
    target: WriteTarget, records: Sequence[Mapping[str, object]]
) -> list[Prepared | QueryError]:
    """Prepare the keys of records to delete (other fields are ignored)."""
    key_names = [column.name for column in target.key]
    prepared: list[Prepared | QueryError] = []
    for index, record in enumerate(records):
        if any(record.get(name) is None for name in key_names):
            prepared.append(MissingIdentifier(index))
            continue
        prepared.append(finish(target, {name: record[name] for name in key_names}, set_names={}))
    return prepared


def keyed_records(
    target: WriteTarget, ids: Sequence[tuple[str, ...]], record: Mapping[str, object]
) -> list[dict[str, object]]:
    """One record per identifier in `ids`: `record` (if any) with that key."""
    names = [column.name for column in target.key]
    records = []
    for key in ids:
        if len(key) != len(names):
            raise QueryError(
                f"Invalid identifier '{','.join(key)}': expected {len(names)} value(s)."
            )
        records.append({**record, **dict(zip(names, key, strict=True))})
    return records


def finish(
    target: WriteTarget, values: Mapping[str, object], *, set_names: Mapping[str, object]
) -> Prepared:
    """The Prepared record of `values` (all checked), setting the columns in `set_names`."""
    return RecordShaper(target).finish(values, set_names=set_names)


def groups(items: Sequence[Prepared]) -> Iterator[tuple[int, list[Prepared]]]:
    """Runs of consecutive records setting the same columns, with the index of each run's first."""
    start = 0
    while start < len(items):
        end = start + 1
        while end < len(items) and items[end].columns == items[start].columns:
            end += 1
        yield start, list(items[start:end])
        start = end


def dump_document(items: Sequence[Prepared]) -> str:
    """The JSON array of the records' documents.

    Numbers parsed as Decimal travel as strings: the column's input function
    reads them exactly as it would read the number (json values were already
    rendered by `exact_json`).
    """
    return json.dumps([item.values for item in items], default=decimal_text, separators=(",", ":"))


def decimal_text(value: object) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _Inexact(Exception):
    """A Decimal whose float would print other digits than it has."""


def float_if_exact(value: object) -> float:
    """`value` as a float when the float prints exactly as the Decimal does (`json.dumps`)."""
    if isinstance(value, Decimal):
        if value.is_finite():
            number = float(value)
            if repr(number) == str(value):
                return number
        raise _Inexact
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# Writes containers whose Decimals all print as their floats do, in one call.
EXACT_ENCODER = json.JSONEncoder(default=float_if_exact, separators=(",", ":"))


def exact_json(value: object) -> str:
    """JSON text of a parsed JSON value, Decimals written out with every digit.

    Containers go through the C encoder in one call; one holding a Decimal
    that a float would not print digit for digit is written out value by value.
    """
    if isinstance(value, dict | list):
        try:
            return EXACT_ENCODER.encode(value)
        except _Inexact:
            pass
    return exact_text(value)


def exact_text(value: object) -> str:
    """JSON text of a parsed JSON value, value by value (see `exact_json`)."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict):
        return (
            "{" + ",".join(json.dumps(str(k)) + ":" + exact_text(v) for k, v in value.items()) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(exact_text(item) for item in value) + "]"
    return json.dumps(value)
