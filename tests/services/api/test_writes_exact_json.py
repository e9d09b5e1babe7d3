"""json/jsonb values and numbers keep every digit whether or not a float could print them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from services.sql.write_records import exact_json, exact_text
from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi

ALL = "/_table/all_types"
THIRTY_DIGITS = "123456789012345678901234567890"
# Values a float prints digit for digit, and values it would not (the exact path).
JSON_TEXTS = [
    '{"rate":0.1,"share":1.5,"n":3,"ok":true,"none":null}',
    '{"a":[1,2.50],"z":null}',
    f'{{"big":{THIRTY_DIGITS}.5,"tiny":0.1}}',
    '{"e":1E+2,"neg":-0.0,"nested":{"l":[[0.25],{"x":1E-7}]}}',
    '[0.1,0.30000000000000004,"\\u00fc\\"q\\"",[],{}]',
    "[]",
    "{}",
]


def parse(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_exact_json_writes_the_text_it_was_parsed_from(text: str) -> None:
    value = parse(text)
    assert exact_json(value) == exact_text(value) == text


def test_exact_json_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        exact_json({"a": Decimal("NaN")})
    with pytest.raises(TypeError):
        exact_json([Decimal("sNaN")])
    with pytest.raises(TypeError):
        exact_json([object()])


def test_a_batch_keeps_every_digit(wapi: WriteApi) -> None:
    records = [
        f'{{"c_json": {text}, "c_jsonb": {text}, "c_numeric": 0.1,'
        f' "c_big_numeric": {THIRTY_DIGITS}.{index}, "c_numeric_array": [0.1, 2.50]}}'
        for index, text in enumerate(JSON_TEXTS)
    ]
    raw = ('{"resource": [' + ",".join(records) + "]}").encode()
    response = wapi.call("POST", ALL, raw=raw, fields="*")
    assert response.status_code == 200, response.content
    written = body(response)["resource"]
    assert len(written) == len(JSON_TEXTS)
    rows = wapi.rows(
        "SELECT c_json::text, c_jsonb::text, c_numeric::text, c_big_numeric::text,"
        " c_numeric_array::text FROM all_types ORDER BY id"
    )
    for index, (text, row) in enumerate(zip(JSON_TEXTS, rows, strict=True)):
        c_json, c_jsonb, c_numeric, c_big_numeric, c_numeric_array = row
        assert c_json == text  # json keeps its text as written
        # jsonb keeps every digit (and each number's scale) of the text sent.
        assert c_jsonb == wapi.rows("SELECT %s::jsonb::text", [text])[0][0]
        assert c_numeric == "0.100"
        assert c_big_numeric == f"{THIRTY_DIGITS}.{index}"
        assert c_numeric_array == "{0.1,2.50}"
    for record, text in zip(written, JSON_TEXTS, strict=True):
        assert record["c_json"] == parse(text)
        assert record["c_jsonb"] == parse(text)
