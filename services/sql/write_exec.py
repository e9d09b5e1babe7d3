"""Run table writes: whole batches as a few multi-row statements, record by record only on failure.

One rule: a batch first runs as one statement per run of records setting
the same columns, inside a savepoint; only when the server refuses a record
is the batch redone in chunks and then record by record (each in its own
savepoint), which is what `continue`, `rollback` and stop-at-first-failure
need to report per record. Serialization failures and deadlocks restart the
whole write a bounded number of times.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import psycopg
from psycopg import errors as pg

from services.sql.errors import (
    InvalidField,
    QueryError,
    RecordNotFound,
    WriteConflict,
    WriteDenied,
    WriteRefused,
)
from services.sql.execute import QueryTimeout
from services.sql.schema import Table
from services.sql.write_errors import RECORD_ERRORS, record_error
from services.sql.write_records import Prepared, groups
from services.sql.writes import Statement

logger = logging.getLogger(__name__)

T = TypeVar("T")
Connection = psycopg.Connection[Any]
Transaction = Callable[[], AbstractContextManager[Connection]]
BatchMode = Literal["stop", "continue", "rollback"]
Outcome = str | QueryError  # a result record's JSON text, or why the record failed

MAX_ATTEMPTS = 3
NOT_WRITABLE: tuple[type[psycopg.Error], ...] = (
    pg.FeatureNotSupported,
    pg.ObjectNotInPrerequisiteState,
    pg.WrongObjectType,
)
CHUNK_SIZE = 100


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch did: one outcome per record tried, in request order.

    Records after the first failure are absent unless `continue` was asked
    for. `committed` is False when the batch was rolled back.
    """

    outcomes: tuple[Outcome, ...]
    committed: bool

    @property
    def failed(self) -> bool:
        return any(isinstance(outcome, QueryError) for outcome in self.outcomes)

    @property
    def written(self) -> int:
        if not self.committed:
            return 0
        return sum(1 for outcome in self.outcomes if not isinstance(outcome, QueryError))


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """How to word a record's failure: what the write does and what the caller may see."""

    table: Table
    creating: bool = False
    deleting: bool = False
    shown: Collection[str] = ()


class RecordWriter(Protocol):
    """A record written by its own statements (one carrying related records).

    Such records are written one by one, each in its own savepoint, between
    the multi-row statements of the plain records around them.
    """

    def write(self, conn: Connection) -> str:
        """Write the record (and its related records); return its result text.

        Raises the QueryError that failed the record (its savepoint is then
        rolled back), or WriteDenied (the whole write fails).
        """
        ...


Item = Prepared | QueryError | RecordWriter


class _Incomplete(Exception):
    """A keyed statement matched fewer rows than it had records: redo record by record."""


# Failures after which a batch is redone in smaller pieces to find the failing records.
RETRY_SMALLER: tuple[type[Exception], ...] = (*RECORD_ERRORS, _Incomplete)


class _RolledBack(Exception):
    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("batch rolled back")
        self.outcomes = outcomes


def run_batch(
    transaction: Transaction,
    items: Sequence[Item],
    build: Callable[[Sequence[Prepared]], Statement],
    *,
    mode: BatchMode,
    errors: ErrorContext,
    keyed: bool,
) -> BatchResult:
    """Run a batch of records; return each record's outcome.

    `build` makes the statement for a run of records setting the same
    columns; `keyed` statements (updates, deletes) must touch one row per
    record, a missing one is a per-record 404. RecordWriters (records with
    related records) write themselves. Raises WriteDenied when a row
    would leave the caller's row filter (nothing is written then), and the
    QueryErrors of failures that concern the whole request.
    """

    def attempt() -> BatchResult:
        try:
            with transaction() as conn:
                outcomes = batch_outcomes(conn, items, build, mode=mode, errors=errors, keyed=keyed)
                if mode == "rollback" and any(isinstance(o, QueryError) for o in outcomes):
                    raise _RolledBack(outcomes)
        except _RolledBack as rolled_back:
            return BatchResult(tuple(rolled_back.outcomes), committed=False)
        return BatchResult(tuple(outcomes), committed=True)

    return with_retries(attempt, errors)


def run_statement(
    transaction: Transaction,
    statement: Statement,
    *,
    record: dict[str, object] | None,
    errors: ErrorContext,
) -> tuple[list[str], int]:
    """Run one statement over many rows (by filter); return its result records and row count.

    Raises WriteDenied when a row would leave the caller's row filter, and
    the mapped QueryError when the server refuses the write.
    """

    def attempt() -> tuple[list[str], int]:
        with transaction() as conn:
            try:
                denied, texts, count = execute(conn, statement)
            except RECORD_ERRORS as error:
                raise mapped(error, record, errors) from None
            if denied:
                raise WriteDenied()
            return texts, count

    return with_retries(attempt, errors)


def with_retries(attempt: Callable[[], T], errors: ErrorContext) -> T:
    """Run `attempt`, again after a serialization failure or deadlock (a few times)."""
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return attempt()
        except (pg.SerializationFailure, pg.DeadlockDetected):
            if number == MAX_ATTEMPTS:
                raise WriteConflict() from None
            logger.info("write to %s met a concurrent change; retrying", errors.table.name)
            # Jitter: two clients that collided should not collide again.
            time.sleep(random.uniform(0.01, 0.05) * number)  # noqa: S311
        except pg.QueryCanceled:
            raise QueryTimeout() from None
        except pg.LockNotAvailable:
            raise WriteRefused(
                "A record is locked by another write; retry in a moment.", status=409
            ) from None
        except pg.IntegrityError as error:
            # A deferred constraint failing at COMMIT: the whole write is undone.
            raise mapped(error, None, errors) from None
        except NOT_WRITABLE:
            # A view PostgreSQL cannot write through, a foreign table without writes...
            raise QueryError(f"Table '{errors.table.name}' can not be written to.") from None
    raise AssertionError("unreachable")  # pragma: no cover


def execute(conn: Connection, statement: Statement) -> tuple[int, list[str], int]:
    row = conn.execute(statement.query, statement.params).fetchone()
    assert row is not None  # the statement's SELECT has no FROM: always one row
    denied, texts, count = row
    return int(denied), list(texts or []), int(count)


def mapped(error: psycopg.Error, record: Any, errors: ErrorContext) -> QueryError:
    return record_error(
        error,
        errors.table,
        record,
        creating=errors.creating,
        deleting=errors.deleting,
        shown=errors.shown,
    )


def run_group(
    conn: Connection,
    items: Sequence[Prepared],
    build: Callable[[Sequence[Prepared]], Statement],
    *,
    keyed: bool,
) -> list[str]:
    """Run records as one statement per run of equal columns; their result texts in order.

    Raises WriteDenied, the server's error, or _Incomplete for a keyed run
    that matched another number of rows than it has records.
    """
    texts: list[str] = []
    for _start, run in groups(items):
        denied, results, _count = execute(conn, build(run))
        if denied:
            raise WriteDenied()
        if keyed and len(results) != len(run):
            raise _Incomplete()
        texts.extend(results)
    return texts


def batch_outcomes(
    conn: Connection,
    items: Sequence[Item],
    build: Callable[[Sequence[Prepared]], Statement],
    *,
    mode: BatchMode,
    errors: ErrorContext,
    keyed: bool,
) -> list[Outcome]:
    """Each record's outcome: all at once if possible, else by chunks, else one by one."""
    ready = [item for item in items if isinstance(item, Prepared)]
    tried_all = len(ready) == len(items)
    if tried_all:
        try:
            with conn.transaction():
                return list(run_group(conn, ready, build, keyed=keyed))
        except RETRY_SMALLER:
            pass  # find which records fail, below
    outcomes: list[Outcome] = []
    index = 0
    while index < len(items):
        item = items[index]
        if isinstance(item, QueryError):
            outcomes.append(item)
            if mode != "continue":
                return outcomes
            index += 1
            continue
        if not isinstance(item, Prepared):
            outcome = one_writer(conn, item)
            outcomes.append(outcome)
            if isinstance(outcome, QueryError) and mode != "continue":
                return outcomes
            index += 1
            continue
        end = index
        while end < len(items) and end - index < CHUNK_SIZE and isinstance(items[end], Prepared):
            end += 1
        chunk = [item for item in items[index:end] if isinstance(item, Prepared)]
        # A chunk holding every plain record already failed as a whole above.
        if len(chunk) > 1 and (len(chunk) < len(ready) or not tried_all):
            try:
                with conn.transaction():
                    outcomes.extend(run_group(conn, chunk, build, keyed=keyed))
                index = end
                continue
            except RETRY_SMALLER:
                pass
        for record in chunk:
            outcome = one_record(conn, record, build, errors=errors)
            outcomes.append(outcome)
            if isinstance(outcome, QueryError) and mode != "continue":
                return outcomes
        index = end
    return outcomes


def one_record(
    conn: Connection,
    item: Prepared,
    build: Callable[[Sequence[Prepared]], Statement],
    *,
    errors: ErrorContext,
) -> Outcome:
    """Write one record in its own savepoint; its result text or its error."""
    try:
        with conn.transaction():
            denied, results, _count = execute(conn, build([item]))
            if denied:
                raise WriteDenied()
    except RECORD_ERRORS as error:
        return mapped(error, item.values, errors)
    if not results:
        return RecordNotFound(item.identifier)
    return results[0]


def one_writer(conn: Connection, writer: RecordWriter) -> Outcome:
    """Write one record with its related records in its own savepoint; its result or error.

    WriteDenied and InvalidField concern the whole request and propagate.
    """
    try:
        with conn.transaction():
            return writer.write(conn)
    except (WriteDenied, InvalidField):
        raise
    except QueryError as error:
        return error
