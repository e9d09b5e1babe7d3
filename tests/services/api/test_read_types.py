"""Every column type travels in the JSON form API.md gives it."""

import json
from decimal import Decimal
from typing import Any

import psycopg

from config.database import platform_conninfo
from tests.services.api.conftest import Api


def first_row(api: Api) -> dict[str, Any]:
    response = api.get("/_table/every_type/1")
    assert response.status_code == 200, response.content
    row: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    return row


def test_numbers_keep_every_digit(api: Api) -> None:
    row = first_row(api)
    assert row["c_smallint"] == 1
    assert row["c_integer"] == 2
    assert row["c_bigint"] == 9007199254740993  # past 2**53: no float rounding
    assert row["c_numeric"] == Decimal("1234567.125")
    assert row["c_big_numeric"] == Decimal("123456789012345678901234567890.123456789")
    assert row["c_real"] == Decimal("1.5")
    assert row["c_double"] == Decimal("2.25")
    assert row["c_domain"] == 7
    assert row["c_generated"] == 4


def test_text_like_types_are_strings(api: Api) -> None:
    row = first_row(api)
    assert row["c_boolean"] is True
    assert row["c_text"] == "hello"
    assert row["c_varchar"] == "varchar"
    assert row["c_char"] == "abc"
    assert row["c_uuid"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert row["c_enum"] == "happy"
    assert row["c_inet"] == "192.168.0.1"
    assert row["c_cidr"] == "10.0.0.0/8"
    assert row["c_macaddr"] == "08:00:2b:01:02:03"
    assert row["c_int4range"] == "[1,10)"
    assert row["c_tstzrange"].startswith('["2024-01-01 00:00:00+00"')


def test_dates_times_and_intervals_are_iso_8601(api: Api) -> None:
    row = first_row(api)
    assert row["c_date"] == "2024-02-29"
    assert row["c_time"] == "13:45:00"
    assert row["c_timetz"] == "13:45:00+02"
    assert row["c_timestamp"] == "2024-02-29T13:45:00"
    assert row["c_timestamptz"] == "2024-02-29T11:45:00+00:00"  # always UTC, with offset
    assert row["c_interval"] == "P1DT2H3M4.5S"


def test_json_arrays_and_bytes(api: Api) -> None:
    row = first_row(api)
    assert row["c_json"] == {"a": [1, 2]}
    assert row["c_jsonb"] == {"plan": "pro", "seats": 5}
    assert row["c_bytea"] == "AAH/"  # base64 of 00 01 ff
    assert row["c_int_array"] == [1, 2, 3]
    assert row["c_text_array"] == ["a", "b c"]
    assert row["c_int_matrix"] == [[1, 2], [3, 4]]
    assert row["c_enum_array"] == ["sad", "happy"]


def test_nulls_are_json_null(api: Api) -> None:
    response = api.get("/_table/every_type/2")
    row = response.json()
    assert row["c_integer"] is None
    assert row["c_jsonb"] is None
    assert row["c_bytea"] is None
    assert row["c_not_null"] == "x"


def test_postgis_columns_are_geojson_when_postgis_is_there(api: Api, target_database: str) -> None:
    with psycopg.connect(platform_conninfo(dbname=target_database)) as conn:
        has_postgis = conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'postgis'"
        ).fetchone()
    row = first_row(api)
    if has_postgis:
        assert row["c_geometry"] == {
            "type": "Point",
            "coordinates": [Decimal("4.9"), Decimal("52.37")],
        }
        assert row["c_geography"] == {
            "type": "Point",
            "coordinates": [Decimal("4.9"), Decimal("52.37")],
        }
    else:
        assert "c_geometry" not in row
