"""Verb tunnelling: a POST may carry the verb it stands for (`X-HTTP-Method` or `?method=`).

One rule: every part of the platform that asks which verb a request acts
with (the views, the rate limits, the audit trail) asks here.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

OVERRIDE_HEADERS = ("HTTP_X_HTTP_METHOD", "HTTP_X_METHOD_OVERRIDE")
TUNNELLED_METHODS = ("GET", "PUT", "PATCH", "DELETE")


def overridden_method(request: HttpRequest | Request) -> str | None:
    """The verb named by `X-HTTP-Method` (or `X-Method-Override`, or `?method=`), upper-cased."""
    http = request._request if isinstance(request, Request) else request
    meta = http.META
    for header in OVERRIDE_HEADERS:
        if meta.get(header):
            return str(meta[header]).upper()
    method = http.GET.get("method")
    return method.upper() if method else None


def effective_verb(request: HttpRequest | Request) -> str:
    """The verb a request acts with: a POST tunnelling another verb counts as that verb."""
    method = str(request.method or "").upper()
    if method == "POST":
        tunnelled = overridden_method(request)
        if tunnelled in TUNNELLED_METHODS:
            return tunnelled
    return method
