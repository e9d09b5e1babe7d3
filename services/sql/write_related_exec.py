"""Run nested writes of related records: parents first, then the record, then its children.

One rule: each statement is one record of one table, built by
`services.sql.writes` under the caller's policy for that table and verb (as
`services.sql.write_related` planned it); a refusal is mapped against the
table that refused it, and nothing here opens or ends a transaction (the
record's savepoint belongs to `write_exec.one_writer`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from services.sql.errors import RecordNotFound, WriteDenied
from services.sql.schema import Relationship
from services.sql.write_errors import RECORD_ERRORS, record_error
from services.sql.write_exec import Connection, execute
from services.sql.write_records import Prepared, WriteTarget, document_value, finish
from services.sql.writes import Statement, delete_statement, insert_statement, update_statement

Action = Literal["create", "update", "look_up", "delete"]


@dataclass(frozen=True, slots=True)
class Node:
    """One record of one table to write, and the related records it carries.

    prepared: its checked values; foreign keys to records written before it
      are added when it runs. fallback: the create run when an update finds
      no row (keys the database does not fill).
    """

    target: WriteTarget
    action: Action
    prepared: Prepared
    fallback: Node | None = None
    parents: tuple[Parent, ...] = ()
    children: tuple[Children, ...] = ()


@dataclass(frozen=True, slots=True)
class Parent:
    """A belongs-to record, written before the record that points at it."""

    relation: Relationship
    node: Node


@dataclass(frozen=True, slots=True)
class Child:
    """A has-many or many-to-many record; `link`: point it at the record (else unlink it)."""

    node: Node
    link: bool = True


@dataclass(frozen=True, slots=True)
class Junction:
    """A many-to-many relation's junction table: look up and add links (GET, POST), remove (DELETE)."""

    look_up: WriteTarget | None
    add: WriteTarget | None
    remove: WriteTarget | None
    presets: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Children:
    """The records of one has-many or many-to-many relation of a record."""

    relation: Relationship
    items: tuple[Child, ...]
    junction: Junction | None = None


def write_node(
    conn: Connection, node: Node, extra: Mapping[str, object]
) -> tuple[str, dict[str, Any]]:
    """Write a record: its parents first, then itself, then its children.

    Returns its result text and that result parsed. Raises the QueryError a
    statement met (mapped against the table it wrote), RecordNotFound for a
    related record to update that is not there or not visible, and
    WriteDenied for a row outside the caller's row filter.
    """
    values = dict(extra)
    for parent in node.parents:
        _text, row = write_node(conn, parent.node, {})
        relation = parent.relation
        values.update(
            zip(relation.columns, (row[name] for name in relation.ref_columns), strict=True)
        )
    text, row = write_one(conn, node, values)
    for children in node.children:
        relation = children.relation
        if relation.kind == "has_many":
            linked = {
                fk: row[name]
                for name, fk in zip(relation.columns, relation.ref_columns, strict=True)
            }
            for child in children.items:
                write_node(conn, child.node, linked if child.link else {})
        else:
            write_links(conn, children, row)
    return text, row


def write_one(
    conn: Connection, node: Node, extra: Mapping[str, object]
) -> tuple[str, dict[str, Any]]:
    prepared = with_values(
        node.target, node.prepared, extra, sets=node.action in ("create", "update")
    )
    texts = run(conn, node.target, node.action, prepared)
    if not texts:
        if node.fallback is not None:
            return write_one(conn, node.fallback, extra)
        raise RecordNotFound(prepared.identifier)
    row: dict[str, Any] = json.loads(texts[0], parse_float=Decimal)
    return texts[0], row


def write_links(conn: Connection, children: Children, row: Mapping[str, Any]) -> None:
    """Write many-to-many targets and add (or remove) their junction rows."""
    relation = children.relation
    junction = children.junction
    assert junction is not None  # planned with every many-to-many relation
    own = {
        name: row[column]
        for name, column in zip(relation.junction_columns, relation.columns, strict=True)
    }
    for child in children.items:
        _text, target_row = write_node(conn, child.node, {})
        link = dict(own)
        for name, column in zip(relation.junction_ref_columns, relation.ref_columns, strict=True):
            link[name] = target_row[column]
        if not child.link:
            assert junction.remove is not None
            # No such link is no error: the pair is unlinked either way.
            run(conn, junction.remove, "delete", finish(junction.remove, link, set_names={}))
            continue
        assert junction.look_up is not None
        assert junction.add is not None
        if run(conn, junction.look_up, "look_up", finish(junction.look_up, link, set_names={})):
            continue
        values = {**link, **junction.presets}
        run(conn, junction.add, "create", finish(junction.add, values, set_names=values))


def with_values(
    target: WriteTarget, prepared: Prepared, extra: Mapping[str, object], *, sets: bool
) -> Prepared:
    """`prepared` with the values in `extra` (foreign keys), set as well when `sets`."""
    if not extra:
        return prepared
    values = dict(prepared.values)
    for name, value in extra.items():
        column = target.table.column(name)
        assert column is not None  # relationship columns come from the catalog
        values[name] = document_value(column, value)
    columns = prepared.columns
    if sets:
        names = {column.name for column in columns} | set(extra)
        columns = tuple(column for column in target.table.columns if column.name in names)
    return Prepared(values, columns, prepared.identifier)


def statement_of(target: WriteTarget, action: Action, prepared: Prepared) -> Statement:
    if action == "create":
        return insert_statement(target, [prepared])
    if action == "update":
        return update_statement(target, [prepared])
    if action == "look_up":
        return update_statement(target, [prepared], lock=False)
    return delete_statement(target, [prepared])


def run(conn: Connection, target: WriteTarget, action: Action, prepared: Prepared) -> list[str]:
    """Run one statement of a nested write; its result texts.

    Raises the mapped QueryError when the server refuses the row, and
    WriteDenied when it would leave the caller's row filter.
    """
    try:
        denied, texts, _count = execute(conn, statement_of(target, action, prepared))
    except RECORD_ERRORS as error:
        raise record_error(
            error,
            target.table,
            prepared.values,
            creating=action == "create",
            deleting=action == "delete",
            shown=shown_of(target),
        ) from None
    if denied:
        raise WriteDenied()
    return texts


def shown_of(target: WriteTarget) -> list[str]:
    """The columns of `target`'s table the caller may read (and so see named in errors)."""
    policy = target.policy_for(target.table)
    if policy is None:
        return []
    if policy.readable is None:
        return [column.name for column in target.table.columns]
    return sorted(policy.readable)
