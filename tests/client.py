"""The test client, routed as production routes requests (`config.handlers.Application`).

API calls without a session cookie go through the API handler's middleware
chain and its table routes; everything else through the full stack. So
every test that calls the API exercises the path production serves it by.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client
from django.test.client import ClientHandler

from config.handlers import ApiRoutes, is_api_call


class ApiClientHandler(ApiRoutes, ClientHandler):
    """The test client's handler for API calls (see `config.handlers.ApiRoutes`)."""


class RoutedHandler:
    """Send each request to the API handler or the full one, as `Application` does."""

    def __init__(self, enforce_csrf_checks: bool) -> None:
        self.api = ApiClientHandler(enforce_csrf_checks)
        self.site = ClientHandler(enforce_csrf_checks)

    def __call__(self, environ: dict[str, Any]) -> Any:
        cookie = settings.SESSION_COOKIE_NAME + "="
        return (self.api if is_api_call(environ, cookie) else self.site)(environ)


class RoutedClient(Client):
    """django.test.Client with `RoutedHandler`."""

    def __init__(self, enforce_csrf_checks: bool = False, **defaults: Any) -> None:
        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = RoutedHandler(enforce_csrf_checks)  # type: ignore[assignment]
