"""The API audit trail: one record per request, nothing secret in it, nothing lost, kept 90 days."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from rbac.audit import audit_purge, flush
from rbac.models import AuditRecord
from services.models import Service
from tests.services.api.conftest import Credentials, grant, make_service

SECRET_KEY_TEXT = "not-a-real-key-but-secret-0123456789"
BASE = Path(__file__).resolve().parents[2]


@pytest.fixture
def service(db: None, target_database: str, worker_suffix: str) -> Service:
    name = f"audited-{worker_suffix}".replace("_", "-")[:60]
    return make_service(name, target_database)


@pytest.fixture
def reader(service: Service) -> Credentials:
    """A user session in an app whose role may read books only."""
    return grant(service, [{"component": "_table/books", "verbs": ["GET"]}], user_id=4101)


def call(client: Client, method: str, url: str, rid: str, **extra: Any) -> Any:
    headers = {"X-Request-Id": rid, **extra.pop("headers", {})}
    return getattr(client, method)(url, headers=headers, **extra)


def record(rid: str) -> AuditRecord:
    flush()
    return AuditRecord.objects.get(request_id=rid)


def test_a_page_read_is_recorded_with_principal_table_and_rows(
    client: Client, service: Service, reader: Credentials
) -> None:
    headers = {"X-DreamFactory-Session-Token": reader.token or "", "X-API-Key": reader.key}
    url = f"/api/v2/{service.name}/_table/books?limit=3&order=id"
    response = call(client, "get", url, "read-1", headers=headers)
    assert response.status_code == 200
    found = record("read-1")
    assert (found.user_id, found.username) == (4101, "user-4101")
    assert found.app.startswith("app-")
    assert found.role.startswith("role-")
    assert found.requestor == "API"
    assert (found.method, found.verb, found.status, found.rows) == ("GET", "GET", 200, 3)
    assert (found.service, found.table) == (service.name, "books")
    assert found.path == f"/api/v2/{service.name}/_table/books"
    assert found.client_ip == "127.0.0.1"
    assert found.duration_ms > 0
    assert abs(found.time - timezone.now()) < timedelta(minutes=1)


def test_a_single_read_counts_one_row(
    client: Client, service: Service, reader: Credentials
) -> None:
    headers = {"X-DreamFactory-Session-Token": reader.token or "", "X-API-Key": reader.key}
    response = call(
        client, "get", f"/api/v2/{service.name}/_table/books/1", "one-1", headers=headers
    )
    assert response.status_code == 200
    assert record("one-1").rows == 1


def test_a_wrong_key_in_the_query_is_recorded_as_401_without_the_key(
    client: Client, service: Service
) -> None:
    url = f"/api/v2/{service.name}/_table/books?api_key={SECRET_KEY_TEXT}&session_token=tok-{SECRET_KEY_TEXT}"
    response = call(client, "get", url, "bad-key-1")
    assert response.status_code == 401
    found = record("bad-key-1")
    assert (found.status, found.user_id, found.username, found.app, found.role) == (
        401,
        None,
        "",
        "",
        "",
    )
    assert (found.service, found.table, found.rows) == (service.name, "books", None)
    for row in AuditRecord.objects.values():
        assert not any(SECRET_KEY_TEXT in str(value) for value in row.values())


def test_a_missing_table_is_recorded_as_404(
    client: Client, service: Service, reader: Credentials
) -> None:
    url = f"/api/v2/{service.name}/_table/nowhere"
    response = call(client, "get", url, "missing-1", headers={"X-API-Key": reader.key})
    assert response.status_code == 404
    found = record("missing-1")
    assert (found.status, found.table, found.app) == (404, "nowhere", found.app)
    assert found.app.startswith("app-")


def test_a_refused_verb_is_recorded_as_403_with_the_tunnelled_verb(
    client: Client, service: Service, reader: Credentials
) -> None:
    url = f"/api/v2/{service.name}/_table/books/1"
    headers = {"X-API-Key": reader.key, "X-HTTP-Method": "DELETE"}
    response = call(client, "post", url, "refused-1", headers=headers)
    assert response.status_code == 403
    found = record("refused-1")
    assert (found.status, found.method, found.verb, found.rows) == (403, "POST", "DELETE", None)


def test_writes_record_the_records_written(client: Client, service: Service) -> None:
    writer = grant(service, [{"component": "_table/genres", "verbs": ["GET", "POST", "DELETE"]}])
    url = f"/api/v2/{service.name}/_table/genres"
    body = {"resource": [{"name": "audit-a"}, {"name": "audit-b"}]}
    created = call(
        client,
        "post",
        url,
        "write-1",
        data=body,
        content_type="application/json",
        headers={"X-API-Key": writer.key},
    )
    assert created.status_code == 200
    ids = ",".join(str(item["id"]) for item in created.json()["resource"])
    deleted = call(
        client, "delete", f"{url}?ids={ids}", "write-2", headers={"X-API-Key": writer.key}
    )
    assert deleted.status_code == 200
    assert (record("write-1").verb, record("write-1").rows) == ("POST", 2)
    assert (record("write-2").verb, record("write-2").rows) == ("DELETE", 2)


def test_health_and_admin_pages_are_not_recorded(admin_client: Client) -> None:
    assert admin_client.get("/health/live", headers={"X-Request-Id": "page-1"}).status_code == 200
    assert admin_client.get("/admin/", headers={"X-Request-Id": "page-2"}).status_code == 200
    flush()
    assert not AuditRecord.objects.filter(request_id__startswith="page-").exists()


def test_turning_auditing_off_records_nothing(
    client: Client, service: Service, settings: Any
) -> None:
    settings.SLUICEGATE_AUDIT = False
    response = call(client, "get", f"/api/v2/{service.name}", "off-1")
    assert response.status_code == 401
    assert response["X-Request-Id"] == "off-1"
    flush()
    assert not AuditRecord.objects.filter(request_id="off-1").exists()


@pytest.mark.django_db
def test_forwarded_for_is_believed_only_from_trusted_proxies(client: Client, settings: Any) -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.4, 203.0.113.9"}
    call(client, "get", "/api/v2/x", "ip-1", headers=forwarded)
    assert record("ip-1").client_ip == "127.0.0.1"
    settings.SLUICEGATE_TRUSTED_PROXIES = ("127.0.0.0/8",)
    call(client, "get", "/api/v2/x", "ip-2", headers=forwarded)
    assert record("ip-2").client_ip == "203.0.113.9"
    call(client, "get", "/api/v2/x", "ip-3", headers={"X-Forwarded-For": "not-an-address"})
    assert record("ip-3").client_ip == "127.0.0.1"


@pytest.mark.django_db(transaction=True)
def test_no_record_is_lost_under_500_concurrent_requests(live_server: Any) -> None:
    def hit(number: int) -> int:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            answer = http.get(
                "/api/v2/some-service/_table/t",
                headers={"X-Request-Id": f"load-{number}", "X-API-Key": "wrong"},
            )
            return answer.status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(hit, range(500)))
    assert statuses == [401] * 500
    flush()
    assert AuditRecord.objects.filter(request_id__startswith="load-").count() == 500


SHUTDOWN_SCRIPT = textwrap.dedent(
    """
    import django
    django.setup()
    from django.http import HttpResponse
    from django.test import RequestFactory
    from rbac.audit import AuditMiddleware

    middleware = AuditMiddleware(lambda request: HttpResponse(status=204))
    factory = RequestFactory()
    for number in range(1000):
        request = factory.get(f"/api/v2/svc/_table/t{number}?api_key=hidden")
        request.request_id = f"exit-{number}"
        middleware(request)
    """
)


@pytest.mark.django_db(transaction=True)
def test_records_queued_before_a_clean_exit_are_written() -> None:
    db = django_settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", SHUTDOWN_SCRIPT], env=env, cwd=BASE, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    assert AuditRecord.objects.filter(request_id__startswith="exit-").count() == 1000
    assert not AuditRecord.objects.filter(path__contains="hidden").exists()


@pytest.mark.django_db(transaction=True)
def test_gunicorn_worker_exit_writes_the_queue(client: Client) -> None:
    import runpy

    hooks = runpy.run_path(str(BASE / "platform" / "gunicorn.conf.py"))
    call(client.__class__(), "get", "/api/v2/x", "worker-exit-1")
    hooks["worker_exit"](None, None)
    assert AuditRecord.objects.filter(request_id="worker-exit-1").count() == 1


def old_and_new(now: Any) -> None:
    common = {
        "request_id": "purge-r",
        "method": "GET",
        "path": "/api/v2",
        "status": 200,
        "duration_ms": 1,
    }
    AuditRecord.objects.bulk_create(
        [AuditRecord(time=now - timedelta(days=days), **common) for days in (1, 29, 31, 100)]
    )


@pytest.mark.django_db
def test_purge_deletes_only_records_older_than_the_retention(settings: Any) -> None:
    now = timezone.now()
    old_and_new(now)
    settings.SLUICEGATE_AUDIT_RETENTION_DAYS = 30
    assert audit_purge(now=now, batch_size=1) == 2
    times = AuditRecord.objects.filter(request_id="purge-r").values_list("time", flat=True)
    kept = sorted((now - time).days for time in times)
    assert kept == [1, 29]


@pytest.mark.django_db
def test_the_purge_task_is_scheduled_daily_and_uses_the_default_retention() -> None:
    from rbac.tasks import purge_audit

    entry = next(
        item
        for item in django_settings.CELERY_BEAT_SCHEDULE.values()
        if item["task"] == "rbac.tasks.purge_audit"
    )
    schedule: Any = entry["schedule"]
    assert schedule.remaining_estimate(timezone.now()) <= timedelta(days=1)
    old_and_new(timezone.now())
    assert purge_audit.apply().get() == 1
    assert AuditRecord.objects.filter(request_id="purge-r").count() == 3


# --- admin ----------------------------------------------------------------------


def seed_admin_rows() -> None:
    now = timezone.now()
    rows = [
        ("ann", "crm", "sales", "svc", "books", 200, now - timedelta(days=2)),
        ("bob", "crm", "ops", "svc", "authors", 404, now - timedelta(hours=2)),
        ("cy", "web", "ops", "other", "books", 503, now - timedelta(minutes=5)),
    ]
    AuditRecord.objects.bulk_create(
        [
            AuditRecord(
                time=time,
                request_id=f"adm-{user}",
                username=user,
                app=app,
                role=role,
                service=svc,
                table=table,
                status=status,
                method="GET",
                verb="GET",
                path=f"/api/v2/{svc}/_table/{table}",
                duration_ms=1.5,
                rows=1,
            )
            for user, app, role, svc, table, status, time in rows
        ]
    )


CHANGELIST = "/admin/rbac/auditrecord/"
ONLY_SEEDED = "?request_id__startswith=adm-"


def listed(admin_client: Client, query: str) -> list[str]:
    response = admin_client.get(CHANGELIST + ONLY_SEEDED + query.replace("?", "&"))
    assert response.status_code == 200
    return sorted(row.username for row in response.context["cl"].result_list)


@pytest.mark.django_db
def test_admin_lists_filters_and_searches(admin_client: Client) -> None:
    seed_admin_rows()
    assert listed(admin_client, "") == ["ann", "bob", "cy"]
    assert listed(admin_client, "?status_class=4xx") == ["bob"]
    assert listed(admin_client, "?status_class=5xx") == ["cy"]
    assert listed(admin_client, "?status=200") == ["ann"]
    assert listed(admin_client, "?app=crm&role=ops") == ["bob"]
    assert listed(admin_client, "?service=svc&table=books") == ["ann"]
    assert listed(admin_client, "?q=cy") == ["cy"]
    since = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert listed(admin_client, f"?time_from={since}") == ["bob", "cy"]
    until = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert listed(admin_client, f"?time_from={since}&time_to={until}") == ["bob"]
    today = timezone.localdate().isoformat()
    assert "ann" not in listed(admin_client, f"?time_from={today}&time_to={today}")
    assert admin_client.get(CHANGELIST + "?time_from=yesterday").status_code == 302


@pytest.mark.django_db
def test_admin_is_read_only(admin_client: Client) -> None:
    seed_admin_rows()
    one = AuditRecord.objects.get(username="ann")
    assert admin_client.get(CHANGELIST + "add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{one.pk}/delete/").status_code == 403
    page = admin_client.get(f"{CHANGELIST}{one.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.post(f"{CHANGELIST}{one.pk}/change/", {"status": 500}).status_code == 403
    assert AuditRecord.objects.get(pk=one.pk).status == 200


@pytest.mark.django_db
def test_admin_exports_the_filtered_list_as_csv(admin_client: Client) -> None:
    seed_admin_rows()
    AuditRecord.objects.filter(username="bob").update(username="=cmd()")
    page = admin_client.get(CHANGELIST + "?app=crm")
    assert b"export/?app=crm" in page.content
    response = admin_client.get(CHANGELIST + "export/?app=crm&request_id__startswith=adm-")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    text = response.getvalue().decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["username"] for row in rows) == ["'=cmd()", "ann"]
    assert {row["request_id"] for row in rows} == {"adm-ann", "adm-bob"}


@pytest.mark.django_db
def test_the_export_needs_an_admin(client: Client) -> None:
    response = client.get(CHANGELIST + "export/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
