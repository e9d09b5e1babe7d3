"""Roles on writes: writable columns, presets, row filters, and what write results show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body, error_of

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi
make_writer = writes_support.make_writer

Maker = Callable[..., WriteApi]
NOTES = "/_table/notes"
COMPONENT = "_table/notes"
ALICE, BOB = 2001, 2002
WRITE_VERBS = ["POST", "PUT", "PATCH", "DELETE"]
DENIED = "Denied access to some of the requested fields."


def seed_notes(api: WriteApi) -> None:
    """Notes 1-2 owned by Alice, 3-4 by Bob (written by the admin)."""
    records = [
        {"owner_id": owner, "title": f"note {n}", "secret": f"s{n}"}
        for n, owner in enumerate((ALICE, ALICE, BOB, BOB), start=1)
    ]
    assert api.post(NOTES, records).status_code == 200


def rule(verbs: list[str], **policy: Any) -> dict[str, Any]:
    return {"component": COMPONENT, "verbs": verbs, **policy}


# --- column masks -------------------------------------------------------------------


def test_only_writable_columns_may_be_set(make_writer: Maker) -> None:
    writer = make_writer([rule(["GET", *WRITE_VERBS], writable_columns=["owner_id", "title"])])
    for field in ("secret", "no_such_column"):
        response = writer.post(NOTES, [{"owner_id": 1, "title": "t", field: "x"}])
        assert response.status_code == 400
        assert error_of(response)["message"] == f"Invalid field requested: {field}"
    assert writer.rows("SELECT count(*) FROM notes") == [(0,)]
    assert writer.post(NOTES, [{"owner_id": 1, "title": "t"}]).status_code == 200
    response = writer.patch(f"{NOTES}/1", {"secret": "x"})
    assert error_of(response)["message"] == "Invalid field requested: secret"
    assert writer.patch(f"{NOTES}/1", {"title": "new"}).status_code == 200


def test_results_show_only_readable_columns(make_writer: Maker) -> None:
    writer = make_writer([rule(["GET"], readable_columns=["id", "title"]), rule(WRITE_VERBS)])
    response = writer.post(NOTES, [{"owner_id": 1, "title": "t", "secret": "s"}], fields="*")
    assert body(response) == {"resource": [{"id": 1, "title": "t"}]}
    response = writer.patch(f"{NOTES}/1", {"body": "b"}, fields="secret")
    assert response.status_code == 400
    assert error_of(response)["message"] == "Invalid field requested: secret"
    assert writer.rows("SELECT body FROM notes") == [(None,)]


def test_a_writer_that_cannot_read_gets_only_ids(make_writer: Maker) -> None:
    writer = make_writer([rule(["POST"])])
    response = writer.post(NOTES, [{"owner_id": 1, "title": "t"}], fields="*")
    assert body(response) == {"resource": [{"id": 1}]}
    response = writer.post(NOTES, [{"owner_id": 1, "title": "u"}], fields="title")
    assert error_of(response)["message"] == "Invalid field requested: title"


def test_verbs_not_granted_are_forbidden(make_writer: Maker) -> None:
    reader = make_writer([rule(["GET"])])
    for verb in WRITE_VERBS:
        response = reader.call(verb, NOTES, [{"id": 1, "title": "x"}])
        assert response.status_code == 403
        assert error_of(response)["message"].startswith(f"Access Forbidden. {verb} access")
    stranger = make_writer([{"component": "_table/todo", "verbs": WRITE_VERBS}])
    response = stranger.post(NOTES, [{"owner_id": 1, "title": "x"}])
    assert response.status_code == 404
    assert error_of(response)["message"] == 'Table "notes" does not exist in the database.'


# --- presets ----------------------------------------------------------------------


def test_presets_are_applied_and_cannot_be_overridden(make_writer: Maker) -> None:
    writer = make_writer(
        [
            rule(
                ["GET", *WRITE_VERBS],
                writable_columns=["title", "body"],
                presets={"owner_id": "{user.id}", "status": "checked"},
            )
        ],
        user_id=ALICE,
    )
    response = writer.post(NOTES, [{"title": "mine", "owner_id": BOB, "status": "final"}])
    assert response.status_code == 200, response.content
    assert writer.rows("SELECT owner_id, status FROM notes") == [(ALICE, "checked")]
    writer.rows("UPDATE notes SET status = 'other', owner_id = 7")
    response = writer.patch(f"{NOTES}/1", {"body": "b", "owner_id": BOB})
    assert response.status_code == 200, response.content
    assert writer.rows("SELECT owner_id, status, body FROM notes") == [(ALICE, "checked", "b")]


def test_a_preset_lookup_the_caller_lacks_is_refused(make_writer: Maker) -> None:
    writer = make_writer([rule(["POST"], presets={"owner_id": "{user.id}"})])
    response = writer.post(NOTES, [{"title": "t"}])
    assert response.status_code == 400
    assert "user.id" in error_of(response)["message"]
    assert writer.rows("SELECT count(*) FROM notes") == [(0,)]


# --- row filters ------------------------------------------------------------------


@pytest.fixture
def alice(make_writer: Maker, wapi: WriteApi) -> WriteApi:
    seed_notes(wapi)
    return make_writer(
        [rule(["GET", *WRITE_VERBS], row_filter="owner_id = {user.id}")], user_id=ALICE
    )


def test_created_rows_must_satisfy_the_row_filter(alice: WriteApi) -> None:
    records = [{"owner_id": ALICE, "title": "ok"}, {"owner_id": BOB, "title": "for bob"}]
    for mode in ({}, {"continue": "true"}):
        response = alice.post(NOTES, records, **mode)
        assert response.status_code == 403
        assert error_of(response)["message"] == DENIED
    assert alice.rows("SELECT count(*) FROM notes") == [(4,)]
    assert alice.post(NOTES, records[:1]).status_code == 200


def test_updates_only_touch_visible_rows_and_keep_them_visible(alice: WriteApi) -> None:
    response = alice.patch(f"{NOTES}/3", {"title": "taken"})
    assert response.status_code == 404
    assert error_of(response)["message"] == "Record with identifier '3' not found."
    response = alice.patch(NOTES, {"body": "seen"}, ids="1,3")
    assert error_of(response)["context"]["error"] == [1]
    response = alice.patch(NOTES, {"body": "all"}, filter="id > 0")
    assert body(response) == {"resource": [{"id": 1}, {"id": 2}]}
    assert alice.rows("SELECT id FROM notes WHERE body = 'all' ORDER BY id") == [(1,), (2,)]
    response = alice.patch(f"{NOTES}/1", {"owner_id": BOB})
    assert response.status_code == 403
    assert error_of(response)["message"] == DENIED
    response = alice.patch(NOTES, {"owner_id": BOB}, filter="id > 0")
    assert response.status_code == 403
    assert alice.rows("SELECT id, owner_id FROM notes ORDER BY id") == [
        (1, ALICE),
        (2, ALICE),
        (3, BOB),
        (4, BOB),
    ]


def test_deletes_only_touch_visible_rows(alice: WriteApi) -> None:
    assert alice.delete(f"{NOTES}/4").status_code == 404
    response = alice.delete(NOTES, filter="title like 'note%'")
    assert body(response) == {"resource": [{"id": 1}, {"id": 2}]}
    assert alice.post(NOTES, [{"owner_id": ALICE, "title": "again"}]).status_code == 200
    assert body(alice.delete(NOTES, force="true")) == {"success": True}
    assert alice.rows("SELECT id FROM notes ORDER BY id") == [(3,), (4,)]


def test_hidden_columns_in_a_write_filter_are_unknown(make_writer: Maker, wapi: WriteApi) -> None:
    seed_notes(wapi)
    writer = make_writer([rule(["GET", *WRITE_VERBS], readable_columns=["id", "title"])])
    response = writer.delete(NOTES, filter="secret = 's1'")
    assert response.status_code == 400
    assert (
        error_of(response)["message"] == "Invalid or unparsable field in filter request: 'secret'"
    )
    assert writer.rows("SELECT count(*) FROM notes") == [(4,)]
