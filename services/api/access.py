"""The policy seam: who is calling, and which `Policy` applies to each table for them.

One rule: deny by default. Until roles exist, only superusers (an admin
session or an admin API key) reach services, with full access; every other
caller is refused before any service or table name is looked up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from services.api.errors import NO_CREDENTIAL, ApiError
from services.sql.policy import FULL_ACCESS, Policy
from services.sql.schema import Table


@dataclass(frozen=True, slots=True)
class Access:
    """What one authenticated caller may read; `lookups` fill `{user.id}` & co."""

    user: AbstractBaseUser
    lookups: dict[str, object] = field(default_factory=dict)

    def policy_for(self, table: Table) -> Policy | None:
        """Return the caller's policy on `table`, or None when it is unreachable."""
        return FULL_ACCESS

    def verbs_for(self, table: Table) -> list[str]:
        """The verbs the caller may use on `table` that the API serves."""
        return ["GET"]


def access_for(user: AbstractBaseUser | AnonymousUser | None) -> Access:
    """Return the caller's Access; raise ApiError 401/403 when there is none."""
    if user is None or not user.is_authenticated:
        raise ApiError(401, NO_CREDENTIAL)
    if not getattr(user, "is_superuser", False) or not user.is_active:
        raise ApiError(403, "Access Forbidden. This user's role allows no access to services.")
    lookups: dict[str, object] = {
        "user.id": user.pk,
        "user.username": user.get_username(),
        "user.email": getattr(user, "email", ""),
    }
    return Access(user=user, lookups=lookups)
