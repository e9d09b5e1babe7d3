"""Find a service's `ServiceConfig` by name, cached briefly per process.

One rule: the API path never queries the platform database for a service on
every request; an edit in the admin reaches every process within
CACHE_SECONDS (its new stamp then rebuilds the pool and the schema).
"""

from __future__ import annotations

import threading
import time

from services.connection import ServiceConfig

CACHE_SECONDS = 5.0

_cache: dict[str, tuple[float, ServiceConfig | None]] = {}
_lock = threading.Lock()


def service_config(name: str) -> ServiceConfig | None:
    """Return the active service called `name`, or None."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(name)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    from services.models import Service

    service = Service.objects.filter(name=name, active=True).first()
    config = service.config() if service is not None else None
    with _lock:
        _cache[name] = (now, config)
    return config


def active_service_labels() -> list[tuple[str, str]]:
    """Return (name, label) of every active service, by name."""
    from services.models import Service

    return list(Service.objects.filter(active=True).order_by("name").values_list("name", "label"))


def forget_services() -> None:
    """Drop the cache (tests, and after edits in this process)."""
    with _lock:
        _cache.clear()
