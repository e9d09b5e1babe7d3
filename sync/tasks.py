"""Celery tasks of HubSpot sync: run one job, pull the records a webhook named, push written records.

One rule: tasks are thin — they take a job id, call `sync.engine.jobs.run_job`
and are safe to run twice (a second run of a job waits for nothing: it ends
as cancelled while the first holds the job's lock, and a run after a crash
resumes from the job's checkpoint).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from sync.engine.jobs import JobNotRunnable, pull_job_objects, push_job_records
from sync.engine.jobs import run_job as run_job_now
from sync.engine.outcome import RETRYABLE
from sync.models import RunStatus
from sync.triggers import EVERYTHING, done_keys, give_back_keys, take_keys

logger = logging.getLogger(__name__)

# A run stops (recorded as failed, its checkpoint kept) past the soft limit;
# the next run goes on from where it stopped.
SOFT_TIME_LIMIT = 3 * 3600
TIME_LIMIT = SOFT_TIME_LIMIT + 120


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
    autoretry_for=RETRYABLE,
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def run_job(job_id: int, dry_run: bool = False, retry_failed: bool = False) -> int | None:
    """Run sync job `job_id`; return its run's id (None when the job cannot run)."""
    try:
        run = run_job_now(job_id, dry_run=dry_run, retry_failed=retry_failed)
    except JobNotRunnable as error:
        logger.warning("sync job %s not run: %s", job_id, error)
        return None
    return run.pk


# A targeted pull is small: minutes, not hours.
SHORT_SOFT_TIME_LIMIT = 15 * 60
SHORT_TIME_LIMIT = SHORT_SOFT_TIME_LIMIT + 60
# Keys a push could not send (HubSpot or a database unavailable) are tried again this much later.
PUSH_RETRY_SECONDS = 30.0
# A targeted pull met another run of its job: tried again this much later.
PULL_RETRY_SECONDS = 15.0


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SHORT_SOFT_TIME_LIMIT,
    time_limit=SHORT_TIME_LIMIT,
    autoretry_for=RETRYABLE,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
    ignore_result=True,
)
def pull_objects_task(self: Any, job_id: int, object_ids: list[str]) -> int | None:
    """Pull just these HubSpot records of job `job_id` (a webhook named them); return the run's id.

    While another run holds the job, the pull is tried again a little later.
    """
    try:
        run = pull_job_objects(job_id, object_ids)
    except JobNotRunnable as error:
        logger.warning("sync job %s: targeted pull not run: %s", job_id, error)
        return None
    if run.status == RunStatus.CANCELLED and run.job.account.active:
        raise self.retry(countdown=PULL_RETRY_SECONDS)
    return run.pk


# Its limits are a whole run's: with EVERYTHING among the keys it runs the job whole.
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
    ignore_result=True,
)
def push_records(self: Any, job_id: int) -> int | None:
    """Push the records API writes queued for job `job_id` (`sync.triggers`); return the run's id.

    Keys it cannot push now (another run holds the job, HubSpot or a
    database unavailable) go back to the job's set with a new task queued.
    """
    task_id = str(self.request.id or f"local-{job_id}")
    keys = take_keys(job_id, task_id)
    if not keys:
        return None
    try:
        # EVERYTHING: some written rows were not named; the whole (incremental) push runs.
        run = run_job_now(job_id) if EVERYTHING in keys else push_job_records(job_id, keys)
    except JobNotRunnable as error:
        logger.info("sync job %s: triggered push not run: %s", job_id, error)
        done_keys(job_id, task_id)
        return None
    except RETRYABLE as error:
        logger.warning("sync job %s: triggered push put off: %s", job_id, error)
        give_back_keys(job_id, task_id, countdown=PUSH_RETRY_SECONDS)
        return None
    if run.status == RunStatus.CANCELLED and run.job.account.active:
        # Another run holds the job's lock: try again once it may be done.
        give_back_keys(job_id, task_id, countdown=PUSH_RETRY_SECONDS)
    else:
        done_keys(job_id, task_id)
    return run.pk
