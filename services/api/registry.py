"""Find a service's `ServiceConfig` by name, cached briefly per process.

One rule: the API path never queries the platform database for a service on
every request; an edit in the admin reaches every process within
CACHE_SECONDS (its new stamp then rebuilds the pool and the schema).
"""

from __future__ import annotations

from config.ttlcache import TTLCache
from services.connection import ServiceConfig

CACHE_SECONDS = 5.0

_configs: TTLCache[str, ServiceConfig | None] = TTLCache(CACHE_SECONDS)


def service_config(name: str) -> ServiceConfig | None:
    """Return the active service called `name`, or None."""
    return _configs.get(name, lambda: load_config(name))


def load_config(name: str) -> ServiceConfig | None:
    from services.models import Service

    service = Service.objects.filter(name=name, active=True).first()
    return service.config() if service is not None else None


def active_service_labels() -> list[tuple[str, str]]:
    """Return (name, label) of every active service, by name."""
    from services.models import Service

    return list(Service.objects.filter(active=True).order_by("name").values_list("name", "label"))


def forget_services() -> None:
    """Drop the cache (tests, and after edits in this process)."""
    _configs.clear()
