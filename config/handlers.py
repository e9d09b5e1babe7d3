"""The WSGI application: API calls skip the middleware that only browsers need.

A call to `/api/v2/` without a browser session (an API key, a session token,
an OAuth bearer) has no use for Django's sessions, CSRF cookies, logged-in
user or flash messages, nor for what serves pages: static files, slash
redirects, frame options for HTML. Running them costs a good share of a small
read. Such calls go through a handler built from `MIDDLEWARE` without those;
everything else (the admin, the OAuth pages, the API docs page, and API calls
that carry the admin's session cookie, which the API's session
authentication reads, CSRF-checked) goes through the full stack. Both
handlers share the URLs, views and every other middleware, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponseBase
from django.test.utils import override_settings

BROWSER_ONLY = frozenset(
    {
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        # Pages only: `/api/v2/` serves no static file, has a route for every
        # path (no slash redirects) and answers JSON, never a page to frame.
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
)
API_PREFIX = "/api/v2/"


class ApiHandler(WSGIHandler):
    """A WSGI handler whose middleware chain leaves out `BROWSER_ONLY`."""

    def load_middleware(self, is_async: bool = False) -> None:
        chain = [name for name in settings.MIDDLEWARE if name not in BROWSER_ONLY]
        # Building the chain reads settings.MIDDLEWARE; this is done once, at start-up.
        with override_settings(MIDDLEWARE=chain):
            super().load_middleware(is_async)

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        """The response, with the `Content-Length` CommonMiddleware would have set.

        Without it the server falls back to chunked transfer encoding: more
        writes per response, and clients cannot tell the size up front.
        """
        response = super().get_response(request)
        if not response.streaming and "Content-Length" not in response.headers:
            response.headers["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
        return response


class Application:
    """Route each request to the API handler or the full one."""

    def __init__(self) -> None:
        self.site = WSGIHandler()
        self.api = ApiHandler()
        self.session_cookie = settings.SESSION_COOKIE_NAME + "="

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(API_PREFIX) and self.session_cookie not in (
            environ.get("HTTP_COOKIE", "")
        ):
            return self.api(environ, start_response)
        return self.site(environ, start_response)


def get_application() -> Application:
    """Set Django up and return the application (what `get_wsgi_application` does)."""
    django.setup(set_prefix=False)
    return Application()
