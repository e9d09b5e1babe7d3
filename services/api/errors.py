"""The one error envelope of the API and the DRF exception handler that renders it.

One rule: every error answer is `{"error": {"code", "message", "status_code",
"context", "request_id"}}` with a message safe to show (DreamFactory's wording
where clients match on it) and the request's id (also in `X-Request-Id`, the
logs and the audit trail); nothing else — no stack trace, no SQL — ever
reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from config.middleware import current_request_id
from services.pools import ServiceUnavailable
from services.sql.errors import QueryError

logger = logging.getLogger(__name__)


NO_CREDENTIAL = "No session token or API key was given. Log in, or send an API key."


class ApiError(Exception):
    """An API failure with its HTTP status, DreamFactory code and optional context."""

    def __init__(
        self, status: int, message: str, *, code: int | None = None, context: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code if code is not None else status
        self.context = context


def envelope(
    status: int, message: str, *, code: int | None = None, context: Any = None
) -> dict[str, Any]:
    """Return the error body for `status` and `message`, with the current request's id."""
    return {
        "error": {
            "code": code if code is not None else status,
            "message": message,
            "status_code": status,
            "context": context,
            "request_id": current_request_id(),
        }
    }


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def drf_message(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.NotAuthenticated):
        return NO_CREDENTIAL
    if isinstance(exc.detail, list | dict):
        return "Invalid request."
    return str(exc.detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every failure as the error envelope."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApiError):
        status, body = (
            exc.status,
            envelope(exc.status, exc.message, code=exc.code, context=exc.context),
        )
    elif isinstance(exc, QueryError):
        status, body = exc.status, envelope(exc.status, exc.message)
    elif isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        status, body = (
            413,
            envelope(413, f"The request body is larger than the {limit} bytes allowed."),
        )
    elif isinstance(exc, Http404):
        status, body = 404, envelope(404, "Resource not found.")
    elif isinstance(exc, ServiceUnavailable):
        status, body = 503, envelope(503, str(exc))
    elif isinstance(
        exc,
        psycopg.errors.UndefinedTable
        | psycopg.errors.UndefinedColumn
        | psycopg.errors.UndefinedObject,
    ):
        # The database changed under a schema snapshot that has not caught up yet.
        logger.warning("a query met a schema change", exc_info=True)
        status = 503
        body = envelope(503, "The service's schema changed; retry in a few seconds.")
        headers["Retry-After"] = "5"
    elif isinstance(exc, psycopg.OperationalError):
        logger.warning("database unavailable during a request", exc_info=True)
        status, body = 503, envelope(503, "The service's database is unavailable.")
    elif isinstance(exc, exceptions.APIException):
        status = exc.status_code
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            status = 401
        body = envelope(status, drf_message(exc))
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    else:
        return None  # Django's handler logs it and answers 500 (see config.urls handler500)
    return Response(body, status=status, headers=headers)
