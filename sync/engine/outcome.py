"""How a run's failure becomes its recorded end: one mapping for push, pull and two-way runs.

One rule: every failure ends the run recorded (status `failed`, a message
saying why); those worth running the whole job again for a little later
(`RETRYABLE`: HubSpot, Redis or a database unavailable) are raised again
after that, so the Celery task retries them; the rest are not.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import redis

from services.pools import PoolError
from sync.engine.source import EngineError
from sync.hubspot.errors import (
    DailyLimitReached,
    HubSpotError,
    HubSpotUnavailable,
    RateLimited,
    RateLimiterUnavailable,
)
from sync.models import RunStatus, SyncRun

RETRYABLE: tuple[type[Exception], ...] = (
    HubSpotUnavailable,
    RateLimited,
    RateLimiterUnavailable,
    PoolError,
    psycopg.OperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
)
Finish = Callable[[str, str], SyncRun]


def run_recorded(work: Callable[[], None], finish: Finish, *, left: str) -> SyncRun | None:
    """Do `work`; when it fails, record the run's end with `finish(status, message)`.

    Returns the finished run after a failure that is not raised again, None
    when `work` completed (the caller records the end). `left` says what
    happens to records a stopped run did not reach (the daily limit).
    """
    try:
        work()
    except EngineError as error:
        return finish(RunStatus.FAILED, str(error))
    except DailyLimitReached as error:
        return finish(RunStatus.FAILED, f"{error} {left}")
    except RETRYABLE as error:
        finish(RunStatus.FAILED, f"{type(error).__name__}: {error}")
        raise
    except HubSpotError as error:
        return finish(RunStatus.FAILED, f"HubSpot refused the run: {error}")
    except BaseException as error:
        finish(RunStatus.FAILED, f"Stopped by {type(error).__name__}: {error}")
        raise
    return None
