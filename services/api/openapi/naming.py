"""Names in a service's OpenAPI document: operation ids, tags and component names.

One rule: a name depends only on the service's, table's or routine's own name
and the verb, so it is the same in every generation of the document, for every
role (a role only sees fewer of them).

Operation ids follow DreamFactory's per-table style, `<verb word><Service><Table>`
plus what is addressed, in camel case:

| path | GET | POST | PUT | PATCH | DELETE |
|---|---|---|---|---|---|
| `_table` | `get{S}Tables` | | | | |
| `_table/{t}` | `get{S}{T}Records` | `create{S}{T}Records` | `replace{S}{T}Records` | `update{S}{T}Records` | `delete{S}{T}Records` |
| `_table/{t}/{id}` | `get{S}{T}Record` | | `replace{S}{T}Record` | `update{S}{T}Record` | `delete{S}{T}Record` |
| `_schema` | `describe{S}Schema` | `create{S}Tables` | `replace{S}Tables` | `update{S}Tables` | `delete{S}Tables` |
| `_schema/{t}` | `describe{S}{T}Table` | | `replace{S}{T}Table` | `update{S}{T}Table` | `delete{S}{T}Table` |
| `_func`, `_proc` | `get{S}Functions`, `get{S}Procedures` | | | | |
| `_func/{f}` | `call{S}{F}Function` | `call{S}{F}FunctionWithParams` | | | |
| `_proc/{p}` | `call{S}{P}Procedure` | `call{S}{P}ProcedureWithParams` | | | |
| `_spec` | `get{S}Spec` | | | | |

PUT is "replace" and PATCH "update", as in DreamFactory (both update only the
fields given). `{S}`, `{T}`, `{F}` are the names in camel case
(`contact_segments` → `ContactSegments`, `extra.notes` → `ExtraNotes`); two
tables whose names give the same camel case are told apart by a number
(`Notes`, `Notes2`) in the order of their names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WORDS = re.compile(r"[0-9A-Za-z]+")
RECORD_VERBS = {
    "GET": "get",
    "POST": "create",
    "PUT": "replace",
    "PATCH": "update",
    "DELETE": "delete",
}
SCHEMA_VERBS = {
    "GET": "describe",
    "POST": "create",
    "PUT": "replace",
    "PATCH": "update",
    "DELETE": "delete",
}


def camel(name: str) -> str:
    """`contact_segments` → `ContactSegments`; names without a letter or digit → `Unnamed`."""
    words = WORDS.findall(name)
    return "".join(word[:1].upper() + word[1:] for word in words) or "Unnamed"


def unique_camel(names: Iterable[str]) -> dict[str, str]:
    """Each name's camel case, numbered from 2 where names share one (in sorted order)."""
    taken: set[str] = set()
    result: dict[str, str] = {}
    for name in sorted(set(names)):
        base = candidate = camel(name)
        number = 1
        while candidate in taken:
            number += 1
            candidate = f"{base}{number}"
        taken.add(candidate)
        result[name] = candidate
    return result


def records_operation(verb: str, service: str, table: str, *, one: bool) -> str:
    """`getDemoContactsRecords`, `updateDemoContactsRecord` …"""
    return f"{RECORD_VERBS[verb]}{service}{table}{'Record' if one else 'Records'}"


def schema_operation(verb: str, service: str, table: str | None) -> str:
    """`describeDemoSchema`, `createDemoTables`, `describeDemoContactsTable` …"""
    if table is not None:
        return f"{SCHEMA_VERBS[verb]}{service}{table}Table"
    if verb == "GET":
        return f"describe{service}Schema"
    return f"{SCHEMA_VERBS[verb]}{service}Tables"


def routine_operation(verb: str, service: str, routine: str, *, procedure: bool) -> str:
    """`callDemoTopCompaniesFunction`, `callDemoCloseDealProcedureWithParams` …"""
    word = "Procedure" if procedure else "Function"
    return f"call{service}{routine}{word}{'WithParams' if verb == 'POST' else ''}"
