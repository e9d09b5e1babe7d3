"""The demo's HubSpot side: an account on the local simulator and a job pushing demo contacts to it.

One rule: registering is idempotent and leaves what an admin changed alone.
The account and the job are created once, under fixed names; a later run
only points the account at the simulator's current port again when it
still points at a local simulator (an admin who switched it to a real
HubSpot account keeps it). `make run` starts the simulator
(`platform/Procfile`, port `HUBSPOT_SIMULATOR_PORT`, default 8765).
"""

from __future__ import annotations

import os

from django.db import transaction

from services.models import Service
from sync.models import FieldMappingRow, HubSpotAccount, SyncJob
from sync.schedule import schedule_job

DEMO_ACCOUNT = "simulator"
DEMO_JOB = "demo-contacts"
# `manage.py hubspot_simulator`'s default token; the simulator accepts no other by default.
SIMULATOR_TOKEN = "sim-token"  # noqa: S105 (a local fake's well-known token, not a secret)
DEFAULT_SIMULATOR_PORT = "8765"
SCHEDULE_SECONDS = 300
# column, HubSpot property, transform, options
DEMO_MAPPINGS: tuple[tuple[str, str, str, dict[str, object]], ...] = (
    ("email", "email", "lowercase_trim", {}),
    ("first_name", "firstname", "", {}),
    ("last_name", "lastname", "", {}),
    ("phone", "phone", "", {}),
    ("job_title", "jobtitle", "default", {"value": "Unknown"}),
    (
        "status",
        "lifecyclestage",
        "enum_map",
        {
            "values": {
                "lead": "lead",
                "prospect": "marketingqualifiedlead",
                "customer": "customer",
                "churned": "other",
            }
        },
    ),
    ("birthday", "date_of_birth", "date_midnight_utc", {}),
)


def simulator_url() -> str:
    """Where `make run` serves the HubSpot simulator."""
    port = os.environ.get("HUBSPOT_SIMULATOR_PORT") or DEFAULT_SIMULATOR_PORT
    return f"http://127.0.0.1:{port}"


def _is_local(url: str) -> bool:
    return url.startswith(("http://127.0.0.1:", "http://localhost:"))


@transaction.atomic
def register_demo_sync(service: Service) -> SyncJob:
    """Create (once) the simulator account and the job pushing `contacts`; return the job."""
    account = HubSpotAccount.objects.filter(name=DEMO_ACCOUNT).first()
    if account is None:
        account = HubSpotAccount(
            name=DEMO_ACCOUNT, label="Local HubSpot simulator", base_url=simulator_url()
        )
        account.set_token(SIMULATOR_TOKEN)
        account.save()
    elif _is_local(account.base_url) and account.base_url != simulator_url():
        account.base_url = simulator_url()
        account.save(update_fields=["base_url", "updated_at"])
    job = SyncJob.objects.filter(name=DEMO_JOB).first()
    if job is not None:
        return job
    job = SyncJob.objects.create(
        name=DEMO_JOB,
        label="Demo contacts → HubSpot contacts",
        account=account,
        service=service,
        table="contacts",
        object_type="contacts",
        direction="push",
        mode="upsert",
        match_column="email",
        match_property="email",
        watermark_column="updated_at",
        writeback_id_column="hubspot_id",
        writeback_synced_at_column="hubspot_synced_at",
        writeback_status_column="hubspot_sync_status",
        writeback_error_column="hubspot_sync_error",
        interval_seconds=SCHEDULE_SECONDS,
    )
    for position, (column, prop, transform, options) in enumerate(DEMO_MAPPINGS):
        FieldMappingRow.objects.create(
            job=job,
            column=column,
            property=prop,
            transform=transform,
            options=options,
            direction="push",
            position=position,
        )
    schedule_job(job)
    return job
