"""Schema changes through `_schema`: create, alter and drop tables and fields, transactions, access."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from django.test import Client

from config.database import platform_conninfo
from services.models import Service
from tests.conftest import scratch_database
from tests.services.api.conftest import grant, make_service

INJECTION = 'a"; drop table x; --'


@pytest.fixture(scope="session")
def ddl_database(
    worker_suffix: str, django_db_setup: None, django_db_blocker: Any
) -> Iterator[str]:
    """An empty database of this worker's own, for tables the tests create and drop."""
    with scratch_database(f"sg_test_ddl_{worker_suffix}", django_db_blocker) as name:
        yield name


def sql(database: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement directly (as the platform's superuser); return its rows."""
    with psycopg.connect(platform_conninfo(dbname=database), autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def ddl_service(db: None, ddl_database: str, worker_suffix: str) -> Iterator[Service]:
    """A service on the DDL database; every table is gone again after the test."""
    yield make_service(f"ddl-{worker_suffix}".replace("_", "-")[:60], ddl_database)
    sql(
        ddl_database,
        "DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT USAGE ON SCHEMA public TO PUBLIC",
    )


@dataclass
class SchemaApi:
    """Calls /api/v2/{service} with one API key and JSON bodies."""

    client: Client
    key: str
    service: str

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        url = f"/api/v2/{self.service}{path}"
        if params:
            url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        send = getattr(self.client, method)
        if body is None:
            return send(url, headers={"X-API-Key": self.key})
        return send(
            url, json.dumps(body), content_type="application/json", headers={"X-API-Key": self.key}
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.call("get", path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("post", path, body, **params)

    def put(self, path: str, body: Any = None) -> Any:
        return self.call("put", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.call("patch", path, body)

    def delete(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("delete", path, body, **params)


@pytest.fixture
def api(client: Client, admin_key: str, ddl_service: Service) -> SchemaApi:
    return SchemaApi(client, admin_key, ddl_service.name)


@pytest.fixture
def caller_with(client: Client, ddl_service: Service) -> Callable[..., SchemaApi]:
    """Build a role from (component, verbs) rules on the service, an app for it, and a caller."""

    def build(rules: Sequence[tuple[str, list[str]]]) -> SchemaApi:
        specs = [{"component": component, "verbs": verbs} for component, verbs in rules]
        return SchemaApi(client, grant(ddl_service, specs).key, ddl_service.name)

    return build


def error(response: Any) -> str:
    return str(response.json()["error"]["message"])


def fields_of(api: SchemaApi, table: str) -> dict[str, dict[str, Any]]:
    response = api.get(f"/_schema/{table}")
    assert response.status_code == 200, response.content
    return {field["name"]: field for field in response.json()["field"]}


EVERY_TYPE: list[dict[str, Any]] = [
    {"name": "id", "type": "id"},
    {
        "name": "title",
        "type": "string",
        "size": 80,
        "allow_null": False,
        "is_unique": True,
        "default": "untitled",
        "description": "What it is called",
    },
    {"name": "c_text", "type": "text"},
    {"name": "c_integer", "type": "integer", "is_index": True},
    {"name": "c_bigint", "type": "bigint"},
    {"name": "c_smallint", "type": "smallint"},
    {"name": "c_boolean", "type": "boolean", "default": True},
    {"name": "c_float", "type": "float"},
    {"name": "c_double", "type": "double"},
    {"name": "c_decimal", "type": "decimal", "precision": 10, "scale": 2},
    {"name": "c_money", "type": "money"},
    {"name": "c_date", "type": "date"},
    {"name": "c_time", "type": "time"},
    {"name": "c_datetime", "type": "datetime"},
    {"name": "c_timestamp", "type": "timestamp"},
    {"name": "created", "type": "timestamp_on_create"},
    {"name": "updated", "type": "timestamp_on_update"},
    {"name": "c_user", "type": "user_id"},
    {"name": "c_user_created", "type": "user_id_on_create"},
    {"name": "c_binary", "type": "binary"},
    {"name": "c_uuid", "type": "uuid"},
    {"name": "c_json", "type": "json"},
    {"name": "c_jsonb", "type": "jsonb", "default": {"plan": "free"}},
    {
        "name": "owner_id",
        "type": "reference",
        "ref_table": "owners",
        "ref_field": "id",
        "ref_on_delete": "CASCADE",
    },
    {"name": "c_raw", "db_type": "character varying(12)"},
]


def test_a_table_with_every_simple_type_is_readable_at_once(
    api: SchemaApi, ddl_database: str
) -> None:
    body = {
        "resource": [
            {"name": "owners", "field": [{"name": "id", "type": "id"}]},
            {"name": "todo", "label": "To do", "description": "Things", "field": EVERY_TYPE},
        ]
    }
    response = api.post("/_schema", body)
    assert response.status_code == 200, response.content
    assert response.json() == {"resource": [{"name": "owners"}, {"name": "todo"}]}

    # No wait: the very next requests see both tables.
    assert api.get("/_table/todo").json()["resource"] == []
    assert "todo" in api.get("/_schema", as_list="true").json()["resource"]
    described = api.get("/_schema/todo").json()
    assert described["description"] == "Things"
    assert described["primary_key"] == ["id"]
    fields = {field["name"]: field for field in described["field"]}
    assert [name for name in fields] == [field["name"] for field in EVERY_TYPE]
    assert fields["id"]["type"] == "id"
    assert fields["id"]["auto_increment"] is True
    assert fields["title"]["db_type"] == "character varying(80)"
    assert fields["title"]["allow_null"] is False
    assert fields["title"]["is_unique"] is True
    assert fields["title"]["description"] == "What it is called"
    assert "untitled" in fields["title"]["default"]
    expected_db_types = {
        "c_text": "text",
        "c_integer": "integer",
        "c_bigint": "bigint",
        "c_smallint": "smallint",
        "c_boolean": "boolean",
        "c_float": "real",
        "c_double": "double precision",
        "c_decimal": "numeric(10,2)",
        "c_money": "money",
        "c_date": "date",
        "c_time": "time without time zone",
        "c_datetime": "timestamp without time zone",
        "c_timestamp": "timestamp without time zone",
        "created": "timestamp with time zone",
        "updated": "timestamp with time zone",
        "c_user": "integer",
        "c_user_created": "integer",
        "c_binary": "bytea",
        "c_uuid": "uuid",
        "c_json": "json",
        "c_jsonb": "jsonb",
        "owner_id": "bigint",
        "c_raw": "character varying(12)",
    }
    assert {name: fields[name]["db_type"] for name in expected_db_types} == expected_db_types
    assert fields["c_decimal"]["precision"] == 10
    assert fields["c_decimal"]["scale"] == 2
    assert "now()" in fields["created"]["default"]
    assert fields["created"]["allow_null"] is True
    assert fields["owner_id"]["is_foreign_key"] is True
    assert fields["owner_id"]["ref_table"] == "owners"
    assert fields["owner_id"]["ref_field"] == "id"
    assert [r["name"] for r in described["related"]] == ["owners_by_owner_id"]
    index = sql(ddl_database, "SELECT indexname FROM pg_indexes WHERE tablename = 'todo'")
    assert ("todo_c_integer_idx",) in index
    on_delete = sql(
        ddl_database,
        "SELECT confdeltype FROM pg_constraint WHERE conrelid = 'todo'::regclass AND contype = 'f'",
    )
    assert on_delete == [("c",)]

    sql(ddl_database, "INSERT INTO owners DEFAULT VALUES; INSERT INTO todo (owner_id) VALUES (1)")
    row = api.get("/_table/todo").json()["resource"][0]
    assert row["id"] == 1
    assert row["title"] == "untitled"
    assert row["c_boolean"] is True
    assert row["c_jsonb"] == {"plan": "free"}
    assert row["created"] is not None


def test_fields_are_added_altered_and_dropped(api: SchemaApi, ddl_database: str) -> None:
    created = api.post(
        "/_schema/notes",
        {"field": [{"name": "id", "type": "id"}, {"name": "body", "type": "string", "size": 20}]},
    )
    assert created.status_code == 200, created.content
    assert created.json() == {"name": "notes"}
    sql(ddl_database, "INSERT INTO notes (body) VALUES ('one'), (NULL)")

    added = api.patch(
        "/_schema/notes", {"field": [{"name": "rank", "type": "integer", "default": 0}]}
    )
    assert added.status_code == 200, added.content
    assert [row["rank"] for row in api.get("/_table/notes").json()["resource"]] == [0, 0]

    # Type, nullability and default of one field, through the field path.
    sql(ddl_database, "UPDATE notes SET body = 'two' WHERE body IS NULL")
    altered = api.patch(
        "/_schema/notes/body", {"type": "text", "allow_null": False, "default": "n/a"}
    )
    assert altered.status_code == 200, altered.content
    assert altered.json() == {"name": "body"}
    body = fields_of(api, "notes")["body"]
    assert (body["db_type"], body["allow_null"]) == ("text", False)
    assert "n/a" in body["default"]
    widened = api.put("/_schema/notes/_field/rank", {"type": "bigint", "allow_null": True})
    assert widened.status_code == 200, widened.content
    assert fields_of(api, "notes")["rank"]["db_type"] == "bigint"
    assert api.get("/_schema/notes/_field/rank").json()["db_type"] == "bigint"

    # Sending fields' current definitions back changes nothing.
    before = fields_of(api, "notes")
    echoed = [{k: v for k, v in f.items() if k != "default"} for f in before.values()]
    same = api.patch("/_schema/notes", {"field": [{"name": "id", "type": "id"}, *echoed]})
    assert same.status_code == 200, same.content
    assert fields_of(api, "notes") == before

    dropped = api.delete("/_schema/notes/rank")
    assert dropped.status_code == 200, dropped.content
    assert dropped.json() == {"success": True}
    assert "rank" not in fields_of(api, "notes")
    assert "rank" not in api.get("/_table/notes").json()["resource"][0]

    # PUT replaces the field list: fields not given are dropped.
    api.post("/_schema/notes/_field", {"resource": [{"name": "extra", "type": "text"}]})
    assert "extra" in fields_of(api, "notes")
    replaced = api.put(
        "/_schema/notes",
        {"field": [{"name": "id", "type": "id"}, {"name": "body", "type": "text"}]},
    )
    assert replaced.status_code == 200, replaced.content
    assert list(fields_of(api, "notes")) == ["id", "body"]


def test_a_dropped_table_is_gone_at_once(api: SchemaApi) -> None:
    api.post("/_schema", [{"name": "doomed", "field": [{"name": "id", "type": "id"}]}])
    assert api.get("/_table/doomed").status_code == 200
    response = api.delete("/_schema/doomed")
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True}
    assert api.get("/_table/doomed").status_code == 404
    assert api.get("/_schema/doomed").status_code == 404
    again = api.delete("/_schema/doomed")
    assert again.status_code == 404
    assert error(again) == 'Table "doomed" does not exist in the database.'


def test_tables_are_dropped_by_ids(api: SchemaApi) -> None:
    for name in ("one", "two"):
        api.post(f"/_schema/{name}", {"field": [{"name": "id", "type": "id"}]})
    response = api.delete("/_schema", ids="one,two")
    assert response.status_code == 200, response.content
    assert response.json() == {"resource": [{"name": "one"}, {"name": "two"}]}
    assert api.get("/_schema", as_list="true").json()["resource"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "No data in schema create request."),
        (
            [{"name": "t", "field": [{"name": "x", "type": "blob"}]}],
            "Invalid type 'blob' for field 'x'.",
        ),
        (
            [{"name": INJECTION, "field": [{"name": "id", "type": "id"}]}],
            f"Invalid table name '{INJECTION}'.",
        ),
        (
            [{"name": "t", "field": [{"name": INJECTION, "type": "text"}]}],
            f"Invalid field name '{INJECTION}'.",
        ),
        (
            [{"name": "t", "field": [{"name": "x", "db_type": "text; drop table victims"}]}],
            "Invalid db_type for field 'x'.",
        ),
        (
            [{"name": "t", "field": [{"name": "x", "db_type": "int default (pg_sleep(1))"}]}],
            "Invalid db_type for field 'x'.",
        ),
        (
            [{"name": "t", "field": [{"name": "x", "type": "reference", "ref_table": "nope"}]}],
            "Referenced table 'nope' of field 'x' does not exist.",
        ),
        (
            [{"name": "t", "field": [{"name": "x", "type": "text", "auto_increment": True}]}],
            "Field 'x' must have an integer type to auto-increment.",
        ),
        ([{"name": "t", "field": []}], "Table 't' needs at least one field."),
        (
            [{"name": "t", "field": [{"name": "x", "type": "id"}, {"name": "x", "type": "text"}]}],
            "Field 'x' is given more than once in table 't'.",
        ),
    ],
)
def test_bad_definitions_are_clean_400s(
    api: SchemaApi, ddl_database: str, body: Any, message: str
) -> None:
    sql(ddl_database, "CREATE TABLE victims (id int)")
    response = api.post("/_schema", body)
    assert response.status_code == 400, response.content
    assert error(response) == message
    assert sql(ddl_database, "SELECT to_regclass('t') IS NULL, to_regclass('victims') IS NOT NULL")[
        0
    ] == (True, True)


def test_a_default_is_a_value_never_sql(api: SchemaApi, ddl_database: str) -> None:
    sql(ddl_database, "CREATE TABLE victims (id int)")
    payload = "'); drop table victims; --"
    field = {"name": "x", "type": "text", "default": payload}
    response = api.post("/_schema/quoted", {"field": [field]})
    assert response.status_code == 200, response.content
    sql(ddl_database, "INSERT INTO quoted DEFAULT VALUES")
    assert api.get("/_table/quoted").json()["resource"] == [{"x": payload}]
    assert sql(ddl_database, "SELECT to_regclass('victims') IS NOT NULL") == [(True,)]


def test_server_refusals_are_clean_errors(api: SchemaApi, ddl_database: str) -> None:
    api.post(
        "/_schema/base", {"field": [{"name": "id", "type": "id"}, {"name": "v", "type": "text"}]}
    )
    duplicate = api.post("/_schema/base", {"field": [{"name": "id", "type": "id"}]})
    assert (duplicate.status_code, error(duplicate)) == (400, "Table 'base' already exists.")

    sql(ddl_database, "INSERT INTO base (v) VALUES ('abc')")
    not_null = api.patch(
        "/_schema/base", {"field": [{"name": "must", "type": "integer", "allow_null": False}]}
    )
    assert not_null.status_code == 400, not_null.content
    assert error(not_null) == (
        "Field 'must' cannot be NOT NULL: rows of 'base' have no value for it (give a default)."
    )
    assert "must" not in fields_of(api, "base")
    with_default = api.post(
        "/_schema/base/must", {"type": "integer", "allow_null": False, "default": 7}
    )
    assert with_default.status_code == 200, with_default.content

    cast = api.patch("/_schema/base/v", {"type": "integer"})
    assert (cast.status_code, error(cast)) == (
        400,
        "Existing values of field 'v' do not fit type integer.",
    )
    exists = api.post("/_schema/base/v", {"type": "text"})
    assert (exists.status_code, error(exists)) == (
        400,
        "Field 'v' already exists in table 'base'.",
    )
    missing_field = api.delete("/_schema/base/nope")
    assert missing_field.status_code == 404
    missing_table = api.patch("/_schema/nope", {"field": [{"name": "a", "type": "text"}]})
    assert (missing_table.status_code, error(missing_table)) == (
        404,
        'Table "nope" does not exist in the database.',
    )

    api.post(
        "/_schema/child",
        {"field": [{"name": "base_id", "type": "reference", "ref_table": "base"}]},
    )
    referenced = api.delete("/_schema/base")
    assert (referenced.status_code, error(referenced)) == (
        400,
        "Table 'base' cannot be dropped: other objects depend on it.",
    )
    assert api.get("/_table/base").status_code == 200


def test_a_failing_batch_changes_nothing(api: SchemaApi, ddl_database: str) -> None:
    sql(ddl_database, "CREATE TABLE taken (id int); INSERT INTO taken VALUES (1)")
    # The second CREATE fails in the database, after the first one ran.
    body = [
        {"name": "first_ok", "field": [{"name": "id", "type": "id"}]},
        {"name": "taken", "field": [{"name": "id", "type": "id"}]},
    ]
    response = api.post("/_schema", body)
    assert (response.status_code, error(response)) == (400, "Table 'taken' already exists.")
    assert api.get("/_schema/first_ok").status_code == 404
    assert sql(ddl_database, "SELECT to_regclass('first_ok') IS NULL") == [(True,)]

    # One request altering two tables: the second fails, the first is undone.
    api.post("/_schema/fresh", {"field": [{"name": "id", "type": "id"}]})
    update = [
        {"name": "fresh", "field": [{"name": "added", "type": "text"}]},
        {"name": "taken", "field": [{"name": "strict", "type": "text", "allow_null": False}]},
    ]
    response = api.patch("/_schema", update)
    assert response.status_code == 400, response.content
    assert "added" not in fields_of(api, "fresh")


def test_the_service_user_without_ddl_rights_gets_403(
    client: Client, admin_key: str, ddl_service: Service, ddl_database: str, worker_suffix: str
) -> None:
    role = f"sg_noddl_{worker_suffix}"[:63]
    sql(ddl_database, f'DROP ROLE IF EXISTS "{role}"; CREATE ROLE "{role}" LOGIN')
    try:
        ddl_service.username = role
        ddl_service.save()
        api = SchemaApi(client, admin_key, ddl_service.name)
        response = api.post("/_schema/todo", {"field": [{"name": "id", "type": "id"}]})
        assert (response.status_code, error(response)) == (
            403,
            "The service's database user may not change 'todo'.",
        )
    finally:
        from services.pools import close_all

        close_all()
        sql(ddl_database, f'DROP ROLE IF EXISTS "{role}"')


def test_a_star_grant_does_not_allow_schema_changes(
    caller_with: Callable[..., SchemaApi], api: SchemaApi
) -> None:
    caller = caller_with([("*", ["GET", "POST"])])
    body = {"field": [{"name": "id", "type": "id"}]}
    response = caller.post("/_schema/todo", body)
    assert (response.status_code, error(response)) == (
        403,
        f"Access Forbidden. POST access to component '_schema/todo' of service "
        f"'{caller.service}' is not allowed by this user's role.",
    )
    collection = caller.post("/_schema", [{"name": "todo", **body}])
    assert collection.status_code == 403
    assert "'_schema'" in error(collection)
    assert api.get("/_schema/todo").status_code == 404

    api.post("/_schema/kept", body)
    visible = caller.delete("/_schema/kept")
    assert visible.status_code == 403
    assert api.get("/_schema/kept").status_code == 200


def test_an_explicit_schema_rule_allows_schema_changes(
    caller_with: Callable[..., SchemaApi],
) -> None:
    caller = caller_with([("_schema/*", ["GET", "POST", "PATCH", "DELETE"]), ("_table/*", ["GET"])])
    body = {"field": [{"name": "id", "type": "id"}]}
    response = caller.post("/_schema", [{"name": "todo", **body}])
    assert response.status_code == 200, response.content
    assert caller.get("/_table/todo").status_code == 200
    added = caller.patch("/_schema/todo", {"field": [{"name": "note", "type": "text"}]})
    assert added.status_code == 200, added.content
    replaced = caller.put("/_schema/todo", {"field": [{"name": "id", "type": "id"}]})
    assert replaced.status_code == 403
    assert "PUT access to component '_schema/todo'" in error(replaced)
    assert caller.delete("/_schema/todo").status_code == 200


def test_a_read_only_schema_rule_refuses_changes(
    caller_with: Callable[..., SchemaApi], api: SchemaApi
) -> None:
    caller = caller_with([("_schema/*", ["GET"]), ("_table/*", ["GET"])])
    response = caller.post("/_schema/todo", {"field": [{"name": "id", "type": "id"}]})
    assert response.status_code == 403
    assert "POST access to component '_schema/todo'" in error(response)
    api.post("/_schema/todo", {"field": [{"name": "id", "type": "id"}]})
    assert caller.get("/_schema/todo").status_code == 200
    assert caller.delete("/_schema/todo/id").status_code == 403


def test_schema_index_writes_are_refused_before_their_body_is_read(
    caller_with: Callable[..., SchemaApi], api: SchemaApi
) -> None:
    api.post("/_schema/todo", {"field": [{"name": "id", "type": "id"}]})
    reader = caller_with([("_schema/todo", ["GET"]), ("_table/todo", ["GET"])])
    for verb, response in (
        ("PUT", reader.put("/_schema")),
        ("PATCH", reader.patch("/_schema", [])),
        ("DELETE", reader.delete("/_schema")),
    ):
        assert response.status_code == 403, response.content
        assert f"{verb} access to component '_schema'" in error(response)
    dropper = caller_with([("_schema/todo", ["GET", "DELETE"]), ("_table/todo", ["GET"])])
    empty = dropper.delete("/_schema")
    assert (empty.status_code, error(empty)) == (400, "No data in schema delete request.")
    assert dropper.put("/_schema").status_code == 403


def test_field_writes_are_refused_before_their_body_is_read(
    caller_with: Callable[..., SchemaApi], api: SchemaApi
) -> None:
    api.post("/_schema/todo", {"field": [{"name": "id", "type": "id"}]})
    reader = caller_with([("_schema/todo", ["GET"]), ("_table/todo", ["GET"])])
    for response in (
        reader.post("/_schema/todo/note", "not an object"),
        reader.patch("/_schema/todo/_field", [{"type": "no name"}]),
        reader.put("/_schema/todo/_field"),
    ):
        assert response.status_code == 403, response.content
        assert "access to component '_schema/todo" in error(response)
    writer = caller_with([("_schema/todo/*", ["GET", "POST"]), ("_table/todo", ["GET"])])
    bad = writer.post("/_schema/todo/note", "not an object")
    assert bad.status_code == 400, bad.content


def test_a_table_the_caller_cannot_see_is_not_found(
    caller_with: Callable[..., SchemaApi], api: SchemaApi
) -> None:
    api.post("/_schema/secret", {"field": [{"name": "id", "type": "id"}]})
    caller = caller_with([("_schema/*", ["GET", "POST", "PUT", "PATCH", "DELETE"])])
    for response in (
        caller.delete("/_schema/secret"),
        caller.patch("/_schema/secret", {"field": [{"name": "x", "type": "text"}]}),
        caller.delete("/_schema/secret/id"),
    ):
        assert response.status_code == 404, response.content
        assert error(response) == 'Table "secret" does not exist in the database.'
    assert api.get("/_table/secret").status_code == 200
