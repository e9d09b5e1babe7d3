"""What a read asks for, parsed but not yet checked against a table: the `ReadQuery` value.

One rule: this is a plain value built by the HTTP edge from request
parameters; every name in it is still untrusted until the compiler has
resolved it in the catalog under the caller's policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.sql.ast import Expr, OrderItem, SelectItem


@dataclass(frozen=True, slots=True)
class RelatedRequest:
    """One relation in `related=`, with its own `fields`, `limit` and `order`."""

    name: str
    fields: tuple[SelectItem, ...] = ()
    limit: int | None = None
    order: tuple[OrderItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A read of one table.

    fields: () means every readable column. ids: key values (each a tuple of
    key-part strings, in key order) of `id_field` (default: the primary key).
    limit: None means "not asked for" (the service maximum applies and
    truncation is reported in meta). params: values for `:name`; lookups:
    values for `{name}` (e.g. "user.id").
    """

    fields: tuple[SelectItem, ...] = ()
    filter: Expr | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    lookups: Mapping[str, object] = field(default_factory=dict)
    ids: tuple[tuple[str, ...], ...] | None = None
    id_field: tuple[str, ...] | None = None
    order: tuple[OrderItem, ...] = ()
    group: tuple[str, ...] = ()
    limit: int | None = None
    offset: int = 0
    include_count: bool = False
    count_only: bool = False
    related: tuple[RelatedRequest, ...] = ()
