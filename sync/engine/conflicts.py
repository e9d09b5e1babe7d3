"""Two-way bookkeeping: what HubSpot holds in push form, echoes of our own writes, and conflicts.

One rule: both sides are compared in one form, the push form (the strings
a push would send, `payload.build_payload`), and against one memory, the
record's state (`SyncRecordState`: the hash and values HubSpot held when
the engine last wrote or read the record). A HubSpot record whose mapped
values equal that memory did not change (HubSpot moved `lastmodifieddate`
for our own write, or for a property we do not map): it is an echo and
ignored. A row whose push payload hashes as that memory did not change
either. A record changed on both sides, to different values, is a
conflict, settled by the job's policy:
- `hubspot` / `postgres`: that side wins;
- `newest`: the later of HubSpot's `lastmodifieddate` and the row's
  watermark column wins (HubSpot on a tie); a job without a watermark
  column has no time for the row's change, and HubSpot's side wins.
The losing side is overwritten: HubSpot's values are written to the row,
or the row is left as it is and the push that follows sends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.sql.keyset import SourceRow
from sync.engine.payload import build_payload, content_hash, normal, push_mappings
from sync.engine.pull_apply import modified_property
from sync.engine.pull_read import modified_ms, moment_ms
from sync.hubspot.types import HubSpotObject
from sync.jobspec import FieldMapping, JobSpec
from sync.models import SyncRecordState
from sync.transforms.functions import transform_pull, transform_push
from sync.transforms.values import TransformError, from_epoch_ms

MISSING = object()
# How many conflicts a run keeps the details of (all are counted).
CONFLICT_DETAILS = 200


@dataclass(frozen=True, slots=True)
class Memory:
    """A record's state as two-way sync reads it."""

    record_key: str
    content_hash: str
    values: Mapping[str, Any]


def memories(job_id: int, hubspot_ids: Iterable[str]) -> dict[str, Memory]:
    """The states of the records with these HubSpot ids, by id."""
    rows = SyncRecordState.objects.filter(job_id=job_id, hubspot_id__in=list(hubspot_ids))
    return {
        hubspot_id: Memory(key, digest, values or {})
        for key, digest, hubspot_id, values in rows.values_list(
            "record_key", "content_hash", "hubspot_id", "pushed_values"
        )
    }


def hub_form(mapping: FieldMapping, raw: str | None) -> str | None:
    """HubSpot's value of a mapped property in the form a push sends (None: empty)."""
    if raw is None or raw == "":
        return None
    if not mapping.transform:
        return raw
    try:
        return transform_push(
            mapping.transform, transform_pull(mapping.transform, raw, mapping.options), {},
            mapping.options,
        )  # fmt: skip
    except TransformError:
        return raw


def held_values(spec: JobSpec, record: HubSpotObject) -> dict[str, str | None]:
    """Every mapped property of the record, in push form."""
    return {m.property: hub_form(m, record.properties.get(m.property)) for m in spec.mappings}


def held_hash(spec: JobSpec, record: HubSpotObject, held: Mapping[str, str | None]) -> str:
    """The content hash a push computes for a row that equals the record."""
    pushed = {m.property: held.get(m.property) for m in push_mappings(spec)}
    if spec.matches_by_record_id:
        return content_hash(pushed, record.id)
    return content_hash(pushed, normal(record.properties.get(spec.match_property) or ""))


def row_hash(spec: JobSpec, row: SourceRow) -> tuple[str, Mapping[str, str | None]]:
    """The row's push payload and its content hash (as `decide` computes it)."""
    payload = build_payload(spec, push_mappings(spec), row.values)
    match = payload.match_value if spec.matches_by_record_id else normal(payload.match_value)
    return content_hash(payload.properties, match), payload.properties


@dataclass(slots=True)
class Judge:
    """Decides, for a two-way run, which changed HubSpot records are written to their rows."""

    spec: JobSpec
    conflicts: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)
    echoes: int = 0

    def hubspot_changed(self, record: HubSpotObject, memory: Memory | None) -> bool:
        """Whether the record's pulled values differ from what the state remembers."""
        if memory is None:
            return True
        held = held_values(self.spec, record)
        pulled = [m.property for m in self.spec.mappings if m.direction in ("pull", "both")]
        return any(memory.values.get(name, MISSING) != held[name] for name in pulled)

    def apply(self, record: HubSpotObject, memory: Memory | None, row: SourceRow | None) -> bool:
        """Whether HubSpot's values go to the row (False: the row wins, or nothing changed)."""
        if not self.hubspot_changed(record, memory):
            self.echoes += 1
            return False
        if row is None:
            return True
        digest, payload = row_hash(self.spec, row)
        if memory is not None and digest == memory.content_hash:
            return True  # only HubSpot changed
        held = held_values(self.spec, record)
        shared = [
            m.property
            for m in self.spec.mappings
            if m.direction == "both" and m.property in payload
        ]
        if all(payload.get(name) == held.get(name) for name in shared):
            return True  # both sides agree
        return self._settle(record, row, payload, held, shared)

    def _settle(
        self,
        record: HubSpotObject,
        row: SourceRow,
        payload: Mapping[str, str | None],
        held: Mapping[str, str | None],
        shared: list[str],
    ) -> bool:
        spec = self.spec
        hubspot_ms = modified_ms(record, modified_property(spec.object_type))
        row_ms = self._row_ms(row)
        policy = spec.conflict_policy
        if policy == "hubspot":
            winner, reason = "hubspot", "the job's policy: HubSpot wins"
        elif policy == "postgres":
            winner, reason = "postgres", "the job's policy: PostgreSQL wins"
        elif row_ms is None:
            winner, reason = "hubspot", "newest: the row has no watermark time; HubSpot wins"
        elif row_ms > hubspot_ms:
            winner, reason = "postgres", "newest: the row changed later"
        else:
            winner, reason = "hubspot", "newest: HubSpot changed later (or at the same time)"
        self.conflicts += 1
        if len(self.details) < CONFLICT_DETAILS:
            self.details.append(
                {
                    "key": row.position.key[0] if len(row.key) == 1 else list(row.key),
                    "hubspot_id": record.id,
                    "winner": winner,
                    "reason": reason,
                    "hubspot_modified": from_epoch_ms(hubspot_ms).isoformat()
                    if hubspot_ms
                    else None,
                    "postgres_modified": from_epoch_ms(row_ms).isoformat() if row_ms else None,
                    "fields": {
                        name: {"postgres": payload.get(name), "hubspot": held.get(name)}
                        for name in shared
                        if payload.get(name) != held.get(name)
                    },
                }
            )
        return winner == "hubspot"

    def _row_ms(self, row: SourceRow) -> int | None:
        column = self.spec.watermark_column
        return moment_ms(row.values.get(column)) if column else None
