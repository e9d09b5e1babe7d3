"""The values that pass between the parts of a push run: candidates, results, counts.

One rule: a candidate is decided (what to send, or why not) before any
request, and a result says what became of exactly one candidate; nothing
else about a record crosses from one part of the engine to another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from services.sql.keyset import Position
from sync.hubspot.errors import RecordError

# What a batch does with a candidate.
Operation = Literal["upsert", "update", "create", "skip"]
# What became of it.
Outcome = Literal["created", "updated", "unchanged", "failed", "archived"]

# A record whose create may or may not have reached HubSpot (a crash or an
# ambiguous failure after sending), with no unique value to find it by.
AMBIGUOUS_CREATE = "AMBIGUOUS_CREATE"
DUPLICATE_MATCH_KEY = "DUPLICATE_MATCH_KEY"
MISSING_MATCH_KEY = "MISSING_MATCH_KEY"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A changed source row on its way to HubSpot.

    `match_value` is the unique property's value (unique-property jobs) or
    the HubSpot id the match column holds (record-id jobs), "" when empty.
    `hubspot_id` is the record's id as far as we know it ("" unknown).
    `unique_value` is the value of a unique property among the properties,
    by which a create can be found again ("" none). `problem` is set when
    the record must not be sent; `operation` says what to send otherwise.
    """

    key: tuple[str, ...]
    record_key: str
    position: Position
    properties: Mapping[str, str | None]
    match_value: str
    hubspot_id: str
    operation: Operation
    unique_value: str = ""
    unique_property: str = ""
    problem: RecordError | None = None
    content_hash: str = ""


@dataclass(frozen=True, slots=True)
class PushResult:
    """What became of one record in a batch: its outcome, HubSpot id and error (failed only)."""

    key: tuple[str, ...]
    record_key: str
    outcome: Outcome
    hubspot_id: str = ""
    error: RecordError | None = None
    properties: Mapping[str, str | None] = field(default_factory=dict)
    match_value: str = ""
    content_hash: str = ""  # of the properties and the match value as sent

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class Counts:
    """A run's running totals (copied onto its `SyncRun`)."""

    read: int = 0
    changed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    done: int = 0
    total: int = 0

    def add(self, results: Sequence[PushResult]) -> None:
        for result in results:
            if result.outcome == "created":
                self.created += 1
            elif result.outcome == "updated":
                self.updated += 1
            elif result.outcome == "unchanged":
                self.unchanged += 1
            elif result.outcome == "failed":
                self.failed += 1
            elif result.outcome == "archived":
                self.deleted += 1
