"""Celery tasks of HubSpot sync: run one job.

One rule: tasks are thin — they take a job id, call `sync.engine.jobs.run_job`
and are safe to run twice (a second run of a job waits for nothing: it ends
as cancelled while the first holds the job's lock, and a run after a crash
resumes from the job's checkpoint).
"""

from __future__ import annotations

import logging

from celery import shared_task

from sync.engine.jobs import JobNotRunnable
from sync.engine.jobs import run_job as run_job_now
from sync.engine.push import RETRYABLE

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
