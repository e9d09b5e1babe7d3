"""Matching HubSpot's batch answers back to the inputs that caused them.

One rule: HubSpot does not answer in input order, so every result and every
`errors[]` item is tied to its input by what it names (the input's
`objectWriteTraceId`, its record id, or its unique property's value,
compared trimmed and lowercased, as HubSpot stores emails), never by
position; an input that nothing names gets a `NO_RESULT` error rather than
someone else's result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sync.hubspot.errors import RecordError, record_error, rejected
from sync.hubspot.transport import Transport
from sync.hubspot.types import HubSpotObject, RecordOutcome

InputT = TypeVar("InputT")

DUPLICATE = "DUPLICATE_INPUT"
NO_RESULT = "NO_RESULT"
# Refusals of a whole batch that splitting it would only repeat.
REQUEST_LEVEL = ("duplicate id", "non-unique", "maximum number of inputs", "too many inputs")


def normal(value: str) -> str:
    """How ids and unique values are compared: trimmed and lowercased."""
    return value.strip().lower()


@dataclass(frozen=True, slots=True)
class Key:
    """What a result or error may name an input by."""

    trace_id: str | None = None
    id: str | None = None  # the record id
    unique_property: str | None = None
    unique_value: str | None = None  # normalised

    def identity(self) -> tuple[str, str] | None:
        """What makes two inputs of one call the same record (None: nothing does)."""
        if self.id is not None:
            return ("id", normal(self.id))
        if self.unique_property is not None and self.unique_value is not None:
            return (self.unique_property, self.unique_value)
        return None


def new_trace_id() -> str:
    return uuid.uuid4().hex


def find_duplicates(keys: Sequence[Key]) -> dict[int, RecordError]:
    """Inputs repeating an earlier input's record or trace id (HubSpot would refuse the batch)."""
    seen: dict[tuple[str, str], int] = {}
    traces: dict[str, int] = {}
    duplicates: dict[int, RecordError] = {}
    for index, key in enumerate(keys):
        identity = key.identity()
        if identity is not None and identity in seen:
            duplicates[index] = RecordError(
                category=DUPLICATE,
                message=f"Input {index} names the same record as input {seen[identity]} "
                f"({identity[0]} {identity[1]!r}); it was not sent.",
            )
            continue
        if key.trace_id is not None and key.trace_id in traces:
            duplicates[index] = RecordError(
                category=DUPLICATE,
                message=f"Input {index} repeats the objectWriteTraceId of input "
                f"{traces[key.trace_id]}; it was not sent.",
            )
            continue
        if identity is not None:
            seen[identity] = index
        if key.trace_id is not None:
            traces[key.trace_id] = index
    return duplicates


class _Index:
    """Inputs by trace id, record id and unique value."""

    def __init__(self, keys: Sequence[Key]) -> None:
        self.keys = keys
        self.by_trace = {key.trace_id: i for i, key in enumerate(keys) if key.trace_id}
        self.by_id = {normal(key.id): i for i, key in enumerate(keys) if key.id is not None}
        self.by_unique = {
            (key.unique_property, key.unique_value): i
            for i, key in enumerate(keys)
            if key.unique_property is not None and key.unique_value is not None
        }
        self.unique_properties = {key.unique_property for key in keys if key.unique_property}

    def of_result(self, record: HubSpotObject) -> int | None:
        if record.trace_id and record.trace_id in self.by_trace:
            return self.by_trace[record.trace_id]
        if normal(record.id) in self.by_id:
            return self.by_id[normal(record.id)]
        for name in self.unique_properties:
            value = record.properties.get(name)
            if value is not None and (name, normal(value)) in self.by_unique:
                return self.by_unique[(name, normal(value))]
        return None

    def of_error(self, error: RecordError) -> list[int]:
        found: list[int] = []
        for name, values in error.context.items():
            for value in values:
                if name == "objectWriteTraceId":
                    index = self.by_trace.get(value)
                elif name in ("ids", "id"):
                    index = self.by_id.get(normal(value))
                    if index is None:
                        index = self._unique(value)
                elif name in self.unique_properties:
                    index = self.by_unique.get((name, normal(value)))
                else:
                    continue
                if index is not None and index not in found:
                    found.append(index)
        return found

    def _unique(self, value: str) -> int | None:
        for name in self.unique_properties:
            index = self.by_unique.get((name, normal(value)))
            if index is not None:
                return index
        return None


def _agrees(properties: Mapping[str, str], record: HubSpotObject) -> bool:
    """Whether a created record carries every value its input set (as far as it shows them)."""
    shown = [name for name in properties if record.properties.get(name) is not None]
    return bool(shown) and all(
        normal(str(record.properties[name])) == normal(properties[name]) for name in shown
    )


def match_answer(
    inputs: Sequence[InputT],
    keys: Sequence[Key],
    body: Any,
    *,
    written: Sequence[Mapping[str, str]] | None = None,
    result_of: Callable[[Mapping[str, Any]], HubSpotObject] = HubSpotObject.of,
) -> list[RecordOutcome[InputT, HubSpotObject]]:
    """Tie a batch answer's `results[]` and `errors[]` to `inputs`; return outcomes in input order.

    `written` (creates only) are the properties each input set: a created
    record that names no trace id is tied to the one input whose values it
    carries. An error wins over a result for the same input.
    """
    index = _Index(keys)
    data = body if isinstance(body, Mapping) else {}
    results: dict[int, HubSpotObject] = {}
    loose: list[HubSpotObject] = []
    for item in data.get("results") or ():
        if not isinstance(item, Mapping):
            continue
        record = result_of(item)
        found = index.of_result(record)
        if found is None or found in results:
            loose.append(record)
        else:
            results[found] = record
    errors: dict[int, RecordError] = {}
    unattributed: list[RecordError] = []
    for item in data.get("errors") or ():
        error = record_error(item)
        tied = index.of_error(error)
        if not tied:
            unattributed.append(error)
        for found in tied:
            errors.setdefault(found, error)
    if written is not None and loose:
        _pair_loose(loose, written, results, errors, len(inputs))
    outcomes: list[RecordOutcome[InputT, HubSpotObject]] = []
    open_inputs = [i for i in range(len(inputs)) if i not in results and i not in errors]
    for i, item in enumerate(inputs):
        if i in errors:
            outcomes.append(RecordOutcome(item, error=errors[i]))
        elif i in results:
            outcomes.append(RecordOutcome(item, result=results[i]))
        elif len(unattributed) == 1 and len(open_inputs) == 1:
            outcomes.append(RecordOutcome(item, error=unattributed[0]))
        else:
            told = "; ".join(error.message for error in unattributed)
            message = "HubSpot's answer named neither a result nor an error for this input."
            outcomes.append(
                RecordOutcome(
                    item,
                    error=RecordError(category=NO_RESULT, message=f"{message} {told}".strip()),
                )
            )
    return outcomes


def _pair_loose(
    loose: list[HubSpotObject],
    written: Sequence[Mapping[str, str]],
    results: dict[int, HubSpotObject],
    errors: dict[int, RecordError],
    count: int,
) -> None:
    """Tie created records that name no input to the inputs whose values they carry."""
    open_inputs = [i for i in range(count) if i not in results and i not in errors]
    if len(open_inputs) == 1 and len(loose) == 1:
        results[open_inputs[0]] = loose[0]
        return
    for record in loose:
        candidates = [i for i in open_inputs if _agrees(written[i], record)]
        if len(candidates) == 1:
            results[candidates[0]] = record
            open_inputs.remove(candidates[0])


class ChunkSender(Generic[InputT]):
    """Sends chunks of one batch call, splitting a chunk HubSpot refuses as a whole."""

    def __init__(
        self,
        transport: Transport,
        path: str,
        inputs: Sequence[InputT],
        keys: Sequence[Key],
        payloads: Sequence[Mapping[str, Any]],
        *,
        extra: Mapping[str, Any],
        params: Mapping[str, str] | None,
        written: Sequence[Mapping[str, str]] | None,
        idempotent: bool,
        outcomes: dict[int, RecordOutcome[InputT, HubSpotObject]],
    ) -> None:
        self.transport = transport
        self.path = path
        self.inputs = inputs
        self.keys = keys
        self.payloads = payloads
        self.extra = extra
        self.params = params
        self.written = written
        self.idempotent = idempotent
        self.outcomes = outcomes
        self.requests = 0

    def send(self, chunk: list[int]) -> None:
        body = {**self.extra, "inputs": [self.payloads[i] for i in chunk]}
        answer = self.transport.request(
            "POST", self.path, json=body, params=self.params, idempotent=self.idempotent
        )
        self.requests += 1
        if answer.status in (200, 201, 207):
            matched = match_answer(
                [self.inputs[i] for i in chunk],
                [self.keys[i] for i in chunk],
                answer.body,
                written=None if self.written is None else [self.written[i] for i in chunk],
            )
            for i, outcome in zip(chunk, matched, strict=True):
                self.outcomes[i] = outcome
            return
        if answer.status not in (400, 409):
            raise rejected("POST", self.path, answer.status, answer.body)
        error = record_error(answer.body, status=answer.status)
        if len(chunk) == 1:
            self.outcomes[chunk[0]] = RecordOutcome(self.inputs[chunk[0]], error=error)
            return
        if any(marker in error.message.lower() for marker in REQUEST_LEVEL):
            raise rejected("POST", self.path, answer.status, answer.body)
        half = len(chunk) // 2
        self.send(chunk[:half])
        self.send(chunk[half:])
