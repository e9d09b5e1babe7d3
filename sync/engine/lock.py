"""The per-job lock in Redis: one run of a job at a time, across every worker and host.

One rule: a run holds its job's lock from before it reads anything until
after its last checkpoint; a second start finds the lock taken and gives up
at once. The lock expires on its own (`ttl` seconds) unless its holder
renews it (a background thread does, every third of the TTL), so a worker
that died frees its jobs within one TTL; a holder on this very host whose
process is gone is noticed at once and its lock taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from types import TracebackType

import redis

from sync.keys import sync_key

KEY = "lock:{job}"
DEFAULT_TTL = 60.0

# Renew only our own lock (the value names the holder).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# Release only our own lock.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Take over a lock whose holder is known dead: only if it is still that holder's.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock: host, process and a token of its own."""

    host: str
    pid: int
    token: str

    def dump(self) -> str:
        return json.dumps({"host": self.host, "pid": self.pid, "token": self.token})

    @classmethod
    def load(cls, raw: bytes | str | None) -> Holder | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(str(data["host"]), int(data["pid"]), str(data["token"]))
        except (ValueError, KeyError, TypeError):
            return None


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


class JobLock:
    """The lock of one job. `acquire()` once; `release()` (or leave the `with` block) when done."""

    def __init__(self, client: redis.Redis, job_id: int, *, ttl: float = DEFAULT_TTL) -> None:
        self.client = client
        self.key = sync_key(KEY, job=job_id)
        self.ttl_ms = max(1000, int(ttl * 1000))
        self.holder = Holder(socket.gethostname(), os.getpid(), uuid.uuid4().hex)
        self._value = self.holder.dump()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = threading.Event()

    def acquire(self) -> bool:
        """Take the lock; return False at once when another live holder has it."""
        if not self.client.set(self.key, self._value, nx=True, px=self.ttl_ms):
            current_raw = self.client.get(self.key)
            current = Holder.load(current_raw)
            if current is None or current_raw is None or current.host != self.holder.host:
                return False
            if current.pid == self.holder.pid or not _process_gone(current.pid):
                return False
            taken = self.client.eval(_TAKE_OVER, 1, self.key, current_raw, self._value, self.ttl_ms)
            if not taken:
                return False
        self._thread = threading.Thread(target=self._renew, name=f"{self.key}-renew", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        interval = self.ttl_ms / 3000
        while not self._stop.wait(interval):
            try:
                renewed = self.client.eval(_RENEW, 1, self.key, self._value, self.ttl_ms)
            except redis.RedisError:
                continue  # a blip: the lock lasts a whole TTL; try again
            if not renewed:
                self.lost.set()
                return

    def release(self) -> None:
        """Give the lock back (no-op if it expired and someone else took it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with contextlib.suppress(redis.RedisError):  # it expires on its own anyway
            self.client.eval(_RELEASE, 1, self.key, self._value)

    def __enter__(self) -> JobLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()
