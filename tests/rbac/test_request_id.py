"""Request ids: accepted, replaced or generated; in the answer, the error body, the logs and the trail."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from config.logs import JsonFormatter
from config.middleware import RequestIdFilter
from rbac.audit import flush
from rbac.models import AuditRecord

HEX_ID = re.compile(r"[0-9a-f]{32}")


def unknown(client: Client, **headers: str) -> Any:
    return client.get("/api/v2/no-such-service", headers={"X-API-Key": "wrong-key", **headers})


@pytest.mark.django_db
def test_a_well_formed_id_is_kept_in_header_error_body_and_record(client: Client) -> None:
    response = unknown(client, **{"X-Request-Id": "trace-01.a:b_c"})
    assert response.status_code == 401
    assert response["X-Request-Id"] == "trace-01.a:b_c"
    assert response.json()["error"]["request_id"] == "trace-01.a:b_c"
    flush()
    record = AuditRecord.objects.get(request_id="trace-01.a:b_c")
    assert record.status == 401


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["has spaces", "x" * 65, "semi;colon", "new\nline", ""])
def test_a_malformed_id_is_replaced(client: Client, given: str) -> None:
    response = unknown(client, **{"X-Request-Id": given})
    assert HEX_ID.fullmatch(response["X-Request-Id"])
    assert response.json()["error"]["request_id"] == response["X-Request-Id"]


@pytest.mark.django_db
def test_a_missing_id_is_generated_and_unique(client: Client) -> None:
    first, second = unknown(client), unknown(client)
    assert HEX_ID.fullmatch(first["X-Request-Id"])
    assert first["X-Request-Id"] != second["X-Request-Id"]
    flush()
    assert AuditRecord.objects.filter(request_id=first["X-Request-Id"]).count() == 1


@pytest.mark.django_db
def test_pages_outside_the_api_carry_an_id_too(client: Client) -> None:
    response = client.get("/health/live", headers={"X-Request-Id": "probe-7"})
    assert response.status_code == 200
    assert response["X-Request-Id"] == "probe-7"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the json formatter writes for `django.request` and `sluicegate.audit`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger("django.request"), logging.getLogger("sluicegate.audit")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield stream
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.django_db
def test_log_lines_of_a_request_carry_its_id(client: Client, json_log: io.StringIO) -> None:
    response = unknown(client, **{"X-Request-Id": "log-me-1"})
    flush()
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    request_log = [line for line in lines if line["logger"] == "django.request"]
    assert request_log
    assert request_log[0]["request_id"] == "log-me-1"
    assert "Unauthorized" in request_log[0]["message"]
    audit = [line for line in lines if line["logger"] == "sluicegate.audit"]
    assert len(audit) == 1
    assert audit[0]["request_id"] == "log-me-1"
    assert audit[0]["audit"]["status"] == response.status_code
    assert audit[0]["audit"]["path"] == "/api/v2/no-such-service"
    assert json.loads(audit[0]["message"])["request_id"] == "log-me-1"


@pytest.mark.django_db
def test_the_audit_log_line_can_be_turned_off(
    client: Client, json_log: io.StringIO, settings: Any
) -> None:
    settings.SLUICEGATE_AUDIT_LOG = False
    unknown(client, **{"X-Request-Id": "quiet-1"})
    flush()
    assert "sluicegate.audit" not in json_log.getvalue()
    assert AuditRecord.objects.filter(request_id="quiet-1").exists()


def test_a_log_line_outside_a_request_has_a_dash() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    assert RequestIdFilter().filter(record)
    assert json.loads(JsonFormatter().format(record))["request_id"] == "-"


@pytest.mark.django_db
def test_an_internal_error_answers_500_with_the_id(
    client: Client, monkeypatch: pytest.MonkeyPatch, django_user_model: Any
) -> None:
    from rbac.keys import create_admin_key
    from services.api import views

    def broken() -> list[tuple[str, str]]:
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "active_service_labels", broken)
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-unused-1")
    key = create_admin_key(user=user, name="tests").key
    client.raise_request_exception = False
    response = client.get("/api/v2", headers={"X-API-Key": key, "X-Request-Id": "crash-1"})
    assert response.status_code == 500
    assert response["X-Request-Id"] == "crash-1"
    assert response.json()["error"] == {
        "code": 500,
        "message": "An internal error occurred.",
        "status_code": 500,
        "context": None,
        "request_id": "crash-1",
    }
    flush()
    record = AuditRecord.objects.get(request_id="crash-1")
    assert (record.status, record.username) == (500, "boss")
