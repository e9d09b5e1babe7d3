"""The transforms (push and, where reversible, pull), the expression evaluator, and check_mapping."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from services.sql.schema import Column
from sync.hubspot.types import PropertyDefinition, PropertyOption
from sync.jobspec import FieldMapping
from sync.transforms import (
    TRANSFORMS,
    ExpressionError,
    TransformError,
    check_mapping,
    evaluate,
    format_value,
    mapping_problems,
    transform_pull,
    transform_push,
)
from sync.transforms.expression import MAX_SIZE

ROW: dict[str, Any] = {"first_name": "Ada", "last_name": "Lovelace", "tags": ["a", "b"]}
MIDNIGHT_2024_02_29 = 1_709_164_800_000


def push(name: str, value: Any, options: dict[str, Any] | None = None) -> str | None:
    return transform_push(name, value, ROW, options or {})


def pull(name: str, value: Any, options: dict[str, Any] | None = None) -> Any:
    return transform_pull(name, value, options or {})


def test_the_registry_holds_the_documented_set() -> None:
    assert set(TRANSFORMS) == {
        "lowercase_trim",
        "date_midnight_utc",
        "epoch_millis",
        "enum_map",
        "boolean",
        "join",
        "default",
        "expression",
    }
    reversible = {name for name, transform in TRANSFORMS.items() if transform.reversible}
    assert reversible == {"date_midnight_utc", "epoch_millis", "enum_map", "boolean", "join"}


# --- no transform ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("text", "text"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (Decimal("12.50"), "12.5"),
        (Decimal("1E+3"), "1000"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (date(2024, 2, 29), "2024-02-29"),
        (datetime(2020, 2, 29, 3, 30, 17, 5000, tzinfo=UTC), "2020-02-29T03:30:17.005Z"),
        (
            datetime(2020, 2, 29, 5, 30, tzinfo=timezone(timedelta(hours=2))),
            "2020-02-29T03:30:00.000Z",
        ),
        (["a", None, "b"], "a;b"),
        ({"b": 1, "a": [1]}, '{"a":[1],"b":1}'),
    ],
)
def test_values_without_a_transform_become_hubspot_strings(
    value: Any, expected: str | None
) -> None:
    assert push("", value) == expected


def test_a_value_past_hubspots_string_limit_is_refused() -> None:
    with pytest.raises(TransformError, match="at most 65536"):
        push("", "x" * 65_537)
    assert push("", "x" * 65_536) == "x" * 65_536


def test_not_a_number_has_no_hubspot_form() -> None:
    with pytest.raises(TransformError, match="not a finite number"):
        format_value(float("nan"))


def test_an_unknown_transform_is_an_error_both_ways() -> None:
    with pytest.raises(TransformError, match="unknown transform 'shout'"):
        push("shout", "a")
    with pytest.raises(TransformError, match="unknown transform 'shout'"):
        pull("shout", "a")


# --- lowercase_trim ---


def test_lowercase_trim() -> None:
    assert push("lowercase_trim", "  Ada@Example.COM \n") == "ada@example.com"
    assert push("lowercase_trim", "   ") == ""
    assert push("lowercase_trim", None) is None
    with pytest.raises(TransformError, match="lowercase_trim takes text, not number 5"):
        push("lowercase_trim", 5)
    with pytest.raises(TransformError, match="cannot be reversed"):
        pull("lowercase_trim", "ada@example.com")


# --- date_midnight_utc ---


def test_date_midnight_utc_pushes_midnight_utc_epoch_milliseconds() -> None:
    assert push("date_midnight_utc", date(2024, 2, 29)) == str(MIDNIGHT_2024_02_29)
    assert push("date_midnight_utc", "2024-02-29") == str(MIDNIGHT_2024_02_29)
    assert push("date_midnight_utc", date(1969, 12, 31)) == "-86400000"
    assert push("date_midnight_utc", None) is None
    assert push("date_midnight_utc", "") is None


def test_date_midnight_utc_takes_a_timestamp_by_its_utc_date() -> None:
    late_in_tokyo = datetime(
        2024, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=9))
    )  # 16:00 UTC 29th
    assert push("date_midnight_utc", late_in_tokyo) == str(MIDNIGHT_2024_02_29)
    naive = datetime(2024, 2, 29, 23, 59)  # noqa: DTZ001  # naive on purpose: counts as UTC
    assert push("date_midnight_utc", naive) == str(MIDNIGHT_2024_02_29)
    assert push("date_midnight_utc", "2024-02-29T23:59:59Z") == str(MIDNIGHT_2024_02_29)


def test_date_midnight_utc_refuses_what_is_not_a_date() -> None:
    with pytest.raises(TransformError, match="'tomorrow' is not an ISO 8601 date"):
        push("date_midnight_utc", "tomorrow")
    with pytest.raises(TransformError, match="expected a date or timestamp, got number 17"):
        push("date_midnight_utc", 17)


def test_date_midnight_utc_pulls_hubspots_forms_back_to_a_date() -> None:
    assert pull("date_midnight_utc", "2024-02-29") == date(2024, 2, 29)
    assert pull("date_midnight_utc", str(MIDNIGHT_2024_02_29)) == date(2024, 2, 29)
    assert pull("date_midnight_utc", "2024-02-29T00:00:00.000Z") == date(2024, 2, 29)
    assert pull("date_midnight_utc", "") is None
    assert pull("date_midnight_utc", None) is None
    with pytest.raises(TransformError):
        pull("date_midnight_utc", "29/02/2024")


# --- epoch_millis ---


def test_epoch_millis_round_trips_a_timestamp() -> None:
    moment = datetime(2020, 2, 29, 3, 30, 17, 865000, tzinfo=UTC)
    sent = push("epoch_millis", moment)
    assert sent == "1582947017865"
    assert pull("epoch_millis", sent) == moment
    assert pull("epoch_millis", "2020-02-29T03:30:17.865Z") == moment


def test_epoch_millis_edge_cases() -> None:
    naive = datetime(1970, 1, 1)  # noqa: DTZ001  # naive on purpose: counts as UTC
    assert push("epoch_millis", naive) == "0"
    assert push("epoch_millis", date(2024, 2, 29)) == str(MIDNIGHT_2024_02_29)
    assert push("epoch_millis", "2020-02-29T05:30:17.865+02:00") == "1582947017865"
    assert push("epoch_millis", None) is None
    assert pull("epoch_millis", None) is None
    with pytest.raises(TransformError, match="epoch_millis takes a timestamp, not boolean True"):
        push("epoch_millis", True)
    with pytest.raises(TransformError, match="out of range"):
        pull("epoch_millis", "99999999999999999999")


# --- enum_map ---

STATUS_MAP = {"values": {"new": "NEW", "open": "OPEN", "1": "IN_PROGRESS", "true": "CONNECTED"}}


def test_enum_map_maps_values_to_options_and_back() -> None:
    assert push("enum_map", "new", STATUS_MAP) == "NEW"
    assert push("enum_map", 1, STATUS_MAP) == "IN_PROGRESS"
    assert push("enum_map", True, STATUS_MAP) == "CONNECTED"
    assert push("enum_map", None, STATUS_MAP) is None
    assert pull("enum_map", "OPEN", STATUS_MAP) == "open"
    assert pull("enum_map", "", STATUS_MAP) is None


def test_enum_map_refuses_values_it_does_not_map() -> None:
    with pytest.raises(TransformError, match="'closed' has no HubSpot option in the value map"):
        push("enum_map", "closed", STATUS_MAP)
    with pytest.raises(TransformError, match="HubSpot option 'BAD_TIMING' is not in the value map"):
        pull("enum_map", "BAD_TIMING", STATUS_MAP)
    with pytest.raises(TransformError, match="no HubSpot option"):
        push("enum_map", "new", {})


# --- boolean ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "true"), (False, "false"), (1, "true"), (0, "false"), (" Yes ", "true"),
     ("f", "false"), ("OFF", "false"), (None, None), ("", None)],
)  # fmt: skip
def test_boolean_pushes_true_or_false(value: Any, expected: str | None) -> None:
    assert push("boolean", value) == expected


def test_boolean_refuses_other_values_and_pulls_back() -> None:
    with pytest.raises(TransformError, match="'maybe' is not a boolean"):
        push("boolean", "maybe")
    with pytest.raises(TransformError, match="2 is not a boolean"):
        push("boolean", 2)
    assert pull("boolean", "true") is True
    assert pull("boolean", "false") is False
    assert pull("boolean", "") is None
    with pytest.raises(TransformError):
        pull("boolean", "sometimes")


# --- join ---


def test_join_joins_arrays_for_multiple_checkboxes() -> None:
    assert push("join", ["ball", "rope"]) == "ball;rope"
    assert push("join", ("ball", None, 3)) == "ball;3"
    assert push("join", []) == ""
    assert push("join", None) is None
    assert push("join", ["a", "b"], {"separator": ", "}) == "a, b"
    assert pull("join", "ball;rope") == ["ball", "rope"]
    assert pull("join", "") == []
    assert pull("join", "a, b", {"separator": ", "}) == ["a", "b"]


def test_join_refuses_what_it_cannot_join_faithfully() -> None:
    with pytest.raises(TransformError, match="join takes an array, not text 'ball'"):
        push("join", "ball")
    with pytest.raises(TransformError, match="item 'a;b' contains the separator ';'"):
        push("join", ["a;b", "c"])


# --- default ---


def test_default_fills_null_or_blank_values() -> None:
    options = {"value": "unknown"}
    assert push("default", None, options) == "unknown"
    assert push("default", "  ", options) == "unknown"
    assert push("default", "Ada", options) == "Ada"
    assert push("default", 0, options) == "0"
    assert push("default", None, {"value": False}) == "false"
    with pytest.raises(TransformError, match="cannot be reversed"):
        pull("default", "unknown", options)


# --- expression ---


def test_expression_sees_value_and_row() -> None:
    options = {"expression": "f\"{row['first_name']} {row['last_name']}\".upper()"}
    assert push("expression", None, options) == "ADA LOVELACE"
    assert push("expression", "ada", {"expression": "value.title() if value else 'n/a'"}) == "Ada"
    assert push("expression", 3, {"expression": "value * 2 + 1"}) == "7"
    assert push("expression", None, {"expression": "len(row['tags']) > 1"}) == "true"
    assert push("expression", 2.5, {"expression": "f'{value:.2f}'"}) == "2.50"
    assert push("expression", "x", {"expression": "None"}) is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("value.__class__", "attribute '__class__' is not allowed"),
        ("().__class__.__bases__", "attribute '__bases__' is not allowed"),
        ("'{0.__class__}'.format(value)", "attribute 'format' is not allowed"),
        ("__import__('os')", "unknown name '__import__'"),
        ("open('/etc/passwd')", "unknown name 'open'"),
        ("[x for x in value]", "ListComp is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("(x := 1)", "NamedExpr is not allowed"),
        ("value = 1", "syntax error"),
        ("", "the expression is empty"),
        ("f'{value:>1000000}'", "format spec not allowed"),
    ],
)
def test_expression_refuses_what_is_not_allowed(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(source, value="a", row={})


def test_expression_refuses_methods_of_other_types_at_run_time() -> None:
    # `count` is allowed on text; on a date it is not.
    with pytest.raises(ExpressionError, match="date has no allowed attribute 'count'"):
        evaluate("value.count('x')", value=date(2024, 1, 1), row={})


@pytest.mark.parametrize(
    "source",
    [
        "'x' * 10**9",
        "value * 200000",
        "value.replace('', value * 1000)",
        "value.zfill(10**8)",
        "9 ** 9 ** 9",
        "'%s' % value",
        "''.join([value * 1000] * 1000)",
        "(value * 1000).join([value] * 1000)",
        "str([value * 999] * 1000)",
        "[[value] * 1000] * 1000",
        "sum([[value]] * 10, [])",
        "-" * 1500 + "1",
    ],
)
def test_expression_cannot_build_huge_values(source: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(source, value="ab" * 50, row={})
    assert MAX_SIZE == 100_000


def test_expression_can_read_long_values_of_the_record() -> None:
    long_text = "x" * (MAX_SIZE + 10)
    assert evaluate("value[:3] + str(len(value))", value=long_text, row={}) == "xxx100010"
    assert evaluate("sum(row['n'])", value=None, row={"n": [1, 2.5]}) == 3.5


def test_expression_refuses_keyword_unpacking() -> None:
    with pytest.raises(ExpressionError, match="\\*\\*-arguments are not allowed"):
        evaluate("str(**row)", value=None, row={})


def test_expression_failures_name_the_python_error() -> None:
    with pytest.raises(TransformError, match="ZeroDivisionError: division by zero"):
        push("expression", 1, {"expression": "value / 0"})
    with pytest.raises(TransformError, match="KeyError: 'missing'"):
        push("expression", 1, {"expression": "row['missing']"})
    with pytest.raises(TransformError, match=re.escape('expression needs {"expression"')):
        push("expression", 1, {})


# --- check_mapping ---


def column(name: str, kind: str, type_name: str = "", **extra: Any) -> Column:
    return Column(
        name=name,
        position=1,
        type_name=type_name or kind,
        base_type=type_name or kind,
        json_kind=kind,  # type: ignore[arg-type]  # test data
        nullable=True,
        **extra,
    )


def prop(name: str, kind: str, *options: str, **extra: Any) -> PropertyDefinition:
    return PropertyDefinition(
        name=name,
        label=name,
        type=kind,
        field_type=extra.pop("field_type", "text"),
        options=tuple(PropertyOption(label=value, value=value) for value in options),
        **extra,
    )


LEAD_STATUS = prop("hs_lead_status", "enumeration", "NEW", "OPEN", field_type="radio")


def problems(
    mapping: FieldMapping, col: Column, definition: PropertyDefinition
) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in mapping_problems(mapping, col, definition)]


def test_fitting_mappings_have_no_problems() -> None:
    assert (
        check_mapping(
            FieldMapping("email", "email"), column("email", "string"), prop("email", "string")
        )
        == []
    )
    assert (
        check_mapping(
            FieldMapping("born", "date_of_birth", "date_midnight_utc"),
            column("born", "datetime", "timestamptz"),
            prop("date_of_birth", "date"),
        )
        == []
    )
    assert (
        check_mapping(
            FieldMapping("toys", "toys", "join", direction="push"),
            column("toys", "array", "text[]"),
            prop("toys", "enumeration", "ball", field_type="checkbox"),
        )
        == []
    )


def test_type_mismatch_names_the_property_and_suggests_a_transform() -> None:
    found = problems(
        FieldMapping("signed_up", "date_of_birth"),
        column("signed_up", "datetime", "timestamp with time zone"),
        prop("date_of_birth", "date"),
    )
    assert found == [
        (
            "property",
            "type mismatch: column 'signed_up' is datetime (timestamp with time zone) but HubSpot "
            "property 'date_of_birth' is date; use the date_midnight_utc transform",
        )
    ]


def test_enum_labels_must_be_options() -> None:
    lead = column("lead", "string", "lead_state", enum_labels=("NEW", "weird"))
    found = problems(FieldMapping("lead", "hs_lead_status"), lead, LEAD_STATUS)
    assert found[0][0] == "property"
    assert "unknown enum option" in found[0][1]
    assert "'weird'" in found[0][1]


def test_enum_map_options_must_exist_and_cover_the_enum() -> None:
    lead = column("lead", "string", "lead_state", enum_labels=("NEW", "weird"))
    mapping = FieldMapping(
        "lead", "hs_lead_status", "enum_map", {"values": {"NEW": "NEW", "x": "NOPE"}}, "push"
    )
    messages = dict(problems(mapping, lead, LEAD_STATUS))
    assert list(messages) == ["options"]
    found = [p.message for p in mapping_problems(mapping, lead, LEAD_STATUS)]
    assert any("'NOPE' is not an option of 'hs_lead_status'" in text for text in found)
    assert any("'weird' of column 'lead' have no entry" in text for text in found)


def test_a_many_to_one_enum_map_cannot_pull() -> None:
    mapping = FieldMapping(
        "s", "hs_lead_status", "enum_map", {"values": {"a": "NEW", "b": "NEW"}}, "both"
    )
    found = check_mapping(mapping, column("s", "string"), LEAD_STATUS)
    assert found == [
        "several values map to 'NEW': a pull could not tell them apart; make the mapping "
        "push-only or the map one-to-one"
    ]


def test_transforms_that_do_not_fit_are_reported_on_the_transform() -> None:
    assert problems(
        FieldMapping("name", "firstname", "join"),
        column("name", "string"),
        prop("firstname", "string"),
    ) == [
        ("transform", "join does not fit column 'name' (string (string)); it takes array columns")
    ]
    found = problems(
        FieldMapping("when", "closedate", "date_midnight_utc"),
        column("when", "date"),
        prop("closedate", "number"),
    )
    assert found[0][0] == "transform"
    assert "date_midnight_utc does not fit HubSpot property" in found[0][1]
    found = problems(
        FieldMapping("email", "email", "lowercase_trim", direction="both"),
        column("email", "string"),
        prop("email", "string"),
    )
    assert found == [
        (
            "transform",
            "lowercase_trim cannot be reversed, so the mapping cannot pull; set its direction to push",
        )
    ]


def test_join_needs_a_multiple_choice_property() -> None:
    found = check_mapping(
        FieldMapping("tags", "hs_lead_status", "join", direction="push"),
        column("tags", "array", "text[]"),
        LEAD_STATUS,
    )
    assert found == [
        "join sends several values, but 'hs_lead_status' takes one (radio); only checkbox properties take several"
    ]


def test_bad_options_are_reported_on_the_options() -> None:
    assert problems(
        FieldMapping("a", "b", "expression", {"expression": "value.__dict__"}, "push"),
        column("a", "string"),
        prop("b", "string"),
    ) == [("options", "expression: attribute '__dict__' is not allowed (at character 7)")]
    assert (
        problems(
            FieldMapping("a", "b", "default", {}, "push"),
            column("a", "string"),
            prop("b", "string"),
        )[0][0]
        == "options"
    )


def test_read_only_properties_and_generated_columns() -> None:
    assert problems(
        FieldMapping("created", "createdate", direction="push"),
        column("created", "datetime"),
        prop("createdate", "datetime", read_only_value=True),
    ) == [("property", "HubSpot property 'createdate' is read-only; a mapping to it can only pull")]
    assert problems(
        FieldMapping("full", "firstname", direction="pull"),
        column("full", "string", is_generated=True, auto=True),
        prop("firstname", "string"),
    ) == [("column", "column 'full' is filled by the database; a mapping to it can only push")]
