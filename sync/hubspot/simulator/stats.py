"""Counters for `/__sim__/stats`: requests by endpoint and answers by status.

One rule: every request that reaches the API side (control endpoints
excluded) is counted exactly once, under its route template
(`POST /crm/v3/objects/contacts/batch/upsert`, `GET /crm/v3/objects/contacts/{id}`),
so tests can count what a client sent without parsing ids.
"""

from __future__ import annotations

import threading
from collections import Counter


class RequestStats:
    """Request and status counters; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()

    def reset(self) -> None:
        with self._lock:
            self._by_path.clear()
            self._by_status.clear()

    def count(self, route: str, outcome: str) -> None:
        """Count one request; `outcome` is the status code, or the fault that cut it short."""
        with self._lock:
            self._by_path[route] += 1
            self._by_status[outcome] += 1

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """Requests by route, and outcomes (status codes, cut connections) by count."""
        with self._lock:
            return dict(sorted(self._by_path.items())), dict(sorted(self._by_status.items()))
