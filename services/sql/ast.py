"""The query AST: what a `filter`, `fields`, `order` or `group` parameter means, before any SQL.

One rule: nodes are immutable values and hold names and raw values only;
whether a name exists, may be read, or a value fits its column is decided by
the compiler (`services.sql.compile`), never here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal as TypingLiteral

# --- values -----------------------------------------------------------------

ValueKind = TypingLiteral["string", "number", "boolean", "null", "word"]


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal value as written. `text` is the unquoted, unescaped text.

    kind: "string" (quoted), "number", "boolean" (text is "true"/"false"),
    "null", or "word" (an unquoted bare word, e.g. `status = lead`).
    """

    kind: ValueKind
    text: str


@dataclass(frozen=True, slots=True)
class Param:
    """A `:name` placeholder, filled from the request's `params`."""

    name: str


@dataclass(frozen=True, slots=True)
class Lookup:
    """A `{name}` lookup such as `{user.id}`, filled from the caller's session."""

    name: str


Value = Literal | Param | Lookup

# --- field references --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A column, optionally through a relation and/or into a JSON document.

    `name` is the column (or, with `relation`, the related table's column);
    `relation` is a relationship name (`companies_by_company_id.country`);
    `json_path` are the keys of `attrs->'a'->>'b'` in order, and `json_text`
    is True when the last arrow is `->>` (text) rather than `->` (json).
    """

    name: str
    relation: str | None = None
    json_path: tuple[str, ...] = ()
    json_text: bool = False


# --- filter expressions ----------------------------------------------------

CompareOp = TypingLiteral["=", "!=", ">", ">=", "<", "<="]
LikeOp = TypingLiteral["LIKE", "ILIKE", "CONTAINS", "STARTS WITH", "ENDS WITH"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """`field op value`; `<>`, `EQ`, `NE`, `GT`, `GTE`, `LT`, `LTE` are normalised to `op`.

    `= null` / `!= null` are parsed into IsNull, never into a Comparison.
    """

    field: FieldRef
    op: CompareOp
    value: Value


@dataclass(frozen=True, slots=True)
class InList:
    """`field [NOT] IN (v1, v2, ...)` (at least one value)."""

    field: FieldRef
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Between:
    """`field [NOT] BETWEEN low AND high`."""

    field: FieldRef
    low: Value
    high: Value
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    """`field IS [NOT] NULL`."""

    field: FieldRef
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Like:
    """`field [NOT] LIKE|ILIKE|CONTAINS|STARTS WITH|ENDS WITH value`.

    For CONTAINS / STARTS WITH / ENDS WITH the value is plain text (the
    compiler escapes `%`, `_` and `\\`); for LIKE / ILIKE it is a pattern.
    """

    field: FieldRef
    op: LikeOp
    value: Value
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    """All of `items` (two or more)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of `items` (two or more)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The negation of `item`."""

    item: Expr


Expr = Comparison | InList | Between | IsNull | Like | And | Or | Not

# --- select list, ordering, grouping -------------------------------------------

AggregateFunc = TypingLiteral["COUNT", "SUM", "AVG", "MIN", "MAX"]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """`FUNC(column)` or `COUNT(*)` in `fields`; `column` is None for `*`.

    `alias` is the output key: DreamFactory's spelling, e.g. `COUNT(*)`,
    `SUM(amount)` (the text as written, function upper-cased), unless an
    explicit `AS alias` was given.
    """

    func: AggregateFunc
    column: str | None
    alias: str


SelectItem = str | Aggregate  # a plain column name, or an aggregate


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One `order` term: `column [ASC|DESC] [NULLS FIRST|LAST]` (or an aggregate alias)."""

    column: str
    descending: bool = False
    nulls: TypingLiteral["first", "last"] | None = None


# --- walking filter trees ---------------------------------------------------------


def field_refs(node: Expr) -> Iterator[FieldRef]:
    """Yield every field reference of a filter tree, left to right."""
    if isinstance(node, Comparison | InList | Between | IsNull | Like):
        yield node.field
    elif isinstance(node, Not):
        yield from field_refs(node.item)
    else:
        for item in node.items:
            yield from field_refs(item)


def values_of(node: Expr) -> Iterator[Value]:
    """Yield every value of a filter tree, left to right."""
    if isinstance(node, Comparison | Like):
        yield node.value
    elif isinstance(node, InList):
        yield from node.values
    elif isinstance(node, Between):
        yield from (node.low, node.high)
    elif isinstance(node, Not):
        yield from values_of(node.item)
    elif isinstance(node, And | Or):
        for item in node.items:
            yield from values_of(item)


def lookup_names(node: Expr) -> frozenset[str]:
    """Return the names of the `{lookups}` a filter tree uses."""
    return frozenset(value.name for value in values_of(node) if isinstance(value, Lookup))
