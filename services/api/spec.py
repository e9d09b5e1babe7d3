"""`GET /api/v2/{service}/_spec`: the service's OpenAPI 3.1 document, as the caller's role sees it.

One rule: `_spec` is not a component of its own: any caller who can reach
the service (a rule granting some verb on some component of it, or a
superuser) may read it, and it shows only what that caller reaches; a caller
who cannot reach the service gets the 404 a missing service gets.
"""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request

from services.api.openapi import service_document
from services.api.reads import json_response
from services.api.views import ApiView


class SpecView(ApiView):
    """GET /api/v2/{service}/_spec."""

    def get(self, request: Request, service: str) -> HttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        origin = request.build_absolute_uri("/").rstrip("/")
        return json_response(service_document(config, snapshot, self.access, origin=origin))
