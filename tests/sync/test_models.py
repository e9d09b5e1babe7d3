"""The sync models: secrets encrypted at rest, the values built for the client and the engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.crypto import decrypt_secret
from services.models import Service
from sync.hubspot.settings import AccountSettings
from sync.jobspec import FieldMapping, JobSpec, WriteBack
from sync.models import (
    FieldMappingRow,
    HubSpotAccount,
    RunStatus,
    SyncJob,
    SyncRecordError,
    SyncRun,
    run_is_unhealthy,
)

pytestmark = pytest.mark.django_db

TOKEN = "pat-eu1-7f3c1e8a-token-Distinct-4417"
WEBHOOK_SECRET = "whsec-Distinct-9931"


def make_account(**overrides: object) -> HubSpotAccount:
    token = str(overrides.pop("token", TOKEN))
    values: dict[str, object] = {"name": "main", "label": "Main"}
    values.update(overrides)
    account = HubSpotAccount(**values)
    account.set_token(token)
    account.full_clean()
    account.save()
    return account


def make_service() -> Service:
    service = Service(name="crm", label="CRM", host="127.0.0.1", database="crm", username="app")
    service.set_password("pw")
    service.save()
    return service


def make_job(account: HubSpotAccount, service: Service, **overrides: object) -> SyncJob:
    values: dict[str, object] = {
        "name": "contacts-push",
        "account": account,
        "service": service,
        "table": "people",
        "object_type": "contacts",
        "match_column": "email",
        "match_property": "email",
    }
    values.update(overrides)
    job = SyncJob(**values)
    job.full_clean()
    job.save()
    return job


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608  # test's own names
        return str(cursor.fetchone()[0])


def test_the_token_is_encrypted_at_rest() -> None:
    account = make_account()
    account.set_webhook_secret(WEBHOOK_SECRET)
    account.save()
    stored = raw_column("sync_hubspotaccount", "token_encrypted", account.pk)
    assert TOKEN not in stored
    assert decrypt_secret(stored) == TOKEN
    secret = raw_column("sync_hubspotaccount", "webhook_secret_encrypted", account.pk)
    assert WEBHOOK_SECRET not in secret
    assert HubSpotAccount.objects.get(pk=account.pk).webhook_secret() == WEBHOOK_SECRET


def test_the_token_is_in_no_repr_and_required() -> None:
    account = make_account()
    assert TOKEN not in repr(account)
    assert TOKEN not in str(account)
    assert TOKEN not in repr(account.settings())
    blank = HubSpotAccount(name="other", label="Other")
    with pytest.raises(ValidationError) as caught:
        blank.full_clean()
    assert caught.value.message_dict["token_encrypted"] == ["Set the access token."]


def test_an_unknown_api_version_is_refused() -> None:
    account = HubSpotAccount(name="x", label="X", api_version="v4")
    account.set_token(TOKEN)
    with pytest.raises(ValidationError) as caught:
        account.full_clean()
    assert "api_version" in caught.value.message_dict


def test_settings_carry_the_accounts_values() -> None:
    account = make_account(
        base_url="http://127.0.0.1:9/",
        api_version="2026-03",
        burst_limit=190,
        burst_window_seconds=10,
        daily_limit=1_000_000,
        search_limit=4,
    )
    settings = HubSpotAccount.objects.get(pk=account.pk).settings()
    assert settings == AccountSettings(
        token=TOKEN,
        base_url="http://127.0.0.1:9/",
        api_version="2026-03",
        burst_limit=190,
        burst_window=10.0,
        daily_limit=1_000_000,
        search_limit=4,
    )


def test_spec_builds_the_engines_value_with_mappings_in_order() -> None:
    job = make_job(
        make_account(),
        make_service(),
        direction="push",
        mode="mirror",
        watermark_column="updated_at",
        writeback_id_column="hubspot_id",
        writeback_status_column="sync_status",
        conflict_policy="postgres",
        max_deletions=7,
        dry_run=True,
    )
    FieldMappingRow.objects.create(job=job, column="born", property="date_of_birth",
                                   transform="date_midnight_utc", position=2, direction="push")  # fmt: skip
    FieldMappingRow.objects.create(job=job, column="email", property="email",
                                   transform="lowercase_trim", position=1, direction="push")  # fmt: skip
    FieldMappingRow.objects.create(job=job, column="lead", property="hs_lead_status",
                                   transform="enum_map", options={"values": {"n": "NEW"}}, position=3)  # fmt: skip
    spec = SyncJob.objects.get(pk=job.pk).spec()
    assert isinstance(spec, JobSpec)
    assert (spec.job_id, spec.name, spec.service, spec.table) == (
        job.pk,
        "contacts-push",
        "crm",
        "people",
    )
    assert (spec.direction, spec.mode, spec.conflict_policy) == ("push", "mirror", "postgres")
    assert (spec.match_column, spec.match_property, spec.watermark_column) == (
        "email",
        "email",
        "updated_at",
    )
    assert spec.write_back == WriteBack(hubspot_id="hubspot_id", status="sync_status")
    assert (spec.max_deletions, spec.dry_run) == (7, True)
    assert spec.account.token == TOKEN
    assert spec.mappings == (
        FieldMapping("email", "email", "lowercase_trim", {}, "push"),
        FieldMapping("born", "date_of_birth", "date_midnight_utc", {}, "push"),
        FieldMapping("lead", "hs_lead_status", "enum_map", {"values": {"n": "NEW"}}, "both"),
    )
    assert not spec.matches_by_record_id


def test_a_job_has_an_interval_or_a_crontab_not_both() -> None:
    account, service = make_account(), make_service()
    with pytest.raises(ValidationError) as caught:
        make_job(account, service, interval_seconds=60, crontab="*/5 * * * *")
    assert caught.value.message_dict["crontab"] == [
        "Set either an interval or a crontab, not both."
    ]
    with pytest.raises(ValidationError) as caught:
        make_job(account, service, crontab="*/5 * * *")
    assert "five fields" in caught.value.message_dict["crontab"][0]
    with pytest.raises(ValidationError) as caught:
        make_job(account, service, crontab="61 * * * *")
    assert caught.value.message_dict["crontab"][0].startswith("Not a valid crontab")
    with pytest.raises(ValidationError) as caught:
        make_job(account, service, interval_seconds=5)
    assert "interval_seconds" in caught.value.message_dict
    job = make_job(account, service, crontab="  */5   * * * 1-5 ")
    assert job.crontab == "*/5 * * * 1-5"


def test_records_per_second_follows_progress() -> None:
    job = make_job(make_account(), make_service())
    run = SyncRun(job=job, status=RunStatus.QUEUED)
    assert run.records_per_second is None
    now = timezone.now()
    run.started_at = now - timedelta(seconds=10)
    run.finished_at = now
    run.progress_done = 250
    assert run.records_per_second == pytest.approx(25.0)
    run.finished_at = run.started_at
    assert run.records_per_second is None


@pytest.mark.parametrize(
    ("status", "failed", "threshold", "unhealthy"),
    [
        ("succeeded", 0, 0, False),
        ("failed", 0, 0, True),
        ("partial", 50, 0, False),  # threshold 0: off
        ("partial", 3, 2, True),
        ("partial", 2, 2, False),
        ("cancelled", 0, 0, False),
        (None, None, 5, False),
    ],
)
def test_unhealthy_when_the_run_failed_or_crossed_the_threshold(
    status: str | None, failed: int | None, threshold: int, unhealthy: bool
) -> None:
    assert run_is_unhealthy(status, failed, threshold) is unhealthy


def test_a_record_has_at_most_one_open_error_per_job() -> None:
    job = make_job(make_account(), make_service())
    SyncRecordError.objects.create(
        job=job, record_key="a@x.io", category="X", message="m", resolved=True
    )
    SyncRecordError.objects.create(job=job, record_key="a@x.io", category="X", message="m")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRecordError.objects.create(job=job, record_key="a@x.io", category="Y", message="again")
    assert SyncRecordError.objects.filter(job=job).resolve() == 1
    assert not SyncRecordError.objects.filter(job=job, resolved=False).exists()
