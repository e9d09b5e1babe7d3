"""A job's schedule lives in django-celery-beat: its PeriodicTask follows the job."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from sync.models import SyncJob
from sync.schedule import TASK_NAME, delete_job, describe_schedule, schedule_job
from tests.sync.test_models import make_account, make_job, make_service

pytestmark = pytest.mark.django_db


def task_of(job: SyncJob) -> PeriodicTask:
    job.refresh_from_db()
    assert job.periodic_task_id is not None
    return PeriodicTask.objects.get(pk=job.periodic_task_id)


def test_an_interval_job_gets_a_periodic_task_running_it() -> None:
    job = make_job(make_account(), make_service(), interval_seconds=300)
    schedule_job(job)
    task = task_of(job)
    assert task.task == TASK_NAME == "sync.tasks.run_job"
    assert json.loads(task.args) == [job.pk]
    assert json.loads(task.kwargs) == {}
    assert task.enabled
    assert task.crontab is None
    assert (task.interval.every, task.interval.period) == (300, IntervalSchedule.SECONDS)
    assert describe_schedule(job) == "every 300 s"


def test_the_task_follows_the_job_from_interval_to_crontab_and_back() -> None:
    job = make_job(make_account(), make_service(), interval_seconds=300)
    first = schedule_job(job)
    assert first is not None
    job.interval_seconds = None
    job.crontab = "*/15 6-18 * * 1-5"
    job.full_clean()
    job.save()
    schedule_job(job)
    task = task_of(job)
    assert task.pk == first.pk  # updated, not replaced
    assert task.interval is None
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year,
            crontab.day_of_week) == ("*/15", "6-18", "*", "*", "1-5")  # fmt: skip
    assert str(crontab.timezone) == "UTC"
    job.crontab = ""
    job.interval_seconds = 60
    job.save()
    schedule_job(job)
    task = task_of(job)
    assert task.pk == first.pk
    assert (task.interval.every, task.crontab) == (60, None)
    assert PeriodicTask.objects.count() == 1


def test_a_disabled_job_or_inactive_account_keeps_a_disabled_task() -> None:
    account = make_account()
    job = make_job(account, make_service(), interval_seconds=120, enabled=False)
    schedule_job(job)
    assert not task_of(job).enabled
    job.enabled = True
    job.save()
    schedule_job(job)
    assert task_of(job).enabled
    account.active = False
    account.save()
    schedule_job(SyncJob.objects.get(pk=job.pk))
    assert not task_of(job).enabled


def test_removing_the_schedule_removes_the_task() -> None:
    job = make_job(make_account(), make_service(), crontab="0 3 * * *")
    task = schedule_job(job)
    assert task is not None
    job.crontab = ""
    job.save()
    assert schedule_job(job) is None
    job.refresh_from_db()
    assert job.periodic_task_id is None
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert describe_schedule(job) == "manual"


def test_deleting_the_job_deletes_its_task() -> None:
    job = make_job(make_account(), make_service(), interval_seconds=600)
    task = schedule_job(job)
    assert task is not None
    delete_job(job)
    assert not SyncJob.objects.exists()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_a_job_without_a_schedule_has_no_task() -> None:
    job = make_job(make_account(), make_service())
    assert schedule_job(job) is None
    assert not PeriodicTask.objects.exists()
