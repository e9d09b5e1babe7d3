"""Creating, updating and deleting records with DreamFactory's targets and envelopes."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.environment import load_environment
from services.api import writes as writes_module
from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body, error_of

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi

TODO = "/_table/todo"
NO_RECORDS = (
    "No record(s) detected in request. Please make sure record(s) are wrapped in a 'resource' "
    'tag. Example: {"resource":[{"record":1},{"record":2}]}'
)


def create_three(api: WriteApi) -> None:
    response = api.post(
        TODO,
        {"resource": [{"name": "one"}, {"name": "two", "complete": True}, {"name": "three"}]},
    )
    assert response.status_code == 200, response.content


# --- create ---------------------------------------------------------------------


def test_create_returns_only_the_ids(wapi: WriteApi) -> None:
    response = wapi.post(TODO, {"resource": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    assert response.status_code == 200
    assert body(response) == {"resource": [{"id": 1}, {"id": 2}, {"id": 3}]}
    assert wapi.rows("SELECT id, name, complete FROM todo ORDER BY id") == [
        (1, "a", None),
        (2, "b", None),
        (3, "c", None),
    ]


def test_created_records_read_back_by_id_and_by_ids_in_order(wapi: WriteApi) -> None:
    create_three(wapi)
    assert body(wapi.get(f"{TODO}/2")) == {"id": 2, "name": "two", "complete": True}
    records = body(wapi.get(TODO, ids="3,1"))["resource"]
    assert [record["id"] for record in records] == [3, 1]
    missing = wapi.get(f"{TODO}/5")
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "Record with identifier '5' not found."


def test_one_record_batch_and_bare_array(wapi: WriteApi) -> None:
    assert body(wapi.post(TODO, {"resource": [{"name": "solo"}]})) == {"resource": [{"id": 1}]}
    response = wapi.post(TODO, [{"name": "x"}, {"name": "y"}])
    assert body(response) == {"resource": [{"id": 2}, {"id": 3}]}


def test_a_bare_object_on_the_collection_is_refused(wapi: WriteApi) -> None:
    response = wapi.post(TODO, {"name": "lonely"})
    assert response.status_code == 400
    assert error_of(response)["message"] == NO_RECORDS
    assert wapi.post(TODO, {"resource": []}).status_code == 400
    assert wapi.post(TODO).status_code == 400
    assert wapi.rows("SELECT count(*) FROM todo") == [(0,)]


def test_fields_on_create(wapi: WriteApi) -> None:
    response = wapi.post(TODO, {"resource": [{"name": "a", "complete": False}]}, fields="*")
    assert body(response) == {"resource": [{"id": 1, "name": "a", "complete": False}]}
    response = wapi.post(TODO, {"resource": [{"name": "b"}]}, fields="name")
    assert body(response) == {"resource": [{"name": "b"}]}
    response = wapi.post(TODO, {"resource": [{"name": "c"}]}, fields="nope")
    assert response.status_code == 400
    assert error_of(response)["message"] == "Invalid field requested: nope"


def test_as_list_gives_the_ids(wapi: WriteApi) -> None:
    response = wapi.post(TODO, {"resource": [{"name": "a"}, {"name": "b"}]}, as_list="true")
    assert body(response) == {"resource": [1, 2]}


def test_unknown_field_is_refused_and_nothing_written(wapi: WriteApi) -> None:
    response = wapi.post(TODO, {"resource": [{"name": "a"}, {"name": "b", "colour": "red"}]})
    assert response.status_code == 400
    assert error_of(response)["message"] == "Invalid field requested: colour"
    assert wapi.rows("SELECT count(*) FROM todo") == [(0,)]


def test_post_on_a_record_path_is_refused(wapi: WriteApi) -> None:
    response = wapi.post(f"{TODO}/1", {"name": "a"})
    assert response.status_code == 400


def test_null_into_not_null_and_missing_required_field(wapi: WriteApi) -> None:
    response = wapi.post(f"{TODO}", {"resource": [{"name": None}]})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 1000
    assert error["context"]["resource"][0]["message"] == "Field 'name' can not be NULL."
    response = wapi.post(f"{TODO}", {"resource": [{"complete": True}]})
    inner = error_of(response)["context"]["resource"][0]
    assert inner["message"] == "Required field 'name' can not be NULL."
    assert inner["status_code"] == 400


def test_composite_keys_are_joined_with_commas(wapi: WriteApi) -> None:
    records = [{"order_id": 1, "line_no": 1, "sku": "A"}, {"order_id": 1, "line_no": 2, "sku": "B"}]
    response = wapi.post("/_table/order_lines", {"resource": records}, as_list="true")
    assert body(response) == {"resource": ["1,1", "1,2"]}
    response = wapi.patch("/_table/order_lines/1,2", {"quantity": 7})
    assert body(response) == {"order_id": 1, "line_no": 2}
    assert wapi.rows("SELECT quantity FROM order_lines WHERE line_no = 2") == [(7,)]


# --- update ---------------------------------------------------------------------


def test_patch_and_put_by_id_update_only_the_given_fields(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.patch(f"{TODO}/2", {"name": "deux"})
    assert response.status_code == 200
    assert body(response) == {"id": 2}
    response = wapi.put(f"{TODO}/2", {"complete": False}, fields="*")
    assert body(response) == {"id": 2, "name": "deux", "complete": False}
    missing = wapi.patch(f"{TODO}/9", {"name": "nine"})
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "Record with identifier '9' not found."


def test_update_by_ids_applies_the_record_to_each(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.patch(TODO, {"complete": True}, ids="1,3")
    assert body(response) == {"resource": [{"id": 1}, {"id": 3}]}
    response = wapi.put(TODO, {"resource": [{"complete": False}]}, ids="3,2", fields="complete")
    assert body(response) == {"resource": [{"complete": False}, {"complete": False}]}
    assert wapi.rows("SELECT id, complete FROM todo ORDER BY id") == [
        (1, True),
        (2, False),
        (3, False),
    ]


def test_update_by_ids_reports_a_missing_one(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.patch(TODO, {"complete": True}, ids="1,7,2")
    assert response.status_code == 400
    error = error_of(response)
    assert error["message"] == "Batch Error: Not all requested records could be updated."
    assert error["context"]["error"] == [1]
    assert error["context"]["resource"][0] == {"id": 1}
    assert error["context"]["resource"][1]["message"] == "Record with identifier '7' not found."
    assert error["context"]["resource"][1]["status_code"] == 404
    assert len(error["context"]["resource"]) == 2  # stopped at the first failure
    assert wapi.rows("SELECT id FROM todo WHERE complete ORDER BY id") == [(1,), (2,)]


def test_update_by_records_and_by_filter(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.patch(
        TODO, {"resource": [{"id": 3, "name": "drei"}, {"id": 1, "complete": True}]}
    )
    assert body(response) == {"resource": [{"id": 3}, {"id": 1}]}
    response = wapi.put(TODO, [{"id": 2, "name": "zwei"}], fields="name")
    assert body(response) == {"resource": [{"name": "zwei"}]}
    response = wapi.patch(TODO, {"complete": False}, filter="name like '%ei'", fields="*")
    assert body(response) == {
        "resource": [
            {"id": 2, "name": "zwei", "complete": False},
            {"id": 3, "name": "drei", "complete": False},
        ]
    }
    assert body(wapi.patch(TODO, {"complete": True}, filter="id > 100")) == {"resource": []}


def test_update_records_without_ids_fail_per_record(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.patch(TODO, {"resource": [{"name": "no id"}]})
    error = error_of(response)
    assert error["code"] == 1000
    assert (
        error["context"]["resource"][0]["message"] == "Required id field(s) not found in record 0."
    )


def test_a_bare_object_updates_nothing_without_a_target(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.patch(TODO, {"id": 1, "name": "x"})
    assert response.status_code == 400
    assert error_of(response)["message"] == NO_RECORDS


def test_tunnelled_verbs_through_post(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.call("POST", TODO, {"ids": "1,2"}, headers={"X-HTTP-Method": "DELETE"})
    assert body(response) == {"resource": [{"id": 1}, {"id": 2}]}
    response = wapi.call("POST", f"{TODO}/3", {"name": "trois"}, method="PATCH")
    assert body(response) == {"id": 3}
    response = wapi.call("POST", TODO, {"filter": "id = 3"}, headers={"X-HTTP-Method": "GET"})
    assert body(response)["resource"] == [{"id": 3, "name": "trois", "complete": None}]


# --- delete ---------------------------------------------------------------------


def test_delete_by_id_ids_records_and_filter(wapi: WriteApi) -> None:
    wapi.post(TODO, [{"name": n} for n in ("a", "b", "c", "d", "e", "f")])
    assert body(wapi.delete(f"{TODO}/1")) == {"id": 1}
    assert body(wapi.delete(TODO, ids="3,2")) == {"resource": [{"id": 3}, {"id": 2}]}
    response = wapi.delete(TODO, {"resource": [{"id": 4}]}, fields="*")
    assert body(response) == {"resource": [{"id": 4, "name": "d", "complete": None}]}
    response = wapi.delete(TODO, filter="name = 'e'", fields="name")
    assert body(response) == {"resource": [{"name": "e"}]}
    assert wapi.rows("SELECT name FROM todo") == [("f",)]
    missing = wapi.delete(f"{TODO}/1")
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "Record with identifier '1' not found."


def test_delete_needs_a_target_or_force(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.delete(TODO)
    assert response.status_code == 400
    assert error_of(response)["message"] == "No filter or records given for delete request."
    assert wapi.rows("SELECT count(*) FROM todo") == [(3,)]
    response = wapi.delete(TODO, force="true")
    assert response.status_code == 200
    assert body(response) == {"success": True}
    assert wapi.rows("SELECT count(*) FROM todo") == [(0,)]


def test_delete_by_ids_reports_missing_ones(wapi: WriteApi) -> None:
    create_three(wapi)
    response = wapi.delete(TODO, ids="1,8,2", **{"continue": "true"})
    error = error_of(response)
    assert error["message"] == "Batch Error: Not all requested records could be deleted."
    assert error["context"]["error"] == [1]
    assert [item.get("id") for item in error["context"]["resource"]] == [1, None, 2]
    assert wapi.rows("SELECT id FROM todo") == [(3,)]


# --- body limits ------------------------------------------------------------------


def test_an_over_size_body_is_413_in_the_envelope(wapi: WriteApi, settings: object) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # type: ignore[attr-defined]
    records = [{"name": f"name {i}"} for i in range(100)]
    response = wapi.post(TODO, {"resource": records})
    assert response.status_code == 413
    assert error_of(response)["status_code"] == 413
    response = wapi.call("POST", TODO, {"filter": "x" * 2000}, headers={"X-HTTP-Method": "GET"})
    assert response.status_code == 413


def test_invalid_json_is_400(wapi: WriteApi) -> None:
    response = wapi.call("POST", TODO, raw=b'{"resource": [')
    assert response.status_code == 400
    assert error_of(response)["message"] == "The request body is not valid JSON."


def test_the_body_bound_is_an_environment_setting() -> None:
    base = {"SECRET_KEY": "k", "SLUICEGATE_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    assert load_environment(base).max_body_bytes == 10 * 1024 * 1024
    assert load_environment({**base, "SLUICEGATE_MAX_BODY_BYTES": "2048"}).max_body_bytes == 2048
    with pytest.raises(ImproperlyConfigured):
        load_environment({**base, "SLUICEGATE_MAX_BODY_BYTES": "lots"})


# --- audit ------------------------------------------------------------------------


def test_every_write_is_audited_once(wapi: WriteApi, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, int]] = []

    def record(principal: object, service: str, table: str, verb: str, count: int) -> None:
        calls.append((table, verb, count))

    monkeypatch.setattr(writes_module, "record_write", record)
    create_three(wapi)
    wapi.patch(TODO, {"complete": True}, filter="id < 3")
    wapi.put(f"{TODO}/3", {"complete": True})
    wapi.patch(TODO, {"resource": [{"id": 1, "name": "two"}]})  # a duplicate: fails
    wapi.delete(TODO, ids="1,2")
    wapi.delete(TODO, force="true")
    assert calls == [
        ("todo", "POST", 3),
        ("todo", "PATCH", 2),
        ("todo", "PUT", 1),
        ("todo", "PATCH", 0),
        ("todo", "DELETE", 2),
        ("todo", "DELETE", 1),
    ]
