"""Real worker processes running `manage.py run_sync`: two at once on one account, and one killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from sync.engine.jobs import run_job
from sync.models import SyncRecordState, SyncRun
from tests.sync.engine.conftest import World

ROOT = Path(__file__).resolve().parents[3]
BY_ID: dict[str, Any] = {
    "match_column": "hubspot_id",
    "match_property": "hs_object_id",
    "writeback_id_column": "",
}


def worker_env() -> dict[str, str]:
    """The environment of a worker process: this test run's platform database and Redis."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    url = f"postgres://{user}{password}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": str(settings.REDIS_URL)}


def run_sync(job: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_sync", job, "--no-progress"],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_worker_processes_on_one_account_absorb_a_storm_within_the_limit(
    committed_world: World,
) -> None:
    world = committed_world
    limit = 4
    world.simulator.configure(
        burst_limit=limit,
        burst_window_seconds=1.0,
        fault_rate=0.2,
        fault_modes=["429"],
        fault_seed=13,
    )
    world.account.burst_limit = limit
    world.account.burst_window_seconds = 1
    world.account.save()
    world.sql(
        "INSERT INTO people (id, email, first_name) "
        "SELECT i, 'w' || i || '@example.com', 'W' FROM generate_series(1, 1000) AS i"
    )
    # Two jobs on two halves of the table (views: keyed by their match column).
    world.sql("CREATE VIEW people_a AS SELECT * FROM people WHERE id <= 500")
    world.sql("CREATE VIEW people_b AS SELECT * FROM people WHERE id > 500")
    world.job(name="left", table="people_a")
    world.job(name="right", table="people_b")

    workers = [run_sync("left"), run_sync("right")]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, out + err

    runs = list(SyncRun.objects.all())
    assert [(r.status, r.records_created, r.records_failed) for r in runs] == [
        ("succeeded", 500, 0)
    ] * 2
    stats = world.simulator.stats()
    injected = stats["faults"]["injected"].get("429", 0)
    assert injected >= 1
    assert sum(r.rate_limited for r in runs) == injected + stats["rate_limited"]
    assert stats["max_requests_in_window"] <= limit
    assert world.simulator.count("contacts") == 1000
    assert world.sql("SELECT count(*) FROM people WHERE sync_status = 'synced'") == [(1000,)]


@pytest.mark.parametrize(
    "fields", [{"mode": "upsert"}, {"mode": "upsert", **BY_ID}], ids=["by-email", "by-record-id"]
)
def test_a_worker_killed_mid_run_then_run_again_loses_and_duplicates_nothing(
    committed_world: World, fields: dict[str, Any]
) -> None:
    world = committed_world
    count = 1500
    world.simulator.configure(burst_limit=3, burst_window_seconds=1.0)
    world.account.burst_limit = 3
    world.account.burst_window_seconds = 1
    world.account.save()
    world.sql(
        "INSERT INTO people (id, email, first_name) "
        "SELECT i, 'k' || i || '@example.com', 'K' FROM generate_series(1, %s) AS i",
        [count],
    )
    job = world.job(**fields)
    write = "batch/upsert" if fields.get("match_property") != "hs_object_id" else "batch/create"

    worker = run_sync(job.name)
    deadline = time.monotonic() + 60
    while world.requests(write) < 4 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
    killed = SyncRun.objects.get()
    assert killed.status == "running"
    assert 0 < world.simulator.count("contacts") < count

    world.simulator.configure(burst_limit=100)
    world.account.burst_limit = 100
    world.account.save()
    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    assert run.records_failed == 0
    killed.refresh_from_db()
    assert (killed.status, killed.error[:11]) == ("failed", "Interrupted")
    assert world.simulator.count("contacts") == count
    rows = world.sql("SELECT email, hubspot_id, sync_status FROM people ORDER BY id")
    for email, hubspot_id, status in rows:
        contact = world.contact(email)
        assert contact is not None
        assert (hubspot_id, status) == (contact["id"], "synced")
    assert SyncRecordState.objects.filter(job=job).count() == count
