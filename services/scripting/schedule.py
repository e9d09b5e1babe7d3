"""A scheduled script's schedule, kept in django-celery-beat as one `PeriodicTask` per script.

One rule: the script is the source of truth. `schedule_script` makes the
script's periodic task match it (created, changed, or removed when it is not
a scheduled script or has no schedule) and `delete_script` removes both
together. Beat runs `services.scripting.tasks.run_scheduled_script` with the
script's id as its only argument.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.validators import crontab_validator

from services.scripting.events import SCHEDULED, EventName

if TYPE_CHECKING:
    from services.scripting.models import EventScript

TASK_NAME = "services.scripting.tasks.run_scheduled_script"
CRONTAB_TIMEZONE = "UTC"


def check_schedule(event: EventName, *, interval_seconds: int | None, crontab: str) -> None:
    """Raise ValidationError unless the schedule fits the event (only scheduled scripts have one)."""
    if event.phase != SCHEDULED:
        if interval_seconds or crontab.strip():
            raise ValidationError("Only a script named ….scheduled has a schedule.")
        return
    if interval_seconds and crontab.strip():
        raise ValidationError("Give an interval or a crontab, not both.")
    if crontab.strip():
        fields = crontab.split()
        if len(fields) != 5:
            raise ValidationError(
                "A crontab has five fields: minute hour day-of-month month day-of-week."
            )
        try:
            crontab_validator(" ".join(fields))
        except ValidationError as error:
            raise ValidationError(f"Not a valid crontab: {'; '.join(error.messages)}") from None


def _schedules(script: EventScript) -> tuple[IntervalSchedule | None, CrontabSchedule | None]:
    if not script.name.endswith("." + SCHEDULED):
        return None, None
    if script.interval_seconds:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=script.interval_seconds, period=IntervalSchedule.SECONDS
        )
        return interval, None
    if script.crontab.strip():
        minute, hour, day_of_month, month_of_year, day_of_week = script.crontab.split()
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=CRONTAB_TIMEZONE,
        )
        return None, crontab
    return None, None


@transaction.atomic
def schedule_script(script: EventScript) -> PeriodicTask | None:
    """Make the saved `script`'s periodic task match its schedule; return it (None: none)."""
    interval, crontab = _schedules(script)
    task = script.periodic_task
    if interval is None and crontab is None:
        if task is not None:
            script.periodic_task = None
            script.save(update_fields=["periodic_task"])
            task.delete()
        return None
    if task is None:
        task = PeriodicTask(task=TASK_NAME)
    task.name = f"event script {script.name} (#{script.pk})"
    task.task = TASK_NAME
    task.args = json.dumps([script.pk])
    task.kwargs = "{}"
    task.interval = interval
    task.crontab = crontab
    task.enabled = script.active
    task.description = f"Runs the event script '{script.name}'."
    task.save()
    if script.periodic_task_id != task.pk:
        script.periodic_task = task
        script.save(update_fields=["periodic_task"])
    return task


@transaction.atomic
def delete_script(script: EventScript) -> None:
    """Delete `script` (and its runs) together with its periodic task."""
    task = script.periodic_task
    script.delete()
    if task is not None:
        task.delete()
