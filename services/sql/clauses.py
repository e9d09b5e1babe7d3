"""The clause builder behind `services.sql.compile`: filters, select lists, order, groups, relations.

One rule: every identifier is quoted with `psycopg.sql.Identifier` after it was
found in the catalog *and* allowed by the caller's policy, every value is a
bound parameter, and a policy's row filter is ANDed into every scan of its
table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from psycopg import sql

from services.sql.ast import (
    Aggregate,
    And,
    Between,
    Comparison,
    Expr,
    FieldRef,
    InList,
    IsNull,
    Like,
    Literal,
    Lookup,
    Not,
    Or,
    OrderItem,
    Param,
    SelectItem,
    Value,
)
from services.sql.errors import (
    InvalidField,
    InvalidFilterField,
    InvalidGroupField,
    InvalidOrderField,
    InvalidRelationship,
    QueryError,
)
from services.sql.policy import Policy
from services.sql.query import ReadQuery, RelatedRequest
from services.sql.schema import Column, Relationship, SchemaSnapshot, Table
from services.sql.values import checked_text, json_value, like_pattern, resolve_value

PolicyFor = Callable[[Table], Policy | None]

COMPARE_SQL = {op: sql.SQL(op) for op in ("=", "!=", ">", ">=", "<", "<=")}
AGGREGATE_SQL = {
    "COUNT": sql.SQL("count"),
    "SUM": sql.SQL("sum"),
    "AVG": sql.SQL("avg"),
    "MIN": sql.SQL("min"),
    "MAX": sql.SQL("max"),
}
NUMERIC_KINDS = frozenset({"integer", "number"})
PRECHECKED_KINDS = frozenset({"integer", "number", "boolean", "date", "datetime"})
DEFAULT_RELATED_LIMIT = 1000


@dataclass(slots=True)
class Compiler:
    """Builds one statement; collects bound parameters in order and numbers aliases."""

    snapshot: SchemaSnapshot
    policy_for: PolicyFor
    params: Mapping[str, object] = field(default_factory=dict)
    lookups: Mapping[str, object] = field(default_factory=dict)
    bound: list[object] = field(default_factory=list)
    aliases: int = 0
    # Where each bound value came from, so a statement of the same shape can be
    # reused with another query's values (services.sql.compile): ("const", v),
    # ("slot", n) for the n-th literal of the client's filter, ("param", name),
    # ("lookup", name), each with the transform that produced the bound value.
    recipe: list[tuple[tuple[object, ...], Callable[[object], object] | None]] = field(
        default_factory=list
    )
    slots: dict[int, int] = field(default_factory=dict)
    # Fields whose values only PostgreSQL can check (ranges, network types...),
    # to name one when the server rejects a value.
    server_checked: list[str] = field(default_factory=list)

    # --- small pieces ---------------------------------------------------------

    def bind(self, value: object) -> sql.Composable:
        """Bind a value fixed by the query's shape (a JSON key, a row-filter constant)."""
        self.bound.append(value)
        self.recipe.append((("const", value), None))
        return sql.Placeholder()

    def bind_value(
        self, node: Value, transform: Callable[[object], object], shown: str
    ) -> sql.Composable:
        """Bind the value `node` stands for, through `transform`, and note where it came from."""
        raw = resolve_value(node, params=self.params, lookups=self.lookups)
        if raw is None:
            raise QueryError(
                f"Invalid or unparsable filter request: null is not a value for '{shown}'."
            )
        value = transform(raw)
        self.bound.append(value)
        if isinstance(node, Param):
            self.recipe.append((("param", node.name), transform))
        elif isinstance(node, Lookup):
            self.recipe.append((("lookup", node.name), transform))
        elif id(node) in self.slots:
            self.recipe.append((("slot", self.slots[id(node)]), transform))
        else:
            self.recipe.append((("const", value), None))
        return sql.Placeholder()

    def new_alias(self) -> sql.Identifier:
        alias = sql.Identifier(f"t{self.aliases}")
        self.aliases += 1
        return alias

    @staticmethod
    def column_ref(alias: sql.Identifier | sql.SQL, column: Column) -> sql.Composed:
        return sql.SQL("{}.{}").format(alias, sql.Identifier(column.name))

    @classmethod
    def output_expr(cls, alias: sql.Identifier | sql.SQL, column: Column) -> sql.Composable:
        """The expression that renders `column` in API.md's JSON form."""
        ref = cls.column_ref(alias, column)
        if column.base_type == "bytea" and column.json_kind != "array":
            return sql.SQL("replace(encode({}, 'base64'), chr(10), '')").format(ref)
        if column.json_kind == "geojson":
            return sql.SQL("ST_AsGeoJSON({})::json").format(ref)
        return ref

    @staticmethod
    def table_ref(table: Table) -> sql.Identifier:
        return sql.Identifier(table.sql_schema, table.sql_name)

    def readable_column(self, table: Table, policy: Policy, name: str) -> Column | None:
        column = table.column(name)
        if column is None or not policy.can_read(name):
            return None
        return column

    def related_target(self, table: Table, name: str) -> tuple[Relationship, Table, Policy] | None:
        """Return a relationship of `table` and its target, if the caller may read the target."""
        relation = table.relationship(name)
        if relation is None:
            return None
        target = self.snapshot.table(relation.ref_table)
        if target is None:
            return None
        policy = self.policy_for(target)
        if policy is None:
            return None
        if relation.kind == "many_many" and relation.junction is not None:
            junction = self.snapshot.table(relation.junction)
            if junction is None or self.policy_for(junction) is None:
                return None
        return relation, target, policy

    # --- filters ----------------------------------------------------------------

    def where(
        self,
        table: Table,
        alias: sql.Identifier,
        policy: Policy,
        client: Expr | None,
        extra: list[sql.Composable] | None = None,
    ) -> sql.Composable:
        """The WHERE clause: the client's filter AND the policy's row filter AND `extra`."""
        parts: list[sql.Composable] = list(extra or [])
        if client is not None:
            parts.append(self.expr(client, table, alias, policy))
        if policy.row_filter is not None:
            # The row filter is its own tree: compiled with every column visible to
            # it, and no client text can reach into it.
            unrestricted = Policy(readable=None, row_filter=None)
            parts.append(self.expr(policy.row_filter, table, alias, unrestricted))
        if not parts:
            return sql.SQL("")
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(
            sql.SQL("({})").format(part) for part in parts
        )

    def expr(
        self, node: Expr, table: Table, alias: sql.Identifier, policy: Policy
    ) -> sql.Composable:
        if isinstance(node, And | Or):
            glue = sql.SQL(" AND ") if isinstance(node, And) else sql.SQL(" OR ")
            return glue.join(
                sql.SQL("({})").format(self.expr(item, table, alias, policy)) for item in node.items
            )
        if isinstance(node, Not):
            return sql.SQL("NOT ({})").format(self.expr(node.item, table, alias, policy))
        if node.field.relation is not None:
            return self.related_condition(node, table, alias, policy)
        return self.condition(node, table, alias, policy)

    def related_condition(
        self,
        node: Comparison | InList | Between | IsNull | Like,
        table: Table,
        alias: sql.Identifier,
        policy: Policy,
    ) -> sql.Composable:
        """`rel.col op value`: EXISTS over the related table under its own policy."""
        relation_name = node.field.relation or ""
        full_name = f"{relation_name}.{node.field.name}"
        found = self.related_target(table, relation_name)
        if found is None:
            raise InvalidFilterField(full_name)
        relation, target, target_policy = found
        inner = self.new_alias()
        join = self.relation_join(relation, alias, inner)
        local = FieldRef(node.field.name, None, node.field.json_path, node.field.json_text)
        condition = self.condition(
            replace_field(node, local), target, inner, target_policy, shown_name=full_name
        )
        where = self.where(target, inner, target_policy, None, extra=[*join.conditions, condition])
        return sql.SQL("EXISTS (SELECT 1 FROM {} AS {}{}{})").format(
            self.table_ref(target), inner, join.junction_sql, where
        )

    def condition(
        self,
        node: Comparison | InList | Between | IsNull | Like,
        table: Table,
        alias: sql.Identifier,
        policy: Policy,
        *,
        shown_name: str | None = None,
    ) -> sql.Composable:
        ref = node.field
        shown = shown_name or ref.name
        column = self.readable_column(table, policy, ref.name)
        if column is None:
            raise InvalidFilterField(shown)
        target: sql.Composable = self.column_ref(alias, column)
        json_path = bool(ref.json_path)
        if json_path:
            if column.json_kind != "json":
                raise InvalidFilterField(shown)
            for index, key in enumerate(ref.json_path):
                last = index == len(ref.json_path) - 1
                arrow = sql.SQL(" ->> ") if last and ref.json_text else sql.SQL(" -> ")
                target = sql.SQL("{}{}{}").format(target, arrow, self.bind(key))
            target = sql.SQL("({})").format(target)

        if isinstance(node, IsNull):
            return sql.SQL("{} IS {}NULL").format(target, sql.SQL("NOT " if node.negated else ""))

        def value(raw_node: Value) -> sql.Composable:
            if json_path and ref.json_text:
                return self.bind_value(raw_node, str, shown)
            if json_path:
                kind = raw_node.kind if isinstance(raw_node, Literal) else "string"
                placeholder = self.bind_value(raw_node, partial(json_value, kind), shown)
                return sql.SQL("CAST({} AS jsonb)").format(placeholder)
            if column.json_kind not in PRECHECKED_KINDS and column.base_type != "uuid":
                self.server_checked.append(shown)
            return self.bind_value(raw_node, partial(checked_text, column, field=shown), shown)

        if isinstance(node, Comparison):
            if json_path and not ref.json_text:
                target = sql.SQL("CAST({} AS jsonb)").format(target)
            return sql.SQL("{} {} {}").format(target, COMPARE_SQL[node.op], value(node.value))
        if isinstance(node, InList):
            if json_path and not ref.json_text:
                target = sql.SQL("CAST({} AS jsonb)").format(target)
            return sql.SQL("{} {}IN ({})").format(
                target,
                sql.SQL("NOT " if node.negated else ""),
                sql.SQL(", ").join(value(item) for item in node.values),
            )
        if isinstance(node, Between):
            return sql.SQL("{} {}BETWEEN {} AND {}").format(
                target, sql.SQL("NOT " if node.negated else ""), value(node.low), value(node.high)
            )
        # LIKE family: compare as text, wildcards of CONTAINS & co. escaped.
        operator = "ILIKE" if node.op == "ILIKE" else "LIKE"
        return sql.SQL("CAST({} AS text) {}{} {} ESCAPE '\\'").format(
            target,
            sql.SQL("NOT " if node.negated else ""),
            sql.SQL(operator),
            self.bind_value(node.value, partial(like_text, node.op), shown),
        )

    # --- relations --------------------------------------------------------------

    @dataclass(frozen=True, slots=True)
    class Join:
        junction_sql: sql.Composable
        conditions: list[sql.Composable]

    def relation_join(
        self, relation: Relationship, outer: sql.Identifier, inner: sql.Identifier
    ) -> Compiler.Join:
        """How rows of the relation's target (alias `inner`) attach to a row of `outer`."""
        if relation.kind == "many_many" and relation.junction is not None:
            junction = self.snapshot.table(relation.junction)
            assert junction is not None  # checked by related_target
            j = self.new_alias()
            on = sql.SQL(" AND ").join(
                sql.SQL("{}.{} = {}.{}").format(j, sql.Identifier(jc), inner, sql.Identifier(rc))
                for jc, rc in zip(relation.junction_ref_columns, relation.ref_columns, strict=True)
            )
            conditions: list[sql.Composable] = [
                sql.SQL("{}.{} = {}.{}").format(j, sql.Identifier(jc), outer, sql.Identifier(oc))
                for jc, oc in zip(relation.junction_columns, relation.columns, strict=True)
            ]
            junction_sql = sql.SQL(" JOIN {} AS {} ON {}").format(self.table_ref(junction), j, on)
            return Compiler.Join(junction_sql, conditions)
        conditions = [
            sql.SQL("{}.{} = {}.{}").format(inner, sql.Identifier(rc), outer, sql.Identifier(oc))
            for rc, oc in zip(relation.ref_columns, relation.columns, strict=True)
        ]
        return Compiler.Join(sql.SQL(""), conditions)

    def related_column(
        self, table: Table, outer: sql.Identifier, request: RelatedRequest
    ) -> sql.Composable:
        """A select-list item rendering one relation as an object/null or an array."""
        found = self.related_target(table, request.name)
        if found is None:
            raise InvalidRelationship(request.name)
        relation, target, policy = found
        inner = self.new_alias()
        join = self.relation_join(relation, outer, inner)
        columns = self.select_columns(target, inner, policy, request.fields)
        where = self.where(target, inner, policy, None, extra=join.conditions)
        row = sql.Identifier("r")
        if relation.kind == "belongs_to":
            return sql.SQL("(SELECT row_to_json({}) FROM (SELECT {} FROM {} AS {}{}{} LIMIT 1) AS {}) AS {}").format(
                row, columns, self.table_ref(target), inner, join.junction_sql, where, row,
                sql.Identifier(request.name),
            )  # fmt: skip
        limit = min(request.limit or DEFAULT_RELATED_LIMIT, DEFAULT_RELATED_LIMIT)
        order = self.order_by(target, inner, policy, request.order, default_key=True)
        return sql.SQL(
            "(SELECT coalesce(json_agg({}), '[]'::json) FROM (SELECT {} FROM {} AS {}{}{}{} LIMIT {}) AS {}) AS {}"
        ).format(
            row, columns, self.table_ref(target), inner, join.junction_sql, where, order,
            sql.Literal(limit), row, sql.Identifier(request.name),
        )  # fmt: skip

    # --- select list, order, group ---------------------------------------------

    def select_columns(
        self, table: Table, alias: sql.Identifier, policy: Policy, fields: tuple[SelectItem, ...]
    ) -> sql.Composable:
        """Plain columns only (no aggregates), each under its own name."""
        if not fields:
            chosen = [column for column in table.columns if policy.can_read(column.name)]
            if not chosen:
                raise InvalidField("*")
        else:
            chosen = []
            for item in fields:
                if isinstance(item, Aggregate):
                    raise InvalidField(item.alias)
                column = self.readable_column(table, policy, item)
                if column is None:
                    raise InvalidField(item)
                chosen.append(column)
        return select_list(alias.as_string(None), tuple(chosen))

    def order_by(
        self,
        table: Table,
        alias: sql.Identifier,
        policy: Policy,
        items: tuple[OrderItem, ...],
        *,
        default_key: bool,
        aliases: Mapping[str, sql.Composable] | None = None,
    ) -> sql.Composable:
        terms: list[sql.Composable] = []
        for item in items:
            if aliases is not None and item.column in aliases:
                expr = aliases[item.column]
            else:
                column = self.readable_column(table, policy, item.column)
                if column is None or aliases is not None:
                    raise InvalidOrderField(item.column)
                expr = self.column_ref(alias, column)
            nulls = {"first": " NULLS FIRST", "last": " NULLS LAST", None: ""}[item.nulls]
            terms.append(
                sql.SQL("{}{}{}").format(
                    expr, sql.SQL(" DESC" if item.descending else " ASC"), sql.SQL(nulls)
                )
            )
        if not terms and default_key and table.primary_key:
            # A stable default order makes offset paging deterministic.
            terms = [
                sql.SQL("{}.{}").format(alias, sql.Identifier(name)) for name in table.primary_key
            ]
        if not terms:
            return sql.SQL("")
        return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms)

    def grouped_select(
        self, table: Table, alias: sql.Identifier, policy: Policy, query: ReadQuery
    ) -> tuple[sql.Composable, sql.Composable, dict[str, sql.Composable]]:
        """Select list, GROUP BY clause and order-able names of an aggregate query."""
        group_columns: list[Column] = []
        for name in query.group:
            column = self.readable_column(table, policy, name)
            if column is None:
                raise InvalidGroupField(name)
            group_columns.append(column)
        grouped = {column.name for column in group_columns}
        items: list[sql.Composable] = []
        names: dict[str, sql.Composable] = {}
        fields = query.fields or tuple(column.name for column in group_columns)
        for item in fields:
            if isinstance(item, Aggregate):
                if item.column is None:
                    expr: sql.Composable = sql.SQL("count(*)")
                else:
                    column = self.readable_column(table, policy, item.column)
                    if column is None or (
                        item.func in ("SUM", "AVG") and column.json_kind not in NUMERIC_KINDS
                    ):
                        raise InvalidField(item.alias)
                    expr = sql.SQL("{}({})").format(
                        AGGREGATE_SQL[item.func], self.column_ref(alias, column)
                    )
            else:
                column = self.readable_column(table, policy, item)
                if column is None:
                    raise InvalidField(item)
                if column.name not in grouped:
                    raise QueryError(
                        f"Invalid field requested: {item} (it must be grouped or aggregated)."
                    )
                expr = self.output_expr(alias, column)
            output = item.alias if isinstance(item, Aggregate) else item
            names[output] = sql.Identifier(output)
            items.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(output)))
        group_sql: sql.Composable = sql.SQL("")
        if group_columns:
            group_sql = sql.SQL(" GROUP BY ") + sql.SQL(", ").join(
                self.column_ref(alias, column) for column in group_columns
            )
        return sql.SQL(", ").join(items), group_sql, names


@functools.lru_cache(maxsize=8192)
def select_list(alias: str, columns: tuple[Column, ...]) -> sql.SQL:
    """`alias.col AS col, ...` rendered once per (alias, columns) and reused as text.

    Select lists are the largest part of most statements; quoting them once
    saves rebuilding (and re-serialising) dozens of pieces on every request.
    The text comes only from catalog names quoted by `sql.Identifier`.
    """
    items = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(
            Compiler.output_expr(sql.SQL(alias), column), sql.Identifier(column.name)
        )
        for column in columns
    )
    return sql.SQL(items.as_string(None))


def like_text(op: str, raw: object) -> str:
    """The LIKE pattern of a LIKE-family condition's value."""
    return like_pattern(op, str(raw))


def replace_field(
    node: Comparison | InList | Between | IsNull | Like, ref: FieldRef
) -> Comparison | InList | Between | IsNull | Like:
    """Return `node` with its field replaced (used to move a condition onto a related table)."""
    if isinstance(node, Comparison):
        return Comparison(ref, node.op, node.value)
    if isinstance(node, InList):
        return InList(ref, node.values, node.negated)
    if isinstance(node, Between):
        return Between(ref, node.low, node.high, node.negated)
    if isinstance(node, IsNull):
        return IsNull(ref, node.negated)
    return Like(ref, node.op, node.value, node.negated)


def key_columns(
    table: Table, id_field: tuple[str, ...] | None, policy: Policy
) -> tuple[Column, ...]:
    """The columns identifying a record: `id_field` if given, else the primary key.

    Raises QueryError when the table has no key and none was named.
    """
    names = id_field or table.primary_key
    if not names:
        raise QueryError(
            f"Table '{table.name}' has no primary key; name the identifying field with id_field."
        )
    columns = []
    for name in names:
        column = table.column(name)
        if column is None or not policy.can_read(name):
            raise InvalidField(name)
        columns.append(column)
    return tuple(columns)


def key_match(
    compiler: Compiler,
    alias: sql.Identifier,
    columns: tuple[Column, ...],
    ids: tuple[tuple[str, ...], ...],
) -> sql.Composable:
    """`(k1, k2) IN ((v, v), ...)` with each value checked and bound."""
    rows = []
    for key in ids:
        if len(key) != len(columns):
            raise QueryError(
                f"Invalid identifier '{','.join(key)}': expected {len(columns)} value(s)."
            )
        values = [
            compiler.bind(checked_text(column, part))
            for column, part in zip(columns, key, strict=True)
        ]
        rows.append(sql.SQL("({})").format(sql.SQL(", ").join(values)))
    targets = sql.SQL(", ").join(Compiler.column_ref(alias, column) for column in columns)
    return sql.SQL("({}) IN ({})").format(targets, sql.SQL(", ").join(rows))


def ids_order(
    compiler: Compiler,
    alias: sql.Identifier,
    columns: tuple[Column, ...],
    ids: tuple[tuple[str, ...], ...],
) -> sql.Composable:
    """`ORDER BY CASE ...`: records come back in the order their ids were asked for."""
    targets = sql.SQL(", ").join(Compiler.column_ref(alias, column) for column in columns)
    whens = []
    for position, key in enumerate(ids):
        values = sql.SQL(", ").join(
            compiler.bind(checked_text(column, part))
            for column, part in zip(columns, key, strict=True)
        )
        whens.append(
            sql.SQL("WHEN ({}) = ({}) THEN {}").format(targets, values, sql.Literal(position))
        )
    return sql.SQL(" ORDER BY CASE {} END").format(sql.SQL(" ").join(whens))
