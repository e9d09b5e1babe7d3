"""The basic object endpoints: list, read, create, update, archive, merge, GDPR delete.

One rule: each endpoint parses its request, takes the simulator's lock once,
works through `records`, and answers HubSpot's status and shape (201 on
create, 204 on archive, 404 for an unknown record, list pages by an opaque
`after` cursor in id order, at most 100 per page or 50 with history).
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from .errors import bad_request, not_found
from .messages import ApiRequest, ApiResponse
from .records import (
    API_SOURCE,
    archive_record,
    check_links,
    check_write,
    create_record,
    merge_records,
    render_record,
    update_record,
)
from .state import SimState
from .store import Record, TypeStore

LIST_MAX = 100
HISTORY_MAX = 50


def encode_cursor(record_id: int) -> str:
    """The opaque `after` cursor of a list page that starts at `record_id`."""
    return base64.urlsafe_b64encode(f"{record_id}\n".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id an `after` cursor starts at; 400 for a cursor the simulator did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text.strip())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request(f"Invalid paging cursor: {cursor}") from None


def list_objects(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """GET /objects/{type}: one page of records, in id order."""
    store = state.store_for(type_name)
    history = request.names("propertiesWithHistory")
    cap = HISTORY_MAX if history else LIST_MAX
    limit = request.integer("limit", 10)
    if limit < 1:
        raise bad_request(f"limit must be at least 1; got {limit}.")
    limit = min(limit, cap)
    after = request.param("after")
    start = decode_cursor(after) if after else 0
    with state.lock:
        records, following = store.page(start, limit, archived=request.flag("archived"))
        results = [_show(state, store, record, request) for record in records]
    body: dict[str, object] = {"results": results}
    if following is not None:
        cursor = encode_cursor(following)
        query = {key: values[0] for key, values in request.query.items() if key != "after"}
        link = f"{request.base_url}{request.path}?{urlencode({**query, 'after': cursor})}"
        body["paging"] = {"next": {"after": cursor, "link": link}}
    return ApiResponse(200, body)


def _show(
    state: SimState, store: TypeStore, record: Record, request: ApiRequest
) -> dict[str, object]:
    return render_record(
        state,
        store,
        record,
        names=request.names("properties"),
        history=request.names("propertiesWithHistory"),
        associations=request.names("associations"),
    )


def _find(
    store: TypeStore, request: ApiRequest, object_id: str, *, archived: bool = False
) -> Record:
    id_property = request.param("idProperty")
    if id_property and id_property != "hs_object_id" and id_property not in store.unique:
        raise bad_request(
            f"Unable to perform update/upsert by non-unique {store.type.type_id} property {id_property}"
        )
    record = store.get(object_id, id_property=id_property, archived=archived)
    if record is None:
        raise not_found(object_id)
    return record


def get_object(state: SimState, request: ApiRequest, type_name: str, object_id: str) -> ApiResponse:
    """GET /objects/{type}/{id} (or by `idProperty`)."""
    store = state.store_for(type_name)
    with state.lock:
        record = _find(store, request, object_id, archived=request.flag("archived"))
        return ApiResponse(200, _show(state, store, record, request))


def create_object(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST /objects/{type}: 201 with the new record."""
    store = state.store_for(type_name)
    body = request.object_body()
    with state.lock:
        values, failure = check_write(store, body.get("properties", {}), None)
        if failure is not None:
            raise failure.api_error()
        links, failure = check_links(state, store, body.get("associations"))
        if failure is not None:
            raise failure.api_error()
        record = create_record(state, store, values, source=API_SOURCE, links=links)
        return ApiResponse(201, render_record(state, store, record, every=True))


def update_object(
    state: SimState, request: ApiRequest, type_name: str, object_id: str
) -> ApiResponse:
    """PATCH /objects/{type}/{id} (or by `idProperty`): 200 with the record."""
    store = state.store_for(type_name)
    body = request.object_body()
    with state.lock:
        record = _find(store, request, object_id)
        values, failure = check_write(store, body.get("properties", {}), record)
        if failure is not None:
            raise failure.api_error()
        update_record(state, store, record, values, source=API_SOURCE)
        return ApiResponse(200, render_record(state, store, record, every=True))


def archive_object(
    state: SimState, request: ApiRequest, type_name: str, object_id: str
) -> ApiResponse:
    """DELETE /objects/{type}/{id}: 204, also when there was nothing to archive."""
    store = state.store_for(type_name)
    with state.lock:
        record = store.get(object_id)
        if record is not None:
            archive_record(state, store, record, source=API_SOURCE)
    return ApiResponse(204)


def merge_objects(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST /objects/{type}/merge: the survivor, with the other record archived into it."""
    store = state.store_for(type_name)
    body = request.object_body()
    primary_id = str(body.get("primaryObjectId", ""))
    merged_id = str(body.get("objectIdToMerge", ""))
    if primary_id == merged_id:
        raise bad_request("Cannot merge a record into itself.")
    with state.lock:
        primary = store.get(primary_id)
        merged = store.get(merged_id)
        if primary is None or merged is None:
            raise not_found(merged_id if primary is not None else primary_id)
        merge_records(state, store, primary, merged, source=API_SOURCE)
        return ApiResponse(200, render_record(state, store, primary, every=True))


def gdpr_delete(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST /objects/contacts/gdpr-delete: delete a contact for good; 204."""
    store = state.store_for(type_name)
    if store.type.name != "contacts":
        raise bad_request("GDPR delete is only available for contacts.")
    body = request.object_body()
    object_id = str(body.get("objectId", ""))
    id_property = body.get("idProperty")
    with state.lock:
        record = store.get(
            object_id, id_property=id_property if isinstance(id_property, str) else None
        )
        if record is None:
            raise not_found(object_id)
        store.purge(record)
    state.webhooks.emit(store.type, "privacyDeletion", record.id, source=API_SOURCE)
    return ApiResponse(204)
