"""The `_proc` and `_func` views: list a service's stored procedures and functions, and call them.

One rule: a routine the caller has no verb on answers exactly like a routine
that does not exist (404); one reachable with other verbs only answers 403.
The views only sort a request's values into arguments and options;
`services.sql.routines` matches, builds, runs and renders.

Arguments come in DreamFactory's three forms, which may be combined:
inline in the path (`_func/add(1,2)`: positional), query parameters
(`?a=1&b=2`: by name) and the body (`{"params": [{"name": "a", "value": 1}]}`,
`{"params": [1, 2]}`, `{"params": {"a": 1}}`, or for POST a plain `{"a": 1}`).
Body `params` replace inline ones, as in DreamFactory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from django.http import HttpResponse
from rest_framework.request import Request

from services.api.describe import label
from services.api.errors import ApiError
from services.api.params import parse_bool, read_query
from services.api.reads import json_response
from services.api.tunnel import overridden_method
from services.api.views import ApiView, forbidden
from services.pools import autocommit_connection, write_transaction
from services.sql.errors import QueryError
from services.sql.routines import (
    CallResult,
    RoutineCall,
    call_function,
    call_procedure,
    choose_routine,
    compile_call,
    result_table,
)
from services.sql.schema import Routine, RoutineKind, SchemaSnapshot

VERB_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Request values that shape the answer, not arguments (unless the routine has
# an argument of that name); credentials, `method` and `params` never are.
OPTIONS = frozenset({
    "fields", "select", "filter", "where", "order", "sort", "order_by", "limit", "top",
    "offset", "skip", "wrapper", "returns", "schema", "as_list", "include_count", "refresh",
    "file", "_",
})  # fmt: skip
NEVER_ARGUMENTS = frozenset({"api_key", "session_token", "method", "params"})
SUCCESS = '{"success":true}'


def routines_of_kind(snapshot: SchemaSnapshot, kind: RoutineKind) -> dict[str, tuple[Routine, ...]]:
    """Every API name with routines of `kind`, each with its forms (overloads), by name."""
    found: dict[str, tuple[Routine, ...]] = {}
    for name, routine in snapshot.routines.items():
        forms = tuple(variant for variant in routine.variants() if variant.kind == kind)
        if forms:
            found[name] = forms
    return found


def ordered(verbs: Iterable[str]) -> list[str]:
    granted = set(verbs)
    return [verb for verb in VERB_ORDER if verb in granted]


def split_inline(path: str) -> tuple[str, str | None]:
    """`add(1, 2)` → ("add", "1, 2"); a plain name → (name, None)."""
    if "(" not in path:
        return path, None
    name, _paren, rest = path.partition("(")
    return name.rstrip(), rest


def inline_arguments(rest: str) -> tuple[object, ...]:
    """The positional values of `name(a, b)`: split at commas, quotes stripped, `null` is null."""
    text = rest.rstrip()
    if not text.endswith(")"):
        raise QueryError("Invalid inline arguments: a closing parenthesis is missing.")
    inner = text[:-1]
    if not inner.strip():
        return ()
    values: list[object] = []
    for part in inner.split(","):
        item = part.strip()
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"":
            values.append(item[1:-1])
        elif item.lower() == "null":
            values.append(None)
        else:
            values.append(item)
    return tuple(values)


def body_params(raw: Any) -> tuple[tuple[object, ...], dict[str, object]]:
    """`params`: a list of `{name, value}` (no name: positional) or of bare values, or an object."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise QueryError("Invalid value for 'params': expected a list or an object.") from None
    if isinstance(raw, dict):
        return (), {str(key): value for key, value in raw.items()}
    if not isinstance(raw, list):
        raise QueryError("Invalid value for 'params': expected a list or an object.")
    positional: list[object] = []
    named: dict[str, object] = {}
    for item in raw:
        if isinstance(item, dict) and item.get("name") not in (None, ""):
            named[str(item["name"])] = item.get("value")
        elif isinstance(item, dict) and set(item) <= {"name", "value", "param_type", "type"}:
            positional.append(item.get("value"))
        else:
            positional.append(item)
    return tuple(positional), named


class RoutineIndexView(ApiView):
    """GET /api/v2/{service}/_func (or _proc): the functions (procedures) the caller can reach."""

    kind: ClassVar[RoutineKind] = "function"
    prefix: ClassVar[str] = "_func"

    def get(self, request: Request, service: str) -> HttpResponse:
        snapshot = self.snapshot(self.service(service))
        reachable: list[tuple[str, list[str]]] = []
        for name in routines_of_kind(snapshot, self.kind):
            verbs = ordered(self.access.component_verbs(f"{self.prefix}/{name}"))
            if verbs:
                reachable.append((name, verbs))
        if parse_bool(request.query_params, "as_list"):
            return json_response(json.dumps({"resource": [name for name, _verbs in reachable]}))
        resource = [
            {"name": name, "label": label(name), "access": verbs} for name, verbs in reachable
        ]
        return json_response(json.dumps({"resource": resource}))


class ProcedureIndexView(RoutineIndexView):
    kind = "procedure"
    prefix = "_proc"


class RoutineView(ApiView):
    """GET or POST /api/v2/{service}/_func/{name} (or _proc): call the routine."""

    kind: ClassVar[RoutineKind] = "function"
    prefix: ClassVar[str] = "_func"
    word: ClassVar[str] = "Function"

    def get(self, request: Request, service: str, name: str) -> HttpResponse:
        return self.call(request, service, name, "GET")

    def post(self, request: Request, service: str, name: str) -> HttpResponse:
        verb = "GET" if overridden_method(request) == "GET" else "POST"
        return self.call(request, service, name, verb)

    def forms(
        self, snapshot: SchemaSnapshot, service: str, name: str, verb: str
    ) -> tuple[Routine, ...]:
        """The routine's forms, once the caller may use `verb` on it; else 404 or 403."""
        lead = snapshot.routines.get(name)
        forms = tuple(r for r in lead.variants() if r.kind == self.kind) if lead else ()
        component = f"{self.prefix}/{name}"
        verbs = self.access.component_verbs(component) if forms else frozenset()
        if not verbs:
            raise ApiError(404, f'{self.word} "{name}" does not exist in the database.')
        if verb not in verbs:
            raise forbidden(verb, component, service)
        return forms

    def call(self, request: Request, service: str, path: str, verb: str) -> HttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        name, inline = split_inline(path)
        forms = self.forms(snapshot, service, name, verb)
        argument_names = {arg.name for form in forms for arg in form.arguments if arg.name}
        options: dict[str, Any] = {}
        named: dict[str, object] = {}

        def sort(key: str, value: object) -> None:
            if key in NEVER_ARGUMENTS or (key in OPTIONS and key not in argument_names):
                options[key] = value
            else:
                named[key] = value

        query = request.query_params
        for key in query:
            given = query.getlist(key)
            sort(key, given if len(given) > 1 else given[-1])
        positional = inline_arguments(inline) if inline is not None else ()
        body = request.data if request.method == "POST" else None
        if request.method == "POST" and not isinstance(body, dict | list):
            # No body parses as an empty object; `"text"`, `5` or `null` is a mistake.
            raise QueryError("Invalid request body: expected an object or a list of arguments.")
        params = options.pop("params", None)
        if isinstance(body, dict):
            for key, value in body.items():
                sort(key, value)
            params = options.pop("params", params)
        elif isinstance(body, list):
            params = body
        if params is not None:
            positional, from_params = body_params(params)
            named.update(from_params)

        routine, values = choose_routine(forms, RoutineCall(positional, named))
        read, _options = read_query(options, result_table(routine), lookups=self.access.lookups)
        compiled = compile_call(snapshot, routine, values, read, max_records=config.max_records)
        if routine.kind == "procedure":
            with autocommit_connection(config) as conn:
                result = call_procedure(conn, compiled)
        else:
            with write_transaction(config) as conn:
                result = call_function(conn, compiled)
        return json_response(answer(result, options, offset=read.offset, page=compiled.page_size))


class ProcedureView(RoutineView):
    kind = "procedure"
    prefix = "_proc"
    word = "Procedure"


def answer(result: CallResult, options: Mapping[str, Any], *, offset: int, page: int) -> str:
    """The response body: the bare value or object, `{"resource": […]}`, or success.

    `wrapper=name` puts the result under that key instead (DreamFactory's option).
    """
    wrapper = options.get("wrapper")
    if result.shape == "none":
        return SUCCESS
    if wrapper:
        return "{" + json.dumps(str(wrapper)) + ":" + result.body + "}"
    if result.shape != "rows":
        return result.body
    body = '{"resource":' + result.body
    if result.truncated:
        body += ',"meta":' + json.dumps({"next": offset + page})
    return body + "}"
