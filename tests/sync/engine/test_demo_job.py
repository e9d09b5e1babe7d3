"""The demo's sync job: registered once with its schedule, and valid for every demo contact."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from services.demo.service import register_demo_service
from services.demo.sync_job import DEMO_JOB, register_demo_sync, simulator_url
from sync.engine.jobs import run_job
from sync.hubspot.simulator import Simulator
from sync.models import HubSpotAccount, SyncJob


@pytest.mark.django_db
def test_the_demo_job_is_registered_once_and_scheduled_every_few_minutes(
    demo_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_SIMULATOR_PORT", "9123")
    service = register_demo_service(demo_database)

    job = register_demo_sync(service)
    again = register_demo_sync(service)

    assert again.pk == job.pk
    assert SyncJob.objects.count() == HubSpotAccount.objects.count() == 1
    assert job.account.base_url == simulator_url() == "http://127.0.0.1:9123"
    assert (job.table, job.match_column, job.match_property) == ("contacts", "email", "email")
    assert job.writeback_id_column == "hubspot_id"
    assert {row.transform for row in job.mappings.all()} >= {
        "lowercase_trim",
        "enum_map",
        "date_midnight_utc",
        "default",
    }
    task = PeriodicTask.objects.get()
    assert task.interval is not None
    assert (task.task, task.args, task.interval.every) == ("sync.tasks.run_job", f"[{job.pk}]", 300)


@pytest.mark.django_db
def test_every_demo_contact_passes_hubspots_checks(
    demo_database: str, hubspot_simulator: Simulator
) -> None:
    job = register_demo_sync(register_demo_service(demo_database))
    HubSpotAccount.objects.filter(pk=job.account_id).update(base_url=hubspot_simulator.base_url)

    # A dry run: the shared demo database is read, never written.
    run = run_job(job.pk, dry_run=True)

    assert run.status == "succeeded", run.error
    assert (run.records_read, run.records_failed) == (10_000, 0)
    assert len(run.preview) == 100
    assert hubspot_simulator.stats()["requests"] == 1
    assert SyncJob.objects.get(name=DEMO_JOB).checkpoint == {}
