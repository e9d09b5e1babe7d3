"""The API audit trail: one `AuditRecord` per `/api/v2` request, written off the hot path.

One rule: handling a request only builds a tuple and puts it on an in-process
queue; one background thread per process bulk-inserts the queue every
`FLUSH_SECONDS` or every `BATCH_SIZE` records, and `flush()` (at exit, in
gunicorn's `worker_exit`, after each test-client request) writes whatever is
left, so a clean shutdown loses nothing. The path is stored without its query
string: `?api_key=` and `?session_token=` never reach the trail.

`record_write` (one call per table write, with the number of records written)
and `record_rows` (records returned by a read) note the rows of the request
being handled; they must stay cheap and never fail the request.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone
from psycopg import sql as pg_sql

from rbac.policies import Principal
from services.api.tunnel import effective_verb

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("sluicegate.audit")

API_PREFIX = "/api/v2"
BATCH_SIZE = 500
FLUSH_SECONDS = 0.5
QUEUE_SIZE = 20_000
# When the queue is full the request waits this long for room before the record is dropped.
PUT_TIMEOUT = 2.0
PURGE_BATCH = 5_000
FIELDS = (
    "time",
    "request_id",
    "user_id",
    "username",
    "app",
    "role",
    "requestor",
    "client_ip",
    "method",
    "path",
    "service",
    "table",
    "verb",
    "status",
    "rows",
    "duration_ms",
)

# One request's row count: set by the audit middleware, filled by the read and write paths.
_rows: ContextVar[list[int | None] | None] = ContextVar("sluicegate_audit_rows", default=None)


def record_write(principal: Principal, service: str, table: str, verb: str, count: int) -> None:
    """Note that `principal` wrote `count` records of `table` on `service` with `verb`."""
    rows = _rows.get()
    if rows is not None:
        rows[0] = (rows[0] or 0) + count
    if logger.isEnabledFor(logging.DEBUG):
        who = principal.user.username if principal.user is not None else None
        app = principal.app.name if principal.app is not None else None
        logger.debug(
            "write %s %s/%s: %d record(s) by user=%s app=%s", verb, service, table, count, who, app
        )


def record_rows(count: int) -> None:
    """Note that the request being handled returned `count` records."""
    rows = _rows.get()
    if rows is not None:
        rows[0] = count


# --- the writer ----------------------------------------------------------------


class AuditWriter:
    """A bounded queue of record tuples and the thread that bulk-inserts them.

    The thread is started by the first record a process queues, so a process
    forked after import (gunicorn's preload) starts its own; a child forgets
    what its parent had queued (the parent writes those). `write` (default:
    `write_batch`) is what a batch is handed to, so other records written off
    the hot path (event script runs) use the same machinery.
    """

    def __init__(
        self,
        write: Callable[[Sequence[tuple[Any, ...]]], None] | None = None,
        name: str = "sluicegate-audit",
    ) -> None:
        self.write = write
        self.name = name
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.queue: queue.Queue[tuple[Any, ...]] = queue.Queue(QUEUE_SIZE)
        # Held while records are taken off the queue and written, so flush()
        # returns only once every record queued before it is in the database.
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.released = threading.Event()
        self.closed = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def put(self, item: tuple[Any, ...]) -> None:
        """Queue one record; wait up to PUT_TIMEOUT when full, then drop it (logged)."""
        if self.thread is None:
            self.start()
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            logger.warning("audit queue full: the request waits for the writer")
            self.wake.set()
            try:
                self.queue.put(item, timeout=PUT_TIMEOUT)
            except queue.Full:
                logger.error("audit queue still full: record of request %s dropped", item[1])
                return
        if self.queue.qsize() >= BATCH_SIZE:
            self.wake.set()

    def start(self) -> None:
        with self.lock:
            if self.thread is not None and self.pid == os.getpid():
                return
            if self.pid != os.getpid():
                self.reset()
            self.thread = threading.Thread(target=self.run, name=self.name, daemon=True)
            self.thread.start()

    def run(self) -> None:
        while True:
            self.wake.wait(FLUSH_SECONDS)
            self.wake.clear()
            try:
                # The thread keeps its database connection while records keep
                # coming, and gives it back on the first idle pass.
                if not self.drain(backlog_only=True) or self.released.is_set():
                    connection.close()
            except Exception:  # the thread must outlive any failure
                logger.exception("audit writer failed")
            finally:
                if self.released.is_set():
                    self.released.clear()
                    self.closed.set()

    def release(self, timeout: float = 5.0) -> None:
        """Write what is queued and have the thread close its connection now.

        For whoever is about to drop the database (the test suite's teardown).
        """
        self.drain()
        if self.thread is None or not self.thread.is_alive():
            return
        self.closed.clear()
        self.released.set()
        self.wake.set()
        self.closed.wait(timeout)

    def drain(self, *, backlog_only: bool = False) -> int:
        """Write queued records now; return how many were taken off the queue.

        With `backlog_only` (the writer thread), only what was queued when the
        call began is written, so under steady load each pass is a few large
        batches and the thread then sleeps; otherwise (`flush`) records are
        written until the queue is empty.
        """
        taken = 0
        with self.lock:
            budget = self.queue.qsize() if backlog_only else None
            while budget is None or taken < budget:
                batch: list[tuple[Any, ...]] = []
                size = BATCH_SIZE if budget is None else min(BATCH_SIZE, budget - taken)
                while len(batch) < size:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                if not batch:
                    break
                taken += len(batch)
                (self.write or write_batch)(batch)
        return taken


def write_batch(batch: Sequence[tuple[Any, ...]]) -> None:
    """Insert `batch` (retrying once on a fresh connection) and log each record if enabled."""
    rows = [(datetime.fromtimestamp(item[0], tz=UTC), *item[1:]) for item in batch]
    try:
        copy_rows(rows)
    except Exception:
        close_old_connections()
        try:
            copy_rows(rows)
        except Exception:
            logger.exception("%d audit record(s) could not be written", len(rows))
    if getattr(settings, "SLUICEGATE_AUDIT_LOG", True) and audit_logger.isEnabledFor(logging.INFO):
        for row in rows:
            fields = dict(zip(FIELDS, row, strict=True))
            fields["time"] = row[0].isoformat()
            # What `audit_logger.info` does, without looking up its caller
            # (the writer thread, always): a good share of a line's cost.
            record = audit_logger.makeRecord(
                audit_logger.name, logging.INFO, __file__, 0, json.dumps(fields), (), None,
                extra={"audit": fields, "request_id": fields["request_id"]},
            )  # fmt: skip
            audit_logger.handle(record)


def copy_rows(rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY `rows` (FIELDS order) into the audit table: far cheaper than INSERT for batches."""
    from rbac.models import AuditRecord

    columns = {field.name: str(field.column) for field in AuditRecord._meta.concrete_fields}
    names: list[pg_sql.Composable] = [pg_sql.Identifier(columns[name]) for name in FIELDS]
    statement = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        pg_sql.Identifier(AuditRecord._meta.db_table), pg_sql.SQL(", ").join(names)
    )
    # In autocommit mode (the writer thread) the COPY is its own transaction.
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


writer = AuditWriter()


def flush() -> int:
    """Write every record queued so far; return how many were written."""
    return writer.drain()


atexit.register(flush)


# --- the middleware -------------------------------------------------------------


@lru_cache(maxsize=4)
def trusted_networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


@lru_cache(maxsize=4096)
def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `text` names, or None (memoised: callers come back from few addresses)."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR; behind a trusted proxy, the nearest untrusted `X-Forwarded-For` address."""
    remote = parse_ip(str(request.META.get("REMOTE_ADDR", "")))
    proxies = tuple(getattr(settings, "SLUICEGATE_TRUSTED_PROXIES", ()))
    if remote is None or not proxies:
        return str(remote) if remote is not None else None
    networks = trusted_networks(proxies)
    address = remote
    hops = str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
    for hop in reversed(hops):
        if not any(address in network for network in networks):
            break
        found = parse_ip(hop)
        if found is None:
            break
        address = found
    return str(address)


def audit_tuple(
    request: HttpRequest, status: int, rows: int | None, started: float, duration_ms: float
) -> tuple[Any, ...]:
    """The record of one request, as queued (field order: FIELDS)."""
    principal = getattr(request, "auth", None)
    user_id: int | None = None
    username = app = role = requestor = ""
    if isinstance(principal, Principal):
        if principal.user is not None:
            user_id, username = principal.user.id, principal.user.username
        app = principal.app.name if principal.app is not None else ""
        role = principal.role.name if principal.role is not None else ""
        requestor = principal.requestor
    match = request.resolver_match
    kwargs = match.kwargs if match is not None else {}
    return (
        started,
        getattr(request, "request_id", ""),
        user_id,
        username,
        app,
        role,
        requestor,
        client_ip(request),
        (request.method or "")[:8],
        # request.path never holds the query string; NUL cannot be stored by PostgreSQL.
        request.path.replace("\x00", "")[:2048],
        str(kwargs.get("service", ""))[:64],
        str(kwargs.get("table", ""))[:255],
        effective_verb(request)[:8],
        status,
        rows,
        duration_ms,
    )


class AuditMiddleware:
    """Queues one audit record for every `/api/v2` request (SLUICEGATE_AUDIT turns it off)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if not (path.startswith(API_PREFIX + "/") or path == API_PREFIX) or not getattr(
            settings, "SLUICEGATE_AUDIT", True
        ):
            return self.get_response(request)
        started = time.time()
        clock = time.perf_counter()
        rows: list[int | None] = [None]
        token = _rows.set(rows)
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
        finally:
            _rows.reset(token)
            duration = (time.perf_counter() - clock) * 1000
            writer.put(audit_tuple(request, status, rows[0], started, duration))
        return response


# --- retention ------------------------------------------------------------------


def audit_purge(
    *, days: int | None = None, now: datetime | None = None, batch_size: int = PURGE_BATCH
) -> int:
    """Delete audit records older than `days` (SLUICEGATE_AUDIT_RETENTION_DAYS); return how many."""
    from rbac.models import AuditRecord

    keep = days if days is not None else int(settings.SLUICEGATE_AUDIT_RETENTION_DAYS)
    cutoff = (now or timezone.now()) - timedelta(days=keep)
    deleted = 0
    while True:
        # Small batches keep each transaction (and its locks) short on a large table.
        ids = list(
            AuditRecord.objects.filter(time__lt=cutoff).values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += AuditRecord.objects.filter(pk__in=ids).delete()[0]


def as_rows(records: Iterable[Any]) -> Iterable[list[Any]]:
    """Each record's fields as a CSV row, in FIELDS order."""
    for record in records:
        yield [getattr(record, name) for name in FIELDS]
