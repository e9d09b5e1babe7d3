"""Login failure throttling: failed logins counted per account and per client address.

One rule: once an account (the submitted email or username, normalised) or a
client address has failed `SLUICEGATE_LOGIN_MAX_FAILURES_PER_*` times within
`SLUICEGATE_LOGIN_FAILURE_WINDOW` seconds, every login through it is refused,
a correct password included, until that window ends. Counters live in Redis
(through Django's cache), so every process sees the same counts. The client
address is REMOTE_ADDR only: X-Forwarded-For is set by the client and would
let it choose its own counter.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache

THROTTLED_MESSAGE = "Too many failed login attempts. Try again later."
KEY_PREFIX = "login-failures"


class LoginThrottled(Exception):
    """Logins for this account or address are refused for `retry_after` more seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(THROTTLED_MESSAGE)
        self.retry_after = retry_after


def normalise_account(login: str) -> str:
    """Return the form of a submitted email/username failures are counted under."""
    return login.strip().casefold()


def counter_key(scope: str, value: str) -> str:
    """Return the cache key counting failures of `value` in `scope` ("account" or "ip").

    Hashed so any submitted text makes a short, valid key.
    """
    return f"{KEY_PREFIX}:{scope}:{hashlib.sha256(value.encode()).hexdigest()}"


def _limits(*, account: str, ip: str) -> tuple[tuple[str, int], ...]:
    return (
        (
            counter_key("account", normalise_account(account)),
            int(settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT),
        ),
        (counter_key("ip", ip), int(settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_IP)),
    )


def _window() -> int:
    return int(settings.SLUICEGATE_LOGIN_FAILURE_WINDOW)


def check_login_allowed(*, account: str, ip: str) -> None:
    """Return when a login for `account` from `ip` may be tried; raise LoginThrottled otherwise."""
    limits = _limits(account=account, ip=ip)
    keys = [key for key, _limit in limits]
    values = cache.get_many([*keys, *(f"{key}:until" for key in keys)])
    for key, limit in limits:
        if int(values.get(key) or 0) >= limit:
            raise LoginThrottled(_retry_after(values.get(f"{key}:until")))


def _retry_after(until: object) -> int:
    window = _window()
    if not isinstance(until, int | float):
        return window
    return min(window, max(1, math.ceil(until - time.time())))


def record_login_failure(*, account: str, ip: str) -> None:
    """Count one failed login against `account` and against `ip`."""
    window = _window()
    for key, _limit in _limits(account=account, ip=ip):
        _increment(key, window)


def _increment(key: str, window: int) -> None:
    # The window starts at the first failure: later failures do not extend it,
    # so a refused account is free again `window` seconds after it began failing.
    if cache.add(key, 1, timeout=window):
        cache.set(f"{key}:until", time.time() + window, timeout=window)
        return
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr(): start a new window
        _increment(key, window)
        return
    if count == 1:
        # Expired between incr()'s existence check and INCR itself, which then
        # created the key without a TTL: give it one, or it would never end.
        cache.touch(key, timeout=window)


def clear_account_failures(account: str) -> None:
    """Forget the failures counted against `account` (after it logged in)."""
    key = counter_key("account", normalise_account(account))
    cache.delete_many([key, f"{key}:until"])


def clear_ip_failures(ip: str) -> None:
    """Forget the failures counted against the client address `ip`."""
    key = counter_key("ip", ip)
    cache.delete_many([key, f"{key}:until"])
