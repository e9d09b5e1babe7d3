"""Read a table write's body and parameters: records, the record to apply, and options.

One rule: the body is parsed once, numbers as int or Decimal (never float),
and read through Django's `HttpRequest.body`, which enforces the body size
bound (DRF's parsers would not); nothing here decides which rows or columns
a write may touch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rest_framework.request import Request

from services.api.errors import ApiError
from services.api.params import first, parse_bool, parse_params, parsed, split_ids
from services.sql.ast import Expr, SelectItem
from services.sql.errors import QueryError
from services.sql.parse import parse_fields, parse_filter, parse_names
from services.sql.schema import Table
from services.sql.write_exec import BatchMode

WRAPPER = "resource"
NO_RECORDS = (
    "No record(s) detected in request. Please make sure record(s) are wrapped in a 'resource' "
    'tag. Example: {"resource":[{"record":1},{"record":2}]}'
)
# Keys of a body object that are request options rather than a record's fields
# (when the body is not itself a record: DELETE, or a `resource`-wrapped body).
OPTION_KEYS = (
    "fields", "select", "id_field", "ids", "filter", "where", "params",
    "continue", "rollback", "as_list", "force", "allow_related_delete",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """The parameters of a write. `fields`: None means the key only, () every field.

    allow_related_delete: a has-many child unlinked by a nested write is
    deleted (when its foreign key may not be NULL) rather than refused.
    """

    fields: tuple[SelectItem, ...] | None = None
    id_field: tuple[str, ...] | None = None
    ids: tuple[tuple[str, ...], ...] | None = None
    filter: Expr | None = None
    params: Mapping[str, object] | None = None
    mode: BatchMode = "stop"
    as_list: bool = False
    force: bool = False
    allow_related_delete: bool = False


@dataclass(frozen=True, slots=True)
class WriteBody:
    """A parsed body: its records (a list), or one object (a record or options), or nothing."""

    records: tuple[Any, ...] | None = None
    record: Mapping[str, Any] | None = None
    options: Mapping[str, Any] | None = None


# --- parsing ---------------------------------------------------------------------


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_body(request: Request) -> bytes:
    """The raw request body. Raises RequestDataTooBig past the body size bound (answered 413)."""
    # Django's HttpRequest.body enforces DATA_UPLOAD_MAX_MEMORY_SIZE; DRF's
    # parsers read the stream directly and would not.
    return request._request.body


def read_json(request: Request) -> Any:
    """The request body as JSON (None when empty), numbers as int or Decimal.

    Raises RequestDataTooBig past the body size bound (answered 413), and
    ApiError 400 for a body that is not JSON.
    """
    raw = read_body(request)
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "The request body is not valid JSON.") from None


def parse_body(payload: Any) -> WriteBody:
    """Split a body into records and options: `{"resource": […], …}`, a bare array, or an object."""
    if isinstance(payload, list):
        return WriteBody(records=tuple(payload))
    if isinstance(payload, dict):
        if WRAPPER in payload and isinstance(payload[WRAPPER], list | dict):
            wrapped = payload[WRAPPER]
            options = {key: payload[key] for key in OPTION_KEYS if key in payload}
            if isinstance(wrapped, list):
                return WriteBody(records=tuple(wrapped), options=options)
            return WriteBody(record=wrapped, options=options)
        return WriteBody(record=payload)
    if payload is None:
        return WriteBody()
    raise QueryError(NO_RECORDS)


def write_options(values: Mapping[str, Any], table: Table) -> WriteOptions:
    """The write's options from query parameters (and a body's option keys)."""
    fields_raw = first(values, "fields")
    filter_raw = first(values, "filter")
    id_field_raw = values.get("id_field")
    id_field = parsed("id_field", parse_names, str(id_field_raw)) if id_field_raw else None
    ids_raw = values.get("ids")
    key_size = len(id_field or table.primary_key) or 1
    rollback = parse_bool(values, "rollback")
    carry_on = parse_bool(values, "continue")
    if rollback and carry_on:
        raise QueryError("Rollback and continue operations can not be requested at the same time.")
    filter_expr = None
    if filter_raw is not None and str(filter_raw).strip():
        filter_expr = parsed("filter", parse_filter, str(filter_raw))
    return WriteOptions(
        fields=parsed("fields", parse_fields, str(fields_raw)) if fields_raw else None,
        id_field=id_field,
        ids=split_ids(ids_raw, key_size) if ids_raw not in (None, "", []) else None,
        filter=filter_expr,
        params=parse_params(values.get("params")),
        mode="rollback" if rollback else "continue" if carry_on else "stop",
        as_list=parse_bool(values, "as_list"),
        force=parse_bool(values, "force"),
        allow_related_delete=parse_bool(values, "allow_related_delete"),
    )


def records_of(body: WriteBody) -> tuple[dict[str, Any], ...]:
    """The body's records; a bare object or nothing on a collection path is a 400."""
    if not body.records:
        raise QueryError(NO_RECORDS)
    for index, record in enumerate(body.records):
        if not isinstance(record, dict):
            raise QueryError(f"Invalid record at index {index}: a record is a JSON object.")
    return body.records


def first_record(body: WriteBody) -> dict[str, Any]:
    """The record applied to every target of `ids` or `filter`: the object, or the first record."""
    if body.record is not None:
        record = body.record
    elif body.records:
        record = body.records[0]
    else:
        raise QueryError(NO_RECORDS)
    if not isinstance(record, dict):
        raise QueryError("Invalid record: a record is a JSON object.")
    return record
