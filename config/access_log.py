"""gunicorn's access log, without the API calls the audit trail already logs.

With auditing and its log line on (`SLUICEGATE_AUDIT`, `SLUICEGATE_AUDIT_LOG`),
every `/api/v2` call is logged once, as the audit trail's JSON line (who, what,
status, rows, duration, request id); gunicorn's own line for it would say
less, twice. Other requests (the admin, health, OAuth pages) keep gunicorn's
line.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

API_PREFIX = "/api/v2"


class AccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's Logger, leaving out API calls when the audit trail logs them."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if audit_logs_api_calls() and str(environ.get("PATH_INFO", "")).startswith(API_PREFIX):
            return
        super().access(resp, req, environ, request_time)


def audit_logs_api_calls() -> bool:
    from django.conf import settings

    return bool(
        settings.configured
        and getattr(settings, "SLUICEGATE_AUDIT", True)
        and getattr(settings, "SLUICEGATE_AUDIT_LOG", True)
    )
