"""DRF authentication for the API: API keys, session tokens and admin sessions, into a `Principal`.

One rule: a credential that is present but wrong is an error (401), never
silently treated as "no credential"; and who the caller is (user, app, role)
is decided here, once, from `rbac.state` without a database query.
"""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from rbac.keys import digest_of_presented
from rbac.policies import REQUESTOR_API, Principal
from rbac.sessions import (
    SessionError,
    SessionStoreUnavailable,
    session_token_from,
    verify_session_token,
)
from rbac.state import AppInfo, RbacState, RoleInfo, UserInfo, current_state
from services.api.errors import ApiError

API_KEY_HEADERS = ("HTTP_X_DREAMFACTORY_API_KEY", "HTTP_X_API_KEY")
INVALID_KEY = "Invalid API key."


def api_key_from(request: Request) -> str | None:
    """Return the API key a request carries (headers first, then `?api_key=`), or None."""
    meta = request._request.META
    for header in API_KEY_HEADERS:
        if meta.get(header):
            return str(meta[header]).strip()
    key = request._request.GET.get("api_key")
    return key.strip() if key else None


def role_of(state: RbacState, user: UserInfo | None, app: AppInfo | None) -> RoleInfo | None:
    """The role for a request: the user's role for the app, else the app's default role.

    Superusers bypass roles (None); so does a caller with no app.
    """
    if app is None or (user is not None and user.is_superuser):
        return None
    role_id = state.user_app_roles.get((user.id, app.id)) if user is not None else None
    if role_id is None:
        role_id = app.default_role_id
    return state.roles.get(role_id) if role_id is not None else None


def principal_for(
    state: RbacState, *, user: UserInfo | None, app: AppInfo | None, requestor: str = REQUESTOR_API
) -> Principal:
    """Return the Principal of a caller already identified as `user` and/or `app`."""
    return Principal(user=user, app=app, role=role_of(state, user, app), requestor=requestor)


class CredentialAuthentication(authentication.BaseAuthentication):
    """An API key (`X-DreamFactory-API-Key`, `X-API-Key`, `?api_key=`) and/or a session token.

    The key names an app (or, for an admin key, a superuser); the token names
    a user, and the app it was issued through unless a key names one. Returns
    (principal, principal): the principal is both `request.user` and
    `request.auth`.
    """

    def authenticate(self, request: Request) -> tuple[Principal, Principal] | None:
        key = api_key_from(request)
        token = session_token_from(request)
        if not key and not token:
            return None
        state = current_state()
        user: UserInfo | None = None
        app: AppInfo | None = None
        if key:
            digest = digest_of_presented(key)
            if digest is None:
                raise exceptions.AuthenticationFailed(INVALID_KEY)
            admin_user = state.admin_keys.get(digest)
            if admin_user is not None:
                user = state.user(admin_user)
                if user is None or not (user.is_active and user.is_superuser):
                    raise exceptions.AuthenticationFailed(INVALID_KEY)
            else:
                app = state.app_for_digest(digest)
                if app is None:
                    raise exceptions.AuthenticationFailed(INVALID_KEY)
        if token:
            try:
                claims = verify_session_token(token)
            except SessionError as error:
                raise exceptions.AuthenticationFailed(str(error)) from None
            except SessionStoreUnavailable as error:
                raise ApiError(503, str(error)) from None
            session_user = state.user(claims.user_id)
            if session_user is None or not session_user.is_active:
                raise exceptions.AuthenticationFailed("Invalid session token.")
            if user is not None and user.id != session_user.id:
                raise exceptions.AuthenticationFailed("The API key and the session disagree.")
            user = session_user
            if app is None and claims.app_id is not None:
                app = state.apps_by_id.get(claims.app_id)
                if app is None:
                    raise exceptions.AuthenticationFailed("Invalid session token.")
        principal = principal_for(state, user=user, app=app)
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return 'X-API-Key realm="api"'


class AdminSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in admin's browser session (CSRF-checked for unsafe methods)."""

    def authenticate(self, request: Request) -> tuple[Principal, Principal] | None:
        found: Any = super().authenticate(request)
        if found is None:
            return None
        state = current_state()
        user = state.user(found[0].pk)
        if user is None or not user.is_active:
            return None
        principal = principal_for(state, user=user, app=None)
        return principal, principal
