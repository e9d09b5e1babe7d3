"""The 500 answer: the API's JSON envelope under /api/, Django's page elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error

from config.middleware import current_request_id


def server_error(request: HttpRequest) -> HttpResponse:
    """Never a stack trace: a fixed message and the request's id (the error is logged by Django)."""
    if request.path.startswith("/api/"):
        body = {
            "error": {
                "code": 500,
                "message": "An internal error occurred.",
                "status_code": 500,
                "context": None,
                "request_id": getattr(request, "request_id", None) or current_request_id(),
            }
        }
        return JsonResponse(body, status=500)
    return django_server_error(request)
