"""The query-parameter parsers: filter grammar, fields, order, group and name lists.

No database: these check text -> AST (or ParseError) only.
"""

from __future__ import annotations

import operator
import random
import re
import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.sql.ast import (
    Aggregate,
    AggregateFunc,
    And,
    Between,
    Comparison,
    Expr,
    FieldRef,
    InList,
    IsNull,
    Like,
    Literal,
    Lookup,
    Not,
    Or,
    OrderItem,
    Param,
    SelectItem,
    Value,
)
from services.sql.parse import (
    ParseError,
    parse_fields,
    parse_filter,
    parse_group,
    parse_names,
    parse_order,
)

EXPR_TYPES = (Comparison, InList, Between, IsNull, Like, And, Or, Not)
RESERVED = {"AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "BETWEEN", "LIKE", "ILIKE"}


# --- property: any text parses or raises ParseError ------------------------------------

FILTER_PIECES = [
    "a", "b.c", "attrs", "->", "->>", "'k'", "0", "-1", "1.5", "1e3", "(", ")", ",", ".", "*",
    "=", "!=", "<>", "<", "<=", ">", ">=", "=>", "==", "EQ", "ne", "AND", "or", "&&", "||",
    "NOT", "IN", "BETWEEN", "IS", "NULL", "true", "LIKE", "ilike", "CONTAINS", "STARTS",
    "WITH", "ENDS", ":p", "{user.id}", "{", "}", "'", '"', "''", "'x''y'", "--", "/*", ";",
    "SELECT", "UNION", "COUNT", "AS", "DESC", "NULLS", "last", " ", "\t", "\x00",
]  # fmt: skip
grammar_text = st.lists(st.sampled_from(FILTER_PIECES), max_size=40).map(" ".join) | st.lists(
    st.sampled_from(FILTER_PIECES), max_size=40
).map("".join)
any_text = st.text(max_size=120) | st.text(alphabet="ab1 ()'\",.=!<>-:{}*&|;", max_size=120)


@settings(max_examples=200, deadline=None)
@given(source=any_text | grammar_text)
def test_any_text_gives_an_expression_or_a_parse_error(source: str) -> None:
    try:
        result: Expr | ParseError = parse_filter(source)
    except ParseError as error:
        result = error
    if isinstance(result, ParseError):
        assert result.position is None or 0 <= result.position <= len(source)
    else:
        assert isinstance(result, EXPR_TYPES)


@settings(max_examples=150, deadline=None)
@given(source=any_text | grammar_text)
def test_any_text_gives_a_list_or_a_parse_error(source: str) -> None:
    for parse in (parse_fields, parse_order, parse_group, parse_names):
        try:
            result = parse(source)
        except ParseError:
            continue
        assert isinstance(result, tuple)


# --- property: rendering a well-formed tree and parsing it gives the tree back ----------

# Built from small pieces rather than st.from_regex, which is several times slower.
IDENT_START = string.ascii_letters + "_"
identifiers = st.builds(
    operator.add,
    st.sampled_from(IDENT_START),
    st.text(IDENT_START + string.digits, max_size=7),
).filter(lambda name: name.upper() not in RESERVED)
digits = st.text(string.digits, min_size=1, max_size=5)
signs = st.sampled_from(["", "-"])
fractions = st.just("") | digits.map(lambda d: "." + d)
exponents = st.just("") | st.builds(
    lambda e, sign, d: e + sign + d, st.sampled_from("eE"), st.sampled_from("+-"), digits
)
mantissas = st.builds(operator.add, digits, fractions) | digits.map(lambda d: "." + d)
numbers = st.builds(lambda sign, m, e: sign + m + e, signs, mantissas, exponents)
safe_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)
values: st.SearchStrategy[Value] = st.one_of(
    safe_text.map(lambda value: Literal("string", value)),
    numbers.map(lambda value: Literal("number", value)),
    st.sampled_from(
        [Literal("boolean", "true"), Literal("boolean", "false"), Literal("null", "null")]
    ),
    identifiers.map(lambda value: Literal("word", value)),
    identifiers.map(Param),
    st.lists(identifiers, min_size=1, max_size=3).map(lambda parts: Lookup(".".join(parts))),
)
json_keys = safe_text | st.builds(operator.add, signs, digits)
field_refs = st.builds(
    lambda name, relation, path, json_text: FieldRef(
        name, relation, tuple(path), json_text and bool(path)
    ),
    identifiers,
    st.none() | identifiers,
    st.lists(json_keys, max_size=3),
    st.booleans(),
)
conditions: st.SearchStrategy[Expr] = st.one_of(
    st.builds(Comparison, field_refs, st.sampled_from(["=", "!=", ">", ">=", "<", "<="]), values),
    st.builds(
        InList, field_refs, st.lists(values, min_size=1, max_size=4).map(tuple), st.booleans()
    ),
    st.builds(Between, field_refs, values, values, st.booleans()),
    st.builds(IsNull, field_refs, st.booleans()),
    st.builds(
        Like,
        field_refs,
        st.sampled_from(["LIKE", "ILIKE", "CONTAINS", "STARTS WITH", "ENDS WITH"]),
        values,
        st.booleans(),
    ),
)
expressions: st.SearchStrategy[Expr] = st.recursive(
    conditions,
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=4).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=4).map(lambda items: Or(tuple(items))),
        children.map(Not),
    ),
    max_leaves=10,
)

OP_SPELLINGS = {
    "=": ["=", "EQ"],
    "!=": ["!=", "<>", "NE"],
    ">": [">", "GT"],
    ">=": [">=", "GTE"],
    "<": ["<", "LT"],
    "<=": ["<=", "LTE"],
}


class Renderer:
    """Writes a tree back as filter text, varying case, spacing, quotes and spellings."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def kw(self, word: str) -> str:
        return self.rnd.choice([word.upper(), word.lower(), word.capitalize()])

    def sp(self) -> str:
        return self.rnd.choice([" ", "  ", "\t", "\n"])

    def value(self, value: Value) -> str:
        if isinstance(value, Param):
            return ":" + value.name
        if isinstance(value, Lookup):
            return "{" + value.name + "}"
        if value.kind == "string":
            quote = self.rnd.choice(["'", '"'])
            return quote + value.text.replace(quote, quote * 2) + quote
        if value.kind in ("boolean", "null"):
            return self.kw(value.text)
        return value.text

    def field(self, ref: FieldRef) -> str:
        out = f"{ref.relation}.{ref.name}" if ref.relation else ref.name
        for index, key in enumerate(ref.json_path):
            last = index == len(ref.json_path) - 1
            arrow = "->>" if last and ref.json_text else "->"
            quoted = "'" + key.replace("'", "''") + "'"
            if re.fullmatch(r"-?[0-9]+", key) and self.rnd.random() < 0.5:
                quoted = key
            out += self.rnd.choice(["", " "]) + arrow + self.rnd.choice(["", " "]) + quoted
        return out

    def negation(self, negated: bool) -> str:
        return self.kw("NOT") + self.sp() if negated else ""

    def condition(self, expr: Expr) -> str:
        sp = self.sp
        if isinstance(expr, Comparison):
            op = self.rnd.choice(OP_SPELLINGS[expr.op])
            return f"{self.field(expr.field)}{sp()}{op}{sp()}{self.value(expr.value)}"
        if isinstance(expr, InList):
            items = ("," + self.rnd.choice(["", " "])).join(self.value(v) for v in expr.values)
            return f"{self.field(expr.field)}{sp()}{self.negation(expr.negated)}{self.kw('IN')}{sp()}({items})"
        if isinstance(expr, Between):
            low, high = self.value(expr.low), self.value(expr.high)
            return (
                f"{self.field(expr.field)}{sp()}{self.negation(expr.negated)}{self.kw('BETWEEN')}"
                f"{sp()}{low}{sp()}{self.kw('AND')}{sp()}{high}"
            )
        if isinstance(expr, IsNull):
            return f"{self.field(expr.field)}{sp()}{self.kw('IS')}{sp()}{self.negation(expr.negated)}{self.kw('NULL')}"
        assert isinstance(expr, Like)
        op = sp().join(self.kw(word) for word in expr.op.split())
        return f"{self.field(expr.field)}{sp()}{self.negation(expr.negated)}{op}{sp()}{self.value(expr.value)}"

    def expr(self, expr: Expr) -> str:
        if isinstance(expr, And | Or):
            word = "AND" if isinstance(expr, And) else "OR"
            joiner = self.kw(word) if self.rnd.random() < 0.7 else ("&&" if word == "AND" else "||")
            parts = []
            for item in expr.items:
                # Same-kind nesting and OR under AND need parentheses; elsewhere they are optional.
                needed = isinstance(item, Or) or (isinstance(item, And) and word == "AND")
                parts.append(
                    self.parens(item) if needed or self.rnd.random() < 0.2 else self.expr(item)
                )
            return (self.sp() + joiner + self.sp()).join(parts)
        if isinstance(expr, Not):
            inner = expr.item
            needed = isinstance(inner, And | Or)
            return self.kw("NOT") + self.sp() + (self.parens(inner) if needed else self.expr(inner))
        return self.condition(expr)

    def parens(self, expr: Expr) -> str:
        return "(" + self.rnd.choice(["", " "]) + self.expr(expr) + self.rnd.choice(["", " "]) + ")"


def normalise(expr: Expr) -> Expr:
    """The tree the parser should give: same-kind And/Or flattened, `= null` as IsNull."""
    if isinstance(expr, And | Or):
        flat: list[Expr] = []
        for item in map(normalise, expr.items):
            flat.extend(item.items if type(item) is type(expr) else (item,))  # type: ignore[union-attr]  # same type as expr
        return type(expr)(tuple(flat))
    if isinstance(expr, Not):
        return Not(normalise(expr.item))
    if (
        isinstance(expr, Comparison)
        and expr.value == Literal("null", "null")
        and expr.op in ("=", "!=")
    ):
        return IsNull(expr.field, negated=expr.op == "!=")
    return expr


def nesting(expr: Expr) -> int:
    if isinstance(expr, And | Or):
        return 1 + max(nesting(item) for item in expr.items)
    if isinstance(expr, Not):
        return 1 + nesting(expr.item)
    return 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions, rnd=st.randoms(use_true_random=False))
def test_rendered_trees_parse_back_to_themselves(expr: Expr, rnd: random.Random) -> None:
    assume(nesting(expr) < 30)
    source = Renderer(rnd).expr(expr)
    assert parse_filter(source) == normalise(expr), source


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expr=expressions, rnd=st.randoms(use_true_random=False), piece=st.sampled_from(FILTER_PIECES)
)
def test_damaged_filters_give_an_expression_or_a_parse_error(
    expr: Expr, rnd: random.Random, piece: str
) -> None:
    source = Renderer(rnd).expr(expr)
    cut = rnd.randrange(len(source) + 1)
    damaged = rnd.choice(
        [source[:cut], source[:cut] + source[cut + 1 :], source[:cut] + piece + source[cut:]]
    )
    try:
        result: Expr | ParseError = parse_filter(damaged)
    except ParseError as error:
        result = error
    assert isinstance(result, (ParseError, *EXPR_TYPES))


AGGREGATE_FUNCS: list[AggregateFunc] = ["COUNT", "SUM", "AVG", "MIN", "MAX"]
aggregates = st.builds(
    lambda func, column, alias: Aggregate(func, column, alias or f"{func}({column or '*'})"),
    st.sampled_from(AGGREGATE_FUNCS),
    identifiers,
    st.none() | identifiers,
) | (st.none() | identifiers).map(lambda alias: Aggregate("COUNT", None, alias or "COUNT(*)"))


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(identifiers | aggregates, min_size=1, max_size=5),
    rnd=st.randoms(use_true_random=False),
)
def test_rendered_fields_parse_back(items: list[SelectItem], rnd: random.Random) -> None:
    renderer = Renderer(rnd)
    parts: list[str] = []
    for item in items:
        if isinstance(item, str):
            parts.append(item)
            continue
        written = f"{renderer.kw(item.func)}({item.column or '*'})"
        if item.alias != f"{item.func}({item.column or '*'})":
            written += f"{renderer.sp()}{renderer.kw('AS')}{renderer.sp()}{item.alias}"
        parts.append(written)
    source = ("," + rnd.choice(["", " "])).join(parts)
    assert parse_fields(source) == tuple(items), source


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(
        st.builds(OrderItem, identifiers, st.booleans(), st.sampled_from([None, "first", "last"])),
        max_size=5,
    ),
    rnd=st.randoms(use_true_random=False),
)
def test_rendered_order_parses_back(items: list[OrderItem], rnd: random.Random) -> None:
    renderer = Renderer(rnd)
    parts = []
    for item in items:
        written = item.column
        if item.descending:
            written += " " + renderer.kw("DESC")
        elif rnd.random() < 0.5:
            written += " " + renderer.kw("ASC")
        if item.nulls:
            written += f" {renderer.kw('NULLS')} {renderer.kw(item.nulls)}"
        parts.append(written)
    source = ", ".join(parts)
    assert parse_order(source) == tuple(items), source
