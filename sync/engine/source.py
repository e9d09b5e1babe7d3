"""A job's source table: reading its rows in keyset chunks and writing sync results back into it.

One rule: the source is reached only through the service's pools and the
SQL layer the API uses (`services.pools`, `services.sql.keyset`,
`services.sql.write_back`), as the service's own user (no API role), with
every name checked against the service's schema snapshot; the engine never
builds SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from django.utils import timezone

from services.connection import ServiceConfig
from services.pools import read_transaction, write_transaction
from services.schema_cache import get_snapshot
from services.sql.errors import QueryError
from services.sql.keyset import (
    Position,
    RowSource,
    SourceRow,
    compile_chunk,
    compile_count,
    compile_existing_keys,
    compile_rows_by_keys,
    compile_watermark_max,
    fetch_keys,
    fetch_rows,
    fetch_scalar,
    row_source,
)
from services.sql.schema import Column, SchemaSnapshot
from services.sql.write_back import compile_write_back, run_write_back, write_back_columns
from sync.engine.types import PushResult
from sync.jobspec import JobSpec

SYNCED = "synced"
FAILED = "error"


class EngineError(Exception):
    """A run cannot go on: the message says why, in terms an admin can act on."""


@dataclass(frozen=True, slots=True)
class WriteBackColumns:
    """The source columns results are written to ("" = not kept)."""

    hubspot_id: str = ""
    synced_at: str = ""
    status: str = ""
    error: str = ""
    match: str = ""  # record-id jobs: the match column receives a created record's id

    @property
    def any(self) -> bool:
        return bool(self.hubspot_id or self.synced_at or self.status or self.error or self.match)


@dataclass(frozen=True, slots=True)
class Source:
    """The table of one job, resolved in the service's current schema."""

    config: ServiceConfig
    snapshot: SchemaSnapshot
    rows: RowSource
    write_back: WriteBackColumns

    @property
    def key_width(self) -> int:
        return len(self.rows.key)


def open_source(spec: JobSpec) -> Source:
    """Resolve the job's service and table; raise EngineError when either is missing or unfit."""
    from services.models import Service

    service = Service.objects.filter(name=spec.service).first()
    if service is None or not service.active:
        raise EngineError(f"The service '{spec.service}' does not exist or is not active.")
    config = service.config()
    try:
        snapshot = get_snapshot(config)
    except psycopg.Error as error:
        raise EngineError(
            f"The database of service '{spec.service}' cannot be read ({type(error).__name__})."
        ) from error
    table = snapshot.table(spec.table)
    if table is None:
        raise EngineError(f"Service '{spec.service}' has no table or view '{spec.table}'.")
    back = spec.write_back
    written = WriteBackColumns(
        hubspot_id=back.hubspot_id,
        synced_at=back.synced_at,
        status=back.status,
        error=back.error,
        match=spec.match_column if spec.matches_by_record_id else "",
    )
    key = () if table.primary_key else (spec.match_column,)
    try:
        rows = row_source(
            table,
            columns=[column.name for column in table.columns],
            key=key,
            watermark=spec.watermark_column,
        )
        if spec.match_column and table.column(spec.match_column) is None:
            raise QueryError(f"Invalid field requested: {spec.match_column}")
        names = [name for name in _names(written) if name]
        write_back_columns(table, names)
    except QueryError as error:
        raise EngineError(f"Table '{spec.table}': {error.message}") from error
    return Source(config=config, snapshot=snapshot, rows=rows, write_back=written)


def _names(written: WriteBackColumns) -> list[str]:
    return [written.hubspot_id, written.synced_at, written.status, written.error, written.match]


def read_chunk(
    source: Source, *, after: Position | None, limit: int, upto: str | None = None
) -> list[SourceRow]:
    """The next rows after `after` in position order (at most `limit`)."""
    compiled = compile_chunk(source.rows, after=after, limit=limit, upto=upto)
    with read_transaction(source.config) as conn:
        return fetch_rows(conn, source.rows, compiled)


def read_by_keys(source: Source, keys: Sequence[tuple[str, ...]]) -> list[SourceRow]:
    """The rows with these keys (those that still exist)."""
    if not keys:
        return []
    compiled = compile_rows_by_keys(source.rows, keys)
    with read_transaction(source.config) as conn:
        return fetch_rows(conn, source.rows, compiled)


def existing_keys(source: Source, keys: Sequence[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Which of these keys the table still has."""
    if not keys:
        return set()
    compiled = compile_existing_keys(source.rows, keys)
    with read_transaction(source.config) as conn:
        return fetch_keys(conn, compiled)


def count_rows(source: Source, *, after: Position | None, upto: str | None = None) -> int:
    """How many rows a scan from `after` (up to watermark `upto`) will read."""
    compiled = compile_count(source.rows, after=after, upto=upto)
    with read_transaction(source.config) as conn:
        return int(fetch_scalar(conn, compiled) or 0)


def max_watermark(source: Source) -> str | None:
    """The highest watermark in the table now (None when there are no rows)."""
    compiled = compile_watermark_max(source.rows)
    with read_transaction(source.config) as conn:
        value = fetch_scalar(conn, compiled)
    return None if value is None else str(value)


def write_back(source: Source, rows: Sequence[tuple[tuple[str, ...], Mapping[str, object]]]) -> int:
    """Write values into rows by key, in one transaction; return the rows updated.

    Rows setting the same columns share one statement. Raises EngineError
    when the database refuses (a value that does not fit its column, a view
    that cannot be updated).
    """
    groups: dict[tuple[str, ...], list[tuple[tuple[str, ...], Mapping[str, object]]]] = {}
    for key, values in rows:
        names = tuple(name for name in values if name)
        if names:
            groups.setdefault(names, []).append((key, values))
    if not groups:
        return 0
    table = source.rows.table
    updated = 0
    try:
        with write_transaction(source.config) as conn:
            for names, members in groups.items():
                columns: tuple[Column, ...] = write_back_columns(table, names)
                compiled = compile_write_back(
                    source.snapshot, table, source.rows.key, columns, members
                )
                updated += run_write_back(conn, compiled)
    except QueryError as error:
        raise EngineError(f"Writing back to '{table.name}' failed: {error.message}") from error
    except psycopg.Error as error:
        raise EngineError(
            f"Writing back to '{table.name}' failed ({type(error).__name__}: "
            f"{error.diag.message_primary or 'database error'})."
        ) from error
    return updated


def write_results(source: Source, results: Sequence[PushResult]) -> int:
    """Write a batch's results into their rows: HubSpot id, sync time, status, last error.

    A success sets the id (also into the match column of a record-id job),
    the time, `synced` and clears the error; a failure sets `error` and the
    error's category and message, and leaves the id and time as they were.
    Returns the rows updated; raises EngineError as `write_back` does.
    """
    columns = source.write_back
    if not columns.any:
        return 0
    now = timezone.now().isoformat()
    rows: list[tuple[tuple[str, ...], Mapping[str, object]]] = []
    for result in results:
        values: dict[str, object] = {}
        if result.error is None:
            for name in (columns.hubspot_id, columns.match):
                if name:
                    values[name] = result.hubspot_id or None
            if columns.synced_at:
                values[columns.synced_at] = now
            if columns.status:
                values[columns.status] = SYNCED
            if columns.error:
                values[columns.error] = None
        else:
            if columns.status:
                values[columns.status] = FAILED
            if columns.error:
                values[columns.error] = f"{result.error.category}: {result.error.message}"[:2000]
        if values:
            rows.append((result.key, values))
    return write_back(source, rows)
