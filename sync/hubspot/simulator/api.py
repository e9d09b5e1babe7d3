"""Routing of API calls: HubSpot's paths (v3 and date-versioned), auth, scopes, limits.

One rule: a call is admitted in HubSpot's order (bearer token → 401, route →
404, scope → 403, rate limits → 429) by `admit`, and only then executed by
`execute`; both path prefixes (`/crm/v3/objects/…`, `/crm/objects/2026-03/…`)
lead to the same endpoint, and every call is counted under its route key.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from . import associations, batch, objects, properties, schemas, search
from .catalog import resolve_type
from .errors import ApiError, error_body, missing_scopes, route_not_found, unauthorized
from .messages import ApiRequest, ApiResponse
from .ratelimit import rate_limit_body
from .state import SimState

logger = logging.getLogger(__name__)

Handler = Callable[[SimState, ApiRequest, dict[str, str]], ApiResponse]

_OBJECTS = r"(?P<prefix>/crm/(?:v3/objects|objects/\d{4}-\d{2}))/(?P<type>[\w-]+)"
_PROPERTIES = r"(?P<prefix>/crm/(?:v3/properties|properties/\d{4}-\d{2}))/(?P<type>[\w-]+)"
_LINKS = r"(?P<prefix>/crm/(?:v4/objects|objects/\d{4}-\d{2}))/(?P<type>[\w-]+)/(?P<id>[^/]+)/associations"
_LINK_BATCH = r"(?P<prefix>/crm/(?:v4/associations|associations/\d{4}-\d{2}))/(?P<type>[\w-]+)/(?P<to>[\w-]+)/batch/"
_PLACEHOLDERS = ("id", "to_id", "name")


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: method, path pattern, handler, and the scope it needs."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    access: str = "read"  # read / write
    area: str = "objects"  # objects / schemas
    search: bool = False


def _route(method: str, pattern: str, handler: Handler, **options: Any) -> Route:
    return Route(method, re.compile(f"^{pattern}$"), handler, **options)


ROUTES: tuple[Route, ...] = (
    _route("POST", _OBJECTS + "/search", lambda s, r, p: search.search_objects(s, r, p["type"]), search=True),
    _route("POST", _OBJECTS + "/batch/read", lambda s, r, p: batch.batch_read(s, r, p["type"])),
    _route("POST", _OBJECTS + "/batch/create", lambda s, r, p: batch.batch_create(s, r, p["type"]), access="write"),
    _route("POST", _OBJECTS + "/batch/update", lambda s, r, p: batch.batch_update(s, r, p["type"]), access="write"),
    _route("POST", _OBJECTS + "/batch/upsert", lambda s, r, p: batch.batch_upsert(s, r, p["type"]), access="write"),
    _route("POST", _OBJECTS + "/batch/archive", lambda s, r, p: batch.batch_archive(s, r, p["type"]), access="write"),
    _route("POST", _OBJECTS + "/merge", lambda s, r, p: objects.merge_objects(s, r, p["type"]), access="write"),
    _route("POST", _OBJECTS + "/gdpr-delete", lambda s, r, p: objects.gdpr_delete(s, r, p["type"]), access="write"),
    _route("GET", _OBJECTS, lambda s, r, p: objects.list_objects(s, r, p["type"])),
    _route("POST", _OBJECTS, lambda s, r, p: objects.create_object(s, r, p["type"]), access="write"),
    _route("GET", _OBJECTS + r"/(?P<id>[^/]+)", lambda s, r, p: objects.get_object(s, r, p["type"], p["id"])),
    _route("PATCH", _OBJECTS + r"/(?P<id>[^/]+)", lambda s, r, p: objects.update_object(s, r, p["type"], p["id"]), access="write"),
    _route("DELETE", _OBJECTS + r"/(?P<id>[^/]+)", lambda s, r, p: objects.archive_object(s, r, p["type"], p["id"]), access="write"),
    _route("GET", _PROPERTIES, lambda s, r, p: properties.list_properties(s, r, p["type"]), area="schemas"),
    _route("POST", _PROPERTIES, lambda s, r, p: properties.create_property(s, r, p["type"]), access="write", area="schemas"),
    _route("GET", _PROPERTIES + r"/(?P<name>[^/]+)", lambda s, r, p: properties.get_property(s, r, p["type"], p["name"]), area="schemas"),
    _route("GET", r"(?P<prefix>/crm/v3/schemas)", lambda s, r, p: schemas.list_schemas(s, r), area="schemas"),
    _route("GET", r"(?P<prefix>/crm/v3/schemas)/(?P<type>[^/]+)", lambda s, r, p: schemas.get_schema(s, r, p["type"]), area="schemas"),
    _route("PUT", _LINKS + r"/default/(?P<to>[\w-]+)/(?P<to_id>[^/]+)", lambda s, r, p: associations.put_default(s, r, p["type"], p["id"], p["to"], p["to_id"]), access="write"),
    _route("PUT", _LINKS + r"/(?P<to>[\w-]+)/(?P<to_id>[^/]+)", lambda s, r, p: associations.put_labelled(s, r, p["type"], p["id"], p["to"], p["to_id"]), access="write"),
    _route("DELETE", _LINKS + r"/(?P<to>[\w-]+)/(?P<to_id>[^/]+)", lambda s, r, p: associations.delete_link(s, r, p["type"], p["id"], p["to"], p["to_id"]), access="write"),
    _route("GET", _LINKS + r"/(?P<to>[\w-]+)", lambda s, r, p: associations.list_links(s, r, p["type"], p["id"], p["to"])),
    _route("POST", _LINK_BATCH + "read", lambda s, r, p: associations.batch_links(s, r, p["type"], p["to"], "read")),
    _route("POST", _LINK_BATCH + "create", lambda s, r, p: associations.batch_links(s, r, p["type"], p["to"], "create"), access="write"),
    _route("POST", _LINK_BATCH + "associate/default", lambda s, r, p: associations.batch_links(s, r, p["type"], p["to"], "associate/default"), access="write"),
    _route("POST", _LINK_BATCH + "archive", lambda s, r, p: associations.batch_links(s, r, p["type"], p["to"], "archive"), access="write"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Admitted:
    """A call that passed auth, routing, scopes and limits."""

    route: Route
    params: dict[str, str]
    key: str
    token: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Refused:
    """A call answered before it reached its endpoint (401, 403, 404, 429)."""

    key: str
    response: ApiResponse


def _match(method: str, path: str) -> tuple[Route, re.Match[str]] | None:
    for route in ROUTES:
        if route.method == method:
            found = route.pattern.match(path)
            if found is not None:
                return route, found
    return None


def _route_key(method: str, path: str, found: re.Match[str] | None) -> str:
    """`METHOD path` with record ids replaced by placeholders, for the request counters."""
    if found is None:
        return f"{method} {path}"
    key, last = [], 0
    for name in _PLACEHOLDERS:
        if name in found.re.groupindex and found.group(name) is not None:
            start, end = found.span(name)
            key.append(path[last:start] + "{" + name + "}")
            last = end
    return f"{method} {''.join(key)}{path[last:]}"


def _required_scope(route: Route, params: Mapping[str, str]) -> str | None:
    object_type = resolve_type(params.get("type", "p_pets"))
    if object_type is None:
        return None  # the endpoint answers 400 for an unknown type
    return f"crm.{route.area}.{object_type.scope}.{route.access}"


def _error(error: ApiError) -> ApiResponse:
    return ApiResponse(error.status, error.body, error.headers)


def admit(state: SimState, method: str, path: str, authorization: str | None) -> Admitted | Refused:
    """Decide whether a call reaches its endpoint; count it against the token's limits."""
    matched = _match(method, path)
    key = _route_key(method, path, matched[1] if matched else None)
    config = state.config
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() not in config.tokens:
        return Refused(key, _error(unauthorized()))
    token = token.strip()
    if matched is None:
        return Refused(key, _error(route_not_found(method, path)))
    route, found = matched
    # Path segments arrive percent-encoded (`ann%40example.com` as an idProperty value).
    params = {
        name: unquote(value) for name, value in found.groupdict().items() if value is not None
    }
    scopes = config.tokens[token]
    required = _required_scope(route, params)
    if scopes is not None and required is not None and required not in scopes:
        return Refused(key, _error(missing_scopes(required)))
    decision = state.limiter.check(token, search=route.search, config=config)
    if decision.policy is not None:
        headers = dict(decision.headers)
        if decision.retry_after is not None:
            headers["Retry-After"] = str(decision.retry_after)
        return Refused(key, ApiResponse(429, rate_limit_body(decision.policy), headers))
    return Admitted(route, params, key, token, decision.headers)


def execute(
    state: SimState,
    admitted: Admitted,
    *,
    path: str,
    query: Mapping[str, list[str]],
    raw_body: bytes,
    base_url: str,
) -> ApiResponse:
    """Run an admitted call's endpoint; errors become HubSpot error answers."""
    try:
        body = _parse_json(raw_body)
        request = ApiRequest(admitted.route.method, path, query, body, base_url, admitted.token)
        response = admitted.route.handler(state, request, admitted.params)
    except ApiError as error:
        response = _error(error)
    except Exception:  # a fault of the simulator itself: answer like HubSpot's 500
        logger.exception("HubSpot simulator failed on %s", admitted.key)
        response = ApiResponse(500, error_body("internal error", "INTERNAL_ERROR"))
    return ApiResponse(response.status, response.body, {**admitted.headers, **response.headers})


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as problem:
        line = getattr(problem, "lineno", 1)
        column = getattr(problem, "colno", 1)
        message = f"Invalid input JSON on line {line}, column {column}: {problem}"
        raise ApiError(400, error_body(message, "VALIDATION_ERROR")) from None
