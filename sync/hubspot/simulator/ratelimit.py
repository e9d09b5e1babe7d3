"""HubSpot's rate limits per token: the rolling ten-second burst, the day, and search's own.

One rule: a request is counted once, here, before it is served: the burst
window (search exempt) and the search window are rolling logs of accepted
requests on the injected clock, the daily count resets at midnight UTC, and a
refused request consumes nothing. Every authenticated non-search attempt,
refused ones included, also enters the stats log that yields "the most
requests seen in any window", the figure a well-behaved client keeps at or
below the limit.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .config import SimulatorConfig
from .errors import error_body

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
SECONDLY = "SECONDLY"
DAY_SECONDS = 86_400


def rate_limit_body(policy: str) -> dict[str, Any]:
    """HubSpot's 429 body for `policy` (burst, daily, or search's secondly)."""
    if policy == SECONDLY:
        return error_body("You have reached your secondly limit.", "RATE_LIMITS")
    message = {
        TEN_SECONDLY: "You have reached your ten_secondly_rolling limit.",
        DAILY: "You have reached your daily limit.",
    }[policy]
    body = error_body(message, "RATE_LIMITS")
    # The general limiter's bodies carry errorType/policyName instead of a category.
    del body["category"]
    body.update(
        {"errorType": "RATE_LIMIT", "policyName": policy, "requestId": body["correlationId"]}
    )
    return body


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer: refused by which policy (None: allowed), headers, Retry-After."""

    policy: str | None
    headers: dict[str, str]
    retry_after: int | None = None


@dataclass
class _TokenState:
    accepted: deque[float] = field(default_factory=deque)
    searches: deque[float] = field(default_factory=deque)
    attempts: deque[float] = field(default_factory=deque)
    day: int = -1
    daily_used: int = 0
    requests: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    max_attempts: int = 0
    max_accepted: int = 0


def _prune(log: deque[float], now: float, window: float) -> None:
    while log and log[0] <= now - window:
        log.popleft()


class RateLimiter:
    """Counts and limits requests per token; thread-safe."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _TokenState] = {}

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._tokens.clear()

    def check(self, token: str, *, search: bool, config: SimulatorConfig) -> Decision:
        """Count one request of `token`; return whether it may be served and its headers."""
        window = config.burst_window_seconds
        with self._lock:
            # Read under the lock, so the logs stay in time order: a request
            # whose thread read the clock first but locked second would sit
            # behind a newer one and still be counted after its window passed.
            now = self._clock.now()
            state = self._tokens.setdefault(token, _TokenState())
            state.requests += 1
            day = int(now // DAY_SECONDS)
            if day != state.day:
                state.day, state.daily_used = day, 0
            _prune(state.accepted, now, window)
            if not search:
                state.attempts.append(now)
                _prune(state.attempts, now, window)
                state.max_attempts = max(state.max_attempts, len(state.attempts))
            policy, retry_after = self._refusal(state, now, search=search, config=config)
            if policy is None:
                state.daily_used += 1
                (state.searches if search else state.accepted).append(now)
                state.max_accepted = max(state.max_accepted, len(state.accepted))
            else:
                state.refused[policy] = state.refused.get(policy, 0) + 1
            headers = {} if search else self._headers(state, config)
        if policy is not None and config.retry_after_on_429 and retry_after is not None:
            return Decision(policy, headers, retry_after)
        return Decision(policy, headers)

    def _refusal(
        self, state: _TokenState, now: float, *, search: bool, config: SimulatorConfig
    ) -> tuple[str | None, int | None]:
        if state.daily_used >= config.daily_limit:
            return DAILY, math.ceil((state.day + 1) * DAY_SECONDS - now)
        if search:
            _prune(state.searches, now, config.search_window_seconds)
            if len(state.searches) >= config.search_limit:
                wait = state.searches[0] + config.search_window_seconds - now
                return SECONDLY, max(1, math.ceil(wait))
            return None, None
        if len(state.accepted) >= config.burst_limit:
            wait = state.accepted[0] + config.burst_window_seconds - now
            return TEN_SECONDLY, max(1, math.ceil(wait))
        return None, None

    @staticmethod
    def _headers(state: _TokenState, config: SimulatorConfig) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(config.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(
                max(0, config.daily_limit - state.daily_used)
            ),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(
                round(config.burst_window_seconds * 1000)
            ),
            "X-HubSpot-RateLimit-Max": str(config.burst_limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, config.burst_limit - len(state.accepted))),
        }

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per token: requests, 429s by policy, daily use, and the most requests in any window."""
        with self._lock:
            return {
                token: {
                    "requests": state.requests,
                    "rate_limited": sum(state.refused.values()),
                    "rate_limited_by_policy": dict(state.refused),
                    "daily_used": state.daily_used,
                    "max_requests_in_window": state.max_attempts,
                    "max_accepted_in_window": state.max_accepted,
                }
                for token, state in self._tokens.items()
            }
