"""The parsers for the `filter`, `fields`, `order`, `group`, `related` and `id_field` parameters.

One rule: text becomes an AST (`services.sql.ast`) of names and raw values or
a `ParseError` saying where it failed — nothing in between. Parsing is a
recursive descent over the tokens of `services.sql.tokens`; no value is ever
kept as SQL, and whether a name exists or may be read is the compiler's
business, not ours.
"""

from __future__ import annotations

from typing import Final

from services.sql.ast import (
    Aggregate,
    AggregateFunc,
    And,
    Between,
    CompareOp,
    Comparison,
    Expr,
    FieldRef,
    InList,
    IsNull,
    Like,
    LikeOp,
    Literal,
    Lookup,
    Not,
    Or,
    OrderItem,
    Param,
    SelectItem,
    Value,
)
from services.sql.tokens import ParseError, Token, TokenKind, TokenStream, expected

__all__ = [
    "MAX_DEPTH",
    "ParseError",
    "parse_fields",
    "parse_filter",
    "parse_group",
    "parse_names",
    "parse_order",
]

MAX_DEPTH: Final = 64  # nested parentheses and NOTs in one filter

_COMPARE_OPS: Final[dict[str, CompareOp]] = {
    "=": "=",
    "!=": "!=",
    "<>": "!=",
    ">": ">",
    ">=": ">=",
    "<": "<",
    "<=": "<=",
}
_WORD_COMPARE_OPS: Final[dict[str, CompareOp]] = {
    "EQ": "=",
    "NE": "!=",
    "GT": ">",
    "GTE": ">=",
    "LT": "<",
    "LTE": "<=",
}
_LIKE_OPS: Final[dict[str, LikeOp]] = {
    "LIKE": "LIKE",
    "ILIKE": "ILIKE",
    "CONTAINS": "CONTAINS",
    "STARTS": "STARTS WITH",
    "ENDS": "ENDS WITH",
}
_AGGREGATES: Final[dict[str, AggregateFunc]] = {
    "COUNT": "COUNT",
    "SUM": "SUM",
    "AVG": "AVG",
    "MIN": "MIN",
    "MAX": "MAX",
}
# Words that shape a filter, so they can be neither a field name nor a bare
# word value (`a = 1 AND AND b = 2` must fail at the second AND, not later).
# TRUE, FALSE and NULL are values of their own. Column names that collide can
# still be used everywhere except a filter.
_RESERVED: Final = frozenset(
    {"AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "BETWEEN", "LIKE", "ILIKE"}
)


def parse_filter(text: str) -> Expr:
    """Parse a `filter` (API.md, "The filter language") into an expression tree.

    Nested ANDs and ORs are flattened into one node; a lone condition is
    returned unwrapped. `= null` / `!= null` become IsNull. Raises ParseError.
    """
    parser = _Parser(text)
    if parser.peek().kind is TokenKind.END:
        raise ParseError("the filter is empty", 0)
    expr = parser.parse_or(depth=0)
    token = parser.peek()
    if token.is_symbol(")"):
        raise ParseError(
            f"unexpected ')' at position {token.position} (no '(' to close)", token.position
        )
    if token.kind is not TokenKind.END:
        raise ParseError(
            f"unexpected {token.describe()} at position {token.position}; "
            "expected AND, OR or the end of the filter",
            token.position,
        )
    return expr


def parse_fields(text: str) -> tuple[SelectItem, ...]:
    """Parse `fields`: column names and aggregates, e.g. `a,b,COUNT(*),MAX(x) AS top`.

    Returns () for "" or "*" (all columns). An aggregate's alias defaults to
    `FUNC(column)` with the function upper-cased. Raises ParseError.
    """
    parser = _Parser(text)
    if parser.peek().is_symbol("*") and parser.peek(1).kind is TokenKind.END:
        return ()
    return parser.comma_list(parser.parse_select_item)


def parse_order(text: str) -> tuple[OrderItem, ...]:
    """Parse `order`: `col [ASC|DESC] [NULLS FIRST|LAST], ...`; "" gives ().

    An aggregate term (`COUNT(*) DESC`) orders by that aggregate's default
    alias, e.g. column "COUNT(*)". Raises ParseError.
    """
    parser = _Parser(text)
    return parser.comma_list(parser.parse_order_item)


def parse_group(text: str) -> tuple[str, ...]:
    """Parse `group`: a comma list of column names; "" gives (). Raises ParseError."""
    parser = _Parser(text)
    return parser.comma_list(lambda: parser.name("a column name"))


def parse_names(text: str) -> tuple[str, ...]:
    """Parse a comma list of names (`related`, `id_field`); "" gives ().

    "*" is allowed only on its own and gives ("*",). Raises ParseError.
    """
    parser = _Parser(text)
    if parser.peek().is_symbol("*") and parser.peek(1).kind is TokenKind.END:
        return ("*",)
    return parser.comma_list(lambda: parser.name("a name"))


class _Parser(TokenStream):
    """The grammar rules, one method each, over the tokens of one parameter."""

    # --- filter -------------------------------------------------------------------

    def parse_or(self, depth: int) -> Expr:
        items = [self.parse_and(depth)]
        while self.peek().is_keyword("OR") or self.peek().is_symbol("||"):
            self.advance()
            items.append(self.parse_and(depth))
        return _join(Or, items)

    def parse_and(self, depth: int) -> Expr:
        items = [self.parse_not(depth)]
        while self.peek().is_keyword("AND") or self.peek().is_symbol("&&"):
            self.advance()
            items.append(self.parse_not(depth))
        return _join(And, items)

    def parse_not(self, depth: int) -> Expr:
        token = self.peek()
        if token.is_keyword("NOT") or token.is_symbol("("):
            if depth >= MAX_DEPTH:
                raise ParseError(
                    f"the filter nests deeper than {MAX_DEPTH} levels at position {token.position}",
                    token.position,
                )
            self.advance()
            if token.kind is TokenKind.WORD:
                return Not(self.parse_not(depth + 1))
            expr = self.parse_or(depth + 1)
            self.expect_symbol(")", context=f"to close the '(' at position {token.position}")
            return expr
        return self.parse_condition()

    def parse_condition(self) -> Expr:
        field = self.parse_field()
        token = self.advance()
        op = _compare_op(token)
        if op is not None:
            value = self.parse_value(after=token)
            if value == Literal("null", "null") and op in ("=", "!="):
                return IsNull(field, negated=op == "!=")
            return Comparison(field, op, value)
        if token.is_keyword("IS"):
            negated = self.peek().is_keyword("NOT")
            if negated:
                self.advance()
            if not self.peek().is_keyword("NULL"):
                raise expected("NULL after 'IS NOT'" if negated else "NULL after 'IS'", self.peek())
            self.advance()
            return IsNull(field, negated=negated)
        negated = token.is_keyword("NOT")
        if negated:
            token = self.advance()
        if token.is_keyword("IN"):
            return InList(field, self.parse_value_list(), negated=negated)
        if token.is_keyword("BETWEEN"):
            low = self.parse_value(after=token)
            and_token = self.peek()
            if not and_token.is_keyword("AND"):
                raise expected("AND after the BETWEEN value", and_token)
            self.advance()
            return Between(field, low, self.parse_value(after=and_token), negated=negated)
        like_op = _LIKE_OPS.get(token.value.upper()) if token.kind is TokenKind.WORD else None
        if like_op is not None:
            if like_op.endswith(" WITH"):
                with_token = self.peek()
                if not with_token.is_keyword("WITH"):
                    raise expected(f"WITH after '{token.raw}'", with_token)
                token = self.advance()
            return Like(field, like_op, self.parse_value(after=token), negated=negated)
        if negated:
            raise expected(
                "IN, BETWEEN, LIKE, ILIKE, CONTAINS, STARTS WITH or ENDS WITH after 'NOT'", token
            )
        raise expected(f"an operator after the field '{_field_text(field)}'", token)

    def parse_field(self) -> FieldRef:
        """`name`, `relation.name`, then any `->key` / `->>key` steps."""
        token = self.peek()
        if token.kind is not TokenKind.WORD or token.value.upper() in _RESERVED:
            raise expected("a field name", token)
        self.advance()
        relation: str | None = None
        name = token.value
        if self.peek().is_symbol("."):
            self.advance()
            column = self.peek()
            if column.kind is not TokenKind.WORD:
                raise expected(f"a column name after '{name}.'", column)
            relation, name = name, self.advance().value
        path: list[str] = []
        json_text = False
        while self.peek().is_symbol("->", "->>"):
            arrow = self.advance()
            if json_text:
                raise ParseError(
                    f"'->>' gives text, so it must be the last step of a JSON path; "
                    f"found '{arrow.value}' at position {arrow.position}",
                    arrow.position,
                )
            json_text = arrow.value == "->>"
            key = self.peek()
            if key.kind is TokenKind.STRING or (
                key.kind is TokenKind.NUMBER and key.value.lstrip("-").isdigit()
            ):
                path.append(self.advance().value)
            else:
                raise expected(f"a quoted key or an array index after '{arrow.value}'", key)
        return FieldRef(name, relation=relation, json_path=tuple(path), json_text=json_text)

    def parse_value(self, *, after: Token) -> Value:
        token = self.peek()
        value: Value
        if token.kind is TokenKind.STRING:
            value = Literal("string", token.value)
        elif token.kind is TokenKind.NUMBER:
            value = Literal("number", token.value)
        elif token.kind is TokenKind.PARAM:
            value = Param(token.value)
        elif token.kind is TokenKind.LOOKUP:
            value = Lookup(token.value)
        elif token.is_keyword("TRUE", "FALSE"):
            value = Literal("boolean", token.value.lower())
        elif token.is_keyword("NULL"):
            value = Literal("null", "null")
        elif token.kind is TokenKind.WORD and token.value.upper() not in _RESERVED:
            value = Literal("word", token.value)
        else:
            raise expected(f"a value after '{after.raw}'", token)
        self.advance()
        return value

    def parse_value_list(self) -> tuple[Value, ...]:
        """`"(" value ("," value)* ")"`, right after IN."""
        opening = self.expect_symbol("(", context="after IN")
        values = [self.parse_value(after=opening)]
        while self.peek().is_symbol(","):
            values.append(self.parse_value(after=self.advance()))
        self.expect_symbol(
            ")", context=f"to close the IN list that opens at position {opening.position}"
        )
        return tuple(values)

    # --- fields and order ---------------------------------------------------

    def parse_select_item(self) -> SelectItem:
        if self._at_aggregate():
            aggregate = self.parse_aggregate()
            if not self.peek().is_keyword("AS"):
                return aggregate
            self.advance()
            alias = self.name("an alias after 'AS'")
            return Aggregate(aggregate.func, aggregate.column, alias)
        name = self.name("a column name")
        token = self.peek()
        if token.is_keyword("AS"):
            raise ParseError(
                f"only aggregates can be renamed with AS; found 'AS' at position {token.position}",
                token.position,
            )
        return name

    def parse_order_item(self) -> OrderItem:
        if self._at_aggregate():
            column = self.parse_aggregate().alias
        else:
            column = self.name("a column name")
        descending = self.peek().is_keyword("DESC")
        if descending or self.peek().is_keyword("ASC"):
            self.advance()
        if not self.peek().is_keyword("NULLS"):
            return OrderItem(column, descending=descending)
        self.advance()
        token = self.peek()
        if not token.is_keyword("FIRST", "LAST"):
            raise expected("FIRST or LAST after NULLS", token)
        self.advance()
        return OrderItem(
            column, descending=descending, nulls="first" if token.is_keyword("FIRST") else "last"
        )

    def parse_aggregate(self) -> Aggregate:
        """`FUNC "(" column | "*" ")"`; the alias is DreamFactory's `FUNC(column)`."""
        func = _AGGREGATES[self.advance().value.upper()]
        self.advance()  # "(", checked by _at_aggregate
        token = self.peek()
        column: str | None
        if token.is_symbol("*"):
            if func != "COUNT":
                raise ParseError(
                    f"only COUNT takes '*'; found {func}(*) at position {token.position}",
                    token.position,
                )
            self.advance()
            column = None
        else:
            column = self.name(f"a column name in {func}(...)")
        self.expect_symbol(")", context=f"to close {func}(")
        return Aggregate(func, column, f"{func}({column or '*'})")

    def _at_aggregate(self) -> bool:
        token = self.peek()
        return (
            token.kind is TokenKind.WORD
            and token.value.upper() in _AGGREGATES
            and self.peek(1).is_symbol("(")
        )


def _field_text(field: FieldRef) -> str:
    """A field reference written back as filter text, e.g. `rel.attrs->'a'->>'b'`."""
    text = f"{field.relation}.{field.name}" if field.relation else field.name
    for index, key in enumerate(field.json_path):
        last = index == len(field.json_path) - 1
        arrow = "->>" if last and field.json_text else "->"
        text += arrow + "'" + key.replace("'", "''") + "'"
    return text


def _compare_op(token: Token) -> CompareOp | None:
    if token.kind is TokenKind.SYMBOL:
        return _COMPARE_OPS.get(token.value)
    if token.kind is TokenKind.WORD:
        return _WORD_COMPARE_OPS.get(token.value.upper())
    return None


def _join(node: type[And] | type[Or], items: list[Expr]) -> Expr:
    """One item as is; several as one `node`, with nested nodes of the same kind flattened."""
    flat: list[Expr] = []
    for item in items:
        if isinstance(item, And | Or) and type(item) is node:
            flat.extend(item.items)
        else:
            flat.append(item)
    return flat[0] if len(flat) == 1 else node(tuple(flat))
