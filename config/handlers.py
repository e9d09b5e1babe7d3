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

Table reads (`GET _table/{table}[/{id}]`, most calls) take a shorter way
through the API handler: the same middleware chain ends in the table view's
`answer_permitted` (DRF's dispatch, minus its per-request set-up) instead of
the URL resolver and the view's wrappers, and the route's match comes from a
regular expression instead of tens of microseconds of pattern tries. A caller
the view does not authenticate and permit is answered by the usual path. The
test client routes calls the same way (`tests/client.py`), so the whole
suite runs through this code; `tests/services/api/test_wsgi_routing.py`
checks that the matches agree with Django's resolver.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import django
from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.handlers.base import BaseHandler, reset_urlconf
from django.core.handlers.wsgi import WSGIHandler, get_script_name
from django.db import close_old_connections, reset_queries
from django.dispatch import Signal
from django.dispatch.dispatcher import NONE_ID
from django.http import HttpRequest, HttpResponseBase
from django.test.utils import override_settings
from django.urls import ResolverMatch, resolve, set_script_prefix
from django.utils.log import log_response

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
# `services.api.urls`' first two routes, with Django's `str` converter (`[^/]+`).
TABLE_PATH = re.compile(r"/api/v2/(?P<service>[^/]+)/_table/(?P<table>[^/]+)(?:/(?P<pk>[^/]+))?")


def is_api_call(environ: dict[str, Any], session_cookie: str) -> bool:
    """Whether a request goes to the API handler: under `/api/v2/`, without `session_cookie`.

    `session_cookie` is the session cookie's name followed by "=".
    """
    return environ.get("PATH_INFO", "").startswith(API_PREFIX) and (
        session_cookie not in environ.get("HTTP_COOKIE", "")
    )


@dataclass(frozen=True, slots=True)
class Route:
    """What Django's resolver answers for one URL pattern, minus the captured values."""

    match: ResolverMatch

    @classmethod
    def of(cls, sample_path: str) -> Route:
        return cls(resolve(sample_path))

    def with_kwargs(self, kwargs: dict[str, str]) -> ResolverMatch:
        found = self.match
        return ResolverMatch(
            found.func,
            (),
            kwargs,
            found.url_name,
            list(found.app_names),
            list(found.namespaces),
            found.route,
            captured_kwargs=kwargs,
            extra_kwargs={},
        )


class ApiRoutes(BaseHandler):
    """The API handler's behaviour, for a (synchronous) Django handler class to mix in.

    Its middleware chain leaves out `BROWSER_ONLY`; table reads go through
    `table_chain`; answers carry `Content-Length`.
    """

    table_chain: Callable[[HttpRequest], HttpResponseBase]

    def load_middleware(self, is_async: bool = False) -> None:
        chain = [name for name in settings.MIDDLEWARE if name not in BROWSER_ONLY]
        # Django keeps the chain and the hooks in private attributes.
        handler: Any = self
        # Building the chain reads settings.MIDDLEWARE; this is done once, at start-up.
        with override_settings(MIDDLEWARE=chain):
            super().load_middleware(is_async)
            # The same chain again, ending in `table_view` instead of the URL resolver.
            general = handler._middleware_chain
            handler._get_response = self.table_view
            try:
                super().load_middleware(is_async)
            finally:
                del handler._get_response
            self.table_chain = handler._middleware_chain
            handler._middleware_chain = general
        # Hooks only the resolver's path runs (process_view and the like):
        # with any in the chain, table reads take that path too.
        self.direct = not (
            handler._view_middleware
            or handler._template_response_middleware
            or handler._exception_middleware
        )
        self.record_route = Route.of("/api/v2/service/_table/table/id")
        self.page_route = Route.of("/api/v2/service/_table/table")

    def table_match(self, path: str) -> ResolverMatch | None:
        """The match of a table route, from `TABLE_PATH`; None for any other path."""
        found = TABLE_PATH.fullmatch(path)
        if found is None:
            return None
        service, table, pk = found.groups()
        if pk is None:
            return self.page_route.with_kwargs({"service": service, "table": table})
        return self.record_route.with_kwargs({"service": service, "table": table, "pk": pk})

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """A table route's match from `table_match`; any other path's from the URL patterns."""
        match = None if hasattr(request, "urlconf") else self.table_match(request.path_info)
        if match is None:
            return super().resolve_request(request)
        request.resolver_match = match
        return match

    def table_view(self, request: HttpRequest) -> HttpResponseBase:
        """The end of `table_chain`: the table view's `answer_permitted`.

        A caller it does not authenticate and permit goes on through
        `_get_response` (the route and the view's whole dispatch), which
        answers them.
        """
        match = request.resolver_match
        assert match is not None  # get_response set it
        view: Any = match.func
        response: HttpResponseBase | None = view.view_class.answer_permitted(request, match.kwargs)
        if response is None:
            handler: Any = self
            full: HttpResponseBase = handler._get_response(request)
            return full
        render = getattr(response, "render", None)
        if callable(render):
            response = render()  # a DRF Response (the error envelope), as Django does
        return response

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        """The response, by `table_chain` for a table read, with `Content-Length` set.

        Without the length (CommonMiddleware's, on the full stack) the server
        falls back to chunked transfer encoding: more writes per response,
        and clients cannot tell the size up front.
        """
        match = self.table_match(request.path_info) if request.method == "GET" else None
        response: Any
        if match is None or not self.direct:
            response = super().get_response(request)
        else:
            # What BaseHandler.get_response does around its chain.
            request.resolver_match = match
            response = self.table_chain(request)
            response._resource_closers.append(request.close)
            if response.status_code >= 400:
                log_response(
                    "%s: %s", response.reason_phrase, request.path,
                    response=response, request=request,
                )  # fmt: skip
        if not response.streaming and "Content-Length" not in response.headers:
            response.headers["Content-Length"] = str(len(response.content))
        answer: HttpResponseBase = response
        return answer


# Django's own receivers of the request signals (django.db, django.core.cache,
# django.core.handlers.base): all that listen unless other code connects one.
DJANGO_RECEIVERS = frozenset({reset_queries, close_old_connections, close_caches, reset_urlconf})


def django_receivers(signal: Signal) -> list[Callable[..., Any]] | None:
    """The receivers `signal.send` would call, when all are Django's own; else None."""
    found = []
    for (_receiver_key, sender_key), receiver, is_async in signal.receivers:
        live = receiver() if isinstance(receiver, weakref.ReferenceType) else receiver
        if live is None:
            continue  # collected: send skips it too
        if is_async or sender_key != NONE_ID or live not in DJANGO_RECEIVERS:
            return None
        found.append(live)
    return found


class Body:
    """A response's body for the server: closing it finishes the request as Django's would.

    `HttpResponseBase.close`, with `request_finished`'s receivers called
    directly while all are Django's own (looked at then: the request may have
    connected one, as a first event script does).
    """

    def __init__(self, response: HttpResponseBase) -> None:
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        response: Any = self.response
        try:
            for closer in response._resource_closers:
                with contextlib.suppress(Exception):  # as Django does
                    closer()
            response._resource_closers.clear()
            response.closed = True
        finally:
            sender = response._handler_class
            finished = django_receivers(signals.request_finished)
            if finished is None:
                signals.request_finished.send(sender=sender)
            else:
                for receiver in finished:
                    receiver(signal=signals.request_finished, sender=sender)


class ApiHandler(ApiRoutes, WSGIHandler):
    """The WSGI handler of API calls (see `ApiRoutes`).

    While only Django's own receivers listen to a request signal, it calls
    them itself, as `Signal.send` would, without the dispatch machinery (a
    lock, the sender's id, lists rebuilt on every call), which costs a few
    percent of a one-row read here. Once other code connects a receiver
    (event scripts record their runs on `request_finished`), that signal is
    sent as usual.
    """

    def __call__(  # type: ignore[override]  # a WSGI body: any iterable, not only a response
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """`WSGIHandler.__call__`, with the signals' receivers called directly when they may be."""
        started = django_receivers(signals.request_started)
        if started is None:
            served: Iterable[bytes] = super().__call__(environ, start_response)
            return served
        set_script_prefix(get_script_name(environ))
        for receiver in started:
            receiver(signal=signals.request_started, sender=self.__class__, environ=environ)
        request = self.request_class(environ)
        response: Any = self.get_response(request)
        response._handler_class = self.__class__
        status = f"{response.status_code} {response.reason_phrase}"
        headers = [
            *response.items(),
            *(("Set-Cookie", cookie.output(header="")) for cookie in response.cookies.values()),
        ]
        start_response(status, headers)
        body = Body(response)
        if getattr(response, "file_to_stream", None) is not None and environ.get(
            "wsgi.file_wrapper"
        ):
            # As Django does: the server closes the file wrapper, not the response.
            response.file_to_stream.close = body.close
            wrapped: Iterable[bytes] = environ["wsgi.file_wrapper"](
                response.file_to_stream, response.block_size
            )
            return wrapped
        return body


class Application:
    """Route each request to the API handler or the full one."""

    def __init__(self) -> None:
        self.site = WSGIHandler()
        self.api = ApiHandler()
        self.session_cookie = settings.SESSION_COOKIE_NAME + "="

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if is_api_call(environ, self.session_cookie):
            return self.api(environ, start_response)
        return self.site(environ, start_response)


def get_application() -> Application:
    """Set Django up and return the application (what `get_wsgi_application` does)."""
    django.setup(set_prefix=False)
    return Application()
