"""DRF authentication for the API: API keys in DreamFactory's headers, and admin sessions.

One rule: a credential that is present but wrong is an error (401), never
silently treated as "no credential".
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from rbac.keys import user_for_key

API_KEY_HEADERS = ("HTTP_X_DREAMFACTORY_API_KEY", "HTTP_X_API_KEY")


def api_key_from(request: Request) -> str | None:
    """Return the API key a request carries (headers first, then `?api_key=`), or None."""
    meta = request._request.META
    for header in API_KEY_HEADERS:
        if meta.get(header):
            return str(meta[header]).strip()
    key = request._request.GET.get("api_key")
    return key.strip() if key else None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`X-DreamFactory-API-Key` / `X-API-Key` header or `api_key` query parameter."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, None] | None:
        key = api_key_from(request)
        if not key:
            return None
        user = user_for_key(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return 'X-API-Key realm="api"'


class AdminSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in admin's browser session (CSRF-checked for unsafe methods)."""
