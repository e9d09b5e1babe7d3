"""`/api/v2/user/session`: log in (local accounts or LDAP), read, refresh and log out.

One rule: these views only parse the request and shape DreamFactory's session
object; tokens, logins and throttling are `rbac.sessions` and `rbac.throttle`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import User
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rbac.authentication import api_key_from, role_of
from rbac.ldap import LDAP_SERVICE, DirectoryUnavailable, ldap_enabled
from rbac.sessions import (
    SessionClaims,
    SessionError,
    SessionStoreUnavailable,
    log_in,
    login_app,
    refresh_session,
    revoke_session,
    session_token_from,
    session_user,
    verify_session_token,
)
from rbac.state import current_state
from rbac.throttle import LoginThrottled
from services.api.errors import ApiError
from services.api.platform_spec import session_schema
from services.api.write_bodies import read_body

NO_SESSION = "No session token was given."
BAD_LOGIN_BODY = "A login needs an email (or username) and a password."
LDAP_OFF = "LDAP logins are not enabled on this server."
MAX_LOGIN_LENGTH = 254


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def login_fields(data: Any) -> tuple[str, str, bool]:
    """Return (login, password, by_email) from a login body; raise ApiError(400) otherwise."""
    if not isinstance(data, dict):
        raise ApiError(400, BAD_LOGIN_BODY)
    email, username, password = data.get("email"), data.get("username"), data.get("password")
    by_email = isinstance(email, str) and bool(email.strip())
    login = email if by_email else username
    if (
        not isinstance(login, str)
        or not login.strip()
        or len(login) > MAX_LOGIN_LENGTH
        or not isinstance(password, str)
        or not password
    ):
        raise ApiError(400, BAD_LOGIN_BODY)
    return login, password, by_email


def login_service(data: Any) -> str | None:
    """Return the login's `service` ("ldap", or None for the default); raise ApiError(400)."""
    service = data.get("service") if isinstance(data, dict) else None
    if service is None or service == "":
        return None
    if not isinstance(service, str) or service.strip().lower() != LDAP_SERVICE:
        raise ApiError(400, 'A login\'s "service" can only be "ldap".')
    if not ldap_enabled():
        raise ApiError(400, LDAP_OFF)
    return LDAP_SERVICE


def session_object(
    request: Request, *, user: User, token: str, claims: SessionClaims
) -> dict[str, Any]:
    """Return DreamFactory's session object for `user` holding `token`."""
    state = current_state()
    user_info = state.user(user.pk)
    app = state.apps_by_id.get(claims.app_id) if claims.app_id is not None else None
    role = role_of(state, user_info, app)
    full_name = f"{user.first_name} {user.last_name}".strip()
    return {
        "session_token": token,
        "session_id": token,
        "id": user.pk,
        "name": full_name or user.get_username(),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_sys_admin": user.is_superuser,
        "role": role.name if role is not None else None,
        "role_id": role.id if role is not None else None,
        "token_expiry_date": iso(claims.expires_at),
        "last_login_date": iso(user.last_login),
        "host": request.get_host(),
    }


@session_schema
class SessionView(APIView):
    """POST logs in, GET reads, PUT refreshes, DELETE logs out."""

    authentication_classes = ()
    permission_classes = ()

    def post(self, request: Request) -> Response:
        read_body(request)  # the body size bound first (413), before any parsing
        login, password, by_email = login_fields(request.data)
        service = login_service(request.data)
        try:
            app_id = login_app(api_key_from(request))
            user, token, claims = log_in(
                request._request,
                login=login,
                password=password,
                by_email=by_email,
                app_id=app_id,
                service=service,
            )
        except SessionError as error:
            raise ApiError(401, str(error)) from None
        except DirectoryUnavailable as error:
            raise ApiError(503, str(error)) from None
        return Response(session_object(request, user=user, token=token, claims=claims))

    def get(self, request: Request) -> Response:
        token = self.token(request)
        try:
            claims = verify_session_token(token)
            user = session_user(claims)
        except SessionError as error:
            raise ApiError(401, str(error)) from None
        return Response(session_object(request, user=user, token=token, claims=claims))

    def put(self, request: Request) -> Response:
        try:
            token, claims = refresh_session(self.token(request))
            user = session_user(claims)
        except SessionError as error:
            raise ApiError(401, str(error)) from None
        return Response(session_object(request, user=user, token=token, claims=claims))

    def delete(self, request: Request) -> Response:
        # An expired token still within its refresh window can renew the
        # session, so logging out must accept it to revoke it.
        try:
            claims = verify_session_token(self.token(request), allow_expired=True)
        except SessionError as error:
            raise ApiError(401, str(error)) from None
        revoke_session(claims)
        return Response({"success": True})

    @staticmethod
    def token(request: Request) -> str:
        token = session_token_from(request)
        if not token:
            raise ApiError(401, NO_SESSION)
        return token

    def handle_exception(self, exc: Exception) -> Response:
        """Answer a throttled login with 429 and `Retry-After`, an unreachable session store with 503."""
        if isinstance(exc, LoginThrottled):
            response = super().handle_exception(ApiError(429, str(exc)))
            response["Retry-After"] = str(exc.retry_after)
            return response
        if isinstance(exc, SessionStoreUnavailable):
            return super().handle_exception(ApiError(503, str(exc)))
        return super().handle_exception(exc)
