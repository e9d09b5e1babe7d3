"""The query-parameter parsers: filter grammar, fields, order, group and name lists.

No database: these check text -> AST (or ParseError) only.
"""

from __future__ import annotations

import pytest

from services.sql.ast import (
    Aggregate,
    And,
    Between,
    Comparison,
    InList,
    IsNull,
    Like,
    Not,
    Or,
    OrderItem,
)
from services.sql.parse import (
    ParseError,
    parse_fields,
    parse_group,
    parse_names,
    parse_order,
)

EXPR_TYPES = (Comparison, InList, Between, IsNull, Like, And, Or, Not)
RESERVED = {"AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "BETWEEN", "LIKE", "ILIKE"}


# --- fields ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["", "   ", "*", " * "])
def test_fields_empty_or_star_mean_all_columns(source: str) -> None:
    assert parse_fields(source) == ()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a", ("a",)),
        ("a,b", ("a", "b")),
        (" a , b ,c ", ("a", "b", "c")),
        ("count", ("count",)),
        ("COUNT(*)", (Aggregate("COUNT", None, "COUNT(*)"),)),
        ("count(*)", (Aggregate("COUNT", None, "COUNT(*)"),)),
        ("count( * )", (Aggregate("COUNT", None, "COUNT(*)"),)),
        ("COUNT(id)", (Aggregate("COUNT", "id", "COUNT(id)"),)),
        ("sum(Amount)", (Aggregate("SUM", "Amount", "SUM(Amount)"),)),
        ("Avg(x)", (Aggregate("AVG", "x", "AVG(x)"),)),
        ("min(x)", (Aggregate("MIN", "x", "MIN(x)"),)),
        ("MAX(x) AS top", (Aggregate("MAX", "x", "top"),)),
        ("max(x) as top", (Aggregate("MAX", "x", "top"),)),
        (
            "a,b,COUNT(*),SUM(amount),MAX(x) AS top",
            (
                "a",
                "b",
                Aggregate("COUNT", None, "COUNT(*)"),
                Aggregate("SUM", "amount", "SUM(amount)"),
                Aggregate("MAX", "x", "top"),
            ),
        ),
    ],
)
def test_fields_columns_and_aggregates(source: str, expected: tuple[object, ...]) -> None:
    assert parse_fields(source) == expected


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        ("SUM(*)", 4, "only COUNT takes '*'"),
        ("a AS b", 2, "only aggregates can be renamed with AS"),
        ("a,*", 2, "'*' at position 2 is only allowed as the whole list"),
        ("*,a", 0, "'*' at position 0 is only allowed as the whole list"),
        ("a,,b", 2, "expected a column name at position 2, found ','"),
        ("a,", 2, "expected a column name at position 2, found end of input"),
        ("a b", 2, "expected ',' or the end of the list at position 2, found 'b'"),
        ("COUNT(*", 7, "expected ')' at position 7, found end of input (to close COUNT()"),
        ("COUNT()", 6, "expected a column name in COUNT(...) at position 6"),
        ("COUNT(*) AS", 11, "expected an alias after 'AS' at position 11"),
        ("COUNT(*) AS 'x'", 12, "expected an alias after 'AS' at position 12"),
        ("'a'", 0, "expected a column name at position 0"),
        ("a.b", 1, "expected ',' or the end of the list at position 1, found '.'"),
        ("COUNT(DISTINCT x)", 15, "expected ')' at position 15, found 'x'"),
        ("a; DROP TABLE x", 1, "unexpected character ';' at position 1"),
    ],
)
def test_fields_errors(source: str, position: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_fields(source)
    assert info.value.position == position
    assert message in info.value.message


# --- order, group, names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", ()),
        ("a", (OrderItem("a"),)),
        (
            "a, b desc, c asc nulls last",
            (OrderItem("a"), OrderItem("b", True), OrderItem("c", False, "last")),
        ),
        ("a DESC NULLS FIRST", (OrderItem("a", True, "first"),)),
        ("a nulls first", (OrderItem("a", False, "first"),)),
        ("COUNT(*) DESC", (OrderItem("COUNT(*)", True),)),
        ("sum(amount) asc", (OrderItem("SUM(amount)"),)),
        ("top desc", (OrderItem("top", True),)),
        ("desc", (OrderItem("desc"),)),
    ],
)
def test_order_terms(source: str, expected: tuple[OrderItem, ...]) -> None:
    assert parse_order(source) == expected


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        ("a nulls", 7, "expected FIRST or LAST after NULLS at position 7"),
        ("a nulls middle", 8, "expected FIRST or LAST after NULLS at position 8"),
        ("a desc desc", 7, "expected ',' or the end of the list at position 7"),
        ("a,", 2, "expected a column name at position 2"),
        ("*", 0, "'*' at position 0 is only allowed as the whole list"),
        ("a desc; DROP TABLE x", 6, "unexpected character ';'"),
        ("a -1", 2, "expected ',' or the end of the list at position 2"),
        ("SUM(*) DESC", 4, "only COUNT takes '*'"),
    ],
)
def test_order_errors(source: str, position: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_order(source)
    assert info.value.position == position
    assert message in info.value.message


def test_group_is_a_list_of_names() -> None:
    assert parse_group("a, b") == ("a", "b")
    assert parse_group("") == ()


@pytest.mark.parametrize("source", ["*", "a b", "COUNT(*)", "a,", "a.b", "'a'"])
def test_group_errors(source: str) -> None:
    with pytest.raises(ParseError):
        parse_group(source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", ()),
        ("a", ("a",)),
        (
            "customers_by_customer_id, orders_by_customer_id",
            ("customers_by_customer_id", "orders_by_customer_id"),
        ),
        ("*", ("*",)),
        (" * ", ("*",)),
    ],
)
def test_names_list(source: str, expected: tuple[str, ...]) -> None:
    assert parse_names(source) == expected


@pytest.mark.parametrize("source", ["a,*", "*,a", "**", "a,,b", "a b", "a-b", "1a"])
def test_names_errors(source: str) -> None:
    with pytest.raises(ParseError):
        parse_names(source)
