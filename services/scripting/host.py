"""The parent side of a script's platform calls: `platform.api`, `platform.store`, `platform.http`.

One rule: a script never gains rights. `platform.api` calls Sluicegate's own
API in-process as the caller (or, for a scheduled script, its chosen app)
with requestor SCRIPT, so the role's SCRIPT rules decide, and each call is
in the audit trail as requestor SCRIPT. Scripts fire in
calls nested up to `SLUICEGATE_SCRIPT_MAX_DEPTH` (2) deep; a call nested
deeper runs without scripts, so a chain holds at most that many sandbox
workers at once and always ends. `platform.store` only reaches the script's
own Redis namespace; `platform.http` only reaches allow-listed hosts.
"""

from __future__ import annotations

import contextvars
import io
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIRequest
from django.http import StreamingHttpResponse
from django.urls import Resolver404, resolve

from config.installation import installation
from config.middleware import current_request_id, request_id_for
from rbac.audit import AuditMiddleware
from rbac.policies import REQUESTOR_SCRIPT, Principal
from services.api.errors import envelope
from services.scripting.state import current_scripts

API_PREFIX = "/api/v2/"
DEFAULT_MAX_DEPTH = 2
STORE_KEY_LIMIT = 200
STORE_VALUE_LIMIT = 64 * 1024
HTTP_BODY_LIMIT = 1024 * 1024
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
USER_AGENT = "Sluicegate-event-script"

depth: contextvars.ContextVar[int] = contextvars.ContextVar("sluicegate_script_depth", default=0)


def max_depth() -> int:
    return int(getattr(settings, "SLUICEGATE_SCRIPT_MAX_DEPTH", DEFAULT_MAX_DEPTH))


def failure(status: int, message: str) -> dict[str, Any]:
    return {"status_code": status, "content": envelope(status, message), "headers": {}}


def parse_content(raw: bytes, content_type: str) -> Any:
    """JSON content parsed; anything else as text."""
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def api_path(path: str) -> str | None:
    """`crm/_table/contact` or `/api/v2/crm/_table/contact` → the absolute path; None if neither."""
    text = str(path).strip()
    if text.startswith(API_PREFIX):
        text = text[len(API_PREFIX) :]
    text = text.lstrip("/")
    if "://" in text or "?" in text or "#" in text or ".." in text.split("/"):
        return None
    return API_PREFIX + text


def internal_request(
    method: str, path: str, payload: Any, params: Mapping[str, Any] | None, principal: Principal
) -> WSGIRequest:
    """A request to our own API, authenticated as `principal` (DRF's forced authentication)."""
    body = b"" if payload is None else json.dumps(payload).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": urlencode(dict(params or {}), doseq=True),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "internal",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_ACCEPT": "application/json",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }
    request = WSGIRequest(environ)
    request._force_auth_user = principal  # type: ignore[attr-defined]  # read by DRF's Request
    request._force_auth_token = principal  # type: ignore[attr-defined]  # read by DRF's Request
    return request


def call_api(
    principal: Principal | None,
    method: str,
    path: str,
    payload: Any = None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Call our own API in-process as `principal` with requestor SCRIPT.

    Returns {"status_code", "content", "headers"}; refusals (no identity,
    bad path, nesting too deep) come back as error envelopes, never raised.
    """
    verb = str(method).upper()
    if verb not in HTTP_METHODS:
        return failure(400, f"Unsupported method '{method}'.")
    if principal is None:
        return failure(401, "This script runs without an identity; choose an app for it.")
    if depth.get() >= max_depth():
        return failure(508, "Event scripts call each other too deeply.")
    absolute = api_path(path)
    if absolute is None:
        return failure(400, "Give a path under /api/v2, e.g. crm/_table/contact.")
    try:
        match = resolve(absolute)
    except Resolver404:
        return failure(404, "Resource not found.")
    request = internal_request(
        verb, absolute, payload, params, replace(principal, requestor=REQUESTOR_SCRIPT)
    )
    request.resolver_match = match
    # The record of the call carries the id of the request whose script made it.
    request.request_id = current_request_id() or request_id_for(request)  # type: ignore[attr-defined]

    def dispatch() -> Any:
        depth.set(depth.get() + 1)
        return match.func(request, *match.args, **match.kwargs)

    # A copied context: the nested call's database identity and depth stay its own. The
    # audit trail records the call like any API call (requestor SCRIPT, path, status).
    audited = AuditMiddleware(lambda _request: contextvars.copy_context().run(dispatch))
    response: Any = audited(request)
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    if isinstance(response, StreamingHttpResponse):
        raw = b"".join(response.streaming_content)  # type: ignore[arg-type]  # sync iterator
    else:
        raw = response.content
    content_type = response.get("Content-Type", "")
    headers = {key: value for key, value in response.items() if key.lower() != "set-cookie"}
    return {
        "status_code": response.status_code,
        "content": parse_content(raw, content_type),
        "headers": headers,
    }


def store_prefix() -> str:
    """Where this installation's script stores start in the shared cache."""
    return f"script-store:{installation()}:"


def store_key(script_id: int, key: str) -> str:
    """A script's store key, in this installation's own namespace of the shared cache."""
    return f"{store_prefix()}{script_id}:{key}"


def store_call(script_id: int, op: str, key: str, value: Any = None, ttl: int | None = None) -> Any:
    """get/set/delete in the script's own namespace; raise ValueError for bad input."""
    if not isinstance(key, str) or not key or len(key) > STORE_KEY_LIMIT:
        raise ValueError(f"A store key is a non-empty string of at most {STORE_KEY_LIMIT} chars.")
    full = store_key(script_id, key)
    if op == "get":
        return cache.get(full)
    if op == "delete":
        cache.delete(full)
        return None
    if op != "set":
        raise ValueError(f"Unknown store operation '{op}'.")
    if len(json.dumps(value)) > STORE_VALUE_LIMIT:
        raise ValueError(f"A stored value is at most {STORE_VALUE_LIMIT} bytes of JSON.")
    if ttl is not None and (not isinstance(ttl, int) or ttl < 1):
        raise ValueError("A store TTL is a positive number of seconds.")
    cache.set(full, value, timeout=ttl)
    return None


def http_call(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: Any,
    params: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Send one request to an allow-listed host; raise PermissionError for any other host."""
    verb = str(method).upper()
    if verb not in HTTP_METHODS:
        raise ValueError(f"Unsupported method '{method}'.")
    if not current_scripts().host_allowed(str(url)):
        raise PermissionError(f"Outbound HTTP to {url} is not allowed (not on the allow-list).")
    sent = {str(key): str(value) for key, value in (headers or {}).items()}
    sent.setdefault("User-Agent", USER_AGENT)
    timeout = float(getattr(settings, "SLUICEGATE_SCRIPT_HTTP_TIMEOUT", 10.0))
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))) as client:
            response = client.request(
                verb,
                str(url),
                headers=sent,
                params=dict(params or {}),
                json=body if body is not None and not isinstance(body, str | bytes) else None,
                content=body if isinstance(body, str | bytes) else None,
                follow_redirects=False,
            )
            raw = response.content[:HTTP_BODY_LIMIT]
    except httpx.HTTPError as error:  # told to the script as a ValueError with the reason
        raise ValueError(f"HTTP request to {url} failed: {type(error).__name__}") from None
    return {
        "status_code": response.status_code,
        "content": parse_content(raw, response.headers.get("content-type", "")),
        "headers": dict(response.headers),
    }


class PlatformHost:
    """Answers one script run's platform calls (the sandbox's `Host`)."""

    def __init__(self, *, script_id: int, principal: Principal | None) -> None:
        self.script_id = script_id
        self.principal = principal

    def api(
        self, method: str, path: str, payload: Any, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return call_api(self.principal, method, path, payload, params)

    def store(self, op: str, key: str, value: Any = None, ttl: int | None = None) -> Any:
        return store_call(self.script_id, op, key, value, ttl)

    def http(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Any,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return http_call(method, url, headers, body, params)
