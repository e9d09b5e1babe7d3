"""A small warm pool of script worker processes, one pool per process that uses it.

The one rule: a script never runs in this process — each run goes to a child forked by a
worker (``worker.py``) that was started with an empty-of-secrets environment: the child
bound to that script if the worker has one, else a fresh one; and any worker whose state
is in doubt (timeout, broken frame, vanished child) is killed with its whole process
group and started again.

Workers start lazily; a forked process (gunicorn) notices the pid change and starts its
own pool. A worker serves one run at a time; a run goes preferably to an idle worker
whose child holds its script, so a hot script runs without a fork.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from services.scripting.sandbox.calls import answer_call
from services.scripting.sandbox.frames import (
    POLL_SECONDS,
    POLL_SKIP_RUNS,
    recv_frame,
    send_frame,
    set_deadline,
)
from services.scripting.sandbox.values import Host, Limits

logger = logging.getLogger(__name__)

WORKER_PATH = str(Path(__file__).with_name("worker.py"))
DEFAULT_POOL_SIZE = 4  # gunicorn's default threads per web process
# How long to wait for a worker's next child (or a started worker's first one).
READY_SECONDS = 10.0
# How long a finished child may take to exit before its worker is restarted.
EXIT_GRACE_SECONDS = 1.0
# Platform calls one run may make; the rest fail inside the script.
MAX_CALLS_PER_RUN = 1000
# Runs one child serves before a fresh one takes over (bounds what a script's runs pile up).
MAX_RUNS_PER_CHILD = 10_000
# The only environment a worker gets.
WORKER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


class WorkerBroken(Exception):
    """The worker or its child misbehaved; the worker has been killed."""


class RunTimedOut(Exception):
    """The run passed its wall-clock limit; the worker has been killed."""


class ChildDied(Exception):
    """The child ended without a result; ``status`` is its exit code (-n: signal n)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(status)
        self.status = status


def cpu_limit_for(pid: int, used: Any, cpu_seconds: float, soft: int | None) -> int | None:
    """Return the CPU soft limit (whole seconds) a reused child ``pid`` needs for its next run.

    ``used`` is the CPU time the child reported after its last run (a child lying about it
    only moves its own limit; its hard limit, set before its first run, bounds all its
    runs together). Calls ``prlimit`` only when the limit moves (the child can no longer
    set its own: its audit hook refuses). None: the child cannot have the time.
    """
    if not isinstance(used, int | float) or used < 0:
        return None
    want = math.ceil(used + cpu_seconds)
    if want == soft:
        return soft
    try:
        _soft, hard = resource.prlimit(pid, resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY and want >= hard:
            return None
        resource.prlimit(pid, resource.RLIMIT_CPU, (want, hard))
    except (OSError, ValueError):
        return None
    return want


class Worker:
    """One zygote process, the child it has ready, and the child bound to one script."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None
        self.scratch: str | None = None
        self.child: tuple[int, socket.socket] | None = None
        self.awaiting_exit: int | None = None
        # The child that ran ``key`` last and may run it again, and how many runs it served.
        self.bound: tuple[int, socket.socket] | None = None
        self.key: Hashable | None = None
        self.runs = 0
        # The bound child's CPU time after its last run, and its CPU soft limit if we set it.
        self.cpu_used: Any = None
        self.cpu_soft: int | None = None
        # Runs left that wait for their answer without polling first.
        self.poll_skips = 0

    def start(self) -> None:
        self.scratch = tempfile.mkdtemp(prefix="sluicegate-script-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-I", "-S", "-B", WORKER_PATH, str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env=WORKER_ENV,
                cwd=self.scratch,
                start_new_session=True,
            )
        self.control = ours

    def kill(self) -> None:
        """Kill the zygote and every child of it (one process group), and forget them."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for sock in (
            self.control,
            self.child[1] if self.child else None,
            self.bound[1] if self.bound else None,
        ):
            if sock is not None:
                sock.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.process = self.control = self.scratch = self.child = self.awaiting_exit = None
        self.bound = self.key = None

    def retire(self) -> None:
        """End the bound child (its worker reports its exit before handing out the next)."""
        if self.bound is None:
            return
        pid, channel = self.bound
        self.bound = self.key = None
        channel.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)  # not yet reaped by its worker: the pid is still its
        self.awaiting_exit = pid

    def _control_message(self, timeout: float) -> tuple[dict[str, Any], list[int]]:
        assert self.control is not None
        self.control.settimeout(max(timeout, 0.001))
        data, fds, _flags, _addr = socket.recv_fds(self.control, 4096, 1)
        if not data:
            for fd in fds:
                os.close(fd)
            raise EOFError
        return json.loads(data), fds

    def child_status(self, timeout: float) -> int | None:
        """Wait for the exit report of the running child; return its status (None if none came)."""
        try:
            while self.awaiting_exit is not None:
                message, fds = self._control_message(timeout)
                if "ready" in message:  # cannot precede the exit report; the worker is confused
                    for fd in fds:
                        os.close(fd)
                    return None
                if message.get("exit") == self.awaiting_exit:
                    self.awaiting_exit = None
                    return int(message["status"])
        except (OSError, EOFError, ValueError):
            return None
        return None

    def prepare(self) -> tuple[int, socket.socket]:
        """Return the ready child (pid, channel), starting the worker or restarting it if needed."""
        for _attempt in range(2):
            if self.process is None:
                self.start()
            try:
                if self.awaiting_exit is not None:
                    self._control_message_until_exit()
                while self.child is None:
                    message, fds = self._control_message(READY_SECONDS)
                    if "ready" in message and len(fds) == 1:
                        self.child = (int(message["ready"]), socket.socket(fileno=fds[0]))
                    else:
                        raise ValueError("unexpected control message")
                return self.child
            except (OSError, EOFError, ValueError):
                self.kill()
        raise WorkerBroken

    def _control_message_until_exit(self) -> None:
        if self.child_status(EXIT_GRACE_SECONDS) is None and self.awaiting_exit is not None:
            raise ValueError("the last child did not exit")

    def channel_for(self, key: Hashable, limits: Limits) -> tuple[int, socket.socket, bool]:
        """Return (pid, channel, fresh): the child bound to ``key`` if it may run again, else
        a fresh child (``fresh``: the code must be sent)."""
        bound = self.bound
        if bound is not None and self.key == key and self.runs < MAX_RUNS_PER_CHILD:
            soft = cpu_limit_for(bound[0], self.cpu_used, limits.cpu_seconds, self.cpu_soft)
            if soft is not None:
                self.cpu_soft = soft
                return (*bound, False)
        self.retire()
        pid, channel = self.prepare()
        channel.settimeout(None)  # blocking, bounded by ``set_deadline``
        self.child, self.runs, self.cpu_soft = None, 0, None
        return pid, channel, True

    def hand_over(
        self, job: dict[str, Any], code: bytes, key: Hashable, limits: Limits
    ) -> tuple[int, socket.socket, float]:
        """Send ``job`` to the child for ``key``; return its pid, channel and the run's deadline.

        A bound child that went away while idle is replaced by a fresh one.
        """
        for _attempt in range(2):
            pid, channel, fresh = self.channel_for(key, limits)
            deadline = time.monotonic() + limits.wall_seconds
            self.bound, self.key, self.awaiting_exit = None, None, pid
            self.runs += 1
            job.update(run=self.runs, code_size=len(code) if fresh else 0)
            try:
                set_deadline(channel, limits.wall_seconds)
                send_frame(channel, job, code if fresh else b"")
                return pid, channel, deadline
            except OSError:
                channel.close()
                if fresh:
                    break
        self.kill()
        raise WorkerBroken

    def answer(self, channel: socket.socket) -> Any:
        """Return the child's next frame, polling for it first unless polls came too early."""
        if self.poll_skips > 0:
            self.poll_skips -= 1
            return recv_frame(channel)
        asked = time.perf_counter()
        message = recv_frame(channel, POLL_SECONDS)
        if time.perf_counter() - asked >= POLL_SECONDS:
            self.poll_skips = POLL_SKIP_RUNS
        return message

    def run(
        self,
        code: bytes,
        event: Mapping[str, Any],
        session: Mapping[str, Any],
        limits: Limits,
        host: Host,
        key: Hashable = None,
        want_event: bool = True,
    ) -> dict[str, Any]:
        """Run ``code`` in the child bound to ``key`` or a fresh one; return its result frame.

        The wall-clock limit starts once the child is ready (a worker's first start is not
        the script's time). Raises RunTimedOut, ChildDied or WorkerBroken.
        """
        job = {
            "op": "run",
            "event": dict(event),
            "session": dict(session),
            "limits": {"cpu_seconds": limits.cpu_seconds, "memory_mb": limits.memory_mb},
            "want_event": want_event,
        }
        pid, channel, deadline = self.hand_over(job, code, key, limits)
        calls = 0
        try:
            while True:
                message = self.answer(channel)
                op = message.get("op") if isinstance(message, dict) else None
                if op == "result":
                    if message.get("run", self.runs) != self.runs:
                        raise ValueError("a result of another run")
                    if message.get("reuse") is True:
                        self.bound, self.key, self.awaiting_exit = (pid, channel), key, None
                        self.cpu_used = message.get("cpu")
                    else:
                        channel.close()
                    return dict(message)
                if op != "call":
                    raise ValueError("unexpected frame")
                calls += 1
                if calls > MAX_CALLS_PER_RUN:
                    reply = {"fail": "error", "message": "too many platform calls in one run"}
                else:
                    reply = answer_call(host, message)
                set_deadline(channel, deadline - time.monotonic())
                send_frame(channel, reply)
        except TimeoutError:
            channel.close()
            self.kill()
            raise RunTimedOut from None
        except (EOFError, ConnectionError):
            channel.close()
            status = self.child_status(max(deadline - time.monotonic(), 1.0))
            if status is None:
                self.kill()
            raise ChildDied(status) from None
        except (OSError, ValueError, AttributeError):
            channel.close()
            self.kill()
            raise WorkerBroken from None


class WorkerPool:
    """Up to ``size`` workers of this process, each serving one run at a time.

    A run goes to an idle worker whose child is bound to its script if there is one, else
    to one with no bound child, else to the one idle longest (whose child is retired).
    """

    def __init__(self, size: int) -> None:
        self.pid = os.getpid()
        self.size = max(1, size)
        self._idle: list[Worker] = []
        self._workers: list[Worker] = []
        self._lock = threading.Condition()

    def acquire(self, timeout: float, key: Hashable = None) -> Worker:
        """Return an idle worker, waiting up to ``timeout`` seconds; raise queue.Empty then."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if not self._workers:
                # First use: start every worker now, so the others are warm when needed.
                self._workers = [Worker() for _ in range(self.size)]
                for worker in self._workers:
                    worker.start()
                self._idle = list(self._workers)
            while not self._idle:
                if not self._lock.wait(max(deadline - time.monotonic(), 0)):
                    raise queue.Empty
            chosen = next((w for w in reversed(self._idle) if w.key == key), None)
            chosen = chosen or next((w for w in self._idle if w.bound is None), self._idle[0])
            self._idle.remove(chosen)
            return chosen

    def release(self, worker: Worker) -> None:
        with self._lock:
            self._idle.append(worker)
            self._lock.notify()

    def close(self) -> None:
        """Kill every worker of this pool (at exit)."""
        if os.getpid() != self.pid:
            return  # a forked process leaves its parent's workers alone
        with self._lock:
            for worker in self._workers:
                worker.kill()
            self._workers.clear()
            self._idle.clear()


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def pool_size() -> int:
    """Return the configured workers per process (setting ``SLUICEGATE_SCRIPT_WORKERS``)."""
    from django.conf import settings

    if not settings.configured:
        return DEFAULT_POOL_SIZE
    return int(getattr(settings, "SLUICEGATE_SCRIPT_WORKERS", DEFAULT_POOL_SIZE))


def get_pool() -> WorkerPool:
    """Return this process's pool, making a new one after a fork."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = WorkerPool(pool_size())
            atexit.register(_pool.close)
        return _pool


def reset_pool(size: int | None = None) -> WorkerPool:
    """Kill this process's workers and start over with ``size`` workers (tests, reconfiguration)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
        _pool = WorkerPool(size if size is not None else pool_size())
        atexit.register(_pool.close)
        return _pool
