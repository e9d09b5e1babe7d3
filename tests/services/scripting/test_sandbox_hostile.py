"""Hostile scripts are contained: a clean "Script error: …", and the pool keeps serving."""

from __future__ import annotations

import dis
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from services.scripting.sandbox import Limits, Outcome, run_script, worker
from services.scripting.sandbox import pool as sandbox_pool

PROJECT = Path(__file__).resolve().parents[3]
LIMITS = Limits(wall_seconds=10.0, cpu_seconds=5.0, memory_mb=256)


class Host:
    """A Host the hostile scripts never get anything useful from."""

    def api(
        self, method: str, path: str, payload: Any, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return {"status_code": 200, "content": None, "headers": {}}

    def store(self, op: str, key: str, value: Any = None, ttl: int | None = None) -> Any:
        return None

    def http(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Any,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        raise PermissionError("not allowed")


@pytest.fixture(autouse=True)
def one_worker() -> Iterator[sandbox_pool.WorkerPool]:
    """A pool of one worker, so the worker a hostile run hit is the one serving next."""
    pool = sandbox_pool.reset_pool(1)
    yield pool
    sandbox_pool.reset_pool()


def run(source: str, limits: Limits = LIMITS, event: Mapping[str, Any] | None = None) -> Outcome:
    return run_script(
        source, event if event is not None else {"n": 1}, session={}, limits=limits, host=Host()
    )


def assert_still_serving() -> None:
    outcome = run("event['n'] += 1")
    assert outcome.error is None
    assert outcome.event == {"n": 2}


def zygote_pid(pool: sandbox_pool.WorkerPool) -> int:
    [worker] = pool._workers
    assert worker.process is not None
    return worker.process.pid


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("import os\nos.system('id')", "forbidden: os.system"),
        ("import subprocess\nsubprocess.run(['id'])", "forbidden: import subprocess"),
        ("import os\nos.execv('/bin/sh', ['sh'])", "forbidden: exec"),
        ("import os\nos.posix_spawn('/bin/sh', ['sh'], {})", "forbidden: subprocess"),
        (
            "import socket\nsocket.create_connection(('127.0.0.1', 5432))",
            "forbidden: import socket",
        ),
        # The worker's own module holds the socket module; using it is refused all the same.
        ("import sys\nsys.modules['__main__'].socket.socket()", "forbidden: socket"),
        ("import ctypes", "forbidden: import ctypes"),
        ("import os\nos.fork()", "forbidden: fork"),
        ("import os\nos.kill(os.getppid(), 9)", "forbidden: kill"),
        ("import resource", "forbidden: import resource"),
        (
            "open('/proc/self/environ').read()",
            "forbidden: file access outside the scratch directory",
        ),
        (
            "import os\nopen(f'/proc/{os.getppid()}/environ').read()",
            "forbidden: file access outside the scratch directory",
        ),
        ("open('/etc/passwd').read()", "forbidden: file access outside the scratch directory"),
        ("import os\nos.listdir('/')", "forbidden: file access outside the scratch directory"),
        ("import os\nos.symlink('/etc/passwd', 'p')", "forbidden: link"),
        ("import _testcapi", "forbidden: import _testcapi"),
        ("c = (lambda: 1).__code__\nc.replace(co_code=b'd\\xff' * 4)", "forbidden: code objects"),
        ("import marshal\nmarshal.loads(b'N')", "forbidden: marshal"),
        (
            "import sys\nopen('evil.cpython-311-x86_64-linux-gnu.so', 'wb').write(b'\\x7fELF')\n"
            "sys.path.insert(0, '.')\nimport evil",
            "forbidden: native code outside the standard library",
        ),
        # Calls the audit hook cannot see are gone from the script's modules.
        (
            "import os\nos.mknod('disk', 0o60600, os.makedev(8, 0))",
            "AttributeError: module 'os' has no attribute 'mknod' (line 2)",
        ),
        (
            "import os\nos.setsid()",
            "AttributeError: module 'os' has no attribute 'setsid' (line 2)",
        ),
        (
            "import sys\nsys.modules['__main__'].signal.pidfd_send_signal(3, 9)",
            "AttributeError: module 'signal' has no attribute 'pidfd_send_signal' (line 2)",
        ),
    ],
)
def test_forbidden_operations_end_the_run(source: str, error: str) -> None:
    outcome = run(source)
    assert outcome.error == f"Script error: {error}"
    assert outcome.event == {"n": 1}
    assert_still_serving()


def test_a_script_cannot_catch_a_refusal_and_carry_on() -> None:
    outcome = run(
        "print('before')\ntry:\n    import socket\nexcept BaseException:\n    event['n'] = 99\n"
    )
    assert outcome.error == "Script error: forbidden: import socket"
    assert outcome.event == {"n": 1}
    assert outcome.logs == ("before",)


def test_reading_the_project_settings_is_refused() -> None:
    settings_path = next(
        p
        for p in (PROJECT / "config" / "settings.py", PROJECT / "config" / "settings" / "base.py")
        if p.exists()
    )
    outcome = run("open(event['path']).read()", event={"path": str(settings_path)})
    assert outcome.error == "Script error: forbidden: file access outside the scratch directory"
    outcome = run("import os\nos.chdir(event['dir'])", event={"dir": str(PROJECT)})
    assert outcome.error == "Script error: forbidden: file access outside the scratch directory"
    assert_still_serving()


def test_packages_beside_the_standard_library_are_out_of_reach() -> None:
    packages = Path(os.__file__).parent / "site-packages"
    outcome = run("open(event['path']).read()", event={"path": str(packages / "README.txt")})
    assert outcome.error == "Script error: forbidden: file access outside the scratch directory"
    outcome = run(
        "import sys\nsys.path.append(event['path'])\nimport _cffi_backend",
        event={"path": str(packages)},
    )
    assert outcome.error in (
        "Script error: forbidden: file access outside the scratch directory",
        "Script error: forbidden: native code outside the standard library",
    )
    assert_still_serving()


def test_writing_outside_the_scratch_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    outcome = run("open(event['path'], 'w').write('x')", event={"path": str(target)})
    assert outcome.error == "Script error: forbidden: file access outside the scratch directory"
    assert not target.exists()
    outcome = run("open('../escaped.txt', 'w').write('x')")
    assert outcome.error == "Script error: forbidden: file access outside the scratch directory"
    assert_still_serving()


def test_scratch_writes_are_bounded_in_size() -> None:
    outcome = run("open('big', 'wb').write(b'x' * (20 * 1024 * 1024))")
    assert outcome.error is not None
    assert outcome.error.startswith("Script error: OSError: [Errno 27] File too large")
    assert_still_serving()


def test_scratch_files_written_are_bounded_in_number() -> None:
    outcome = run("for i in range(40):\n    open(f'f{i}', 'wb').write(b'x')\n")
    assert outcome.error == "Script error: forbidden: more than 32 file writes"
    assert_still_serving()


def test_infinite_loop_hits_the_wall_clock_limit_and_the_worker_is_replaced(
    one_worker: sandbox_pool.WorkerPool,
) -> None:
    assert_still_serving()
    before = zygote_pid(one_worker)
    outcome = run(
        "while True:\n    pass\n", Limits(wall_seconds=0.5, cpu_seconds=30, memory_mb=256)
    )
    assert outcome.error == "Script error: time limit of 0.5 s exceeded"
    assert outcome.duration_ms < 3000
    assert_still_serving()
    assert zygote_pid(one_worker) != before


def test_sleeping_forever_hits_the_wall_clock_limit() -> None:
    outcome = run(
        "import time\ntime.sleep(60)", Limits(wall_seconds=0.3, cpu_seconds=5, memory_mb=256)
    )
    assert outcome.error == "Script error: time limit of 0.3 s exceeded"
    assert_still_serving()


def test_infinite_loop_hits_the_cpu_limit() -> None:
    outcome = run("while True:\n    pass\n", Limits(wall_seconds=30, cpu_seconds=1, memory_mb=256))
    assert outcome.error == "Script error: CPU time limit of 1 s exceeded"
    assert_still_serving()


def test_allocating_10_gb_hits_the_memory_limit() -> None:
    outcome = run("x = bytearray(10 * 1024 ** 3)")
    assert outcome.error == "Script error: memory limit of 256 MB exceeded"
    outcome = run("chunks = []\nwhile True:\n    chunks.append(b' ' * 10 ** 6)\n")
    assert outcome.error == "Script error: memory limit of 256 MB exceeded"
    assert_still_serving()


def test_the_memory_limit_is_per_run() -> None:
    big = Limits(wall_seconds=10, cpu_seconds=5, memory_mb=512)
    assert run("x = bytearray(300 * 1024 ** 2)", big).error is None
    small = Limits(wall_seconds=10, cpu_seconds=5, memory_mb=128)
    assert run("x = bytearray(300 * 1024 ** 2)", small).error == (
        "Script error: memory limit of 128 MB exceeded"
    )


def test_segfault_is_a_crash_and_the_worker_carries_on() -> None:
    outcome = run(
        "import json, sys\nsys.setrecursionlimit(10 ** 7)\na = []\n"
        "for _ in range(10 ** 6):\n    a = [a]\njson.dumps(a, check_circular=False)\n"
    )
    assert outcome.error == "Script error: the script worker crashed"
    assert outcome.event == {"n": 1}
    assert_still_serving()


def test_os_exit_is_a_crash() -> None:
    outcome = run("import os\nos._exit(0)")
    assert outcome.error == "Script error: the script worker crashed"
    assert_still_serving()


def test_the_worker_environment_holds_no_secrets(
    monkeypatch: pytest.MonkeyPatch, one_worker: sandbox_pool.WorkerPool
) -> None:
    monkeypatch.setenv("SECRET_KEY", "parent-secret-key")
    monkeypatch.setenv("DATABASE_URL", "postgres://admin:hunter2@db/prod")
    sandbox_pool.reset_pool(1)  # a worker started while the parent holds the secrets
    outcome = run(
        "import os, sys\nevent['env'] = dict(os.environ)\nevent['django'] = 'django' in sys.modules\n"
    )
    assert outcome.error is None
    assert outcome.event["env"] == {}
    assert outcome.event["django"] is False
    [worker] = sandbox_pool.get_pool()._workers
    assert worker.process is not None
    environ = Path(f"/proc/{worker.process.pid}/environ").read_bytes()
    assert b"parent-secret-key" not in environ
    assert b"hunter2" not in environ
    assert set(dict(e.split(b"=", 1) for e in environ.split(b"\0") if e)) <= {
        b"PATH",
        b"LANG",
        b"LC_ALL",
    }


def test_a_forged_result_frame_cannot_outlive_its_run() -> None:
    # A script writing a result of its own and lingering: the pool kills its worker
    # rather than hand the next run to it.
    outcome = run(
        "import json, os, struct, time\n"
        "data = json.dumps({'op': 'result', 'event': {'n': 42}, 'abort': None, 'error': None, 'logs': []}).encode()\n"
        "for f in range(3, 16):\n"
        "    try:\n"
        "        os.write(f, struct.pack('>I', len(data)) + data)\n"
        "    except OSError:\n"
        "        pass\n"
        "time.sleep(30)\n",
        Limits(wall_seconds=2, cpu_seconds=5, memory_mb=256),
    )
    assert outcome.error is None
    assert outcome.event == {"n": 42}  # its own run only
    assert_still_serving()


def test_the_audit_hook_depends_on_no_name_a_script_could_rebind(tmp_path: Path) -> None:
    hook = worker.make_hook(-1, str(tmp_path), ("/usr/lib/python3",), lambda: "[]")
    loads = {i.opname for i in dis.get_instructions(hook)}
    assert not loads & {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"}
    assert hook.__closure__ is None


def test_rebinding_what_the_guard_uses_does_not_open_the_fence() -> None:
    outcome = run(
        "import os, os.path, sys, builtins\n"
        "main = sys.modules['__main__']\n"
        "main.DENIED_MODULES = frozenset()\n"
        "main.DENIED_EVENTS = ()\n"
        "os.path.realpath = lambda p, **kw: os.getcwd() + '/x'\n"
        "builtins.isinstance = lambda *a: True\n"
        "open('/etc/passwd').read()\n"
    )
    assert outcome.error == "Script error: forbidden: file access outside the scratch directory"
    outcome = run("def f():\n    pass\nf.__code__ = (lambda: 1).__code__\n")
    assert outcome.error == "Script error: forbidden: changing a function's code"
    outcome = run("import gc\ngc.get_objects()")
    assert outcome.error == "Script error: forbidden: gc"
    assert_still_serving()
