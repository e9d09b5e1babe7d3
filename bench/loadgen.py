"""A small closed-loop HTTP load generator, run as its own process by the benchmarks.

    python -m bench.loadgen --url 'http://127.0.0.1:8001/contacts/{n}/' --cycle 1:10000 \
        --connections 8 --duration 5 --warmup 1 [--header 'Name: value'] [--header-env VAR]

Each of `--connections` threads holds one keep-alive `http.client` connection
and sends GETs back to back; `{n}` in the URL takes the values of `--cycle
START:STOP[:STEP]` (STOP included) in turn across all threads. Responses that
come back during the warm-up, or after the counted window closes, are not
counted; the window lasts `--duration` seconds, or longer until
`--min-requests` responses came back (at most `--max-duration`), so slow cases
still get a sample. It prints one JSON object: requests, errors by kind, req/s,
latency percentiles, bytes and its own CPU use.

One rule: it only ever talks to 127.0.0.1, and every loop is bounded by both
a deadline and a request budget.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import resource
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
# A dropped keep-alive connection (gunicorn recycling a worker after
# max_requests, or closing an idle connection) is retried once on a fresh
# connection, as any HTTP client does for an idempotent GET; it is counted
# as a reconnect, not an error.
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(slots=True)
class WorkerStats:
    """What one connection thread measured."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    received: int = 0
    reconnects: int = 0
    answered: int = 0  # every response, counted or not (for CPU per request)


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send requests: the port, the path template and the `{n}` values."""

    port: int
    template: str
    start: int
    stop: int
    step: int

    def path(self, index: int) -> str:
        """Return the path for the `index`-th request."""
        if "{n}" not in self.template:
            return self.template
        span = (self.stop - self.start) // self.step + 1
        return self.template.replace("{n}", str(self.start + (index % span) * self.step))


def parse_target(url: str, cycle: str) -> Target:
    """Return the Target for `url` and `cycle`; raise ValueError if it is not loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != LOOPBACK or not parts.port:
        raise ValueError(f"only http://{LOOPBACK}:PORT/... URLs are allowed, not {url!r}")
    numbers = [int(part) for part in cycle.split(":")]
    if len(numbers) not in (2, 3):
        raise ValueError(f"--cycle must read START:STOP[:STEP], not {cycle!r}")
    start, stop, step = numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1
    if step < 1 or stop < start:
        raise ValueError(f"bad --cycle {cycle!r}")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return Target(port=parts.port, template=path, start=start, stop=stop, step=step)


def send(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """Send one GET on `conn`; return (status, body length). Raises OSError/HTTPException."""
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, len(body)


@dataclass(slots=True)
class Window:
    """The counted window: responses finishing in [start, end] count; `stop` ends sending.

    `end` is written before `stop` is set, so a thread that sees `stop` set
    reads the final `end`.
    """

    start: float
    end: float = float("inf")
    stop: threading.Event = field(default_factory=threading.Event)

    def counts(self, finished: float) -> bool:
        return finished >= self.start and (not self.stop.is_set() or finished <= self.end)


def worker(
    target: Target,
    headers: dict[str, str],
    counter: itertools.count[int],
    window: Window,
    stats: WorkerStats,
    *,
    budget: int,
    timeout: float,
) -> None:
    """Send requests until the window closes or `budget` were sent; record counted ones."""
    conn = http.client.HTTPConnection(LOOPBACK, target.port, timeout=timeout)
    try:
        for _ in range(budget):
            if window.stop.is_set():
                break
            path = target.path(next(counter))
            started = time.perf_counter()
            try:
                try:
                    status, size = send(conn, path, headers)
                except STALE_CONNECTION:
                    conn.close()
                    stats.reconnects += 1
                    started = time.perf_counter()
                    status, size = send(conn, path, headers)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if window.counts(time.perf_counter()):
                    stats.errors[type(exc).__name__] += 1
                    stats.requests += 1
                # Do not spin on a server that refuses connections.
                time.sleep(0.01)
                continue
            finished = time.perf_counter()
            stats.answered += 1
            if not window.counts(finished):
                continue
            stats.requests += 1
            stats.received += size
            stats.latencies.append(finished - started)
            if status != 200:
                stats.errors[f"HTTP {status}"] += 1
    finally:
        conn.close()


def percentile(ordered: list[float], fraction: float) -> float:
    """Return the `fraction` percentile (nearest rank) of an ascending list, 0.0 if empty."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def run_load(
    target: Target,
    headers: dict[str, str],
    *,
    connections: int,
    duration: float,
    warmup: float,
    min_requests: int,
    max_duration: float,
    max_requests: int,
    timeout: float,
) -> dict[str, object]:
    """Run the load and return the summary printed as JSON.

    The counted window lasts `duration` seconds, longer if fewer than
    `min_requests` responses came back by then, but never past `max_duration`.
    """
    counter = itertools.count()
    stats = [WorkerStats() for _ in range(connections)]
    window = Window(start=time.perf_counter() + warmup)
    threads = [
        threading.Thread(
            target=worker,
            args=(target, headers, counter, window, stats[index]),
            kwargs={"budget": max(1, max_requests // connections), "timeout": timeout},
            daemon=True,
        )
        for index in range(connections)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, window.start - time.perf_counter()))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(duration)
    hard_end = window.start + max(duration, max_duration)
    while sum(s.requests for s in stats) < min_requests and time.perf_counter() < hard_end:
        time.sleep(0.05)
    window.end = time.perf_counter()
    window.stop.set()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (
        cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime
    )
    seconds = window.end - window.start
    # Let requests in flight finish (they are not counted) so connections close cleanly.
    for thread in threads:
        thread.join(timeout=timeout + 5)
    latencies = sorted(itertools.chain.from_iterable(s.latencies for s in stats))
    errors: Counter[str] = Counter()
    for s in stats:
        errors.update(s.errors)
    requests = sum(s.requests for s in stats)
    ok = requests - sum(errors.values())
    return {
        "requests": requests,
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "reconnects": sum(s.reconnects for s in stats),
        "answered": sum(s.answered for s in stats),
        "seconds": round(seconds, 3),
        "rps": requests / seconds,
        "ok_rps": ok / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else 0.0,
        "mean_bytes": (sum(s.received for s in stats) / len(latencies)) if latencies else 0.0,
        "client_cpu": cpu_seconds / seconds,
        "hung_threads": sum(t.is_alive() for t in threads),
    }


def parse_headers(lines: list[str]) -> dict[str, str]:
    """Return the headers spelled `Name: value`, one per item (blank items skipped)."""
    headers = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"a header must read 'Name: value', not {line!r}")
        headers[name.strip()] = value.strip()
    return headers


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the load, print the JSON summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/path, may hold {n}")
    parser.add_argument("--cycle", default="1:1", help="START:STOP[:STEP] values of {n}")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0, help="counted seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds first")
    parser.add_argument(
        "--min-requests", type=int, default=0, help="extend the window until this many came back"
    )
    parser.add_argument("--max-duration", type=float, default=60.0, help="cap on the window")
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request socket timeout")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument(
        "--header-env",
        action="append",
        default=[],
        help="name of an environment variable holding 'Name: value' lines (keeps keys off argv)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= 256 or not 0 < args.duration <= 600:
        parser.error("--connections must be 1..256 and --duration 0..600")
    try:
        target = parse_target(args.url, args.cycle)
        lines = list(args.header)
        for name in args.header_env:
            lines.extend(os.environ.get(name, "").splitlines())
        headers = parse_headers(lines)
    except ValueError as exc:
        parser.error(str(exc))
    summary = run_load(
        target,
        headers,
        connections=args.connections,
        duration=args.duration,
        warmup=max(0.0, args.warmup),
        min_requests=max(0, args.min_requests),
        max_duration=min(600.0, args.max_duration),
        max_requests=args.max_requests,
        timeout=args.timeout,
    )
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
