"""Applying HubSpot records to a job's table: values converted in, one conditional upsert per page.

One rule: a page of records is written to the table in one transaction of
the service's database, through the SQL layer (`services.sql.upsert`), and
a row that already holds the incoming values is not touched; so applying a
page twice changes nothing the second time, and the checkpoint (saved in
the platform database after the page commits) can lag the page safely. A
record whose values cannot be converted, or that the database refuses,
becomes that record's error and never blocks its page-mates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from django.utils import timezone

from services.pools import read_transaction, write_transaction
from services.sql.errors import QueryError
from services.sql.keyset import SourceRow, fetch_rows, fetch_scalar
from services.sql.schema import Column
from services.sql.upsert import (
    UpsertPlan,
    compile_delete_by,
    compile_rows_by_match,
    compile_upsert,
    run_upsert,
)
from sync.engine.payload import normal
from sync.engine.source import SYNCED, EngineError, Source
from sync.hubspot.errors import RecordError
from sync.hubspot.types import HubSpotObject
from sync.jobspec import FieldMapping, JobSpec
from sync.transforms.functions import (
    boolean_pull,
    date_midnight_pull,
    epoch_millis_pull,
    join_pull,
    transform_pull,
)
from sync.transforms.values import TransformError

CONVERSION_ERROR = "CONVERSION_ERROR"
DATABASE_ERROR = "DATABASE_ERROR"


def pull_mappings(spec: JobSpec) -> tuple[FieldMapping, ...]:
    """The mappings that carry values from HubSpot (direction pull or both)."""
    return tuple(mapping for mapping in spec.mappings if mapping.direction in ("pull", "both"))


def modified_property(object_type: str) -> str:
    """The property that moves on every change: `lastmodifieddate` on contacts, else `hs_…`."""
    return "lastmodifieddate" if object_type in ("contacts", "0-1") else "hs_lastmodifieddate"


# --- converting values ------------------------------------------------------------------


def _coerce(column: Column, value: Any) -> Any:
    """A pulled value in the form its column takes (PostgreSQL's input function does the rest)."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if not isinstance(value, str):
        return value
    kind = column.json_kind
    if kind in ("integer", "number"):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise TransformError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise TransformError(f"{value!r} is not a number")
        if kind == "integer":
            if number != number.to_integral_value():
                raise TransformError(f"{value!r} is not a whole number")
            return int(number)
        return str(number)
    if kind == "boolean":
        return boolean_pull(value, {})
    if kind == "date":
        return date_midnight_pull(value, {})
    if kind == "datetime":
        return epoch_millis_pull(value, {})
    if kind == "array":
        return join_pull(value, {})
    return value


def column_value(column: Column, mapping: FieldMapping | None, raw: str | None) -> Any:
    """HubSpot's string `raw` as `column`'s value, through the mapping's reverse transform.

    Raises TransformError when the value cannot be converted.
    """
    value: Any = raw
    if mapping is not None and mapping.transform:
        value = transform_pull(mapping.transform, raw, mapping.options)
    return _coerce(column, value)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A HubSpot record converted for the table: its column values, or why it cannot be."""

    record: HubSpotObject
    match_value: str
    values: Mapping[str, Any] = field(default_factory=dict)
    problem: RecordError | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """The job's table as a pull writes it: the upsert plan and the columns it fills."""

    source: Source
    plan: UpsertPlan
    mappings: tuple[tuple[Column, FieldMapping], ...]
    id_column: Column | None
    synced_at: Column | None
    status: Column | None
    error: Column | None


def open_target(spec: JobSpec, source: Source) -> Target:
    """The pull's view of the job's table; raises EngineError for a mapping that cannot pull."""
    table = source.rows.table
    match = table.column(spec.match_column)
    if match is None:
        raise EngineError(f"Table '{table.name}' has no column '{spec.match_column}'.")
    pairs: list[tuple[Column, FieldMapping]] = []
    for mapping in pull_mappings(spec):
        column = table.column(mapping.column)
        if column is None or column.is_generated:
            raise EngineError(
                f"Table '{table.name}': column '{mapping.column}' cannot be pulled into."
            )
        pairs.append((column, mapping))
    back = source.write_back

    def named(name: str) -> Column | None:
        return table.column(name) if name else None

    id_column = match if spec.matches_by_record_id else named(back.hubspot_id)
    # The match column takes HubSpot's value too when a mapping pulls it (HubSpot
    # lower-cases emails: the row then holds what HubSpot holds).
    compared = [column for column, _ in pairs]
    if id_column is not None and id_column not in compared and id_column != match:
        compared.append(id_column)
    touched = [c for c in (named(back.synced_at), named(back.status), named(back.error)) if c]
    insert = spec.mode in ("upsert", "create_only", "mirror")
    update = spec.mode != "create_only"
    plan = UpsertPlan(table, match, tuple(compared), tuple(touched), insert=insert, update=update)
    return Target(
        source=source,
        plan=plan,
        mappings=tuple(pairs),
        id_column=id_column,
        synced_at=named(back.synced_at),
        status=named(back.status),
        error=named(back.error),
    )


def convert(spec: JobSpec, target: Target, record: HubSpotObject) -> Incoming:
    """The record's column values (match, mapped, id and write-back columns)."""
    properties = record.properties
    match = target.plan.match
    match_mapping = next(
        (m for c, m in target.mappings if c == match and m.property == spec.match_property), None
    )
    values: dict[str, Any] = {}
    problems: list[str] = []
    raw_match = record.id if spec.matches_by_record_id else properties.get(spec.match_property)
    try:
        values[match.name] = column_value(match, match_mapping, raw_match)
    except TransformError as error:
        problems.append(f"{spec.match_property} → {match.name}: {error}")
    for column, mapping in target.mappings:
        if column == match:
            continue
        try:
            values[column.name] = column_value(column, mapping, properties.get(mapping.property))
        except TransformError as error:
            problems.append(f"{mapping.property} → {column.name}: {error}")
    if target.id_column is not None:
        values[target.id_column.name] = record.id
    if target.synced_at is not None:
        values[target.synced_at.name] = timezone.now().isoformat()
    if target.status is not None:
        values[target.status.name] = SYNCED
    if target.error is not None:
        values[target.error.name] = None
    match_value = (raw_match or "").strip()
    if not problems and not match_value:
        problems.append(f"the record has no {spec.match_property}")
    problem = (
        RecordError(category=CONVERSION_ERROR, message="; ".join(problems)) if problems else None
    )
    return Incoming(record=record, match_value=match_value, values=values, problem=problem)


# --- writing ------------------------------------------------------------------------------


@dataclass(slots=True)
class Applied:
    """What became of a page: record id → outcome, failures, and the matched rows after the write."""

    outcomes: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[Incoming, RecordError]] = field(default_factory=list)
    rows: list[SourceRow] = field(default_factory=list)


def match_text(target: Target, value: object) -> str:
    """How a match value is compared (folded for text match columns)."""
    text = "" if value is None else str(value)
    return normal(text) if target.plan.folds else text


def read_matching(
    conn: psycopg.Connection[Any], target: Target, values: Sequence[object]
) -> list[SourceRow]:
    """The rows whose match column holds one of `values` (in this transaction)."""
    if not values:
        return []
    source = target.source
    compiled = compile_rows_by_match(source.snapshot, source.rows, target.plan, values)
    return fetch_rows(conn, source.rows, compiled)


def rows_before(target: Target, incoming: Sequence[Incoming]) -> list[SourceRow]:
    """The rows the records match, as they are now."""
    values = [item.values.get(target.plan.match.name) for item in incoming]
    with read_transaction(target.source.config) as conn:
        return read_matching(conn, target, [v for v in values if v is not None])


def apply_page(target: Target, incoming: Sequence[Incoming]) -> Applied:
    """Write the convertible records in one transaction; return what became of each.

    Raises EngineError when the database cannot be written at all.
    """
    applied = Applied()
    good = [item for item in incoming if item.problem is None]
    for item in incoming:
        if item.problem is not None:
            applied.failures.append((item, item.problem))
    if not good:
        return applied
    snapshot = target.source.snapshot
    try:
        with write_transaction(target.source.config) as conn:
            try:
                with conn.transaction():
                    updated, inserted = run_upsert(
                        conn, compile_upsert(snapshot, target.plan, [i.values for i in good])
                    )
                _note(applied, good, updated, inserted)
            except (QueryError, psycopg.errors.IntegrityError, psycopg.errors.DataError):
                # One record spoils the statement: write them one by one to find it.
                for item in good:
                    try:
                        with conn.transaction():
                            one_up, one_in = run_upsert(
                                conn, compile_upsert(snapshot, target.plan, [item.values])
                            )
                        _note(applied, [item], one_up, one_in)
                    except (
                        QueryError,
                        psycopg.errors.IntegrityError,
                        psycopg.errors.DataError,
                    ) as error:
                        applied.failures.append((item, _database_error(error)))
            written = [i for i in good if i.record.id in applied.outcomes]
            applied.rows = read_matching(
                conn, target, [i.values[target.plan.match.name] for i in written]
            )
    except psycopg.OperationalError:
        raise
    except psycopg.Error as error:
        raise EngineError(
            f"Writing to '{target.plan.table.name}' failed ({type(error).__name__}: "
            f"{error.diag.message_primary or 'database error'})."
        ) from error
    return applied


def _note(
    applied: Applied, items: Sequence[Incoming], updated: set[int], inserted: set[int]
) -> None:
    for n, item in enumerate(items, start=1):
        outcome = "updated" if n in updated else "created" if n in inserted else "unchanged"
        applied.outcomes[item.record.id] = outcome


def _database_error(error: Exception) -> RecordError:
    if isinstance(error, QueryError):
        return RecordError(category=DATABASE_ERROR, message=error.message)
    assert isinstance(error, psycopg.Error)
    message = error.diag.message_primary or type(error).__name__
    return RecordError(category=DATABASE_ERROR, message=f"The database refused the row: {message}")


def delete_rows(target: Target, hubspot_ids: Sequence[str]) -> int:
    """Delete the rows holding these HubSpot ids (in the id column); return how many."""
    column = target.id_column
    if column is None or not hubspot_ids:
        return 0
    compiled = compile_delete_by(target.source.snapshot, target.plan.table, column, hubspot_ids)
    try:
        with write_transaction(target.source.config) as conn:
            return int(fetch_scalar(conn, compiled) or 0)
    except QueryError as error:
        raise EngineError(
            f"Deleting from '{target.plan.table.name}' failed: {error.message}"
        ) from error
