"""Table writes: run a parsed write under the caller's policy and answer in DreamFactory's envelopes.

One rule: which rows and columns a write may touch is decided by
`services.sql.write_records` / `services.sql.writes` under the caller's
policy; this module only picks the target (path id, `ids`, `filter`,
records), shapes the answer, and calls `written` (the audit record, then
`sync.triggers`) once per write that ran.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request

from rbac.audit import record_write
from rbac.policies import Principal
from services.api.access import Access
from services.api.errors import ApiError
from services.api.reads import json_response
from services.api.write_bodies import (
    OPTION_KEYS,
    WRAPPER,
    WriteBody,
    WriteOptions,
    first_record,
    parse_body,
    read_body,
    read_json,
    records_of,
    write_options,
)
from services.connection import ServiceConfig
from services.pools import write_transaction
from services.sql.errors import QueryError
from services.sql.policy import Policy
from services.sql.schema import SchemaSnapshot, Table
from services.sql.write_exec import (
    BatchResult,
    ErrorContext,
    Item,
    Outcome,
    run_batch,
    run_statement,
)
from services.sql.write_records import (
    Prepared,
    WriteTarget,
    key_columns_for,
    keyed_records,
    output_columns,
    prepare_keys,
    prepare_update,
)
from services.sql.write_related import Rights, prepare_related
from services.sql.writes import delete_statement, insert_statement, update_statement
from sync.triggers import records_written

__all__ = ["WriteContext", "read_body", "write_records"]

PAST_TENSE = {"POST": "created", "PUT": "updated", "PATCH": "updated", "DELETE": "deleted"}


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Everything a write needs: the service, its schema, the table and the caller.

    policy: the caller's policy for the write verb; read_policy: for GET
    (None when the caller may not read the table; results then carry the key).
    """

    config: ServiceConfig
    snapshot: SchemaSnapshot
    table: Table
    access: Access
    principal: Principal
    verb: str
    policy: Policy
    read_policy: Policy | None


# --- running ---------------------------------------------------------------------


def write_records(ctx: WriteContext, request: Request, pk: str | None) -> HttpResponse:
    """Answer POST / PUT / PATCH / DELETE on `_table/{table}[/{id}]`."""
    body = parse_body(read_json(request))
    values: dict[str, Any] = dict(request.query_params.items())
    if body.options is not None:
        values.update(body.options)
    elif ctx.verb == "DELETE" and body.record is not None:
        values.update({key: body.record[key] for key in OPTION_KEYS if key in body.record})
    options = write_options(values, ctx.table)
    if ctx.table.kind == "materialized_view":
        raise QueryError(f"Table '{ctx.table.name}' can not be written to.")
    if ctx.verb == "POST":
        if pk is not None:
            raise QueryError("Create record by identifier not currently supported.")
        return create(ctx, options, records_of(body))
    if ctx.verb == "DELETE":
        return delete(ctx, options, body, pk)
    return update(ctx, options, body, pk)


def target_of(ctx: WriteContext, options: WriteOptions, *, keyed: bool) -> WriteTarget:
    key = key_columns_for(ctx.table, options.id_field, ctx.read_policy)
    if keyed and not key:
        raise QueryError(
            f"Table '{ctx.table.name}' has no primary key; name the identifying field with id_field."
        )
    output = (
        key if options.as_list else output_columns(ctx.table, ctx.read_policy, key, options.fields)
    )
    return WriteTarget(
        snapshot=ctx.snapshot,
        table=ctx.table,
        policy=ctx.policy,
        policy_for=ctx.access.policy_for,
        key=key,
        output=output,
        lookups=ctx.access.lookups,
        params=options.params or {},
    )


def error_context(ctx: WriteContext) -> ErrorContext:
    readable = ctx.read_policy.readable if ctx.read_policy is not None else frozenset()
    shown = [c.name for c in ctx.table.columns] if readable is None else sorted(readable)
    return ErrorContext(
        ctx.table, creating=ctx.verb == "POST", deleting=ctx.verb == "DELETE", shown=shown
    )


def rights_of(ctx: WriteContext, options: WriteOptions) -> Rights:
    """What related records of the write may do: the caller's policies, `allow_related_delete`."""
    return Rights(ctx.access.policy_for, allow_delete=options.allow_related_delete)


def transaction_of(ctx: WriteContext) -> Any:
    return partial(write_transaction, ctx.config)


def create(
    ctx: WriteContext, options: WriteOptions, records: Sequence[dict[str, Any]]
) -> HttpResponse:
    target = target_of(ctx, options, keyed=False)
    items = prepare_related(target, records, rights_of(ctx, options), creating=True)
    result = run_batch(
        transaction_of(ctx),
        items,
        partial(insert_statement, target),
        mode=options.mode,
        errors=error_context(ctx),
        keyed=False,
    )
    return batch_answer(ctx, options, target, result)


def update(
    ctx: WriteContext, options: WriteOptions, body: WriteBody, pk: str | None
) -> HttpResponse:
    target = target_of(ctx, options, keyed=True)
    if pk is not None or options.ids is not None:
        record = first_record(body)
        ids = (split_key(target, pk),) if pk is not None else options.ids or ()
        records = keyed_records(target, ids, record)
        items = prepare_related(target, records, rights_of(ctx, options), creating=False)
        return keyed_answer(ctx, options, target, items, pk, update_statement)
    if options.filter is not None:
        # Related records need each row's key: a filter update takes plain fields only.
        patch = prepare_update(target, [first_record(body)], keyed=False)[0]
        assert isinstance(patch, Prepared)  # unkeyed records never miss a key
        statement = update_statement(target, [patch], client_filter=options.filter)
        texts, count = run_statement(
            transaction_of(ctx), statement, record=dict(patch.values), errors=error_context(ctx)
        )
        return list_answer(ctx, options, target, texts, count)
    items = prepare_related(target, records_of(body), rights_of(ctx, options), creating=False)
    return keyed_answer(ctx, options, target, items, None, update_statement)


def delete(
    ctx: WriteContext, options: WriteOptions, body: WriteBody, pk: str | None
) -> HttpResponse:
    by_key = pk is not None or options.ids is not None
    target = target_of(ctx, options, keyed=by_key or bool(body.records))
    if by_key:
        ids = (split_key(target, pk),) if pk is not None else options.ids or ()
        items = prepare_keys(target, keyed_records(target, ids, {}))
        return keyed_answer(ctx, options, target, items, pk, keyed_delete)
    if body.records:
        items = prepare_keys(target, records_of(body))
        return keyed_answer(ctx, options, target, items, None, keyed_delete)
    if options.filter is not None or options.force:
        statement = delete_statement(
            target, None, client_filter=options.filter, count_only=options.filter is None
        )
        texts, count = run_statement(
            transaction_of(ctx), statement, record=None, errors=error_context(ctx)
        )
        if options.filter is None:
            written(ctx, count, None)
            return json_response('{"success":true}')
        return list_answer(ctx, options, target, texts, count)
    raise QueryError("No filter or records given for delete request.")


def keyed_delete(target: WriteTarget, items: Sequence[Prepared]) -> Any:
    return delete_statement(target, items)


def split_key(target: WriteTarget, pk: str | None) -> tuple[str, ...]:
    text = pk or ""
    if len(target.key) > 1:
        return tuple(part.strip() for part in text.split(","))
    return (text,)


def keyed_answer(
    ctx: WriteContext,
    options: WriteOptions,
    target: WriteTarget,
    items: Sequence[Item],
    pk: str | None,
    statement: Any,
) -> HttpResponse:
    result = run_batch(
        transaction_of(ctx),
        items,
        partial(statement, target),
        mode=options.mode,
        errors=error_context(ctx),
        keyed=True,
    )
    if pk is None:
        return batch_answer(ctx, options, target, result)
    written(ctx, result.written, committed_records(result))
    outcome = result.outcomes[0]
    if isinstance(outcome, QueryError):
        raise outcome
    return json_response(outcome)


def written(ctx: WriteContext, count: int, records: Sequence[str] | None) -> None:
    """After a committed write: audit it, and let sync jobs pushing the table send the records soon.

    `records` are the written records' JSON texts (None: not known).
    """
    record_write(ctx.principal, ctx.config.name, ctx.table.name, ctx.verb, count)
    if count:
        records_written(ctx.config.name, ctx.table.name, ctx.table.primary_key, ctx.verb, records)


def committed_records(result: BatchResult) -> list[str]:
    """The texts of the records a batch wrote (none when it was rolled back)."""
    if not result.committed:
        return []
    return [outcome for outcome in result.outcomes if isinstance(outcome, str)]


# --- answers ---------------------------------------------------------------------


def batch_answer(
    ctx: WriteContext, options: WriteOptions, target: WriteTarget, result: BatchResult
) -> HttpResponse:
    """The records written, or DreamFactory's batch error when any record failed."""
    written(ctx, result.written, committed_records(result))
    if result.failed:
        raise batch_error(ctx.verb, result)
    texts = [outcome for outcome in result.outcomes if isinstance(outcome, str)]
    return list_answer(ctx, options, target, texts, None)


def list_answer(
    ctx: WriteContext,
    options: WriteOptions,
    target: WriteTarget,
    texts: Sequence[str],
    count: int | None,
) -> HttpResponse:
    if count is not None:
        written(ctx, count, texts)
    if options.as_list:
        return json_response(json.dumps({WRAPPER: identifiers(target, texts)}))
    return json_response('{"resource":[' + ",".join(texts) + "]}")


def identifiers(target: WriteTarget, texts: Sequence[str]) -> list[Any]:
    """`as_list`: each record's identifier (key parts joined by `,`)."""
    names = [column.name for column in target.key]
    out: list[Any] = []
    for text in texts:
        record = json.loads(text)
        if len(names) == 1:
            out.append(record.get(names[0]))
        else:
            out.append(",".join(str(record.get(name)) for name in names))
    return out


def outcome_body(outcome: Outcome) -> Any:
    if isinstance(outcome, QueryError):
        return {
            "code": outcome.status,
            "message": outcome.message,
            "status_code": outcome.status,
            "context": None,
        }
    return json.loads(outcome)


def batch_error(verb: str, result: BatchResult) -> ApiError:
    """DreamFactory's batch error: code 1000, failed indices and each record's result or error."""
    message = f"Batch Error: Not all requested records could be {PAST_TENSE[verb]}."
    if not result.committed:
        message += " All changes rolled back."
    failed = [i for i, outcome in enumerate(result.outcomes) if isinstance(outcome, QueryError)]
    return ApiError(
        400,
        message,
        code=1000,
        context={"error": failed, "resource": [outcome_body(o) for o in result.outcomes]},
    )
