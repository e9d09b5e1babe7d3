"""DRF permission for the API: an authenticated caller whose app and role are usable.

One rule: nothing about services, tables or columns is looked at here; this
only refuses callers who may reach nothing at all (no credential: 401;
inactive app or role, or no role, or token scopes that allow no verb: 403),
so that they learn nothing. Which verbs a scope allows on what is decided
with the role, in `services.api.access.Access`.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from rbac.policies import Principal

NO_ROLE = "Access Forbidden. No role is assigned to this user or app."
NO_SCOPE = "Access Forbidden. The access token's scopes allow no access."


def principal_of(request: Request) -> Principal | None:
    auth = request.auth
    return auth if isinstance(auth, Principal) else None


class HasUsableRole(permissions.BasePermission):
    """Superusers; or callers whose app is active and whose role exists and is active.

    Either way, a token whose scopes allow no verb at all is refused.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_of(request)
        if principal is None:
            raise exceptions.NotAuthenticated()
        if principal.app is not None and not principal.app.active:
            raise exceptions.PermissionDenied(
                f"Access Forbidden. The app '{principal.app.name}' is not active."
            )
        if principal.verbs is not None and not principal.verbs:
            raise exceptions.PermissionDenied(NO_SCOPE)
        if principal.is_superuser:
            return True
        if principal.role is None:
            raise exceptions.PermissionDenied(NO_ROLE)
        if not principal.role.active:
            raise exceptions.PermissionDenied(
                f"Access Forbidden. The role '{principal.role.name}' is not active."
            )
        return True
