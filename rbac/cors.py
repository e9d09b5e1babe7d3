"""Cross-origin (CORS) access to `/api/v2`, decided per app from its admin-managed origins.

One rule: a browser origin is trusted only when an app lists it. The origins
come from this process's access state (`rbac.state`), never from a query
per request. django-cors-headers writes the headers; this module decides.

- A preflight carries no credential: it gets the CORS headers when some
  active app lists its origin.
- An actual cross-origin request is held to the origin list of the app its
  credential names: the app of its API key, else the app its session token
  was issued through, else the app linked to the OAuth client its access
  token was issued to. An origin that app does not list gets 403 in the
  error envelope and no CORS headers.
- A session token issued without an app is accepted from an origin that
  some active app lists, and refused (403) otherwise.
- An admin API key is never accepted from a browser origin (403): it acts as
  a superuser and belongs to operators and automation, which send no Origin.
- Requests whose credential names no app here (none, a malformed, unknown or
  expired key or token, an admin's browser session) go on to
  authentication, which answers them; they get the CORS headers when some
  active app lists the origin. Admin sessions gain nothing from that: no
  `Access-Control-Allow-Credentials` is ever sent, and unsafe methods stay
  CSRF-checked.
- A same-origin request (Origin equal to the request's own scheme and host)
  is not cross-origin and is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from corsheaders.middleware import CorsMiddleware as LibraryCorsMiddleware
from corsheaders.signals import check_request_enabled
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.cache import patch_vary_headers

from rbac.authentication import API_KEY_HEADERS
from rbac.keys import digest_of_presented
from rbac.oauth import TokenError, access_token_from, verify_access_token
from rbac.sessions import (
    SessionError,
    SessionStoreUnavailable,
    session_token_from,
    verify_session_token,
)
from rbac.state import AppInfo, RbacState, current_state
from services.api.errors import envelope

# The paths that answer cross-origin requests at all (settings.CORS_URLS_REGEX is the same).
API_PATH = re.compile(r"^/api/v2(?:/|$)")
DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
DECISION_ATTRIBUTE = "sluicegate_origin_allowed"
MEMO_KEY = ("cors", "every-active-app-origin")
MAX_SHOWN_ORIGIN = 200


class InvalidOrigin(ValueError):
    """An origin that is not `scheme://host[:port]`."""


# --- origins -----------------------------------------------------------------------------------


def normalize_origin(text: str) -> str:
    """Return `text` as a browser sends it in `Origin` (lower case, no default port).

    Raises InvalidOrigin unless it is http(s)://host[:port] with no path,
    query, fragment or credentials (one trailing "/" is forgiven).
    """
    raw = text.strip()
    if raw == "*":
        raise InvalidOrigin("'*' is not allowed: list each origin the app is used from.")
    try:
        parts = urlsplit(raw[:-1] if raw.endswith("/") and raw.count("/") == 3 else raw)
        port = parts.port
    except ValueError:
        raise InvalidOrigin(f"'{raw}' is not an origin.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidOrigin(f"'{raw}': an origin starts with https:// or http://.")
    if parts.path or parts.query or parts.fragment or "#" in raw or "?" in raw:
        raise InvalidOrigin(f"'{raw}': an origin is scheme://host[:port], with no path.")
    if parts.username is not None or parts.password is not None:
        raise InvalidOrigin(f"'{raw}': an origin has no user name or password.")
    host = (parts.hostname or "").lower()
    if not valid_host(host):
        raise InvalidOrigin(f"'{raw}': the host name is not valid.")
    shown = f"[{host}]" if ":" in host else host
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{shown}"
    if port == 0:
        raise InvalidOrigin(f"'{raw}': the port must be 1 to 65535.")
    return f"{scheme}://{shown}:{port}"


def valid_host(host: str) -> bool:
    if ":" in host:  # an IPv6 address (urlsplit has removed the brackets)
        return bool(re.fullmatch(r"[0-9a-f:.]+", host))
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(HOST_LABEL.fullmatch(label) for label in labels)


def parse_origins(text: str) -> list[str]:
    """Return the normalized origins of an app's list (one per line); raise InvalidOrigin."""
    origins: list[str] = []
    for line in text.splitlines():
        if line.strip():
            origin = normalize_origin(line)
            if origin not in origins:
                origins.append(origin)
    return origins


def stored_origins(text: str) -> frozenset[str]:
    """The usable origins of a stored list; lines that are not origins are ignored."""
    usable: set[str] = set()
    for line in text.splitlines():
        try:
            usable.add(normalize_origin(line))
        except InvalidOrigin:
            continue
    return frozenset(usable)


def origins_of_active_apps(state: RbacState) -> frozenset[str]:
    """Every origin some active app lists (computed once per state)."""
    found = state.memo.get(MEMO_KEY)
    if isinstance(found, frozenset):
        return found
    union = frozenset().union(
        *(app.cors_origins for app in state.apps_by_id.values() if app.active)
    )
    state.remember(MEMO_KEY, union)
    return union


# --- the decision ------------------------------------------------------------------------------


def request_origin(request: HttpRequest) -> str | None:
    """The normalized Origin of a cross-origin request; None when same-origin or absent."""
    # META, not `request.headers`: that builds a dict of every header.
    origin: str | None = request.META.get("HTTP_ORIGIN")
    if not origin:
        return None
    try:
        normalized = normalize_origin(origin)
    except InvalidOrigin:
        return origin.strip()[:MAX_SHOWN_ORIGIN]  # "null" and the like: listed by no app
    try:
        own = normalize_origin(f"{request.scheme}://{request.get_host()}")
    except (DisallowedHost, InvalidOrigin):
        return normalized
    return None if normalized == own else normalized


def key_from(request: HttpRequest) -> str | None:
    for header in API_KEY_HEADERS:
        if request.META.get(header):
            return str(request.META[header]).strip()
    key = request.GET.get("api_key")
    return key.strip() if key else None


def credential_app(request: HttpRequest, state: RbacState) -> AppInfo | str | None:
    """Return the app the request's credential names.

    "admin" for an admin key, "user" for a session token issued without an
    app, None when the credential names no app here.
    """
    key = key_from(request)
    if key:
        digest = digest_of_presented(key)
        if digest is None:
            return None
        if digest in state.admin_keys:
            return "admin"
        return state.app_for_digest(digest)
    token = session_token_from(request)
    if not token:
        return oauth_app(request, state)
    try:
        claims = verify_session_token(token)
    except (SessionError, SessionStoreUnavailable):
        return None  # authentication answers 401 / 503
    if claims.app_id is None:
        return "user"
    return state.apps_by_id.get(claims.app_id)


def oauth_app(request: HttpRequest, state: RbacState) -> AppInfo | None:
    """The app whose linked OAuth client holds the request's access token, if any."""
    token = access_token_from(request)
    if not token:
        return None
    try:
        info = verify_access_token(state, token)  # kept in the state: authentication reuses it
    except TokenError:
        return None  # authentication answers 401
    return state.apps_by_id.get(info.app_id) if info.app_id is not None else None


def origin_refusal(request: HttpRequest, origin: str) -> str | None:
    """Decide a cross-origin request: return why it is refused, or None to let it through.

    Also leaves on the request whether it gets the CORS headers.
    """
    state = current_state()
    named = credential_app(request, state)
    refusal: str | None = None
    if isinstance(named, AppInfo):
        allowed = origin in named.cors_origins
        if not allowed:
            refusal = f"Access Forbidden. Origin '{origin}' is not allowed for this app."
    elif named == "admin":
        allowed = False
        refusal = "Access Forbidden. An admin API key is not accepted from a browser origin."
    else:
        allowed = origin in origins_of_active_apps(state)
        if named == "user" and not allowed:
            refusal = f"Access Forbidden. Origin '{origin}' is not allowed."
    setattr(request, DECISION_ATTRIBUTE, allowed)
    return refusal


class CorsMiddleware(LibraryCorsMiddleware):
    """django-cors-headers' middleware, run only for requests that carry an Origin.

    Without one there is nothing to answer: the library would only add
    `Vary: Origin` to the API's answers (a cache must not serve them to a
    cross-origin request), which is all this does then, for a fraction of
    the library's cost per call.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode or "HTTP_ORIGIN" in request.META:
            return super().__call__(request)
        response = self.get_response(request)
        assert isinstance(response, HttpResponseBase)  # sync mode: never awaitable
        if API_PATH.match(request.path_info):
            if "Vary" in response.headers:
                patch_vary_headers(response, ("origin",))
            else:
                response.headers["Vary"] = "origin"  # what patch_vary_headers would set
        return response


class AppOriginMiddleware:
    """Refuses (403) a cross-origin `/api/v2` request whose app does not list its origin.

    Sits right after django-cors-headers' middleware, which answers
    preflights before this runs and adds the headers after it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if "HTTP_ORIGIN" in request.META and API_PATH.match(request.path_info):
            origin = request_origin(request)
            if origin is not None:
                refusal = origin_refusal(request, origin)
                if refusal is not None:
                    return JsonResponse(envelope(403, refusal), status=403)
        return self.get_response(request)


def cors_enabled(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    """django-cors-headers' `check_request_enabled`: may this request have the CORS headers?"""
    if not API_PATH.match(request.path_info):
        return False
    decided = getattr(request, DECISION_ATTRIBUTE, None)
    if decided is not None:
        return bool(decided)
    origin = request_origin(request)  # a preflight: no credential to go by
    return origin is not None and origin in origins_of_active_apps(current_state())


def connect() -> None:
    """Connect the decision to django-cors-headers (from `RbacConfig.ready`)."""
    check_request_enabled.connect(cors_enabled, dispatch_uid="rbac-cors-enabled")
