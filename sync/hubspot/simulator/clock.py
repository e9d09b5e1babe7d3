"""Clocks for the simulator: the wall clock, and a manual one tests move by hand.

One rule: every time-dependent decision of the simulator (rate-limit windows,
the daily reset, timestamps of records, the search indexing delay) reads the
injected clock, never `time.time()` directly, so tests can shrink or jump time.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Something that tells the time, in seconds since the epoch (UTC)."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """Return `time.time()`."""
        return time.time()


class ManualClock:
    """A clock that stands still until told to move; thread-safe."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        # 2026-01-01T00:00:00Z: a midnight, so daily windows start at a known point.
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the time the clock was last set or advanced to."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        """Put the clock at `when` (seconds since the epoch)."""
        with self._lock:
            self._now = when
