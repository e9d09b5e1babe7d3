"""DRF authentication for the API: API keys, session and OAuth tokens, admin sessions, into a `Principal`.

One rule: a credential that is present but wrong is an error (401), never
silently treated as "no credential"; and who the caller is (user, app, role)
is decided here, once, from `rbac.state` without a database query (an OAuth
access token costs one indexed query the first time a process sees it).
"""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from rbac.keys import digest_of_presented
from rbac.oauth import TokenError, access_token_from, verbs_of_scopes, verify_access_token
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
INVALID_TOKEN = "Invalid access token."  # noqa: S105  a message, not a secret


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
    state: RbacState,
    *,
    user: UserInfo | None,
    app: AppInfo | None,
    requestor: str = REQUESTOR_API,
    verbs: frozenset[str] | None = None,
) -> Principal:
    """Return the Principal of a caller already identified as `user` and/or `app`.

    `verbs` (an OAuth token's scopes) narrows what the role allows; None: no narrowing.
    """
    return Principal(
        user=user, app=app, role=role_of(state, user, app), requestor=requestor, verbs=verbs
    )


def key_app(state: RbacState, key: str) -> AppInfo:
    """Return the app an app key names; raise AuthenticationFailed for any other key."""
    digest = digest_of_presented(key)
    app = state.app_for_digest(digest) if digest is not None else None
    if app is None:
        raise exceptions.AuthenticationFailed(INVALID_KEY)
    return app


def oauth_principal(state: RbacState, token: str, key: str | None) -> Principal:
    """Return the Principal of an OAuth access token (and the app key sent with it, if any).

    Client credentials act as the linked app (its default role); an
    authorization code as its user in that app. An unknown, revoked or
    expired token, an unlinked client, an inactive app or user, or a key
    naming another app: AuthenticationFailed (401).
    """
    try:
        info = verify_access_token(state, token)
    except TokenError as error:
        raise exceptions.AuthenticationFailed(str(error)) from None
    app = state.apps_by_id.get(info.app_id) if info.app_id is not None else None
    if app is None or not app.active:
        raise exceptions.AuthenticationFailed(INVALID_TOKEN)
    if key and key_app(state, key).id != app.id:
        raise exceptions.AuthenticationFailed("The API key and the access token disagree.")
    user: UserInfo | None = None
    if info.user_id is not None:
        user = state.user(info.user_id)
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
    return principal_for(state, user=user, app=app, verbs=verbs_of_scopes(info.scopes))


class CredentialAuthentication(authentication.BaseAuthentication):
    """An API key (`X-DreamFactory-API-Key`, `X-API-Key`, `?api_key=`) and/or a session token,
    or an OAuth access token (`Authorization: Bearer`, not JWT-shaped).

    The key names an app (or, for an admin key, a superuser); the session
    token names a user, and the app it was issued through unless a key names
    one; the OAuth token names its client's app and, from an authorization
    code, a user. Returns (principal, principal): the principal is both
    `request.user` and `request.auth`.
    """

    def authenticate(self, request: Request) -> tuple[Principal, Principal] | None:
        key = api_key_from(request)
        token = session_token_from(request)
        access_token = access_token_from(request)
        if not key and not token and not access_token:
            return None
        state = current_state()
        if access_token:
            if token:
                raise exceptions.AuthenticationFailed(
                    "Send a session token or an access token, not both."
                )
            principal = oauth_principal(state, access_token, key)
            return principal, principal
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
        if access_token_from(request):
            return 'Bearer realm="api"'
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
