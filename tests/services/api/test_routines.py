"""`_func` and `_proc`: argument forms, overloads, result shapes, types, errors and role rules."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pytest
from django.test import Client

from config.database import platform_conninfo
from services.api.registry import service_config
from services.models import Service
from services.pools import single_read
from tests.services.api.conftest import Api, grant


def call(api: Api, path: str, body: Any = None, *, method: str = "POST", **params: Any) -> Any:
    """POST (or another verb) a JSON body to a path of the API's service."""
    url = f"/api/v2/{api.service}{path}"
    if params:
        url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
    return api.client.generic(
        method,
        url,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers={"X-API-Key": api.key},
    )


def error(response: Any) -> str:
    return str(response.json()["error"]["message"])


def audit_notes(database: str, prefix: str) -> list[str]:
    with psycopg.connect(platform_conninfo(dbname=database), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT note FROM audit.calls WHERE note LIKE %s ORDER BY id", [f"{prefix}%"]
        ).fetchall()
    return [row[0] for row in rows]


# --- argument forms ------------------------------------------------------------------


def test_scalar_function_with_query_arguments_returns_the_bare_value(api: Api) -> None:
    response = api.get("/_func/add_numbers", a=2, b=3)
    assert response.status_code == 200
    assert response.content == b"5"


def test_an_omitted_argument_takes_its_default(api: Api) -> None:
    assert api.get("/_func/add_numbers", a=2).json() == 3


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/_func/add_numbers(2,3)", 5),
        ("/_func/add_numbers( 2 )", 3),
        ("/_func/sum_all(1, 2, 3)", 6),
    ],
)
def test_inline_arguments_are_positional(api: Api, path: str, expected: int) -> None:
    assert api.get(path).json() == expected


@pytest.mark.parametrize(
    "body",
    [
        {"params": [{"name": "a", "value": 2}, {"name": "b", "value": 5}]},
        {"params": [2, 5]},
        {"params": {"a": 2, "b": 5}},
        {"a": 2, "b": 5},
        [2, 5],
    ],
)
def test_body_argument_forms(api: Api, body: Any) -> None:
    response = call(api, "/_func/add_numbers", body)
    assert response.status_code == 200, response.content
    assert response.json() == 7


def test_body_params_replace_inline_arguments(api: Api) -> None:
    assert call(api, "/_func/add_numbers(1,1)", {"params": [10, 20]}).json() == 30


def test_post_tunnelled_as_get_reads_the_body(api: Api) -> None:
    assert call(api, "/_func/add_numbers", {"a": 4}).json() == 5
    tunnelled = api.client.post(
        f"/api/v2/{api.service}/_func/add_numbers",
        json.dumps({"params": [1, 1]}),
        content_type="application/json",
        headers={"X-API-Key": api.key, "X-HTTP-Method": "GET"},
    )
    assert tunnelled.json() == 2


def test_defaults_in_the_middle_are_skipped_by_naming_later_arguments(api: Api) -> None:
    assert api.get("/_func/make_label", suffix="!").json() == "item-1!"
    assert api.get("/_func/make_label", n=3).json() == "item-3"
    assert api.get("/_func/make_label('box')").json() == "box-1"
    assert call(api, "/_func/make_label", {"params": ["box", 2, "?"]}).json() == "box-2?"


@pytest.mark.parametrize(
    ("path", "body", "params"),
    [
        ("/_func/sum_all", {"params": {"xs": [1, 2, 3]}}, {}),
        ("/_func/sum_all", {"params": [1, 2, 3]}, {}),
        ("/_func/sum_all", None, {"xs": "1,2,3"}),
        ("/_func/sum_all(6)", None, {}),
    ],
)
def test_variadic_arguments(api: Api, path: str, body: Any, params: dict[str, Any]) -> None:
    response = call(api, path, body, **params) if body else api.get(path, **params)
    assert response.json() == 6


def test_repeated_query_parameters_make_an_array(api: Api) -> None:
    response = api.client.get(
        f"/api/v2/{api.service}/_func/sum_all?xs=4&xs=5", headers={"X-API-Key": api.key}
    )
    assert response.json() == 9


def test_unnamed_arguments_are_positional(api: Api) -> None:
    assert api.get("/_func/unnamed_pair(5)").json() == "5a"
    assert api.get("/_func/unnamed_pair(5, 'b')").json() == "5b"


def test_schema_qualified_function(api: Api) -> None:
    assert api.get("/_func/extra.shout", words="hi").json() == "HI"


# --- overloads -------------------------------------------------------------------------


def test_overloads_are_told_apart_by_argument_names_and_counts(api: Api) -> None:
    assert api.get("/_func/greet", name="Ann").json() == "hello Ann"
    assert api.get("/_func/greet", name="Ann", punctuation="!").json() == "hello Ann!"
    assert api.get("/_func/greet('Ann', '.')").json() == "hello Ann."


def test_overloads_the_arguments_cannot_tell_apart_are_a_clear_400(api: Api) -> None:
    response = api.get("/_func/pick", a=1)
    assert response.status_code == 400
    assert error(response).startswith('The call of function "pick" is ambiguous')
    assert "pick(a integer)" in error(response)
    assert "pick(a text)" in error(response)


def test_no_overload_fitting_lists_the_forms(api: Api) -> None:
    response = api.get("/_func/greet", nickname="x")
    assert response.status_code == 400
    assert error(response) == (
        'No form of function "greet" takes the arguments given. '
        "Its forms: greet(name text); greet(name text, punctuation text)."
    )


# --- result shapes ------------------------------------------------------------------


def test_set_returning_function_returns_resource(api: Api) -> None:
    body = api.get("/_func/books_by_author", p_author_id=1).json()
    assert [book["title"] for book in body["resource"]] == [
        "The Dispossessed",
        "The Lathe of Heaven",
    ]
    assert set(body["resource"][0]) == {"id", "title", "author_id", "published", "price"}
    assert "meta" not in body


def test_fields_filter_order_limit_offset_apply_to_the_rows(api: Api) -> None:
    response = api.get(
        "/_func/books_by_author",
        p_author_id=1,
        fields="id,title",
        filter="price > 5 AND title LIKE 'The%'",
        order="id desc",
        limit=1,
        offset=1,
    )
    assert response.json() == {"resource": [{"id": 1, "title": "The Dispossessed"}]}


def test_filter_values_are_bound_not_spliced(api: Api) -> None:
    response = api.get("/_func/books_by_author", p_author_id=1, filter="title = 'x'' OR 1=1 --'")
    assert response.json() == {"resource": []}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter": "nope = 1"}, "Invalid or unparsable field in filter request: 'nope'"),
        ({"filter": "price = 'cheap'"}, "Invalid value for field 'price'."),
        ({"fields": "nope"}, "Invalid field requested: nope"),
        ({"order": "nope"}, "Invalid field 'nope' in order by clause."),
        ({"filter": "price >"}, "Invalid or unparsable filter request."),
    ],
)
def test_bad_result_options_are_400(api: Api, params: dict[str, Any], message: str) -> None:
    response = api.get("/_func/books_by_author", p_author_id=1, **params)
    assert response.status_code == 400
    assert error(response).startswith(message)


def test_returns_table_and_setof_scalar(api: Api) -> None:
    stats = api.get("/_func/price_stats")
    assert stats.content == b'{"resource":[{"books":5,"total":43.74}]}'
    numbers = api.get("/_func/numbers", n=4, filter="numbers > 1", order="numbers desc")
    assert numbers.json() == {"resource": [{"numbers": 4}, {"numbers": 3}, {"numbers": 2}]}


def test_rows_cut_at_the_service_maximum_report_the_next_offset(api: Api) -> None:
    Service.objects.filter(name=api.service).update(max_records=3)
    body = api.get("/_func/numbers", n=10).json()
    assert body == {
        "resource": [{"numbers": 1}, {"numbers": 2}, {"numbers": 3}],
        "meta": {"next": 3},
    }


def test_composite_function_returns_an_object(api: Api) -> None:
    response = api.get("/_func/first_book")
    assert response.content == (
        b'{"id":1,"title":"The Dispossessed","author_id":1,"published":"1974-05-01","price":12.50}'
    )
    assert api.get("/_func/first_book", fields="title").json() == {"title": "The Dispossessed"}


def test_out_arguments_of_a_function_make_an_object(api: Api) -> None:
    assert api.get("/_func/split_number", whole=7).json() == {"half": 3, "rest": 1}


def test_void_function_answers_success(api: Api, target_database: str) -> None:
    response = call(api, "/_func/note_call", {"p_note": "void-call"})
    assert response.json() == {"success": True}
    assert audit_notes(target_database, "void-call") == ["void-call"]


def test_wrapper_puts_the_result_under_a_key(api: Api) -> None:
    assert api.get("/_func/add_numbers", a=1, wrapper="sum").json() == {"sum": 2}
    assert api.get("/_func/numbers", n=1, wrapper="data").json() == {"data": [{"numbers": 1}]}


# --- types ------------------------------------------------------------------------------


def test_types_out_follow_the_table_rules(api: Api) -> None:
    response = api.get("/_func/sample_values")
    assert b'"big":123456789012345678901234567890.123456789' in response.content
    (row,) = response.json()["resource"]
    assert row["blob"] == "AAH/"
    assert row["at"] == "2024-02-29T11:45:00+00:00"
    assert row["span"] == "P1DT2H"
    assert row["doc"] == {"plan": "pro"}
    assert row["ids"] == [1, 2, 3]
    assert row["feeling"] == "happy"
    assert api.get("/_func/blob_of", p="hi").json() == "aGk="


def test_types_in_are_cast_to_the_argument_types(api: Api) -> None:
    assert api.get("/_func/echo_inet", addr="10.0.0.1").json() == "10.0.0.1"
    response = call(
        api, "/_func/describe_mood", {"m": "ok", "tags": ["a", 'b"c'], "at": "2024-02-29"}
    )
    assert response.json() == 'ok:a+b"c:2024-02-29'


@pytest.mark.parametrize(
    ("path", "params", "argument"),
    [
        ("/_func/add_numbers", {"a": "x"}, "a"),
        ("/_func/add_numbers", {"a": "99999999999"}, "a"),
        ("/_func/echo_inet", {"addr": "not-an-address"}, "addr"),
        ("/_func/describe_mood", {"m": "angry"}, "m"),
        ("/_func/describe_mood", {"m": "ok", "at": "yesterday"}, "at"),
        ("/_func/unnamed_pair", {"params": '["x"]'}, "$1"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_400_naming_the_argument(
    api: Api, path: str, params: dict[str, Any], argument: str
) -> None:
    response = api.get(path, **params)
    assert response.status_code == 400
    assert error(response) == f"Invalid value for argument '{argument}'."


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"b": "1"}, "Missing required argument 'a' for function \"add_numbers\"."),
        ({"a": "1", "zzz": "2"}, "Unknown argument 'zzz' for function \"add_numbers\"."),
        ({"params": "[1, 2, 3]"}, 'Too many arguments for function "add_numbers": it takes 2'),
        ({"params": "[1]", "a": "2"}, "Argument 'a' of function \"add_numbers\" is given twice."),
    ],
)
def test_argument_mistakes_are_400(api: Api, params: dict[str, Any], message: str) -> None:
    response = api.get("/_func/add_numbers", **params)
    assert response.status_code == 400
    assert error(response).startswith(message)


@pytest.mark.parametrize("body", ['"AAA"', "5", "true", "null"])
def test_a_body_that_is_no_object_or_list_is_a_400(api: Api, body: str) -> None:
    response = api.client.post(
        f"/api/v2/{api.service}/_func/add_numbers?a=1&b=2",
        body,
        content_type="application/json",
        headers={"X-API-Key": api.key},
    )
    assert response.status_code == 400, response.content
    assert error(response) == "Invalid request body: expected an object or a list of arguments."
    assert call(api, "/_func/add_numbers", a=1, b=2).json() == 3  # no body at all


def test_an_error_the_routine_raises_is_a_400_without_sql(api: Api) -> None:
    response = api.get("/_func/fail_with", message="boom")
    assert response.status_code == 400
    assert error(response) == 'Function "fail_with" failed: boom'


def test_a_missing_inline_parenthesis_is_a_400(api: Api) -> None:
    response = api.get("/_func/add_numbers(1")
    assert response.status_code == 400


# --- not found ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/_func/nope", 'Function "nope" does not exist in the database.'),
        ("/_func/nope(1,2)", 'Function "nope" does not exist in the database.'),
        ("/_func/double_it", 'Function "double_it" does not exist in the database.'),
        ("/_proc/add_numbers", 'Procedure "add_numbers" does not exist in the database.'),
        ("/_func/audit.calls", 'Function "audit.calls" does not exist in the database.'),
    ],
)
def test_unknown_routines_are_404(api: Api, path: str, message: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert error(response) == message


# --- procedures ------------------------------------------------------------------------


def test_procedure_returns_its_inout_values(api: Api) -> None:
    body = {"params": [{"name": "factor", "value": 3}, {"name": "value", "value": 5}]}
    response = call(api, "/_proc/double_it", body)
    assert response.status_code == 200, response.content
    assert response.json() == {"value": 15}
    assert api.get("/_proc/double_it(2, 21)").json() == {"value": 42}


def test_procedure_returns_its_out_values_rendered_like_columns(api: Api) -> None:
    response = api.get("/_proc/count_books", p_author_id=1)
    assert response.json() == {"n": 2, "since": "1971-01-01"}
    # DreamFactory clients list OUT parameters too; their values are ignored.
    body = {"params": [{"name": "p_author_id", "value": 2}, {"name": "n", "param_type": "OUT"}]}
    assert call(api, "/_proc/count_books", body).json() == {"n": 1, "since": "1961-06-01"}


def test_procedure_that_commits_inside_works(api: Api, target_database: str) -> None:
    response = call(api, "/_proc/note_twice", {"p_note": "commit-test"})
    assert response.status_code == 200, response.content
    assert response.json() == {"total": 2}
    assert audit_notes(target_database, "commit-test") == ["commit-test 1", "commit-test 2"]


def test_procedure_without_out_values_answers_success(api: Api, target_database: str) -> None:
    assert call(api, "/_proc/note_once", {"p_note": "once"}).json() == {"success": True}
    assert audit_notes(target_database, "once") == ["once"]


def test_procedure_connections_go_back_to_the_pool_read_only(
    api: Api, target_database: str
) -> None:
    Service.objects.filter(name=api.service).update(pool_min_size=1, pool_max_size=1)
    for _ in range(3):
        assert call(api, "/_proc/note_once", {"p_note": "again"}).status_code == 200
    assert call(api, "/_proc/double_it", {"params": ["x", 1]}).status_code == 400
    config = service_config(api.service)
    assert config is not None
    shown = single_read(
        config, lambda conn: conn.execute("SHOW default_transaction_read_only").fetchone()
    )
    assert shown == ("on",)
    assert audit_notes(target_database, "again") == ["again"] * 3


def test_procedure_argument_errors(api: Api) -> None:
    response = call(api, "/_proc/double_it", {"params": {"factor": "x", "value": 1}})
    assert response.status_code == 400
    assert error(response) == "Invalid value for argument 'factor'."
    response = call(api, "/_proc/double_it", {"params": {"factor": 1}})
    assert error(response) == "Missing required argument 'value' for procedure \"double_it\"."


# --- listing ----------------------------------------------------------------------------


def test_listing_functions_and_procedures(api: Api) -> None:
    functions = api.get("/_func", as_list="true").json()["resource"]
    assert "add_numbers" in functions
    assert "extra.shout" in functions
    assert "double_it" not in functions
    procedures = api.get("/_proc", as_list="true").json()["resource"]
    assert procedures == ["count_books", "double_it", "note_once", "note_twice"]
    entries = api.get("/_proc").json()["resource"]
    assert entries[0] == {
        "name": "count_books",
        "label": "Count Books",
        "access": ["GET", "POST", "PUT", "PATCH", "DELETE"],
    }


def test_service_lists_proc_and_func_resources(api: Api) -> None:
    assert api.get("", as_list="true").json() == {
        "resource": ["_schema", "_table", "_proc", "_func", "_spec"]
    }


# --- the demo database ---------------------------------------------------------------


def test_demo_routines(demo_api: Api) -> None:
    assert demo_api.get("/_func/company_won_amount", p_company_id=999999).json() == 0
    top = demo_api.get("/_func/top_companies", p_limit=2).json()["resource"]
    assert len(top) <= 2
    assert set(top[0]) == {"company_id", "name", "won_amount"}
    response = call(demo_api, "/_proc/close_deal", {"p_deal_id": 999999, "p_won": True})
    assert response.status_code == 400
    assert error(response) == 'Procedure "close_deal" failed: deal 999999 does not exist'


# --- role rules ------------------------------------------------------------------------------


@pytest.fixture
def caller_for(
    client: Client, target_service: Service
) -> Callable[[Sequence[dict[str, Any]]], Api]:
    """An Api client whose app's default role holds `rules` on the target service."""

    def build(rules: Sequence[dict[str, Any]]) -> Api:
        return Api(client, grant(target_service, rules).key, target_service.name)

    return build


def test_a_granted_verb_calls_and_another_verb_is_403(
    caller_for: Callable[[Sequence[dict[str, Any]]], Api],
) -> None:
    caller = caller_for([{"component": "_func/add_numbers", "verbs": ["GET"]}])
    assert caller.get("/_func/add_numbers", a=1).json() == 2
    response = call(caller, "/_func/add_numbers", {"a": 1})
    assert response.status_code == 403
    assert error(response) == (
        "Access Forbidden. POST access to component '_func/add_numbers' of service "
        f"'{caller.service}' is not allowed by this user's role."
    )


def test_a_routine_without_any_verb_is_404_like_a_missing_one(
    caller_for: Callable[[Sequence[dict[str, Any]]], Api],
) -> None:
    caller = caller_for([{"component": "_func/add_numbers", "verbs": ["GET"]}])
    hidden = caller.get("/_func/price_stats")
    missing = caller.get("/_func/no_such_function")
    assert hidden.status_code == missing.status_code == 404
    assert error(hidden) == 'Function "price_stats" does not exist in the database.'
    assert caller.get("/_proc/double_it(1,1)").status_code == 404
    assert caller.get("/_func", as_list="true").json() == {"resource": ["add_numbers"]}
    assert caller.get("/_proc", as_list="true").json() == {"resource": []}


def test_wildcards_grant_routines(caller_for: Callable[[Sequence[dict[str, Any]]], Api]) -> None:
    caller = caller_for(
        [
            {"component": "_proc/*", "verbs": ["POST"]},
            {"component": "_func/numbers", "verbs": ["GET"]},
            {"component": "*", "verbs": ["GET"]},
        ]
    )
    assert call(caller, "/_proc/double_it", {"params": [2, 2]}).json() == {"value": 4}
    assert caller.get("/_proc/double_it(2,2)").status_code == 403
    assert caller.get("/_func/add_numbers", a=1).json() == 2
    listed = caller.get("/_proc").json()["resource"]
    assert {"name": "double_it", "label": "Double It", "access": ["POST"]} in listed
