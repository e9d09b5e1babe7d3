"""Search: filter groups, operators, one sort, integer-offset paging, the 10,000 cap.

One rule: search never scans more than it must: each filter group starts from
the narrowest index one of its filters allows (a unique value or id by EQ/IN,
a range of modification time, creation time or id), and only those candidates
are tested against every filter of the group; groups are OR-ed, filters in a
group AND-ed. Records changed within the indexing delay are not yet
searchable, archived records never are.
"""

from __future__ import annotations

import bisect
import fnmatch
import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from .catalog import PropertyDef
from .errors import bad_request
from .messages import ApiRequest, ApiResponse
from .records import render_record
from .state import SimState
from .store import Record, TypeStore
from .validation import parse_instant_ms

MAX_LIMIT = 200
MAX_QUERY = 3000
RANGE_OPERATORS = {"LT", "LTE", "GT", "GTE", "BETWEEN"}
VALUE_OPERATORS = {"EQ", "NEQ", *RANGE_OPERATORS, "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
OPERATORS = VALUE_OPERATORS | {"IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"}
_TOKENS = re.compile(r"[^\w@.*-]+")

Predicate = Callable[[Record], bool]
Getter = Callable[[Record], Any]


def _kind(store: TypeStore, name: str) -> str:
    """How values of property `name` compare: number, time, exact (enumerations) or text."""
    if name == "hs_object_id":
        return "number"
    prop: PropertyDef | None = store.definitions.get(name)
    if prop is None:
        raise bad_request(f"Property {name} does not exist on {store.type.singular}.")
    if prop.type == "number":
        return "number"
    if prop.type in ("date", "datetime"):
        return "time"
    if prop.type in ("enumeration", "bool"):
        return "exact"
    return "text"


def _getter(store: TypeStore, name: str, kind: str) -> Getter:
    """A function giving a record's comparable value of `name` (None when it has none)."""
    if name == "hs_object_id":
        return lambda record: record.id
    if name == store.type.created_property:
        return lambda record: record.created_ms
    if name == store.type.modified_property:
        return lambda record: record.updated_ms

    def get(record: Record) -> Any:
        raw = store.value(record, name)
        if raw is None:
            return None
        if kind == "number":
            try:
                return Decimal(raw)
            except InvalidOperation:
                return None
        if kind == "time":
            return parse_instant_ms(raw)
        return raw if kind == "exact" else raw.lower()

    return get


def _operand(kind: str, raw: Any, name: str) -> Any:
    """A filter value as comparable with `_getter`'s values; 400 when it cannot be."""
    if raw is None:
        raise bad_request(f"A value is required to filter on {name}.")
    text = "true" if raw is True else "false" if raw is False else str(raw)
    if kind == "number":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise bad_request(f"{text} is not a valid number for {name}.") from None
    if kind == "time":
        ms = parse_instant_ms(text)
        if ms is None:
            raise bad_request(f"{text} is not a valid date for {name}.")
        return ms
    return text if kind == "exact" else text.lower()


def _tokens_match(value: Any, pattern: str) -> bool:
    text = str(value).lower()
    pattern = pattern.lower()
    if "*" in pattern:
        return fnmatch.fnmatchcase(text, pattern) or any(
            fnmatch.fnmatchcase(token, pattern) for token in _TOKENS.split(text)
        )
    return text == pattern or pattern in _TOKENS.split(text)


def _predicate(store: TypeStore, spec: Any, state: SimState) -> tuple[Predicate, dict[str, Any]]:
    """Compile one filter; also return what an index could use (`plan`)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
        raise bad_request("Each filter needs a propertyName and an operator.")
    name: str = spec["propertyName"]
    operator = spec.get("operator", "EQ")
    if operator not in OPERATORS:
        raise bad_request(f"Unknown filter operator {operator}; use one of {sorted(OPERATORS)}.")
    if name.startswith("associations."):
        return _association_filter(state, store, name, operator, spec)
    kind = _kind(store, name)
    get = _getter(store, name, kind)
    plan: dict[str, Any] = {"name": name, "operator": operator}
    if operator == "HAS_PROPERTY":
        return (lambda record: get(record) is not None), plan
    if operator == "NOT_HAS_PROPERTY":
        return (lambda record: get(record) is None), plan
    if operator in ("IN", "NOT_IN"):
        raw_values = spec.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            raise bad_request(f"{operator} needs a non-empty list of values.")
        # String values of IN / NOT_IN must be given in lowercase; they are not lowered here.
        values = {_operand("exact" if kind == "text" else kind, raw, name) for raw in raw_values}
        plan["values"] = values
        if operator == "IN":
            return (lambda record: _multi(get(record), kind) & values != set()), plan
        return (lambda record: not _multi(get(record), kind) & values), plan
    value = _operand(kind, spec.get("value"), name)
    plan["value"] = value
    if operator == "BETWEEN":
        high = _operand(kind, spec.get("highValue"), name)
        plan["high"] = high
        return (lambda record: (v := get(record)) is not None and value <= v <= high), plan
    compare: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda v: value in _multi(v, kind),
        "NEQ": lambda v: value not in _multi(v, kind),
        "LT": lambda v: v is not None and v < value,
        "LTE": lambda v: v is not None and v <= value,
        "GT": lambda v: v is not None and v > value,
        "GTE": lambda v: v is not None and v >= value,
        "CONTAINS_TOKEN": lambda v: v is not None and _tokens_match(v, str(value)),
        "NOT_CONTAINS_TOKEN": lambda v: v is None or not _tokens_match(v, str(value)),
    }
    test = compare[operator]
    return (lambda record: test(get(record))), plan


def _multi(value: Any, kind: str) -> set[Any]:
    """The values a record holds: a multi-checkbox's several, or one, or none."""
    if value is None:
        return set()
    if kind == "exact" and isinstance(value, str) and ";" in value:
        return set(value.split(";"))
    if kind == "text":
        return {value.lower()}
    return {value}


def _association_filter(
    state: SimState, store: TypeStore, name: str, operator: str, spec: dict[str, Any]
) -> tuple[Predicate, dict[str, Any]]:
    other = state.store_for(name.split(".", 1)[1]).type.name
    if operator != "EQ" or not str(spec.get("value", "")).isdigit():
        raise bad_request(f"{name} supports only EQ with a record id.")
    target = int(spec["value"])
    linked = set(state.links.targets(other, target, store.type.name))
    return (lambda record: record.id in linked), {
        "name": "hs_object_id",
        "operator": "IN",
        "values": {Decimal(i) for i in linked},
    }


def _candidates(store: TypeStore, plans: list[dict[str, Any]]) -> Iterable[Record]:
    """The narrowest set of records an index gives for one group's filters."""
    for plan in plans:
        name, operator = plan["name"], plan["operator"]
        # Only ids and lowercased unique values (emails, domains) are indexed as search compares them.
        if operator in ("EQ", "IN") and name in (*store.type.lowercase_unique, "hs_object_id"):
            keys = [plan["value"]] if operator == "EQ" else list(plan["values"])
            found = [
                store.get(str(key), id_property=None if name == "hs_object_id" else name)
                for key in keys
            ]
            return [record for record in found if record is not None]
    for plan in plans:
        name, operator = plan["name"], plan["operator"]
        indexed = (store.type.modified_property, store.type.created_property, "hs_object_id")
        if operator not in RANGE_OPERATORS | {"EQ"} or name not in indexed:
            continue
        low, high = _bounds(plan)
        if name == store.type.modified_property:
            return store.modified_between(low, high)
        if name == store.type.created_property:
            return store.created_between(low, high)
        if name == "hs_object_id":
            return store.ids_between(low, high)
    return store.active_records()


def _bounds(plan: dict[str, Any]) -> tuple[int | None, int | None]:
    """Loose integer bounds (a superset: every candidate is tested again)."""
    low, high = math.floor(plan["value"]), math.ceil(plan["value"])
    return {
        "EQ": (low, high),
        "GT": (low, None),
        "GTE": (low, None),
        "LT": (None, high),
        "LTE": (None, high),
        "BETWEEN": (low, math.ceil(plan.get("high", plan["value"]))),
    }[plan["operator"]]


def _check_limits(state: SimState, groups: Any) -> list[list[Any]]:
    config = state.config
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and isinstance(g.get("filters", []), list) for g in groups
    ):
        raise bad_request("filterGroups must be a list of objects with a list of filters.")
    filters = [list(g.get("filters", [])) for g in groups]
    total = sum(len(f) for f in filters)
    if len(groups) > config.search_max_filter_groups:
        raise bad_request(
            f"Too many filter groups ({len(groups)}); "
            f"at most {config.search_max_filter_groups} are allowed."
        )
    if any(len(f) > config.search_max_filters_per_group for f in filters):
        raise bad_request(
            f"Too many filters in a group; at most {config.search_max_filters_per_group} are allowed."
        )
    if total > config.search_max_filters_total:
        raise bad_request(
            f"Too many filters ({total}); at most {config.search_max_filters_total} are allowed in total."
        )
    return filters


def _paging(body: dict[str, Any], cap: int) -> tuple[int, int]:
    limit, after = body.get("limit", 10), body.get("after", 0)
    try:
        limit = int(limit)
        after = int(after) if after not in (None, "") else 0
    except (TypeError, ValueError):
        raise bad_request("limit must be a whole number and after an integer offset.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be between 1 and {MAX_LIMIT}; got {limit}.")
    if after < 0:
        raise bad_request(f"after must not be negative; got {after}.")
    if after >= cap:
        raise bad_request(f"Cannot page past {cap} results: after was {after}.")
    return limit, after


def _sorter(store: TypeStore, sorts: Any) -> tuple[Getter, bool, str]:
    """The sort's getter, whether it descends, and the property it sorts by."""
    if sorts in (None, []):
        return (lambda record: record.id), False, "hs_object_id"
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise bad_request("Only one sort is supported.")
    spec = sorts[0]
    if isinstance(spec, str):
        name, descending = spec.lstrip("-"), spec.startswith("-")
    elif isinstance(spec, dict) and isinstance(spec.get("propertyName"), str):
        name, descending = spec["propertyName"], spec.get("direction", "ASCENDING") == "DESCENDING"
    else:
        raise bad_request("A sort needs a propertyName and a direction.")
    return _getter(store, name, _kind(store, name)), descending, name


def _query_test(store: TypeStore, query: Any) -> Predicate | None:
    if query in (None, ""):
        return None
    if not isinstance(query, str) or len(query) > MAX_QUERY:
        raise bad_request(f"query must be a string of at most {MAX_QUERY} characters.")
    needle = query.lower()
    names = store.type.query_properties
    return lambda record: any(needle in (record.properties.get(n) or "").lower() for n in names)


def search_objects(state: SimState, request: ApiRequest, type_name: str) -> ApiResponse:
    """POST /objects/{type}/search: `{total, results, paging?}`."""
    store = state.store_for(type_name)
    body = request.object_body()
    groups = _check_limits(state, body.get("filterGroups") or [])
    limit, after = _paging(body, state.config.search_result_cap)
    names = body.get("properties") or None
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise bad_request("properties must be a list of property names.")
    with state.lock:
        query = _query_test(store, body.get("query"))
        sort_key, descending, sort_name = _sorter(store, body.get("sorts"))
        compiled = [[_predicate(store, spec, state) for spec in group] for group in groups]
        delay_ms = int(state.config.search_indexing_delay_seconds * 1000)
        visible_until = state.now_ms() - delay_ms if delay_ms else None
        if query is None and visible_until is None and not descending:
            indexed = _changed_since(store, compiled, sort_name)
            if indexed is not None:
                total, start = indexed
                end = min(after + limit, state.config.search_result_cap)
                page = [
                    store.records[i] for _ms, i in store.by_modified[start + after : start + end]
                ]
                results = [render_record(state, store, record, names=names) for record in page]
                return _answer(total, results, after, limit)
        matches: dict[int, Record] = {}
        for group in compiled or [[]]:
            tests = [test for test, _plan in group]
            for record in _candidates(store, [plan for _test, plan in group]):
                if record.id in matches or record.archived:
                    continue
                if visible_until is not None and record.updated_ms > visible_until:
                    continue
                if all(test(record) for test in tests) and (query is None or query(record)):
                    matches[record.id] = record
        present = [r for r in matches.values() if sort_key(r) is not None]
        absent = sorted((r for r in matches.values() if sort_key(r) is None), key=lambda r: r.id)
        present.sort(key=lambda r: (sort_key(r), r.id), reverse=descending)
        ordered = present + absent
        page = ordered[after : min(after + limit, state.config.search_result_cap)]
        results = [render_record(state, store, record, names=names) for record in page]
    return _answer(len(ordered), results, after, limit)


def _answer(total: int, results: list[Any], after: int, limit: int) -> ApiResponse:
    answer: dict[str, Any] = {"total": total, "results": results}
    if after + limit < total:
        answer["paging"] = {"next": {"after": str(after + limit)}}
    return ApiResponse(200, answer)


def _changed_since(
    store: TypeStore, compiled: list[list[tuple[Predicate, dict[str, Any]]]], sort_name: str
) -> tuple[int, int] | None:
    """A search for the records changed since a moment, oldest change first, answered from the index.

    That is the incremental pull's query: one filter, GT or GTE on the
    modified time, sorted by it ascending. The modified index holds the
    active records in exactly that order (time, then id), so the answer is
    a slice of it and its total a subtraction. Returns (total, where the
    matches start in the index), or None for any other search.
    """
    modified = store.type.modified_property
    if sort_name != modified or len(compiled) != 1 or len(compiled[0]) != 1:
        return None
    plan = compiled[0][0][1]
    if plan["name"] != modified or plan["operator"] not in ("GT", "GTE"):
        return None
    value = plan["value"]
    low = math.floor(value) + 1 if plan["operator"] == "GT" else math.ceil(value)
    start = bisect.bisect_left(store.by_modified, (low, -1))
    return len(store.by_modified) - start, start
