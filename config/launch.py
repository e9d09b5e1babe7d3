"""Start Sluicegate for development: embedded servers, migrations, demo, processes.

    python -m config.launch run             # what `make run` does
    python -m config.launch exec -- CMD...  # run CMD with the servers up (`make test`)

One rule: the real servers named by DATABASE_URL / REDIS_URL are used whenever
those are set; otherwise the embedded ones under the data directory are
started (or reused), handed to every child process through the environment,
and stopped again when the last process that started them exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from config.embedded import EmbeddedServer, start_postgres, start_redis
from config.environment import BASE_DIR, load_environment

PROCFILE = BASE_DIR / "platform" / "Procfile"
READY_TIMEOUT_SECONDS = 90


def start_embedded_servers() -> list[EmbeddedServer]:
    """Start the embedded servers whose URL is not set; export their URLs."""
    env = load_environment(os.environ)
    servers: list[EmbeddedServer] = []
    if not env.database_url:
        servers.append(start_postgres(env.data_dir))
        os.environ["DATABASE_URL"] = servers[-1].url
    if not env.redis_url:
        servers.append(start_redis(env.data_dir))
        os.environ["REDIS_URL"] = servers[-1].url
    return servers


def run_child(command: Sequence[str], *, stop_is_success: bool = False) -> int:
    """Run `command`, forwarding SIGINT/SIGTERM to it; return its exit code.

    With `stop_is_success`, a child stopped because we were asked to stop
    (Ctrl-C on `make run`) counts as a clean exit.
    """
    child = subprocess.Popen(command, cwd=BASE_DIR)  # noqa: S603 (our own commands)
    stop_requested = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
        return 0 if stop_requested and stop_is_success else code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def manage(*args: str) -> None:
    """Run a management command in a child process; exit if it fails."""
    code = run_child([sys.executable, str(BASE_DIR / "manage.py"), *args])
    if code != 0:
        raise SystemExit(code)


def read_data_file(path: Path) -> str:
    """Return a generated value kept in the data dir, or a hint where it comes from."""
    return path.read_text().strip() if path.exists() else "(run manage.py demo)"


def print_banner_when_up(port: str, data_dir: Path) -> None:
    """Wait for the web process, then print where to go and how to log in."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health/live", timeout=2):  # noqa: S310 (loopback)
                break
        except OSError:
            time.sleep(0.5)
    else:
        print(f"Sluicegate did not answer on {base} within {READY_TIMEOUT_SECONDS}s.", flush=True)  # noqa: T201
        return
    password = read_data_file(data_dir / "admin_password")
    key = read_data_file(data_dir / "demo_api_key")
    app_key = read_data_file(data_dir / "demo_app_key")
    banner = f"""
Sluicegate is running.
  Admin:   {base}/admin/   user: admin   password: {password}
  API:     {base}/api/v2/demo/_table   (the demo CRM)
  Docs:    {base}/api/docs/demo   (Swagger UI; signed in to the admin, it is ready to try)
  Health:  {base}/health/ready
  Try:     curl -s -H "X-API-Key: {key}" "{base}/api/v2/demo/_table/contacts?limit=3&fields=id,email,status"
  As app:  curl -s -H "X-API-Key: {app_key}" "{base}/api/v2/demo/_table/contacts?limit=3"
           (the demo app's role "demo-reader" hides contacts' personal fields and churned contacts)
Press Ctrl-C to stop everything.
"""
    print(banner, flush=True)  # noqa: T201 (the banner is this command's output)


def command_run() -> int:
    """Migrate, load the demo, then run web + worker + beat under honcho."""
    env = load_environment(os.environ)
    manage("migrate", "--noinput")
    manage("demo")
    port = os.environ.setdefault("PORT", "8000")
    # The Procfile names gunicorn and celery; find them beside this interpreter.
    os.environ["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))
    threading.Thread(target=print_banner_when_up, args=(port, env.data_dir), daemon=True).start()
    return run_child(
        [sys.executable, "-m", "honcho", "-f", str(PROCFILE), "-d", str(BASE_DIR), "start"],
        stop_is_success=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, start the servers, run, stop the servers."""
    parser = argparse.ArgumentParser(prog="python -m config.launch")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("run", help="migrate, load the demo and start web, worker and beat")
    exec_parser = sub.add_parser("exec", help="run a command with the servers up")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    servers = start_embedded_servers()
    try:
        if args.action == "run":
            return command_run()
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("exec needs a command")
        return run_child(command)
    finally:
        for server in reversed(servers):
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
