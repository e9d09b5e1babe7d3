"""The query-parameter parsers: filter grammar, fields, order, group and name lists.

No database: these check text -> AST (or ParseError) only.
"""

from __future__ import annotations

import pytest

from services.sql.ast import (
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
    Param,
    Value,
)
from services.sql.parse import (
    ParseError,
    parse_filter,
)

EXPR_TYPES = (Comparison, InList, Between, IsNull, Like, And, Or, Not)
RESERVED = {"AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "BETWEEN", "LIKE", "ILIKE"}


def eq(name: str, value: Value) -> Comparison:
    return Comparison(FieldRef(name), "=", value)


def num(text: str) -> Literal:
    return Literal("number", text)


def text(value: str) -> Literal:
    return Literal("string", value)


def parse_error(source: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_filter(source)
    return info.value


# --- comparisons and operators ---------------------------------------------------


@pytest.mark.parametrize(
    ("source", "op"),
    [
        ("a = 1", "="),
        ("a != 1", "!="),
        ("a <> 1", "!="),
        ("a > 1", ">"),
        ("a >= 1", ">="),
        ("a < 1", "<"),
        ("a <= 1", "<="),
        ("a EQ 1", "="),
        ("a NE 1", "!="),
        ("a GT 1", ">"),
        ("a GTE 1", ">="),
        ("a LT 1", "<"),
        ("a LTE 1", "<="),
        ("a lte 1", "<="),
        ("a Ne 1", "!="),
    ],
)
def test_comparison_operators_are_normalised(source: str, op: str) -> None:
    assert parse_filter(source) == Comparison(FieldRef("a"), op, num("1"))  # type: ignore[arg-type]  # op is a CompareOp


def test_symbol_operators_need_no_spaces() -> None:
    assert parse_filter("a>=-1") == Comparison(FieldRef("a"), ">=", num("-1"))
    assert parse_filter("a<>'x'") == Comparison(FieldRef("a"), "!=", text("x"))


@pytest.mark.parametrize(
    ("source", "negated"),
    [
        ("a = null", False),
        ("a = NULL", False),
        ("a EQ Null", False),
        ("a != null", True),
        ("a <> null", True),
        ("a NE NULL", True),
    ],
)
def test_equals_null_means_is_null(source: str, negated: bool) -> None:
    assert parse_filter(source) == IsNull(FieldRef("a"), negated=negated)


def test_quoted_null_is_a_string_not_is_null() -> None:
    assert parse_filter("a = 'null'") == eq("a", text("null"))


def test_ordering_against_null_stays_a_comparison_for_the_compiler() -> None:
    assert parse_filter("a > null") == Comparison(FieldRef("a"), ">", Literal("null", "null"))


# --- values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("a = 'hello world'", text("hello world")),
        ("a = 'it''s'", text("it's")),
        ("a = ''''", text("'")),
        ("a = ''", text("")),
        ('a = "double quoted"', text("double quoted")),
        ('a = "say ""hi"""', text('say "hi"')),
        ('a = "it\'s"', text("it's")),
        ("a = 'back\\slash'", text("back\\slash")),
        ("a = 'AND b = 1'", text("AND b = 1")),
        ("a = 'ünïcødé ✓'", text("ünïcødé ✓")),
        ("a = 0", num("0")),
        ("a = 42", num("42")),
        ("a = -7", num("-7")),
        ("a = 3.14", num("3.14")),
        ("a = -0.5", num("-0.5")),
        ("a = .5", num(".5")),
        ("a = 1e10", num("1e10")),
        ("a = 2.5E-3", num("2.5E-3")),
        ("a = -1e+2", num("-1e+2")),
        ("a = true", Literal("boolean", "true")),
        ("a = TRUE", Literal("boolean", "true")),
        ("a = False", Literal("boolean", "false")),
        ("a = :status", Param("status")),
        ("a = :_p1", Param("_p1")),
        ("a = {user.id}", Lookup("user.id")),
        ("a = {role.name}", Lookup("role.name")),
        ("a = {custom}", Lookup("custom")),
        ("status = lead", Literal("word", "lead")),
        ("status = Lead_2", Literal("word", "Lead_2")),
        ("a = eq", Literal("word", "eq")),
    ],
)
def test_values_are_read_as_written(source: str, value: Value) -> None:
    parsed = parse_filter(source)
    assert isinstance(parsed, Comparison)
    assert parsed.value == value


# --- field references -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "ref"),
    [
        ("name = 1", FieldRef("name")),
        ("_x9 = 1", FieldRef("_x9")),
        ("companies_by_company_id.country = 1", FieldRef("country", "companies_by_company_id")),
        ("attrs->'a' = 1", FieldRef("attrs", json_path=("a",))),
        ("attrs->>'plan' = 1", FieldRef("attrs", json_path=("plan",), json_text=True)),
        ("attrs->'a'->>'b' = 1", FieldRef("attrs", json_path=("a", "b"), json_text=True)),
        ("attrs->'a'->'b' = 1", FieldRef("attrs", json_path=("a", "b"))),
        ("attrs -> 'a' ->> 'b' = 1", FieldRef("attrs", json_path=("a", "b"), json_text=True)),
        ('attrs->"a b" = 1', FieldRef("attrs", json_path=("a b",))),
        ("attrs->'it''s' = 1", FieldRef("attrs", json_path=("it's",))),
        ("tags->0 = 1", FieldRef("tags", json_path=("0",))),
        ("tags->-1 = 1", FieldRef("tags", json_path=("-1",))),
        ("tags->2->>'x' = 1", FieldRef("tags", json_path=("2", "x"), json_text=True)),
        ("rel.attrs->>'a' = 1", FieldRef("attrs", "rel", ("a",), json_text=True)),
        ("contains = 1", FieldRef("contains")),
    ],
)
def test_field_references(source: str, ref: FieldRef) -> None:
    parsed = parse_filter(source)
    assert isinstance(parsed, Comparison)
    assert parsed.field == ref


# --- IN, BETWEEN, IS NULL, LIKE family ----------------------------------------------


def test_in_list_with_mixed_values() -> None:
    assert parse_filter("a IN (1, 'x', :p, {user.id}, null, true, w)") == InList(
        FieldRef("a"),
        (
            num("1"),
            text("x"),
            Param("p"),
            Lookup("user.id"),
            Literal("null", "null"),
            Literal("boolean", "true"),
            Literal("word", "w"),
        ),
    )


def test_in_list_with_one_value_and_no_spaces() -> None:
    assert parse_filter("a in(1)") == InList(FieldRef("a"), (num("1"),))


def test_not_in() -> None:
    assert parse_filter("a NOT IN (1,2)") == InList(FieldRef("a"), (num("1"), num("2")), True)


def test_between_and_not_between() -> None:
    assert parse_filter("a BETWEEN 1 AND 5") == Between(FieldRef("a"), num("1"), num("5"))
    assert parse_filter("a not between 'a' and 'm'") == Between(
        FieldRef("a"), text("a"), text("m"), negated=True
    )


def test_between_and_is_not_a_conjunction() -> None:
    assert parse_filter("a BETWEEN 1 AND 5 AND b = 2") == And(
        (Between(FieldRef("a"), num("1"), num("5")), eq("b", num("2")))
    )


def test_is_null_and_is_not_null() -> None:
    assert parse_filter("a IS NULL") == IsNull(FieldRef("a"))
    assert parse_filter("a is not null") == IsNull(FieldRef("a"), negated=True)


@pytest.mark.parametrize(
    ("source", "op", "negated"),
    [
        ("a LIKE 'x%'", "LIKE", False),
        ("a ILIKE 'x%'", "ILIKE", False),
        ("a CONTAINS 'x%'", "CONTAINS", False),
        ("a STARTS WITH 'x%'", "STARTS WITH", False),
        ("a ENDS WITH 'x%'", "ENDS WITH", False),
        ("a NOT LIKE 'x%'", "LIKE", True),
        ("a not ilike 'x%'", "ILIKE", True),
        ("a Not Contains 'x%'", "CONTAINS", True),
        ("a NOT starts   with 'x%'", "STARTS WITH", True),
        ("a NOT ENDS\nWITH 'x%'", "ENDS WITH", True),
    ],
)
def test_like_family(source: str, op: str, negated: bool) -> None:
    assert parse_filter(source) == Like(FieldRef("a"), op, text("x%"), negated)  # type: ignore[arg-type]  # op is a LikeOp


# --- logic and precedence -----------------------------------------------------------

A, B, C, D = (eq(name, num("1")) for name in "abcd")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a=1 OR b=1 AND c=1", Or((A, And((B, C))))),
        ("a=1 AND b=1 OR c=1", Or((And((A, B)), C))),
        ("(a=1 OR b=1) AND c=1", And((Or((A, B)), C))),
        ("a=1 || b=1 && c=1", Or((A, And((B, C))))),
        ("a=1 and b=1 or c=1 and d=1", Or((And((A, B)), And((C, D))))),
        ("NOT a=1 AND b=1", And((Not(A), B))),
        ("NOT (a=1 AND b=1)", Not(And((A, B)))),
        ("NOT NOT a=1", Not(Not(A))),
        ("not(a=1)", Not(A)),
    ],
)
def test_and_binds_tighter_than_or_and_not_tighter_than_and(source: str, expected: Expr) -> None:
    assert parse_filter(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a=1 AND b=1 AND c=1", And((A, B, C))),
        ("a=1 AND (b=1 AND c=1)", And((A, B, C))),
        ("(a=1 AND b=1) AND (c=1 AND d=1)", And((A, B, C, D))),
        ("a=1 OR (b=1 OR (c=1 OR d=1))", Or((A, B, C, D))),
        ("(a=1 OR b=1) OR c=1", Or((A, B, C))),
        ("a=1 OR (b=1 AND c=1)", Or((A, And((B, C))))),
    ],
)
def test_nested_and_or_of_the_same_kind_are_flattened(source: str, expected: Expr) -> None:
    assert parse_filter(source) == expected


def test_a_single_condition_is_not_wrapped() -> None:
    assert parse_filter("((a = 1))") == A
    assert parse_filter("  a = 1  ") == A


def test_bare_conditions_need_no_parentheses() -> None:
    assert parse_filter("a='x' OR b='y'") == Or((eq("a", text("x")), eq("b", text("y"))))


def test_keywords_are_case_insensitive() -> None:
    lower = parse_filter(
        "a = 1 and not b in (1) or c between 1 and 2 and d is not null and e starts with 'x'"
    )
    upper = parse_filter(
        "a = 1 AND NOT b IN (1) OR c BETWEEN 1 AND 2 AND d IS NOT NULL AND e STARTS WITH 'x'"
    )
    mixed = parse_filter(
        "a = 1 aNd NoT b iN (1) Or c BeTwEeN 1 AnD 2 aND d Is NoT nULL and e StArTs WiTh 'x'"
    )
    assert lower == upper == mixed


def test_a_long_flat_chain_does_not_recurse() -> None:
    source = " OR ".join(["a=1"] * 1400)
    parsed = parse_filter(source)
    assert isinstance(parsed, Or)
    assert len(parsed.items) == 1400


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        ("a = 1 AND b = 2)", 15, "unexpected ')' at position 15"),
        ("name = 'abc", 7, "unterminated string starting at position 7"),
        ('name = "abc', 7, "unterminated string starting at position 7"),
        ("name = 'it''s", 7, "unterminated string starting at position 7"),
        ("a = 1 AND b =", 13, "expected a value after '=' at position 13"),
        ("a = 1 AND b = )", 14, "expected a value after '=' at position 14, found ')'"),
        ("a => 1", 2, "unknown operator '=>' at position 2"),
        ("a == 1", 2, "unknown operator '==' at position 2"),
        ("a =< 1", 2, "unknown operator '=<' at position 2"),
        ("a ! 1", 2, "unknown operator '!' at position 2"),
        ("a = 1 & b = 2", 6, "unknown operator '&' at position 6"),
        (
            "(a = 1",
            6,
            "expected ')' at position 6, found end of input (to close the '(' at position 0)",
        ),
        (
            "((a = 1)",
            8,
            "expected ')' at position 8, found end of input (to close the '(' at position 0)",
        ),
        ("()", 1, "expected a field name at position 1, found ')'"),
        ("", 0, "the filter is empty"),
        ("   ", 0, "the filter is empty"),
        ("a", 1, "expected an operator after the field 'a' at position 1, found end of input"),
        ("a 1", 2, "expected an operator after the field 'a' at position 2, found '1'"),
        ("a = 1 b = 2", 6, "unexpected 'b' at position 6; expected AND, OR"),
        ("a = 1 AND", 9, "expected a field name at position 9"),
        ("a = 1 OR OR b = 1", 9, "expected a field name at position 9, found 'OR'"),
        ("a = 1 AND AND b = 2", 10, "expected a field name at position 10, found 'AND'"),
        ("AND = 1", 0, "expected a field name at position 0, found 'AND'"),
        ("1 = a", 0, "expected a field name at position 0, found '1'"),
        ("'a' = 1", 0, "expected a field name at position 0, found string 'a'"),
        ('"a" = 1', 0, 'expected a field name at position 0, found string "a"'),
        ("a = AND", 4, "expected a value after '=' at position 4, found 'AND'"),
        ("a IN ()", 6, "expected a value after '(' at position 6"),
        ("a IN (1,)", 8, "expected a value after ',' at position 8"),
        (
            "a IN (1 2)",
            8,
            "expected ')' at position 8, found '2' (to close the IN list that opens at position 5)",
        ),
        ("a IN 1", 5, "expected '(' at position 5, found '1' (after IN)"),
        ("a BETWEEN 1", 11, "expected AND after the BETWEEN value at position 11"),
        ("a BETWEEN 1 OR 2", 12, "expected AND after the BETWEEN value at position 12"),
        ("a BETWEEN 1 AND", 15, "expected a value after 'AND' at position 15"),
        ("a IS 1", 5, "expected NULL after 'IS' at position 5"),
        ("a IS NOT", 8, "expected NULL after 'IS NOT' at position 8"),
        ("a STARTS 'x'", 9, "expected WITH after 'STARTS' at position 9"),
        ("a NOT = 1", 6, "after 'NOT' at position 6, found '='"),
        ("a = 2024-01-01", 4, "invalid number '2024-01-01' at position 4"),
        ("a = 12:30", 4, "invalid number '12:30' at position 4"),
        ("a = 10px", 4, "invalid number '10px' at position 4"),
        ("a = 1.", 4, "invalid number '1.' at position 4"),
        ("a = 1e", 4, "invalid number '1e' at position 4"),
        ("a = {user id}", 4, "invalid lookup at position 4"),
        ("a = {}", 4, "invalid lookup at position 4"),
        ("a = {user..id}", 4, "invalid lookup at position 4"),
        ("a = {1x}", 4, "invalid lookup at position 4"),
        ("a = {user.id", 4, "unterminated lookup starting at position 4"),
        ("a = :", 4, "expected a parameter name after ':' at position 4"),
        ("a = :1", 4, "expected a parameter name after ':' at position 4"),
        ("a->>'x'->'y' = 1", 7, "must be the last step of a JSON path; found '->' at position 7"),
        ("a->b = 1", 3, "expected a quoted key or an array index after '->' at position 3"),
        ("a->1.5 = 1", 3, "expected a quoted key or an array index after '->' at position 3"),
        ("a. = 1", 3, "expected a column name after 'a.' at position 3"),
        ("a.b.c = 1", 3, "expected an operator after the field 'a.b' at position 3, found '.'"),
        ("a = 1 -- x", 6, "comments ('--') are not allowed at position 6"),
        ("a = 1 /* x */", 6, "comments ('/*') are not allowed at position 6"),
        ("a = 1;", 5, "unexpected character ';' at position 5"),
        ("é = 1", 0, "unexpected character 'é' at position 0"),
        ("a = 'x\x00'", 6, "invalid character '\\x00' at position 6"),
        ("a = '\ud800'", 5, "invalid character"),
    ],
)
def test_errors_say_what_and_where(source: str, position: int, message: str) -> None:
    error = parse_error(source)
    assert error.position == position
    assert message in error.message
    assert str(error) == error.message


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(ParseError, ValueError)


def test_long_tokens_are_shortened_in_messages() -> None:
    error = parse_error("a = 1 " + "x" * 500)
    assert len(error.message) < 150


def test_input_longer_than_ten_thousand_characters_is_refused() -> None:
    error = parse_error("a = '" + "x" * 10_000 + "'")
    assert error.position is None
    assert "longer than 10000" in error.message


def test_input_of_exactly_ten_thousand_characters_is_parsed() -> None:
    source = "a = '" + "x" * (10_000 - 6) + "'"
    assert len(source) == 10_000
    assert parse_filter(source) == eq("a", text("x" * 9994))


def test_sixty_four_levels_of_nesting_are_allowed() -> None:
    assert parse_filter("(" * 64 + "a = 1" + ")" * 64) == A
    parsed = parse_filter("NOT " * 64 + "a = 1")
    for _ in range(64):
        assert isinstance(parsed, Not)
        parsed = parsed.item
    assert parsed == A


@pytest.mark.parametrize(
    "source",
    [
        "(" * 65 + "a = 1" + ")" * 65,
        "NOT " * 65 + "a = 1",
        "NOT (" * 33 + "a = 1" + ")" * 33,
    ],
)
def test_nesting_deeper_than_sixty_four_levels_is_refused(source: str) -> None:
    error = parse_error(source)
    assert "deeper than 64" in error.message
    assert error.position is not None


@pytest.mark.parametrize("opener", ["(", "NOT ", "NOT ("])
def test_pathological_nesting_is_a_parse_error_not_a_recursion_error(opener: str) -> None:
    source = (opener * 10_000)[:9_990] + "a = 1"
    with pytest.raises(ParseError):
        parse_filter(source)


# --- injection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "1=1; DROP TABLE x",
        "a = 1; DROP TABLE x",
        "a = 1 ; DROP TABLE x --",
        "' OR 1=1 --",
        "a = '' OR 1=1 --",
        "a = 'x' OR 'a'='a'",
        "a = 1 OR 1=1",
        "a = 1 OR TRUE",
        "a = 1 /* */",
        "/* */ a = 1",
        "a = 1 UNION SELECT password FROM users",
        "a = 1 UNION ALL SELECT 1",
        "a IN (SELECT id FROM users)",
        "a = (SELECT 1)",
        "(SELECT 1) = 1",
        "a = 1 AND (SELECT pg_sleep(10)) IS NULL",
        "a = pg_sleep(10)",
        "pg_sleep(10) = 1",
        "a = chr(65)",
        "a = E'\\x41'",
        "a = $1",
        "a = $$x$$",
        "a::text = 'x'",
        "a = 'x'::text",
        "a = `x`",
        "a = 1 OR b LIKE '%' ESCAPE '\\'",
        "a = 'x\\' OR 1=1 --'",
        "attrs->'a' = 1; DELETE FROM t",
        "a = 1\x00; DROP TABLE x",
        "a = (1)",
        "a IN ((1))",
    ],
)
def test_sql_injection_is_a_parse_error(source: str) -> None:
    parse_error(source)


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("a = '1; DROP TABLE x'", "1; DROP TABLE x"),
        ("a = ''' OR 1=1 --'", "' OR 1=1 --"),
        ('a = "x"" OR 1=1 --"', 'x" OR 1=1 --'),
        ("a = '/* */ UNION SELECT 1'", "/* */ UNION SELECT 1"),
        ("a = '(SELECT 1)'", "(SELECT 1)"),
    ],
)
def test_sql_injection_inside_a_string_stays_a_literal(source: str, value: str) -> None:
    assert parse_filter(source) == eq("a", text(value))
