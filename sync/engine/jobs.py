"""Running a job by its id: load it, open a `SyncRun`, run the push.

One rule: this is the only place the engine starts from a job id (the
Celery task, `manage.py run_sync`, the admin's buttons all come through
here); everything after it works from the job's `JobSpec`.
"""

from __future__ import annotations

from sync.engine.push import Progress, run_push
from sync.models import Direction, RunStatus, SyncJob, SyncRun


class JobNotRunnable(Exception):
    """The job does not exist, or cannot run (disabled account, direction without push)."""


def run_job(
    job_id: int,
    *,
    dry_run: bool = False,
    retry_failed: bool = False,
    on_progress: Progress | None = None,
) -> SyncRun:
    """Run job `job_id` now; return its finished `SyncRun`.

    Raises JobNotRunnable when there is no such job or it cannot push, and
    what `run_push` raises (errors worth retrying the run for).
    """
    job = SyncJob.objects.select_related("account", "service").filter(pk=job_id).first()
    if job is None:
        raise JobNotRunnable(f"There is no sync job with id {job_id}.")
    if job.direction == Direction.PULL:
        raise JobNotRunnable(f"Job '{job.name}' only pulls; pull runs are not available yet.")
    run = SyncRun.objects.create(
        job=job, status=RunStatus.QUEUED, direction=Direction.PUSH, dry_run=dry_run or job.dry_run
    )
    if not job.account.active:
        run.status = RunStatus.CANCELLED
        run.error = f"The HubSpot account '{job.account.name}' is not active."
        run.save(update_fields=["status", "error"])
        return run
    return run_push(
        job.spec(), run=run, dry_run=dry_run, retry_failed=retry_failed, on_progress=on_progress
    )


def find_job(name_or_id: str) -> SyncJob | None:
    """The job called `name_or_id`, or with that id."""
    job = SyncJob.objects.filter(name=name_or_id).first()
    if job is None and name_or_id.isdigit():
        job = SyncJob.objects.filter(pk=int(name_or_id)).first()
    return job
