"""The practical ceiling for the read benchmark: a bare WSGI app, hand-written SQL.

    BENCH_DATABASE_URL=postgres://... gunicorn -c platform/gunicorn.conf.py \
        bench.raw_endpoint:application

It answers the four paths `bench.read_api` measures, in Sluicegate's shape:
`/api/v2/bench/_table/contacts/{id}` (the bare object) and
`/api/v2/bench/_table/contacts?limit=&offset=&filter=company_id=N`
(`{"resource":[...]}`). PostgreSQL builds the JSON (`row_to_json`, `json_agg`)
and the bytes go out untouched: no framework, no Python objects per row.

One rule: nothing but this benchmark uses it; it has no auth, validates only
what it needs, and its SQL is static with bound parameters.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from psycopg import Connection
from psycopg.adapt import Loader
from psycopg_pool import ConnectionPool

PREFIX = "/api/v2/bench/_table/contacts"
MAX_RECORDS = 10_000
FILTER = re.compile(r"\s*company_id\s*=\s*(\d+)\s*")

ONE = "SELECT row_to_json(t) FROM (SELECT * FROM contacts WHERE id = %s) t"
PAGE = (
    "SELECT coalesce(json_agg(t), '[]') FROM"
    " (SELECT * FROM contacts ORDER BY id LIMIT %s OFFSET %s) t"
)
FILTERED = (
    "SELECT coalesce(json_agg(t), '[]') FROM"
    " (SELECT * FROM contacts WHERE company_id = %s ORDER BY id LIMIT %s OFFSET %s) t"
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


class JsonBytesLoader(Loader):
    """Load `json` values as the raw bytes PostgreSQL sent, skipping `json.loads`."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def configure(conn: Connection[Any]) -> None:
    """Prepare a new pooled connection: raw JSON bytes out, timestamps in UTC."""
    conn.adapters.register_loader("json", JsonBytesLoader)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


def pool() -> ConnectionPool:
    """Return this worker process's pool, opening it on first use (after gunicorn forks)."""
    global _pool  # one pool per worker process, made lazily
    with _pool_lock:
        if _pool is None:
            size = int(os.environ.get("WEB_THREADS", "4"))
            _pool = ConnectionPool(
                os.environ["BENCH_DATABASE_URL"],
                min_size=size,
                max_size=size,
                kwargs={"autocommit": True},
                configure=configure,
                open=True,
            )
        return _pool


def fetch_json(query: str, params: tuple[int, ...]) -> bytes | None:
    """Run one static query and return the single JSON value it yields, or None."""
    with pool().connection() as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def query_int(query: dict[str, list[str]], name: str, default: int) -> int:
    """Return the integer query parameter `name`, or `default`; raise ValueError if not one."""
    values = query.get(name)
    return int(values[-1]) if values else default


def answer(environ: dict[str, Any]) -> tuple[str, bytes]:
    """Return (status line, JSON body) for one request."""
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") != "GET":
        return "405 Method Not Allowed", b'{"error":"method"}'
    if path.startswith(PREFIX + "/") and path[len(PREFIX) + 1 :].isdigit():
        body = fetch_json(ONE, (int(path[len(PREFIX) + 1 :]),))
        if body is None:
            return "404 Not Found", b'{"error":"not found"}'
        return "200 OK", body
    if path not in (PREFIX, PREFIX + "/"):
        return "404 Not Found", b'{"error":"path"}'
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        limit = query_int(query, "limit", MAX_RECORDS)
        offset = max(0, query_int(query, "offset", 0))
    except ValueError:
        return "400 Bad Request", b'{"error":"limit/offset"}'
    limit = limit if 1 <= limit <= MAX_RECORDS else MAX_RECORDS
    if "filter" in query:
        match = FILTER.fullmatch(query["filter"][-1])
        if not match:
            return "400 Bad Request", b'{"error":"only filter=company_id=N"}'
        rows = fetch_json(FILTERED, (int(match.group(1)), limit, offset))
    else:
        rows = fetch_json(PAGE, (limit, offset))
    return "200 OK", b'{"resource":' + (rows or b"[]") + b"}"


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point."""
    status, body = answer(environ)
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
