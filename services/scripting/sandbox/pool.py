"""A small warm pool of script worker processes, one pool per process that uses it.

The one rule: a script never runs in this process — each run goes to a fresh child forked
by a worker (``worker.py``) that was started with an empty-of-secrets environment, and any
worker whose state is in doubt (timeout, broken frame, vanished child) is killed with its
whole process group and started again.

Workers start lazily; a forked process (gunicorn) notices the pid change and starts its
own pool. A worker serves one run at a time; runs are handed to idle workers in turn, so
a worker forks its next child while the other serves.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.scripting.sandbox.calls import answer_call
from services.scripting.sandbox.values import Host, Limits

logger = logging.getLogger(__name__)

WORKER_PATH = str(Path(__file__).with_name("worker.py"))
DEFAULT_POOL_SIZE = 2
MAX_FRAME_BYTES = 64 * 1024 * 1024
# How long to wait for a worker's next child (or a started worker's first one).
READY_SECONDS = 10.0
# How long a finished child may take to exit before its worker is restarted.
EXIT_GRACE_SECONDS = 1.0
# Platform calls one run may make; the rest fail inside the script.
MAX_CALLS_PER_RUN = 1000
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


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = sock.recv(min(size - len(buffer), 1024 * 1024))
        if not chunk:
            raise EOFError
        buffer += chunk
    return bytes(buffer)


def send_frame(sock: socket.socket, message: Any, tail: bytes = b"") -> None:
    data = json.dumps(message, default=str).encode()
    sock.sendall(struct.pack(">I", len(data)) + data + tail)


def recv_frame(sock: socket.socket) -> Any:
    (size,) = struct.unpack(">I", _recv_exact(sock, 4))
    if size > MAX_FRAME_BYTES:
        raise ValueError("frame too large")
    return json.loads(_recv_exact(sock, size))


class Worker:
    """One zygote process and the child it has ready for the next run."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None
        self.scratch: str | None = None
        self.child: tuple[int, socket.socket] | None = None
        self.awaiting_exit: int | None = None

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
        for sock in (self.control, self.child[1] if self.child else None):
            if sock is not None:
                sock.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.process = self.control = self.scratch = self.child = self.awaiting_exit = None

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

    def run(
        self,
        code: bytes,
        event: Mapping[str, Any],
        session: Mapping[str, Any],
        limits: Limits,
        host: Host,
    ) -> dict[str, Any]:
        """Run ``code`` in the ready child; return its result frame.

        The wall-clock limit starts once the child is ready (a worker's first start is not
        the script's time). Raises RunTimedOut, ChildDied or WorkerBroken.
        """
        pid, channel = self.prepare()
        deadline = time.monotonic() + limits.wall_seconds
        calls = 0
        self.child, self.awaiting_exit = None, pid
        job = {
            "op": "run",
            "event": dict(event),
            "session": dict(session),
            "limits": {"cpu_seconds": limits.cpu_seconds, "memory_mb": limits.memory_mb},
            "code_size": len(code),
        }
        with channel:
            try:
                channel.settimeout(max(deadline - time.monotonic(), 0.001))
                send_frame(channel, job, code)
                while True:
                    channel.settimeout(max(deadline - time.monotonic(), 0.001))
                    message = recv_frame(channel)
                    op = message.get("op") if isinstance(message, dict) else None
                    if op == "result":
                        return dict(message)
                    if op != "call":
                        raise ValueError("unexpected frame")
                    calls += 1
                    if calls > MAX_CALLS_PER_RUN:
                        reply = {"fail": "error", "message": "too many platform calls in one run"}
                    else:
                        reply = answer_call(host, message)
                    channel.settimeout(max(deadline - time.monotonic(), 0.001))
                    send_frame(channel, reply)
            except TimeoutError:
                self.kill()
                raise RunTimedOut from None
            except (EOFError, ConnectionError):
                status = self.child_status(max(deadline - time.monotonic(), 1.0))
                if status is None:
                    self.kill()
                raise ChildDied(status) from None
            except (OSError, ValueError, AttributeError):
                self.kill()
                raise WorkerBroken from None


class WorkerPool:
    """Up to ``size`` workers of this process, each serving one run at a time."""

    def __init__(self, size: int) -> None:
        self.pid = os.getpid()
        self.size = max(1, size)
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._workers: list[Worker] = []
        self._lock = threading.Lock()

    def acquire(self, timeout: float) -> Worker:
        """Return an idle worker, waiting up to ``timeout`` seconds; raise queue.Empty then."""
        with contextlib.suppress(queue.Empty):
            return self._idle.get_nowait()
        with self._lock:
            if not self._workers:
                # First use: start every worker now, so the others are warm when needed.
                self._workers = [Worker() for _ in range(self.size)]
                for worker in self._workers:
                    worker.start()
                for worker in self._workers[1:]:
                    self._idle.put(worker)
                return self._workers[0]
        return self._idle.get(timeout=timeout)

    def release(self, worker: Worker) -> None:
        self._idle.put(worker)

    def close(self) -> None:
        """Kill every worker of this pool (at exit)."""
        if os.getpid() != self.pid:
            return  # a forked process leaves its parent's workers alone
        with self._lock:
            for worker in self._workers:
                worker.kill()
            self._workers.clear()


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
