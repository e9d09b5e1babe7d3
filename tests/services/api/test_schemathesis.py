"""Schemathesis against the demo service's own `_spec`: every operation answers as documented.

Each test loads the role-aware document from the WSGI application
(in-process), generates requests for every operation in it (the documented
examples, boundary and invalid values of the coverage phase, then random
inputs) and checks every answer: never a 5xx, a documented status code, the
documented content type and response schema, invalid input refused, an
unauthenticated call refused, an undocumented method refused. Writes run for
real, each test against a fresh copy of the demo database of its own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from config.handlers import Application
from services.models import Service
from tests.conftest import scratch_database
from tests.services.api.conftest import grant, make_service

pytestmark = pytest.mark.fuzz

# Random cases per operation and generation mode, on top of the coverage
# phase's fixed ones: the four tests take about two and a half minutes on two
# cores, the record writes (the longest) about 75 seconds.
MAX_EXAMPLES = 5
SEED = 20240607
WRITES = ["POST", "PUT", "PATCH", "DELETE"]
SCHEMA_WRITES: dict[str, Any] = {"method": WRITES, "path_regex": "^/_schema"}
TABLE_WRITES: dict[str, Any] = {"method": WRITES, "path_regex": "^/_table/"}
CONTACT_COLUMNS = [
    "id", "external_id", "email", "first_name", "last_name", "phone", "job_title",
    "company_id", "status", "tags", "attributes", "lifetime_value", "birthday",
    "hubspot_id", "hubspot_synced_at", "hubspot_sync_status", "hubspot_sync_error",
    "created_at", "updated_at",
]  # fmt: skip
# GET-only tables, a hidden column, row filters, a preset, writes on others.
RESTRICTED_RULES: list[dict[str, Any]] = [
    {
        "component": "_table/contacts",
        "verbs": ["GET", "POST", "PATCH", "DELETE"],
        "readable_columns": [c for c in CONTACT_COLUMNS if c != "hubspot_sync_error"],
        "writable_columns": ["email", "first_name", "last_name", "phone", "job_title", "status"],
        "row_filter": "status != 'churned'",
    },
    {"component": "_table/companies", "verbs": ["GET"], "row_filter": "country = 'NL'"},
    {"component": "_table/active_contacts", "verbs": ["GET"]},
    {
        "component": "_table/deals",
        "verbs": ["GET", "POST", "PUT", "DELETE"],
        "writable_columns": ["name", "contact_id", "amount", "stage", "close_date"],
        "presets": {"stage": "qualifiedtobuy"},
    },
    {"component": "_func/*", "verbs": ["GET"]},
    {"component": "_proc/close_deal", "verbs": ["POST"]},
    {"component": "_schema/deals", "verbs": ["GET"]},
]


def fuzz_config(key: str) -> schemathesis.Config:
    """Deterministic generation on a fixed budget; `key` sent as the `X-API-Key` scheme."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "auth": {"openapi": {"ApiKeyShort": {"api_key": key}}},
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "with-security-parameters": False,
            },
            "phases": {
                # Sequences of calls need links between operations, which the document has not.
                "stateful": {"enabled": False},
                # Every accepted call is probed again without a key and with wrong ones
                # (several calls each); the random cases of each operation suffice.
                "coverage": {"checks": {"ignored_auth": {"enabled": False}}},
            },
            "checks": {
                # Many schema-valid requests are rightly refused with a documented 400:
                # a filter, field list or order the server parses, `rollback` with
                # `continue`, an id that is no number, an error the function raises.
                "positive_data_acceptance": {"enabled": False},
            },
            "operations": [
                {
                    # POST on a record path answers DreamFactory's 400 `Create record by
                    # identifier not currently supported.` (clients match on it), not 405.
                    "include-path-regex": "^/_table/[^/]+/\\{id\\}$",
                    "checks": {"unsupported_method": {"enabled": False}},
                },
                {
                    # POST on `/_schema/{table}` creates the table it names, so on an
                    # existing one it is a request refused with 400; so are PUT, PATCH
                    # and DELETE on a view's schema (`'v' is a view: ...`). Not 405s.
                    "include-path-regex": "^/_schema/[^/]+$",
                    "checks": {"unsupported_method": {"enabled": False}},
                },
            ],
        }
    )


@pytest.fixture
def application(db: None, settings: Any) -> Iterator[Application]:
    """The WSGI application, answering within the test's transaction."""
    # The audit trail has tests of its own; here its writer thread would only
    # commit thousands of records beside the test's transaction.
    settings.SLUICEGATE_AUDIT = False
    # Thousands of refused requests: only a server error is worth a log line.
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield Application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        request_log.setLevel(level)


@pytest.fixture
def fuzz_service(db: None, worker_suffix: str, django_db_blocker: Any) -> Iterator[Service]:
    """A service on a fresh demo database of this test's own: the writes land there."""
    from services.demo import load_demo

    name = f"sg_test_fuzz_{worker_suffix}"
    with scratch_database(name, django_db_blocker):
        with django_db_blocker.unblock():
            load_demo(name)
        # Small pages: every answer's records are checked against the document.
        service = make_service(f"fuzz-{worker_suffix}".replace("_", "-")[:60], name, max_records=20)
        yield service


def load(
    request: pytest.FixtureRequest, application: Application, service: Service, key: str
) -> Any:
    """The document `key` gets from `_spec`, ready to generate cases against `application`."""
    # Schemathesis 4 reads and rewrites the running item's `_nodeid` to name each
    # operation's subtest; pytest 9.2 keeps the node id elsewhere (`_id`), so the
    # attribute it reads is provided here.
    request.node._nodeid = request.node.nodeid
    return schemathesis.openapi.from_wsgi(
        f"/api/v2/{service.name}/_spec",
        application,
        headers={"X-API-Key": key},
        config=fuzz_config(key),
    )


@pytest.fixture
def admin_schema(
    request: pytest.FixtureRequest, application: Application, fuzz_service: Service, admin_key: str
) -> Any:
    return load(request, application, fuzz_service, admin_key)


@pytest.fixture
def restricted_schema(
    request: pytest.FixtureRequest, application: Application, fuzz_service: Service
) -> Any:
    return load(request, application, fuzz_service, grant(fuzz_service, RESTRICTED_RULES).key)


def call(case: schemathesis.Case[Any]) -> None:
    """Send `case` and check the answer; each write gets an `Idempotency-Key` of its own.

    A client sends one key per logical request; the generated cases would
    otherwise share the document's example key, and every write after the
    first would be a (rightly refused) reuse of it.
    """
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    case.call_and_validate()


admin = schemathesis.pytest.from_fixture("admin_schema")
restricted = schemathesis.pytest.from_fixture("restricted_schema")


# Dropping and altering tables would leave the document the other operations
# are generated from behind the database, so schema changes run on their own;
# record writes too, so the reads see the demo's rows (and the tests can run on
# different workers).
@admin.exclude(**SCHEMA_WRITES).exclude(**TABLE_WRITES).parametrize()
def test_admin_reads_and_calls_answer_as_documented(case: schemathesis.Case[Any]) -> None:
    call(case)


@admin.include(**TABLE_WRITES).parametrize()
def test_admin_record_writes_answer_as_documented(case: schemathesis.Case[Any]) -> None:
    call(case)


@admin.include(**SCHEMA_WRITES).parametrize()
def test_admin_schema_changes_answer_as_documented(case: schemathesis.Case[Any]) -> None:
    call(case)


@restricted.parametrize()
def test_restricted_role_answers_match_its_document(case: schemathesis.Case[Any]) -> None:
    call(case)
