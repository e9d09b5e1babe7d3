"""What the HubSpot client needs to know about one HubSpot account: where, who, how fast.

One rule: these are plain values, built by whoever holds the account (the
`HubSpotAccount` model, a test, a benchmark); the client reads nothing else,
no database and no Django settings. The token is never part of a repr.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_API_VERSION = "v3"
# Free / Starter tier limits for privately distributed apps (REFERENCE §3.1).
DEFAULT_BURST_LIMIT = 100
DEFAULT_BURST_WINDOW = 10.0
DEFAULT_DAILY_LIMIT = 250_000
# Search has its own, lower limit: 5 requests per second per account (REFERENCE §1.5).
DEFAULT_SEARCH_LIMIT = 5
DEFAULT_SEARCH_WINDOW = 1.0
BATCH_LIMIT = 100
API_VERSION_PATTERN = re.compile(r"v3|\d{4}-\d{2}")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """httpx timeouts in seconds: connect, read, write, and wait for a pooled connection."""

    connect: float = 5.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 5.0

    @property
    def total(self) -> float:
        """An upper bound of one request's duration, as far as the timeouts bound it."""
        return self.connect + self.read + self.write + self.pool


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failures are retried.

    `max_attempts` bounds the attempts of one request that fail with a
    retryable error (5xx, 423, 477, timeouts, dropped connections); 429s are
    not failures and are bounded separately by `max_rate_limited`. Backoff is
    exponential with full jitter: attempt n waits a random time in
    [0, min(backoff_cap, backoff_base * 2**(n-1))]; a 423 waits at least
    `locked_wait`. A `Retry-After` longer than `max_wait` is not waited for:
    the request fails instead. `retry_ambiguous_creates` lets creates be
    retried after failures that leave it unknown whether HubSpot applied
    them (see `transport`).
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_rate_limited: int = 50
    max_wait: float = 300.0
    locked_wait: float = 2.0  # 423 Locked: HubSpot's lock lasts 2 s
    retry_ambiguous_creates: bool = False


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """One HubSpot account (more exactly: one token, the unit HubSpot's burst limit counts).

    `api_version` is `v3` or a date version such as `2026-03`; every path is
    built from it. `limiter_key` names the account's shared rate limiter in
    Redis; by default it is derived from the base URL and the token, so every
    process using the same token shares one limiter. `window_margin` (seconds)
    widens the limiter's windows a little beyond HubSpot's, for clocks and
    HubSpot's own window arithmetic. `timezone` is the account's, where the
    daily limit resets at midnight.
    """

    token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    burst_limit: int = DEFAULT_BURST_LIMIT
    burst_window: float = DEFAULT_BURST_WINDOW
    daily_limit: int = DEFAULT_DAILY_LIMIT
    search_limit: int = DEFAULT_SEARCH_LIMIT
    search_window: float = DEFAULT_SEARCH_WINDOW
    window_margin: float = 0.25
    timezone: str = "UTC"
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = BATCH_LIMIT
    limiter_key: str = ""

    def __post_init__(self) -> None:
        if not API_VERSION_PATTERN.fullmatch(self.api_version):
            raise ValueError(
                f"api_version must be v3 or a date version like 2026-03, not {self.api_version!r}"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {self.base_url!r}")
        for name in ("burst_limit", "daily_limit", "search_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.burst_window <= 0 or self.search_window <= 0 or self.window_margin < 0:
            raise ValueError("rate limit windows must be positive and the margin not negative")
        if not 1 <= self.batch_size <= BATCH_LIMIT:
            raise ValueError(f"batch_size must be between 1 and {BATCH_LIMIT}")
        if self.retry.max_attempts < 1:
            raise ValueError("retry.max_attempts must be at least 1")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {self.timezone!r}") from error

    @property
    def root(self) -> str:
        """The base URL without a trailing slash."""
        return self.base_url.rstrip("/")

    @property
    def limiter_name(self) -> str:
        """The name of this account's limiter in Redis."""
        if self.limiter_key:
            return self.limiter_key
        digest = hashlib.sha256(f"{self.root}\n{self.token}".encode()).hexdigest()
        return digest[:24]
