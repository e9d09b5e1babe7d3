"""Every type is written in the JSON form reads give it, and a value that does not fit names its field."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import postgis_available
from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body, error_of

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi

ALL = "/_table/all_types"
# Written as text: the numbers must reach the server with every digit.
EVERY_TYPE = """{
    "c_smallint": 1, "c_integer": 2, "c_bigint": 9007199254740993,
    "c_numeric": 1234567.125, "c_real": 1.5, "c_double": 2.25, "c_boolean": true,
    "c_text": "hello \\"quoted\\" \\u00fcn\\u00efcode", "c_varchar": "varchar", "c_char": "abc",
    "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "c_date": "2024-02-29",
    "c_time": "13:45:00", "c_timetz": "13:45:00+02", "c_timestamp": "2024-02-29T13:45:00",
    "c_timestamptz": "2024-02-29T11:45:00+00:00", "c_interval": "P1DT2H3M4.5S",
    "c_json": {"a": [1, 2.50], "z": null}, "c_jsonb": {"plan": "pro", "seats": 5, "rate": 0.1},
    "c_bytea": "AAH/", "c_inet": "192.168.0.1", "c_cidr": "10.0.0.0/8",
    "c_macaddr": "08:00:2b:01:02:03", "c_int_array": [1, 2, 3], "c_text_array": ["a", "b c"],
    "c_int_matrix": [[1, 2], [3, 4]], "c_numeric_array": [1.10, 2, 123456789012345678901.5],
    "c_enum": "happy", "c_enum_array": ["sad", "happy"], "c_domain": 7,
    "c_int4range": "[1,10)",
    "c_tstzrange": "[\\"2024-01-01 00:00:00+00\\",\\"2024-02-01 00:00:00+00\\")",
    "c_big_numeric": 123456789012345678901234567890.123456789, "c_not_null": "y"
}"""


def parse(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def create(api: WriteApi, record_text: str, **params: Any) -> Any:
    return api.call("POST", ALL, raw=f'{{"resource": [{record_text}]}}'.encode(), **params)


def test_every_type_round_trips(wapi: WriteApi) -> None:
    response = create(wapi, EVERY_TYPE, fields="*")
    assert response.status_code == 200, response.content
    written = body(response)["resource"][0]
    read = body(wapi.get(f"{ALL}/{written['id']}"))
    assert written == read
    expected = parse(EVERY_TYPE)
    for name, value in expected.items():
        assert read[name] == value, name
    assert read["c_generated"] == 4
    # json keeps its text as written; numbers keep every digit.
    raw = wapi.get(f"{ALL}/{written['id']}").content.decode()
    assert '"c_json":{"a":[1,2.50],"z":null}' in raw
    assert "123456789012345678901234567890.123456789" in raw
    assert wapi.rows("SELECT c_bytea, c_bigint::text FROM all_types") == [
        (b"\x00\x01\xff", "9007199254740993")
    ]


def test_every_type_updates_round_trip(wapi: WriteApi) -> None:
    create(wapi, "{}")
    record = EVERY_TYPE.replace("{", '{"id": 1, ', 1)
    response = wapi.call("PATCH", ALL, raw=f'{{"resource": [{record}]}}'.encode(), fields="*")
    assert response.status_code == 200, response.content
    read = body(wapi.get(f"{ALL}/1"))
    for name, value in parse(EVERY_TYPE).items():
        assert read[name] == value, name


def test_nulls_and_defaults(wapi: WriteApi) -> None:
    response = create(wapi, "{}", fields="*")
    record = body(response)["resource"][0]
    assert record["c_not_null"] == "x"
    assert all(value is None for name, value in record.items() if name not in ("id", "c_not_null"))
    nulls = {name: None for name in parse(EVERY_TYPE) if name != "c_not_null"}
    response = wapi.patch(f"{ALL}/1", nulls, fields="*")
    assert response.status_code == 200, response.content


def test_other_spellings_are_cast_by_the_server(wapi: WriteApi) -> None:
    record = {
        "c_integer": "42",
        "c_boolean": "yes",
        "c_numeric": "1.5",
        "c_timestamptz": "2024-02-29T13:45:00+02:00",
        "c_interval": "1 day 02:00:00",
        "c_date": "2024-02-29",
    }
    response = wapi.post(ALL, [record], fields="*")
    assert response.status_code == 200, response.content
    written = body(response)["resource"][0]
    assert written["c_integer"] == 42
    assert written["c_boolean"] is True
    assert written["c_numeric"] == Decimal("1.500")
    assert written["c_timestamptz"] == "2024-02-29T11:45:00+00:00"
    assert written["c_interval"] == "P1DT2H"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("c_enum", "meh", "Invalid value for field 'c_enum'. Allowed values: sad, ok, happy."),
        ("c_integer", "abc", "Invalid value for field 'c_integer'."),
        ("c_integer", 1.5, "Invalid value for field 'c_integer'."),
        ("c_smallint", 100000, "Invalid value for field 'c_smallint'."),
        ("c_numeric", 12345678.5, "Invalid value for field 'c_numeric'."),
        ("c_boolean", "maybe", "Invalid value for field 'c_boolean'. Expected true or false."),
        ("c_uuid", "not-a-uuid", "Invalid value for field 'c_uuid'."),
        ("c_date", "2024-02-30", "Invalid value for field 'c_date'."),
        ("c_timestamptz", "yesterday-ish", "Invalid value for field 'c_timestamptz'."),
        ("c_inet", "not an address", "Invalid value for field 'c_inet'."),
        ("c_bytea", "!!not base64!!", "Invalid value for field 'c_bytea'."),
        ("c_int_array", ["a"], "Invalid value for field 'c_int_array'."),
        ("c_int4range", "[5,1)", "Invalid value for field 'c_int4range'."),
        ("c_jsonb", "\u0000", "Invalid value for field 'c_jsonb'."),
        ("c_text", "nul \u0000 inside", "Invalid value for field 'c_text'."),
        ("c_varchar", "x" * 21, "Value too long for field 'c_varchar' (at most 20 characters)."),
        ("c_domain", -1, "Invalid value for field 'c_domain': it fails a check constraint."),
    ],
)
def test_a_value_that_does_not_fit_names_its_field(
    wapi: WriteApi, field: str, value: Any, message: str
) -> None:
    response = wapi.post(ALL, [{"c_text": "ok", field: value}])
    assert response.status_code == 400, response.content
    inner = error_of(response)["context"]["resource"][0]
    assert inner["message"] == message
    assert "syntax" not in inner["message"]
    created = wapi.post(ALL, [{}])
    record_id = body(created)["resource"][0]["id"]
    response = wapi.patch(f"{ALL}/{record_id}", {field: value})
    assert response.status_code == 400
    assert error_of(response)["message"] == message


def test_generated_and_identity_always_columns_are_unknown_fields(wapi: WriteApi) -> None:
    response = wapi.post(ALL, [{"c_generated": 5}])
    assert response.status_code == 400
    assert error_of(response)["message"] == "Invalid field requested: c_generated"
    response = wapi.post("/_table/authors", [{"id": 5, "name": "x"}])
    assert response.status_code == 400
    assert error_of(response)["message"] == "Invalid field requested: id"
    assert wapi.rows("SELECT count(*) FROM authors") == [(0,)]


def test_identity_by_default_takes_a_given_id(wapi: WriteApi) -> None:
    response = wapi.post("/_table/books", [{"id": 40, "title": "Given"}])
    assert body(response) == {"resource": [{"id": 40}]}


ODD_VALUES: list[Any] = [
    {"a": 1},
    [1, [2]],
    [[1], 2],
    True,
    "",
    "x" * 30,
    -1,
    Decimal("1E+400"),
    9_223_372_036_854_775_808,
]


def test_odd_values_are_400_never_500(wapi: WriteApi) -> None:
    record_id = body(wapi.post(ALL, [{}]))["resource"][0]["id"]
    columns = [name for name in parse(EVERY_TYPE) if name != "c_not_null"]
    for name in columns:
        for value in ODD_VALUES:
            text = json.dumps({name: value}, default=str).replace('"1E+400"', "1E+400")
            response = wapi.call("PATCH", f"{ALL}/{record_id}", raw=text.encode())
            assert response.status_code in (200, 400), (name, value, response.content)
            if response.status_code == 400:
                assert name in error_of(response)["message"], (name, value)


def test_views_are_written_through_or_refused(wapi: WriteApi) -> None:
    response = wapi.post("/_table/open_todo", [{"name": "via view"}], fields="id")
    assert body(response) == {"resource": [{"id": 1}]}
    assert wapi.rows("SELECT name FROM todo") == [("via view",)]
    response = wapi.post("/_table/todo_counts", [{"n": 1}])
    assert response.status_code == 400
    assert error_of(response)["message"] == "Table 'todo_counts' can not be written to."


def test_geojson_values_are_read_by_postgis() -> None:
    from psycopg import sql

    from services.sql.schema import Column
    from services.sql.writes import value_expr

    geography = Column("place", 1, "geography(Point,4326)", "geography", "geojson", True)
    geometry = Column("shape", 2, "geometry", "geometry", "geojson", True)
    assert value_expr(geography).as_string(None) == (
        "CAST(ST_SetSRID(ST_GeomFromGeoJSON(e.doc ->> 'place'), 4326) AS geography)"
    )
    assert value_expr(geometry).as_string(None) == "ST_GeomFromGeoJSON(e.doc ->> 'shape')"
    assert isinstance(value_expr(geometry), sql.Composable)


@pytest.mark.skipif(not postgis_available(), reason="PostGIS is not installed (CI installs it)")
def test_geojson_round_trips_through_postgis(wapi: WriteApi) -> None:
    point = {"type": "Point", "coordinates": [4.9, 52.37]}
    polygon = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    created = wapi.post("/_table/places", {"resource": [{"shape": point, "area": polygon}]})
    assert created.status_code == 200, created.content
    record_id = created.json()["resource"][0]["id"]
    read = wapi.get(f"/_table/places/{record_id}").json()
    assert read["shape"] == point
    assert read["area"] == polygon
    wrong = wapi.post("/_table/places", {"resource": [{"shape": {"type": "Nope"}}]})
    assert wrong.status_code == 400
    assert "shape" in wrong.json()["error"]["context"]["resource"][0]["message"]
