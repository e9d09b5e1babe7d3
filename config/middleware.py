"""Request ids: every request gets one, every answer and log line carries it.

One rule: an `X-Request-Id` sent by the caller is kept only when it is short
and plain (`[A-Za-z0-9._:-]{1,64}`); anything else is replaced by a fresh
random 128-bit hex id, so a caller can never inject text into logs or the
audit trail.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest
from django.http.response import HttpResponseBase

HEADER = "X-Request-Id"
META_KEY = "HTTP_X_REQUEST_ID"
WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_current: ContextVar[str | None] = ContextVar("sluicegate_request_id", default=None)


def current_request_id() -> str | None:
    """Return the id of the request being handled in this thread or task, or None."""
    return _current.get()


def request_id_for(request: HttpRequest) -> str:
    """Return the caller's `X-Request-Id` if well-formed, else 32 new random hex digits."""
    given = request.META.get(META_KEY)
    if isinstance(given, str) and WELL_FORMED.fullmatch(given):
        return given
    return os.urandom(16).hex()  # as random as a uuid4, without building one


class RequestIdMiddleware:
    """Sets `request.request_id` and the context's id, and answers with `X-Request-Id`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_for(request)
        request.request_id = request_id  # type: ignore[attr-defined]  # read by the audit trail
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            # django.request logs after the middleware returned, with the request attached.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or current_request_id() or "-"
        return True
