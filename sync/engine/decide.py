"""Deciding, for each source row, whether it changed and what to send for it.

One rule: every decision about a record is taken here, before any request,
from the row, its last recorded state and the job's settings: unchanged
(its payload hashes as last pushed), skipped (create only, and HubSpot has
it), or a `Candidate` that says what to send, or why it must not be sent
(a transform or HubSpot's property rules refuse a value, the match key is
missing or repeated, or an earlier create of it may have gone through).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.sql.keyset import SourceRow
from sync.engine.payload import build_payload, content_hash, excerpt, normal, push_mappings
from sync.engine.runs import State
from sync.engine.types import (
    AMBIGUOUS_CREATE,
    DUPLICATE_MATCH_KEY,
    MISSING_MATCH_KEY,
    Candidate,
    Operation,
)
from sync.engine.validate import check_record, is_unique
from sync.hubspot.errors import RecordError
from sync.hubspot.types import PropertyDefinition
from sync.jobspec import FieldMapping, JobSpec


@dataclass(slots=True)
class Decider:
    """Decides rows for one run; remembers the match keys the run has seen.

    `open_errors` (record key → category) is the run's view of open errors,
    kept up to date by the run.
    """

    spec: JobSpec
    definitions: Mapping[str, PropertyDefinition]
    open_errors: Mapping[str, str]
    retry_failed: bool = False
    seen_match: dict[str, str] = field(default_factory=dict)
    unique_properties: tuple[str, ...] = ()
    mappings: tuple[FieldMapping, ...] = ()

    def __post_init__(self) -> None:
        self.mappings = push_mappings(self.spec)
        self.unique_properties = tuple(
            mapping.property
            for mapping in self.mappings
            if mapping.property in self.definitions
            and is_unique(self.spec.object_type, self.definitions[mapping.property])
        )

    def decide(
        self, row: SourceRow, text: str, state: State | None, *, forced: bool
    ) -> Candidate | None:
        """A candidate to send (or to fail), or None when the record is unchanged.

        `forced` sends a row even when its payload hashes as last pushed (a
        record with an open error is always tried again).
        """
        spec = self.spec
        payload = build_payload(spec, self.mappings, row.values)
        by_id = spec.matches_by_record_id
        match_value = payload.match_value
        known_id = match_value if by_id else (state.hubspot_id if state else "")
        digest = content_hash(payload.properties, match_value if by_id else normal(match_value))
        if not forced and state is not None and state.content_hash == digest:
            return None
        operation = self.operation(known_id)
        unique_property, unique_value = self.unique_value(payload.properties, match_value)
        problem = payload.problem or check_record(payload.properties, self.definitions)
        if problem is None and operation != "skip":
            problem = self.match_problem(text, match_value, known_id, operation, unique_value)
        return Candidate(
            key=row.key,
            record_key=text,
            position=row.position,
            properties=payload.properties,
            match_value=match_value,
            hubspot_id=known_id,
            operation=operation,
            unique_value=unique_value,
            unique_property=unique_property,
            problem=problem,
            content_hash=digest,
        )

    def operation(self, known_id: str) -> Operation:
        """What the job's mode sends for a record whose HubSpot id is `known_id` ("" unknown)."""
        mode = self.spec.mode
        if mode == "create_only":
            return "skip" if known_id else "create"
        if mode == "update_only":
            return "update"
        if self.spec.matches_by_record_id:
            return "update" if known_id else "create"
        return "upsert"

    def unique_value(
        self, properties: Mapping[str, str | None], match_value: str
    ) -> tuple[str, str]:
        """A unique property and its value among the record's, to find a create again by."""
        if not self.spec.matches_by_record_id:
            return self.spec.match_property, match_value
        for name in self.unique_properties:
            value = properties.get(name)
            if value:
                return name, value
        return "", ""

    def match_problem(
        self, text: str, match_value: str, known_id: str, operation: Operation, unique_value: str
    ) -> RecordError | None:
        """Why the record cannot be matched or created safely, or None."""
        spec = self.spec
        if spec.matches_by_record_id:
            if operation == "update" and not known_id:
                return RecordError(
                    category=MISSING_MATCH_KEY,
                    message=f"The column '{spec.match_column}' holds no HubSpot id, and this "
                    "job only updates records.",
                )
            blocked = self.open_errors.get(text) == AMBIGUOUS_CREATE and not self.retry_failed
            if operation == "create" and blocked and not unique_value:
                return RecordError(
                    category=AMBIGUOUS_CREATE,
                    message="An earlier run may have created this record already; it is not "
                    "created again until its failed records are retried.",
                )
            return None
        if not match_value:
            return RecordError(
                category=MISSING_MATCH_KEY,
                message=f"The match column '{spec.match_column}' is empty.",
            )
        other = self.seen_match.setdefault(normal(match_value), text)
        if other != text:
            return RecordError(
                category=DUPLICATE_MATCH_KEY,
                message=f"Record {other} of this run has the same {spec.match_property} "
                f"({match_value}); only the first is sent.",
            )
        return None


def preview_of(candidate: Candidate) -> tuple[str, dict[str, object]]:
    """What a dry run shows for a candidate: its action and a preview entry."""
    if candidate.problem is not None:
        action = "invalid"
    elif candidate.operation == "upsert" and candidate.hubspot_id:
        action = "update"
    else:
        action = candidate.operation
    entry: dict[str, object] = {
        "action": action,
        "key": candidate.record_key,
        "id": candidate.hubspot_id or candidate.match_value,
        "properties": excerpt(candidate.properties),
    }
    if candidate.problem is not None:
        entry["error"] = f"{candidate.problem.category}: {candidate.problem.message}"
    return action, entry
