"""A run's session: its job's lock and a HubSpot client, shared by push, pull and two-way runs.

One rule: a run does nothing before it holds its job's lock. A second start
of a running job ends at once as cancelled; a lock Redis cannot give ends
the run as failed and raises RateLimiterUnavailable (worth a retry); the
lock is released, and the client closed, however the run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

from sync.engine import runs
from sync.engine.lock import DEFAULT_TTL, JobLock
from sync.engine.types import Counts
from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import RateLimiterUnavailable
from sync.hubspot.ratelimit import redis_connect
from sync.hubspot.transport import ClientStats
from sync.jobspec import JobSpec
from sync.models import RunStatus, SyncRun

Progress = Callable[[SyncRun], None]


def lock_ttl() -> float:
    return float(getattr(settings, "SLUICEGATE_SYNC_LOCK_SECONDS", DEFAULT_TTL))


@contextmanager
def locked(
    spec: JobSpec, run: SyncRun, direction: str
) -> Iterator[tuple[HubSpotClient, JobLock] | None]:
    """The job's lock and a client for the run (None: another run holds the lock; the run is cancelled).

    Raises RateLimiterUnavailable (after recording the run as failed) when
    Redis cannot be reached.
    """
    connection = redis_connect(str(settings.REDIS_URL))
    lock = JobLock(connection, spec.job_id, ttl=lock_ttl())
    try:
        taken = lock.acquire()
    except redis.RedisError as error:
        connection.close()
        runs.run_finished(run, Counts(), ClientStats(), status=RunStatus.FAILED, error=f"{error}")
        raise RateLimiterUnavailable(f"The job lock's Redis failed: {error}") from error
    if not taken:
        connection.close()
        runs.run_cancelled(run, "Already running: another run of this job holds its lock.")
        yield None
        return
    try:
        if run.direction != direction:
            run.direction = direction
            run.save(update_fields=["direction"])
        runs.run_started(run)
        with HubSpotClient(spec.account, redis_client=connection) as client:
            yield client, lock
    finally:
        lock.release()
        connection.close()
