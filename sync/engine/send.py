"""Send one batch of candidates to HubSpot the way the job's mode needs; say what became of each.

One rule: nothing is ever created twice. Upserts and updates are idempotent
and simply sent again after any failure; a create is sent again only when
the record carries a unique value (an email, a domain, a unique custom
property), because then HubSpot answers a repeat with a `CONFLICT` naming
the record the first attempt made, which is adopted instead. A create
without one must have been announced durably by the caller before the
batch is sent (see `push`), and after a failure that leaves it unknown
whether HubSpot applied it, the record fails as `AMBIGUOUS_CREATE` rather
than being sent again.

A sender touches no database: batches may be sent from a thread of their
own while the caller records the previous one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sync.engine.types import AMBIGUOUS_CREATE, Candidate, Outcome, PushResult
from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import AmbiguousWriteError, RecordError
from sync.hubspot.types import CreateInput, HubSpotObject, RecordOutcome, UpdateInput, UpsertInput
from sync.jobspec import JobSpec


def update_properties(properties: Mapping[str, str | None]) -> dict[str, str]:
    """Properties for an update or upsert: a null clears the property ("")."""
    return {name: "" if value is None else value for name, value in properties.items()}


def create_properties(properties: Mapping[str, str | None]) -> dict[str, str]:
    """Properties for a create: nulls are left out."""
    return {name: value for name, value in properties.items() if value is not None and value != ""}


class BatchSender:
    """Sends the batches of one run through one client."""

    def __init__(self, client: HubSpotClient, spec: JobSpec) -> None:
        self.client = client
        self.spec = spec

    def send(self, batch: Sequence[Candidate]) -> list[PushResult]:
        """Send a batch (at most one request per operation, plus adoptions); results in order."""
        results: dict[int, PushResult] = {}
        upserts: list[int] = []
        updates: list[int] = []
        creates: list[int] = []
        for index, candidate in enumerate(batch):
            if candidate.problem is not None:
                results[index] = failed(candidate, candidate.problem)
            elif candidate.operation == "upsert":
                upserts.append(index)
            elif candidate.operation == "update":
                updates.append(index)
            elif candidate.operation == "create":
                creates.append(index)
            else:
                results[index] = done(candidate, "unchanged", candidate.hubspot_id)
        if upserts:
            results.update(self._upsert([batch[i] for i in upserts], upserts))
        if updates:
            results.update(self._update([batch[i] for i in updates], updates))
        if creates:
            results.update(self._create([batch[i] for i in creates], creates))
        return [results[i] for i in range(len(batch))]

    # --- operations --------------------------------------------------------------------

    def _upsert(self, candidates: list[Candidate], indexes: list[int]) -> dict[int, PushResult]:
        inputs = [
            UpsertInput(
                id=candidate.match_value,
                id_property=self.spec.match_property,
                properties=update_properties(candidate.properties),
            )
            for candidate in candidates
        ]
        answer = self.client.batch_upsert(self.spec.object_type, inputs)
        found: dict[int, PushResult] = {}
        for index, candidate, outcome in zip(indexes, candidates, answer.outcomes, strict=True):
            if outcome.error is not None or outcome.result is None:
                found[index] = failed(candidate, outcome.error)
            else:
                found[index] = done(
                    candidate, "created" if outcome.result.new else "updated", outcome.result.id
                )
        return found

    def _update(
        self, candidates: list[Candidate], indexes: list[int], *, ids: Sequence[str] = ()
    ) -> dict[int, PushResult]:
        by_id = self.spec.matches_by_record_id or bool(ids)
        inputs = [
            UpdateInput(
                id=ids[n] if ids else (candidate.hubspot_id if by_id else candidate.match_value),
                id_property="" if by_id else self.spec.match_property,
                properties=update_properties(candidate.properties),
            )
            for n, candidate in enumerate(candidates)
        ]
        answer = self.client.batch_update(self.spec.object_type, inputs)
        found: dict[int, PushResult] = {}
        for index, candidate, outcome in zip(indexes, candidates, answer.outcomes, strict=True):
            found[index] = result_of(candidate, outcome, "updated")
        return found

    def _create(self, candidates: list[Candidate], indexes: list[int]) -> dict[int, PushResult]:
        inputs = [CreateInput(properties=create_properties(c.properties)) for c in candidates]
        try:
            answer = self.client.batch_create(self.spec.object_type, inputs)
        except AmbiguousWriteError as error:
            return self._after_ambiguous(candidates, indexes, error)
        return self._created(candidates, indexes, list(answer.outcomes))

    def _after_ambiguous(
        self, candidates: list[Candidate], indexes: list[int], error: AmbiguousWriteError
    ) -> dict[int, PushResult]:
        """A create call may or may not have been applied: send again only what can be found."""
        found: dict[int, PushResult] = {}
        safe = [(i, c) for i, c in zip(indexes, candidates, strict=True) if c.unique_value]
        for index, candidate in zip(indexes, candidates, strict=True):
            if not candidate.unique_value:
                found[index] = failed(
                    candidate,
                    RecordError(
                        category=AMBIGUOUS_CREATE,
                        message=(
                            f"{error} The record has no unique value to find it by, so it is "
                            "not created again; check HubSpot, then retry failed records."
                        ),
                    ),
                )
        if safe:
            again = [c for _, c in safe]
            # A second ambiguous failure propagates: the run stops and is retried.
            inputs = [CreateInput(properties=create_properties(c.properties)) for c in again]
            answer = self.client.batch_create(self.spec.object_type, inputs)
            found.update(self._created(again, [i for i, _ in safe], list(answer.outcomes)))
        return found

    def _created(
        self,
        candidates: list[Candidate],
        indexes: list[int],
        outcomes: list[RecordOutcome[CreateInput, HubSpotObject]],
    ) -> dict[int, PushResult]:
        """Read create outcomes; a conflict naming an existing record adopts that record."""
        found: dict[int, PushResult] = {}
        adopted: list[tuple[int, Candidate, str]] = []
        for index, candidate, outcome in zip(indexes, candidates, outcomes, strict=True):
            error = outcome.error
            if error is not None and error.category == "CONFLICT" and error.existing_id:
                if self.spec.mode == "create_only":
                    found[index] = done(candidate, "unchanged", error.existing_id)
                else:
                    adopted.append((index, candidate, error.existing_id))
                continue
            found[index] = result_of(candidate, outcome, "created")
        if adopted:
            found.update(
                self._update(
                    [c for _, c, _ in adopted],
                    [i for i, _, _ in adopted],
                    ids=[existing for _, _, existing in adopted],
                )
            )
        return found


def done(candidate: Candidate, outcome: Outcome, hubspot_id: str) -> PushResult:
    """A record HubSpot holds now (or already held), with its id."""
    return PushResult(
        key=candidate.key,
        record_key=candidate.record_key,
        outcome=outcome,
        hubspot_id=hubspot_id,
        properties=candidate.properties,
        match_value=candidate.match_value,
        content_hash=candidate.content_hash,
    )


def failed(candidate: Candidate, error: RecordError | None) -> PushResult:
    """A record that was refused (or never sent), with why."""
    return PushResult(
        key=candidate.key,
        record_key=candidate.record_key,
        outcome="failed",
        hubspot_id=candidate.hubspot_id,
        error=error or RecordError(category="NO_RESULT", message="HubSpot gave no result."),
        properties=candidate.properties,
        match_value=candidate.match_value,
        content_hash=candidate.content_hash,
    )


def result_of(
    candidate: Candidate, outcome: RecordOutcome[Any, HubSpotObject], kind: Outcome
) -> PushResult:
    """The result of a client outcome: `kind` when it succeeded, failed otherwise."""
    if outcome.error is not None or outcome.result is None:
        return failed(candidate, outcome.error)
    return done(candidate, kind, outcome.result.id)
