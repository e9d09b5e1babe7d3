"""A sync job's schedule, kept in django-celery-beat as one `PeriodicTask` per job.

One rule: the job is the source of truth. `schedule_job` makes the job's
periodic task match it (created, changed, or removed when the job has no
schedule) and `delete_job` removes both together; nothing edits a job's
periodic task by hand, and nothing else creates one. Beat runs
`sync.tasks.run_job` with the job's id as its only argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.validators import crontab_validator

if TYPE_CHECKING:
    from sync.models import SyncJob

TASK_NAME = "sync.tasks.run_job"
CRONTAB_TIMEZONE = "UTC"


@dataclass(frozen=True, slots=True)
class CrontabFields:
    """The five fields of a crontab line."""

    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str


def parse_crontab(text: str) -> CrontabFields:
    """Split a five-field crontab line; raise ValidationError when it is not one."""
    fields = text.split()
    if len(fields) != 5:
        raise ValidationError(
            "A crontab has five fields: minute hour day-of-month month day-of-week "
            '(e.g. "*/15 * * * *"); this one has %(count)s.',
            code="invalid",
            params={"count": len(fields)},
        )
    try:
        crontab_validator(" ".join(fields))
    except ValidationError as error:
        raise ValidationError(
            "Not a valid crontab: %(reason)s",
            code="invalid",
            params={"reason": "; ".join(error.messages)},
        ) from None
    return CrontabFields(*fields)


def periodic_task_name(job: SyncJob) -> str:
    """The periodic task's name: unique, and readable in beat's own admin."""
    return f"sync job {job.name} (#{job.pk})"


def describe_schedule(job: SyncJob) -> str:
    """The job's schedule in words ("every 300 s", "cron */15 * * * *", "manual")."""
    if job.interval_seconds:
        return f"every {job.interval_seconds} s"
    if job.crontab:
        return f"cron {' '.join(job.crontab.split())} (UTC)"
    return "manual"


def _schedule_of(job: SyncJob) -> tuple[IntervalSchedule | None, CrontabSchedule | None]:
    if job.interval_seconds:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=job.interval_seconds, period=IntervalSchedule.SECONDS
        )
        return interval, None
    if job.crontab:
        fields = parse_crontab(job.crontab)
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=fields.minute,
            hour=fields.hour,
            day_of_month=fields.day_of_month,
            month_of_year=fields.month_of_year,
            day_of_week=fields.day_of_week,
            timezone=CRONTAB_TIMEZONE,
        )
        return None, crontab
    return None, None


@transaction.atomic
def schedule_job(job: SyncJob) -> PeriodicTask | None:
    """Make the saved `job`'s periodic task match its schedule; return it (None: no schedule).

    A job with an interval or a crontab gets a periodic task (enabled while
    the job and its account are); a job with neither loses its task. Raises
    ValidationError for an invalid crontab.
    """
    interval, crontab = _schedule_of(job)
    task = job.periodic_task
    if interval is None and crontab is None:
        if task is not None:
            job.periodic_task = None
            job.save(update_fields=["periodic_task"])
            task.delete()
        return None
    if task is None:
        task = PeriodicTask(task=TASK_NAME)
    task.name = periodic_task_name(job)
    task.task = TASK_NAME
    task.args = json.dumps([job.pk])
    task.kwargs = "{}"
    task.interval = interval
    task.crontab = crontab
    task.enabled = bool(job.enabled and job.account.active)
    task.description = f"Runs sync job '{job.name}' ({job.label or job.name})."
    task.save()
    if job.periodic_task_id != task.pk:
        job.periodic_task = task
        job.save(update_fields=["periodic_task"])
    return task


@transaction.atomic
def delete_job(job: SyncJob) -> None:
    """Delete `job` (its mappings, runs, errors and states) together with its periodic task."""
    task = job.periodic_task
    job.delete()
    if task is not None:
        task.delete()


def reschedule_account(account_id: int) -> None:
    """Bring the periodic tasks of an account's jobs in step (after it was (de)activated)."""
    from sync.models import SyncJob

    for job in SyncJob.objects.filter(account_id=account_id).select_related("account"):
        schedule_job(job)
