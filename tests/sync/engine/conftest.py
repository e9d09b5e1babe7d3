"""Fixtures of the engine tests: a source database, a service, a HubSpot account on the simulator, jobs.

Every test gets a fresh `people` table (with a trigger that moves
`updated_at` on every update, as real tables often have), a `crm` service
on it, and an account pointing at the session's simulator; the account's
rate limiter and the job locks are cleared from Redis before and after.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings

from config.database import platform_conninfo
from services.models import Service
from services.schema_cache import refresh_snapshot
from sync.hubspot.ratelimit import RateLimiter
from sync.hubspot.settings import AccountSettings, RetryPolicy, Timeouts
from sync.hubspot.simulator import Simulator
from sync.jobspec import JobSpec
from sync.keys import sync_key
from sync.models import FieldMappingRow, HubSpotAccount, SyncJob
from tests.conftest import scratch_database

PEOPLE = """
DROP SCHEMA public CASCADE;
CREATE SCHEMA public;
CREATE TYPE person_status AS ENUM ('lead', 'customer', 'churned');
CREATE TABLE people (
    id              bigint PRIMARY KEY,
    email           text,
    first_name      text,
    last_name       text,
    status          person_status NOT NULL DEFAULT 'lead',
    birthday        date,
    last_seen       timestamptz,
    is_vip          boolean,
    tags            text[] NOT NULL DEFAULT '{}',
    job_title       text,
    hubspot_id      text,
    synced_at       timestamptz,
    sync_status     text,
    sync_error      text,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION people_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER people_touch BEFORE UPDATE ON people FOR EACH ROW EXECUTE FUNCTION people_touch();
"""
BASIC_MAPPINGS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("email", "email", "lowercase_trim", {}),
    ("first_name", "firstname", "", {}),
    ("last_name", "lastname", "", {}),
)
FAST_RETRY = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_cap=0.05)
FAST_TIMEOUTS = Timeouts(connect=2.0, read=3.0, write=3.0, pool=3.0)


@pytest.fixture(scope="session")
def source_database(
    worker_suffix: str, django_db_setup: None, django_db_blocker: Any
) -> Iterator[str]:
    with scratch_database(f"sg_test_sync_{worker_suffix}", django_db_blocker) as name:
        yield name


def _clear_redis(limiters: Iterable[AccountSettings]) -> None:
    """Forget these accounts' rate limiters and this installation's job locks.

    Only these: the shared Redis also holds the limiters of other test
    processes' accounts (another worker's simulator), which may be counting
    a run at this moment; wiping them would let that run past its limit.
    """
    client = redis.Redis.from_url(str(settings.REDIS_URL))
    try:
        for account in limiters:
            RateLimiter(client, account).forget()
        keys = list(client.scan_iter(match=sync_key("lock:*")))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@dataclass
class World:
    """One test's source table, service, account and simulator."""

    database: str
    simulator: Simulator
    service: Service
    account: HubSpotAccount

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement on the source database (committed); return its rows, if any."""
        with psycopg.connect(platform_conninfo(dbname=self.database), autocommit=True) as conn:
            cursor = conn.execute(statement.encode() if not params else statement, params or None)
            return cursor.fetchall() if cursor.description else []

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            names = list(row)
            placeholders = ", ".join(["%s"] * len(names))
            self.sql(
                f"INSERT INTO people ({', '.join(names)}) VALUES ({placeholders})",  # noqa: S608 (test names)
                [row[name] for name in names],
            )

    def people(self, n: int, *, start: int = 1, **extra: Any) -> None:
        """Insert people start..start+n-1 with valid, distinct values."""
        self.insert(
            [
                {
                    "id": i,
                    "email": f"Person{i}@Example.com",
                    "first_name": f"First{i}",
                    "last_name": f"Last{i}",
                    **extra,
                }
                for i in range(start, start + n)
            ]
        )

    def rows(
        self, columns: str = "id, hubspot_id, sync_status, sync_error"
    ) -> list[tuple[Any, ...]]:
        return self.sql(f"SELECT {columns} FROM people ORDER BY id")  # noqa: S608 (test names)

    def job(
        self,
        *,
        mappings: Sequence[tuple[str, str, str, Mapping[str, Any]]] = BASIC_MAPPINGS,
        **fields: Any,
    ) -> SyncJob:
        values: dict[str, Any] = {
            "name": "people",
            "label": "People",
            "account": self.account,
            "service": self.service,
            "table": "people",
            "object_type": "contacts",
            "mode": "upsert",
            "match_column": "email",
            "match_property": "email",
            "watermark_column": "updated_at",
            "writeback_id_column": "hubspot_id",
            "writeback_synced_at_column": "synced_at",
            "writeback_status_column": "sync_status",
            "writeback_error_column": "sync_error",
            **fields,
        }
        job = SyncJob.objects.create(**values)
        for position, (column, prop, transform, options) in enumerate(mappings):
            FieldMappingRow.objects.create(
                job=job,
                column=column,
                property=prop,
                transform=transform,
                options=dict(options),
                direction="push",
                position=position,
            )
        return job

    def requests(self, route: str = "") -> int:
        """Requests the simulator served so far (those whose route contains `route`)."""
        by_path = self.simulator.stats()["requests_by_path"]
        return sum(count for path, count in by_path.items() if route in path)

    def contact(self, email: str) -> dict[str, Any] | None:
        """The active contact with this email in the simulator, with every property."""
        return self.simulator.find("contacts", "email", email)


def fast(spec: JobSpec) -> JobSpec:
    """`spec` with short timeouts and backoff (fault tests stay fast)."""
    return replace(
        spec,
        account=replace(spec.account, retry=FAST_RETRY, timeouts=FAST_TIMEOUTS, window_margin=0.05),
    )


def build_world(source_database: str, simulator: Simulator) -> Iterator[World]:
    simulated = AccountSettings(token=simulator.token, base_url=simulator.base_url)
    _clear_redis([simulated])
    with psycopg.connect(platform_conninfo(dbname=source_database), autocommit=True) as conn:
        conn.execute(PEOPLE.encode())
    database = settings.DATABASES["default"]
    service = Service(
        name="crm",
        label="CRM",
        host=database.get("HOST") or "127.0.0.1",
        port=int(database.get("PORT") or 5432),
        database=source_database,
        username=database.get("USER") or "postgres",
    )
    service.set_password(database.get("PASSWORD") or "")
    service.save()
    refresh_snapshot(service.config())
    account = HubSpotAccount(name="sim", label="Simulator", base_url=simulator.base_url)
    account.set_token(simulator.token)
    account.save()
    yield World(source_database, simulator, service, account)
    _clear_redis([simulated, *(each.settings() for each in HubSpotAccount.objects.all())])


@pytest.fixture
def world(source_database: str, hubspot_simulator: Simulator, db: None) -> Iterator[World]:
    """A test's world, in a platform database rolled back afterwards."""
    yield from build_world(source_database, hubspot_simulator)


@pytest.fixture
def committed_world(
    source_database: str, hubspot_simulator: Simulator, transactional_db: None
) -> Iterator[World]:
    """A test's world whose platform rows other processes can see (committed, flushed after)."""
    yield from build_world(source_database, hubspot_simulator)
