"""Batches: stop at the first failure, `continue`, `rollback`, and how many statements they cost."""

from __future__ import annotations

from typing import Any

import pytest

from services.sql import write_exec
from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body, error_of

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi

TODO = "/_table/todo"


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the write statements sent to the service database."""
    sent: list[int] = []
    real = write_exec.execute

    def counting(conn: Any, statement: Any) -> Any:
        sent.append(1)
        return real(conn, statement)

    monkeypatch.setattr(write_exec, "execute", counting)
    return sent


def seed(api: WriteApi, *names: str) -> None:
    response = api.post(TODO, [{"name": name} for name in names])
    assert response.status_code == 200, response.content


def names(api: WriteApi) -> list[str]:
    return [row[0] for row in api.rows("SELECT name FROM todo ORDER BY id")]


def test_default_stops_at_the_first_failure_keeping_earlier_records(wapi: WriteApi) -> None:
    seed(wapi, "taken")
    records = [{"name": "a"}, {"name": "taken"}, {"name": "c"}]
    response = wapi.post(TODO, {"resource": records})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 1000
    assert error["status_code"] == 400
    assert error["message"] == "Batch Error: Not all requested records could be created."
    assert error["context"]["error"] == [1]
    resource = error["context"]["resource"]
    # (Ids are taken from the sequence, which a failed attempt also advances.)
    assert resource[0] == {"id": wapi.rows("SELECT id FROM todo WHERE name = 'a'")[0][0]}
    assert resource[1] == {
        "code": 400,
        "message": "Duplicate entry detected for field 'name'.",
        "status_code": 400,
        "context": None,
    }
    assert len(resource) == 2
    assert names(wapi) == ["taken", "a"]


def test_continue_keeps_every_success(wapi: WriteApi) -> None:
    seed(wapi, "taken")
    records = [{"name": "a"}, {"name": "taken"}, {"name": "c"}]
    response = wapi.post(TODO, {"resource": records}, **{"continue": "true"})
    error = error_of(response)
    assert error["context"]["error"] == [1]
    ids = [item.get("id") for item in error["context"]["resource"]]
    assert ids[1] is None
    assert wapi.rows("SELECT id FROM todo WHERE name IN ('a', 'c') ORDER BY id") == [
        (ids[0],),
        (ids[2],),
    ]
    assert names(wapi) == ["taken", "a", "c"]


def test_rollback_undoes_everything(wapi: WriteApi) -> None:
    seed(wapi, "taken")
    records = [{"name": "a"}, {"name": "b"}, {"name": "taken"}, {"name": "d"}]
    response = wapi.post(TODO, {"resource": records}, rollback="true")
    assert response.status_code == 400
    error = error_of(response)
    assert error["message"] == (
        "Batch Error: Not all requested records could be created. All changes rolled back."
    )
    assert error["context"]["error"] == [2]
    assert len(error["context"]["resource"]) == 3
    assert names(wapi) == ["taken"]


def test_continue_and_rollback_together_are_refused(wapi: WriteApi) -> None:
    response = wapi.post(TODO, [{"name": "a"}], rollback="1", **{"continue": "1"})
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "Rollback and continue operations can not be requested at the same time."
    )
    assert names(wapi) == []


def test_a_duplicate_inside_the_batch_itself(wapi: WriteApi) -> None:
    response = wapi.post(TODO, [{"name": "a"}, {"name": "a"}], **{"continue": "true"})
    assert error_of(response)["context"]["error"] == [1]
    assert names(wapi) == ["a"]


def test_updates_continue_and_rollback(wapi: WriteApi) -> None:
    seed(wapi, "a", "b", "c")
    records = [{"id": 1, "name": "x"}, {"id": 2, "name": "c"}, {"id": 3, "name": "z"}]
    response = wapi.patch(TODO, {"resource": records}, **{"continue": "true"})
    error = error_of(response)
    assert error["message"] == "Batch Error: Not all requested records could be updated."
    assert error["context"]["error"] == [1]
    assert names(wapi) == ["x", "b", "z"]

    records = [{"id": 1, "name": "p"}, {"id": 9, "name": "q"}]
    response = wapi.put(TODO, {"resource": records}, rollback="true")
    error = error_of(response)
    assert error["message"].endswith(" All changes rolled back.")
    assert error["context"]["resource"][1]["message"] == "Record with identifier '9' not found."
    assert names(wapi) == ["x", "b", "z"]


def test_records_setting_different_fields_keep_their_order(wapi: WriteApi) -> None:
    records = [{"name": "a"}, {"name": "b", "complete": True}, {"name": "c"}, {}]
    response = wapi.post(TODO, {"resource": records[:3]}, fields="*")
    assert [r["name"] for r in body(response)["resource"]] == ["a", "b", "c"]
    assert wapi.rows("SELECT name, complete FROM todo ORDER BY id") == [
        ("a", None),
        ("b", True),
        ("c", None),
    ]


def test_the_same_record_twice_in_one_update_batch(wapi: WriteApi) -> None:
    seed(wapi, "a")
    response = wapi.patch(TODO, [{"id": 1, "name": "b"}, {"id": 1, "complete": True}], fields="*")
    assert body(response)["resource"] == [
        {"id": 1, "name": "b", "complete": None},
        {"id": 1, "name": "b", "complete": True},
    ]


def test_ten_thousand_records_take_one_statement(wapi: WriteApi, statements: list[int]) -> None:
    records = [{"name": f"todo {i}", "complete": i % 2 == 0} for i in range(10_000)]
    response = wapi.post(TODO, {"resource": records})
    assert response.status_code == 200
    ids = [record["id"] for record in body(response)["resource"]]
    assert ids == list(range(1, 10_001))
    assert len(statements) == 1
    assert wapi.rows("SELECT count(*), count(*) FILTER (WHERE complete) FROM todo") == [
        (10_000, 5_000)
    ]

    statements.clear()
    updates = [{"id": i, "complete": True} for i in range(1, 10_001)]
    response = wapi.patch(TODO, {"resource": updates})
    assert response.status_code == 200
    assert len(statements) == 1

    statements.clear()
    response = wapi.delete(TODO, {"resource": [{"id": i} for i in range(1, 10_001)]})
    assert response.status_code == 200
    assert len(statements) == 1
    assert wapi.rows("SELECT count(*) FROM todo") == [(0,)]


def test_a_failure_deep_in_a_big_batch_costs_few_statements(
    wapi: WriteApi, statements: list[int]
) -> None:
    seed(wapi, "taken")
    statements.clear()
    records = [{"name": f"todo {i}"} for i in range(5_000)]
    records[3_456] = {"name": "taken"}
    response = wapi.post(TODO, {"resource": records})
    error = error_of(response)
    assert error["context"]["error"] == [3_456]
    assert len(error["context"]["resource"]) == 3_457
    assert wapi.rows("SELECT count(*) FROM todo") == [(3_457,)]
    # All at once, then chunks of 100 up to the failing one, then that chunk one by one.
    assert len(statements) <= 1 + 35 + 100
