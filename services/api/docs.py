"""`/api/docs/{service}` (and `/api/docs/` for the platform): Swagger UI for an OpenAPI document.

One rule: the page holds no data and no long-lived secret. Its files are this
server's own static files (the platform runs air-gapped: no CDN, no external
URL in the page), it is never cached (`Cache-Control: no-store`), and the only
credential it ever carries is a session token issued for the admin whose
browser session opened it, reaching only what that admin reaches.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_safe

from rbac.authentication import principal_for
from rbac.sessions import issue_session
from rbac.state import current_state
from services.api.access import can_reach_service
from services.api.registry import service_config

SESSION_HEADER = "X-DreamFactory-Session-Token"
# An admin's docs page works for an hour; a longer session is a login away.
PAGE_TOKEN_LIFETIME = timedelta(hours=1)
PAGE_TEMPLATE = "api_docs/swagger_ui.html"
OAUTH2_REDIRECT = "drf_spectacular_sidecar/swagger-ui-dist/oauth2-redirect.html"


@dataclass(frozen=True, slots=True)
class PageCredential:
    """A credential the page starts with: header, value, whose it is and until when."""

    header: str
    value: str
    user: str
    expires: str


def admin_credential(request: HttpRequest, *, service: str | None) -> PageCredential | None:
    """Return a fresh session token for the admin of this browser session, or None.

    Only an active staff user logged in to the admin gets one, and for a
    service page only when that admin may reach `service` (a superuser
    reaches every service; other admins have no app, hence no role). The
    token names no app, so it acts exactly as the admin's browser session
    does on the API: a session token valid for PAGE_TOKEN_LIFETIME at most,
    revocable with `DELETE /api/v2/user/session`.
    """
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    state = current_state()
    info = state.user(user.pk)
    if info is None or not info.is_active:
        return None
    if service is not None and not can_reach_service(
        principal_for(state, user=info, app=None), service
    ):
        return None
    token, claims = issue_session(user_id=info.id, app_id=None, lifetime=PAGE_TOKEN_LIFETIME)
    return PageCredential(
        header=SESSION_HEADER,
        value=token,
        user=info.username,
        expires=claims.expires_at.astimezone(UTC).isoformat(),
    )


def docs_page(
    request: HttpRequest,
    *,
    title: str,
    spec_url: str,
    credential: PageCredential | None,
    credential_required: bool,
) -> HttpResponse:
    """Return the Swagger UI page for the document at `spec_url` (same origin).

    `credential_required`: the document itself answers only to a credential.
    """
    nonce = secrets.token_urlsafe(16)
    config = {
        "specUrl": spec_url,
        "credentialRequired": credential_required,
        "credential": asdict(credential) if credential is not None else None,
        "oauth2RedirectUrl": static(OAUTH2_REDIRECT),
    }
    response = render(request, PAGE_TEMPLATE, {"title": title, "config": config, "nonce": nonce})
    add_never_cache_headers(response)  # includes no-store: the page may hold a session token
    # Only this server's files and this inline script may run; requests stay on this origin.
    response["Content-Security-Policy"] = (
        "default-src 'none'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; "
        "font-src 'self'; "
        "connect-src 'self'; "
        "form-action 'none'; "
        "frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    return response


@require_safe
def service_docs(request: HttpRequest, service: str) -> HttpResponse:
    """Swagger UI for `/api/v2/{service}/_spec`, whatever the name.

    The page is the same for a service that exists and one that does not (or
    is inactive), so it tells nobody which names exist: the document itself
    answers each caller as the API does (401, 404, or the document). Only an
    admin who may reach an active service gets the page with a credential.
    """
    config = service_config(service)
    return docs_page(
        request,
        title=f"{service} API",
        spec_url=f"{reverse('api-service', args=[service])}/_spec",
        credential=admin_credential(request, service=service) if config is not None else None,
        credential_required=True,
    )


@require_safe
def platform_docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI for `/api/v2/_spec`, the platform's own endpoints."""
    return docs_page(
        request,
        title="Sluicegate platform API",
        spec_url=reverse("api-platform-spec"),
        credential=admin_credential(request, service=None),
        credential_required=False,
    )
