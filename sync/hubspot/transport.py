"""Sending one request to HubSpot: the rate limiter, retries and backoff, and nothing about records.

One rule: every request goes through `Transport.request`, which takes a
permit from the account's shared limiter before each attempt and gives it
back with the answer's rate-limit headers after.

What is retried:
- 429 is not an error: the limiter is paused for every process for
  `Retry-After` (or HubSpot's interval header, or the configured window)
  and the request is sent again, up to `max_rate_limited` times; a DAILY
  429 raises `DailyLimitReached` instead (retrying before midnight is futile).
- 500, 502, 503, 504, 521, 523, 524, 423 (locked: at least 2 s), 477
  (migration: its `Retry-After`), timeouts and dropped or refused
  connections are retried with exponential backoff and full jitter, up to
  `max_attempts` attempts, then raise `HubSpotUnavailable`.
- 401 raises `AuthenticationError` and 403 `MissingScopesError` at once.
- Every other answer (2xx, 207, 400, 404, 409 …) goes back to the caller.

What the client guarantees about writes: reads, searches, updates, upserts,
archives and associations are idempotent at HubSpot and are retried after
any of the failures above. A create is retried only after failures that
prove HubSpot did not apply it: a connection never made, 429, 423, 477 and
503. After a failure that leaves it unknown (a timeout or a dropped
connection once the request was sent, 500, 502, 504 …) it raises
`AmbiguousWriteError`, unless the account's policy allows retrying
ambiguous creates (then a record with a unique property comes back from
the retry as a per-record `CONFLICT` naming the record the first attempt
created). Every batch input carries an `objectWriteTraceId`, so a retry
never fails a whole batch for one record; upserts by a unique property are
the way to write without any risk of duplicates.
"""

from __future__ import annotations

import email.utils
import importlib.metadata
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from sync.hubspot.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    DailyLimitReached,
    HubSpotUnavailable,
    MissingScopesError,
    RateLimited,
    RequestRejected,
    record_error,
)
from sync.hubspot.ratelimit import HeaderReading, Kind, Permit, RateLimiter
from sync.hubspot.settings import AccountSettings

logger = logging.getLogger(__name__)

RETRYABLE = frozenset({423, 477, 500, 502, 503, 504, 521, 523, 524})
# Answers that mean the request was not applied, so even a create may be sent again.
NOT_APPLIED = frozenset({423, 429, 477, 503})
# Failures before the request reached HubSpot.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


def user_agent() -> str:
    try:
        version = importlib.metadata.version("sluicegate")
    except importlib.metadata.PackageNotFoundError:
        version = "0"
    return f"Sluicegate/{version}"


@dataclass(frozen=True, slots=True)
class Answer:
    """HubSpot's answer to one request: status, parsed JSON body (None when empty) and headers."""

    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ClientStats:
    """What a client has done so far: requests sent, 429s absorbed, retries, seconds waited."""

    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    waited: float = 0.0

    def __sub__(self, other: ClientStats) -> ClientStats:
        return ClientStats(
            requests=self.requests - other.requests,
            rate_limited=self.rate_limited - other.rate_limited,
            retries=self.retries - other.retries,
            waited=self.waited - other.waited,
        )


def retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """The `Retry-After` header in seconds (delta-seconds or an HTTP date), or None."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:1000]}


class Transport:
    """One account's HTTP client (one `httpx.Client`, pooled connections) behind its limiter."""

    def __init__(
        self,
        settings: AccountSettings,
        limiter: RateLimiter,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 -- jitter, not secrets
        timeouts = settings.timeouts
        self.http = httpx.Client(
            base_url=settings.root,
            timeout=httpx.Timeout(
                connect=timeouts.connect,
                read=timeouts.read,
                write=timeouts.write,
                pool=timeouts.pool,
            ),
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {settings.token}",
                "User-Agent": user_agent(),
                "Accept": "application/json",
            },
        )
        self._lock = threading.Lock()
        self._stats = ClientStats()

    def close(self) -> None:
        self.http.close()

    def stats(self) -> ClientStats:
        with self._lock:
            return ClientStats(
                requests=self._stats.requests,
                rate_limited=self._stats.rate_limited,
                retries=self._stats.retries,
                waited=self._stats.waited + self.limiter.waited,
            )

    def _count(self, *, requests: int = 0, rate_limited: int = 0, retries: int = 0) -> None:
        with self._lock:
            s = self._stats
            self._stats = ClientStats(
                s.requests + requests, s.rate_limited + rate_limited, s.retries + retries, s.waited
            )

    def _pause(self, seconds: float) -> None:
        with self._lock:
            s = self._stats
            self._stats = ClientStats(s.requests, s.rate_limited, s.retries, s.waited + seconds)
        self.sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        policy = self.settings.retry
        return self.rng.uniform(
            0, min(policy.backoff_cap, policy.backoff_base * 2 ** (attempt - 1))
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        kind: Kind = "burst",
        idempotent: bool = True,
    ) -> Answer:
        """Send a request until HubSpot gives an answer the caller must read; return it.

        Raises AuthenticationError, MissingScopesError, RequestRejected (a
        redirect), HubSpotUnavailable, AmbiguousWriteError, RateLimited,
        DailyLimitReached and RateLimiterUnavailable, as the module says.
        """
        policy = self.settings.retry
        failures = 0
        limited = 0
        while True:
            permit = self.limiter.acquire(kind)
            try:
                response = self.http.request(method, path, params=params, json=json)
            except httpx.TransportError as error:
                self.limiter.release(permit)
                self._count(requests=1)
                applied_maybe = not isinstance(error, NOT_SENT_ERRORS)
                if applied_maybe and not idempotent and not policy.retry_ambiguous_creates:
                    raise AmbiguousWriteError(
                        f"{method} {path} failed after it was sent ({type(error).__name__}); "
                        "HubSpot may have applied it."
                    ) from error
                failures += 1
                if failures >= policy.max_attempts:
                    raise HubSpotUnavailable(
                        f"{method} {path} failed {failures} times: {type(error).__name__}: {error}",
                        attempts=failures,
                    ) from error
                self._retry(
                    f"{type(error).__name__}", method, path, failures, self._backoff(failures)
                )
                continue
            self._count(requests=1)
            answer = Answer(response.status_code, _body(response), response.headers)
            status = answer.status
            if status == 429:
                limited += 1
                self._count(rate_limited=1)
                self._rate_limited(permit, answer, kind=kind, limited=limited)
                continue
            self.limiter.release(permit, headers=answer.headers)
            if status in RETRYABLE:
                failures += 1
                self._check_retryable(answer, method, path, failures, idempotent=idempotent)
                wait = self._backoff(failures)
                if status == 423:
                    wait = max(wait, self.settings.retry.locked_wait)
                later = retry_after(answer.headers, now=time.time())
                if later is not None:
                    wait = max(wait, later)
                self._retry(str(status), method, path, failures, wait)
                continue
            if status == 401:
                raise AuthenticationError(
                    "HubSpot refused the token (401).", error=record_error(answer.body, status=401)
                )
            if status == 403:
                raise MissingScopesError(
                    "The token lacks a scope this call needs (403).",
                    error=record_error(answer.body, status=403),
                )
            if 300 <= status < 400:
                raise RequestRejected(
                    f"HubSpot answered {method} {path} with a redirect ({status}), not followed.",
                    status=status,
                )
            return answer

    def _retry(self, reason: str, method: str, path: str, attempt: int, wait: float) -> None:
        logger.info("HubSpot %s %s: %s, retry %d in %.2fs", method, path, reason, attempt, wait)
        self._count(retries=1)
        self._pause(wait)

    def _check_retryable(
        self, answer: Answer, method: str, path: str, failures: int, *, idempotent: bool
    ) -> None:
        """Raise when a retryable status must not (or may no longer) be retried."""
        policy = self.settings.retry
        error = record_error(answer.body, status=answer.status)
        if (
            answer.status not in NOT_APPLIED
            and not idempotent
            and not policy.retry_ambiguous_creates
        ):
            raise AmbiguousWriteError(
                f"{method} {path} answered {answer.status}; HubSpot may have applied it.",
                error=error,
            )
        if failures >= policy.max_attempts:
            raise HubSpotUnavailable(
                f"{method} {path} answered {answer.status} {failures} times: {error.message}",
                attempts=failures,
                error=error,
            )
        later = retry_after(answer.headers, now=time.time())
        if later is not None and later > policy.max_wait:
            raise HubSpotUnavailable(
                f"{method} {path} answered {answer.status} with Retry-After {later:.0f}s, "
                f"beyond the {policy.max_wait:.0f}s the client waits.",
                attempts=failures,
                error=error,
            )

    def _rate_limited(self, permit: Permit, answer: Answer, *, kind: Kind, limited: int) -> None:
        """Handle a 429: pause the shared limiter, or raise when it must not be retried."""
        body = answer.body if isinstance(answer.body, Mapping) else {}
        if str(body.get("policyName", "")).upper() == "DAILY":
            self.limiter.release(permit, headers=answer.headers, day_used_up=True)
            raise DailyLimitReached(resets_at=self.limiter.next_midnight())
        wait = retry_after(answer.headers, now=time.time())
        if wait is None:
            reading = HeaderReading.of(answer.headers)
            default = self.settings.burst_window if kind == "burst" else self.settings.search_window
            wait = reading.interval or default
        policy = self.settings.retry
        self.limiter.release(permit, headers=answer.headers, pause=min(wait, policy.max_wait))
        logger.info("HubSpot 429 (%s), pausing %.2fs", body.get("policyName", kind), wait)
        if limited > policy.max_rate_limited or wait > policy.max_wait:
            raise RateLimited(
                f"HubSpot answered 429 {limited} times in a row; last asked to wait {wait:.0f}s.",
                error=record_error(body, status=429),
            )
