"""Everything one simulator instance holds: records, links, limits, faults, webhooks, counters.

One rule: record data (stores and links) is read and changed only under
`SimState.lock`; the limiter, fault injector, webhook emitter and counters
lock themselves. `reset` puts all of it back to the configuration the
simulator was created with.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from typing import Any, TypeVar

from .catalog import OBJECT_TYPES, ObjectType, resolve_type
from .clock import Clock
from .config import SimulatorConfig, config_updated
from .errors import bad_request
from .faults import FaultInjector
from .links import LinkStore
from .ratelimit import RateLimiter
from .stats import RequestStats
from .store import TypeStore
from .webhooks import WebhookEmitter

T = TypeVar("T")


class SimState:
    """The state of one simulator."""

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.defaults = config
        self.config = config
        self.stores: dict[str, TypeStore] = {}
        self.links = LinkStore()
        self.limiter = RateLimiter(clock)
        self.faults = FaultInjector()
        self.requests = RequestStats()
        self.webhooks = WebhookEmitter(clock, lambda: self.config)
        self._order_random = random.Random(config.shuffle_seed)  # noqa: S311 (seeded for reproducible tests)
        self._last_ms = 0
        self.reset()

    def reset(self) -> None:
        """Drop every record, link, count and setting change."""
        with self.lock:
            self.config = self.defaults
            self.stores = {t.name: TypeStore(t, self.config.id_start) for t in OBJECT_TYPES}
            self.links.clear()
            self._order_random = random.Random(self.config.shuffle_seed)  # noqa: S311 (seeded for reproducible tests)
        self.limiter.reset()
        self.faults.reset(self.config)
        self.requests.reset()
        self.webhooks.reset(self.config.fault_seed)

    def configure(self, changes: Mapping[str, Any]) -> SimulatorConfig:
        """Apply setting changes (ConfigError if any is bad); return the new settings."""
        with self.lock:
            self.config = config_updated(self.config, changes)
            if "shuffle_seed" in changes:
                self._order_random = random.Random(self.config.shuffle_seed)  # noqa: S311 (seeded for reproducible tests)
            if "id_start" in changes:
                for store in self.stores.values():
                    if not store.records:
                        store.next_id = self.config.id_start
            config = self.config
        if {"fault_seed", "fault_script"} & set(changes):
            self.faults.reseed(config, script="fault_script" in changes)
        return config

    def now_ms(self) -> int:
        """The clock in epoch milliseconds, never earlier than a time already handed out."""
        with self.lock:
            self._last_ms = max(self._last_ms, int(self.clock.now() * 1000))
            return self._last_ms

    def store_for(self, name: str) -> TypeStore:
        """The store of the object type a path names; 400 for an unknown type."""
        object_type = resolve_type(name)
        if object_type is None:
            raise bad_request(f"Unable to infer object type from: {name}")
        return self.stores[object_type.name]

    def object_type(self, name: str) -> ObjectType:
        """The object type a path names; 400 for an unknown type."""
        return self.store_for(name).type

    def ordered(self, items: list[T]) -> list[T]:
        """Batch results in HubSpot's fashion: never in input order (reversed, or shuffled)."""
        if self.config.shuffle_results:
            shuffled = list(items)
            with self.lock:
                self._order_random.shuffle(shuffled)
            return shuffled
        return list(reversed(items))

    def stats(self) -> dict[str, Any]:
        """The counters `/__sim__/stats` shows."""
        by_path, by_outcome = self.requests.snapshot()
        tokens = self.limiter.stats()
        by_policy: dict[str, int] = {}
        for figures in tokens.values():
            for policy, count in figures["rate_limited_by_policy"].items():
                by_policy[policy] = by_policy.get(policy, 0) + count
        with self.lock:
            objects = {
                name: {"active": len(store.active), "archived": len(store.archived)}
                for name, store in self.stores.items()
            }
        return {
            "requests": sum(by_path.values()),
            "requests_by_path": by_path,
            "responses_by_status": by_outcome,
            "rate_limited": sum(by_policy.values()),
            "rate_limited_by_policy": by_policy,
            "window_seconds": self.config.burst_window_seconds,
            "max_requests_in_window": max(
                (figures["max_requests_in_window"] for figures in tokens.values()), default=0
            ),
            "max_accepted_in_window": max(
                (figures["max_accepted_in_window"] for figures in tokens.values()), default=0
            ),
            "tokens": tokens,
            "faults": self.faults.stats(),
            "webhooks": self.webhooks.stats(),
            "objects": objects,
        }
