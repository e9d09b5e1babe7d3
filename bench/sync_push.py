"""HubSpot push: 100,000 contacts to the simulator at the account's limit, then 1% of them again.

For each burst limit (100 and 190 requests per 10 s, HubSpot's Free/Starter
and Professional/Enterprise limits), with batches of 100:
- a first run pushes every row: the floor is rows / 100 requests at the
  limit (100,000 rows at 100 / 10 s: 1,000 requests, 100 s); it reports
  elapsed / floor (target <= 1.05), records lost (target 0: every row is a
  contact and has its HubSpot id written back) and 429s received (target 0:
  the shared limiter stays under the limit, it does not bounce off it);
- a second run after changing 1% of the rows reports requests sent / the
  minimum (the changed rows / 100, plus the one read of the property
  definitions every run makes; target <= 1.05).

The simulator runs as its own process (`manage.py hubspot_simulator`, as
`make run` starts it), so it does not share this process's CPU; the engine
runs in this process (`sync.engine.jobs.run_job`) against a database of
this benchmark's own, whose `contacts` table has an `updated_at` watermark
moved by a trigger (our own write-backs move it too) and write-back columns.
BENCH_SYNC_ROWS sets the row count (100,000) and BENCH_SYNC_LIMITS the
limits ("100,190").

One rule: everything made here (the database, the simulator process, the
service, account and job) is removed again, whatever fails.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings

from config.database import platform_conninfo
from services.demo import drop_database, ensure_database
from services.models import Service
from services.schema_cache import refresh_snapshot
from sync.engine.jobs import run_job
from sync.models import FieldMappingRow, HubSpotAccount, SyncJob, SyncRun

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "sluicegate_bench_sync"
NAME = "bench-sync"
WINDOW = 10
BATCH = 100
CHANGED_SHARE = 100  # one row in this many changes before the second run
TARGET_ELAPSED, TARGET_REQUESTS = 1.05, 1.05
SCHEMA = """
DROP TABLE IF EXISTS contacts;
CREATE TABLE contacts (
    id          bigint PRIMARY KEY,
    email       text NOT NULL,
    first_name  text,
    last_name   text,
    status      text NOT NULL,
    birthday    date,
    hubspot_id  text,
    synced_at   timestamptz,
    sync_status text,
    sync_error  text,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX contacts_watermark ON contacts (updated_at, id);
CREATE OR REPLACE FUNCTION contacts_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER contacts_touch BEFORE UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_touch();
"""
FILL = """
INSERT INTO contacts (id, email, first_name, last_name, status, birthday)
SELECT i, 'Contact' || i || '@Example.com', 'First' || i, 'Last' || (i %% 977),
       (ARRAY['lead', 'prospect', 'customer', 'churned'])[1 + i %% 4],
       CASE WHEN i %% 3 = 0 THEN NULL ELSE date '1960-01-01' + (i %% 15000) END
FROM generate_series(1, %s) AS i
"""
STAGES = {"lead": "lead", "prospect": "opportunity", "customer": "customer", "churned": "other"}
MAPPINGS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("email", "email", "lowercase_trim", {}),
    ("first_name", "firstname", "", {}),
    ("last_name", "lastname", "", {}),
    ("status", "lifecyclestage", "enum_map", {"values": STAGES}),
    ("birthday", "date_of_birth", "date_midnight_utc", {}),
)


@dataclass(frozen=True, slots=True)
class Simulator:
    url: str
    process: subprocess.Popen[bytes]

    def control(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET `/__sim__/{name}`, or POST `body` to it."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.url}/__sim__/{name}", data=data, method="GET" if body is None else "POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            result: dict[str, Any] = json.loads(answer.read())
            return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def simulator_process(*arguments: str, start_seconds: float = 30) -> Iterator[Simulator]:
    """The simulator as its own process (`arguments` added to its command line), stopped after."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "manage.py", "hubspot_simulator", "--port", str(port), *arguments],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    simulator = Simulator(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                simulator.control("stats")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the HubSpot simulator did not start") from None
                time.sleep(0.1)
        yield simulator
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def source(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(platform_conninfo(dbname=DATABASE), autocommit=True) as conn:
        cursor = conn.execute(statement.encode() if params is None else statement, params)
        return cursor.fetchall() if cursor.description else []


def make_job(service: Service, simulator: Simulator, limit: int) -> SyncJob:
    """A fresh account (its own token, so its own limiter) and job for one limit."""
    token = f"bench-{limit}-{os.getpid()}"
    simulator.control("reset", {})
    simulator.control(
        "config", {"tokens": [token], "burst_limit": limit, "burst_window_seconds": WINDOW}
    )
    SyncJob.objects.filter(name=NAME).delete()
    HubSpotAccount.objects.filter(name=NAME).delete()
    account = HubSpotAccount(
        name=NAME, label="Benchmark", base_url=simulator.url, burst_limit=limit,
        burst_window_seconds=WINDOW,
    )  # fmt: skip
    account.set_token(token)
    account.save()
    job = SyncJob.objects.create(
        name=NAME, account=account, service=service, table="contacts", object_type="contacts",
        mode="upsert", match_column="email", match_property="email", watermark_column="updated_at",
        writeback_id_column="hubspot_id", writeback_synced_at_column="synced_at",
        writeback_status_column="sync_status", writeback_error_column="sync_error",
    )  # fmt: skip
    for position, (column, prop, transform, options) in enumerate(MAPPINGS):
        FieldMappingRow.objects.create(
            job=job, column=column, property=prop, transform=transform, options=options,
            direction="push", position=position,
        )  # fmt: skip
    return job


def scenario(service: Service, simulator: Simulator, rows: int, limit: int) -> list[str]:
    source(SCHEMA)
    source(FILL, [rows])
    source("VACUUM ANALYZE contacts")
    refresh_snapshot(service.config())
    job = make_job(service, simulator, limit)

    first = run_job(job.pk)
    stats = simulator.control("stats")
    contacts = stats["objects"]["contacts"]["active"]
    written = source("SELECT count(*) FROM contacts WHERE hubspot_id IS NOT NULL")[0][0]
    lost = max(rows - contacts, rows - written)
    floor = rows / BATCH / limit * WINDOW
    elapsed = first.elapsed_seconds or 0.0
    received = int(stats["rate_limited"])

    source("UPDATE contacts SET first_name = first_name || ' (changed)' WHERE id %% %s = 0",
           [CHANGED_SHARE])  # fmt: skip
    changed = rows // CHANGED_SHARE
    second = run_job(job.pk)
    minimum = math.ceil(changed / BATCH) + 1
    again = simulator.control("stats")
    return [
        f"{limit} requests / {WINDOW} s, {rows:,} contacts in batches of {BATCH}: "
        f"run {first.status}, {first.requests_sent:,} requests in {elapsed:.1f} s, "
        f"floor {floor:.1f} s: elapsed / floor {elapsed / floor:.3f} (target <= {TARGET_ELAPSED})",
        f"  records lost {lost} (target 0), failed {first.records_failed}; "
        f"429s received {received} (target 0; absorbed by the client {first.rate_limited}); "
        f"max requests in any {WINDOW} s window {stats['max_requests_in_window']} "
        f"(limit {limit})",
        f"  after changing {changed:,} rows (1%): run {second.status}, changed "
        f"{second.records_changed:,}, requests sent {second.requests_sent} / minimum {minimum} "
        f"({math.ceil(changed / BATCH)} batches + 1 property read) = "
        f"{second.requests_sent / minimum:.3f} (target <= {TARGET_REQUESTS}); "
        f"{(second.elapsed_seconds or 0):.1f} s; 429s received "
        f"{int(again['rate_limited']) - received}",
    ]


@contextlib.contextmanager
def bench_service(name: str, label: str, database: str) -> Iterator[Service]:
    """A service `name` on a fresh `database`; it, its jobs, runs and account are removed after."""
    db = settings.DATABASES["default"]
    drop_database(database)
    ensure_database(database)
    Service.objects.filter(name=name).delete()
    service = Service(
        name=name, label=label, host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432), database=database, username=db.get("USER") or "postgres",
    )  # fmt: skip
    service.set_password(db.get("PASSWORD") or "")
    service.save()
    try:
        yield service
    finally:
        for step in (
            lambda: SyncRun.objects.filter(job__name=name).delete(),
            lambda: SyncJob.objects.filter(name=name).delete(),
            lambda: HubSpotAccount.objects.filter(name=name).delete(),
            lambda: Service.objects.filter(name=name).delete(),
            lambda: drop_database(database),
        ):
            try:
                step()
            except Exception as exc:  # a failed cleanup must not stop the next one
                print(f"{name} cleanup failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def run() -> list[str]:
    rows = int(os.environ.get("BENCH_SYNC_ROWS") or 100_000)
    limits = [int(x) for x in (os.environ.get("BENCH_SYNC_LIMITS") or "100,190").split(",")]
    lines: list[str] = []
    with bench_service(NAME, "Bench sync", DATABASE) as service, simulator_process() as simulator:
        for limit in limits:
            lines.extend(scenario(service, simulator, rows, limit))
    return lines
