"""Nothing a role may not see can be inferred: hidden columns and other owners' rows.

A clinician (user 1001) may read patients except `ssn`, and only their own
(`owner_id = {user.id}`); visits, owners and tags are readable in full.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest

from tests.rbac.enforcement.conftest import OWNER_ADA, Caller

PATIENT_COLUMNS = ["id", "owner_id", "name", "score", "attrs"]
OWN_PATIENTS = [1, 2, 3]


@pytest.fixture
def clinician(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller(
        [
            {
                "component": "_table/patients",
                "verbs": ["GET"],
                "readable_columns": PATIENT_COLUMNS,
                "row_filter": "owner_id = {user.id}",
            },
            {"component": "_table/*", "verbs": ["GET"]},
            {"component": "_schema/*", "verbs": ["GET"]},
        ],
        user_id=OWNER_ADA,
    )


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["resource"]]


# --- hidden columns -----------------------------------------------------------

HIDDEN_COLUMN_CASES = {
    "filter": ("patients", {"filter": "{col} like '1%'"}),
    "filter-in-or": ("patients", {"filter": "id = 1 OR {col} = '111-11-1111'"}),
    "filter-json-path": ("patients", {"filter": "{col}->>'plan' = 'pro'"}),
    "order": ("patients", {"order": "{col} desc"}),
    "group": ("patients", {"fields": "COUNT(*)", "group": "{col}"}),
    "fields": ("patients", {"fields": "id,{col}"}),
    "aggregate": ("patients", {"fields": "COUNT({col})"}),
    "aggregate-max": ("patients", {"fields": "MAX({col})"}),
    "id-field": ("patients", {"ids": "111-11-1111", "id_field": "{col}"}),
    "related-fields": (
        "visits",
        {"related": "patients_by_patient_id", "patients_by_patient_id.fields": "{col}"},
    ),
    "related-order": (
        "owners",
        {"related": "patients_by_owner_id", "patients_by_owner_id.order": "{col}"},
    ),
    "related-fields-has-many": (
        "owners",
        {"related": "patients_by_owner_id", "patients_by_owner_id.fields": "id,{col}"},
    ),
    "related-filter": ("visits", {"filter": "patients_by_patient_id.{col} like '1%'"}),
}


@pytest.mark.parametrize("case", HIDDEN_COLUMN_CASES.values(), ids=HIDDEN_COLUMN_CASES.keys())
def test_hidden_column_answers_like_a_missing_one(
    clinician: Caller, case: tuple[str, dict[str, str]]
) -> None:
    table, params = case
    hidden = clinician.table(table, **{k: v.format(col="ssn") for k, v in params.items()})
    missing = clinician.table(table, **{k: v.format(col="nosuch") for k, v in params.items()})
    assert hidden.status_code == missing.status_code == 400, hidden.content
    assert hidden.content.replace(b"ssn", b"?") == missing.content.replace(b"nosuch", b"?")


def test_hidden_column_is_absent_from_records_schema_and_related(clinician: Caller) -> None:
    rows = clinician.table("patients", include_schema="true").json()
    assert all(sorted(row) == sorted(PATIENT_COLUMNS) for row in rows["resource"])
    assert "ssn" not in [field["name"] for field in rows["meta"]["schema"]["field"]]
    described = clinician.get("/_schema/patients").json()
    assert "ssn" not in [field["name"] for field in described["field"]]
    visits = clinician.table("visits", related="patients_by_patient_id", filter="id = 1").json()
    assert sorted(visits["resource"][0]["patients_by_patient_id"]) == sorted(PATIENT_COLUMNS)
    export = clinician.table("patients", file="p.csv")
    header = next(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert "ssn" not in header


# --- row filter -----------------------------------------------------------------------

OTHER_OWNER_FILTERS = [
    "id = 4",
    "owner_id = 1002",
    "NOT (owner_id = 1001)",
    "owner_id != 1001",
    "id = 1 OR id = 4",
    "(id = 4) OR (owner_id = 1002)",
    "id IN (4, 5, 6)",
    "name like 'B%'",
    "owner_id IS NOT NULL",
]


@pytest.mark.parametrize("text", OTHER_OWNER_FILTERS)
def test_client_filter_never_reaches_other_owners_rows(clinician: Caller, text: str) -> None:
    found = ids(clinician.table("patients", filter=text))
    assert set(found) <= set(OWN_PATIENTS)


@pytest.mark.parametrize("text", ["a=1) OR (a!=1", "id=1) OR (id=4", "id = 1)) OR ((1=1"])
def test_parenthesis_tricks_are_parse_errors(clinician: Caller, text: str) -> None:
    response = clinician.table("patients", filter=text)
    assert response.status_code == 400
    assert b"Bert" not in response.content


def test_counts_see_only_own_rows(clinician: Caller) -> None:
    counted = clinician.table("patients", include_count="true", limit=1).json()
    assert counted["meta"]["count"] == len(OWN_PATIENTS)
    assert clinician.table("patients", count_only="true").json() == len(OWN_PATIENTS)
    grouped = clinician.table("patients", fields="owner_id,COUNT(*)", group="owner_id").json()
    assert grouped["resource"] == [{"owner_id": OWNER_ADA, "COUNT(*)": 3}]
    assert clinician.table("patients", fields="MAX(score)").json()["resource"] == [
        {"MAX(score)": 30}
    ]


def test_other_owners_record_answers_like_a_missing_one(clinician: Caller) -> None:
    other, missing = clinician.get("/_table/patients/4"), clinician.get("/_table/patients/999")
    assert other.status_code == missing.status_code == 404
    assert other.content.replace(b"'4'", b"?") == missing.content.replace(b"'999'", b"?")
    other = clinician.table("patients", ids="1,4")
    missing = clinician.table("patients", ids="1,999")
    assert other.status_code == missing.status_code
    assert other.content.replace(b"'4'", b"?") == missing.content.replace(b"'999'", b"?")


def test_related_records_obey_the_related_tables_policy(clinician: Caller) -> None:
    visits = clinician.table("visits", related="patients_by_patient_id", order="id").json()
    related = {row["id"]: row["patients_by_patient_id"] for row in visits["resource"]}
    assert {visit: bool(patient) for visit, patient in related.items()} == {
        1: True,
        2: True,
        3: False,
        4: False,
        5: False,
    }
    owners = clinician.table("owners", related="patients_by_owner_id", order="id").json()
    assert [[p["id"] for p in row["patients_by_owner_id"]] for row in owners["resource"]] == [
        OWN_PATIENTS,
        [],
    ]
    tags = clinician.table("tags", related="patients_by_patient_tags", order="id").json()
    assert [[p["id"] for p in row["patients_by_patient_tags"]] for row in tags["resource"]] == [
        [1],
        [2],
    ]
    through = clinician.table("visits", filter="patients_by_patient_id.owner_id = 1002")
    assert ids(through) == []


def test_streamed_export_applies_the_row_filter(clinician: Caller) -> None:
    export = clinician.table("patients", file="p.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted(int(row["id"]) for row in rows) == OWN_PATIENTS


def test_app_key_without_user_gets_no_rows_from_user_filter(
    make_caller: Callable[..., Caller],
) -> None:
    caller = make_caller(
        [
            {
                "component": "_table/patients",
                "verbs": ["GET"],
                "row_filter": "owner_id = {user.id}",
            },
            {"component": "_table/owners", "verbs": ["GET"]},
        ]
    )
    # The only rule on patients needs {user.id}: without a user it grants nothing.
    assert caller.table("patients").status_code == 404
    assert caller.table("owners").status_code == 200


def test_custom_lookup_in_row_filter(make_caller: Callable[..., Caller]) -> None:
    caller = make_caller(
        [{"component": "_table/patients", "verbs": ["GET"], "row_filter": "owner_id = {clinic}"}],
        user_id=OWNER_ADA + 10,
        lookups={"clinic": "1002"},
    )
    assert ids(caller.table("patients", order="id")) == [4, 5, 6]


def test_page_cap_of_the_role_applies(make_caller: Callable[..., Caller]) -> None:
    caller = make_caller([{"component": "_table/patients", "verbs": ["GET"], "max_page_size": 2}])
    assert len(ids(caller.table("patients", limit=100))) == 2


def test_by_id_reads_bind_each_callers_own_lookup(client: Any, clinic: Any) -> None:
    """Two users of one role share a cached statement; each binds their own `{user.id}`."""
    from django.contrib.auth.models import User

    from rbac.keys import set_app_key
    from rbac.models import AccessRule, App, Role
    from rbac.sessions import issue_session

    role = Role.objects.create(name="owners")
    AccessRule.objects.create(
        role=role, service=clinic, component="_table/patients", row_filter="owner_id = {user.id}"
    )
    app = App.objects.create(name="clinic-app", default_role=role)
    key = set_app_key(app)
    tokens = {}
    for owner in (OWNER_ADA, OWNER_ADA + 1):
        User.objects.create_user(f"owner-{owner}", f"o{owner}@example.com", "pw-1", id=owner)
        tokens[owner] = issue_session(user_id=owner, app_id=app.pk)[0]

    def status(owner: int, record: int) -> int:
        headers = {"X-API-Key": key, "X-DreamFactory-Session-Token": tokens[owner]}
        url = f"/api/v2/{clinic.name}/_table/patients/{record}"
        return int(client.get(url, headers=headers).status_code)

    assert [status(OWNER_ADA, 1), status(OWNER_ADA + 1, 1), status(OWNER_ADA + 1, 4)] == [
        200,
        404,
        200,
    ]
    assert [status(OWNER_ADA, 4), status(OWNER_ADA, 2)] == [404, 200]
