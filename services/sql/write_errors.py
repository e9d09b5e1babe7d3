"""Turn the server's refusal of a written record into a clean error naming the field.

One rule: the driver's text never reaches a client. Fields are named from
the error's diagnostics (column, constraint, data type) checked against the
schema snapshot, or, for a value PostgreSQL could not read, by re-checking
the failing record's values here; a field the caller neither sent nor may
read is never named.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation, localcontext

import psycopg
from psycopg import errors as pg

from services.sql.errors import (
    CheckFailed,
    DuplicateValue,
    InvalidField,
    InvalidReference,
    InvalidValue,
    NullValue,
    QueryError,
    StillReferenced,
    ValueTooLong,
    WriteRefused,
)
from services.sql.schema import Column, Table
from services.sql.values import as_text, checked_text

# Server errors caused by one record's values: a batch goes on (or stops) per record.
RECORD_ERRORS: tuple[type[psycopg.Error], ...] = (
    pg.IntegrityError,
    pg.DataError,
    pg.RaiseException,
    pg.InsufficientPrivilege,
    pg.GeneratedAlways,
    # PostGIS reports a GeoJSON it cannot read as an internal error (XX000).
    pg.InternalError_,
)
TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext"})
INT_RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
QUOTED_VALUE = re.compile(r'(?:: "(?P<a>.*)"$|value "(?P<b>.*)" is out of range)', re.DOTALL)
HINTED_KEY = re.compile(r'\bkey "(?P<name>.*)"\.$', re.DOTALL)
DUPLICATE_KEY = re.compile(r"^Key \((?P<columns>.*)\)=\(", re.DOTALL)


def record_error(
    error: psycopg.Error,
    table: Table,
    record: Mapping[str, object] | None,
    *,
    creating: bool,
    deleting: bool = False,
    shown: Collection[str] = (),
) -> QueryError:
    """Return the error one record's write met, as the client sees it.

    `record`: the values the caller sent (None when the statement covered
    many rows); `shown`: columns the caller may read, which may be named
    besides the ones it sent. Raises InvalidField (the whole request fails)
    for a value given to a column that only the database may fill.
    """
    values = record or {}
    visible = set(values) | set(shown)
    diag = error.diag
    if isinstance(error, pg.GeneratedAlways):
        always = [name for name in values if (c := table.column(name)) and c.is_identity]
        raise InvalidField(always[0] if always else diag.column_name or "id") from None
    if isinstance(error, pg.NotNullViolation):
        name = diag.column_name or ""
        return NullValue(name, required=creating and name not in values)
    if isinstance(error, pg.UniqueViolation):
        return DuplicateValue(
            tuple(name for name in duplicate_columns(diag.message_detail, table) if name in visible)
        )
    if isinstance(error, pg.ForeignKeyViolation):
        own = {fk.name: fk for fk in table.foreign_keys}
        if deleting or diag.table_name != table.sql_name or diag.constraint_name not in own:
            return StillReferenced()
        columns = own[diag.constraint_name or ""].columns
        return InvalidReference(tuple(name for name in columns if name in visible))
    if isinstance(error, pg.CheckViolation):
        field = checked_field(table, values, diag.datatype_name, diag.constraint_name)
        return CheckFailed(field, None if field else diag.constraint_name)
    if isinstance(error, pg.IntegrityError):
        return WriteRefused("The record conflicts with a constraint of the table.")
    if isinstance(error, pg.StringDataRightTruncation):
        for name, value in values.items():
            column = table.column(name)
            if column and column.max_length and len(as_text(value)) > column.max_length:
                return ValueTooLong(name, column.max_length)
        return ValueTooLong(first_name(values) or "value", None)
    if isinstance(error, pg.DataError):
        return value_error(error, table, values)
    if isinstance(error, pg.InternalError_):
        geometries = [
            name for name in values if (c := table.column(name)) and c.json_kind == "geojson"
        ]
        if geometries and "geojson" in (diag.message_primary or "").lower():
            bad = [name for name in geometries if not looks_like_geojson(values[name])]
            return InvalidValue((bad or geometries)[0], "Expected a GeoJSON geometry.")
        raise error
    if isinstance(error, pg.RaiseException):
        return WriteRefused(diag.message_primary or "The database refused the record.")
    if isinstance(error, pg.InsufficientPrivilege):
        return WriteRefused("The database refused the write.", status=403)
    raise error


def first_name(values: Mapping[str, object]) -> str | None:
    return next(iter(values), None)


def duplicate_columns(detail: str | None, table: Table) -> tuple[str, ...]:
    """The columns of `Key (a, b)=(…) already exists.`, when they name columns of `table`."""
    match = DUPLICATE_KEY.match(detail or "")
    if match is None:
        return ()
    names = tuple(
        part.strip().strip('"').replace('""', '"') for part in match["columns"].split(",")
    )
    if all(table.column(name) is not None for name in names):
        return names
    return ()


def checked_field(
    table: Table,
    values: Mapping[str, object],
    datatype: str | None,
    constraint: str | None,
) -> str | None:
    """The field a CHECK failure is about: a domain's column, or `<table>_<column>_check`."""
    for name in values:
        column = table.column(name)
        if column is None:
            continue
        if datatype and column.domain and column.domain.split(".")[-1] == datatype:
            return name
        if constraint == f"{table.sql_name}_{name}_check":
            return name
    return None


GEOJSON_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
     "GeometryCollection"}
)  # fmt: skip


def looks_like_geojson(value: object) -> bool:
    """Whether `value` is shaped like a GeoJSON geometry (None counts: it writes NULL)."""
    return value is None or (isinstance(value, dict) and value.get("type") in GEOJSON_TYPES)


def value_error(error: psycopg.Error, table: Table, values: Mapping[str, object]) -> QueryError:
    """InvalidValue for the field whose value PostgreSQL could not read."""
    name = bad_field(error, table, values)
    if name is None:
        return InvalidValue(first_name(values) or "value")
    column = table.column(name)
    if column is not None:
        try:
            checked_text(column, values[name], field=name)
        except InvalidValue as invalid:
            return invalid
    return InvalidValue(name)


def bad_field(error: psycopg.Error, table: Table, values: Mapping[str, object]) -> str | None:
    """The field whose value failed: the one the message quotes, else one that fails a check here.

    Fields the caller sent come before keys taken from the path or `ids`.
    """
    columns = [(name, c) for name in values if (c := table.column(name)) is not None]
    columns.sort(key=lambda item: item[0] in table.primary_key)
    # jsonb_populate_record names the key whose value it could not read.
    hinted = HINTED_KEY.search(error.diag.message_hint or "")
    if hinted is not None and hinted["name"] in values:
        return hinted["name"]
    match = QUOTED_VALUE.search(error.diag.message_primary or "")
    if match is not None:
        text = match["a"] if match["a"] is not None else match["b"]
        for name, _column in columns:
            if text in value_texts(values[name]):
                return name
    for name, column in columns:
        if not value_fits(column, values[name]):
            return name
    # Else a value only the server reads (a range, an address…), not plain text.
    server_read = [name for name, column in columns if column.base_type not in TEXT_TYPES]
    return server_read[0] if server_read else (columns[0][0] if columns else None)


def value_texts(value: object) -> set[str]:
    """The texts PostgreSQL may quote for a value: its own and, for an array, its elements'."""
    if value is None:
        return set()
    texts = {as_text(value)}
    if isinstance(value, list):
        for item in value:
            texts |= value_texts(item)
    return texts


def value_fits(column: Column, value: object) -> bool:
    """Whether `value` passes the checks that can be made here (False: surely bad)."""
    if value is None:
        return True
    if isinstance(value, str) and "\x00" in value:
        return False
    if column.json_kind == "array":
        return isinstance(value, list)
    if isinstance(value, dict):
        return column.json_kind in ("json", "geojson") or column.base_type in TEXT_TYPES
    if isinstance(value, list):
        return column.json_kind == "json" or column.base_type in TEXT_TYPES
    try:
        text = checked_text(column, value)
    except InvalidValue:
        return False
    if column.base_type in INT_RANGES:
        bound = INT_RANGES[column.base_type]
        return -bound <= int(text.strip()) < bound
    if column.base_type == "numeric" and column.precision is not None:
        return numeric_fits(text, column.precision, column.scale or 0)
    if column.base_type == "bytea":
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return False
    return True


def numeric_fits(text: str, precision: int, scale: int) -> bool:
    """Whether a number fits numeric(precision, scale) once rounded to `scale` places."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return False
    if not number.is_finite() or number == 0:
        return True
    if number.adjusted() + 1 > precision - scale + 1:
        return False  # too many digits before the point, whatever the rounding
    with localcontext() as context:
        context.prec = precision + abs(number.adjusted()) + scale + 2
        rounded = round(number, scale)
    return rounded == 0 or rounded.adjusted() + 1 <= precision - scale
