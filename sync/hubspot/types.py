"""The values that cross the HubSpot client's boundary: inputs, records, outcomes, definitions.

One rule: nothing but these frozen dataclasses goes in or comes out of the
client; HubSpot's JSON is read into them (every field treated as optional)
and written from them in one place each, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from sync.hubspot.errors import RecordError

InputT = TypeVar("InputT")
ResultT = TypeVar("ResultT")

# --- records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HubSpotObject:
    """A CRM record. Every property value is a string, or None when HubSpot sends null."""

    id: str
    properties: Mapping[str, str | None]
    created_at: str | None = None
    updated_at: str | None = None
    archived: bool = False
    archived_at: str | None = None
    new: bool | None = None  # batch upsert: whether the record was created
    trace_id: str | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> HubSpotObject:
        properties = data.get("properties") or {}
        return cls(
            id=str(data.get("id", "")),
            properties={
                str(name): None if value is None else str(value)
                for name, value in properties.items()
            },
            created_at=data.get("createdAt"),
            updated_at=data.get("updatedAt"),
            archived=bool(data.get("archived", False)),
            archived_at=data.get("archivedAt"),
            new=data.get("new") if isinstance(data.get("new"), bool) else None,
            trace_id=data.get("objectWriteTraceId"),
        )


@dataclass(frozen=True, slots=True)
class ObjectPage:
    """One page of a list or search; `after` is the cursor of the next page (None: last page)."""

    results: tuple[HubSpotObject, ...]
    after: str | None
    total: int | None = None  # search only


# --- batch inputs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssociationType:
    """A kind of association: HubSpot's category and type id (e.g. HUBSPOT_DEFINED, 279)."""

    type_id: int
    category: str = "HUBSPOT_DEFINED"
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"associationCategory": self.category, "associationTypeId": self.type_id}


@dataclass(frozen=True, slots=True)
class InlineAssociation:
    """An association created with a record: to record `to_id`, of the given types."""

    to_id: str
    types: tuple[AssociationType, ...]


@dataclass(frozen=True, slots=True)
class CreateInput:
    """A record to create. `trace_id` defaults to one the client makes up."""

    properties: Mapping[str, str]
    trace_id: str = ""
    associations: tuple[InlineAssociation, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateInput:
    """A record to update, by record id or, with `id_property`, by that unique property's value."""

    id: str
    properties: Mapping[str, str]
    id_property: str = ""
    trace_id: str = ""


@dataclass(frozen=True, slots=True)
class UpsertInput:
    """A record to create or update by the value `id` of the unique property `id_property`."""

    id: str
    id_property: str
    properties: Mapping[str, str]
    trace_id: str = ""


# --- per-record outcomes --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordOutcome(Generic[InputT, ResultT]):
    """What became of one input: its result, or its error (exactly one of them is set)."""

    input: InputT
    result: ResultT | None = None
    error: RecordError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class BatchResult(Generic[InputT, ResultT]):
    """The outcome of every input of a call, in the inputs' order, and the requests it took."""

    outcomes: tuple[RecordOutcome[InputT, ResultT], ...]
    requests: int = 0

    @property
    def succeeded(self) -> tuple[RecordOutcome[InputT, ResultT], ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.error is None)

    @property
    def failed(self) -> tuple[RecordOutcome[InputT, ResultT], ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.error is not None)


# --- search ---------------------------------------------------------------------------

Operator = Literal[
    "LT",
    "LTE",
    "GT",
    "GTE",
    "EQ",
    "NEQ",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
]


@dataclass(frozen=True, slots=True)
class Filter:
    """One search filter: `value`, or `values` for IN / NOT_IN, plus `high_value` for BETWEEN."""

    property_name: str
    operator: Operator
    value: str | None = None
    values: tuple[str, ...] = ()
    high_value: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"propertyName": self.property_name, "operator": self.operator}
        if self.value is not None:
            data["value"] = self.value
        if self.values:
            data["values"] = list(self.values)
        if self.high_value is not None:
            data["highValue"] = self.high_value
        return data


@dataclass(frozen=True, slots=True)
class Sort:
    property_name: str
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search: filter groups (ORed) of filters (ANDed), at most one sort, an offset cursor."""

    filter_groups: tuple[tuple[Filter, ...], ...] = ()
    sorts: tuple[Sort, ...] = ()
    properties: tuple[str, ...] = ()
    limit: int = 100
    after: str | None = None
    query: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "filterGroups": [
                {"filters": [item.to_json() for item in group]} for group in self.filter_groups
            ],
            "sorts": [
                {"propertyName": item.property_name, "direction": item.direction}
                for item in self.sorts
            ],
            "properties": list(self.properties),
            "limit": self.limit,
        }
        if self.after is not None:
            data["after"] = self.after
        if self.query is not None:
            data["query"] = self.query
        return data


# --- properties -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PropertyOption:
    label: str
    value: str
    hidden: bool = False
    display_order: int | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class PropertyDefinition:
    """A HubSpot property of an object type, as the properties API describes it."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str = ""
    options: tuple[PropertyOption, ...] = ()
    has_unique_value: bool = False
    hubspot_defined: bool = False
    calculated: bool = False
    external_options: bool = False
    read_only_value: bool = False
    read_only_definition: bool = False
    archived: bool = False
    description: str = ""

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PropertyDefinition:
        metadata = data.get("modificationMetadata") or {}
        return cls(
            name=str(data.get("name", "")),
            label=str(data.get("label") or ""),
            type=str(data.get("type") or ""),
            field_type=str(data.get("fieldType") or ""),
            group_name=str(data.get("groupName") or ""),
            options=tuple(
                PropertyOption(
                    label=str(option.get("label") or ""),
                    value=str(option.get("value") or ""),
                    hidden=bool(option.get("hidden", False)),
                    display_order=option.get("displayOrder"),
                    description=option.get("description"),
                )
                for option in data.get("options") or ()
            ),
            has_unique_value=bool(data.get("hasUniqueValue", False)),
            hubspot_defined=bool(data.get("hubspotDefined", False)),
            calculated=bool(data.get("calculated", False)),
            external_options=bool(data.get("externalOptions", False)),
            read_only_value=bool(metadata.get("readOnlyValue", False)),
            read_only_definition=bool(metadata.get("readOnlyDefinition", False)),
            archived=bool(data.get("archived", False)),
            description=str(data.get("description") or ""),
        )


@dataclass(frozen=True, slots=True)
class PropertyCreate:
    """A property to create: name, label, type, field type and group are required by HubSpot."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: tuple[PropertyOption, ...] = ()
    has_unique_value: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "hasUniqueValue": self.has_unique_value,
        }
        if self.options:
            data["options"] = [
                {
                    "label": option.label,
                    "value": option.value,
                    "hidden": option.hidden,
                    **(
                        {}
                        if option.display_order is None
                        else {"displayOrder": option.display_order}
                    ),
                }
                for option in self.options
            ]
        if self.description:
            data["description"] = self.description
        return data


# --- associations (v4) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssociationInput:
    """An association to create from record `from_id` to `to_id`; no types: HubSpot's default."""

    from_id: str
    to_id: str
    types: tuple[AssociationType, ...] = ()


@dataclass(frozen=True, slots=True)
class Association:
    """An association between two records, with its types (labels)."""

    from_id: str
    to_id: str
    types: tuple[AssociationType, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class AssociationSet:
    """Every association of one record to records of one other object type."""

    from_id: str
    associations: tuple[Association, ...]
