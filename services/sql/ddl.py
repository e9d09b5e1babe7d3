"""Schema changes on a service database: create, alter and drop tables and columns from specs.

One rule: no client text is ever spliced into a statement. Names must follow
PostgreSQL's identifier rules (at most 63 bytes) and are quoted with
`sql.Identifier`; types come from the fixed map of DreamFactory's simple
types, or from a `db_type` that matches a strict pattern (a type name and
optional numeric or identifier modifiers); defaults are `sql.Literal`s or one
of a few fixed expressions. Every step runs in the caller's transaction, and
the first failure raises a `DdlError` whose message names the table or
field, never the server's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from services.sql.ddl_errors import translate_error
from services.sql.ddl_specs import (
    MAX_NAME_BYTES,
    NAME_PATTERN,
    REF_ACTIONS,
    TIMESTAMP_DEFAULT_TYPES,
    AlterTable,
    Change,
    CreateTable,
    DdlError,
    DropTable,
    FieldSpec,
    ForeignRef,
    Step,
    TableSpec,
    check_name,
    default_sql,
    resolve_type,
)
from services.sql.schema import SchemaSnapshot, Table

__all__ = [
    "AlterTable",
    "Change",
    "CreateTable",
    "DdlError",
    "DropTable",
    "FieldSpec",
    "ForeignRef",
    "TableSpec",
    "apply_schema_changes",
    "check_name",
    "split_table_name",
]


def split_table_name(name: str, schemas: Sequence[str]) -> tuple[str, str, str]:
    """Return (schema, table, API name) for an API table name; raise DdlError.

    A bare name lives in the service's first schema; `schema.name` in another
    schema the service exposes.
    """
    parts = name.split(".") if isinstance(name, str) else [name]
    if len(parts) == 2 and parts[0] in schemas:
        schema, bare = parts[0], check_name(parts[1], "table")
    elif len(parts) == 2 and NAME_PATTERN.match(parts[0]) and NAME_PATTERN.match(parts[1]):
        raise DdlError(f"Schema '{parts[0]}' is not exposed by this service.")
    else:
        schema, bare = schemas[0], check_name(name, "table")
    api_name = bare if schema == schemas[0] else f"{schema}.{bare}"
    return schema, bare, api_name


def apply_schema_changes(
    conn: psycopg.Connection[Any], snapshot: SchemaSnapshot, changes: Sequence[Change]
) -> list[str]:
    """Run `changes` in order on `conn` (inside the caller's transaction).

    Returns the API names of the tables changed, in order. Raises DdlError
    for anything the request got wrong or the database refused (the caller's
    transaction must then be rolled back), and psycopg.OperationalError when
    the connection fails.
    """
    created: dict[str, tuple[str, str, TableSpec]] = {}
    names: list[str] = []
    for change in changes:
        if isinstance(change, CreateTable):
            schema, bare, api_name = split_table_name(change.spec.name, snapshot.schemas)
            if api_name in created:
                raise DdlError(f"Table '{api_name}' is given more than once.")
            created[api_name] = (schema, bare, change.spec)
            steps = create_steps(snapshot, change.spec, (schema, bare, api_name), created)
        elif isinstance(change, AlterTable):
            api_name = change.table.name
            steps = alter_steps(snapshot, change, created)
        else:
            api_name = change.table.name
            target = sql.Identifier(change.table.sql_schema, change.table.sql_name)
            steps = [Step(sql.SQL("DROP TABLE {}").format(target), "drop_table", api_name)]
        for step in steps:
            run_step(conn, step)
        names.append(api_name)
    return names


def run_step(conn: psycopg.Connection[Any], step: Step) -> None:
    """Execute one step; a server error becomes the DdlError a client sees."""
    try:
        conn.execute(step.statement, prepare=False)
    except psycopg.Error as error:
        translated = translate_error(error, step)
        if translated is None:
            raise
        raise translated from None


def create_steps(
    snapshot: SchemaSnapshot,
    spec: TableSpec,
    where: tuple[str, str, str],
    created: Mapping[str, tuple[str, str, TableSpec]],
) -> list[Step]:
    """The statements creating one table: CREATE TABLE, then indexes and comments."""
    schema, bare, api_name = where
    if not spec.fields:
        raise DdlError(f"Table '{api_name}' needs at least one field.")
    target = sql.Identifier(schema, bare)
    seen: set[str] = set()
    items: list[sql.Composable] = []
    keys: list[str] = []
    later: list[Step] = []
    for item in spec.fields:
        name = check_name(item.name)
        if name in seen:
            raise DdlError(f"Field '{name}' is given more than once in table '{api_name}'.")
        seen.add(name)
        if not item.type_given:
            raise DdlError(f"Field '{name}' needs a type.")
        items.append(column_definition(snapshot, item, api_name, created, inline_key=False))
        if item.type == "id" or item.is_primary_key:
            keys.append(name)
        later.extend(field_extras((schema, bare), api_name, item))
    if keys:
        items.append(
            sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, keys)))
        )
    statement = sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(items))
    steps = [Step(statement, "create_table", api_name)]
    steps.extend(later)
    if spec.has_description:
        steps.append(
            Step(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(target, sql.Literal(spec.description)),
                "comment",
                api_name,
            )
        )
    return steps


def alter_steps(
    snapshot: SchemaSnapshot, change: AlterTable, created: Mapping[str, tuple[str, str, TableSpec]]
) -> list[Step]:
    """The statements changing one table: drops, additions, then alterations."""
    table = change.table
    api_name = table.name
    target = sql.Identifier(table.sql_schema, table.sql_name)
    steps: list[Step] = []
    for name in change.drop:
        steps.append(
            Step(
                sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(target, sql.Identifier(name)),
                "drop",
                api_name,
                name,
            )
        )
    for item in change.add:
        name = check_name(item.name)
        if not item.type_given:
            raise DdlError(f"Field '{name}' needs a type.")
        definition = column_definition(snapshot, item, api_name, created, inline_key=True)
        steps.append(
            Step(
                sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(target, definition),
                "add",
                api_name,
                name,
            )
        )
        steps.extend(field_extras((table.sql_schema, table.sql_name), api_name, item))
    for item in change.alter:
        steps.extend(alter_field_steps(snapshot, table, item, created))
    if change.has_description:
        steps.append(
            Step(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    target, sql.Literal(change.description)
                ),
                "comment",
                api_name,
            )
        )
    return steps


def column_definition(
    snapshot: SchemaSnapshot,
    item: FieldSpec,
    table: str,
    created: Mapping[str, tuple[str, str, TableSpec]],
    *,
    inline_key: bool,
) -> sql.Composable:
    """`name type [identity] [NOT NULL] [DEFAULT …] [UNIQUE] [PRIMARY KEY] [REFERENCES …]`."""
    resolved = resolve_type(item)
    parts: list[sql.Composable] = [sql.Identifier(item.name), resolved.sql]
    is_id = item.type == "id"
    if is_id or item.auto_increment:
        if not resolved.integer:
            raise DdlError(f"Field '{item.name}' must have an integer type to auto-increment.")
        parts.append(sql.SQL("GENERATED BY DEFAULT AS IDENTITY"))
    if is_id or item.is_primary_key or item.allow_null is False:
        parts.append(sql.SQL("NOT NULL"))
    if item.has_default and item.default is not None and not (is_id or item.auto_increment):
        parts.append(sql.SQL("DEFAULT {}").format(default_sql(item.default)))
    elif item.type in TIMESTAMP_DEFAULT_TYPES and not item.has_default:
        parts.append(sql.SQL("DEFAULT now()"))
    if item.is_unique and not (is_id or item.is_primary_key):
        parts.append(sql.SQL("UNIQUE"))
    if inline_key and (is_id or item.is_primary_key):
        parts.append(sql.SQL("PRIMARY KEY"))
    if item.reference is not None:
        parts.append(references_sql(snapshot, item.reference, item.name, created))
    return sql.SQL(" ").join(parts)


def field_extras(where: tuple[str, str], table: str, item: FieldSpec) -> list[Step]:
    """The index and comment of a new field, as separate statements."""
    steps: list[Step] = []
    if item.is_index:
        steps.append(index_step(where, table, item.name))
    if item.has_description:
        steps.append(comment_step(where, table, item))
    return steps


def index_step(where: tuple[str, str], table: str, name: str) -> Step:
    # A name of our own (table_column_idx) makes "IF NOT EXISTS" work, so
    # asking for an index twice does nothing the second time.
    index = f"{where[1]}_{name}_idx".encode()[:MAX_NAME_BYTES].decode(errors="ignore")
    statement = sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
        sql.Identifier(index), sql.Identifier(*where), sql.Identifier(name)
    )
    return Step(statement, "index", table, name)


def comment_step(where: tuple[str, str], table: str, item: FieldSpec) -> Step:
    column = sql.Identifier(*where, item.name)
    statement = sql.SQL("COMMENT ON COLUMN {} IS {}").format(column, sql.Literal(item.description))
    return Step(statement, "comment", table, item.name)


def alter_field_steps(
    snapshot: SchemaSnapshot,
    table: Table,
    item: FieldSpec,
    created: Mapping[str, tuple[str, str, TableSpec]],
) -> list[Step]:
    """The statements changing what `item` gives of an existing column, and nothing else.

    What already holds (same type, same nullability, identity, key, unique,
    foreign key) is not asked again, so sending a field's whole current
    definition back changes nothing.
    """
    column = table.column(item.name)
    if column is None:
        raise DdlError(f"Field '{item.name}' does not exist in table '{table.name}'.", 404)
    target = sql.Identifier(table.sql_schema, table.sql_name)
    name = sql.Identifier(item.name)
    api_name = table.name
    steps: list[Step] = []

    def alter(clause: sql.Composable, type_text: str | None = None) -> None:
        statement = sql.SQL("ALTER TABLE {} ALTER COLUMN {} {}").format(target, name, clause)
        steps.append(Step(statement, "alter", api_name, item.name, type_text))

    is_id = item.type == "id"
    wants_identity = is_id or bool(item.auto_increment)
    if item.type_given:
        resolved = resolve_type(item)
        # An auto-numbered integer key stays as it is when asked to be an "id".
        keeps_id = is_id and column.auto and column.json_kind == "integer"
        if resolved.catalog != column.type_name.lower() and not keeps_id:
            alter(
                sql.SQL("TYPE {} USING {}::{}").format(resolved.sql, name, resolved.sql),
                resolved.text,
            )
        if wants_identity and not resolved.integer:
            raise DdlError(f"Field '{item.name}' must have an integer type to auto-increment.")
    if (is_id or item.allow_null is False or item.is_primary_key) and column.nullable:
        alter(sql.SQL("SET NOT NULL"))
    elif item.allow_null is True and not column.nullable and not is_id:
        alter(sql.SQL("DROP NOT NULL"))
    if wants_identity and not column.is_identity:
        alter(sql.SQL("ADD GENERATED BY DEFAULT AS IDENTITY"))
    elif item.has_default and not (wants_identity or column.is_identity or column.is_generated):
        if item.default is None:
            alter(sql.SQL("DROP DEFAULT"))
        else:
            alter(sql.SQL("SET DEFAULT {}").format(default_sql(item.default)))
    if (is_id or item.is_primary_key) and item.name not in table.primary_key:
        statement = sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(target, name)
        steps.append(Step(statement, "alter", api_name, item.name))
    already_unique = (item.name,) in table.unique or table.primary_key == (item.name,)
    if item.is_unique and not already_unique and not (is_id or item.is_primary_key):
        statement = sql.SQL("ALTER TABLE {} ADD UNIQUE ({})").format(target, name)
        steps.append(Step(statement, "alter", api_name, item.name))
    if item.reference is not None and not any(
        fk.columns == (item.name,) for fk in table.foreign_keys
    ):
        statement = sql.SQL("ALTER TABLE {} ADD FOREIGN KEY ({}) {}").format(
            target, name, references_sql(snapshot, item.reference, item.name, created)
        )
        steps.append(Step(statement, "reference", api_name, item.name))
    if item.is_index:
        steps.append(index_step((table.sql_schema, table.sql_name), api_name, item.name))
    if item.has_description:
        steps.append(comment_step((table.sql_schema, table.sql_name), api_name, item))
    return steps


def references_sql(
    snapshot: SchemaSnapshot,
    ref: ForeignRef,
    field_name: str,
    created: Mapping[str, tuple[str, str, TableSpec]],
) -> sql.Composable:
    """`REFERENCES table (field) [ON DELETE …] [ON UPDATE …]`; raise DdlError for a bad target."""
    missing = DdlError(
        f"Referenced table '{str(ref.table)[:100]}' of field '{field_name}' does not exist."
    )
    target_field = ref.field
    if ref.table in created:
        schema, bare, spec = created[ref.table]
        if target_field is None:
            keys = [f.name for f in spec.fields if f.type == "id" or f.is_primary_key]
            target_field = keys[0] if len(keys) == 1 else None
    else:
        table = snapshot.table(ref.table)
        if table is None or table.is_view:
            raise missing
        schema, bare = table.sql_schema, table.sql_name
        if target_field is None and len(table.primary_key) == 1:
            target_field = table.primary_key[0]
    if target_field is None:
        raise DdlError(f"Give ref_field for field '{field_name}': its table has no single key.")
    parts: list[sql.Composable] = [
        sql.SQL("REFERENCES {} ({})").format(
            sql.Identifier(schema, bare), sql.Identifier(check_name(target_field))
        )
    ]
    for clause, action in (("ON DELETE", ref.on_delete), ("ON UPDATE", ref.on_update)):
        if action is None:
            continue
        rendered = REF_ACTIONS.get(" ".join(action.lower().split()))
        if rendered is None:
            raise DdlError(
                f"Invalid {clause.lower().replace(' ', '_')} action for field '{field_name}'."
            )
        parts.append(sql.SQL(f"{clause} {rendered}"))
    return sql.SQL(" ").join(parts)
