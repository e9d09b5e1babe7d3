"""Read a request's query parameters (and tunnelled body) into a `ReadQuery`.

One rule: DreamFactory's names and aliases are accepted exactly as API.md
lists them; a malformed parameter is a 400 naming the parameter, and nothing
here decides whether a name exists — the compiler does, under the policy.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.sql.ast import Expr
from services.sql.errors import QueryError
from services.sql.parse import (
    ParseError,
    parse_fields,
    parse_filter,
    parse_group,
    parse_names,
    parse_order,
)
from services.sql.query import ReadQuery, RelatedRequest
from services.sql.schema import Table

ALIASES: dict[str, tuple[str, ...]] = {
    "fields": ("fields", "select"),
    "filter": ("filter", "where"),
    "limit": ("limit", "top"),
    "offset": ("offset", "skip"),
    "order": ("order", "sort", "order_by"),
    "group": ("group", "group_by"),
}
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})
MAX_OFFSET = 2**62


@dataclass(frozen=True, slots=True)
class Options:
    """Response-shaping options that are not part of the query itself."""

    include_schema: bool = False
    as_list: bool = False
    file: str | None = None


def first(values: Mapping[str, Any], name: str) -> Any:
    """Return the value of `name` or of its first alias that is present, else None."""
    for alias in ALIASES.get(name, (name,)):
        if alias in values and values[alias] is not None:
            return values[alias]
    return None


def parse_bool(values: Mapping[str, Any], name: str) -> bool:
    raw = values.get(name)
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise QueryError(f"Invalid value for '{name}': expected true or false.")


def parse_int(raw: Any, name: str) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise QueryError(f"Invalid value for '{name}': expected a whole number.") from None


# Parsed texts up to this length are remembered (their trees are immutable):
# clients repeat the same filters, orders and field lists call after call.
CACHED_TEXT_LENGTH = 512


@functools.lru_cache(maxsize=4096)
def _parse_remembered(parser: Any, text: str) -> Any:
    return parser(text)


def parsed(kind: str, parser: Any, text: str) -> Any:
    """Run a parser, turning its ParseError into DreamFactory's 400 message."""
    try:
        if len(text) <= CACHED_TEXT_LENGTH:
            return _parse_remembered(parser, text)
        return parser(text)
    except ParseError as error:
        if kind == "filter":
            raise QueryError(f"Invalid or unparsable filter request. {error.message}") from None
        raise QueryError(f"Invalid or unparsable '{kind}' request. {error.message}") from None


def parse_params(raw: Any) -> dict[str, object]:
    """`params`: a JSON object, a list of {name, value}, or a JSON text of either."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise QueryError("Invalid value for 'params': expected a JSON object.") from None
    if isinstance(raw, dict):
        return {str(key).lstrip(":"): value for key, value in raw.items()}
    if isinstance(raw, list) and all(isinstance(item, dict) and "name" in item for item in raw):
        return {str(item["name"]).lstrip(":"): item.get("value") for item in raw}
    raise QueryError("Invalid value for 'params': expected a JSON object.")


def split_ids(raw: Any, table_key_size: int) -> tuple[tuple[str, ...], ...]:
    """`ids`: `1,2,3`, a JSON list, or for composite keys `1,1|1,2`."""
    if isinstance(raw, list):
        items = [str(item) for item in raw]
        return tuple((item,) for item in items)
    text = str(raw).strip()
    if not text:
        raise QueryError("Invalid value for 'ids': no identifiers given.")
    if table_key_size > 1:
        return tuple(tuple(part.strip() for part in item.split(",")) for item in text.split("|"))
    return tuple((item.strip(),) for item in text.split(","))


def related_requests(values: Mapping[str, Any], table: Table) -> tuple[RelatedRequest, ...]:
    raw = values.get("related")
    names: tuple[str, ...] = ()
    if raw is not None and str(raw).strip() != "":
        names = parsed("related", parse_names, str(raw))
        if names == ("*",):
            names = tuple(relation.name for relation in table.relationships)
    for relation in table.relationships:
        # A malformed option is refused even when its relation is not asked for.
        limit_raw = values.get(f"{relation.name}.limit", values.get(f"{relation.name}_limit"))
        if relation.name not in names and limit_raw:
            parse_int(limit_raw, f"{relation.name}.limit")
    requests = []
    for name in names:
        fields_raw = values.get(f"{name}.fields", values.get(f"{name}_fields"))
        limit_raw = values.get(f"{name}.limit", values.get(f"{name}_limit"))
        order_raw = values.get(f"{name}.order", values.get(f"{name}_order"))
        requests.append(
            RelatedRequest(
                name=name,
                fields=parsed("fields", parse_fields, str(fields_raw)) if fields_raw else (),
                limit=parse_int(limit_raw, f"{name}.limit") if limit_raw else None,
                order=parsed("order", parse_order, str(order_raw)) if order_raw else (),
            )
        )
    return tuple(requests)


def read_query(
    values: Mapping[str, Any], table: Table, *, lookups: Mapping[str, object]
) -> tuple[ReadQuery, Options]:
    """Build the ReadQuery and Options a request's parameters ask for.

    Raises QueryError (400) for any malformed parameter.
    """
    fields_raw = first(values, "fields")
    filter_raw = first(values, "filter")
    order_raw = first(values, "order")
    group_raw = first(values, "group")
    limit_raw = first(values, "limit")
    offset_raw = first(values, "offset")
    id_field_raw = values.get("id_field")

    filter_expr: Expr | None = None
    if filter_raw is not None and str(filter_raw).strip():
        filter_expr = parsed("filter", parse_filter, str(filter_raw))

    limit: int | None = None
    if limit_raw is not None and str(limit_raw).strip():
        limit = parse_int(limit_raw, "limit")
    offset = 0
    if offset_raw is not None and str(offset_raw).strip():
        offset = parse_int(offset_raw, "offset")
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError("Invalid value for 'offset': it must be zero or more.")

    id_field = parsed("id_field", parse_names, str(id_field_raw)) if id_field_raw else None
    key_size = len(id_field or table.primary_key) or 1
    ids_raw = values.get("ids")
    ids = split_ids(ids_raw, key_size) if ids_raw not in (None, "") else None

    query = ReadQuery(
        fields=parsed("fields", parse_fields, str(fields_raw)) if fields_raw else (),
        filter=filter_expr,
        params=parse_params(values.get("params")),
        lookups=lookups,
        ids=ids,
        id_field=id_field,
        order=parsed("order", parse_order, str(order_raw)) if order_raw else (),
        group=parsed("group", parse_group, str(group_raw)) if group_raw else (),
        limit=limit,
        offset=offset,
        include_count=parse_bool(values, "include_count"),
        count_only=parse_bool(values, "count_only"),
        related=related_requests(values, table),
    )
    file_raw = values.get("file")
    options = Options(
        include_schema=parse_bool(values, "include_schema"),
        as_list=parse_bool(values, "as_list"),
        file=str(file_raw) if file_raw else None,
    )
    return query, options
