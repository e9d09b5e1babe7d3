"""Associations v4: link records (default or labelled), read links, remove them.

One rule: v4 ids are numbers in answers (`toObjectId: 12`), the batch read
takes up to 1,000 inputs and answers 207 with `NO_ASSOCIATIONS_FOUND` for a
record that has none, and every link is made and removed in both directions
through `LinkStore`.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError, bad_request, batch_error
from .links import AssociationType, association_type, default_type
from .messages import ApiRequest, ApiResponse
from .state import SimState
from .store import Record, TypeStore
from .validation import iso_ms

READ_MAX = 1000
WRITE_MAX = 100
PAGE_DEFAULT = 500


def _pair(state: SimState, from_name: str, to_name: str) -> tuple[TypeStore, TypeStore]:
    return state.store_for(from_name), state.store_for(to_name)


def _record(store: TypeStore, raw: Any) -> Record | None:
    key = str(raw.get("id", "")) if isinstance(raw, dict) else str(raw)
    return store.get(key)


def _types_json(kinds: list[AssociationType]) -> list[dict[str, Any]]:
    return [{"category": "HUBSPOT_DEFINED", "typeId": k.type_id, "label": k.label} for k in kinds]


def _default_kind(source: TypeStore, target: TypeStore) -> AssociationType:
    kind = default_type(source.type.name, target.type.name)
    if kind is None:
        raise bad_request(
            f"{source.type.singular} records cannot be associated with {target.type.name}."
        )
    return kind


def _kinds(source: TypeStore, target: TypeStore, specs: Any) -> list[AssociationType]:
    if not isinstance(specs, list) or not specs:
        raise bad_request(
            "types must be a non-empty list of {associationCategory, associationTypeId}."
        )
    kinds = []
    for spec in specs:
        type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
        kind = (
            association_type(source.type.name, target.type.name, type_id)
            if isinstance(type_id, int)
            else None
        )
        if kind is None:
            raise bad_request(
                f"{type_id} is not a valid association type from {source.type.name} to {target.type.name}."
            )
        kinds.append(kind)
    return kinds


def _found(source: TypeStore, target: TypeStore, from_id: str, to_id: str) -> tuple[Record, Record]:
    origin, destination = source.get(from_id), target.get(to_id)
    if origin is None or destination is None:
        missing = from_id if origin is None else to_id
        raise bad_request(f"No record with ID {missing} exists.")
    return origin, destination


def put_default(
    state: SimState, request: ApiRequest, from_name: str, from_id: str, to_name: str, to_id: str
) -> ApiResponse:
    """PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}."""
    source, target = _pair(state, from_name, to_name)
    with state.lock:
        started = iso_ms(state.now_ms())
        origin, destination = _found(source, target, from_id, to_id)
        kind = _default_kind(source, target)
        state.links.add(kind, origin.id, destination.id)
        results = [
            _spec_result(origin.id, destination.id, kind.type_id),
            _spec_result(destination.id, origin.id, kind.inverse_id),
        ]
        return ApiResponse(
            200,
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": started,
                "completedAt": iso_ms(state.now_ms()),
            },
        )


def _spec_result(from_id: int, to_id: int, type_id: int) -> dict[str, Any]:
    return {
        "from": {"id": str(from_id)},
        "to": {"id": str(to_id)},
        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
    }


def _labels_result(
    source: TypeStore, target: TypeStore, from_id: int, to_id: int, kinds: list[AssociationType]
) -> dict[str, Any]:
    return {
        "fromObjectTypeId": source.type.type_id,
        "fromObjectId": from_id,
        "toObjectTypeId": target.type.type_id,
        "toObjectId": to_id,
        "labels": sorted({k.label for k in kinds if k.label}),
    }


def put_labelled(
    state: SimState, request: ApiRequest, from_name: str, from_id: str, to_name: str, to_id: str
) -> ApiResponse:
    """PUT /crm/v4/objects/{from}/{id}/associations/{to}/{toId} with a list of types: 201."""
    source, target = _pair(state, from_name, to_name)
    kinds = _kinds(source, target, request.body)
    with state.lock:
        origin, destination = _found(source, target, from_id, to_id)
        for kind in kinds:
            state.links.add(kind, origin.id, destination.id)
        return ApiResponse(201, _labels_result(source, target, origin.id, destination.id, kinds))


def delete_link(
    state: SimState, request: ApiRequest, from_name: str, from_id: str, to_name: str, to_id: str
) -> ApiResponse:
    """DELETE /crm/v4/objects/{from}/{id}/associations/{to}/{toId}: 204."""
    source, target = _pair(state, from_name, to_name)
    if from_id.isdigit() and to_id.isdigit():
        with state.lock:
            state.links.remove(source.type.name, int(from_id), target.type.name, int(to_id))
    return ApiResponse(204)


def _linked(
    state: SimState, source: TypeStore, target: TypeStore, from_id: int
) -> list[dict[str, Any]]:
    out = []
    for to_id, type_ids in sorted(
        state.links.targets(source.type.name, from_id, target.type.name).items()
    ):
        record = target.records.get(to_id)
        if record is None or record.archived:
            continue
        kinds = list(state.links.types_of(source.type.name, target.type.name, type_ids))
        out.append({"toObjectId": to_id, "associationTypes": _types_json(kinds)})
    return out


def list_links(
    state: SimState, request: ApiRequest, from_name: str, from_id: str, to_name: str
) -> ApiResponse:
    """GET /crm/v4/objects/{from}/{id}/associations/{to}: paged by an integer offset."""
    source, target = _pair(state, from_name, to_name)
    limit = max(1, min(request.integer("limit", PAGE_DEFAULT), PAGE_DEFAULT))
    offset = request.integer("after", 0)
    with state.lock:
        origin = source.get(from_id)
        if origin is None:
            raise ApiError(
                404,
                batch_error(
                    f"No {source.type.singular} with ID {from_id} exists.", "OBJECT_NOT_FOUND"
                ),
            )
        linked = _linked(state, source, target, origin.id)
    body: dict[str, Any] = {"results": linked[offset : offset + limit]}
    if offset + limit < len(linked):
        body["paging"] = {"next": {"after": str(offset + limit)}}
    return ApiResponse(200, body)


def _batch_inputs(request: ApiRequest, cap: int) -> list[dict[str, Any]]:
    inputs = request.object_body().get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
        raise bad_request("Invalid input JSON: inputs must be a list of objects.")
    if len(inputs) > cap:
        raise bad_request(f"Too many inputs: {len(inputs)}. The maximum number of inputs is {cap}")
    return inputs


def batch_links(
    state: SimState, request: ApiRequest, from_name: str, to_name: str, action: str
) -> ApiResponse:
    """POST /crm/v4/associations/{from}/{to}/batch/{read,create,associate/default,archive}."""
    source, target = _pair(state, from_name, to_name)
    inputs = _batch_inputs(request, READ_MAX if action == "read" else WRITE_MAX)
    with state.lock:
        started = iso_ms(state.now_ms())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
            if action == "read":
                _read_one(state, source, target, item, results, errors)
            elif action == "archive":
                origin = _record(source, item.get("from"))
                targets = item.get("to") or []
                if not isinstance(targets, list):
                    raise bad_request("Each archive input needs from.id and a list of to ids.")
                for other in targets:
                    destination = _record(target, other)
                    if origin is not None and destination is not None:
                        state.links.remove(
                            source.type.name, origin.id, target.type.name, destination.id
                        )
            else:
                _write_one(state, source, target, item, action, results, errors)
        if action == "archive":
            return ApiResponse(204)
        body: dict[str, Any] = {"status": "COMPLETE", "results": state.ordered(results)}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = started
        body["completedAt"] = iso_ms(state.now_ms())
    ok = 201 if action == "create" else 200
    return ApiResponse(207 if errors else ok, body)


def _read_one(
    state: SimState,
    source: TypeStore,
    target: TypeStore,
    item: dict[str, Any],
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
) -> None:
    key = str(item.get("id", ""))
    origin = source.get(key)
    linked = _linked(state, source, target, origin.id) if origin is not None else []
    if not linked:
        errors.append(
            batch_error(
                f"No {target.type.singular} is associated with {source.type.singular} {key}.",
                "OBJECT_NOT_FOUND",
                context={"fromObjectId": [key]},
                sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
            )
        )
        return
    results.append({"from": {"id": key}, "to": linked})


def _write_one(
    state: SimState,
    source: TypeStore,
    target: TypeStore,
    item: dict[str, Any],
    action: str,
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
) -> None:
    origin, destination = _record(source, item.get("from")), _record(target, item.get("to"))
    if origin is None or destination is None:
        side, raw = (
            ("fromObjectId", item.get("from")) if origin is None else ("toObjectId", item.get("to"))
        )
        key = str(raw.get("id", "")) if isinstance(raw, dict) else str(raw)
        errors.append(
            batch_error(
                f"No record with ID {key} exists.", "OBJECT_NOT_FOUND", context={side: [key]}
            )
        )
        return
    if action == "associate/default":
        kind = _default_kind(source, target)
        state.links.add(kind, origin.id, destination.id)
        results.append(_spec_result(origin.id, destination.id, kind.type_id))
        return
    kinds = _kinds(source, target, item.get("types"))
    for kind in kinds:
        state.links.add(kind, origin.id, destination.id)
    results.append(_labels_result(source, target, origin.id, destination.id, kinds))
