"""Warm children: runs of one script reuse a child, with fresh globals; other scripts never."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from services.scripting.sandbox import Limits, Outcome, run_script
from services.scripting.sandbox import pool as sandbox_pool
from tests.services.scripting.test_sandbox import LIMITS, RecordingHost

PID = "import os\nevent['pid'] = os.getpid()\n"


@pytest.fixture(autouse=True)
def one_worker() -> Iterator[None]:
    """One worker: every run meets the child the run before it left."""
    sandbox_pool.reset_pool(1)
    yield
    sandbox_pool.reset_pool()


def run(source: str, limits: Limits = LIMITS, /, **event: object) -> Outcome:
    return run_script(
        source, dict(event), session={}, limits=limits, host=RecordingHost(), name="reuse"
    )


def pid_of(source: str, **event: object) -> int:
    outcome = run(source, **event)
    assert outcome.error is None, outcome.error
    return int(outcome.event["pid"])


def test_runs_of_one_script_share_a_child_with_fresh_globals() -> None:
    source = PID + "event['seen'] = 'mark' in globals()\nmark = 1\n"
    outcomes = [run(source) for _ in range(20)]
    assert {o.error for o in outcomes} == {None}
    assert {o.event["seen"] for o in outcomes} == {False}
    assert len({o.event["pid"] for o in outcomes}) == 1


def test_another_script_never_runs_in_the_child_of_the_last() -> None:
    plant = PID + "import json\njson.planted = event['secret']\n"
    look = PID + "import json\nevent['found'] = getattr(json, 'planted', None)\n"
    first = run(plant, secret="caller A's data")
    second = run(look)
    assert (first.error, second.error) == (None, None)
    assert second.event["found"] is None
    assert second.event["pid"] != first.event["pid"]
    assert pid_of(plant, secret="again") != second.event["pid"]


def test_a_run_leaving_a_thread_behind_is_not_reused() -> None:
    source = (
        PID + "import threading, time\n"
        "if event.get('spawn'):\n"
        "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
    )
    spawned = pid_of(source, spawn=True)
    after = pid_of(source)
    assert after != spawned
    assert pid_of(source) == after


def test_runs_writing_files_each_get_a_clean_child() -> None:
    source = PID + "open('note.txt', 'w').write(str(len(__import__('os').listdir('.'))))\n"
    pids = [pid_of(source) for _ in range(40)]  # more than one child's 32 file writes
    assert len(set(pids)) == 40


def test_a_failed_run_is_not_reused() -> None:
    source = (
        "import os\nplatform.log(os.getpid())\nif event.get('fail'):\n    raise ValueError('no')\n"
    )
    failed = run(source, fail=True)
    assert failed.error == "Script error: ValueError: no (line 4)"
    later = run(source)
    assert later.error is None
    assert later.logs != failed.logs
    assert run(source).logs == later.logs


def test_the_cpu_limit_holds_for_a_reused_child() -> None:
    limits = Limits(wall_seconds=30, cpu_seconds=1, memory_mb=256)
    source = PID + "if event.get('spin'):\n    while True:\n        pass\n"
    first = run(source, limits)
    assert run(source, limits).event["pid"] == first.event["pid"]
    spun = run(source, limits, spin=True)
    assert spun.error == "Script error: CPU time limit of 1 s exceeded"
    assert spun.duration_ms < 10_000
    assert run(source, limits).error is None


def test_a_bound_child_gone_while_idle_is_replaced_unnoticed() -> None:
    gone = pid_of(PID)
    os.kill(gone, signal.SIGKILL)
    time.sleep(0.2)
    assert pid_of(PID) != gone
