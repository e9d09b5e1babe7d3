"""The read API under load: Sluicegate against a DRF ModelViewSet and a raw endpoint.

Three servers run side by side, each under gunicorn with
`platform/gunicorn.conf.py` and the same worker count and threads:
(S) Sluicegate (`config.wsgi`, production mode, an admin API key),
(D) `bench.drf_baseline`, what a team would otherwise write, and
(R) `bench.raw_endpoint`, PostgreSQL building the JSON: the practical ceiling.
Four read cases go against S, D and R back to back; `bench.loadgen` drives
each in a separate process. Targets: S >= 2x D and S >= 0.6x R in req/s.
(P) is S again, through an app key whose role hides two columns and filters
rows with a lookup (a filter every row passes, so P and S answer the same
rows): the cost of the policy. Target: P >= 0.9x S.
(X) is S's one-row read with a no-op pre_process event script on it, measured
interleaved with S again: the p50 a script adds. Target: <= 3 ms.
The traffic controls (rate limits and the audit trail) are measured the same
way: (L) is P through a second app whose rate limit is never reached, on S
(auditing on, as production runs it), and (O) is P's key on a second
Sluicegate started with auditing off (`SLUICEGATE_AUDIT=false`) where no limit
applies: both off. Targets: L >= 0.9x O, and P >= 0.95x O (the audit's own cost).

Beside req/s and latency it reports CPU ms per response (gunicorn plus the
server's PostgreSQL sessions, from /proc), which a busy shared machine
disturbs far less than throughput. The demo database is VACUUM ANALYZEd
first, as a production table would be, and checkpointed, so the load's
writes are not flushed to disk in the middle of the measurements.

One rule: everything made here (servers, demo database, login role, admin
API key) is removed or revoked again, whatever fails; a server that answers
errors is reported with its error counts and never crashes the run.
BENCH_SECONDS sets the counted seconds per run (5), BENCH_ROUNDS how many
interleaved rounds to take the best of (3: on a machine this busy, two
rounds were not always enough to get one undisturbed run of every server);
BENCH_ONLY=X measures the X row only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from django.conf import settings
from django.utils import timezone
from psycopg.conninfo import make_conninfo

from bench.read_setup import (
    DEMO_DATABASE,
    HIDDEN_COLUMNS,
    READ_ROLE,
    drop_audit_records,
    drop_login_role,
    drop_policy_key,
    prepare_limited_key,
    prepare_policy_key,
    prepare_sluicegate,
    revoke_key,
)
from bench.servers import (
    COMMON_HEADERS,
    THREADS,
    WORKERS,
    Server,
    cpu_ticks,
    fetch,
    gunicorn_ticks,
    last_error,
    start_server,
    stop_server,
)
from config.database import platform_conninfo
from config.environment import BASE_DIR
from services.demo import drop_database, load_demo
from services.scripting.models import EventScript

CONNECTIONS = 8
WARMUP_SECONDS = 1.0
# Slow cases (10,000 rows through DRF) run past BENCH_SECONDS until this many
# responses came back, so their figures rest on more than a handful.
MIN_REQUESTS = 3 * CONNECTIONS
TARGET_S_OVER_D, TARGET_S_OVER_R, TARGET_P_OVER_S, TARGET_L_OVER_O = 2.0, 0.6, 0.9, 0.9
TARGET_AUDIT = 0.95  # auditing alone costs at most 5%
API = "/api/v2/bench/_table/contacts"
NOOP_SCRIPT = "bench._table.contacts.{id}.get.pre_process"
TARGET_SCRIPT_MS = 3.0
SCRIPTS_SETTLE_SECONDS = 2.5  # every gunicorn worker re-reads the scripts' version each second
# PostgreSQL application_name of D's and R's sessions; S's are the demo
# database's other client sessions, whatever Sluicegate names them.
APP_NAMES = {"D": "bench-drf", "R": "bench-raw"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_path(server: Server, case: Case) -> str:
    return case.drf_path if server.key == "D" else case.api_path


@dataclass(frozen=True, slots=True)
class Case:
    """One read case: its paths on Sluicegate/raw and on DRF, the `{n}` values, the rows."""

    label: str
    api_path: str
    drf_path: str
    cycle: str
    rows: int | None  # None: one bare object; else rows per page (0: ask the database)


CASES = (
    Case("one row by pk", API + "/{n}", "/contacts/{n}/", "1:10000", None),
    Case("100-row page", API + "?limit=100&offset={n}", "/contacts/?limit=100&offset={n}",
         "0:9900:100", 100),
    Case("filtered page", API + "?filter=company_id%3D{n}&limit=100",
         "/contacts/?company_id={n}&limit=100", "1:500", 0),
    Case("10,000-row page", API + "?limit=10000", "/contacts/?limit=10000", "1:1", 10_000),
)  # fmt: skip


def backend_ticks(conn: psycopg.Connection[Any], key: str) -> dict[int, int]:
    """Return {backend pid: CPU ticks} of server `key`'s sessions on the demo database."""
    rows = conn.execute(
        "SELECT pid, application_name FROM pg_stat_activity"
        " WHERE datname = %s AND backend_type = 'client backend'",
        [DEMO_DATABASE],
    ).fetchall()
    names = {name: other for other, name in APP_NAMES.items()}
    # P and L are S's own gunicorn and sessions; O's sessions are Sluicegate's
    # too, and idle (adding nothing) whenever S is measured, and the reverse.
    own = key if key in APP_NAMES else "S"
    return {pid: cpu_ticks(pid) for pid, name in rows if names.get(name, "S") == own}


def load_with_cpu(server: Server, case: Case, seconds: float) -> dict[str, Any]:
    """Run `load` and add the CPU ms per response of the server and of its PostgreSQL sessions.

    gunicorn's master accounts for the workers it reaped (max_requests); a
    PostgreSQL session that ends (its worker recycled) is only known up to the
    last sample, taken every 0.25 s, so its share is nearly all counted.
    """
    stop = threading.Event()
    with psycopg.connect(platform_conninfo(), autocommit=True) as conn:
        app_before, first = gunicorn_ticks(server), backend_ticks(conn, server.key)
        latest = dict(first)

        def sample() -> None:
            while not stop.wait(0.25):
                latest.update(backend_ticks(conn, server.key))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result = load(server, case, seconds)
        finally:
            stop.set()
            sampler.join(timeout=10)
        latest.update(backend_ticks(conn, server.key))
    answered = max(1, int(result.get("answered", 0))) * CLOCK_TICKS / 1000
    pg = sum(ticks - first.get(pid, 0) for pid, ticks in latest.items())
    result.update(
        app_cpu_ms=(gunicorn_ticks(server) - app_before) / answered, pg_cpu_ms=pg / answered
    )
    return result


def expected_rows(case: Case, n: int) -> int | None:
    """Return how many rows `case` must answer for `{n}` (None: one object)."""
    if case.rows != 0:
        return case.rows
    with psycopg.connect(platform_conninfo(dbname=DEMO_DATABASE)) as conn:
        row = conn.execute("SELECT count(*) FROM contacts WHERE company_id = %s", [n]).fetchone()
    return min(100, row[0] if row else 0)


def preflight(server: Server, case: Case, columns: set[str]) -> str | None:
    """Fetch the case's first request once and check it; return a problem or None."""
    n = int(case.cycle.split(":")[0])
    try:
        status, body = fetch(server, server_path(server, case).replace("{n}", str(n)))
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"
    if status != 200:
        return f"HTTP {status}: {' '.join(body[:300].decode(errors='replace').split())[:160]}"
    data: Any = json.loads(body)
    want = expected_rows(case, n)
    rows = [data] if want is None else data.get("resource", data.get("results"))
    if not isinstance(rows, list) or len(rows) != (want or 1):
        return f"expected {want or 1} rows, got {type(rows).__name__} {len(rows or [])}"
    if want is None and rows[0].get("id") != n:
        return f"asked for id {n}, got {rows[0].get('id')!r}"
    missing = columns - set(rows[0])
    return f"columns missing: {sorted(missing)}" if missing else None


def load(server: Server, case: Case, seconds: float) -> dict[str, Any]:
    """Drive `server` with `case` from a separate loadgen process; return its summary."""
    url = f"http://127.0.0.1:{server.port}{server_path(server, case)}"
    max_duration = max(30.0, 6 * seconds)
    argv = [sys.executable, "-m", "bench.loadgen", "--url", url, "--cycle", case.cycle,
            "--connections", str(CONNECTIONS), "--duration", str(seconds),
            "--warmup", str(WARMUP_SECONDS), "--min-requests", str(MIN_REQUESTS),
            "--max-duration", str(max_duration), "--header-env", "BENCH_LOADGEN_HEADERS"]  # fmt: skip
    for header in COMMON_HEADERS:
        argv += ["--header", header]
    env = {**os.environ, "BENCH_LOADGEN_HEADERS": server.headers}
    try:
        done = subprocess.run(  # noqa: S603 (our own module)
            argv, cwd=BASE_DIR, env=env, capture_output=True, text=True,
            timeout=max_duration + WARMUP_SECONDS + 90, check=True,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(done.stdout)
    except (subprocess.SubprocessError, ValueError) as exc:
        return {"rps": 0.0, "ok_rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "errors": 1,
                "requests": 0, "error_kinds": {f"loadgen: {exc}"[:200]: 1}, "client_cpu": 0.0,
                "mean_bytes": 0.0, "reconnects": 0, "seconds": 0.0, "answered": 0}  # fmt: skip
    return result


def ratio(top: float, bottom: float, target: float, *, failed: bool) -> str:
    """Return 'x.xx ok|LOW' for top/bottom against `target`, or 'ERR' when a run failed."""
    if failed or not bottom:
        return "  ERR  "
    value = top / bottom
    return f"{value:5.2f} {'ok ' if value >= target else 'LOW'}"


def cpu_ms(r: dict[str, Any]) -> float:
    """Return a run's CPU milliseconds per response, gunicorn and PostgreSQL together."""
    return float(r["app_cpu_ms"] + r["pg_cpu_ms"])


def report(
    results: dict[tuple[str, str], dict[str, Any]], seconds: float, rounds: int
) -> list[str]:
    """Return the figures table, the ratio targets and a loud line per run with errors."""

    def cell(r: dict[str, Any]) -> str:
        return f"{r['rps']:8.0f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f}"

    lines = [
        f"gunicorn gthread, {WORKERS} workers x {THREADS} threads each (platform/gunicorn.conf.py),"
        f" DEBUG off; loadgen: separate process, {CONNECTIONS} keep-alive connections,"
        f" {seconds:g} s counted after {WARMUP_SECONDS:g} s warm-up; best of {rounds} rounds",
        "S = Sluicegate, D = DRF ModelViewSet baseline, R = raw WSGI + PostgreSQL JSON ceiling",
        f"{'case':<16}|{'S req/s  p50 ms  p99 ms':>24} |{'D req/s  p50 ms  p99 ms':>24} |"
        f"{'R req/s  p50 ms  p99 ms':>24} | S/D (>={TARGET_S_OVER_D:g}) | S/R (>={TARGET_S_OVER_R:g})",
    ]
    for case in CASES:
        s, d, r = (results[key, case.label] for key in "SDR")
        failed_d, failed_r = bool(s["errors"] or d["errors"]), bool(s["errors"] or r["errors"])
        lines.append(
            f"{case.label:<16}|{cell(s)} |{cell(d)} |{cell(r)} |"
            f" {ratio(s['rps'], d['rps'], TARGET_S_OVER_D, failed=failed_d):^10} |"
            f" {ratio(s['rps'], r['rps'], TARGET_S_OVER_R, failed=failed_r):^10}"
        )
    lines += [
        "CPU ms per response, gunicorn + its PostgreSQL sessions (steadier than req/s on a"
        " busy machine; the ratios are cost D/S and R/S, against the same targets):",
        f"{'case':<16}|{'S app + pg':>16} |{'D app + pg':>16} |{'R app + pg':>16} |"
        f" D/S (>={TARGET_S_OVER_D:g}) | R/S (>={TARGET_S_OVER_R:g})",
    ]
    for case in CASES:
        s, d, r = (results[key, case.label] for key in "SDR")
        failed_d, failed_r = bool(s["errors"] or d["errors"]), bool(s["errors"] or r["errors"])
        cells = " |".join(f"{x['app_cpu_ms']:8.2f} +{x['pg_cpu_ms']:6.2f}" for x in (s, d, r))
        lines.append(
            f"{case.label:<16}|{cells} |"
            f" {ratio(cpu_ms(d), cpu_ms(s), TARGET_S_OVER_D, failed=failed_d):^10} |"
            f" {ratio(cpu_ms(r), cpu_ms(s), TARGET_S_OVER_R, failed=failed_r):^10}"
        )
    lines += [
        "P = S through an app key whose role hides 2 columns and filters rows (policy cost):",
        f"{'case':<16}|{'P req/s  p50 ms  p99 ms':>24} |{'P app + pg':>16} |"
        f" P/S req/s (>={TARGET_P_OVER_S:g}) | S/P CPU (>={TARGET_P_OVER_S:g})",
    ]
    for case in CASES:
        s, p = results["S", case.label], results["P", case.label]
        failed = bool(s["errors"] or p["errors"])
        lines.append(
            f"{case.label:<16}|{cell(p)} |{p['app_cpu_ms']:8.2f} +{p['pg_cpu_ms']:6.2f} |"
            f" {ratio(p['rps'], s['rps'], TARGET_P_OVER_S, failed=failed):^19} |"
            f" {ratio(cpu_ms(s), cpu_ms(p), TARGET_P_OVER_S, failed=failed):^14}"
        )
    lines += [
        "Traffic controls: L = P through an app with a never-reached rate limit, auditing on;"
        " O = P's key on a Sluicegate with auditing off and no limit (both off):",
        f"{'case':<16}|{'L req/s  p50 ms  p99 ms':>24} |{'O req/s  p50 ms  p99 ms':>24} |"
        f" P/O (>={TARGET_AUDIT:g}) | L/O req/s (>={TARGET_L_OVER_O:g}) | O/L CPU (>={TARGET_L_OVER_O:g})",
    ]
    for case in CASES:
        p, l_, o = (results[key, case.label] for key in "PLO")
        failed = bool(l_["errors"] or o["errors"])
        lines.append(
            f"{case.label:<16}|{cell(l_)} |{cell(o)} |"
            f" {ratio(p['rps'], o['rps'], TARGET_AUDIT, failed=failed):^12} |"
            f" {ratio(l_['rps'], o['rps'], TARGET_L_OVER_O, failed=failed):^19} |"
            f" {ratio(cpu_ms(o), cpu_ms(l_), TARGET_L_OVER_O, failed=failed):^14}"
        )
    sizes = ", ".join(
        f"{case.label}: "
        + "/".join(f"{results[k, case.label]['mean_bytes'] / 1024:.1f}" for k in "SDR")
        for case in CASES
    )
    lines.append(f"mean response KiB S/D/R: {sizes}")
    cpu = max(r.get("client_cpu", 0.0) for r in results.values())
    lines.append(
        f"loadgen CPU at most {cpu:.0%} of one core (it shares the 2 cores with the servers)"
    )
    for (key, label), r in results.items():
        if r["errors"]:
            kinds = ", ".join(f"{kind} x{count}" for kind, count in r["error_kinds"].items())
            lines.append(
                f"!!! ERRORS {key} {label}: {r['errors']} of {r['requests']} failed ({kinds})"
            )
        if 0 < r["samples"] < 100:
            lines.append(
                f"note: {key} {label}: only {r['samples']} responses in {r['seconds']:.1f} s"
                " (p99 is close to the maximum)"
            )
        if r.get("reconnects"):
            lines.append(
                f"note: {key} {label}: {r['reconnects']} keep-alive reconnects (worker recycling)"
            )
    return lines


def best_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the round with the most req/s, carrying the errors of every round.

    Best-of-N, as `demo_load` takes the fastest of three: the machine is
    shared, and noise only ever makes a server look slower.
    """
    best = dict(max(rounds, key=lambda r: r["rps"]))
    kinds: dict[str, int] = {}
    for r in rounds:
        for kind, count in r["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    # CPU per request: the leanest round, as for req/s.
    leanest = min(rounds, key=lambda r: r.get("app_cpu_ms", 0.0) + r.get("pg_cpu_ms", 0.0))
    best.update(
        app_cpu_ms=leanest.get("app_cpu_ms", 0.0),
        pg_cpu_ms=leanest.get("pg_cpu_ms", 0.0),
        samples=best["requests"],
        errors=sum(r["errors"] for r in rounds),
        requests=sum(r["requests"] for r in rounds),
        error_kinds=kinds,
        reconnects=sum(r.get("reconnects", 0) for r in rounds),
    )
    return best


def environments() -> tuple[dict[str, str], dict[str, str]]:
    """Return the environment of every server, and Sluicegate's (with its encryption key)."""
    base = {**os.environ, "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "false"}
    # Steady state: S serves three clients' load (S, P, L), so with gunicorn's
    # recycling (every ~50,000 requests, a fork and cold caches) it would
    # restart its workers mid-measurement more often than the others.
    base["WEB_MAX_REQUESTS"] = "0"
    base["DATABASE_URL"] = os.environ.get("DATABASE_URL") or str(settings.DATABASE_URL or "")
    base["REDIS_URL"] = os.environ.get("REDIS_URL") or str(settings.REDIS_URL or "")
    return base, {**base, "SLUICEGATE_ENCRYPTION_KEYS": Fernet.generate_key().decode()}


def start_servers(
    logdir: Path,
    base: dict[str, str],
    sg_env: dict[str, str],
    key: str,
    policy_key: str,
    limited_key: str,
) -> list[Server]:
    """Start S, D, R and O; return them with P and L (S through `policy_key`, `limited_key`).

    If one fails to start, stop the others and raise.
    """
    specs = (
        ("S", "config.wsgi:application", {
            **sg_env, "SLUICEGATE_ENV": "production", "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "config.settings"}),
        ("D", "bench.drf_baseline.wsgi:application", {
            **base, "DJANGO_SETTINGS_MODULE": "bench.drf_baseline.settings",
            "BENCH_DEMO_DATABASE": DEMO_DATABASE}),
        ("R", "bench.raw_endpoint:application", {**base, "BENCH_DATABASE_URL": make_conninfo(
            platform_conninfo(dbname=DEMO_DATABASE), application_name=APP_NAMES["R"])}),
        ("O", "config.wsgi:application", {
            **sg_env, "SLUICEGATE_ENV": "production", "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "config.settings", "SLUICEGATE_AUDIT": "false"}),
    )  # fmt: skip
    servers: list[Server] = []
    try:
        for name, app, env in specs:
            servers.append(start_server(name, app, env, logdir))
    except BaseException:
        for server in servers:
            stop_server(server)
        raise
    sluicegate, both_off = servers[0], servers[3]
    sluicegate.headers = f"X-API-Key: {key}" if key else ""
    both_off.headers = f"X-API-Key: {policy_key}"
    policy = Server("P", sluicegate.port, sluicegate.process, sluicegate.log)
    policy.headers = f"X-API-Key: {policy_key}"
    limited = Server("L", sluicegate.port, sluicegate.process, sluicegate.log)
    limited.headers = f"X-API-Key: {limited_key}"
    return [*servers, policy, limited]


def measure(
    servers: list[Server], seconds: float, rounds: int
) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    """Run every case against every server, `rounds` times; return best-of results and notes."""
    with psycopg.connect(platform_conninfo(dbname=DEMO_DATABASE)) as conn:
        columns = {row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'contacts'"
        )}  # fmt: skip
    results: dict[tuple[str, str], dict[str, Any]] = {}
    notes: list[str] = []
    for case in CASES:
        runs: dict[str, list[dict[str, Any]]] = {server.key: [] for server in servers}
        for server in servers:
            shown = columns - HIDDEN_COLUMNS if server.key in ("P", "L", "O") else columns
            problem = preflight(server, case, shown)
            if problem:
                notes.append(f"!!! {server.key} {case.label}: first response wrong: {problem}")
        # Rounds interleave S, D, R so that a noisy moment hits all three alike.
        for _ in range(rounds):
            for server in servers:
                runs[server.key].append(load_with_cpu(server, case, seconds))
                if server.process.poll() is not None and not server.notes:
                    server.notes.append(f"!!! {server.key} gunicorn exited: {last_error(server)}")
        for server in servers:
            results[server.key, case.label] = best_of(runs[server.key])
    return results, notes


def script_worker_ticks(server: Server) -> int:
    """Return the CPU ticks of the script sandbox under `server`'s gunicorn workers.

    Its workers (children of a gunicorn worker) with the runs they reaped, and their live
    children, which serve one script's runs for a long time.
    """
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    web = {pid for pid, parent in parents.items() if parent == server.process.pid}
    workers = {pid for pid, parent in parents.items() if parent in web}
    children = {pid for pid, parent in parents.items() if parent in workers}
    return sum(cpu_ticks(pid, reaped=True) for pid in workers) + sum(map(cpu_ticks, children))


def measure_script_cost(servers: list[Server], seconds: float, rounds: int) -> list[str]:
    """X: S's one-row read with a no-op pre_process script, interleaved with S; the p50 added."""
    sluicegate = next(server for server in servers if server.key == "S")
    scripted = Server("X", sluicegate.port, sluicegate.process, sluicegate.log)
    scripted.headers = sluicegate.headers
    case = CASES[0]
    without: list[dict[str, Any]] = []
    with_script: list[dict[str, Any]] = []
    script = EventScript.objects.create(name=NOOP_SCRIPT, source="pass")
    try:
        for round_number in range(rounds):
            script.active = True
            script.save()
            time.sleep(SCRIPTS_SETTLE_SECONDS)
            if round_number == 0:
                # Steady state, as S has: every gunicorn worker has started its sandbox
                # workers and imported the script path before the first counted run.
                load(scripted, case, WARMUP_SECONDS)
            before = script_worker_ticks(sluicegate)
            with_script.append(load_with_cpu(scripted, case, seconds))
            answered = max(1, int(with_script[-1].get("answered", 0))) * CLOCK_TICKS / 1000
            with_script[-1]["script_worker_cpu_ms"] = (
                script_worker_ticks(sluicegate) - before
            ) / answered
            script.active = False
            script.save()
            time.sleep(SCRIPTS_SETTLE_SECONDS)
            without.append(load_with_cpu(sluicegate, case, seconds))
        runs = script.runs.count()
    finally:
        script.delete()
    x, s = best_of(with_script), best_of(without)
    added = x["p50_ms"] - s["p50_ms"]
    workers_ms = x.get("script_worker_cpu_ms", 0.0)
    verdict = (
        "ERR"
        if x["errors"] or s["errors"] or not runs
        else ("ok" if added <= TARGET_SCRIPT_MS else "HIGH")
    )
    return [
        f"X = S + a no-op pre_process script, {case.label}: p50 {x['p50_ms']:.1f} ms"
        f" vs S {s['p50_ms']:.1f} ms: +{added:.1f} ms (<= {TARGET_SCRIPT_MS:g}) {verdict};"
        f" req/s {x['rps']:.0f} vs {s['rps']:.0f}; CPU ms per response {cpu_ms(x):.2f}"
        f" vs {cpu_ms(s):.2f} (+ script workers {workers_ms:.2f}); script runs recorded: {runs}"
    ]


def exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into SystemExit, so cleanup in `finally` blocks runs."""
    raise SystemExit(128 + signum)


def run() -> list[str]:
    seconds = float(os.environ.get("BENCH_SECONDS", "5"))
    rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
    load_demo(DEMO_DATABASE)
    with psycopg.connect(platform_conninfo(dbname=DEMO_DATABASE), autocommit=True) as conn:
        # Freshly COPYed tables have no statistics until autovacuum gets round to
        # them; without, a literal OFFSET plans as seq scan + sort (3x the cost of
        # the index scan a parameter gets): measure the steady state instead.
        conn.execute("VACUUM (ANALYZE)")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")  # superusers and pg_checkpoint only
    logdir = Path(tempfile.mkdtemp(prefix="sluicegate-bench-"))
    servers: list[Server] = []
    keep_logs = False
    load_before = os.getloadavg()[0]
    # `config.launch` forwards SIGTERM to us: unwind through `finally` so the
    # gunicorns (in their own sessions, out of reach of Ctrl-C) are stopped too.
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    key = ""
    started = timezone.now()
    try:
        base, sg_env = environments()
        key, problems = prepare_sluicegate(sg_env)
        notes = [f"!!! S setup: {problem}" for problem in problems]
        policy_key = prepare_policy_key()
        servers = start_servers(logdir, base, sg_env, key, policy_key, prepare_limited_key())
        lines: list[str] = []
        more_notes: list[str] = []
        if os.environ.get("BENCH_ONLY", "").upper() != "X":
            results, more_notes = measure(servers, seconds, rounds)
            keep_logs = any(r["errors"] for r in results.values())
            lines += report(results, seconds, rounds)
        lines += measure_script_cost(servers, seconds, rounds)
        lines.append(
            f"machine load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
        )
        restarts = ", ".join(
            f"{server.key} {server.log.read_text(errors='replace').count('Autorestarting worker')}"
            for server in servers
            if server.key not in ("P", "L")
        )
        lines.append(f"worker restarts (gunicorn max_requests) during the run: {restarts}")
        lines += notes + more_notes + [note for server in servers for note in server.notes]
        if keep_logs:
            lines.append(f"server logs kept in {logdir}")
        return lines
    except Exception:
        keep_logs = True
        print(f"read_api failed; server logs kept in {logdir}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            if server.key not in ("P", "L"):  # P and L are S
                stop_server(server)
        if key:
            revoke_key(key)
        drop_policy_key()
        drop_audit_records(started)
        drop_database(DEMO_DATABASE)
        drop_login_role(READ_ROLE)
        if not keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
