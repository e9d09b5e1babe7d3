"""Values crossing the sandbox's edge: a run's limits, its outcome, and the host it calls.

The one rule: nothing here refers to a process, a pipe or Django — callers build and read
these values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one run: wall-clock seconds, CPU seconds and address space in MB."""

    wall_seconds: float = 5.0
    cpu_seconds: float = 5.0
    memory_mb: int = 256


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run did.

    ``event`` is the event as the script left it (the event as given when the run
    failed); ``abort`` is ``(status, message)`` from ``platform.Abort``; ``error`` is a
    short "Script error: …" message, never a platform path or secret; ``logs`` are the
    bounded lines of ``platform.log`` and ``print``.
    """

    event: dict[str, Any]
    abort: tuple[int, str] | None
    error: str | None
    logs: tuple[str, ...]
    duration_ms: float


class Host(Protocol):
    """Parent-side answers to the script's platform calls (runs in the web/worker process).

    ``api`` and ``http`` return ``{"status_code": int, "content": Any, "headers": dict}``;
    ``http`` raises PermissionError for a host not allowed. ``store`` takes ``op`` in
    ``{"get", "set", "delete"}``. PermissionError, ValueError and TypeError messages reach
    the script; any other exception reaches it as "platform.<call> failed".
    """

    def api(
        self, method: str, path: str, payload: Any, params: Mapping[str, Any] | None
    ) -> dict[str, Any]: ...

    def store(self, op: str, key: str, value: Any = None, ttl: int | None = None) -> Any: ...

    def http(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Any,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]: ...
