"""Associations (v4 API, or its date version): batch create and batch read, matched by record ids.

One rule: like every batch of the client, each input gets its own outcome,
matched by the ids HubSpot names (`from` / `to`), never by position; a
record with no associations is a success with an empty set, not an error
(HubSpot reports it as an `OBJECT_NOT_FOUND` / `NO_ASSOCIATIONS_FOUND` error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sync.hubspot.batch import DUPLICATE, NO_RESULT
from sync.hubspot.errors import RecordError, record_error, rejected
from sync.hubspot.transport import Transport
from sync.hubspot.types import (
    Association,
    AssociationInput,
    AssociationSet,
    AssociationType,
    BatchResult,
    RecordOutcome,
)

CREATE_CHUNK = 100
READ_CHUNK = 1000  # HubSpot's batch read limit for associations
NO_ASSOCIATIONS = "NO_ASSOCIATIONS_FOUND"
FROM_KEYS = ("fromObjectId", "from", "ids", "id")
TO_KEYS = ("toObjectId", "to")


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return None if value is None else str(value)


def _types(items: Any) -> tuple[AssociationType, ...]:
    found: list[AssociationType] = []
    for item in items or ():
        if (
            isinstance(item, Mapping)
            and item.get("typeId", item.get("associationTypeId")) is not None
        ):
            found.append(
                AssociationType(
                    type_id=int(item.get("typeId", item.get("associationTypeId"))),
                    category=str(item.get("category", item.get("associationCategory")) or ""),
                    label=item.get("label"),
                )
            )
    return tuple(found)


def _created(item: Mapping[str, Any]) -> Association | None:
    """One result of batch/create (`fromObjectId`…) or batch/associate/default (`from`, `to`)."""
    from_id = _id(item.get("fromObjectId", item.get("from")))
    to_id = _id(item.get("toObjectId", item.get("to")))
    if from_id is None or to_id is None:
        return None
    spec = item.get("associationSpec")
    return Association(from_id, to_id, _types([spec]) if isinstance(spec, Mapping) else ())


def _context_ids(error: RecordError, names: Sequence[str]) -> set[str]:
    return {value for name in names for value in error.context.get(name, ())}


def associations_create(
    transport: Transport, base: str, inputs: Sequence[AssociationInput]
) -> BatchResult[AssociationInput, Association]:
    """Create associations; inputs without types get HubSpot's default association."""
    outcomes: dict[int, RecordOutcome[AssociationInput, Association]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(inputs):
        pair = (item.from_id, item.to_id)
        if pair in seen:
            message = f"Input {i} repeats the pair of input {seen[pair]}; it was not sent."
            outcomes[i] = RecordOutcome(
                item, error=RecordError(category=DUPLICATE, message=message)
            )
        else:
            seen[pair] = i
    labelled = [i for i in range(len(inputs)) if i not in outcomes and inputs[i].types]
    default = [i for i in range(len(inputs)) if i not in outcomes and not inputs[i].types]
    requests = 0
    for indices, path in (
        (labelled, f"{base}/batch/create"),
        (default, f"{base}/batch/associate/default"),
    ):
        for start in range(0, len(indices), CREATE_CHUNK):
            chunk = indices[start : start + CREATE_CHUNK]
            payload = [
                {
                    "from": {"id": inputs[i].from_id},
                    "to": {"id": inputs[i].to_id},
                    **(
                        {"types": [kind.to_json() for kind in inputs[i].types]}
                        if inputs[i].types
                        else {}
                    ),
                }
                for i in chunk
            ]
            answer = transport.request("POST", path, json={"inputs": payload})
            requests += 1
            if answer.status not in (200, 201, 207):
                raise rejected("POST", path, answer.status, answer.body)
            _match_created(inputs, chunk, answer.body, outcomes)
    return BatchResult(tuple(outcomes[i] for i in range(len(inputs))), requests)


def _match_created(
    inputs: Sequence[AssociationInput],
    chunk: list[int],
    body: Any,
    outcomes: dict[int, RecordOutcome[AssociationInput, Association]],
) -> None:
    data = body if isinstance(body, Mapping) else {}
    by_pair = {(inputs[i].from_id, inputs[i].to_id): i for i in chunk}
    for item in data.get("results") or ():
        created = _created(item) if isinstance(item, Mapping) else None
        if created is not None and (created.from_id, created.to_id) in by_pair:
            i = by_pair[(created.from_id, created.to_id)]
            # Labelled results name labels, not type ids: the types are the input's.
            types = created.types or inputs[i].types
            outcomes[i] = RecordOutcome(
                inputs[i], result=Association(created.from_id, created.to_id, types)
            )
    for item in data.get("errors") or ():
        error = record_error(item)
        froms, tos = _context_ids(error, FROM_KEYS), _context_ids(error, TO_KEYS)
        for i in chunk:
            if inputs[i].from_id in froms and (not tos or inputs[i].to_id in tos):
                outcomes[i] = RecordOutcome(inputs[i], error=error)
    for i in chunk:
        if i not in outcomes:
            message = "HubSpot's answer named neither a result nor an error for this pair."
            outcomes[i] = RecordOutcome(
                inputs[i], error=RecordError(category=NO_RESULT, message=message)
            )


def associations_read(
    transport: Transport, base: str, ids: Sequence[str]
) -> BatchResult[str, AssociationSet]:
    """Read every association of each record, following each record's paging."""
    path = f"{base}/batch/read"
    found: dict[str, list[Association]] = {}
    errors: dict[str, RecordError] = {}
    unique = list(dict.fromkeys(ids))
    requests = 0
    pending: list[dict[str, str]] = [{"id": item} for item in unique]
    while pending:
        chunk, pending = pending[:READ_CHUNK], pending[READ_CHUNK:]
        answer = transport.request("POST", path, json={"inputs": chunk})
        requests += 1
        if answer.status not in (200, 207):
            raise rejected("POST", path, answer.status, answer.body)
        data = answer.body if isinstance(answer.body, Mapping) else {}
        for item in data.get("results") or ():
            from_id = _id(item.get("from")) if isinstance(item, Mapping) else None
            if from_id is None:
                continue
            links = found.setdefault(from_id, [])
            for target in item.get("to") or ():
                to_id = _id(target.get("toObjectId", target.get("id")))
                if to_id is not None:
                    links.append(
                        Association(from_id, to_id, _types(target.get("associationTypes")))
                    )
            after = ((item.get("paging") or {}).get("next") or {}).get("after")
            if after:
                pending.append({"id": from_id, "after": str(after)})
        for item in data.get("errors") or ():
            error = record_error(item)
            for from_id in _context_ids(error, FROM_KEYS):
                if error.sub_category and NO_ASSOCIATIONS in error.sub_category:
                    found.setdefault(from_id, [])
                else:
                    errors[from_id] = error
    outcomes: list[RecordOutcome[str, AssociationSet]] = []
    for item in ids:
        if item in errors:
            outcomes.append(RecordOutcome(item, error=errors[item]))
        else:
            outcomes.append(
                RecordOutcome(item, result=AssociationSet(item, tuple(found.get(item, ()))))
            )
    return BatchResult(tuple(outcomes), requests)
