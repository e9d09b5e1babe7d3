"""The sync admin: write-only secrets, test connection, run buttons, runs and record errors.

The run buttons are checked through the real broker: the task message is
read back from the Celery queue in Redis (this run's Redis database), then
executed the way a worker would, against the simulator.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from services.models import Service
from sync.hubspot.simulator import Simulator
from sync.models import HubSpotAccount, RunStatus, SyncJob, SyncRecordError, SyncRun
from tests.queues import TEST_QUEUE as QUEUE
from tests.sync import test_mapping_validation as validation
from tests.sync.test_models import make_job

pytestmark = pytest.mark.django_db

# Fixtures shared with the mapping validation tests.
admin_user = validation.admin_user
sync_target = validation.sync_target
target_service = validation.target_service
sim_account = validation.sim_account
_no_cached_properties = validation._no_cached_properties

TOKEN = "pat-na1-Distinct-Admin-7781"
SECRET = "whsec-Distinct-Admin-3319"


def text_of(response: Any) -> str:
    return html.unescape(bytes(response.content).decode())


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def account_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "main",
        "label": "Main",
        "active": "on",
        "base_url": "https://api.hubapi.com",
        "api_version": "v3",
        "token": TOKEN,
        "webhook_client_secret": SECRET,
        "burst_limit": "100",
        "burst_window_seconds": "10",
        "daily_limit": "250000",
        "search_limit": "5",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def stored(account: HubSpotAccount, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM sync_hubspotaccount WHERE id = %s", [account.pk])  # noqa: S608
        return str(cursor.fetchone()[0])


# --- accounts: write-only secrets ---


def test_the_token_is_stored_encrypted_and_never_shown(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:sync_hubspotaccount_add"), account_data())
    assert response.status_code == 302
    account = HubSpotAccount.objects.get(name="main")
    token_column = stored(account, "token_encrypted")
    assert TOKEN not in token_column
    assert account.get_token() == TOKEN
    assert SECRET not in stored(account, "webhook_secret_encrypted")
    assert account.webhook_secret() == SECRET
    page = text_of(admin_client.get(reverse("admin:sync_hubspotaccount_change", args=[account.pk])))
    assert "Leave blank to keep the stored token." in page
    for secret in (TOKEN, SECRET, token_column, account.webhook_secret_encrypted):
        assert secret not in page
    listing = text_of(admin_client.get(reverse("admin:sync_hubspotaccount_changelist")))
    assert TOKEN not in listing
    assert token_column not in listing


def test_a_blank_token_keeps_the_stored_one_and_a_new_one_replaces_it(admin_client: Client) -> None:
    admin_client.post(reverse("admin:sync_hubspotaccount_add"), account_data())
    account = HubSpotAccount.objects.get(name="main")
    url = reverse("admin:sync_hubspotaccount_change", args=[account.pk])
    response = admin_client.post(
        url, account_data(token="", webhook_client_secret="", label="Renamed")
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.label, account.get_token(), account.webhook_secret()) == (
        "Renamed",
        TOKEN,
        SECRET,
    )
    admin_client.post(url, account_data(token="pat-new", webhook_client_secret="",
                                        clear_webhook_client_secret="on"))  # fmt: skip
    account.refresh_from_db()
    assert (account.get_token(), account.webhook_secret()) == ("pat-new", "")


def test_adding_an_account_needs_a_token(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:sync_hubspotaccount_add"), account_data(token=""))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["token"] == ["Enter the access token."]
    assert not HubSpotAccount.objects.exists()


# --- accounts: test connection ---


def press(client: Client, model: str, button: str, pk: int) -> Any:
    return client.post(reverse(f"admin:sync_{model}_{button}", args=[pk]), follow=True)


def test_test_connection_against_the_simulator(
    admin_client: Client, sim_account: HubSpotAccount, hubspot_simulator: Simulator
) -> None:
    response = press(admin_client, "hubspotaccount", "test_connection", sim_account.pk)
    assert response.status_code == 200
    assert messages_of(response) == [
        f"Account 'sim': connected to HubSpot at {hubspot_simulator.base_url} (API v3)."
    ]


def test_test_connection_with_a_wrong_token_says_so_cleanly(
    admin_client: Client, sim_account: HubSpotAccount
) -> None:
    sim_account.set_token(TOKEN)
    sim_account.save()
    response = press(admin_client, "hubspotaccount", "test_connection", sim_account.pk)
    [message] = messages_of(response)
    assert message.startswith("Account 'sim': HubSpot refused the token (401)")
    page = text_of(response)
    assert TOKEN not in page
    assert "Traceback" not in page


def test_test_connection_action_reports_an_unreachable_hubspot(
    admin_client: Client, sim_account: HubSpotAccount
) -> None:
    sim_account.base_url = f"http://127.0.0.1:{validation.closed_port()}"
    sim_account.save()
    response = admin_client.post(
        reverse("admin:sync_hubspotaccount_changelist"),
        {"action": "test_connection_action", "_selected_action": [str(sim_account.pk)]},
        follow=True,
    )
    [message] = messages_of(response)
    assert message.startswith(
        "Account 'sim': HubSpot could not be reached: GET /crm/v3/objects/contacts"
    )


# --- jobs: the schedule through the admin ---


def test_saving_and_deleting_a_job_in_the_admin_keeps_its_beat_schedule(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    data = validation.job_data(sim_account, target_service, validation.GOOD_MAPPINGS,
                               crontab="*/10 * * * *")  # fmt: skip
    assert admin_client.post(reverse("admin:sync_syncjob_add"), data).status_code == 302
    job = SyncJob.objects.get()
    task = PeriodicTask.objects.get(pk=job.periodic_task_id)
    assert (task.task, json.loads(task.args), task.crontab.minute) == (
        "sync.tasks.run_job",
        [job.pk],
        "*/10",
    )
    change = reverse("admin:sync_syncjob_change", args=[job.pk])
    data.update({"crontab": "", "interval_seconds": "900"})
    data.update(
        {f"mappings-{i}-id": str(row.pk) for i, row in enumerate(job.mappings.order_by("position"))}
    )
    data.update({f"mappings-{i}-job": str(job.pk) for i in range(len(validation.GOOD_MAPPINGS))})
    data["mappings-INITIAL_FORMS"] = str(len(validation.GOOD_MAPPINGS))
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    task.refresh_from_db()
    assert (task.crontab, task.interval.every) == (None, 900)
    data["crontab"] = "not a crontab"
    response = admin_client.post(change, data)
    assert response.status_code == 200
    assert "crontab" in response.context["adminform"].form.errors
    delete = reverse("admin:sync_syncjob_delete", args=[job.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not SyncJob.objects.exists()
    assert not PeriodicTask.objects.exists()


# --- jobs: run buttons queue the task ---


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The Celery broker's Redis, with the default queue emptied before and after."""
    connection = redis.Redis.from_url(str(settings.CELERY_BROKER_URL))
    connection.delete(QUEUE)
    yield connection
    connection.delete(QUEUE)
    connection.close()


def queued_tasks(broker: redis.Redis) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """The task messages waiting in the queue, oldest first: (task name, args, kwargs)."""
    found = []
    for raw in reversed(broker.lrange(QUEUE, 0, -1)):
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args, kwargs))
    return found


@pytest.mark.parametrize(
    ("button", "dry_run", "retry_failed"),
    [("run_now", False, False), ("dry_run", True, False), ("retry_failed", False, True)],
)
def test_run_buttons_queue_the_run_job_task(
    admin_client: Client,
    sim_account: HubSpotAccount,
    target_service: Service,
    broker: redis.Redis,
    django_capture_on_commit_callbacks: Any,
    button: str,
    dry_run: bool,
    retry_failed: bool,
) -> None:
    job = make_job(sim_account, target_service)
    with django_capture_on_commit_callbacks(execute=True):
        response = press(admin_client, "syncjob", button, job.pk)
    assert queued_tasks(broker) == [
        ("sync.tasks.run_job", [job.pk], {"dry_run": dry_run, "retry_failed": retry_failed})
    ]
    [message] = messages_of(response)
    assert message.startswith("Job 'contacts-push': a ")
    assert "is queued" in message


def test_run_now_action_queues_one_task_per_selected_job(
    admin_client: Client,
    sim_account: HubSpotAccount,
    target_service: Service,
    broker: redis.Redis,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = make_job(sim_account, target_service)
    second = make_job(sim_account, target_service, name="second")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:sync_syncjob_changelist"),
            {"action": "run_now_action", "_selected_action": [str(first.pk), str(second.pk)]},
        )
    assert sorted(args[0] for _name, args, _kwargs in queued_tasks(broker)) == [first.pk, second.pk]


def test_a_queued_dry_run_runs_as_a_worker_would_and_sends_nothing(
    admin_client: Client,
    sim_account: HubSpotAccount,
    target_service: Service,
    broker: redis.Redis,
    django_capture_on_commit_callbacks: Any,
    hubspot_simulator: Simulator,
) -> None:
    from config.celery import app

    job = make_job(sim_account, target_service, watermark_column="updated_at")
    job.mappings.create(
        column="email", property="email", transform="lowercase_trim", direction="push"
    )
    with django_capture_on_commit_callbacks(execute=True):
        press(admin_client, "syncjob", "dry_run", job.pk)
    [(name, args, kwargs)] = queued_tasks(broker)
    app.tasks[name].apply(args=tuple(args), kwargs=kwargs).get()
    run = SyncRun.objects.get(job=job)
    assert run.dry_run
    assert run.status == RunStatus.SUCCEEDED
    writes = [path for path in hubspot_simulator.stats()["requests_by_path"] if "/batch/" in path]
    assert writes == []


# --- jobs: health in the list ---


def health_cells(page: str) -> list[str]:
    return re.findall(r'<td class="field-healthy"><img [^>]*alt="(\w+)"', page)


def finished_run(job: SyncJob, status: str, failed: int = 0, minutes_ago: int = 0) -> SyncRun:
    run = SyncRun.objects.create(job=job, status=status, records_failed=failed)
    SyncRun.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return run


@pytest.mark.parametrize(
    ("status", "failed", "threshold", "shown"),
    [
        ("succeeded", 0, 0, "True"),
        ("failed", 0, 0, "False"),
        ("partial", 3, 2, "False"),
        ("partial", 3, 5, "True"),
        ("partial", 3, 0, "True"),
    ],
)
def test_the_job_list_flags_unhealthy_jobs(
    admin_client: Client,
    sim_account: HubSpotAccount,
    target_service: Service,
    status: str,
    failed: int,
    threshold: int,
    shown: str,
) -> None:
    job = make_job(sim_account, target_service, error_threshold=threshold)
    finished_run(job, status, failed)
    page = text_of(admin_client.get(reverse("admin:sync_syncjob_changelist")))
    assert health_cells(page) == [shown]
    assert f'{reverse("admin:sync_syncrun_change", args=[job.runs.get().pk])}">{status}</a>' in page


def test_a_running_run_shows_as_last_run_but_health_comes_from_the_last_finished_one(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    job = make_job(sim_account, target_service)
    finished_run(job, "failed", minutes_ago=5)
    SyncRun.objects.create(job=job, status=RunStatus.RUNNING)
    page = text_of(admin_client.get(reverse("admin:sync_syncjob_changelist")))
    assert health_cells(page) == ["False"]
    assert ">running</a>" in page


# --- runs: read-only, with live progress ---


def test_runs_show_progress_and_rate_and_refresh_while_running(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    job = make_job(sim_account, target_service)
    started = timezone.now() - timedelta(seconds=10)
    run = SyncRun.objects.create(
        job=job,
        status=RunStatus.RUNNING,
        started_at=started,
        progress_done=500,
        progress_total=2000,
        records_read=500,
        requests_sent=5,
        rate_limited=1,
    )
    listing = text_of(admin_client.get(reverse("admin:sync_syncrun_changelist")))
    assert "500 / 2,000 (25%)" in listing
    assert re.search(r'<td class="field-rate">(4\d|50)\.\d</td>', listing)
    assert '<meta http-equiv="refresh" content="3">' in listing
    page = text_of(admin_client.get(reverse("admin:sync_syncrun_change", args=[run.pk])))
    assert '<meta http-equiv="refresh" content="3">' in page
    assert '<progress value="500" max="2000">' in page
    run.status = RunStatus.SUCCEEDED
    run.finished_at = started + timedelta(seconds=20)
    run.progress_done = 2000
    run.save()
    page = text_of(admin_client.get(reverse("admin:sync_syncrun_change", args=[run.pk])))
    assert "http-equiv" not in page
    assert "100.0" in page  # 2000 records in 20 s
    assert "http-equiv" not in text_of(admin_client.get(reverse("admin:sync_syncrun_changelist")))


def test_runs_are_read_only(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    run = SyncRun.objects.create(job=make_job(sim_account, target_service), status=RunStatus.FAILED)
    assert admin_client.get(reverse("admin:sync_syncrun_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:sync_syncrun_delete", args=[run.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    response = admin_client.post(
        reverse("admin:sync_syncrun_change", args=[run.pk]), {"status": "succeeded"}
    )
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


# --- record errors: filters and "mark resolved" ---


@pytest.fixture
def errors(sim_account: HubSpotAccount, target_service: Service) -> dict[str, SyncRecordError]:
    one = make_job(sim_account, target_service)
    two = make_job(sim_account, target_service, name="other")
    first_run = SyncRun.objects.create(job=one, status=RunStatus.PARTIAL)
    second_run = SyncRun.objects.create(job=one, status=RunStatus.PARTIAL)
    make = SyncRecordError.objects.create
    return {
        "invalid": make(job=one, run=first_run, record_key="ann@x.io", category="VALIDATION_ERROR",
                        message="Property values were not valid: email is invalid"),
        "conflict": make(job=one, run=second_run, record_key="bob@x.io", category="CONFLICT",
                         message="Contact already exists. Existing ID: 12"),
        "old": make(job=one, run=first_run, record_key="cy@x.io", category="VALIDATION_ERROR",
                    message="INVALID_DATE", resolved=True),
        "other_job": make(job=two, run=None, record_key="dee@x.io", category="OBJECT_NOT_FOUND",
                          message="not found"),
    }  # fmt: skip


def listed_keys(client: Client, query: str) -> set[str]:
    page = text_of(client.get(reverse("admin:sync_syncrecorderror_changelist") + query))
    return set(re.findall(r'<th class="field-record_key"><a [^>]*>([^<]+)</a>', page))


def test_record_errors_filter_by_job_run_category_and_resolved(
    admin_client: Client, errors: dict[str, SyncRecordError]
) -> None:
    one = errors["invalid"].job_id
    assert listed_keys(admin_client, "") == {"ann@x.io", "bob@x.io", "cy@x.io", "dee@x.io"}
    assert listed_keys(admin_client, f"?job__id__exact={one}") == {
        "ann@x.io",
        "bob@x.io",
        "cy@x.io",
    }
    assert listed_keys(admin_client, f"?run={errors['invalid'].run_id}") == {"ann@x.io", "cy@x.io"}
    assert listed_keys(admin_client, "?category=CONFLICT") == {"bob@x.io"}
    assert listed_keys(admin_client, "?resolved__exact=0") == {"ann@x.io", "bob@x.io", "dee@x.io"}
    assert listed_keys(admin_client, f"?job__id__exact={one}&resolved__exact=1") == {"cy@x.io"}


def test_mark_resolved_resolves_the_selected_errors(
    admin_client: Client, errors: dict[str, SyncRecordError]
) -> None:
    selected = [str(errors["invalid"].pk), str(errors["conflict"].pk), str(errors["old"].pk)]
    response = admin_client.post(
        reverse("admin:sync_syncrecorderror_changelist"),
        {"action": "mark_resolved", "_selected_action": selected},
        follow=True,
    )
    assert messages_of(response) == ["2 record error(s) marked resolved."]
    assert set(
        SyncRecordError.objects.filter(resolved=False).values_list("record_key", flat=True)
    ) == {"dee@x.io"}


def test_the_job_pages_show_the_buttons_schedule_and_open_errors(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    job = make_job(sim_account, target_service, interval_seconds=600)
    job.mappings.create(column="email", property="email", transform="lowercase_trim")
    from sync.schedule import schedule_job

    schedule_job(job)
    SyncRecordError.objects.create(job=job, record_key="a@x.io", category="CONFLICT", message="m")
    page = text_of(admin_client.get(reverse("admin:sync_syncjob_change", args=[job.pk])))
    for label in ("Run now", "Dry run", "Retry failed records"):
        assert f">{label}</button>" in page
    assert "every 600 s" in page
    assert f"?job__id__exact={job.pk}&resolved__exact=0" in page
    assert 'value="lowercase_trim" selected' in page
    assert admin_client.get(reverse("admin:sync_syncjob_add")).status_code == 200
    listing = text_of(admin_client.get(reverse("admin:sync_syncjob_changelist")))
    assert "every 600 s" in listing
