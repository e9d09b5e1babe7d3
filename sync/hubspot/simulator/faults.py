"""Fault injection: which API request gets an error, a hang or a dropped connection.

One rule: the choice is reproducible: scripted faults (`fault_script`) go to
the very next requests in order; after them, each request draws from one
`random.Random` seeded with `fault_seed`, so the same sequence of requests
meets the same faults. What a fault looks like on the wire is the HTTP
layer's business; here only the choice, and the bodies of error answers.
"""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from typing import Any

from .config import SimulatorConfig
from .errors import error_body
from .ratelimit import DAILY, SECONDLY, TEN_SECONDLY, rate_limit_body

CONNECTION_FAULTS = frozenset({"timeout", "slow", "drop", "drop_after"})

_CLOUDFLARE_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
    521: "521 Web server is down",
    524: "524 A timeout occurred",
}


class FaultInjector:
    """Picks faults for requests; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(0)  # noqa: S311 (seeded for reproducible tests)
        self._script: deque[str] = deque()
        self.injected: dict[str, int] = {}

    def reset(self, config: SimulatorConfig) -> None:
        """Reseed from `config`, load its script and forget the counts."""
        with self._lock:
            self._random = random.Random(config.fault_seed)  # noqa: S311 (seeded for reproducible tests)
            self._script = deque(config.fault_script)
            self.injected = {}

    def reseed(self, config: SimulatorConfig, *, script: bool) -> None:
        """Apply a configuration change: reseed, and reload the script when it was given."""
        with self._lock:
            self._random = random.Random(config.fault_seed)  # noqa: S311 (seeded for reproducible tests)
            if script:
                self._script = deque(config.fault_script)

    def pick(self, path: str, config: SimulatorConfig) -> str | None:
        """The fault for a request to `path`, or None to serve it normally."""
        if config.fault_paths and config.fault_paths not in path:
            return None
        with self._lock:
            if self._script:
                mode: str | None = self._script.popleft()
            elif config.fault_rate > 0 and self._random.random() < config.fault_rate:
                mode = self._random.choice(config.fault_modes)
            else:
                mode = None
            if mode is not None:
                self.injected[mode] = self.injected.get(mode, 0) + 1
            return mode

    def stats(self) -> dict[str, Any]:
        """Faults injected so far by mode, and how many scripted ones are left."""
        with self._lock:
            return {"injected": dict(self.injected), "script_left": list(self._script)}


def fault_answer(mode: str, config: SimulatorConfig) -> tuple[int, bytes, dict[str, str]]:
    """Status, body bytes and headers of an error-answer fault (`mode` not a connection fault)."""
    headers = {"Content-Type": "application/json;charset=utf-8"}
    if mode.startswith("429"):
        policy = {"429": TEN_SECONDLY, "429_daily": DAILY, "429_secondly": SECONDLY}[mode]
        body: dict[str, Any] = rate_limit_body(policy)
        return 429, json.dumps(body).encode(), headers
    status = int(mode)
    if status == 423:
        message = (
            "Too many writes to the same records in a short time; retry after at least 2 seconds."
        )
        body = error_body(message, "LOCKED")
    elif status == 477:
        body = error_body("This account is being migrated; retry later.", "MIGRATION_IN_PROGRESS")
        headers["Retry-After"] = str(config.fault_retry_after_seconds)
    elif status == 500:
        body = error_body("internal error", "INTERNAL_ERROR")
    else:
        # HubSpot's edge answers these with an HTML page, not JSON.
        title = _CLOUDFLARE_TITLES[status]
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        if status == 503:
            headers = {
                "Content-Type": "text/html",
                "Retry-After": str(config.fault_retry_after_seconds),
            }
        else:
            headers = {"Content-Type": "text/html"}
        return status, page.encode(), headers
    return status, json.dumps(body).encode(), headers
