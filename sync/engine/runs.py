"""Recording a push run in the platform database: the `SyncRun`, record states, errors, checkpoint.

One rule: what one batch changed is recorded in one transaction — the
records' states, their errors (opened, bumped or resolved), the run's
counts and the job's checkpoint — so a run killed at any moment leaves a
checkpoint that agrees with the states, and the next run neither skips nor
repeats a record.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Func, JSONField, Value
from django.utils import timezone

from sync.alerts import run_alert
from sync.engine.payload import excerpt
from sync.engine.types import Counts, PushResult
from sync.hubspot.errors import RecordError
from sync.hubspot.transport import ClientStats
from sync.models import RunStatus, SyncJob, SyncRecordError, SyncRecordState, SyncRun

MAX_MESSAGE = 4000
PROGRESS_FIELDS = (
    "records_read", "records_changed", "records_created", "records_updated",
    "records_unchanged", "records_failed", "records_deleted", "requests_sent",
    "rate_limited", "progress_done", "progress_total", "preview",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class State:
    """What the engine last sent for a record: its content hash and HubSpot id."""

    content_hash: str
    hubspot_id: str


# --- the run ------------------------------------------------------------------------------


def run_started(run: SyncRun) -> None:
    """Mark `run` running; runs of the same job left `running` by a dead worker end as failed.

    Called with the job's lock held, so no other run of the job is really running.
    """
    now = timezone.now()
    SyncRun.objects.filter(job_id=run.job_id, status=RunStatus.RUNNING).exclude(pk=run.pk).update(
        status=RunStatus.FAILED,
        finished_at=now,
        error="Interrupted: the process running it stopped before it finished.",
    )
    run.status = RunStatus.RUNNING
    run.started_at = now
    run.save(update_fields=["status", "started_at"])


def run_cancelled(run: SyncRun, message: str) -> SyncRun:
    """End a run that did not start (its job was already running)."""
    now = timezone.now()
    run.status = RunStatus.CANCELLED
    run.started_at = run.started_at or now
    run.finished_at = now
    run.error = message
    run.save(update_fields=["status", "started_at", "finished_at", "error"])
    return run


def copy_progress(run: SyncRun, counts: Counts, stats: ClientStats) -> None:
    """Put the running totals on the run object (not saved)."""
    run.records_read = counts.read
    run.records_changed = counts.changed
    run.records_created = counts.created
    run.records_updated = counts.updated
    run.records_unchanged = counts.unchanged
    run.records_failed = counts.failed
    run.records_deleted = counts.deleted
    run.requests_sent = stats.requests
    run.rate_limited = stats.rate_limited
    run.progress_done = counts.done
    run.progress_total = max(counts.total, counts.done)


def save_progress(run: SyncRun, counts: Counts, stats: ClientStats) -> None:
    """Save the run's live progress."""
    copy_progress(run, counts, stats)
    run.save(update_fields=PROGRESS_FIELDS)


def run_finished(
    run: SyncRun, counts: Counts, stats: ClientStats, *, status: str, error: str = ""
) -> SyncRun:
    """Save the run's final counts and status; fire `sync.{job}.failed` if it is unhealthy."""
    copy_progress(run, counts, stats)
    run.status = status
    run.error = error[:MAX_MESSAGE]
    run.finished_at = timezone.now()
    run.save(update_fields=[*PROGRESS_FIELDS, "status", "error", "finished_at"])
    run_alert(run)
    return run


# --- checkpoint ---------------------------------------------------------------------------


def load_checkpoint(job_id: int, part: str = "push") -> dict[str, Any]:
    """The job's push (or `part`: pull) checkpoint (empty when it has none)."""
    checkpoint = SyncJob.objects.filter(pk=job_id).values_list("checkpoint", flat=True).first()
    push = (checkpoint or {}).get(part) if isinstance(checkpoint, Mapping) else None
    return dict(push) if isinstance(push, Mapping) else {}


def save_checkpoint(job_id: int, push: Mapping[str, Any], part: str = "push") -> None:
    """Replace the job's push (or `part`: pull) checkpoint, leaving any other as it is.

    One statement (`checkpoint || {"push": …}`), so a concurrent change of
    another part of the checkpoint is never lost.
    """
    merged = Func(
        F("checkpoint"),
        Func(
            Value(part),
            Value(dict(push), output_field=JSONField()),
            function="jsonb_build_object",
            output_field=JSONField(),
        ),
        template="%(expressions)s",
        arg_joiner=" || ",
        output_field=JSONField(),
    )
    SyncJob.objects.filter(pk=job_id).update(checkpoint=merged)


# --- record states and errors -------------------------------------------------------------


def load_states(job_id: int, record_keys: Iterable[str]) -> dict[str, State]:
    """The states of these records (those that have one)."""
    keys = list(record_keys)
    if not keys:
        return {}
    rows = SyncRecordState.objects.filter(job_id=job_id, record_key__in=keys).values_list(
        "record_key", "content_hash", "hubspot_id"
    )
    return {key: State(content_hash, hubspot_id) for key, content_hash, hubspot_id in rows}


def open_errors(job_id: int) -> dict[str, str]:
    """The records with an unresolved error, and its category."""
    rows = SyncRecordError.objects.filter(job_id=job_id, resolved=False).values_list(
        "record_key", "category"
    )
    return dict(rows)


def resolve_errors(job_id: int, record_keys: Sequence[str]) -> int:
    """Resolve the open errors of these records; return how many."""
    if not record_keys:
        return 0
    return SyncRecordError.objects.filter(
        job_id=job_id, resolved=False, record_key__in=list(record_keys)
    ).update(resolved=True, last_seen=timezone.now())


def record_errors(
    job_id: int, run: SyncRun, failures: Sequence[tuple[str, RecordError, Mapping[str, Any]]]
) -> None:
    """Open an error per failed record, or bump the open one (attempts, message, last seen)."""
    if not failures:
        return
    now = timezone.now()
    existing = {
        error.record_key: error
        for error in SyncRecordError.objects.filter(
            job_id=job_id, resolved=False, record_key__in=[key for key, _, _ in failures]
        )
    }
    changed: list[SyncRecordError] = []
    created: list[SyncRecordError] = []
    for key, error, payload in failures:
        found = existing.get(key)
        if found is None:
            created.append(
                SyncRecordError(
                    job_id=job_id,
                    run=run,
                    record_key=key,
                    category=error.category[:64],
                    message=error.message[:MAX_MESSAGE],
                    payload=dict(payload),
                    first_seen=now,
                    last_seen=now,
                )
            )
            existing[key] = created[-1]
            continue
        found.run = run
        found.category = error.category[:64]
        found.message = error.message[:MAX_MESSAGE]
        found.payload = dict(payload)
        found.attempts += 1 if found.pk else 0
        found.last_seen = now
        if found.pk:
            changed.append(found)
    if created:
        SyncRecordError.objects.bulk_create(created)
    if changed:
        SyncRecordError.objects.bulk_update(
            changed, ["run", "category", "message", "payload", "attempts", "last_seen"]
        )


def save_states(job_id: int, states: Sequence[tuple[str, str, str, Mapping[str, Any]]]) -> None:
    """Create or replace record states: (record key, content hash, HubSpot id, values sent)."""
    if not states:
        return
    now: datetime = timezone.now()
    SyncRecordState.objects.bulk_create(
        [
            SyncRecordState(
                job_id=job_id,
                record_key=key,
                content_hash=content_hash,
                hubspot_id=hubspot_id,
                pushed_at=now,
                pushed_values=dict(values),
            )
            for key, content_hash, hubspot_id, values in states
        ],
        update_conflicts=True,
        unique_fields=["job", "record_key"],
        update_fields=["content_hash", "hubspot_id", "pushed_at", "pushed_values"],
    )


def record_batch(
    run: SyncRun,
    results: Sequence[PushResult],
    hashes: Mapping[str, str],
    *,
    counts: Counts,
    stats: ClientStats,
    checkpoint: Mapping[str, Any] | None,
    resolve: Collection[str] | None = None,
    keep_values: bool = True,
) -> None:
    """Record one batch's outcome in one transaction (see the module's rule).

    `hashes` are the content hashes of the records HubSpot now holds;
    `checkpoint` (None: unchanged) is the job's new push checkpoint;
    `resolve` are the succeeded records known to have open errors (None:
    look for open errors of every succeeded record). `keep_values` keeps
    the values sent in each record's state (two-way jobs need them to tell
    their own changes from HubSpot's; push-only jobs skip the cost).
    """
    job_id = run.job_id
    states: list[tuple[str, str, str, Mapping[str, Any]]] = []
    archived: list[str] = []
    resolved: list[str] = []
    failures: list[tuple[str, RecordError, Mapping[str, Any]]] = []
    for result in results:
        if result.error is not None:
            failures.append(
                (
                    result.record_key,
                    result.error,
                    {"key": result.record_key, "properties": excerpt(result.properties)},
                )
            )
        elif result.outcome == "archived":
            archived.append(result.record_key)
            resolved.append(result.record_key)
        else:
            resolved.append(result.record_key)
            if result.record_key in hashes:
                states.append(
                    (
                        result.record_key,
                        hashes[result.record_key],
                        result.hubspot_id,
                        result.properties if keep_values else {},
                    )
                )
    with transaction.atomic():
        save_states(job_id, states)
        if archived:
            SyncRecordState.objects.filter(job_id=job_id, record_key__in=archived).delete()
        resolve_errors(
            job_id, resolved if resolve is None else [k for k in resolved if k in resolve]
        )
        record_errors(job_id, run, failures)
        if checkpoint is not None:
            save_checkpoint(job_id, checkpoint)
        save_progress(run, counts, stats)
