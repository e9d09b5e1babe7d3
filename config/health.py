"""Liveness and readiness probes: unauthenticated JSON for orchestrators.

`/health/live` answers as long as the process serves requests;
`/health/ready` also reaches PostgreSQL and Redis, each with a short timeout,
and answers 503 naming what failed. Neither reveals addresses or errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg
import redis
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.database import platform_conninfo

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2


def check_postgres() -> None:
    """Open a fresh connection to the platform database and run `SELECT 1`."""
    with psycopg.connect(platform_conninfo(connect_timeout=PROBE_TIMEOUT_SECONDS)) as conn:
        conn.execute("SELECT 1")


def check_redis() -> None:
    """Ping the platform's Redis."""
    client = redis.Redis.from_url(
        settings.REDIS_URL or "",
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


CHECKS: dict[str, Callable[[], None]] = {"postgres": check_postgres, "redis": check_redis}


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process is up."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Answer 200 when every dependency is reachable, else 503 naming the failures."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:  # any failure means "not ready"; the reason goes to the log only
            logger.warning("readiness check %s failed", name, exc_info=True)
            results[name] = "unavailable"
        else:
            results[name] = "ok"
    healthy = all(state == "ok" for state in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )
