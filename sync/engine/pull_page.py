"""One page of a pull: converted, judged (two-way), written, then recorded.

One rule: the page's rows are committed in the service's database before
its record states, errors and checkpoint are saved, together, in one
platform transaction (`page`); the checkpoint never names a page whose
rows are not written. Errors of pulled records are kept under the key
`hubspot:<id>` (the row may not exist), which a push never reads as a row key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import transaction

from services.pools import read_transaction
from services.sql.upsert import UpsertPlan
from sync.engine import runs
from sync.engine.conflicts import Judge, held_hash, held_values, memories
from sync.engine.lock import JobLock
from sync.engine.payload import excerpt, record_key
from sync.engine.pull_apply import (
    Applied,
    Incoming,
    Target,
    apply_page,
    convert,
    match_text,
    modified_property,
    read_matching,
    rows_before,
)
from sync.engine.source import EngineError
from sync.engine.types import DUPLICATE_MATCH_KEY, Counts
from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import RecordError
from sync.hubspot.transport import ClientStats
from sync.hubspot.types import HubSpotObject
from sync.jobspec import JobSpec
from sync.models import SyncRecordState, SyncRun

PULLED_PREFIX = "hubspot:"
PREVIEW_LIMIT = 100


def error_key(hubspot_id: str) -> str:
    """The record key a pulled record's error is kept under."""
    return f"{PULLED_PREFIX}{hubspot_id}"


class PagePuller:
    """Pulls pages of HubSpot records into a job's table and records them."""

    def __init__(
        self, spec: JobSpec, run: SyncRun, client: HubSpotClient, lock: JobLock, *, dry_run: bool
    ) -> None:
        self.spec = spec
        self.run = run
        self.client = client
        self.lock = lock
        self.dry_run = dry_run
        self.on_progress: Callable[[SyncRun], None] | None = None
        self.started = client.stats()
        self.counts = Counts()
        self.preview: list[dict[str, Any]] = []
        self.target: Target | None = None
        self.properties: tuple[str, ...] = ()
        self.prop = modified_property(spec.object_type)
        self.judge = Judge(spec) if spec.direction == "both" else None

    def stats(self) -> ClientStats:
        """What the client did in this run."""
        return self.client.stats() - self.started

    # --- a page --------------------------------------------------------------------------

    def page(self, records: Sequence[HubSpotObject], checkpoint: Mapping[str, Any] | None) -> None:
        """Apply and record one page; `checkpoint` (None: unchanged) is the pull checkpoint after it."""
        assert self.target is not None
        if self.lock.lost.is_set():
            raise EngineError("The job's lock was lost (another run took over); stopping.")
        unique = list({record.id: record for record in records}.values())
        self.counts.read += len(unique)
        incoming, failures = self._deduped([convert(self.spec, self.target, r) for r in unique])
        if self.judge is not None:
            incoming = self._judged(incoming)
        if self.dry_run:
            self._preview(incoming, failures)
            runs.save_progress(self.run, self.counts, self.stats())
            self._notify()
            return
        applied = apply_page(self.target, incoming)
        applied.failures.extend(failures)
        self._record(applied, incoming, checkpoint)

    def _deduped(
        self, incoming: Sequence[Incoming]
    ) -> tuple[list[Incoming], list[tuple[Incoming, RecordError]]]:
        """The records, less those whose match value an earlier one of the page has."""
        assert self.target is not None
        kept: dict[str, Incoming] = {}
        dropped: list[tuple[Incoming, RecordError]] = []
        for item in incoming:
            if item.problem is not None:
                continue
            text = match_text(self.target, item.values.get(self.target.plan.match.name))
            if text in kept:
                message = f"Record {kept[text].record.id} of this page has the same match value."
                dropped.append((item, RecordError(category=DUPLICATE_MATCH_KEY, message=message)))
                continue
            kept[text] = item
        problems = [item for item in incoming if item.problem is not None]
        return [*kept.values(), *problems], dropped

    def _judged(self, incoming: Sequence[Incoming]) -> list[Incoming]:
        """Two-way: the records whose HubSpot values go to their rows (echoes and lost conflicts out)."""
        assert self.target is not None
        assert self.judge is not None
        match = self.target.plan.match.name
        known = memories(self.spec.job_id, [item.record.id for item in incoming])
        rows = {
            match_text(self.target, row.values.get(match)): row
            for row in rows_before(self.target, [i for i in incoming if i.problem is None])
        }
        kept: list[Incoming] = []
        for item in incoming:
            if item.problem is not None:
                kept.append(item)
                continue
            row = rows.get(match_text(self.target, item.values.get(match)))
            if self.judge.apply(item.record, known.get(item.record.id), row):
                kept.append(item)
            else:
                self.counts.unchanged += 1
                self.counts.done += 1
        return kept

    def _record(
        self,
        applied: Applied,
        incoming: Sequence[Incoming],
        checkpoint: Mapping[str, Any] | None,
    ) -> None:
        """Save the page's states, errors, checkpoint and counts in one platform transaction."""
        spec = self.spec
        counts = self.counts
        for outcome in applied.outcomes.values():
            if outcome == "created":
                counts.created += 1
            elif outcome == "updated":
                counts.updated += 1
            else:
                counts.unchanged += 1
        counts.changed += sum(1 for o in applied.outcomes.values() if o != "unchanged")
        counts.failed += len(applied.failures)
        counts.done += len(applied.outcomes) + len(applied.failures)
        failures = [
            (
                error_key(item.record.id),
                error,
                {"id": item.record.id, "properties": excerpt(item.record.properties)},
            )
            for item, error in applied.failures
        ]
        with transaction.atomic():
            runs.save_states(spec.job_id, self._states(applied, incoming))
            runs.resolve_errors(spec.job_id, [error_key(i) for i in applied.outcomes])
            runs.record_errors(spec.job_id, self.run, failures)
            if checkpoint is not None:
                runs.save_checkpoint(spec.job_id, checkpoint, "pull")
            runs.save_progress(self.run, counts, self.stats())
            self._save_conflicts()
        self._notify()

    def _states(
        self, applied: Applied, incoming: Sequence[Incoming]
    ) -> list[tuple[str, str, str, Mapping[str, Any]]]:
        """Each written row's state: what HubSpot holds, as a push would send it."""
        assert self.target is not None
        match = self.target.plan.match.name
        by_match = {
            match_text(self.target, item.values.get(match)): item.record
            for item in incoming
            if item.record.id in applied.outcomes
        }
        states: list[tuple[str, str, str, Mapping[str, Any]]] = []
        for row in applied.rows:
            record = by_match.get(match_text(self.target, row.values.get(match)))
            if record is None:
                continue
            held = held_values(self.spec, record)
            states.append(
                (record_key(row.key), held_hash(self.spec, record, held), record.id, held)
            )
        return states

    def _save_conflicts(self) -> None:
        if self.judge is None:
            return
        self.run.conflicts = self.judge.conflicts
        self.run.resolutions = list(self.judge.details)
        self.run.save(update_fields=["conflicts", "resolutions"])

    def save_point(self, checkpoint: Mapping[str, Any]) -> None:
        """Save the pull checkpoint (not in a dry run)."""
        if not self.dry_run:
            runs.save_checkpoint(self.spec.job_id, checkpoint, "pull")

    # --- mirror ------------------------------------------------------------------------

    def rows_with_ids(self, hubspot_ids: Sequence[str]) -> list[str]:
        """Which of these HubSpot ids a row of the table holds."""
        assert self.target is not None
        assert self.target.id_column is not None
        column = self.target.id_column
        plan = UpsertPlan(self.target.plan.table, column, ())
        probe = Target(
            source=self.target.source, plan=plan, mappings=(), id_column=column,
            synced_at=None, status=None, error=None,
        )  # fmt: skip
        with read_transaction(self.target.source.config) as conn:
            rows = read_matching(conn, probe, list(hubspot_ids))
        return sorted({str(row.values[column.name]) for row in rows})

    def forget(self, hubspot_ids: Sequence[str]) -> None:
        """Drop the states of records whose rows were deleted."""
        SyncRecordState.objects.filter(
            job_id=self.spec.job_id, hubspot_id__in=list(hubspot_ids)
        ).delete()

    # --- dry runs and progress -----------------------------------------------------------

    def _preview(
        self, incoming: Sequence[Incoming], failures: Sequence[tuple[Incoming, RecordError]]
    ) -> None:
        for item in incoming:
            self.counts.done += 1
            if item.problem is not None:
                self.counts.failed += 1
            if len(self.preview) < PREVIEW_LIMIT:
                entry: dict[str, Any] = {
                    "action": "pull",
                    "id": item.record.id,
                    "values": {k: None if v is None else str(v) for k, v in item.values.items()},
                }
                if item.problem is not None:
                    entry["error"] = f"{item.problem.category}: {item.problem.message}"
                self.preview.append(entry)
        self.counts.failed += len(failures)
        self.counts.done += len(failures)

    def _notify(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.run)
