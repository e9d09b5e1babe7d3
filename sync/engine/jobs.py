"""Running a job by its id: load it, open a `SyncRun`, run the push, pull or both.

One rule: this is the only place the engine starts from a job id (the
Celery task, `manage.py run_sync`, the admin's buttons all come through
here); everything after it works from the job's `JobSpec`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.engine.both import run_both
from sync.engine.pull import pull_objects, run_pull
from sync.engine.push import run_push
from sync.engine.session import Progress
from sync.models import Direction, RunStatus, SyncJob, SyncRun


class JobNotRunnable(Exception):
    """The job does not exist, or cannot run (disabled account, direction without push)."""


def run_job(
    job_id: int,
    *,
    dry_run: bool = False,
    retry_failed: bool = False,
    full: bool = False,
    on_progress: Progress | None = None,
) -> SyncRun:
    """Run job `job_id` now (a push, a pull or both, by its direction); return its finished `SyncRun`.

    `full` makes a pull read every HubSpot record, not just those changed
    since its checkpoint. Raises JobNotRunnable when there is no such job,
    and what `run_push` / `run_pull` / `run_both` raise (errors worth
    retrying the run for).
    """
    job = load_job(job_id)
    run = open_run(job, job.direction, dry_run=dry_run)
    if run.finished:
        return run
    if job.direction == Direction.PULL:
        return run_pull(job.spec(), run=run, dry_run=dry_run, full=full, on_progress=on_progress)
    if job.direction == Direction.BOTH:
        return run_both(job.spec(), run=run, dry_run=dry_run, on_progress=on_progress)
    return run_push(
        job.spec(), run=run, dry_run=dry_run, retry_failed=retry_failed, on_progress=on_progress
    )


def open_run(job: SyncJob, direction: str, *, dry_run: bool = False) -> SyncRun:
    """Record a new run of `job`; it is already finished (cancelled) when the account is inactive."""
    run = SyncRun.objects.create(
        job=job, status=RunStatus.QUEUED, direction=direction, dry_run=dry_run or job.dry_run
    )
    if not job.account.active:
        run.status = RunStatus.CANCELLED
        run.error = f"The HubSpot account '{job.account.name}' is not active."
        run.save(update_fields=["status", "error"])
    return run


def load_job(job_id: int) -> SyncJob:
    """Job `job_id` with its account and service; raise JobNotRunnable when there is none."""
    job = SyncJob.objects.select_related("account", "service").filter(pk=job_id).first()
    if job is None:
        raise JobNotRunnable(f"There is no sync job with id {job_id}.")
    return job


def push_job_records(job_id: int, keys: Sequence[str]) -> SyncRun:
    """Push now just the rows of job `job_id` with these record keys; return the finished run.

    Raises JobNotRunnable when there is no such job or it does not push
    (or is disabled), and what `run_push` raises.
    """
    job, run = _targeted_run(job_id, Direction.PUSH)
    return run if run.finished else run_push(job.spec(), run=run, keys=keys)


def pull_job_objects(job_id: int, object_ids: Sequence[str]) -> SyncRun:
    """Pull now just these HubSpot records of job `job_id`; return the finished run.

    Raises JobNotRunnable when there is no such job or it does not pull (or
    is disabled), and what `pull.pull_objects` raises.
    """
    job, run = _targeted_run(job_id, Direction.PULL)
    return run if run.finished else pull_objects(job.spec(), list(object_ids), run=run)


def _targeted_run(job_id: int, direction: str) -> tuple[SyncJob, SyncRun]:
    """Job `job_id` and a new `direction` run of some of its records.

    Raises JobNotRunnable when the job does not go that way or is disabled.
    """
    job = load_job(job_id)
    if job.direction not in (direction, Direction.BOTH) or not job.enabled:
        raise JobNotRunnable(f"Job '{job.name}' does not {direction} (or is disabled).")
    return job, open_run(job, direction)


def find_job(name_or_id: str) -> SyncJob | None:
    """The job called `name_or_id`, or with that id."""
    job = SyncJob.objects.filter(name=name_or_id).first()
    if job is None and name_or_id.isdigit():
        job = SyncJob.objects.filter(pk=int(name_or_id)).first()
    return job
