"""The query and header parameters of each kind of operation, as API.md lists them.

One rule: every parameter the API reads is documented where it is read, with
DreamFactory's name and each of its aliases (`fields`/`select` …); examples
only name columns and relations the caller can read, so a parameter never
reveals what the role hides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter

from services.api.openapi.serializers import required_arguments
from services.api.openapi.types import scalar_schema
from services.api.params import MAX_OFFSET
from services.api.routines import NEVER_ARGUMENTS
from services.sql.schema import Routine

STRING: dict[str, Any] = {"type": "string"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
WORDS = " (also `1`/`0`, `yes`/`no`, `on`/`off`)"


def query(
    name: str,
    schema: dict[str, Any],
    description: str,
    examples: Sequence[tuple[str, Any]] = (),
    *,
    required: bool = False,
) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        type=schema,
        location=OpenApiParameter.QUERY,
        required=required,
        description=description,
        examples=[OpenApiExample(title, value=value) for title, value in examples],
    )


def aliased(
    names: Sequence[str],
    schema: dict[str, Any],
    description: str,
    examples: Sequence[tuple[str, Any]] = (),
) -> list[OpenApiParameter]:
    """The parameter `names[0]` and its aliases (described as such)."""
    first, *others = names
    found = [query(first, schema, description, examples)]
    found += [query(name, schema, f"Alias of `{first}`.") for name in others]
    return found


def flag(name: str, description: str) -> OpenApiParameter:
    return query(name, BOOLEAN, description + WORDS + ".")


def fields_parameters(readable: Sequence[str], *, aggregates: bool) -> list[OpenApiParameter]:
    text = (
        "Comma-separated fields to return; `*` for every field. A field the role may not "
        "read answers 400 `Invalid field requested: x`, as a field that does not exist does."
    )
    if aggregates:
        text += (
            " With `group`, aggregates `COUNT(*)`, `SUM(c)`, `AVG(c)`, `MIN(c)`, `MAX(c)` may "
            "be listed too."
        )
    examples = [("Some fields", ",".join(readable[:2]))] if readable else []
    return aliased(("fields", "select"), STRING, text, examples)


def filter_parameters(readable: Sequence[str]) -> list[OpenApiParameter]:
    text = (
        "Filter in DreamFactory's language: `field op value` with `=`, `!=`, `<`, `<=`, `>`, "
        "`>=`, `IN (…)`, `BETWEEN … AND …`, `IS [NOT] NULL`, `LIKE`, `ILIKE`, `CONTAINS`, "
        "`STARTS WITH`, `ENDS WITH`, combined with `AND`, `OR`, `NOT` and parentheses. "
        "Values: quoted strings, numbers, `true`/`false`/`null`, `:param` placeholders "
        "(see `params`) and `{lookup}`s. Every value is bound and cast to the field's type; "
        "the role's own row filter always applies as well."
    )
    examples = [("Not null", f"{readable[0]} IS NOT NULL")] if readable else []
    return [
        *aliased(("filter", "where"), STRING, text, examples),
        query(
            "params",
            STRING,
            "Values of the filter's `:name` placeholders: a JSON object, or a JSON list of "
            '`{"name", "value"}` (usually sent in a tunnelled POST body).',
            [("Placeholders", '{"status": "lead"}')],
        ),
    ]


def related_parameters(relations: Sequence[str]) -> list[OpenApiParameter]:
    """`related` and each reachable relation's `.fields`, `.limit` and `.order`."""
    if not relations:
        return []
    listed = ", ".join(f"`{name}`" for name in relations)
    found = [
        query(
            "related",
            STRING,
            f"Comma-separated relations to embed in each record, or `*` for all: {listed}. "
            "Belongs-to relations give an object or null, the others an array.",
            [("One relation", relations[0])],
        )
    ]
    for name in relations:
        found += [
            query(
                f"{name}.fields",
                STRING,
                f"Fields of the embedded `{name}` records (also `{name}_fields`).",
            ),
            query(
                f"{name}.limit",
                {"type": "integer"},
                f"Most `{name}` records per record (also `{name}_limit`).",
            ),
            query(
                f"{name}.order",
                STRING,
                f"Order of the embedded `{name}` records (also `{name}_order`).",
            ),
        ]
    return found


def paging_parameters(max_records: int) -> list[OpenApiParameter]:
    return [
        *aliased(
            ("limit", "top"),
            {"type": "integer"},
            f"Most records to return; outside 1..{max_records} the service's maximum "
            f"({max_records}, or the role's page cap) applies.",
        ),
        *aliased(
            ("offset", "skip"),
            {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            "Records to skip before the first one returned.",
        ),
    ]


def order_parameters(readable: Sequence[str]) -> list[OpenApiParameter]:
    examples = [("Descending", f"{readable[0]} desc")] if readable else []
    return aliased(
        ("order", "sort", "order_by"),
        STRING,
        "Comma-separated `field [asc|desc] [nulls first|last]`.",
        examples,
    )


def ids_parameters(*, key_size: int) -> list[OpenApiParameter]:
    composite = " Composite keys: the key's values joined by `,`, records by `|` (`1,1|1,2`)."
    return [
        query(
            "ids",
            STRING,
            "Comma-separated identifiers of the records to address."
            + (composite if key_size > 1 else ""),
            [("Identifiers", "1,2,3" if key_size <= 1 else "1,1|1,2")],
        ),
        query(
            "id_field",
            STRING,
            "Comma-separated fields that identify a record instead of the primary key.",
        ),
    ]


def read_list_parameters(
    readable: Sequence[str], relations: Sequence[str], *, max_records: int, key_size: int
) -> list[OpenApiParameter]:
    """GET `_table/{table}`."""
    return [
        *fields_parameters(readable, aggregates=True),
        *filter_parameters(readable),
        *ids_parameters(key_size=key_size),
        *related_parameters(relations),
        *paging_parameters(max_records),
        *order_parameters(readable),
        *aliased(("group", "group_by"), STRING, "Comma-separated fields to group by."),
        flag("include_count", 'Add `"meta": {"count": N}` with the number of matching records'),
        flag("count_only", "Answer the number of matching records only, as a bare number"),
        flag(
            "include_schema",
            "Add the table's description (as `_schema/{table}`) under `meta.schema`",
        ),
        flag("as_list", "Answer the records' identifiers only"),
        query(
            "file",
            STRING,
            "Download as a file of this name; a name ending in `.csv` streams CSV, `.ndjson` "
            "or `.jsonl` one JSON object per line (as `Accept: text/csv` or "
            "`application/x-ndjson` do). Streams are not capped by the maximum page size.",
        ),
    ]


def read_one_parameters(
    readable: Sequence[str], relations: Sequence[str]
) -> list[OpenApiParameter]:
    """GET `_table/{table}/{id}`."""
    return [
        *fields_parameters(readable, aggregates=False),
        query(
            "id_field",
            STRING,
            "Comma-separated fields that identify the record in the path "
            "instead of the primary key.",
        ),
        *related_parameters(relations),
    ]


def idempotency_header() -> OpenApiParameter:
    return OpenApiParameter(
        "Idempotency-Key",
        type=STRING,
        location=OpenApiParameter.HEADER,
        description=(
            "A retried request with the same key and body answers as the first one did and "
            "writes nothing again (for 24 hours). The same key with another request: 422; "
            "while the first request still runs: 409."
        ),
        examples=[OpenApiExample("Key", value="8e03978e-40d5-43e8-bc93-6894a57f9324")],
    )


def write_parameters(
    verb: str, readable: Sequence[str], *, one: bool, key_size: int
) -> list[OpenApiParameter]:
    """POST / PUT / PATCH / DELETE on `_table/{table}` (`one`: on `_table/{table}/{id}`)."""
    found = [
        *aliased(
            ("fields", "select"),
            STRING,
            "Fields of the written records to answer with (`*` for all readable ones); by "
            "default only the identifying fields.",
            [("Whole records", "*")] if readable else [],
        ),
        query(
            "id_field",
            STRING,
            "Comma-separated fields that identify a record instead of the primary key.",
        ),
        idempotency_header(),
    ]
    if verb != "DELETE":
        found.append(
            flag(
                "allow_related_delete",
                "Delete embedded has-many records a nested write unlinks, instead of refusing",
            )
        )
    if one:
        return found
    found += [
        flag("continue", "Try every record and keep the successes (not with `rollback`)"),
        flag("rollback", "Write all records in one transaction, undone on the first failure"),
        flag("as_list", "Answer the written records' identifiers only"),
    ]
    if verb != "POST":
        found += [
            query(
                "ids",
                STRING,
                "Identifiers of the records to address (the body's first record is applied to "
                "each).",
                [("Identifiers", "1,2,3" if key_size <= 1 else "1,1|1,2")],
            ),
            *aliased(
                ("filter", "where"),
                STRING,
                "Address the records matching this filter (in the `filter` language of reads).",
            ),
            query("params", STRING, "Values of the filter's `:name` placeholders (JSON)."),
        ]
    if verb == "DELETE":
        found.append(
            flag("force", "Delete every record the role may see when nothing else is given")
        )
    return found


def routine_parameters(forms: Sequence[Routine], verb: str) -> list[OpenApiParameter]:
    """GET: the arguments by name, and the result options; POST: the result options only.

    An argument without a default in every form is required.
    """
    found: list[OpenApiParameter] = []
    names: set[str] = set()
    required = required_arguments(forms)
    if verb == "GET":
        for form in forms:
            for argument in form.arguments:
                if argument.mode not in ("IN", "INOUT", "VARIADIC"):
                    continue
                if not argument.name or argument.name in names | NEVER_ARGUMENTS:
                    continue
                names.add(argument.name)
                schema = STRING
                if argument.json_kind not in ("array", "json", "geojson"):
                    schema = scalar_schema(argument.json_kind, argument.base_type)
                default = " (has a default)" if argument.has_default else ""
                found.append(
                    query(
                        argument.name,
                        schema,
                        f"Argument `{argument.name}` ({argument.type_name}){default}. Arguments "
                        "may also be given inline, `name(1,2)`.",
                        required=argument.name in required,
                    )
                )
    options: list[OpenApiParameter] = [
        query("wrapper", STRING, "Answer the result under this key of an object.")
    ]
    if any(form.returns_set for form in forms):
        options += [
            *aliased(("fields", "select"), STRING, "Comma-separated result fields to return."),
            *aliased(("filter", "where"), STRING, "Filter the result rows (filter language)."),
            *aliased(("order", "sort", "order_by"), STRING, "Order of the result rows."),
            *aliased(("limit", "top"), {"type": "integer"}, "Most rows to return."),
            *aliased(
                ("offset", "skip"),
                {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                "Rows to skip.",
            ),
        ]
    return found + [option for option in options if option.name not in names]


def tables_parameters(*, superuser: bool) -> list[OpenApiParameter]:
    found = [flag("as_list", "Answer the tables' names only")]
    if superuser:
        found.append(flag("refresh", "Read the database's schema again first"))
    return found


def schema_delete_parameters() -> list[OpenApiParameter]:
    return [
        query("ids", STRING, "Comma-separated names of the tables to drop."),
        query("names", STRING, "Alias of `ids`."),
    ]
