"""In-memory records of one object type, with the indexes that keep 100,000+ of them fast.

One rule: every change to a record goes through `TypeStore.insert`,
`TypeStore.change`, `TypeStore.archive` or `TypeStore.purge`, which keep the
indexes (active and archived ids in order, active records by modification
time, unique values) exact; callers hold the simulator's lock. Lookups by id
or unique value are O(1); a list page is O(log n + page); a time-range scan is
O(log n + matches).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from typing import Any

from .catalog import DEFAULT_PROPERTIES, ObjectType, PropertyDef
from .validation import iso_ms


class Record:
    """One CRM record; `properties` holds only stored (non-empty) writable values."""

    __slots__ = ("archived_ms", "created_ms", "id", "merged_ids", "properties", "updated_ms")

    def __init__(self, record_id: int, properties: dict[str, str], created_ms: int) -> None:
        self.id = record_id
        self.properties = properties
        self.created_ms = created_ms
        self.updated_ms = created_ms
        self.archived_ms: int | None = None
        self.merged_ids: list[int] = []

    @property
    def archived(self) -> bool:
        return self.archived_ms is not None


class TypeStore:
    """The records and property definitions of one object type."""

    def __init__(self, object_type: ObjectType, id_start: int) -> None:
        self.type = object_type
        self.definitions: dict[str, PropertyDef] = {
            prop.name: prop for prop in DEFAULT_PROPERTIES[object_type.name]
        }
        self.records: dict[int, Record] = {}
        self.active: list[int] = []
        self.archived: list[int] = []
        self.by_modified: list[tuple[int, int]] = []
        self.unique: dict[str, dict[str, int]] = {name: {} for name in self.unique_properties()}
        self.next_id = id_start

    # -- definitions and unique values -------------------------------------------------

    def unique_properties(self) -> list[str]:
        """Properties whose values identify one record (email, domain, hasUniqueValue ones)."""
        names = list(self.type.lowercase_unique)
        names += [p.name for p in self.definitions.values() if p.has_unique_value]
        return names

    def add_definition(self, prop: PropertyDef) -> None:
        """Register a new property (and its unique index when it has unique values)."""
        self.definitions[prop.name] = prop
        if prop.has_unique_value:
            self.unique[prop.name] = {}

    def unique_key(self, name: str, value: str) -> str:
        """The index key of a unique value: emails and domains compare case-insensitively."""
        return value.strip().lower() if name in self.type.lowercase_unique else value

    def find_unique(self, name: str, value: str) -> Record | None:
        """The active record holding `value` in unique property `name`, if any."""
        index = self.unique.get(name)
        if index is None:
            return None
        found = index.get(self.unique_key(name, value))
        return None if found is None else self.records[found]

    def conflict(self, values: Mapping[str, str | None], exclude: int | None) -> Record | None:
        """The first other active record already holding one of `values`' unique values."""
        for name, index in self.unique.items():
            value = values.get(name)
            if value:
                holder = index.get(self.unique_key(name, value))
                if holder is not None and holder != exclude:
                    return self.records[holder]
        return None

    # -- reading -------------------------------------------------------------------------

    def get(
        self, key: str, *, id_property: str | None = None, archived: bool = False
    ) -> Record | None:
        """The record `key` names: its id, or its unique `id_property` value.

        With `archived`, only archived records are found, as HubSpot's
        `archived=true` does; otherwise only active ones.
        """
        if id_property and id_property != "hs_object_id":
            if archived:
                wanted = self.unique_key(id_property, key)
                for record_id in reversed(self.archived):
                    record = self.records[record_id]
                    value = record.properties.get(id_property)
                    if value is not None and self.unique_key(id_property, value) == wanted:
                        return record
                return None
            return self.find_unique(id_property, key)
        if not key.strip().isdigit():
            return None
        found = self.records.get(int(key))
        if found is None or found.archived != archived:
            return None
        return found

    def value(self, record: Record, name: str) -> str | None:
        """A property's value as the API shows it (system properties computed)."""
        if name == "hs_object_id":
            return str(record.id)
        if name == self.type.created_property:
            return iso_ms(record.created_ms)
        if name == self.type.modified_property:
            return iso_ms(record.updated_ms)
        if name == "hs_merged_object_ids":
            return ";".join(str(i) for i in record.merged_ids) or None
        return record.properties.get(name)

    def page(self, after: int, limit: int, *, archived: bool) -> tuple[list[Record], int | None]:
        """Records with id >= `after`, in id order; and the id the next page starts at."""
        ids = self.archived if archived else self.active
        start = bisect.bisect_left(ids, after)
        chosen = ids[start : start + limit]
        following = ids[start + limit] if start + limit < len(ids) else None
        return [self.records[i] for i in chosen], following

    def modified_between(self, low_ms: int | None, high_ms: int | None) -> Iterator[Record]:
        """Active records with low <= updated_ms <= high (either end open), oldest change first."""
        start = 0 if low_ms is None else bisect.bisect_left(self.by_modified, (low_ms, -1))
        for updated_ms, record_id in self.by_modified[start:]:
            if high_ms is not None and updated_ms > high_ms:
                return
            yield self.records[record_id]

    def created_between(self, low_ms: int | None, high_ms: int | None) -> Iterator[Record]:
        """Active records with low <= created_ms <= high, in id order (ids follow creation)."""
        records = self.records
        start = 0
        if low_ms is not None:
            start = bisect.bisect_left(self.active, low_ms, key=lambda i: records[i].created_ms)
        for record_id in self.active[start:]:
            record = records[record_id]
            if high_ms is not None and record.created_ms > high_ms:
                return
            yield record

    def ids_between(self, low: int | None, high: int | None) -> Iterator[Record]:
        """Active records with low <= id <= high, in id order."""
        start = 0 if low is None else bisect.bisect_left(self.active, low)
        for record_id in self.active[start:]:
            if high is not None and record_id > high:
                return
            yield self.records[record_id]

    def active_records(self) -> Iterator[Record]:
        """Every active record, in id order."""
        records = self.records
        return (records[i] for i in self.active)

    # -- writing -------------------------------------------------------------------------

    def insert(
        self, values: Mapping[str, str | None], now_ms: int, record_id: int | None = None
    ) -> Record:
        """Store a new record with `values` (checked and conflict-free); return it."""
        if record_id is None:
            record_id = self.next_id
        self.next_id = max(self.next_id, record_id + 1)
        stored = {name: value for name, value in values.items() if value is not None}
        record = Record(record_id, stored, now_ms)
        self.records[record_id] = record
        bisect.insort(self.active, record_id)
        bisect.insort(self.by_modified, (now_ms, record_id))
        self._index(record)
        return record

    def change(
        self, record: Record, values: Mapping[str, str | None], now_ms: int
    ) -> dict[str, str | None]:
        """Apply checked `values` to an active record; return what actually changed.

        The modification time moves only when a value changed.
        """
        changed = {
            name: value for name, value in values.items() if record.properties.get(name) != value
        }
        if not changed:
            return changed
        self._unindex(record)
        for name, value in changed.items():
            if value is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        self._index(record)
        self._touch(record, now_ms)
        return changed

    def archive(self, record: Record, now_ms: int) -> None:
        """Archive an active record: it leaves lists, search and the unique indexes."""
        self._unindex(record)
        del self.by_modified[bisect.bisect_left(self.by_modified, (record.updated_ms, record.id))]
        del self.active[bisect.bisect_left(self.active, record.id)]
        bisect.insort(self.archived, record.id)
        record.archived_ms = now_ms

    def purge(self, record: Record) -> None:
        """Delete a record for good (GDPR delete)."""
        if record.archived:
            del self.archived[bisect.bisect_left(self.archived, record.id)]
        else:
            self._unindex(record)
            del self.by_modified[
                bisect.bisect_left(self.by_modified, (record.updated_ms, record.id))
            ]
            del self.active[bisect.bisect_left(self.active, record.id)]
        del self.records[record.id]

    def _touch(self, record: Record, now_ms: int) -> None:
        del self.by_modified[bisect.bisect_left(self.by_modified, (record.updated_ms, record.id))]
        record.updated_ms = now_ms
        bisect.insort(self.by_modified, (now_ms, record.id))

    def _index(self, record: Record) -> None:
        for name, index in self.unique.items():
            value = record.properties.get(name)
            if value:
                index[self.unique_key(name, value)] = record.id

    def _unindex(self, record: Record) -> None:
        for name, index in self.unique.items():
            value = record.properties.get(name)
            if value:
                key = self.unique_key(name, value)
                if index.get(key) == record.id:
                    del index[key]

    # -- persistence ---------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The records and custom definitions as JSON-ready data."""
        return {
            "next_id": self.next_id,
            "records": [
                [r.id, r.properties, r.created_ms, r.updated_ms, r.archived_ms, r.merged_ids]
                for r in self.records.values()
            ],
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore records saved by `dump` (definitions must be registered first)."""
        for record_id, properties, created_ms, updated_ms, archived_ms, merged in data["records"]:
            record = Record(int(record_id), dict(properties), int(created_ms))
            record.updated_ms = int(updated_ms)
            record.archived_ms = archived_ms
            record.merged_ids = [int(i) for i in merged]
            self.records[record.id] = record
            if archived_ms is None:
                self.active.append(record.id)
                self.by_modified.append((record.updated_ms, record.id))
                self._index(record)
            else:
                self.archived.append(record.id)
            self.next_id = max(self.next_id, record.id + 1)
        self.active.sort()
        self.archived.sort()
        self.by_modified.sort()
        self.next_id = max(self.next_id, int(data["next_id"]))
