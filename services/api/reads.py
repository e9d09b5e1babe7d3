"""Table reads: run a `ReadQuery` and wrap PostgreSQL's JSON in DreamFactory's envelopes.

One rule: the rows' JSON is produced by PostgreSQL and passed through as
bytes; Python only adds the envelope (and, off the fast path, inspects a
few identifiers for `ids` errors and `as_list`).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse

from rbac.audit import record_rows
from services.api.access import Access
from services.api.describe import describe_table
from services.api.errors import ApiError
from services.api.params import Options, read_query
from services.connection import ServiceConfig
from services.pools import read_transaction, single_read
from services.sql.compile import compile_count, compile_read, compile_record, compile_rows
from services.sql.errors import InvalidField
from services.sql.execute import fetch_page, fetch_value, stream_csv, stream_ndjson
from services.sql.policy import Policy
from services.sql.query import ReadQuery
from services.sql.schema import SchemaSnapshot, Table

JSON = "application/json"
SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ReadContext:
    """Everything a read needs: the service, its schema, the table and the caller."""

    config: ServiceConfig
    snapshot: SchemaSnapshot
    table: Table
    access: Access
    policy: Policy


def json_response(body: bytes | str, status: int = 200) -> HttpResponse:
    """A JSON answer with its length (the charset given: Django need not parse it out)."""
    content = body.encode() if isinstance(body, str) else body
    return HttpResponse(
        content,
        status=status,
        charset="utf-8",
        headers={"Content-Type": JSON, "Content-Length": str(len(content))},
    )


def stream_format(accept: str, options: Options) -> str | None:
    """Return "csv" or "ndjson" when the caller asked for a stream, else None."""
    if options.file:
        lowered = options.file.lower()
        if lowered.endswith(".csv"):
            return "csv"
        if lowered.endswith((".ndjson", ".jsonl")):
            return "ndjson"
    if "text/csv" in accept:
        return "csv"
    if "application/x-ndjson" in accept:
        return "ndjson"
    return None


def read_records(
    ctx: ReadContext, values: Mapping[str, Any], *, accept: str = ""
) -> HttpResponse | StreamingHttpResponse:
    """Answer GET `_table/{table}`."""
    query, options = read_query(values, ctx.table, lookups=ctx.access.lookups)
    stream = stream_format(accept, options)
    if stream is not None:
        return streamed(ctx, query, options, stream)
    if query.count_only:
        compiled_count = compile_count(
            ctx.snapshot, ctx.table, query, ctx.policy, ctx.access.policy_for
        )
        count = single_read(ctx.config, lambda conn: fetch_value(conn, compiled_count))
        return json_response(str(count))

    compiled = compile_read(
        ctx.snapshot,
        ctx.table,
        query,
        ctx.policy,
        ctx.access.policy_for,
        max_records=ctx.config.max_records,
        # An assumed PostgreSQL role may have been granted some columns only.
        whole_rows=not ctx.config.assume_roles,
    )
    page = single_read(ctx.config, lambda conn: fetch_page(conn, compiled))
    record_rows(min(page.fetched, compiled.page_size))
    truncated = query.limit is None and page.fetched > compiled.page_size
    total = page.total
    if truncated and total is None:
        counting = compile_count(ctx.snapshot, ctx.table, query, ctx.policy, ctx.access.policy_for)
        total = int(str(single_read(ctx.config, lambda conn: fetch_value(conn, counting))))

    resource = page.resource
    if query.ids is not None and page.fetched < len(set(query.ids)):
        raise missing_ids_error(ctx, query, resource)
    if options.as_list:
        resource = json.dumps(identifiers(ctx, query, resource))

    meta: dict[str, Any] = {}
    if query.include_count or truncated:
        meta["count"] = total
        if total is not None and query.offset + compiled.page_size < total:
            meta["next"] = query.offset + compiled.page_size
    if options.include_schema:
        meta["schema"] = describe_table(
            ctx.snapshot,
            ctx.table,
            ctx.policy,
            policy_of=ctx.access.policy_for,
            access=ctx.access.verbs_for(ctx.table),
        )
    body = '{"resource":' + resource
    if meta:
        body += ',"meta":' + json.dumps(meta)
    return json_response(body + "}")


def read_record(ctx: ReadContext, identifier: str, values: Mapping[str, Any]) -> HttpResponse:
    """Answer GET `_table/{table}/{id}`: the bare object, or 404."""
    query, _options = read_query(values, ctx.table, lookups=ctx.access.lookups)
    key_size = len(query.id_field or ctx.table.primary_key) or 1
    key = tuple(part.strip() for part in identifier.split(",")) if key_size > 1 else (identifier,)
    compiled = compile_record(
        ctx.snapshot, ctx.table, key, query, ctx.policy, ctx.access.policy_for
    )
    record = single_read(ctx.config, lambda conn: fetch_value(conn, compiled))
    if record is None:
        raise ApiError(404, f"Record with identifier '{identifier}' not found.")
    record_rows(1)
    return json_response(str(record))


def key_names(ctx: ReadContext, query: ReadQuery) -> tuple[str, ...]:
    names = query.id_field or ctx.table.primary_key
    for name in names:
        if not ctx.policy.can_read(name):
            raise InvalidField(name)
    return names


def key_of(record: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    if not all(name in record for name in names):
        return None
    return ",".join(str(record[name]) for name in names)


def identifiers(ctx: ReadContext, query: ReadQuery, resource: str) -> list[Any]:
    """`as_list`: the identifier of each record instead of the record."""
    names = key_names(ctx, query)
    if not names:
        raise ApiError(400, f"Table '{ctx.table.name}' has no primary key to list.")
    records = json.loads(resource)
    if len(names) == 1:
        return [record.get(names[0]) for record in records]
    return [key_of(record, names) for record in records]


def missing_ids_error(ctx: ReadContext, query: ReadQuery, resource: str) -> ApiError:
    """The batch error for `ids` of which some were not found (DreamFactory's shape)."""
    names = key_names(ctx, query)
    found = {key_of(record, names): record for record in json.loads(resource)}
    results: list[Any] = []
    failed: list[int] = []
    for index, key in enumerate(query.ids or ()):
        joined = ",".join(key)
        if joined in found:
            results.append(found[joined])
        else:
            failed.append(index)
            results.append(
                {
                    "error": {
                        "code": 404,
                        "message": f"Record with identifier '{joined}' not found.",
                        "status_code": 404,
                    }
                }
            )
    return ApiError(
        404,
        "Batch Error: Not all requested records could be retrieved.",
        code=1000,
        context={"error": failed, "resource": results},
    )


def streamed(
    ctx: ReadContext, query: ReadQuery, options: Options, kind: str
) -> StreamingHttpResponse:
    """CSV or NDJSON in constant memory; not capped by the service maximum."""
    compiled = compile_rows(ctx.snapshot, ctx.table, query, ctx.policy, ctx.access.policy_for)

    def chunks() -> Iterator[bytes]:
        with read_transaction(ctx.config) as conn:
            produce = stream_csv if kind == "csv" else stream_ndjson
            yield from produce(conn, compiled)

    # Pull the first chunk now, so a value the server rejects is still a clean 400.
    body = chunks()
    head = next(body, b"")
    content_type = "text/csv; charset=utf-8" if kind == "csv" else "application/x-ndjson"
    response = StreamingHttpResponse(itertools.chain([head], body), content_type=content_type)
    if options.file:
        filename = SAFE_FILENAME.sub("_", options.file)[:100] or f"{ctx.table.name}.{kind}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
