"""``run_script`` and ``check_syntax``: the sandbox's two entry points.

The one rule: whatever happens in the worker, the caller gets an ``Outcome`` — failures
become a short "Script error: …" message, never an exception, a path or a traceback.
"""

from __future__ import annotations

import functools
import marshal
import math
import queue
import signal
import time
from collections.abc import Mapping
from typing import Any

from services.scripting.sandbox.pool import (
    ChildDied,
    RunTimedOut,
    WorkerBroken,
    get_pool,
)
from services.scripting.sandbox.values import Host, Limits, Outcome

MAX_LOG_LINES = 100
MAX_LOG_BYTES = 16 * 1024
# Compiled scripts kept per process, keyed by (source, name).
COMPILE_CACHE_SIZE = 256
# How long a run waits for a free worker beyond its own wall-clock limit.
ACQUIRE_EXTRA_SECONDS = 5.0


def _seconds(value: float) -> str:
    return f"{value:g}"


def _compile(source: str, name: str) -> bytes:
    return marshal.dumps(compile(source, f"<{name}>", "exec", dont_inherit=True))


_compiled = functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)(_compile)


def _syntax_message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"line {exc.lineno}: {exc.msg}" if exc.lineno else str(exc.msg)
    if isinstance(exc, RecursionError | MemoryError):
        return "the script is nested too deeply"
    return str(exc)


def check_syntax(source: str) -> str | None:
    """Return None if ``source`` compiles, else "line N: message"."""
    try:
        _compiled(source, "script")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return _syntax_message(exc)
    return None


def _logs(value: Any) -> tuple[str, ...]:
    lines: list[str] = []
    size = 0
    for line in value if isinstance(value, list) else []:
        if len(lines) >= MAX_LOG_LINES or size >= MAX_LOG_BYTES:
            break
        text = str(line)[: MAX_LOG_BYTES - size]
        lines.append(text)
        size += len(text)
    return tuple(lines)


def _abort(value: Any) -> tuple[int, str] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and 100 <= value[0] <= 599
        and isinstance(value[1], str)
    ):
        return (value[0], value[1][:1000])
    return None


def _death_message(status: int | None, limits: Limits) -> str:
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        # RLIMIT_CPU sends SIGXCPU at the soft limit and SIGKILL at the hard one.
        return f"CPU time limit of {_seconds(math.ceil(limits.cpu_seconds))} s exceeded"
    return "the script worker crashed"


def run_script(
    source: str,
    event: Mapping[str, Any],
    *,
    session: Mapping[str, Any],
    limits: Limits,
    host: Host,
    name: str = "script",
    keep_changes: bool = True,
) -> Outcome:
    """Run ``source`` with ``event`` in a sandbox worker; return its Outcome (never raises).

    Without ``keep_changes`` the script's changes to the event are not sent back (the
    Outcome holds the event as given): less to carry for a caller that ignores them.
    """
    started = time.perf_counter()

    def outcome(
        error: str | None,
        *,
        changed: Any = None,
        abort: tuple[int, str] | None = None,
        logs: tuple[str, ...] = (),
    ) -> Outcome:
        return Outcome(
            event=changed if isinstance(changed, dict) and error is None else dict(event),
            abort=abort if error is None else None,
            error=None if error is None else f"Script error: {error}",
            logs=logs,
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    try:
        code = _compiled(source, name)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return outcome(f"SyntaxError: {_syntax_message(exc)}")
    pool = get_pool()
    key = (name, source, limits)  # a child runs one script, under one set of limits
    try:
        worker = pool.acquire(limits.wall_seconds + ACQUIRE_EXTRA_SECONDS, key)
    except queue.Empty:
        return outcome("all script workers are busy")
    try:
        result = worker.run(code, event, session, limits, host, key, keep_changes)
    except RunTimedOut:
        return outcome(f"time limit of {_seconds(limits.wall_seconds)} s exceeded")
    except ChildDied as exc:
        return outcome(_death_message(exc.status, limits))
    except WorkerBroken:
        return outcome("the script worker broke off the run")
    finally:
        pool.release(worker)
    error = result.get("error")
    return outcome(
        str(error)[:500] if error is not None else None,
        changed=result.get("event"),
        abort=_abort(result.get("abort")),
        logs=_logs(result.get("logs")),
    )
