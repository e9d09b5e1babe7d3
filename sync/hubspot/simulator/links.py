"""Associations between records: HubSpot's defined association types and the links themselves.

One rule: a link is always stored in both directions, each direction with its
own type id (contact→company 279 is company→contact 280), and every labelled
link also carries the pair's default (unlabelled) type, as in HubSpot.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AssociationType:
    """One HUBSPOT_DEFINED association type (one direction)."""

    from_type: str
    to_type: str
    type_id: int
    inverse_id: int
    label: str | None
    name: str  # the v3 name, e.g. contact_to_company_unlabeled


def _pair(
    from_type: str, to_type: str, ids: tuple[int, int], label: str | None, names: tuple[str, str]
) -> tuple[AssociationType, AssociationType]:
    forward = AssociationType(from_type, to_type, ids[0], ids[1], label, names[0])
    backward = AssociationType(to_type, from_type, ids[1], ids[0], label, names[1])
    return forward, backward


ASSOCIATION_TYPES: tuple[AssociationType, ...] = (
    *_pair("contacts", "companies", (279, 280), None,
           ("contact_to_company_unlabeled", "company_to_contact_unlabeled")),
    *_pair("contacts", "companies", (1, 2), "Primary", ("contact_to_company", "company_to_contact")),
    *_pair("contacts", "deals", (4, 3), None, ("contact_to_deal", "deal_to_contact")),
    *_pair("deals", "companies", (341, 342), None,
           ("deal_to_company_unlabeled", "company_to_deal_unlabeled")),
    *_pair("deals", "companies", (5, 6), "Primary", ("deal_to_company", "company_to_deal")),
    AssociationType("contacts", "contacts", 449, 449, None, "contact_to_contact"),
    AssociationType("companies", "companies", 450, 450, None, "company_to_company"),
    AssociationType("deals", "deals", 451, 451, None, "deal_to_deal"),
)  # fmt: skip

_BY_ID = {(t.from_type, t.to_type, t.type_id): t for t in ASSOCIATION_TYPES}
_DEFAULTS = {(t.from_type, t.to_type): t for t in ASSOCIATION_TYPES if t.label is None}


def association_type(from_type: str, to_type: str, type_id: int) -> AssociationType | None:
    """The defined type `type_id` from `from_type` to `to_type`, if there is one."""
    return _BY_ID.get((from_type, to_type, type_id))


def default_type(from_type: str, to_type: str) -> AssociationType | None:
    """The unlabelled type between two object types, if they can be associated."""
    return _DEFAULTS.get((from_type, to_type))


class LinkStore:
    """Links between records, both directions; callers hold the simulator's lock."""

    def __init__(self) -> None:
        self._links: dict[tuple[str, int, str], dict[int, set[int]]] = {}

    def clear(self) -> None:
        self._links.clear()

    def add(self, kind: AssociationType, from_id: int, to_id: int) -> None:
        """Link two records with `kind` (and the pair's default type), both ways."""
        default = _DEFAULTS[(kind.from_type, kind.to_type)]
        for type_ in {kind, default}:
            self._put(type_.from_type, from_id, type_.to_type, to_id, type_.type_id)
            self._put(type_.to_type, to_id, type_.from_type, from_id, type_.inverse_id)

    def _put(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int) -> None:
        self._links.setdefault((from_type, from_id, to_type), {}).setdefault(to_id, set()).add(
            type_id
        )

    def remove(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Unlink two records entirely, both ways."""
        for key, other in (
            ((from_type, from_id, to_type), to_id),
            ((to_type, to_id, from_type), from_id),
        ):
            targets = self._links.get(key)
            if targets is not None:
                targets.pop(other, None)
                if not targets:
                    del self._links[key]

    def targets(self, from_type: str, from_id: int, to_type: str) -> dict[int, set[int]]:
        """The records `from_id` is linked to in `to_type`, with the type ids of each link."""
        return self._links.get((from_type, from_id, to_type), {})

    def types_of(
        self, from_type: str, to_type: str, type_ids: set[int]
    ) -> Iterator[AssociationType]:
        """The defined types behind `type_ids`, in type-id order."""
        for type_id in sorted(type_ids):
            found = _BY_ID.get((from_type, to_type, type_id))
            if found is not None:
                yield found

    def dump(self) -> list[list[Any]]:
        return [
            [from_type, from_id, to_type, to_id, sorted(type_ids)]
            for (from_type, from_id, to_type), targets in self._links.items()
            for to_id, type_ids in targets.items()
        ]

    def load(self, rows: list[list[Any]]) -> None:
        for from_type, from_id, to_type, to_id, type_ids in rows:
            for type_id in type_ids:
                self._put(from_type, int(from_id), to_type, int(to_id), int(type_id))
