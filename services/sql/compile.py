"""Compile a `ReadQuery` on a `Table` under a `Policy` into one SQL statement.

One rule: every identifier is quoted with `psycopg.sql.Identifier` after it was
found in the catalog *and* allowed by the caller's policy, every value is a
bound parameter, and the policy's row filter is ANDed into every scan of a
table — the page, the count, and each related table.

The statements make PostgreSQL build the JSON (`json_agg` over a subquery
whose column aliases are the output keys), so the HTTP edge only wraps bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar, cast

from psycopg import sql

from services.sql.ast import Aggregate, Literal
from services.sql.clauses import Compiler, PolicyFor, ids_order, key_columns, key_match
from services.sql.errors import InvalidGroupField, QueryError
from services.sql.policy import Policy
from services.sql.query import ReadQuery
from services.sql.schema import SchemaSnapshot, Table
from services.sql.shapes import literals, shape, uses_relations
from services.sql.values import checked_text

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A statement and its parameters, ready for `services.sql.execute`.

    `value_fields` names the fields whose values only the server validates,
    so a rejected value can be reported against a field.
    """

    statement: sql.SQL | sql.Composed
    params: tuple[object, ...]
    value_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledRead(CompiledQuery):
    """A page read: the statement yields (resource JSON text, rows on the page, total or NULL).

    `fetch_limit` is the number of rows asked of PostgreSQL: one more than
    `page_size` when the caller gave no limit, so truncation can be reported.
    """

    page_size: int = 0
    fetch_limit: int = 0
    offset: int = 0


def compile_read(
    snapshot: SchemaSnapshot,
    table: Table,
    query: ReadQuery,
    policy: Policy,
    policy_for: PolicyFor,
    *,
    max_records: int,
    whole_rows: bool = False,
) -> CompiledRead:
    """Compile a page read: one statement yielding (resource JSON, rows fetched, total or NULL).

    Reads of a shape seen before (same table version, policy and options, a
    filter differing only in its literal values) reuse that statement's text
    and only bind the new values, each checked as a fresh compile would.
    `whole_rows`: the connecting role may read every column (see `page_sql`).
    """
    key: tuple[object, ...] | None = None
    if query.ids is None and not query.related and not uses_relations(query.filter):
        key = (
            snapshot.version, table.sql_schema, table.sql_name, policy, max_records,
            shape(query.filter) if query.filter is not None else None, query.fields,
            query.order, query.group, query.limit, query.offset > 0, query.include_count,
            whole_rows,
        )  # fmt: skip
        cached = _read_statements.get(key)
        if cached is not None:
            params = replay(cached.recipe, literals(query.filter), query)
            if params is not None:
                return replace(cached.compiled, params=params, offset=query.offset)
    compiler = Compiler(snapshot, policy_for, query.params, query.lookups)
    compiler.slots = {id(node): index for index, node in enumerate(literals(query.filter))}
    compiled = _compile_read(compiler, table, query, policy, max_records, whole_rows)
    if key is not None:
        statement = sql.SQL(compiled.statement.as_string(None))
        remember(
            _read_statements,
            key,
            CachedRead(replace(compiled, statement=statement), tuple(compiler.recipe)),
        )
    return compiled


@dataclass(frozen=True, slots=True)
class CachedRead:
    """A compiled read kept for its shape, and how to bind another query's values to it."""

    compiled: CompiledRead
    recipe: tuple[tuple[tuple[object, ...], Callable[[object], object] | None], ...]


STATEMENT_CACHE_SIZE = 4096
# Plain dict operations are atomic under the GIL; a race only compiles once more.
_read_statements: dict[tuple[object, ...], CachedRead] = {}


def remember(cache: dict[tuple[object, ...], T], key: tuple[object, ...], value: T) -> None:
    """Keep `value` under `key`, starting the cache afresh when it is full."""
    if len(cache) >= STATEMENT_CACHE_SIZE:
        cache.clear()
    cache[key] = value


def replay(
    recipe: tuple[tuple[tuple[object, ...], Callable[[object], object] | None], ...],
    values: list[Literal],
    query: ReadQuery,
) -> tuple[object, ...] | None:
    """The bound values of `query` for a statement compiled with `recipe`.

    Raises what a compile raises for a value that does not fit its column;
    returns None when a compile must decide (a missing parameter or lookup,
    a null), so the error is the compiler's own.
    """
    bound: list[object] = []
    for source, transform in recipe:
        if transform is None:
            bound.append(source[1])
            continue
        tag, name = source
        if tag == "offset":
            raw: object = query.offset
        elif tag == "slot":
            raw = values[cast(int, name)].text
        elif tag == "param":
            raw = query.params.get(str(name))
        else:
            raw = query.lookups.get(str(name))
        if raw is None:
            return None
        bound.append(transform(raw))
    return tuple(bound)


def _unchanged(value: object) -> object:
    """The transform of a replayed value that needs no check (the offset, parsed already)."""
    return value


def _compile_read(
    compiler: Compiler,
    table: Table,
    query: ReadQuery,
    policy: Policy,
    max_records: int,
    whole_rows: bool,
) -> CompiledRead:
    cap = min(max_records, policy.max_page_size or max_records)
    page_size = cap if query.limit is None or not 1 <= query.limit <= cap else query.limit
    fetch_limit = page_size + 1 if query.limit is None else page_size
    alias = compiler.new_alias()

    # Values are bound in the order their placeholders appear: the count comes
    # first in the statement's text, so it is compiled first.
    total: sql.Composable = sql.SQL("NULL::bigint")
    if query.include_count:
        total = sql.SQL("({})").format(count_sql(compiler, table, policy, query))
    inner = page_sql(
        compiler, table, alias, policy, query, fetch_limit, bind_paging=True, whole_rows=whole_rows
    )
    if query.limit is None:
        # One row past the page tells whether the maximum cut the answer.
        statement = sql.SQL(
            "SELECT coalesce(json_agg(p.r) FILTER (WHERE p.n <= {}), '[]'::json)::text, count(*), {}"
            " FROM (SELECT row_number() OVER () AS n, s AS r FROM ({}) AS s) AS p"
        ).format(sql.Literal(page_size), total, inner)
    else:
        statement = sql.SQL(
            "SELECT coalesce(json_agg(s), '[]'::json)::text, count(*), {} FROM ({}) AS s"
        ).format(total, inner)
    return CompiledRead(
        statement,
        tuple(compiler.bound),
        tuple(compiler.server_checked),
        page_size=page_size,
        fetch_limit=fetch_limit,
        offset=query.offset,
    )


def page_sql(
    compiler: Compiler,
    table: Table,
    alias: sql.Identifier,
    policy: Policy,
    query: ReadQuery,
    limit: int | None,
    *,
    bind_paging: bool = False,
    whole_rows: bool = False,
) -> sql.Composable:
    """The SELECT producing the page's rows, with related columns and limit/offset.

    With `bind_paging`, LIMIT and OFFSET are bound values, so pages of one
    shape share one statement text: PostgreSQL parses and plans it once per
    connection (a prepared statement) instead of once per offset. With
    `whole_rows`, the connecting role may read every column of the table, so
    a page with an offset may be cut from whole rows (`SELECT *`) first.
    """
    # Values are bound in the order their placeholders appear in the text, so
    # each clause is compiled where it stands: the select list (whose related
    # records bind their own row filters) before WHERE, the ids' match leading
    # WHERE, their order after it; and, when the page is cut from whole rows
    # first, the select list last.
    aggregated = bool(query.group) or any(isinstance(item, Aggregate) for item in query.fields)
    if aggregated and query.related:
        raise QueryError("Related records cannot be combined with group or aggregates.")
    whole_first = bool(query.offset) and whole_rows and not aggregated
    whole_first = whole_first and projects(table, policy, query)

    def plain_columns() -> sql.Composable:
        columns = compiler.select_columns(table, alias, policy, query.fields)
        if not query.related:
            return columns
        return sql.SQL(", ").join(
            [columns, *(compiler.related_column(table, alias, rel) for rel in query.related)]
        )

    def ids_match() -> list[sql.Composable]:
        if query.ids is None:
            return []
        return [key_match(compiler, alias, key_columns(table, query.id_field, policy), query.ids)]

    columns: sql.Composable = sql.SQL("")
    if aggregated:
        columns, group_sql, names = compiler.grouped_select(table, alias, policy, query)
        where = compiler.where(table, alias, policy, query.filter, ids_match())
        order = compiler.order_by(
            table, alias, policy, query.order, default_key=False, aliases=names
        )
    else:
        if not whole_first:
            columns = plain_columns()
        where = compiler.where(table, alias, policy, query.filter, ids_match())
        group_sql = sql.SQL("")
        if query.ids is not None and not query.order and len(query.ids) > 1:
            keys = key_columns(table, query.id_field, policy)
            order = ids_order(compiler, alias, keys, query.ids)
        else:
            order = compiler.order_by(table, alias, policy, query.order, default_key=True)
    limit_sql: sql.Composable = sql.SQL("")
    if limit is not None:
        limit_sql = sql.SQL(" LIMIT {}").format(
            compiler.bind(limit) if bind_paging else sql.Literal(limit)
        )
    offset_sql: sql.Composable = sql.SQL("")
    if query.offset and bind_paging:
        # Replayed from each query (see `replay`), so the cached text serves every offset.
        compiler.bound.append(query.offset)
        compiler.recipe.append((("offset", None), _unchanged))
        offset_sql = sql.SQL(" OFFSET {}").format(sql.Placeholder())
    elif query.offset:
        offset_sql = sql.SQL(" OFFSET {}").format(sql.Literal(query.offset))
    if whole_first:
        # The rows an OFFSET skips are only counted when the scan hands on
        # whole stored rows; a select list of its own would be computed for
        # each of them (related records included). So the page is cut from
        # whole rows first, and only its own rows get the select list.
        return sql.SQL(
            "WITH sg_page AS MATERIALIZED (SELECT * FROM {} AS {}{}{}{}{}) SELECT {} FROM sg_page AS {}"
        ).format(
            compiler.table_ref(table), alias, where, order, limit_sql, offset_sql,
            plain_columns(), alias,
        )  # fmt: skip
    return sql.SQL("SELECT {} FROM {} AS {}{}{}{}{}{}").format(
        columns, compiler.table_ref(table), alias, where, group_sql, order, limit_sql, offset_sql
    )


def projects(table: Table, policy: Policy, query: ReadQuery) -> bool:
    """Whether a page's select list is other than the table's stored rows as they are."""
    if query.related or query.fields:
        return True
    alias = sql.SQL("t")
    return any(
        not policy.can_read(column.name)
        or Compiler.output_expr(alias, column) != Compiler.column_ref(alias, column)
        for column in table.columns
    )


def count_sql(compiler: Compiler, table: Table, policy: Policy, query: ReadQuery) -> sql.Composable:
    """`SELECT count(*)` of the rows (or groups) the query matches, ignoring limit/offset."""
    alias = compiler.new_alias()
    extra: list[sql.Composable] = []
    if query.ids is not None:
        extra.append(
            key_match(compiler, alias, key_columns(table, query.id_field, policy), query.ids)
        )
    where = compiler.where(table, alias, policy, query.filter, extra)
    if query.group:
        groups = []
        for name in query.group:
            column = compiler.readable_column(table, policy, name)
            if column is None:
                raise InvalidGroupField(name)
            groups.append(Compiler.column_ref(alias, column))
        return sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} AS {}{} GROUP BY {}) AS g").format(
            compiler.table_ref(table), alias, where, sql.SQL(", ").join(groups)
        )
    return sql.SQL("SELECT count(*) FROM {} AS {}{}").format(
        compiler.table_ref(table), alias, where
    )


def finish(compiler: Compiler, statement: sql.SQL | sql.Composed) -> CompiledQuery:
    """The statement with the parameters the compiler bound for it."""
    return CompiledQuery(statement, tuple(compiler.bound), tuple(compiler.server_checked))


def compile_count(
    snapshot: SchemaSnapshot, table: Table, query: ReadQuery, policy: Policy, policy_for: PolicyFor
) -> CompiledQuery:
    """Compile `count_only`: one statement yielding the bare count."""
    compiler = Compiler(snapshot, policy_for, query.params, query.lookups)
    statement = sql.SQL("SELECT ({})").format(count_sql(compiler, table, policy, query))
    return finish(compiler, statement)


# Statement text of record reads by shape (see compile_record).
# By shape: the statement text, and how to bind what follows the key (a row
# filter's constants and lookups).
Recipe = tuple[tuple[tuple[object, ...], Callable[[object], object] | None], ...]
_record_statements: dict[tuple[object, ...], tuple[sql.SQL, Recipe]] = {}


REPLAYABLE = frozenset({"const", "lookup"})


def compile_record(
    snapshot: SchemaSnapshot,
    table: Table,
    key: tuple[str, ...],
    query: ReadQuery,
    policy: Policy,
    policy_for: PolicyFor,
) -> CompiledQuery:
    """Compile a read of one record by key: yields its JSON object text, or no row.

    The common shape (no client filter; a role's row filter is fine) is
    compiled once per table version, policy and options; later reads only
    check and bind the key and the row filter's lookups.
    """
    shape = (
        snapshot.version, table.sql_schema, table.sql_name, policy, query.fields,
        query.related, query.id_field, len(key),
    )  # fmt: skip
    cached = _record_statements.get(shape) if query.filter is None else None
    if cached is not None:
        statement_text, tail = cached
        columns = key_columns(table, query.id_field, policy)
        rest = replay(tail, [], query)
        if len(key) == len(columns) and rest is not None:
            params = tuple(checked_text(c, part) for c, part in zip(columns, key, strict=True))
            return CompiledQuery(statement_text, (*params, *rest))
    compiler = Compiler(snapshot, policy_for, query.params, query.lookups)
    alias = compiler.new_alias()
    single = replace(query, ids=(key,), order=(), group=(), limit=None, offset=0)
    inner = page_sql(compiler, table, alias, policy, single, 1)
    statement = sql.SQL("SELECT row_to_json(s)::text FROM ({}) AS s").format(inner)
    compiled = finish(compiler, statement)
    # Without related records the key is bound first (its condition leads the
    # WHERE clause); after it, only a row filter's constants and lookups, which
    # replay for any key. Related records bind their row filters before the key.
    tail = tuple(compiler.recipe[len(key) :])
    if (
        query.filter is None
        and len(compiler.bound) >= len(key)
        and (not tail or (not query.related and all(src[0] in REPLAYABLE for src, _ in tail)))
    ):
        remember(_record_statements, shape, (sql.SQL(statement.as_string(None)), tail))
    return compiled


def compile_rows(
    snapshot: SchemaSnapshot,
    table: Table,
    query: ReadQuery,
    policy: Policy,
    policy_for: PolicyFor,
) -> CompiledQuery:
    """Compile a streamed read: the plain page SELECT (no envelope, no cap unless `limit`)."""
    compiler = Compiler(snapshot, policy_for, query.params, query.lookups)
    alias = compiler.new_alias()
    inner = page_sql(compiler, table, alias, policy, query, query.limit)
    return finish(compiler, sql.Composed([inner]))
