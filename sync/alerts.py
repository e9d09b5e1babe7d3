"""The failed-run event: a run that makes its job unhealthy fires `sync.{job}.failed` for scripts.

One rule: the event is the admin list's "healthy" turned into an action —
it fires exactly when `run_is_unhealthy` says the finished run makes its
job unhealthy (the run failed, or failed more records than the job's error
threshold), whatever the run's direction; its scripts are queued (one
Celery task each, sent once the run's row is committed) and never run
inside the run, and a failure to queue them never changes the run.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

from services.scripting.background import enqueue_queued, principal_of
from services.scripting.events import sync_failed_names
from services.scripting.state import current_scripts
from sync.models import SyncRun, run_is_unhealthy

logger = logging.getLogger(__name__)


def failed_run_event(run: SyncRun) -> dict[str, Any]:
    """The event a failed-run script sees: the job, the run, its status, error and counts."""
    return {
        "request": None,
        "response": None,
        "resource": "",
        "job": run.job.name,
        "run_id": run.pk,
        "status": run.status,
        "direction": run.direction,
        "dry_run": run.dry_run,
        "error": run.error,
        "error_threshold": run.job.error_threshold,
        "counts": {
            "read": run.records_read,
            "changed": run.records_changed,
            "created": run.records_created,
            "updated": run.records_updated,
            "unchanged": run.records_unchanged,
            "failed": run.records_failed,
            "deleted": run.records_deleted,
            "conflicts": run.conflicts,
            "requests": run.requests_sent,
            "rate_limited": run.rate_limited,
        },
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def run_alert(run: SyncRun) -> int:
    """Queue the failed-run scripts when `run` makes its job unhealthy; return how many.

    Scripts named `sync.{job_name}.failed` (every job) are queued before
    those named `sync.<job>.failed`; a script with a "run as" app calls
    `platform.api` as that app. Never raises: a failure to find or queue
    the scripts is logged.
    """
    try:
        job = run.job
        if not run_is_unhealthy(run.status, run.records_failed, job.error_threshold):
            return 0
        state = current_scripts()
        scripts = tuple(
            (name, info) for name in sync_failed_names(job.name) for info in state.scripts_for(name)
        )
        if not scripts:
            return 0
        event = failed_run_event(run)
        for name, info in scripts:
            # No one called: a script's platform.api calls run as its chosen app, if any.
            principal = principal_of({"app_id": info.run_as_app_id}) if info.run_as_app_id else None
            transaction.on_commit(partial(enqueue_queued, ((name, info),), event, principal))
    except Exception:  # the run is recorded already; an alert must never undo that
        logger.warning("could not queue the failed-run scripts of run %s", run.pk, exc_info=True)
        return 0
    return len(scripts)
