"""Rate limits: DreamFactory's limit types, counted in Redis and enforced on every `/api/v2` call.

One rule: at most one Redis round trip per request, for all the limits that
apply together, and none when no limit applies; which limits apply is
decided from the process's `RbacState` (memoised per caller, service,
endpoint and verb), never by a query to the platform database.

Windows are fixed and aligned to the epoch (UTC): a `minute` limit counts
the calls from hh:mm:00 to hh:mm:59, an `hour` or `day` limit from the start
of the hour or day, and `7-day` / `30-day` limits consecutive 7- and 30-day
spans counted from 1970-01-01. A fixed window rather than a sliding one,
because every process derives the same window from the clock alone (its
number is part of the Redis key, so nothing has to be coordinated), the reset
time a client is told is exact, and each counter is one integer; a sliding
log costs memory per call and a sliding estimate has no exact reset time.
The price is that a client may spend up to twice the rate across a window
boundary.

One Lua script (run with EVALSHA) reads every applicable counter and, only
when none is exhausted, increments them all: a refused call consumes nothing.
Far from a limit, a process asks for a lease of calls at once (up to
MAX_LEASE, never more than 1/LEASE_SHARE of what remains) and spends it
without asking Redis again; below LEASE_SHARE remaining calls it asks for one
call at a time, so counting is exact where it matters. Leased calls are
counted in Redis when granted: the rate is never exceeded, and a caller may
be refused at most a few calls early while other processes still hold leased
calls. `X-RateLimit-Remaining` leaves out this process's unused lease.
Responses subject to a limit carry `X-RateLimit-Limit`, `X-RateLimit-Remaining`
and `X-RateLimit-Reset` of the tightest one (least remaining); the reset is in
seconds from now, as `Retry-After` and the IETF RateLimit header fields draft
count it, so it does not depend on the client's clock.

Limits that count "each user" count a call made with an app's key alone
under that app, so such callers neither escape the limit nor share one
counter across apps. Superusers are never limited. When Redis cannot be
reached, calls pass with a warning logged at most once a minute per process,
or, with `SLUICEGATE_RATE_LIMIT_FAIL_CLOSED`, are refused with 503.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.retry import Retry
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from rbac.permissions import principal_of
from rbac.policies import Principal
from rbac.state import RbacState, current_state
from services.api.errors import ApiError
from services.api.tunnel import effective_verb

if TYPE_CHECKING:
    from django.http.response import HttpResponseBase

    from rbac.models import Limit

logger = logging.getLogger(__name__)

PERIOD_SECONDS = {
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "7-day": 7 * 86400,
    "30-day": 30 * 86400,
}
EXCEEDED = "API limit(s) exceeded."
UNAVAILABLE = "Rate limits are unavailable."
API_ROOT = "/api/v2/"
KEY_PREFIX = "sg:ratelimit"
EVERY_CALLER = "all"
DEFAULT_REDIS_TIMEOUT = 0.25
# At most one "Redis is unavailable" warning per this many seconds per process.
WARNING_INTERVAL = 60.0
# After a failure, Redis is left alone this long, so a dead server costs one
# timeout per second rather than one per request.
FAILURE_PAUSE = 1.0
# Where the verdict of a request is kept, for the response headers.
PENDING_ATTRIBUTE = "sluicegate_rate_limit_pending"
VERDICT_ATTRIBUTE = "sluicegate_rate_limit"

# KEYS: the counters; ARGV: rate and time-to-live of each, in KEYS' order.
# Returns {refused (0/1), count of each counter}; counts only when none is exhausted.
# ARGV per key: rate, seconds to expiry, calls wanted (this one and a lease).
# Returns refused, then per key the count after the call and the calls granted.
COUNT_SCRIPT = """
local counts, grants = {}, {}
local refused = 0
for i = 1, #KEYS do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  grants[i] = 0
  if counts[i] >= tonumber(ARGV[3 * i - 2]) then refused = 1 end
end
if refused == 0 then
  for i = 1, #KEYS do
    grants[i] = math.min(tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i - 2]) - counts[i])
    counts[i] = redis.call('INCRBY', KEYS[i], grants[i])
    if counts[i] == grants[i] then redis.call('EXPIRE', KEYS[i], ARGV[3 * i - 1]) end
  end
end
local reply = {refused}
for i = 1, #KEYS do
  table.insert(reply, counts[i])
  table.insert(reply, grants[i])
end
return reply
"""
# A process far from a limit takes calls in leases: up to MAX_LEASE at once,
# never more than 1/LEASE_SHARE of what remains; below LEASE_SHARE remaining
# calls, one at a time (exact).
MAX_LEASE = 32
LEASE_SHARE = 64
MAX_LEASED_KEYS = 10_000


def now() -> float:
    """Return the current time in seconds since the epoch (tests replace this clock)."""
    return time.time()


@dataclass(frozen=True, slots=True)
class LimitInfo:
    """One active limit, as the request path needs it (its service by name)."""

    id: int
    name: str
    scope: str
    rate: int
    period: str
    verb: str  # "": every verb
    app_id: int | None
    role_id: int | None
    user_id: int | None
    service: str | None
    endpoint: str

    @property
    def seconds(self) -> int:
        return PERIOD_SECONDS[self.period]

    @property
    def each_user(self) -> bool:
        return self.scope.endswith(".each_user")

    @property
    def one_user(self) -> bool:
        return self.scope.endswith(".user")


@dataclass(frozen=True, slots=True)
class Call:
    """What limits are matched against: who calls, which service and resource, which verb."""

    user_id: int | None
    app_id: int | None
    role_id: int | None
    service: str | None  # None: the list of services
    endpoint: str  # the resource below the service, e.g. `_table/contacts/5`; "" for the service
    verb: str


@dataclass(frozen=True, slots=True)
class LimitCount:
    """A limit's counter for one call: calls counted in the window, and seconds until it resets."""

    limit: LimitInfo
    count: int
    reset: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit.rate - self.count)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a call may proceed, and the counters of every limit that applies to it."""

    allowed: bool
    counts: tuple[LimitCount, ...]

    @property
    def tightest(self) -> LimitCount:
        """The counter with the least remaining (the longest wait among equals)."""
        return min(self.counts, key=lambda item: (item.remaining, -item.reset))

    @property
    def retry_after(self) -> int:
        """Seconds until every exhausted limit has reset (0 when none is exhausted)."""
        return max((item.reset for item in self.counts if item.remaining == 0), default=0)


class LimitExceeded(exceptions.APIException):
    """429 in the error envelope; the exception handler adds `Retry-After` from `wait`."""

    status_code = 429
    default_detail = EXCEEDED
    default_code = "throttled"

    def __init__(self, wait: int) -> None:
        super().__init__()
        self.wait = wait


# --- loading and matching ---------------------------------------------------------


def limit_info(limit: Limit) -> LimitInfo:
    """Return the LimitInfo of a Limit row (its service already selected)."""
    return LimitInfo(
        id=limit.pk,
        name=limit.name,
        scope=limit.scope,
        rate=limit.rate,
        period=limit.period,
        verb=limit.verb.upper(),
        app_id=limit.app_id,
        role_id=limit.role_id,
        user_id=limit.user_id,
        service=limit.service.name if limit.service is not None else None,
        endpoint=limit.endpoint.strip().strip("/"),
    )


def limits_load() -> tuple[LimitInfo, ...]:
    """Return every active limit (one query; called by `rbac.state.load_state`)."""
    from rbac.models import Limit

    rows = Limit.objects.filter(active=True).select_related("service").order_by("pk")
    return tuple(limit_info(row) for row in rows)


def endpoint_matches(pattern: str, endpoint: str) -> bool:
    """Whether a limit's endpoint covers a call's: `x*` by prefix, else `x` and what is below it."""
    if pattern.endswith("*"):
        return endpoint.startswith(pattern[:-1])
    return endpoint == pattern or endpoint.startswith(f"{pattern}/")


def limit_applies(limit: LimitInfo, call: Call) -> bool:
    """Whether `limit` counts `call`."""
    if limit.verb and limit.verb != call.verb:
        return False
    if limit.one_user and (call.user_id is None or call.user_id != limit.user_id):
        return False
    kind = limit.scope.split(".", 1)[0]
    if kind == "app":
        return call.app_id is not None and call.app_id == limit.app_id
    if kind == "role":
        return call.role_id is not None and call.role_id == limit.role_id
    if kind == "service":
        if call.service is None or call.service != limit.service:
            return False
        if limit.scope.startswith("service.endpoint"):
            return endpoint_matches(limit.endpoint, call.endpoint)
    return True


def limits_matching(state: RbacState, call: Call) -> tuple[LimitInfo, ...]:
    """Return the limits that count `call`, memoised in `state`."""
    if not state.limits:
        return ()
    key = ("limits", call)
    found: tuple[LimitInfo, ...] | None = state.memo.get(key)
    if found is None:
        found = tuple(limit for limit in state.limits if limit_applies(limit, call))
        state.remember(key, found)
    return found


def call_subject(limit: LimitInfo, call: Call) -> str:
    """Return whose counter of `limit` a call uses: everyone's, a user's, or a key-only app's."""
    if not limit.each_user:
        return EVERY_CALLER
    if call.user_id is not None:
        return f"user:{call.user_id}"
    return f"app:{call.app_id}"


def counter_key(limit_id: int, window: int, subject: str) -> str:
    return f"{KEY_PREFIX}:{limit_id}:{window}:{subject}"


def window_of(limit: LimitInfo, moment: float) -> tuple[int, int]:
    """Return the number of the window `moment` falls in, and the seconds until it ends (≥ 1)."""
    window = int(moment // limit.seconds)
    return window, max(1, math.ceil((window + 1) * limit.seconds - moment))


# --- counting ---------------------------------------------------------------------

_client: tuple[tuple[str, float], redis.Redis, Script] | None = None
_client_lock = threading.Lock()
_paused_until = 0.0
_last_warning = -math.inf


def _connection() -> tuple[redis.Redis, Script]:
    """This process's client of the limiter's Redis, with short timeouts and no retries."""
    global _client
    url = str(getattr(settings, "REDIS_URL", None) or "redis://127.0.0.1:6379/0")
    # 0 would make redis-py's sockets non-blocking: take the default instead.
    timeout = float(getattr(settings, "SLUICEGATE_RATE_LIMIT_REDIS_TIMEOUT", 0)) or (
        DEFAULT_REDIS_TIMEOUT
    )
    held = _client
    if held is None or held[0] != (url, timeout):
        with _client_lock:
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
            held = ((url, timeout), client, client.register_script(COUNT_SCRIPT))
            _client = held
    return held[1], held[2]


_own = threading.local()


@dataclass(slots=True)
class Lease:
    """Calls of one counter this process was granted and has not used yet."""

    left: int  # granted (already counted in Redis), not yet used
    counted: int  # the counter's value in Redis after the last grant


_leases: dict[str, Lease] = {}
_leases_lock = threading.Lock()


def lease_size(rate: int, counted: int) -> int:
    """Calls to ask for (this one included): 1 near the limit, more the further from it."""
    return max(1, min(MAX_LEASE, (rate - counted) // LEASE_SHARE))


@dataclass(slots=True)
class PendingCount:
    """A count of one call: decided from this process's leases, or sent to Redis."""

    limits: tuple[LimitInfo, ...]
    resets: tuple[int, ...]
    keys: list[str]
    args: list[int]
    conn: Any = None
    decided: Verdict | None = None

    def verdict(self) -> Verdict:
        """The verdict. Raises redis.RedisError (the connection is then dropped)."""
        if self.decided is not None:
            return self.decided
        with _dropping_on_failure(self.conn):
            try:
                reply = self.conn.read_response()
            except NoScriptError:  # the server restarted and forgot the script
                script = _connection()[1].script
                self.conn.send_command(
                    "EVAL", script, len(self.keys), *self.keys, *self.args, check_health=False
                )
                reply = self.conn.read_response()
        refused, *rest = (int(value) for value in reply)
        counts: list[LimitCount] = []
        with _leases_lock:
            if len(_leases) > MAX_LEASED_KEYS:
                _leases.clear()  # old windows' leases; what they held stays counted
            for index, (limit, key, reset) in enumerate(
                zip(self.limits, self.keys, self.resets, strict=True)
            ):
                count, granted = rest[2 * index], rest[2 * index + 1]
                lease = _leases.get(key)
                left = lease.left if lease is not None else 0
                if not refused:
                    left += granted - 1
                    _leases[key] = Lease(left, count)
                counts.append(LimitCount(limit, count - left, reset))
        self.decided = Verdict(allowed=not refused, counts=tuple(counts))
        return self.decided


@contextmanager
def _dropping_on_failure(conn: Any) -> Iterator[None]:
    try:
        yield
    except BaseException:
        conn.disconnect()
        _own.conn = None
        raise


def send_count(limits: Iterable[LimitInfo], call: Call, *, at: float | None = None) -> PendingCount:
    """Count `call` against every one of `limits`; read the verdict with `.verdict()`.

    When this process still holds leased calls of every counter involved, the
    call takes one of each and Redis is not asked (those calls were counted
    there when leased). Otherwise the script is sent, asking for a new lease
    of each, on a Redis connection of this thread's own: the request path
    skips redis-py's pool and retry layers. Raises redis.RedisError when
    Redis fails; on any failure the connection is dropped and the next call
    opens a new one.
    """
    moment = now() if at is None else at
    limits = tuple(limits)
    keys: list[str] = []
    resets: list[int] = []
    for limit in limits:
        window, reset = window_of(limit, moment)
        keys.append(counter_key(limit.id, window, call_subject(limit, call)))
        resets.append(reset)
    args: list[int] = []
    with _leases_lock:
        leases = [_leases.get(key) for key in keys]
        if all(lease is not None and lease.left > 0 for lease in leases):
            counts = []
            for limit, lease, reset in zip(limits, leases, resets, strict=True):
                assert lease is not None
                lease.left -= 1
                counts.append(LimitCount(limit, lease.counted - lease.left, reset))
            verdict = Verdict(allowed=True, counts=tuple(counts))
            return PendingCount(limits, tuple(resets), keys, args, decided=verdict)
        for limit, lease, reset in zip(limits, leases, resets, strict=True):
            counted = lease.counted if lease is not None else 0
            # Expire just after the window ends.
            args += [limit.rate, reset + 1, lease_size(limit.rate, counted)]
    client, script = _connection()
    conn: Any = getattr(_own, "conn", None)
    if conn is None or _own.client is not client or _own.pid != os.getpid():
        conn = client.connection_pool.make_connection()
        _own.conn, _own.client, _own.pid = conn, client, os.getpid()
    with _dropping_on_failure(conn):
        conn.send_command("EVALSHA", script.sha, len(keys), *keys, *args, check_health=False)
    return PendingCount(limits, tuple(resets), keys, args, conn)


def redis_client() -> redis.Redis:
    """Return the limiter's Redis client (for the admin's counters and resets)."""
    return _connection()[0]


def forget_limiter() -> None:
    """Drop this process's Redis client and failure memory (after settings change)."""
    global _client, _paused_until, _last_warning
    _client = None
    _paused_until = 0.0
    _last_warning = -math.inf
    with _leases_lock:
        _leases.clear()


def limits_count(limits: Iterable[LimitInfo], call: Call, *, at: float | None = None) -> Verdict:
    """Count `call` against every one of `limits`, or against none when one is exhausted.

    One round trip to Redis. Raises redis.RedisError when Redis fails.
    """
    return send_count(limits, call, at=at).verdict()


def _redis_unavailable() -> bool:
    """Handle a call while Redis is unavailable: True to let it pass; raises ApiError(503)."""
    global _last_warning
    if getattr(settings, "SLUICEGATE_RATE_LIMIT_FAIL_CLOSED", False):
        raise ApiError(503, UNAVAILABLE)
    moment = time.monotonic()
    if moment - _last_warning >= WARNING_INTERVAL:
        _last_warning = moment
        logger.warning("rate limits are not enforced: their Redis is unavailable")
    return True


# --- the API's throttle -----------------------------------------------------------


def call_of(request: Request, view: Any, principal: Principal) -> Call:
    """Describe an authenticated API request for matching limits."""
    service = getattr(view, "kwargs", {}).get("service")
    endpoint = ""
    if service:
        path = request._request.path_info
        prefix = f"{API_ROOT}{service}"
        endpoint = path[len(prefix) :].strip("/") if path.startswith(prefix) else ""
    return Call(
        user_id=principal.user.id if principal.user is not None else None,
        app_id=principal.app.id if principal.app is not None else None,
        role_id=principal.role.id if principal.role is not None else None,
        service=service or None,
        endpoint=endpoint,
        verb=effective_verb(request),
    )


class ApiRateLimit(BaseThrottle):
    """DRF throttle of the API: runs after authentication and permissions, so refused
    callers are not counted; superusers pass uncounted.

    A GET changes nothing, so its count is only sent here and its verdict read
    when the answer is finalised (`settle`): the Redis round trip overlaps
    the database's. Every other verb waits for the verdict before it runs.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        global _paused_until
        principal = principal_of(request)
        if principal is None or principal.is_superuser:
            return True
        call = call_of(request, view, principal)
        limits = limits_matching(current_state(), call)
        if not limits:
            return True
        if time.monotonic() < _paused_until:
            return _redis_unavailable()
        try:
            pending = send_count(limits, call)
            if call.verb == "GET":
                setattr(request._request, PENDING_ATTRIBUTE, pending)
                return True
            verdict = pending.verdict()
        except (redis.RedisError, OSError):
            _paused_until = time.monotonic() + FAILURE_PAUSE
            return _redis_unavailable()
        setattr(request._request, VERDICT_ATTRIBUTE, verdict)
        if not verdict.allowed:
            raise LimitExceeded(verdict.retry_after)
        return True


def settle(request: Request) -> Exception | None:
    """Read the verdict of a GET's count; return the error to answer instead, if any."""
    global _paused_until
    pending = getattr(request._request, PENDING_ATTRIBUTE, None)
    if not isinstance(pending, PendingCount):
        return None
    delattr(request._request, PENDING_ATTRIBUTE)
    try:
        verdict = pending.verdict()
    except (redis.RedisError, OSError):
        _paused_until = time.monotonic() + FAILURE_PAUSE
        try:
            _redis_unavailable()
        except ApiError as error:
            return error
        return None
    setattr(request._request, VERDICT_ATTRIBUTE, verdict)
    return None if verdict.allowed else LimitExceeded(verdict.retry_after)


def add_rate_limit_headers(request: Request, response: HttpResponseBase) -> None:
    """Add the `X-RateLimit-*` headers of the tightest limit the request was counted by."""
    verdict = getattr(getattr(request, "_request", request), VERDICT_ATTRIBUTE, None)
    if not isinstance(verdict, Verdict) or not verdict.counts:
        return
    tightest = verdict.tightest
    response["X-RateLimit-Limit"] = str(tightest.limit.rate)
    response["X-RateLimit-Remaining"] = str(tightest.remaining)
    response["X-RateLimit-Reset"] = str(tightest.reset)


# --- the admin's counters ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counter:
    """One counter of a limit in its current window."""

    subject: str  # `all`, `user:<id>` or `app:<id>`
    count: int
    remaining: int


def limit_counters(limit: LimitInfo, *, at: float | None = None) -> tuple[int, list[Counter]]:
    """Return the seconds until `limit`'s window resets and its counters in that window.

    Raises redis.RedisError when Redis fails.
    """
    window, reset = window_of(limit, now() if at is None else at)
    client = redis_client()
    prefix = counter_key(limit.id, window, "")
    keys = sorted(client.scan_iter(match=f"{prefix}*", count=1000))
    values = client.mget(keys) if keys else []
    counters = []
    for key, value in zip(keys, values, strict=True):
        if value is None:
            continue  # expired between SCAN and MGET
        count = int(value)
        subject = key.decode()[len(prefix) :]
        counters.append(Counter(subject, count, max(0, limit.rate - count)))
    return reset, counters


def limit_reset(limit_id: int) -> int:
    """Delete every counter of the limit (all windows); return how many there were.

    Raises redis.RedisError when Redis fails.
    """
    client = redis_client()
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}:{limit_id}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    return len(keys)
