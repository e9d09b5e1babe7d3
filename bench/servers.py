"""The benchmark's servers: gunicorns started in their own process groups, and their CPU use.

One rule: every server started here is stopped by `stop_server` (TERM, then
KILL of its whole process group), and talks only on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from config.environment import BASE_DIR

WORKERS, THREADS = 2, 4
BOOT_TIMEOUT_SECONDS = 60.0
COMMON_HEADERS = (
    "Accept: application/json",
    # As behind the TLS-terminating proxy production runs behind.
    "X-Forwarded-Proto: https",
)


@dataclass(slots=True)
class Server:
    """One gunicorn we started: its key (S/D/R), port, process and log file."""

    key: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    headers: str = ""  # extra 'Name: value' lines (the API key), kept off argv
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(key: str, app: str, env: dict[str, str], logdir: Path) -> Server:
    """Start gunicorn for `app` in its own process group; return once it answers HTTP.

    Raises RuntimeError (after stopping it) when it exits or stays silent.
    """
    port = free_port()
    env = {**env, "BIND": f"127.0.0.1:{port}", "PORT": str(port),
           "WEB_CONCURRENCY": str(WORKERS), "WEB_THREADS": str(THREADS)}  # fmt: skip
    log = logdir / f"{key}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and config)
            # Its own control socket: the default (~/.gunicorn/gunicorn.ctl) is shared
            # by every gunicorn of this user, including the other two here.
            [sys.executable, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py",
             "--control-socket", str(logdir / f"{key}.ctl"), app],
            cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = Server(key=key, port=port, process=process, log=log)
    deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            fetch(server, "/")
            time.sleep(1.0)  # let the other worker finish booting too
            return server
        time.sleep(0.2)
    stop_server(server)
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{key} ({app}) did not start on port {port}:\n{tail}")


def stop_server(server: Server) -> None:
    """Stop the gunicorn we started (its whole process group): TERM, then KILL."""
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


def last_error(server: Server) -> str:
    """Return the last line of the server's log that names an error, for the report."""
    lines = server.log.read_text(errors="replace").splitlines()
    # A traceback's last line ("TypeError: ...") says more than gunicorn's summary.
    raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception): ", line)]
    errors = [line for line in lines if "[ERROR]" in line]
    return (raised or errors or lines or ["(empty log)"])[-1][:300]


def cpu_ticks(pid: int, *, reaped: bool = False) -> int:
    """Return the CPU ticks process `pid` used (plus its reaped children's); 0 if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # After the parenthesised command: state, ppid, ... utime (14), stime, cutime, cstime.
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11 : 15 if reaped else 13])


def gunicorn_ticks(server: Server) -> int:
    """Return the CPU ticks of a gunicorn: master, live workers, and workers it reaped."""
    master = server.process.pid
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                workers.append(int(stat.parent.name))
    return cpu_ticks(master, reaped=True) + sum(cpu_ticks(pid) for pid in workers)


def fetch(server: Server, path: str) -> tuple[int, bytes]:
    """GET `path` from `server` once; return (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        lines = [*COMMON_HEADERS, *server.headers.splitlines()]
        headers = dict(line.split(": ", 1) for line in lines if line)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def send(
    conn: http.client.HTTPConnection, server: Server, method: str, path: str, body: bytes
) -> tuple[int, bytes]:
    """Send one JSON request over `conn` (kept alive by the caller); return (status, body)."""
    lines = [*COMMON_HEADERS, "Content-Type: application/json", *server.headers.splitlines()]
    headers = dict(line.split(": ", 1) for line in lines if line)
    # A server that answers (413, 400) before reading the whole body closes the
    # connection under the upload: read that answer rather than the broken pipe.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()
