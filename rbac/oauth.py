"""OAuth 2.0 (django-oauth-toolkit): the provider's endpoints, its login page, and access tokens.

One rule: an access token is trusted only once django-oauth-toolkit's own
record of it (found by its SHA-256 checksum; the token itself is never
stored) says it exists, has not expired and belongs to a client linked to a
Sluicegate app. What a token's record says is remembered in the process's
`RbacState`, which any change or deletion of a token drops in every process
(`rbac.signals`), so a revocation is seen as soon as an API key's would be;
an unknown token is never remembered, so a token issued a moment ago works
at once. The token's scopes become the verbs it may use: `read` GET, `write`
POST, PUT, PATCH and DELETE.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import path
from django.utils import timezone
from oauth2_provider import views as oauth_views
from oauth2_provider.models import get_access_token_model
from rest_framework.request import Request

from rbac import throttle
from rbac.sessions import (
    LOGINS_UNAVAILABLE,
    SessionStoreUnavailable,
    _looks_like_jwt,
    session_store,
)
from rbac.state import RbacState

READ_SCOPE = "read"
WRITE_SCOPE = "write"
SCOPE_VERBS: dict[str, frozenset[str]] = {
    READ_SCOPE: frozenset({"GET"}),
    WRITE_SCOPE: frozenset({"POST", "PUT", "PATCH", "DELETE"}),
}
SCOPE_DESCRIPTIONS = {
    READ_SCOPE: "Read records (GET)",
    WRITE_SCOPE: "Create, change and delete records (POST, PUT, PATCH, DELETE)",
}

INVALID_TOKEN = "Invalid access token."  # noqa: S105  a message, not a secret
EXPIRED_TOKEN = "Access token has expired."  # noqa: S105  a message, not a secret


class TokenError(Exception):
    """A presented access token is unusable; `str(error)` is safe to show the client."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the provider's record of one access token says."""

    user_id: int | None  # None: client credentials
    app_id: int | None  # the linked Sluicegate app; None: the client is not linked
    scopes: frozenset[str]
    expires: datetime


def verbs_of_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """Return the verbs a token with `scopes` may use (unknown scopes allow nothing)."""
    return frozenset().union(*(SCOPE_VERBS.get(scope, frozenset()) for scope in scopes))


def access_token_from(request: HttpRequest | Request) -> str | None:
    """Return the OAuth access token of `Authorization: Bearer …`, or None.

    A JWT-shaped bearer is a Sluicegate session token (`rbac.sessions`), not
    an OAuth token.
    """
    http = request._request if isinstance(request, Request) else request
    scheme, _, bearer = str(http.META.get("HTTP_AUTHORIZATION") or "").strip().partition(" ")
    bearer = bearer.strip()
    if scheme.lower() != "bearer" or not bearer or _looks_like_jwt(bearer):
        return None
    return bearer


def token_checksum(token: str) -> str:
    """Return the checksum the provider stores and finds a token by (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_token(checksum: str) -> TokenInfo | None:
    """Read the provider's record of the token with `checksum` (one indexed query), or None."""
    token = (
        get_access_token_model()
        .objects.select_related("application__sluicegate")
        .filter(token_checksum=checksum)
        .first()
    )
    if token is None:
        return None
    link = getattr(token.application, "sluicegate", None) if token.application else None
    return TokenInfo(
        user_id=token.user_id,
        app_id=link.app_id if link is not None else None,
        scopes=frozenset(token.scope.split()),
        expires=token.expires,
    )


def verify_access_token(state: RbacState, token: str) -> TokenInfo:
    """Return what a valid, unexpired token of a linked client says; raise TokenError otherwise.

    A revoked token no longer exists, so it answers like an unknown one.
    """
    if len(token) > 512:  # far longer than any token the provider issues
        raise TokenError(INVALID_TOKEN)
    checksum = token_checksum(token)
    key = ("oauth-token", checksum)
    info: TokenInfo | None = state.memo.get(key)
    if info is None:
        info = load_token(checksum)
        if info is None:
            raise TokenError(INVALID_TOKEN)
        state.remember(key, info)
    if timezone.now() >= info.expires:
        raise TokenError(EXPIRED_TOKEN)
    if info.app_id is None:
        raise TokenError(INVALID_TOKEN)
    return info


class ThrottledLoginForm(AuthenticationForm):
    """Django's login form, with failed logins counted and refused as the API's are."""

    def clean(self) -> dict[str, Any]:
        account = str(self.data.get("username") or "")
        ip = str(self.request.META.get("REMOTE_ADDR") or "unknown") if self.request else "unknown"
        try:
            with session_store(LOGINS_UNAVAILABLE):
                throttle.check_login_allowed(account=account, ip=ip)
                try:
                    cleaned = super().clean()
                except ValidationError:
                    throttle.record_login_failure(account=account, ip=ip)
                    raise
                throttle.clear_account_failures(account)
        except throttle.LoginThrottled as error:
            raise ValidationError(str(error), code="throttled") from None
        except SessionStoreUnavailable as error:
            raise ValidationError(str(error), code="unavailable") from None
        return cleaned


class OAuthLoginView(LoginView):
    """The login page of the authorization-code flow (the admin keeps its own)."""

    template_name = "oauth/login.html"
    authentication_form = ThrottledLoginForm


# Mounted under /oauth/ in the provider's namespace, so its views reverse as they expect.
app_name = "oauth2_provider"
urlpatterns = [
    path("login/", OAuthLoginView.as_view(), name="login"),
    path("authorize/", oauth_views.AuthorizationView.as_view(), name="authorize"),
    path("token/", oauth_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth_views.IntrospectTokenView.as_view(), name="introspect"),
]
