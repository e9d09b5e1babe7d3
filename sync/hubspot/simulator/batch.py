"""Batch endpoints: read, create, update, upsert and archive of up to 100 inputs.

One rule: a batch is planned whole before anything is written. Without
`objectWriteTraceId` on its inputs, one bad input fails the whole request
(400 or 409, nothing written); with them, good inputs are written and bad
ones come back as `errors[]` of a 207 (each naming its trace id). Unknown ids
in read and update always give a 207 OBJECT_NOT_FOUND listing them; duplicate
ids give a 400; results never come back in input order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import bad_request, batch_error
from .messages import ApiRequest, ApiResponse
from .records import (
    API_SOURCE,
    Failure,
    PlannedLink,
    archive_record,
    check_links,
    check_write,
    create_record,
    render_record,
    update_record,
)
from .state import SimState
from .store import Record, TypeStore
from .validation import iso_ms

BATCH_MAX = 100
HISTORY_MAX = 50


@dataclass
class _Planned:
    """One input, planned: what to write (or why not)."""

    trace_id: str | None
    values: dict[str, str | None] = field(default_factory=dict)
    record: Record | None = None  # None: create
    failure: Failure | None = None
    links: list[PlannedLink] = field(default_factory=list)


def _inputs(request: ApiRequest, cap: int = BATCH_MAX) -> list[dict[str, Any]]:
    body = request.object_body()
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
        raise bad_request("Invalid input JSON: inputs must be a list of objects.")
    if len(inputs) > cap:
        raise bad_request(
            f"Too many inputs: {len(inputs)}. "
            f"The maximum number of inputs supported in a batch request is {cap}"
        )
    return inputs


def _trace(item: dict[str, Any]) -> str | None:
    trace = item.get("objectWriteTraceId")
    return None if trace is None else str(trace)


def _id_property(store: TypeStore, name: Any) -> str | None:
    """Check an `idProperty`: the record id, or one of the type's unique properties."""
    if name is None or name == "hs_object_id":
        return None
    if not isinstance(name, str) or name not in store.unique:
        raise bad_request(
            f"Unable to perform update/upsert by non-unique {store.type.type_id} property {name}"
        )
    return name


def _no_duplicates(store: TypeStore, keys: list[tuple[str | None, str]]) -> None:
    seen: set[tuple[str | None, str]] = set()
    duplicates: list[str] = []
    for id_property, key in keys:
        normal = (id_property, store.unique_key(id_property, key) if id_property else key)
        if normal in seen:
            duplicates.append(key)
        seen.add(normal)
    if duplicates:
        raise bad_request(f"Duplicate IDs found in batch input: {duplicates}")


def _claim(store: TypeStore, plan: _Planned, claimed: set[tuple[str, str]]) -> None:
    """Refuse a second input of the batch that sets a unique value another input sets."""
    if plan.failure is not None:
        return
    for name in store.unique:
        value = plan.values.get(name)
        if value:
            key = (name, store.unique_key(name, value))
            if key in claimed:
                message = f"Duplicate value {value} for unique property {name} in batch input."
                plan.failure = Failure(400, "VALIDATION_ERROR", message)
                return
            claimed.add(key)


def _not_found(store: TypeStore, ids: list[str]) -> dict[str, Any]:
    message = (
        f"Could not get some {store.type.error_name} objects, they may be deleted or not exist. "
        "Check that ids are valid."
    )
    return batch_error(message, "OBJECT_NOT_FOUND", context={"ids": ids})


def _answer(
    state: SimState,
    started: str,
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    ok: int,
) -> ApiResponse:
    body: dict[str, Any] = {"status": "COMPLETE", "results": state.ordered(results)}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"] = started
    body["completedAt"] = iso_ms(state.now_ms())
    return ApiResponse(207 if errors else ok, body)


def _write(
    state: SimState,
    store: TypeStore,
    plans: list[_Planned],
    missing: list[str],
    ok: int,
    *,
    upsert: bool,
) -> ApiResponse:
    """Write a planned batch (all-or-nothing unless trace ids) and answer for it."""
    started = iso_ms(state.now_ms())
    multi_status = any(plan.trace_id is not None for plan in plans)
    failed = [plan for plan in plans if plan.failure is not None]
    if failed and not multi_status:
        first = failed[0].failure
        assert first is not None
        raise first.api_error()
    results: list[dict[str, Any]] = []
    for plan in plans:
        if plan.failure is not None:
            continue
        created = plan.record is None
        if plan.record is None:
            record = create_record(state, store, plan.values, source=API_SOURCE, links=plan.links)
        else:
            record = plan.record
            update_record(state, store, record, plan.values, source=API_SOURCE)
        shown = render_record(state, store, record, every=True, trace_id=plan.trace_id)
        if upsert:
            shown["new"] = created
        results.append(shown)
    errors = [_not_found(store, missing)] if missing else []
    for plan in failed:
        assert plan.failure is not None
        context = {"objectWriteTraceId": [plan.trace_id]} if plan.trace_id is not None else None
        errors.append(plan.failure.batch_entry(context))
    return _answer(state, started, results, errors, ok)


def batch_create(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST .../batch/create: 201, or 207 with per-input errors."""
    store = state.store_for(type_name)
    inputs = _inputs(request)
    with state.lock:
        plans: list[_Planned] = []
        claimed: set[tuple[str, str]] = set()
        for item in inputs:
            plan = _Planned(_trace(item))
            plan.values, plan.failure = check_write(store, item.get("properties", {}), None)
            if plan.failure is None:
                plan.links, plan.failure = check_links(state, store, item.get("associations"))
            _claim(store, plan, claimed)
            plans.append(plan)
        return _write(state, store, plans, [], 201, upsert=False)


def batch_update(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST .../batch/update: 200, or 207 with unknown ids and per-input errors."""
    store = state.store_for(type_name)
    inputs = _inputs(request)
    top = request.object_body().get("idProperty")
    keyed = [
        (_id_property(store, item.get("idProperty", top)), str(item.get("id", "")))
        for item in inputs
    ]
    _no_duplicates(store, keyed)
    with state.lock:
        plans: list[_Planned] = []
        missing: list[str] = []
        claimed: set[tuple[str, str]] = set()
        for item, (id_property, key) in zip(inputs, keyed, strict=True):
            record = store.get(key, id_property=id_property)
            if record is None:
                missing.append(key)
                continue
            plan = _Planned(_trace(item), record=record)
            plan.values, plan.failure = check_write(store, item.get("properties", {}), record)
            _claim(store, plan, claimed)
            plans.append(plan)
        return _write(state, store, plans, missing, 200, upsert=False)


def batch_upsert(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST .../batch/upsert by a unique `idProperty` on each input; results carry `new`."""
    store = state.store_for(type_name)
    inputs = _inputs(request)
    keyed: list[tuple[str | None, str]] = []
    for item in inputs:
        if not item.get("idProperty"):
            raise bad_request("idProperty is required on every input of an upsert.")
        id_property = _id_property(store, item.get("idProperty"))
        if id_property is None:
            raise bad_request(
                f"Unable to perform update/upsert by non-unique {store.type.type_id} property hs_object_id"
            )
        keyed.append((id_property, str(item.get("id", ""))))
    _no_duplicates(store, keyed)
    with state.lock:
        plans: list[_Planned] = []
        claimed: set[tuple[str, str]] = set()
        for item, (id_property, key) in zip(inputs, keyed, strict=True):
            assert id_property is not None
            record = store.find_unique(id_property, key)
            written = item.get("properties", {})
            if record is None and isinstance(written, dict):
                written = {**written, id_property: key}
            plan = _Planned(_trace(item), record=record)
            plan.values, plan.failure = check_write(store, written, record)
            _claim(store, plan, claimed)
            plans.append(plan)
        return _write(state, store, plans, [], 200, upsert=True)


def batch_read(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST .../batch/read: 200, or 207 listing the ids not found."""
    store = state.store_for(type_name)
    body = request.object_body()
    names = body.get("properties") or None
    history = body.get("propertiesWithHistory") or None
    inputs = _inputs(request, HISTORY_MAX if history else BATCH_MAX)
    id_property = _id_property(store, body.get("idProperty"))
    keys = [str(item.get("id", "")) for item in inputs]
    _no_duplicates(store, [(id_property, key) for key in keys])
    archived = request.flag("archived")
    with state.lock:
        started = iso_ms(state.now_ms())
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        for key in keys:
            record = store.get(key, id_property=id_property, archived=archived)
            if record is None:
                missing.append(key)
            else:
                results.append(render_record(state, store, record, names=names, history=history))
        errors = [_not_found(store, missing)] if missing else []
        return _answer(state, started, results, errors, 200)


def batch_archive(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST .../batch/archive: 204; unknown ids are skipped."""
    store = state.store_for(type_name)
    inputs = _inputs(request)
    keys = [str(item.get("id", "")) for item in inputs]
    _no_duplicates(store, [(None, key) for key in keys])
    with state.lock:
        for key in keys:
            record = store.get(key)
            if record is not None:
                archive_record(state, store, record, source=API_SOURCE)
    return ApiResponse(204)
