"""Nested writes of related records, as DreamFactory does them.

A record of a POST, PUT or PATCH may carry, besides its fields, values under
the names of its table's relationships (`services.sql.schema.Relationship`):

- belongs-to (an object): the parent is written first (created without its
  key; updated with it, or only looked up when it carries nothing but its
  key) and the record's foreign key is set to it;
- has-many (an array): after the record, each child is created (no key) or
  updated, its foreign key set to the record. A child whose foreign key is
  given as null is unlinked: deleted when `allow_related_delete` is set and
  the key may not be NULL, else its foreign key is set to NULL;
- many-to-many (an array): each target is created, updated or looked up, and
  linked through a junction row unless one exists; a target carrying
  `<table>.<column>: null` (this record's table and key column) is unlinked:
  its junction row is deleted, the target row stays.

An update whose key is one the database does not fill creates the row when
none matches; children left out of an array are left as they are.

One rule: every related table is written under the caller's own policy for
that table and verb (POST creates, PATCH updates, DELETE deletes, GET looks
up), with its writable columns, presets and row filter; a relation whose
table or linking columns the caller may not reach is refused exactly like an
unknown field. All writes of one record run inside that record's savepoint
(see `write_exec.one_writer`), so a failing related record fails the record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from services.sql.errors import InvalidField, QueryError
from services.sql.policy import Policy
from services.sql.schema import Column, Relationship, Table
from services.sql.write_exec import Connection, Item
from services.sql.write_records import (
    Prepared,
    WriteTarget,
    exact_json,
    finish,
    prepare_create,
    prepare_update,
    preset_values,
    settable,
)
from services.sql.write_related_exec import (
    Action,
    Child,
    Children,
    Junction,
    Node,
    Parent,
    write_node,
)

VerbPolicy = Callable[[Table, str], Policy | None]
Links = list[tuple[Relationship, Any]]
VERBS: dict[Action, str] = {
    "create": "POST",
    "update": "PATCH",
    "look_up": "GET",
    "delete": "DELETE",
}
# Related records inside related records...: deep enough for any schema, and
# bounded so a crafted body cannot exhaust the stack.
MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Rights:
    """The caller's policy for a table and verb (None: not granted), and `allow_related_delete`."""

    policy_of: VerbPolicy
    allow_delete: bool = False


@dataclass(frozen=True, slots=True)
class NestedRecord:
    """A top-level record carrying related records (a `write_exec.RecordWriter`).

    shown: the names of its result's fields when the statement had to return
    more (keys its relations need), else None.
    """

    node: Node
    shown: tuple[str, ...] | None

    def write(self, conn: Connection) -> str:
        """Write the record and its related records; its result text. Raises QueryError."""
        text, row = write_node(conn, self.node, {})
        if self.shown is None:
            return text
        return (
            "{"
            + ",".join(json.dumps(name) + ":" + exact_json(row[name]) for name in self.shown)
            + "}"
        )


# --- planning -------------------------------------------------------------------------


def prepare_related(
    target: WriteTarget,
    records: Sequence[Mapping[str, object]],
    rights: Rights,
    *,
    creating: bool,
    keyed: bool = True,
) -> list[Item]:
    """Check and prepare records that may carry related records.

    Records without related records come back as `prepare_create` /
    `prepare_update` make them (written by multi-row statements); the others
    as NestedRecords. Raises InvalidField for a field or relation the caller
    may not write, QueryError for a related value of the wrong shape.
    """
    split = [split_relations(target.table, record) for record in records]
    plain = [fields for fields, _links in split]
    prepared = (
        prepare_create(target, plain) if creating else prepare_update(target, plain, keyed=keyed)
    )
    planner = Planner(target, rights)
    items: list[Item] = []
    for item, (_fields, links) in zip(prepared, split, strict=True):
        if not links:
            items.append(item)
            continue
        parents, children, needs = planner.links(target, links, depth=1)
        if not isinstance(item, Prepared):
            items.append(item)  # a record without its key: its relations were still checked
            continue
        shown = tuple(column.name for column in target.output)
        extra = [name for name in dict.fromkeys(needs) if name not in shown]
        output = target.output + tuple(c for name in extra if (c := target.table.column(name)))
        node = Node(
            replace(target, output=output),
            "create" if creating else "update",
            item,
            parents=parents,
            children=children,
        )
        items.append(NestedRecord(node, shown if extra else None))
    return items


def split_relations(table: Table, record: Mapping[str, object]) -> tuple[dict[str, object], Links]:
    """A record's fields, and its values under relationship names (columns win a clash)."""
    fields: dict[str, object] = {}
    links: Links = []
    for name, value in record.items():
        relation = None if table.column(name) is not None else table.relationship(name)
        if relation is None:
            fields[name] = value
        else:
            links.append((relation, value))
    return fields, links


def key_of(table: Table) -> tuple[Column, ...]:
    return tuple(column for name in table.primary_key if (column := table.column(name)))


def has_key(table: Table, record: Mapping[str, object]) -> bool:
    """Whether the record carries its table's whole primary key."""
    return bool(table.primary_key) and all(
        record.get(name) is not None for name in table.primary_key
    )


def with_output(target: WriteTarget, names: Iterable[str]) -> WriteTarget:
    """`target` returning its key and the columns `names` as well."""
    wanted = {column.name for column in target.output} | set(names)
    return replace(target, output=tuple(c for c in target.table.columns if c.name in wanted))


def linkable(target: WriteTarget, names: Iterable[str], relation: str) -> None:
    """Raise InvalidField(relation) unless the caller may set every column in `names`.

    A column a preset fills can not be pointed at a related record either.
    """
    presets = {name for name, _value in target.policy.presets}
    for name in names:
        try:
            settable(target, name)
        except InvalidField:
            raise InvalidField(relation) from None
        if name in presets:
            raise InvalidField(relation)


@dataclass(frozen=True, slots=True)
class Planner:
    """Plans related records under the caller's rights; `base` lends snapshot, lookups, params."""

    base: WriteTarget
    rights: Rights

    def table_of(self, name: str, relation: str) -> Table:
        table = self.base.snapshot.table(name)
        if table is None:
            raise InvalidField(relation)
        return table

    def target(
        self,
        table: Table,
        verb: str,
        relation: str,
        *,
        key: tuple[Column, ...] | None = None,
        needs: Iterable[str] = (),
    ) -> WriteTarget:
        """The caller's target on a related table for `verb`; InvalidField(relation) if not granted."""
        policy = self.rights.policy_of(table, verb)
        if policy is None:
            raise InvalidField(relation)
        if verb != "GET" and table.kind == "materialized_view":
            raise QueryError(f"Table '{table.name}' can not be written to.")
        key = key_of(table) if key is None else key
        names = {column.name for column in key} | set(needs)
        return replace(
            self.base,
            table=table,
            policy=policy,
            key=key,
            output=tuple(column for column in table.columns if column.name in names),
        )

    def links(
        self, target: WriteTarget, links: Links, *, depth: int
    ) -> tuple[tuple[Parent, ...], tuple[Children, ...], list[str]]:
        """Plan a record's relations: its parents, its children, and the columns they need of it."""
        if depth > MAX_DEPTH:
            raise QueryError("Related records are nested too deeply.")
        parents: list[Parent] = []
        children: list[Children] = []
        needs: list[str] = []
        for relation, value in links:
            if relation.kind == "belongs_to":
                if value is None or value == {}:
                    continue
                if not isinstance(value, dict):
                    raise QueryError(
                        f"Invalid value for related field '{relation.name}': expected a record."
                    )
                linkable(target, relation.columns, relation.name)
                table = self.table_of(relation.ref_table, relation.name)
                node = self.item(
                    table, value, relation.name, needs=relation.ref_columns, depth=depth
                )
                parents.append(Parent(relation, node))
                continue
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise QueryError(
                    f"Invalid value for related field '{relation.name}': "
                    "expected an array of records."
                )
            needs.extend(relation.columns)
            if relation.kind == "has_many":
                children.append(self.has_many(relation, value, depth=depth))
            else:
                children.append(self.many_many(target.table, relation, value, depth=depth))
        return tuple(parents), tuple(children), needs

    def item(
        self,
        table: Table,
        record: Mapping[str, object],
        relation: str,
        *,
        needs: Iterable[str] = (),
        fixed: Sequence[str] = (),
        depth: int,
    ) -> Node:
        """A related record: created without its key, else updated (looked up if it sets nothing).

        fixed: foreign key columns set when it runs (the caller's values for them are dropped).
        """
        fields, links = split_relations(table, record)
        for name in fixed:
            fields.pop(name, None)
        keyed = has_key(table, fields)
        changes = [name for name in fields if name not in table.primary_key]
        action: Action = "create"
        if keyed:
            sets_more = changes or fixed or any(r.kind == "belongs_to" for r, _v in links)
            action = "update" if sets_more else "look_up"
        target = self.target(table, VERBS[action], relation, needs=needs)
        if action != "look_up":
            linkable(target, fixed, relation)
        parents, children, child_needs = self.links(target, links, depth=depth + 1)
        target = with_output(target, child_needs)
        fallback = None
        if action == "update" and not all(column.auto for column in target.key):
            created = with_output(self.target(table, "POST", relation), target_names(target))
            linkable(created, fixed, relation)
            fallback = Node(created, "create", prepare_one(created, fields, "create"))
        return Node(
            target,
            action,
            prepare_one(target, fields, action),
            fallback=fallback,
            parents=parents,
            children=children,
        )

    def has_many(
        self, relation: Relationship, records: Sequence[Mapping[str, object]], *, depth: int
    ) -> Children:
        table = self.table_of(relation.ref_table, relation.name)
        fks = relation.ref_columns
        items: list[Child] = []
        for record in records:
            unlink = has_key(table, record) and any(
                name in record and record[name] is None for name in fks
            )
            nullable = all((c := table.column(name)) is not None and c.nullable for name in fks)
            if unlink and self.rights.allow_delete and not nullable:
                # Only a child of this record: its key and its link must both match.
                key = key_of(table) + tuple(c for name in fks if (c := table.column(name)))
                target = self.target(table, "DELETE", relation.name, key=key)
                keys = {name: record[name] for name in table.primary_key}
                items.append(Child(Node(target, "delete", finish(target, keys, set_names={}))))
            elif unlink:
                node = self.item(table, record, relation.name, depth=depth)
                items.append(Child(node, link=False))
            else:
                node = self.item(table, record, relation.name, fixed=fks, depth=depth)
                items.append(Child(node))
        return Children(relation, tuple(items))

    def many_many(
        self,
        own: Table,
        relation: Relationship,
        records: Sequence[Mapping[str, object]],
        *,
        depth: int,
    ) -> Children:
        table = self.table_of(relation.ref_table, relation.name)
        junction = self.table_of(relation.junction or "", relation.name)
        markers = [f"{own.name}.{name}" for name in relation.columns]
        items: list[Child] = []
        for record in records:
            fields = {name: value for name, value in record.items() if name not in markers}
            unlink = has_key(table, fields) and any(
                name in record and record[name] is None for name in markers
            )
            node = self.item(table, fields, relation.name, needs=relation.ref_columns, depth=depth)
            items.append(Child(node, link=not unlink))
        names = relation.junction_columns + relation.junction_ref_columns
        key = tuple(c for name in names if (c := junction.column(name)))
        adds = any(child.link for child in items)
        removes = not all(child.link for child in items)
        add = self.target(junction, "POST", relation.name, key=key) if adds else None
        if add is not None:
            linkable(add, names, relation.name)
        return Children(
            relation,
            tuple(items),
            Junction(
                look_up=self.target(junction, "GET", relation.name, key=key) if adds else None,
                add=add,
                remove=self.target(junction, "DELETE", relation.name, key=key) if removes else None,
                presets=preset_values(add.policy, add.lookups) if add is not None else {},
            ),
        )


def target_names(target: WriteTarget) -> list[str]:
    return [column.name for column in target.output]


def prepare_one(target: WriteTarget, fields: Mapping[str, object], action: Action) -> Prepared:
    """One related record's checked values for `action` (keys only for look-ups)."""
    if action == "look_up":
        keys = {column.name: fields[column.name] for column in target.key}
        return finish(target, keys, set_names={})
    if action == "create":
        item = prepare_create(target, [fields])[0]
    else:
        item = prepare_update(target, [fields], keyed=True)[0]
    if not isinstance(item, Prepared):
        raise item  # pragma: no cover - related updates always carry their key
    return item
