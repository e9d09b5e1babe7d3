"""Dry runs, the per-batch hook, the Celery task and `manage.py run_sync`."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from sync import tasks
from sync.engine.jobs import run_job
from sync.models import SyncRecordError, SyncRecordState, SyncRun
from tests.sync.engine.conftest import World


def test_a_dry_run_sends_nothing_and_previews_what_it_would_send(world: World) -> None:
    world.people(3)
    world.insert([{"id": 4, "email": "broken"}])
    job = world.job()

    run = run_job(job.pk, dry_run=True)

    assert (run.status, run.dry_run) == ("partial", True)
    assert (run.records_changed, run.records_created, run.records_failed) == (4, 3, 1)
    assert world.requests("batch/") == 0
    assert world.simulator.count("contacts") == 0
    assert [entry["action"] for entry in run.preview] == ["upsert", "upsert", "upsert", "invalid"]
    assert run.preview[0]["properties"] == {
        "email": "person1@example.com",
        "firstname": "First1",
        "lastname": "Last1",
    }
    assert "INVALID_EMAIL" in run.preview[3]["error"]
    # Nothing was recorded or written back: a real run then sends everything.
    assert not SyncRecordState.objects.exists()
    assert not SyncRecordError.objects.exists()
    assert world.rows("hubspot_id, sync_status") == [(None, None)] * 4
    job.refresh_from_db()
    assert job.checkpoint == {}
    assert run_job(job.pk).records_created == 3


def test_the_jobs_dry_run_switch_makes_every_run_a_dry_run(world: World) -> None:
    world.people(2)
    job = world.job(dry_run=True)

    run = run_job(job.pk)

    assert run.dry_run
    assert world.requests("batch/") == 0


def test_a_dry_run_of_a_mirror_previews_the_archives(world: World) -> None:
    world.people(3)
    job = world.job(mode="mirror")
    run_job(job.pk)
    world.sql("DELETE FROM people WHERE id = 2")

    run = run_job(job.pk, dry_run=True)

    assert run.records_deleted == 1
    assert run.preview == [
        {
            "action": "archive",
            "key": "2",
            "id": SyncRecordState.objects.get(record_key="2").hubspot_id,
        }
    ]
    assert world.simulator.count("contacts") == 3


def test_the_hook_sees_every_batch_after_it_is_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int, list[str], int]] = []

    def hook(spec: Any, run: SyncRun, results: Any) -> None:
        states = SyncRecordState.objects.filter(job_id=spec.job_id).count()
        seen.append((spec.name, run.pk, [r.outcome for r in results], states))

    monkeypatch.setattr("sync.engine.hooks.batch_processed", hook)
    world.sql(
        "INSERT INTO people (id, email) "
        "SELECT i, 'h' || i || '@example.com' FROM generate_series(1, 150) AS i"
    )
    job = world.job()

    run = run_job(job.pk)

    assert [(name, pk, len(outcomes), states) for name, pk, outcomes, states in seen] == [
        ("people", run.pk, 100, 100),
        ("people", run.pk, 50, 150),
    ]
    assert set(seen[0][2]) == {"created"}


def test_the_celery_task_runs_the_job_and_is_safe_to_redeliver(world: World) -> None:
    world.people(2)
    job = world.job()
    task = tasks.run_job
    assert (task.acks_late, task.reject_on_worker_lost) == (True, True)
    assert 0 < (task.soft_time_limit or 0) < (task.time_limit or 0)
    assert task.name == "sync.tasks.run_job"

    first = task.apply(args=(job.pk,)).get()
    again = task.apply(args=(job.pk,), kwargs={"dry_run": False}).get()
    assert first is not None
    assert again is not None

    assert SyncRun.objects.get(pk=first).records_created == 2
    assert SyncRun.objects.get(pk=again).records_changed == 0
    assert task.apply(args=(999_999,)).get() is None


def test_run_sync_shows_progress_and_a_summary(world: World) -> None:
    world.people(3)
    world.job()
    out, err = StringIO(), StringIO()

    call_command("run_sync", "people", stdout=out, stderr=err)

    assert "succeeded" in out.getvalue()
    assert "created 3" in out.getvalue()
    assert "3/3" in err.getvalue()


def test_run_sync_dry_run_and_unknown_jobs(world: World) -> None:
    world.people(1)
    world.job()
    out = StringIO()
    call_command("run_sync", "people", "--dry-run", "--no-progress", stdout=out)
    assert "(dry run)" in out.getvalue()
    assert world.requests("batch/") == 0
    with pytest.raises(CommandError, match="no sync job 'nope'"):
        call_command("run_sync", "nope")
