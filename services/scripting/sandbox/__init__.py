"""The event script sandbox: run admin-written Python away from the platform, within limits.

The one rule: a script never runs in a web or Celery process. ``run_script`` hands it to
a pre-started worker process, which forks one fresh child per run; the child talks to the
caller only over its own socket pair, and every platform call it makes
(``platform.api/store/http``) is answered by the caller's ``Host``.

What the sandbox guarantees
---------------------------
- **Fresh state per run.** Each run gets a new forked child: nothing a script changes
  (globals, modules, builtins, files) is seen by any other run. Its scratch directory is
  private and removed when the run ends.
- **No platform secrets.** Workers are started with ``python -I -S`` and an environment
  of PATH/LANG only (no DATABASE_URL, SECRET_KEY, REDIS_URL, SLUICEGATE_*), import the
  standard library only (no Django, no settings, no database connection) and receive
  nothing but the run's code, event and session.
- **Limits.** Set by each child for its own run before the script starts, so every run
  may have different ones (a new memory limit needs no new worker): wall-clock time (the
  caller kills the worker's whole process group with SIGKILL and starts a new worker),
  CPU time (RLIMIT_CPU), address space (RLIMIT_AS; a MemoryError becomes "memory limit …
  exceeded"), file size (RLIMIT_FSIZE 16 MB), open files (RLIMIT_NOFILE 16), no core
  files, at most 1000 platform calls. A crashed child (segfault, ``os._exit``) is
  reported as an error and replaced; other runs are unaffected.
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
to the child as marshalled code. The next child is forked in advance, so a warm run costs
two socket round trips and no interpreter start: a no-op run takes about 1-3 ms on a
lightly loaded machine. Each run still costs a fork and an exit (a few ms of CPU in the
worker), which bounds back-to-back throughput to a few hundred runs per second per core.

What it does not guarantee
--------------------------
- Audit hooks are a CPython mechanism, not a kernel boundary: an interpreter bug that
  corrupts memory could bypass them. The process limits and the empty environment still
  hold then, but the child runs as the same OS user as the platform; deployments wanting
  a hard boundary add a container/seccomp profile or a separate user around the workers.
- RLIMIT_NPROC does not bind the root user; forking is refused by the audit hook only.
- Metadata calls without audit events (``os.stat``, ``os.readlink``, ``os.getcwd``)
  still answer for any path: a script can learn whether a file exists, not read it.
- Threads a script starts share its limits and end with its run.
- A script that forges its own result frame only fakes its own outcome; its worker is
  killed before the next run is handed to it.
- Log lines of a run that timed out or crashed are lost with it.
- ``open`` takes string and bytes paths only (a ``pathlib.Path`` is refused): a path
  object could name one file when checked and another when opened.
- CPU time is counted in whole seconds (RLIMIT_CPU): a 0.5 s limit acts as 1 s.
"""

from services.scripting.sandbox.runner import check_syntax, run_script
from services.scripting.sandbox.values import Host, Limits, Outcome

__all__ = ["Host", "Limits", "Outcome", "check_syntax", "run_script"]
