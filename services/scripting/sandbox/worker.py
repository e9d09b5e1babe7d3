"""The script worker process: a zygote that forks fresh children, each serving one script.

Started by the parent as ``python -I -S -B worker.py <control-fd>`` with a minimal
environment and a private scratch directory as its working directory. It imports the
standard library only — never Django, the settings or anything else of the project.

The one rule: no line of a script runs before its child has set its resource limits,
emptied its environment and installed the audit hook that refuses everything else; and a
child never runs code other than the one script its first job brought.

Protocol
--------
Control channel (the fd named on the command line; AF_UNIX SOCK_SEQPACKET, zygote → parent):
``{"ready": pid}`` carrying one fd — the parent's end of the new child's channel — and
``{"exit": pid, "status": n}`` once the child is reaped (n < 0: killed by signal -n).

Child channel (AF_UNIX SOCK_STREAM; frames are a 4-byte big-endian length and JSON):
parent → child ``{"op": "run", "run", "event", "session", "limits", "want_event",
"code_size"}``
followed by ``code_size`` bytes of marshalled code (the first job only; later jobs carry
none and run the same code); child → parent ``{"op": "call", "target", "args"}`` answered
by ``{"ok": value}`` or ``{"fail": "permission" | "error", "message"}``; and finally
child → parent ``{"op": "result", "run", "event", "abort", "error", "logs", "reuse",
"cpu"}`` — with ``reuse`` false the child exits after it, else it waits for its next job
(``cpu``: the CPU seconds it has used).
"""

from __future__ import annotations

import _thread
import builtins
import gc
import json
import marshal
import math
import os
import resource
import shutil
import signal
import socket
import struct
import sys
import zoneinfo
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any

MAX_LOG_LINES = 100
MAX_LOG_BYTES = 16 * 1024
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_OPEN_FILES = 16
# Opens for writing per run: with RLIMIT_FSIZE, bounds what a run can put on the disk.
MAX_FILE_WRITES = 32
MB = 1024 * 1024
# CPU seconds all runs of one child may use beyond its first run's limit (the hard limit);
# the parent retires a child before a run could need more.
CHILD_CPU_RESERVE_SECONDS = 10

# Modules a script may import are preloaded by the zygote so a run does not pay for them.
# fmt: off
PRELOADED = (
    "base64", "collections", "copy", "datetime", "decimal", "functools", "hashlib", "hmac",
    "html", "itertools", "math", "random", "re", "statistics", "string", "textwrap", "time",
    "urllib.parse", "uuid", "_strptime", "json",
)
# fmt: on

# Imports refused outright: process control, sockets, native code, raw files and
# interpreters. Their operations are refused by event too; this is the first wall.
# fmt: off
DENIED_MODULES = frozenset({
    "_ctypes", "_dbm", "_gdbm", "_multiprocessing", "_posixshmem", "_posixsubprocess",
    "_signal", "_socket", "_sqlite3", "_ssl", "_tkinter", "_xxinterpchannels",
    "_xxsubinterpreters", "asyncio", "ctypes", "curses", "dbm", "faulthandler", "fcntl",
    "ftplib", "grp", "http", "imaplib", "mmap", "multiprocessing", "nis", "poplib", "pty",
    "pwd", "readline", "resource", "select", "selectors", "signal", "smtplib", "socket",
    "socketserver", "spwd", "sqlite3", "ssl", "subprocess", "syslog", "telnetlib", "termios",
    "tkinter", "urllib.request", "webbrowser", "xmlrpc", "_asyncio", "_curses",
    "_curses_panel", "ossaudiodev", "_testcapi", "_testinternalcapi", "_testbuffer",
    "_testmultiphase", "_testclinic", "_testimportmultiple", "_xxtestfuzz", "_ctypes_test",
    "xxlimited", "xxlimited_35",
})
# fmt: on

# Audit events refused whatever their arguments, with the word shown in the error.
# Audit events refused whatever their arguments, with the word shown in the error.
# (Tuples and frozensets only: the hook's data must be immutable.)
# fmt: off
DENIED_EVENTS = (
    ("os.system", "os.system"), ("os.exec", "exec"), ("os.posix_spawn", "subprocess"),
    ("os.spawn", "subprocess"), ("os.startfile", "subprocess"),
    ("subprocess.Popen", "subprocess"), ("os.fork", "fork"), ("os.forkpty", "fork"),
    ("pty.spawn", "fork"), ("os.kill", "kill"), ("os.killpg", "kill"),
    ("signal.pthread_kill", "kill"), ("resource.setrlimit", "setrlimit"),
    ("resource.prlimit", "setrlimit"), ("os.symlink", "link"), ("os.link", "link"),
    ("os.chroot", "chroot"), ("os.setxattr", "xattr"), ("os.removexattr", "xattr"),
    ("sys.settrace", "settrace"), ("sys.setprofile", "settrace"),
    ("gc.get_objects", "gc"), ("gc.get_referrers", "gc"), ("gc.get_referents", "gc"),
    # Hand-made bytecode can read and write memory the interpreter never checks.
    ("code.__new__", "code objects"), ("marshal.loads", "marshal"), ("marshal.load", "marshal"),
)
DENIED_PREFIXES = (
    ("socket.", "socket"), ("ctypes.", "ctypes"), ("sqlite3.", "sqlite3"), ("mmap.", "mmap"),
    ("webbrowser.", "subprocess"),
)
# Calls with no audit event that a script must not make, removed from its modules:
# leaving the process group the caller kills, device nodes (raw disks, for root),
# signalling other processes by pidfd, and real-time or raised scheduling priority.
UNAUDITED_CALLS = (
    "setsid", "setpgid", "setpgrp", "mknod", "pidfd_open", "pidfd_send_signal",
    "sched_setscheduler", "sched_setparam", "setpriority",
)
# Events whose first argument (both, for a rename) is a path that must stay inside the
# scratch directory; the read-only ones may also look into the standard library.
PATH_EVENTS = frozenset({
    "open", "os.listdir", "os.scandir", "glob.glob", "os.mkdir", "os.rmdir", "os.remove",
    "os.rename", "os.chmod", "os.chown", "os.chdir", "os.truncate", "os.utime",
    "os.getxattr", "os.listxattr", "shutil.rmtree",
})
READ_ONLY_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.getxattr", "os.listxattr"})
# Attributes whose change would rewrite a function, hooks included.
FUNCTION_INTERNALS = frozenset({"__code__", "__defaults__", "__kwdefaults__", "__globals__"})
# fmt: on
# Directories a script may read (the standard library, time zones); set by the zygote.
READ_ROOTS: tuple[str, ...] = ()


def read_exact(fd: int, size: int) -> bytes:
    """Read exactly ``size`` bytes from ``fd``; leave the process quietly on end of file."""
    chunks = []
    while size:
        chunk = os.read(fd, min(size, MB))
        if not chunk:
            os._exit(0)
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_frame(fd: int) -> Any:
    """Return the next JSON frame read from ``fd``."""
    (size,) = struct.unpack(">I", read_exact(fd, 4))
    return json.loads(read_exact(fd, size))


def send_frame(fd: int, message: Any) -> None:
    """Write ``message`` as one frame; raises TypeError/ValueError for values JSON cannot hold."""
    data = json.dumps(message).encode()
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


class Logs:
    """Lines of ``platform.log`` and ``print``, bounded in count and bytes."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the lines of the last run."""
        self.lines: list[str] = []
        self.size = 0
        self.partial = ""

    def add(self, line: str) -> None:
        if len(self.lines) >= MAX_LOG_LINES or self.size >= MAX_LOG_BYTES:
            return
        line = line[: MAX_LOG_BYTES - self.size]
        self.lines.append(line)
        self.size += len(line)

    def write(self, text: str) -> int:
        """The file interface ``print`` writes through."""
        *complete, self.partial = (self.partial + str(text)).split("\n")
        for line in complete:
            self.add(line)
        return len(text)

    def flush(self) -> None:
        if self.partial:
            self.add(self.partial)
            self.partial = ""


class Abort(Exception):
    """Raised by a script to end the request with ``status`` and ``message``."""

    def __init__(self, status: int = 400, message: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class Api:
    """``platform.api``: Sluicegate's own API as the requestor SCRIPT."""

    def __init__(self, call: Callable[[str, dict[str, Any]], Any]) -> None:
        self._call = call

    def _send(self, method: str, path: str, payload: Any, params: Any) -> Any:
        args = {"method": method, "path": path, "payload": payload, "params": params}
        return self._call("api", args)

    def get(self, path: str, payload: Any = None, params: Any = None) -> Any:
        return self._send("GET", path, payload, params)

    def post(self, path: str, payload: Any = None, params: Any = None) -> Any:
        return self._send("POST", path, payload, params)

    def put(self, path: str, payload: Any = None, params: Any = None) -> Any:
        return self._send("PUT", path, payload, params)

    def patch(self, path: str, payload: Any = None, params: Any = None) -> Any:
        return self._send("PATCH", path, payload, params)

    def delete(self, path: str, payload: Any = None, params: Any = None) -> Any:
        return self._send("DELETE", path, payload, params)


class Http:
    """``platform.http``: outbound HTTP to allow-listed hosts."""

    def __init__(self, call: Callable[[str, dict[str, Any]], Any]) -> None:
        self._call = call

    def _send(self, method: str, url: str, body: Any, headers: Any, params: Any) -> Any:
        args = {"method": method, "url": url, "body": body, "headers": headers, "params": params}
        return self._call("http", args)

    def get(self, url: str, json: Any = None, headers: Any = None, params: Any = None) -> Any:
        return self._send("GET", url, json, headers, params)

    def post(self, url: str, json: Any = None, headers: Any = None, params: Any = None) -> Any:
        return self._send("POST", url, json, headers, params)

    def put(self, url: str, json: Any = None, headers: Any = None, params: Any = None) -> Any:
        return self._send("PUT", url, json, headers, params)

    def patch(self, url: str, json: Any = None, headers: Any = None, params: Any = None) -> Any:
        return self._send("PATCH", url, json, headers, params)

    def delete(self, url: str, json: Any = None, headers: Any = None, params: Any = None) -> Any:
        return self._send("DELETE", url, json, headers, params)


class Store:
    """``platform.store``: the script's own key/value store."""

    def __init__(self, call: Callable[[str, dict[str, Any]], Any]) -> None:
        self._call = call

    def get(self, key: str) -> Any:
        return self._call("store", {"op": "get", "key": key})

    def set(self, key: str, value: Any, ttl: int | None = None) -> Any:
        return self._call("store", {"op": "set", "key": key, "value": value, "ttl": ttl})

    def delete(self, key: str) -> Any:
        return self._call("store", {"op": "delete", "key": key})


class Platform:
    """The ``platform`` name a script sees."""

    Abort = Abort

    def __init__(self, fd: int, session: Any, logs: Logs) -> None:
        def call(target: str, args: dict[str, Any]) -> Any:
            send_frame(fd, {"op": "call", "target": target, "args": args})
            reply = recv_frame(fd)
            if "ok" in reply:
                return reply["ok"]
            if reply.get("fail") == "permission":
                raise PermissionError(reply.get("message", "not allowed"))
            raise RuntimeError(reply.get("message", f"platform.{target} failed"))

        self.api = Api(call)
        self.http = Http(call)
        self.store = Store(call)
        self.session = session
        self._logs = logs

    def log(self, *args: Any) -> None:
        self._logs.add(" ".join(str(arg) for arg in args))


def _read_roots() -> tuple[str, ...]:
    roots = [os.path.realpath(entry) for entry in sys.path if entry]
    roots += [os.path.realpath(entry) for entry in zoneinfo.TZPATH]
    return tuple(root for root in roots if "-packages" not in root)


def make_hook(
    fd: int, scratch: str, read_roots: tuple[str, ...], logs_json: Callable[[], str]
) -> Callable[[str, tuple[Any, ...]], None]:
    """Return the audit hook refusing what a script must not do.

    The hook looks up no global or builtin name and holds no closure: everything it uses
    is bound as a default argument — immutable values and C functions — so a script that
    rebinds module attributes, builtins or ``os.path`` cannot change its verdicts. A
    refusal writes the result frame to ``fd`` (with the log lines ``logs_json`` gives, if
    it gives a string) and ends the process with ``os._exit``: the refused operation never
    runs and the script cannot catch it.
    """

    def hook(
        event: str,
        args: tuple[Any, ...],
        _scratch: str = scratch,
        _read_roots: tuple[str, ...] = read_roots,
        _fd: int = fd,
        _logs_json: Callable[[], str] = logs_json,
        _write: Callable[[int, bytes], int] = os.write,
        _exit: Callable[[int], None] = os._exit,
        _getcwd: Callable[[], str] = os.getcwd,
        _type: type[type] = type,
        _str: type[str] = str,
        _bytes: type[bytes] = bytes,
        _int: type[int] = int,
        _function: type = FunctionType,
        _any_error: type[BaseException] = BaseException,
        _events: tuple[tuple[str, str], ...] = DENIED_EVENTS,
        _event_names: frozenset[str] = frozenset(name for name, _ in DENIED_EVENTS),
        _prefixes: tuple[tuple[str, str], ...] = DENIED_PREFIXES,
        _prefix_names: tuple[str, ...] = tuple(prefix for prefix, _ in DENIED_PREFIXES),
        _modules: frozenset[str] = DENIED_MODULES,
        _path_events: frozenset[str] = PATH_EVENTS,
        _read_only: frozenset[str] = READ_ONLY_EVENTS,
        _internals: frozenset[str] = FUNCTION_INTERNALS,
        _write_flags: int = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC,
        _writes: list[int] = [0],  # noqa: B006 - one counter per hook, on purpose
        _max_writes: int = MAX_FILE_WRITES,
    ) -> None:
        refusal = None
        paths: tuple[Any, ...] = ()
        writes = True
        if event in _event_names:
            for denied, word in _events:
                if event == denied:
                    refusal = word
        elif event.startswith(_prefix_names):
            for prefix, word in _prefixes:
                if event.startswith(prefix):
                    refusal = word
        elif event == "import":
            module = args[0]
            if _type(module) is not _str:
                refusal = "import"
            elif module in _modules or module.split(".")[0] in _modules:
                refusal = "import " + module
            elif args[1] is not None:  # loading native code: only from the standard library
                paths = (args[1],)
                writes = False
        elif event in _path_events:
            paths = args[:2] if event == "os.rename" else args[:1]
            writes = event not in _read_only
            if event == "open":
                mode = args[1]
                if _type(mode) is _str:
                    writes = "w" in mode or "a" in mode or "x" in mode or "+" in mode
                else:
                    flags = args[2]
                    writes = _type(flags) is not _int or (flags & _write_flags) != 0
        elif (
            (event == "object.__setattr__" or event == "object.__delattr__")
            and _type(args[0]) is _function
            and args[1] in _internals
        ):
            refusal = "changing a function's code"
        for path in paths:
            if refusal is not None:
                break
            if _type(path) is _bytes:
                path = path.decode("utf-8", "surrogateescape")
            elif path is None:
                path = "."
            if _type(path) is not _str:  # file descriptors, path objects
                refusal = "file access outside the scratch directory"
                break
            if not path.startswith("/"):
                path = _getcwd() + "/" + path
            # Lexical normalisation suffices: a script cannot create symbolic links.
            parts: list[str] = []
            for part in path.split("/"):
                if part == "..":
                    if parts:
                        parts.pop()
                elif part != "" and part != ".":
                    parts.append(part)
            path = "/" + "/".join(parts)
            allowed = event != "import" and (path == _scratch or path.startswith(_scratch + "/"))
            if not allowed and not writes:
                for part in parts:
                    if part.endswith("-packages"):  # installed packages beside the stdlib
                        break
                else:
                    for root in _read_roots:
                        if path == root or path.startswith(root + "/"):
                            allowed = True
            if allowed and writes and event == "open":
                _writes[0] += 1
                if _writes[0] > _max_writes:
                    refusal = "more than " + _max_writes.__str__() + " file writes"
            if not allowed:
                refusal = (
                    "native code outside the standard library"
                    if event == "import"
                    else "file access outside the scratch directory"
                )
        if refusal is not None:
            try:
                logs = "[]"
                try:
                    text = _logs_json()
                    if _type(text) is _str:
                        logs = text
                except _any_error:  # the refusal is then reported without its logs
                    pass
                # Refusals are fixed words and denied module names: nothing to escape.
                body = (
                    '{"op": "result", "event": {}, "abort": null, "error": "forbidden: '
                    + refusal
                    + '", "logs": '
                    + logs
                    + "}"
                ).encode()
                frame = body.__len__().to_bytes(4, "big") + body
                while frame:
                    frame = frame[_write(_fd, frame) :]
            finally:
                _exit(0)

    return hook


def install_guard(fd: int, scratch: str, logs: Logs) -> None:
    """Empty the environment and install the audit hook; from now on the script is fenced."""

    def logs_json() -> str:
        logs.flush()
        return json.dumps(logs.lines)

    os.environ.clear()
    os.environb.clear()
    sys.modules["posix"].environ.clear()  # the start-up copy os.environ was made from
    roots = READ_ROOTS or _read_roots()
    sys.addaudithook(make_hook(fd, os.path.realpath(scratch), roots, logs_json))


def prepare_child() -> None:
    """Set the limits that do not depend on the run, while the child waits for its job."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # A write past RLIMIT_FSIZE then fails with OSError instead of killing the child.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for module in (os, sys.modules["posix"], signal, sys.modules["_signal"]):
        for name in UNAUDITED_CALLS:
            if hasattr(module, name):
                delattr(module, name)
    # Imports compile from source, never load cached bytecode: marshal is refused, since
    # hand-made bytecode reads and writes memory unchecked.
    sys.implementation.cache_tag = None  # type: ignore[assignment]  # None means "no cache"
    for name in [name for name in sys.modules if name.split(".")[0] in DENIED_MODULES]:
        del sys.modules[name]  # importing them again meets the audit hook
    # Touch what every run uses, so its copy-on-write faults happen before the job arrives.
    json.loads(json.dumps({"event": [1, "x", None, 1.5, True]}))
    Platform(-1, {}, Logs()).log("warm")


def apply_limits(limits: dict[str, Any]) -> None:
    """Set this child's CPU and address-space limits for its first run.

    SIGXCPU at the soft CPU limit ends the child. The parent moves the soft
    limit up before each later run (``prlimit``, which the child itself may no longer
    call); the hard limit, SIGKILL, bounds the CPU of every run of the child together.
    """
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(used.ru_utime + used.ru_stime + float(limits["cpu_seconds"]))
    memory = int(limits["memory_mb"]) * MB
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + CHILD_CPU_RESERVE_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _script_line(exc: BaseException, filename: str) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException, filename: str) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    line = _script_line(exc, filename)
    return text[:400] + (f" (line {line})" if line is not None else "")


def run_child(fd: int, scratch: str) -> None:
    """Take the first job with its code, fence the process, then run jobs of that code only.

    The child ends (and its worker forks a fresh one) when the parent closes the channel or
    kills it, or after a run that failed, left threads running or changed the scratch
    directory: a later run of the same script then starts from a clean process.
    """
    job = recv_frame(fd)
    # The bytes are the parent's own compile() output, never the script's.
    code = marshal.loads(read_exact(fd, int(job["code_size"])))  # noqa: S302
    apply_limits(job["limits"])
    logs = Logs()
    sys.stdout = sys.stderr = logs  # print() lands in the logs
    install_guard(fd, scratch, logs)
    serve_runs(fd, scratch, code, job, logs)


def serve_runs(
    fd: int,
    scratch: str,
    code: CodeType,
    job: dict[str, Any],
    logs: Logs,
    _threads: Callable[[], int] = _thread._count,
    _stat: Callable[[str], os.stat_result] = os.stat,
    _usage: Callable[[int], Any] = resource.getrusage,
) -> None:
    """Run ``job`` and the jobs after it, each with fresh globals, while the child stays fit."""
    marker = _stat(scratch).st_mtime_ns
    while True:
        result = run_job(fd, code, job, logs)
        result["reuse"] = (
            result["error"] is None and _threads() == 0 and _stat(scratch).st_mtime_ns == marker
        )
        usage = _usage(resource.RUSAGE_SELF)
        result["cpu"] = usage.ru_utime + usage.ru_stime  # the parent moves the CPU limit on
        try:
            send_frame(fd, result)
        except (TypeError, ValueError) as exc:
            result.update(event={}, error=f"the event holds a value JSON cannot carry: {exc}")
            result["reuse"] = False
            send_frame(fd, result)
        if not result["reuse"]:
            return
        job = recv_frame(fd)
        if job.get("code_size"):
            return  # a bound child never takes new code


def run_job(fd: int, code: CodeType, job: dict[str, Any], logs: Logs) -> dict[str, Any]:
    """Run ``code`` once on the job's event, with fresh globals; return the result frame."""
    logs.reset()
    scope: dict[str, Any] = {
        "__name__": "__script__",
        "__builtins__": dict(builtins.__dict__),
        "event": job["event"],
        "platform": Platform(fd, job["session"], logs),
    }
    result: dict[str, Any] = {"op": "result", "run": job.get("run"), "abort": None, "error": None}
    try:
        exec(code, scope)  # noqa: S102 - running the script is this process's purpose
    except Abort as exc:
        if isinstance(exc.status, int) and 100 <= exc.status <= 599:
            result["abort"] = [exc.status, str(exc.message)]
        else:
            result["error"] = "platform.Abort needs an HTTP status (100-599)"
    except MemoryError:
        result["error"] = f"memory limit of {job['limits']['memory_mb']} MB exceeded"
    except SystemExit:
        pass  # sys.exit() ends the script like reaching its end
    except BaseException as exc:
        result["error"] = _describe(exc, code.co_filename)
    logs.flush()
    result["logs"] = logs.lines
    if job.get("want_event", True):
        event = scope.get("event")
        result["event"] = event if isinstance(event, dict) else job["event"]
    else:
        result["event"] = None  # the caller ignores changes: nothing to carry back
    return result


def spawn(control: socket.socket, scratch: str) -> tuple[int, socket.socket]:
    """Fork a child that waits for its job in ``scratch``; return its pid and the parent's end."""
    os.mkdir(scratch, 0o700)
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        try:
            control.close()
            parent_end.close()
            os.chdir(scratch)
            prepare_child()
            run_child(child_end.detach(), scratch)
        finally:
            os._exit(0)
    child_end.close()
    return pid, parent_end


def serve(control: socket.socket) -> None:
    """Hand children to the parent one at a time, keeping the next one forked in advance.

    Returns when the parent has gone.
    """
    base = os.getcwd()
    runs = 0

    def scratch_of(run: int) -> str:
        return os.path.join(base, f"run-{run}")

    spare = spawn(control, scratch_of(runs))
    while True:
        pid, parent_end = spare
        try:
            socket.send_fds(control, [json.dumps({"ready": pid}).encode()], [parent_end.fileno()])
        except OSError:
            return
        finally:
            parent_end.close()
        runs += 1
        spare = spawn(control, scratch_of(runs))
        _, status = os.waitpid(pid, 0)
        try:
            control.send(
                json.dumps({"exit": pid, "status": os.waitstatus_to_exitcode(status)}).encode()
            )
        except OSError:
            return
        shutil.rmtree(scratch_of(runs - 1), ignore_errors=True)


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    os.environ.clear()
    for module in PRELOADED:
        __import__(module)
    global READ_ROOTS
    READ_ROOTS = _read_roots()
    # Children then neither scan nor copy-on-write the preloaded objects in a collection.
    gc.freeze()
    serve(control)
    # The parent has gone without killing us: leave no scratch directory behind.
    shutil.rmtree(os.getcwd(), ignore_errors=True)


if __name__ == "__main__":
    main()
