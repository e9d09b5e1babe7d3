"""Firing a request's event scripts: pre_process before the operation, post_process and queued after.

One rule: generic scripts run before specific ones, each phase in that
order, and a script's changes to the event are applied only when its
`allow_event_modification` is set; an abort ends the request with its status
in the error envelope, a script error with 500 "Script error: …". A request
with no script for its event pays one in-memory dictionary look-up.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseBase, QueryDict, StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from rbac.policies import Principal
from services.api.errors import ApiError
from services.api.tunnel import TUNNELLED_METHODS, overridden_method
from services.scripting.events import fired_names
from services.scripting.state import ScriptInfo, current_scripts

logger = logging.getLogger(__name__)

TABLE_ROUTES = {"api-table": False, "api-record": True}
ROUTINE_ROUTES = {"api-function": "_func", "api-procedure": "_proc"}
# Parameters and headers that carry credentials never reach a script.
SECRET_PARAMETERS = frozenset({"api_key", "session_token", "access_token"})
SECRET_HEADER_WORDS = ("authorization", "cookie", "key", "token", "secret", "password")
MANAGED_HEADERS = frozenset({"content-length", "content-type"})


class ScriptAnswer(Exception):
    """A pre_process script answered the request itself."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("answered by an event script")
        self.response = response


@dataclass(frozen=True, slots=True)
class Fired:
    """A request's event: its names per phase and the event data after pre_process."""

    post_process: tuple[tuple[str, ScriptInfo], ...]
    queued: tuple[tuple[str, ScriptInfo], ...]
    event: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    service: str
    resource: str  # _table, _proc or _func
    name: str
    by_id: bool
    path: str  # the resource path, e.g. _table/contact/5


def target_of(request: Request, kwargs: Mapping[str, Any]) -> Target | None:
    """What the request addresses, for the routes that fire events; None for the others."""
    match = request._request.resolver_match
    route = match.url_name if match is not None else None
    service = str(kwargs.get("service", ""))
    if route in TABLE_ROUTES:
        table, pk = str(kwargs["table"]), kwargs.get("pk")
        path = f"_table/{table}" + (f"/{pk}" if pk is not None else "")
        return Target(service, "_table", table, TABLE_ROUTES[route], path)
    if route in ROUTINE_ROUTES:
        resource = ROUTINE_ROUTES[route]
        name = str(kwargs["name"]).partition("(")[0].rstrip()
        return Target(service, resource, name, False, f"{resource}/{name}")
    return None


def verb_of(request: Request) -> str:
    method = overridden_method(request)
    return method if method in TUNNELLED_METHODS else str(request.method).upper()


def parameters_of(query: QueryDict) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in query:
        if key in SECRET_PARAMETERS:
            continue
        given = query.getlist(key)
        values[key] = given if len(given) > 1 else given[-1]
    return values


def headers_of(request: Request) -> dict[str, str]:
    return {
        name: value
        for name, value in request._request.headers.items()
        if not any(word in name.lower() for word in SECRET_HEADER_WORDS)
    }


def payload_of(request: Request) -> Any:
    raw = request._request.body
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", errors="replace")


def request_event(request: Request, target: Target, verb: str) -> dict[str, Any]:
    return {
        "request": {
            "method": verb,
            "parameters": parameters_of(request.query_params),
            "headers": headers_of(request),
            "payload": payload_of(request),
            "uri": request._request.path,
            "service": target.service,
            "resource": target.path,
        },
        "resource": target.path,
        "response": None,
    }


def outcome_checked(info: ScriptInfo, outcome: Any) -> None:
    """Raise the ApiError that an aborted or failed run ends the request with."""
    if outcome.error is not None:
        raise ApiError(500, f"Script error: {outcome.error}")
    if outcome.abort is not None:
        status, message = outcome.abort
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ApiError(500, f"Script error: {info.name} aborted with status {status!r}.")
        raise ApiError(status, str(message))


def run_phase(
    scripts: tuple[tuple[str, ScriptInfo], ...],
    event: dict[str, Any],
    principal: Principal | None,
) -> dict[str, Any]:
    """Run `scripts` in order on `event`; return the event as the allowed changes left it."""
    from services.scripting.runs import script_run

    for name, info in scripts:
        outcome = script_run(
            info,
            event,
            principal=principal,
            event_name=name,
            deferred=True,
            keep_changes=info.allow_event_modification,
        )
        outcome_checked(info, outcome)
        if info.allow_event_modification and isinstance(outcome.event, Mapping):
            event = dict(outcome.event)
    return event


def phase_scripts(target: Target, verb: str, phase: str) -> tuple[tuple[str, ScriptInfo], ...]:
    state = current_scripts()
    names = fired_names(
        target.service,
        target.resource,
        target.name,
        by_id=target.by_id,
        verb=verb.lower(),
        phase=phase,
    )
    return tuple((name, info) for name in names for info in state.scripts_for(name))


def answer_of(event: Mapping[str, Any]) -> HttpResponse | None:
    """The response a pre_process script set on the event (`{status_code|status, content|body}`)."""
    given = event.get("response")
    if not isinstance(given, Mapping):
        return None
    status = given.get("status_code", given.get("status"))
    if not isinstance(status, int) or not 100 <= status <= 599:
        return None
    content = given.get("content", given.get("body"))
    response = HttpResponse(json.dumps(content), status=status, content_type="application/json")
    set_headers(response, {}, given.get("headers"))
    return response


def set_headers(response: HttpResponseBase, before: Mapping[str, str], after: Any) -> None:
    """Apply a script's header changes: added or changed ones set, removed ones dropped."""
    if not isinstance(after, Mapping):
        return
    for name in before:
        if name not in after and name.lower() not in MANAGED_HEADERS:
            del response[name]
    for name, value in after.items():
        if str(name).lower() in MANAGED_HEADERS or "\n" in str(value) or "\r" in str(value):
            continue
        if before.get(name) != value:
            response[str(name)] = str(value)


def apply_request(request: Request, before: Mapping[str, Any], after: Any) -> None:
    """Put a pre_process script's parameters and payload into the request the view reads."""
    if not isinstance(after, Mapping):
        return
    http = request._request
    parameters = after.get("parameters")
    if isinstance(parameters, Mapping) and parameters != before.get("parameters"):
        query = QueryDict(mutable=True)
        for key, value in parameters.items():
            values = value if isinstance(value, list) else [value]
            query.setlist(str(key), ["" if item is None else str(item) for item in values])
        for key in SECRET_PARAMETERS & set(http.GET):
            query.setlist(key, http.GET.getlist(key))
        http.GET = query  # type: ignore[assignment]  # Django reads GET as any QueryDict
        http.META["QUERY_STRING"] = urlencode(list(query.lists()), doseq=True)
    if "payload" in after and after["payload"] != before.get("payload"):
        raw = b"" if after["payload"] is None else json.dumps(after["payload"]).encode()
        http._body = raw  # HttpRequest.body (read by the writes) and the stream DRF parses
        http._stream = io.BytesIO(raw)
        http.META["CONTENT_LENGTH"] = str(len(raw))
        http.META["CONTENT_TYPE"] = "application/json"
        for cached in ("_full_data", "_data", "_files"):
            if hasattr(request, cached):
                delattr(request, cached)


def authorize(view: Any, target: Target, verb: str) -> None:
    """Refuse (404/403, as the view itself would) a caller who may not make this call.

    No script runs for a request that would be refused anyway.
    """
    snapshot = view.snapshot(view.service(target.service))
    if target.resource == "_table":
        view.table(snapshot, target.name, verb)
    elif hasattr(view, "forms"):
        view.forms(snapshot, target.service, target.name, verb)


def pre_process(view: Any, request: Request, kwargs: Mapping[str, Any]) -> Fired | None:
    """Run the request's pre_process scripts; return what post_process needs (None: no scripts).

    Raises ApiError (abort, script error, or 404 for a service the caller
    cannot reach) or ScriptAnswer (a script answered the request).
    """
    if not current_scripts().by_event:
        return None
    from services.scripting.host import depth, max_depth

    if depth.get() >= max_depth():
        return None  # a call made by scripts nested this deep runs without scripts
    target = target_of(request, kwargs)
    if target is None:
        return None
    verb = verb_of(request)
    pre = phase_scripts(target, verb, "pre_process")
    post = phase_scripts(target, verb, "post_process")
    queued = phase_scripts(target, verb, "queued")
    if not (pre or post or queued):
        return None
    authorize(view, target, verb)
    event = request_event(request, target, verb)
    if pre:
        original = event["request"]
        event = run_phase(pre, event, view.principal)
        answer = answer_of(event)
        if answer is not None:
            raise ScriptAnswer(answer)
        apply_request(request, original, event.get("request"))
    return Fired(post, queued, event)


def response_parts(response: HttpResponseBase) -> tuple[int, Any, dict[str, str]]:
    """(status, content, headers) of a response; a stream is read (and kept for sending)."""
    from services.scripting.host import parse_content

    headers = {key: value for key, value in response.items() if key.lower() != "set-cookie"}
    if isinstance(response, Response):
        return response.status_code, response.data, headers
    if isinstance(response, StreamingHttpResponse):
        raw = b"".join(response.streaming_content)  # type: ignore[arg-type]  # sync iterator
        response.streaming_content = [raw]
    else:
        raw = response.content  # type: ignore[attr-defined]  # HttpResponse and subclasses
    return response.status_code, parse_content(raw, response.get("Content-Type", "")), headers


def post_process(
    view: Any, request: Request, response: HttpResponseBase, fired: Fired
) -> HttpResponseBase:
    """Run the post_process scripts on `response`, then queue the queued ones; return the answer."""
    if not fired.post_process and not fired.queued:
        return response
    status, content, headers = response_parts(response)
    before = {"status_code": status, "content": content, "headers": headers}
    event = {**fired.event, "response": before}
    if fired.post_process:
        try:
            event = run_phase(fired.post_process, event, view.principal)
        except ApiError as error:
            return view.handle_exception(error)  # type: ignore[no-any-return]
        after = event.get("response")
        if isinstance(after, Mapping) and after != before:
            response = changed_response(response, before, after)
    if fired.queued:
        from services.scripting.background import enqueue_queued

        enqueue_queued(fired.queued, event, view.principal)
    return response


def changed_response(
    response: HttpResponseBase, before: Mapping[str, Any], after: Mapping[str, Any]
) -> HttpResponseBase:
    """A response with the status, content and headers a post_process script left."""
    status = after.get("status_code")
    if not isinstance(status, int) or not 100 <= status <= 599:
        status = before["status_code"]
    content = after.get("content")
    if content == before["content"] and status == before["status_code"]:
        changed: HttpResponseBase = response
    else:
        changed = HttpResponse(json.dumps(content), status=status, content_type="application/json")
        for name, value in before["headers"].items():
            if name.lower() not in MANAGED_HEADERS:
                changed[name] = value
    set_headers(changed, before["headers"], after.get("headers"))
    return changed
