"""The active event scripts and the HTTP allow-list as one immutable value per process.

One rule: the API path never queries the platform database to find a
request's scripts. Each process holds one `ScriptState` (scripts by event
name, allowed hosts) tagged with the version published in Redis; it re-reads
that version at most every `SLUICEGATE_SCRIPTS_CHECK_SECONDS` (default 1)
and reloads when it moved. Any save or delete of a script, an allowed host
or a HubSpot account drops this process's state at once and bumps the
published version when the transaction commits.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.db import transaction

from config import versions
from services.scripting.events import SCHEDULED

logger = logging.getLogger(__name__)

VERSION_KEY = "scripts:version"
DEFAULT_CHECK_SECONDS = 1.0
WATCHED = ("services.EventScript", "services.ScriptHttpHost", "sync.HubSpotAccount")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class ScriptInfo:
    """What running one script needs, without its model."""

    id: int
    name: str
    source: str
    allow_event_modification: bool
    time_limit_seconds: float
    memory_limit_mb: int
    run_as_app_id: int | None = None


@dataclass(frozen=True, slots=True)
class ScriptState:
    version: str
    by_event: dict[str, tuple[ScriptInfo, ...]] = field(default_factory=dict)
    by_id: dict[int, ScriptInfo] = field(default_factory=dict)
    hosts: frozenset[tuple[str, str, int]] = frozenset()  # (scheme, host, port)

    def scripts_for(self, name: str) -> tuple[ScriptInfo, ...]:
        return self.by_event.get(name, ())

    def host_allowed(self, url: str) -> bool:
        """Return whether `url`'s scheme, host and port are on the allow-list."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return False
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            return False
        return (scheme, parts.hostname.lower().rstrip("."), port) in self.hosts


_current: tuple[float, ScriptState] | None = None
_guard = threading.Lock()


def current_scripts() -> ScriptState:
    """Return this process's state, reloading it when the published version moved."""
    global _current
    held = _current
    now = time.monotonic()
    if held is not None and now - held[0] < _check_seconds():
        return held[1]
    version = published_version()
    if held is not None and held[1].version == version:
        _current = (now, held[1])
        return held[1]
    with _guard:
        state = load_scripts(version)
        _current = (time.monotonic(), state)
        return state


def forget_scripts() -> None:
    """Drop this process's state: the next look-up reloads it."""
    global _current
    _current = None


def changed(sender: Any = None, **kwargs: Any) -> None:
    """Signal receiver: a watched model was saved or deleted."""
    forget_scripts()
    transaction.on_commit(_bump)


def _bump() -> None:
    forget_scripts()
    versions.bump(VERSION_KEY, "the event scripts")


def published_version() -> str:
    return versions.published(VERSION_KEY, "the event scripts")


def _check_seconds() -> float:
    return float(getattr(settings, "SLUICEGATE_SCRIPTS_CHECK_SECONDS", DEFAULT_CHECK_SECONDS))


def _hubspot_hosts() -> set[tuple[str, str, int]]:
    """The base URLs of active HubSpot accounts, when the sync app is installed."""
    if not apps.is_installed("sync"):
        return set()
    try:
        account = apps.get_model("sync", "HubSpotAccount")
    except LookupError:
        return set()
    hosts: set[tuple[str, str, int]] = set()
    for url in account.objects.filter(active=True).values_list("base_url", flat=True):
        parts = urlsplit(url or "")
        scheme = parts.scheme.lower()
        if scheme in DEFAULT_PORTS and parts.hostname:
            hosts.add((scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme]))
    return hosts


def script_info(script: Any) -> ScriptInfo:
    """The ScriptInfo of an EventScript row."""
    return ScriptInfo(
        id=script.pk,
        name=script.name,
        source=script.source,
        allow_event_modification=script.allow_event_modification,
        time_limit_seconds=script.time_limit_seconds,
        memory_limit_mb=script.memory_limit_mb,
        run_as_app_id=script.run_as_app_id,
    )


def load_scripts(version: str) -> ScriptState:
    """Read the active scripts and the allow-list from the platform database."""
    from services.scripting.models import EventScript, ScriptHttpHost

    by_event: dict[str, list[ScriptInfo]] = {}
    by_id: dict[int, ScriptInfo] = {}
    for script in EventScript.objects.filter(active=True).order_by("pk"):
        info = script_info(script)
        by_id[script.pk] = info
        if not script.name.endswith("." + SCHEDULED):
            by_event.setdefault(script.name, []).append(info)
    hosts = {
        (scheme, host, port or DEFAULT_PORTS[scheme])
        for scheme, host, port in ScriptHttpHost.objects.values_list("scheme", "host", "port")
    }
    return ScriptState(
        version=version,
        by_event={name: tuple(items) for name, items in by_event.items()},
        by_id=by_id,
        hosts=frozenset(hosts | _hubspot_hosts()),
    )
