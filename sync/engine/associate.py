"""The associations of a push run: link each record to the record its column names, once both exist.

One rule: an association is made only between two records HubSpot holds —
this job's record (by its recorded state) and the other one (by the state
of the job that syncs it, or the HubSpot id the column holds) — and what
was made is remembered per record (`SyncAssociationLink`), so a run sends
only the associations that are new or whose other side changed, in
batches of at most 100 through the account's rate limiter. A record whose
other side is not in HubSpot yet waits (the link says why) and is linked
by a later run; a changed column also removes the old association when
the association says `replace`.

Every run compares each row's column with the link made for it (reading
only the key and that column, in keyset chunks), so a change of the
column alone, which may not change what the record sends, is seen too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import transaction

from services.sql.errors import QueryError
from services.sql.keyset import SourceRow, row_source
from sync.engine.payload import key_parts, record_key
from sync.engine.source import EngineError, Source, read_by_keys, read_chunk
from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import rejected
from sync.hubspot.types import AssociationInput, AssociationType
from sync.jobspec import JobSpec
from sync.models import PRIMARY_TYPES, SyncAssociation, SyncAssociationLink, SyncRecordState

CHUNK_ROWS = 1000
BATCH = 100  # HubSpot's limit of inputs per association batch
LINK_FIELDS = ("target", "from_id", "to_id", "linked", "message", "updated_at")


@dataclass(frozen=True, slots=True)
class Plan:
    """One association of a job, as a run uses it."""

    id: int
    column: str
    from_type: str
    to_type: str
    to_job_id: int | None
    to_job_name: str
    types: tuple[AssociationType, ...]
    replace: bool


@dataclass(slots=True)
class AssociationCounts:
    """What a run did with associations: created, removed, waiting, failed."""

    created: int = 0
    removed: int = 0
    waiting: int = 0
    failed: int = 0


def association_plans(spec: JobSpec) -> list[Plan]:
    """The job's associations (none for a job that does not push)."""
    if spec.direction == "pull":
        return []
    plans = []
    for row in SyncAssociation.objects.filter(job_id=spec.job_id).select_related("to_job"):
        to_type = row.target_type()
        if row.type_id is not None:
            types: tuple[AssociationType, ...] = (AssociationType(row.type_id, row.category),)
        elif (spec.object_type, to_type) in PRIMARY_TYPES:
            types = (AssociationType(PRIMARY_TYPES[(spec.object_type, to_type)]),)
        else:
            types = ()  # HubSpot's default (unlabelled) type of the pair
        plans.append(
            Plan(
                id=row.pk,
                column=row.column,
                from_type=spec.object_type,
                to_type=to_type,
                to_job_id=row.to_job_id,
                to_job_name=row.to_job.name if row.to_job is not None else "",
                types=types,
                replace=row.replace,
            )
        )
    return plans


def associate_records(
    spec: JobSpec,
    client: HubSpotClient,
    source: Source,
    *,
    lost: threading.Event | None = None,
    keys: Sequence[str] | None = None,
) -> AssociationCounts:
    """Make the job's missing associations; return what was done.

    With `keys` (record keys), only the rows with those keys are looked at
    (a keyed push); otherwise every row is.
    Raises EngineError when an association's column is not in the table or
    the job's lock was lost, and what the client raises when HubSpot
    refuses a whole batch (e.g. an association type it does not know).
    """
    counts = AssociationCounts()
    for plan in association_plans(spec):
        try:
            rows = row_source(
                source.rows.table,
                columns=[plan.column],
                key=[column.name for column in source.rows.key],
            )
        except QueryError as error:
            raise EngineError(f"Association of '{plan.column}': {error.message}") from error
        batch = Batch(plan, client, counts, lost)
        for chunk in _chunks(replace(source, rows=rows), keys):
            batch.plan_rows(spec.job_id, chunk)
        batch.flush()
    return counts


def _chunks(source: Source, keys: Sequence[str] | None) -> Iterator[list[SourceRow]]:
    """The rows (with these record keys, or all) in chunks of at most CHUNK_ROWS."""
    if keys is not None:
        parsed = [key_parts(text, source.key_width) for text in dict.fromkeys(keys)]
        wanted = [key for key in parsed if key is not None]
        for start in range(0, len(wanted), CHUNK_ROWS):
            yield read_by_keys(source, wanted[start : start + CHUNK_ROWS])
        return
    after = None
    while True:
        chunk = read_chunk(source, after=after, limit=CHUNK_ROWS)
        if chunk:
            yield chunk
        if len(chunk) < CHUNK_ROWS:
            return
        after = chunk[-1].position


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(slots=True)
class Batch:
    """The association changes of one plan waiting to be sent and recorded."""

    plan: Plan
    client: HubSpotClient
    counts: AssociationCounts
    lost: threading.Event | None
    creates: list[tuple[SyncAssociationLink, AssociationInput]] = field(default_factory=list)
    removals: list[tuple[str, str]] = field(default_factory=list)  # (from id, old to id)
    waiting: list[SyncAssociationLink] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def plan_rows(self, job_id: int, rows: Sequence[SourceRow]) -> None:
        """Decide what each row needs; send once a batch is full."""
        plan = self.plan
        targets = {record_key(row.key): _text(row.values.get(plan.column)) for row in rows}
        from_ids = _hubspot_ids(job_id, targets)
        links = {
            link.record_key: link
            for link in SyncAssociationLink.objects.filter(
                association_id=plan.id, record_key__in=list(targets)
            )
        }
        wanted = {target for target in targets.values() if target is not None}
        to_ids = _hubspot_ids(plan.to_job_id, wanted) if plan.to_job_id else {t: t for t in wanted}
        for key, target in targets.items():
            from_id, link = from_ids.get(key, ""), links.get(key)
            if not from_id:
                continue  # not in HubSpot (yet): its own push comes first
            old = link.to_id if link is not None and link.linked and link.from_id == from_id else ""
            to_id = to_ids.get(target, "") if target is not None else ""
            if old and old == to_id:
                continue  # made already
            if old and plan.replace:
                self.removals.append((from_id, old))
            if target is None:
                if link is not None:
                    self.dropped.append(key)
                continue
            made = SyncAssociationLink(
                association_id=plan.id, record_key=key, target=target, from_id=from_id
            )
            if to_id:
                made.to_id = to_id
                self.creates.append((made, AssociationInput(from_id, to_id, plan.types)))
            else:
                made.message = (
                    f"Waiting: {plan.to_job_name}'s record {target} is not in HubSpot yet."
                )
                self.waiting.append(made)
        full = len(self.creates) >= BATCH or len(self.removals) >= BATCH
        if full or len(self.waiting) + len(self.dropped) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        """Remove the replaced associations, create the new ones, record every link."""
        if self.lost is not None and self.lost.is_set():
            raise EngineError("The job's lock was lost (another run took over); stopping.")
        removals, self.removals = self.removals, []
        creates, self.creates = self.creates, []
        for start in range(0, len(removals), BATCH):
            self._remove(removals[start : start + BATCH])
        made: list[SyncAssociationLink] = []
        if creates:
            result = self.client.create_associations(
                self.plan.from_type, self.plan.to_type, [item for _, item in creates]
            )
            for (link, _), outcome in zip(creates, result.outcomes, strict=True):
                if outcome.error is None:
                    link.linked = True
                    self.counts.created += 1
                else:
                    link.message = f"{outcome.error.category}: {outcome.error.message}"[:2000]
                    self.counts.failed += 1
                made.append(link)
        self._record(made)

    def _remove(self, pairs: Sequence[tuple[str, str]]) -> None:
        by_from: dict[str, list[dict[str, str]]] = {}
        for from_id, to_id in pairs:
            by_from.setdefault(from_id, []).append({"id": to_id})
        inputs: list[Mapping[str, Any]] = [
            {"from": {"id": from_id}, "to": to} for from_id, to in by_from.items()
        ]
        path = self.client.associations_path(self.plan.from_type, self.plan.to_type)
        path += "/batch/archive"
        answer = self.client.transport.request("POST", path, json={"inputs": inputs})
        if answer.status not in (200, 204, 207):
            raise rejected("POST", path, answer.status, answer.body)
        self.counts.removed += len(pairs)

    def _record(self, made: list[SyncAssociationLink]) -> None:
        """Save the links made or waiting, and forget those whose column is empty now."""
        waiting, self.waiting = self.waiting, []
        dropped, self.dropped = self.dropped, []
        self.counts.waiting += len(waiting)
        links = made + waiting
        if not links and not dropped:
            return
        with transaction.atomic():
            if links:
                SyncAssociationLink.objects.bulk_create(
                    links,
                    update_conflicts=True,
                    unique_fields=["association", "record_key"],
                    update_fields=list(LINK_FIELDS),
                )
            if dropped:
                SyncAssociationLink.objects.filter(
                    association_id=self.plan.id, record_key__in=dropped
                ).delete()


def _hubspot_ids(job_id: int | None, record_keys: Any) -> dict[str, str]:
    """The HubSpot ids a job recorded for these records (those it has)."""
    keys = list(record_keys)
    if job_id is None or not keys:
        return {}
    rows = (
        SyncRecordState.objects.filter(job_id=job_id, record_key__in=keys)
        .exclude(hubspot_id="")
        .values_list("record_key", "hubspot_id")
    )
    return dict(rows)
