"""Writing and showing records: the checks, changes and JSON shapes every endpoint shares.

One rule: single and batch endpoints and the Python API all write through
`check_write` then `create_record` / `update_record` / `archive_record`, so
validation, uniqueness (409 naming the existing id), timestamps and webhook
events are the same whichever way a record changed; and all of them show
records through `render_record` (HubSpot's SimplePublicObject).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import (
    ApiError,
    batch_error,
    conflict_message,
    error_body,
    validation_details,
    validation_message,
)
from .links import association_type
from .state import SimState
from .store import Record, TypeStore
from .validation import check_values, iso_ms

API_SOURCE = "INTEGRATION"
UI_SOURCE = "CRM_UI"


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one write cannot happen: status, category, message, details."""

    status: int
    category: str
    message: str
    errors: tuple[dict[str, Any], ...] = ()

    def api_error(self) -> ApiError:
        """The whole-request error answer."""
        return ApiError(self.status, error_body(self.message, self.category, errors=self.errors))

    def batch_entry(self, context: Mapping[str, Sequence[str]] | None) -> dict[str, Any]:
        """The entry of a 207 answer's `errors[]`."""
        return batch_error(self.message, self.category, context=context, errors=self.errors)


def check_write(
    store: TypeStore, written: Any, record: Record | None
) -> tuple[dict[str, str | None], Failure | None]:
    """Check the `properties` of a create (record None) or an update of `record`.

    Return the normalised values and None, or the values and why they cannot
    be written: 400 VALIDATION_ERROR listing every bad property, else 409
    CONFLICT when a unique value (email, domain …) belongs to another record.
    """
    current = record.properties if record is not None else {}
    values, problems = check_values(
        store.definitions, written, current, lowercase=store.type.lowercase_unique
    )
    if problems:
        details = tuple(validation_details(problems))
        return values, Failure(400, "VALIDATION_ERROR", validation_message(problems), details)
    holder = store.conflict(values, record.id if record is not None else None)
    if holder is not None:
        return values, Failure(409, "CONFLICT", conflict_message(store.type.label, holder.id))
    return values, None


@dataclass(frozen=True, slots=True)
class PlannedLink:
    """An association asked for inline on create."""

    type_id: int
    to_type: str
    to_id: int


def check_links(
    state: SimState, store: TypeStore, wanted: Any
) -> tuple[list[PlannedLink], Failure | None]:
    """Check a create's inline `associations` (`[{to: {id}, types: [...]}]`)."""
    if wanted is None:
        return [], None
    if not isinstance(wanted, list):
        return [], Failure(400, "VALIDATION_ERROR", "associations must be a list")
    planned: list[PlannedLink] = []
    for item in wanted:
        target_ref = item.get("to") if isinstance(item, dict) else None
        to_id = str(target_ref.get("id", "")) if isinstance(target_ref, dict) else ""
        types = item.get("types") if isinstance(item, dict) else None
        if not to_id.isdigit() or not isinstance(types, list) or not types:
            message = "Each association needs to.id and at least one type."
            return [], Failure(400, "VALIDATION_ERROR", message)
        for spec in types:
            type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
            kind = _type_from(store.type.name, type_id)
            if kind is None:
                message = f"{type_id} is not a valid association type id for {store.type.singular}."
                return [], Failure(400, "VALIDATION_ERROR", message)
            target = state.stores[kind[0]].get(to_id)
            if target is None:
                message = f"No {state.stores[kind[0]].type.singular} with ID {to_id} exists."
                return [], Failure(400, "VALIDATION_ERROR", message)
            planned.append(PlannedLink(kind[1], kind[0], target.id))
    return planned, None


def _type_from(from_type: str, type_id: Any) -> tuple[str, int] | None:
    if isinstance(type_id, bool) or not isinstance(type_id, int):
        return None
    for to_type in ("contacts", "companies", "deals"):
        if association_type(from_type, to_type, type_id) is not None:
            return to_type, type_id
    return None


def create_record(
    state: SimState,
    store: TypeStore,
    values: Mapping[str, str | None],
    *,
    source: str,
    links: Sequence[PlannedLink] = (),
) -> Record:
    """Store a checked new record, link it, announce it; return it."""
    record = store.insert(values, state.now_ms())
    for link in links:
        kind = association_type(store.type.name, link.to_type, link.type_id)
        assert kind is not None  # checked by check_links
        state.links.add(kind, record.id, link.to_id)
    state.webhooks.emit(store.type, "creation", record.id, source=source, changeFlag="NEW")
    return record


def update_record(
    state: SimState,
    store: TypeStore,
    record: Record,
    values: Mapping[str, str | None],
    *,
    source: str,
) -> dict[str, str | None]:
    """Apply checked values; announce each changed property; return the changes."""
    changed = store.change(record, values, state.now_ms())
    for name, value in changed.items():
        state.webhooks.emit(
            store.type, "propertyChange", record.id, source=source,
            propertyName=name, propertyValue=value or "",
        )  # fmt: skip
    return changed


def archive_record(state: SimState, store: TypeStore, record: Record, *, source: str) -> None:
    """Archive an active record and announce its deletion."""
    store.archive(record, state.now_ms())
    state.webhooks.emit(store.type, "deletion", record.id, source=source, changeFlag="DELETED")


def merge_records(
    state: SimState, store: TypeStore, primary: Record, merged: Record, *, source: str
) -> Record:
    """Merge `merged` into `primary`: fill primary's gaps, archive merged, remember its id."""
    moved = {
        name: value
        for name, value in merged.properties.items()
        if name not in primary.properties and name not in store.unique
    }
    extra_email = merged.properties.get("email") if store.type.name == "contacts" else None
    archive_record(state, store, merged, source=source)
    if extra_email:
        known = primary.properties.get("hs_additional_emails", "")
        moved["hs_additional_emails"] = ";".join(filter(None, (known, extra_email)))
    primary.merged_ids.extend([merged.id, *merged.merged_ids])
    store.change(primary, moved, state.now_ms())
    state.webhooks.emit(
        store.type, "merge", primary.id, source=source, primaryObjectId=primary.id,
        mergedObjectIds=[merged.id], newObjectId=primary.id, numberOfPropertiesMoved=len(moved),
    )  # fmt: skip
    return primary


def render_record(
    state: SimState,
    store: TypeStore,
    record: Record,
    *,
    names: Sequence[str] | None = None,
    every: bool = False,
    history: Sequence[str] | None = None,
    associations: Sequence[str] | None = None,
    trace_id: str | None = None,
) -> dict[str, Any]:
    """A record as HubSpot shows it (SimplePublicObject).

    Properties: those named (unknown names ignored), or with `every` all that
    have a value, or else the type's defaults; the system ones always.
    Requested properties without a value are null (or left out with
    `omit_empty_properties`).
    """
    definitions = store.definitions
    if every:
        wanted = [*record.properties, *store.type.system_properties]
        if record.merged_ids:
            wanted.append("hs_merged_object_ids")
    else:
        chosen = store.type.default_properties if names is None else names
        wanted = [name for name in chosen if name in definitions]
        wanted += [name for name in store.type.system_properties if name not in wanted]
    properties: dict[str, str | None] = {}
    for name in wanted:
        value = store.value(record, name)
        if value is not None or not state.config.omit_empty_properties:
            properties[name] = value
    body: dict[str, Any] = {
        "id": str(record.id),
        "properties": properties,
        "createdAt": iso_ms(record.created_ms),
        "updatedAt": iso_ms(record.updated_ms),
        "archived": record.archived,
    }
    if record.archived_ms is not None:
        body["archivedAt"] = iso_ms(record.archived_ms)
    if history:
        body["propertiesWithHistory"] = _history(store, record, history)
    if associations:
        linked = _associations(state, store, record, associations)
        if linked:
            body["associations"] = linked
    if trace_id is not None:
        body["objectWriteTraceId"] = trace_id
    return body


def _history(
    store: TypeStore, record: Record, names: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    # Only the current value is kept; it is the newest (and only) history entry.
    out: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        value = store.value(record, name)
        if name in store.definitions:
            out[name] = (
                []
                if value is None
                else [{"value": value, "timestamp": iso_ms(record.updated_ms), "sourceType": "API"}]
            )
    return out


def _associations(
    state: SimState, store: TypeStore, record: Record, wanted: Sequence[str]
) -> dict[str, dict[str, list[dict[str, str]]]]:
    out: dict[str, dict[str, list[dict[str, str]]]] = {}
    for name in wanted:
        try:
            to_store = state.store_for(name)
        except ApiError:
            continue
        results = []
        for to_id, type_ids in sorted(
            state.links.targets(store.type.name, record.id, to_store.type.name).items()
        ):
            target = to_store.records.get(to_id)
            if target is None or target.archived:
                continue
            for kind in state.links.types_of(store.type.name, to_store.type.name, type_ids):
                results.append({"id": str(to_id), "type": kind.name})
        if results:
            out[to_store.type.name] = {"results": results}
    return out
