"""The credentials a client can send (API.md "Credentials"), as OpenAPI security schemes.

One rule: the schemes name exactly the headers, query parameters and OAuth 2.0
endpoints `rbac.authentication` and `rbac.oauth` accept, with this server's
own URLs; any one of them (or an API key together with a session token)
authenticates a request.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from rbac.oauth import SCOPE_DESCRIPTIONS

EXAMPLE_KEY = "sg_3b1f0c6a9d2e4f8a7c5b1e0d9f2a4c6e"
EXAMPLE_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl"  # noqa: S105  an example, not a secret


def security_schemes(origin: str) -> dict[str, dict[str, Any]]:
    """The schemes, with the OAuth 2.0 endpoints under `origin` (`https://host`)."""
    authorize = origin + reverse("oauth2_provider:authorize")
    token = origin + reverse("oauth2_provider:token")
    scopes = dict(SCOPE_DESCRIPTIONS)
    return {
        "ApiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-DreamFactory-API-Key",
            "description": "An app's API key; the app's default role applies. Example: "
            f"`X-DreamFactory-API-Key: {EXAMPLE_KEY}`.",
        },
        "ApiKeyShort": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": f"The API key in a shorter header. Example: `X-API-Key: {EXAMPLE_KEY}`.",
        },
        "ApiKeyQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "api_key",
            "description": f"The API key as a query parameter. Example: `?api_key={EXAMPLE_KEY}`.",
        },
        "SessionToken": {
            "type": "apiKey",
            "in": "header",
            "name": "X-DreamFactory-Session-Token",
            "description": "A session token from `POST /api/v2/user/session`; the user's role "
            "for the app applies. Example: "
            f"`X-DreamFactory-Session-Token: {EXAMPLE_TOKEN}`.",
        },
        "Bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT session token or OAuth 2.0 access token",
            "description": "`Authorization: Bearer …` with a session token (a JWT) or an OAuth "
            f"2.0 access token. Example: `Authorization: Bearer {EXAMPLE_TOKEN}`.",
        },
        "OAuth2": {
            "type": "oauth2",
            "description": "OAuth 2.0 (PKCE required for the authorization code). Scope "
            "`read` allows GET, `write` POST, PUT, PATCH and DELETE.",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": authorize,
                    "tokenUrl": token,
                    "refreshUrl": token,
                    "scopes": scopes,
                },
                "clientCredentials": {"tokenUrl": token, "scopes": scopes},
            },
        },
    }


def requirements(verb: str) -> list[dict[str, list[str]]]:
    """Alternatives that authenticate a `verb` request (OAuth: the scope it needs)."""
    scope = "read" if verb == "GET" else "write"
    return [
        {"ApiKey": []},
        {"ApiKeyShort": []},
        {"ApiKeyQuery": []},
        {"SessionToken": []},
        {"ApiKey": [], "SessionToken": []},
        {"Bearer": []},
        {"OAuth2": [scope]},
    ]
