"""Pushes triggered by API writes: records written through the API reach HubSpot within seconds.

One rule: the write path never fails or waits because of this. After a
committed write to a table that an enabled push or two-way job syncs, the
written records' keys go into a Redis set per job, and one `push_records`
task is queued per job and debounce window (a pending flag with a TTL);
with Redis or the broker down the write goes on and the job's schedule
picks the rows up. Which jobs sync a table is one in-memory lookup per
process, tagged with a version published in Redis (as `rbac.state` keeps
roles) and reloaded when a job, an account or a service changes.

A task takes the set atomically into a key of its own (`take_keys`), so
keys written meanwhile wait for the next task, and a task delivered again
after a crash takes the same keys again; keys a task could not push
(another run held the job, HubSpot was unavailable) go back to the set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from config import versions
from config.ttlcache import TTLCache
from sync.engine.payload import record_key
from sync.hubspot.ratelimit import redis_connect
from sync.keys import sync_key

logger = logging.getLogger(__name__)

KEYS = "push:{job}:keys"
TAKEN = "push:{job}:taken:{task}"
PENDING = "push:{job}:pending"
# Stands for "every changed row": the written records' keys are not known.
EVERYTHING = "*"
# Keys nobody took for this long are dropped (the schedule covers them).
KEYS_TTL = 24 * 3600
VERSION_KEY = "sync:jobs:version"
UNAVAILABLE = versions.UNAVAILABLE
DEFAULT_DEBOUNCE_SECONDS = 2.0
DEFAULT_CHECK_SECONDS = 1.0
# Reloaded at least this often, for changes saved where the signals below were not connected.
MAX_AGE_SECONDS = 60.0
WATCHED = ("sync.SyncJob", "sync.HubSpotAccount", "services.Service")


@dataclass(frozen=True, slots=True)
class TriggeredJob:
    """A job that pushes a table: its id, match column, whether it mirrors deletions or is two-way."""

    job_id: int
    match_column: str
    mirror: bool
    two_way: bool = False


@dataclass(frozen=True, slots=True)
class JobTables:
    """The enabled push and two-way jobs by (service, table), as of `version`."""

    version: str
    by_table: Mapping[tuple[str, str], tuple[TriggeredJob, ...]]


# --- which jobs push a table -------------------------------------------------------

# The published version, re-read at most every SLUICEGATE_SYNC_JOBS_CHECK_SECONDS;
# the lookup of that version, kept at most MAX_AGE_SECONDS.
_version: TTLCache[str, str] = TTLCache(DEFAULT_CHECK_SECONDS)
_tables: TTLCache[str, JobTables] = TTLCache(MAX_AGE_SECONDS)  # one entry: "tables"


def jobs_for(service: str, table: str) -> tuple[TriggeredJob, ...]:
    """The enabled jobs that push `table` of `service` (API names); usually no query at all."""
    return current_tables().by_table.get((service, table), ())


def current_tables() -> JobTables:
    """This process's lookup, reloaded when the published version moved."""
    _version.seconds = _setting("JOBS_CHECK", DEFAULT_CHECK_SECONDS)
    version = _version.get("version", _published_version)
    tables = _tables.get("tables", lambda: load_tables(version))
    if tables.version != version:
        _tables.clear()
        tables = _tables.get("tables", lambda: load_tables(version))
    return tables


def load_tables(version: str) -> JobTables:
    """Read the enabled, sending push and two-way jobs of active accounts and services."""
    from sync.models import Direction, Mode, SyncJob

    found: dict[tuple[str, str], list[TriggeredJob]] = {}
    jobs = SyncJob.objects.filter(
        enabled=True,
        dry_run=False,
        direction__in=(Direction.PUSH, Direction.BOTH),
        account__active=True,
        service__active=True,
    ).values_list("pk", "service__name", "table", "match_column", "mode", "direction")
    for pk, service, table, match_column, mode, direction in jobs.order_by("pk"):
        job = TriggeredJob(
            job_id=pk,
            match_column=match_column,
            mirror=mode == Mode.MIRROR,
            two_way=direction == Direction.BOTH,
        )
        found.setdefault((service, table), []).append(job)
    return JobTables(version, {where: tuple(jobs) for where, jobs in found.items()})


def forget_tables() -> None:
    """Drop this process's lookup: the next write reloads it."""
    _version.clear()
    _tables.clear()


def changed(sender: Any = None, **kwargs: Any) -> None:
    """Signal receiver: a job, account or service was saved or deleted."""
    forget_tables()
    transaction.on_commit(_bump)


def _bump() -> None:
    forget_tables()
    versions.bump(VERSION_KEY, "the sync jobs")


def _published_version() -> str:
    return versions.published(VERSION_KEY, "the sync jobs")


for _model in WATCHED:
    post_save.connect(changed, sender=_model, dispatch_uid=f"sync-triggers-save-{_model}")
    post_delete.connect(changed, sender=_model, dispatch_uid=f"sync-triggers-del-{_model}")


# --- the write path ----------------------------------------------------------------


def records_written(
    service: str,
    table: str,
    primary_key: Sequence[str],
    verb: str,
    records: Sequence[str] | None,
) -> None:
    """Queue near-real-time pushes of records just written (and committed) through the API.

    `records` are the written records' JSON texts as the API answered them
    (None: the records are not known, e.g. a delete of every row). A
    deletion matters only to mirror jobs, which then run whole; a two-way
    job always runs whole (incrementally), so its conflict policy sees
    HubSpot's side of the records too. Never raises: a failure is logged
    and the schedule picks the rows up.
    """
    try:
        jobs = jobs_for(service, table)
        if not jobs:
            return
        rows = None if records is None else [json.loads(text) for text in records]
        for job in jobs:
            if verb == "DELETE" and not job.mirror:
                continue
            if verb == "DELETE" or job.two_way:
                queue_keys(job.job_id, [EVERYTHING])
                continue
            keys = keys_of(rows, tuple(primary_key) or (job.match_column,))
            if keys:
                queue_keys(job.job_id, keys)
    except Exception:
        logger.warning(
            "could not queue the push of records written to %s.%s", service, table, exc_info=True
        )


def keys_of(rows: Sequence[Mapping[str, Any]] | None, names: Sequence[str]) -> list[str]:
    """The push record keys of `rows` (`[EVERYTHING]` when a row does not show its key)."""
    if rows is None:
        return [EVERYTHING]
    keys: list[str] = []
    for row in rows:
        if not isinstance(row, Mapping) or any(row.get(name) is None for name in names):
            return [EVERYTHING]
        keys.append(record_key([_text(row[name]) for name in names]))
    return keys


def _text(value: Any) -> str:
    """A key value as PostgreSQL spells its text (what the engine's keyset reader compares)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def queue_keys(job_id: int, keys: Sequence[str], *, countdown: float | None = None) -> None:
    """Add `keys` to the job's set and queue a push unless one is already pending.

    Raises redis.RedisError, and the broker's errors, when they are down.
    """
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    if keys:
        pipe.sadd(sync_key(KEYS, job=job_id), *keys)
        pipe.expire(sync_key(KEYS, job=job_id), KEYS_TTL)
    schedule_push(job_id, countdown=countdown, pipe=pipe)


def schedule_push(
    job_id: int, *, countdown: float | None = None, pipe: redis.client.Pipeline | None = None
) -> bool:
    """Queue `push_records(job_id)` unless one is pending; return whether one was queued."""
    from sync.tasks import push_records

    delay = _setting("DEBOUNCE", DEFAULT_DEBOUNCE_SECONDS) if countdown is None else countdown
    pipe = pipe if pipe is not None else redis_client().pipeline(transaction=False)
    # The flag outlives the countdown: while it is set, writes only add keys.
    pipe.set(sync_key(PENDING, job=job_id), "1", nx=True, ex=int(delay) + 60)
    if not pipe.execute()[-1]:
        return False
    try:
        push_records.apply_async((job_id,), countdown=delay)
    except Exception:
        redis_client().delete(sync_key(PENDING, job=job_id))  # the next write tries again
        raise
    return True


# --- the task's side ---------------------------------------------------------------


def take_keys(job_id: int, task_id: str) -> list[str]:
    """Move the job's waiting keys into this task's own key; return all it holds.

    A task run again (redelivered after a crash) gets back the keys it had
    taken; keys written from now on wait for the next task, which the next
    write queues (the pending flag is cleared here).
    """
    taken = sync_key(TAKEN, job=job_id, task=task_id)
    pipe = redis_client().pipeline(transaction=True)
    pipe.delete(sync_key(PENDING, job=job_id))
    pipe.sunionstore(taken, [taken, sync_key(KEYS, job=job_id)])
    pipe.delete(sync_key(KEYS, job=job_id))
    pipe.expire(taken, KEYS_TTL)
    pipe.smembers(taken)
    members = pipe.execute()[-1]
    return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)


def done_keys(job_id: int, task_id: str) -> None:
    """Forget the keys this task took (they were pushed, or their push recorded its failures)."""
    redis_client().delete(sync_key(TAKEN, job=job_id, task=task_id))


def give_back_keys(job_id: int, task_id: str, *, countdown: float | None = None) -> None:
    """Put the keys this task took back in the job's set and queue another push for them."""
    taken = sync_key(TAKEN, job=job_id, task=task_id)
    pipe = redis_client().pipeline(transaction=True)
    pipe.sunionstore(sync_key(KEYS, job=job_id), [sync_key(KEYS, job=job_id), taken])
    pipe.delete(taken)
    pipe.expire(sync_key(KEYS, job=job_id), KEYS_TTL)
    pipe.execute()
    schedule_push(job_id, countdown=countdown)


# --- shared ------------------------------------------------------------------------

_client: tuple[str, redis.Redis] | None = None


def redis_client() -> redis.Redis:
    """This process's client of the platform's Redis, with short timeouts."""
    global _client
    url = str(settings.REDIS_URL or "redis://127.0.0.1:6379/0")
    held = _client
    if held is None or held[0] != url:
        held = _client = (url, redis_connect(url))
    return held[1]


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, f"SLUICEGATE_SYNC_{name}_SECONDS", default))
