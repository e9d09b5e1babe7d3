"""The event script sandbox: run admin-written Python away from the platform, within limits.

The one rule: a script never runs in a web or Celery process. ``run_script`` hands it to
a pre-started worker process, which forks fresh children; a child runs one script only —
its first run's — and may serve that script's later runs too; it talks to the caller only
over its own socket pair, and every platform call it makes (``platform.api/store/http``)
is answered by the caller's ``Host``.

What the sandbox guarantees
---------------------------
- **No state shared between scripts.** A child is bound to one script (its name, source
  and limits) by its first run and never runs anything else: nothing a script changes
  (modules, builtins, files, threads) is seen by another script. Every run gets fresh
  globals (a new ``event``, ``platform`` and builtins dict). A child is not reused after
  a run that failed (error, limit, forbidden operation, crash), left a thread running or
  changed its scratch directory, nor after 10,000 runs; the next run then gets a fresh
  child. The scratch directory is private to the child and removed when it ends.
- **No platform secrets.** Workers are started with ``python -I -S`` and an environment
  of PATH/LANG only (no DATABASE_URL, SECRET_KEY, REDIS_URL, SLUICEGATE_*), import the
  standard library only (no Django, no settings, no database connection) and receive
  nothing but the run's code, event and session.
- **Limits.** Set by each child before its first run's script starts; every script and
  set of limits gets its own child (a new memory limit needs no new worker): wall-clock
  time (the caller kills the worker's whole process group with SIGKILL and starts a new
  worker), CPU time (RLIMIT_CPU, moved on by the caller with ``prlimit`` before a later
  run of a reused child), address space (RLIMIT_AS; a MemoryError becomes "memory limit
  … exceeded"), file size (RLIMIT_FSIZE 16 MB), open files (RLIMIT_NOFILE 16), no core
  files, at most 1000 platform calls per run, at most 32 file writes per child. A
  crashed child (segfault, ``os._exit``) is reported as an error and replaced; other
  runs are unaffected.
- **Refused operations.** An audit hook (``sys.addaudithook``), installed before the
  script's first line, ends the run with "forbidden: …" — uncatchable by the script —
  on: sockets; ``os.system``, ``os.exec*``, ``os.posix_spawn``/``spawn*``,
  ``subprocess``; ``os.fork``/``forkpty``; signals to other processes (``os.kill``,
  ``killpg``); changing rlimits; ``ctypes``, ``sqlite3``, ``mmap``; symlinks and hard
  links; ``sys.settrace``; ``gc`` object walks; building code objects or unmarshalling
  (hand-made bytecode reads and writes memory unchecked — imports therefore compile from
  source); native code from anywhere but the standard library; imports of process,
  socket, native-code and raw-file modules (``worker.DENIED_MODULES``); opening,
  listing, creating, renaming or deleting any path outside the scratch directory —
  except reading the standard library and time-zone data, which imports need — and more
  than 32 file writes. ``/proc``, ``/etc`` and the project directory are therefore
  unreadable. Calls that raise no audit event but must not be made (``os.setsid``,
  ``os.mknod``, ``pidfd_send_signal``, real-time scheduling …) are removed from the
  script's modules. The hook's verdicts depend on no name a script can rebind: it uses
  only values and C functions bound when it is made.

Cost
----
Scripts are compiled once per process (parent side, keyed by source and name) and sent
to a child once, as marshalled code, with its first run. A run of the script the child
already holds is one job frame out and one result frame back (plus one per platform
call): no fork, no interpreter start, no compile — a no-op run takes about 0.1-0.3 ms
and well under 0.1 ms of worker CPU. A run of another script retires the worker's child
and takes the child it forked in advance (about 1-3 ms, a fork's CPU). Each process has
``SLUICEGATE_SCRIPT_WORKERS`` workers (default: gunicorn's ``WEB_THREADS``, 4); a run
prefers an idle worker whose child holds its script. In a threaded web process every
blocking call may hand the GIL to another thread for its switch interval (5 ms), so the
caller makes few of them: kernel socket timeouts instead of Python's (which poll first),
one receive per short frame, and 0.3 ms of non-blocking polling for the answer before it
blocks; a child's CPU limit is moved (``prlimit``) only when a run needs it.

What it does not guarantee
--------------------------
- Audit hooks are a CPython mechanism, not a kernel boundary: an interpreter bug that
  corrupts memory could bypass them. The process limits and the empty environment still
  hold then, but the child runs as the same OS user as the platform; deployments wanting
  a hard boundary add a container/seccomp profile or a separate user around the workers.
- RLIMIT_NPROC does not bind the root user; forking is refused by the audit hook only.
- Metadata calls without audit events (``os.stat``, ``os.readlink``, ``os.getcwd``)
  still answer for any path: a script can learn whether a file exists, not read it.
- Runs of one script may share a process: module attributes, builtins or files one run
  of a script changes may be seen by its later runs (which may serve other callers) — as
  ``platform.store`` would let the script keep them on purpose. Such a script only affects
  itself; what it cannot do is reach another script's runs or the platform.
- Threads a script starts share its limits and end with its run (the child is not reused).
- The CPU limit of a reused child's run is its own only while the script leaves SIGXCPU
  alone; past it, the child's hard limit (10 s over the first run's) and the wall-clock
  limit still end it.
- A script that forges its own result frame only fakes its own outcome; its child is not
  reused unless the forgery says so, and then only serves (or fails) the same script.
- Log lines of a run that timed out or crashed are lost with it.
- ``open`` takes string and bytes paths only (a ``pathlib.Path`` is refused): a path
  object could name one file when checked and another when opened.
- CPU time is counted in whole seconds (RLIMIT_CPU): a 0.5 s limit acts as 1 s.
"""

from services.scripting.sandbox.runner import check_syntax, run_script
from services.scripting.sandbox.values import Host, Limits, Outcome

__all__ = ["Host", "Limits", "Outcome", "check_syntax", "run_script"]
