"""The sandbox runs scripts in worker processes: events, platform calls, aborts, errors."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from services.scripting.sandbox import Limits, Outcome, check_syntax, run_script
from services.scripting.sandbox import pool as sandbox_pool

LIMITS = Limits(wall_seconds=10.0, cpu_seconds=5.0, memory_mb=256)


class RecordingHost:
    """A Host answering like the platform would, and keeping every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.values: dict[str, Any] = {}

    def api(
        self, method: str, path: str, payload: Any, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        self.calls.append(("api", method, path, payload, params))
        return {"status_code": 200, "content": {"resource": [{"id": 7}]}, "headers": {"x": "1"}}

    def store(self, op: str, key: str, value: Any = None, ttl: int | None = None) -> Any:
        self.calls.append(("store", op, key, value, ttl))
        if op == "set":
            self.values[key] = value
            return None
        if op == "delete":
            return self.values.pop(key, None) is not None
        return self.values.get(key)

    def http(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Any,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        self.calls.append(("http", method, url, dict(headers), body, params))
        if not url.startswith("https://api.hubapi.com/"):
            raise PermissionError("outbound HTTP to this host is not allowed")
        return {"status_code": 201, "content": {"ok": True}, "headers": {}}


@pytest.fixture
def host() -> RecordingHost:
    return RecordingHost()


@pytest.fixture(autouse=True, scope="module")
def fresh_pool() -> Iterator[None]:
    sandbox_pool.reset_pool(2)
    yield
    sandbox_pool.reset_pool()


def run(
    source: str, host: RecordingHost, event: Mapping[str, Any] | None = None, **kw: Any
) -> Outcome:
    return run_script(
        source,
        event if event is not None else {"request": {"payload": {"name": "ada"}}},
        session=kw.pop("session", {"user": {"id": 1}}),
        limits=kw.pop("limits", LIMITS),
        host=host,
        **kw,
    )


def test_script_reads_and_changes_the_event(host: RecordingHost) -> None:
    outcome = run(
        "name = event['request']['payload']['name']\n"
        "event['request']['payload']['name'] = name.upper()\n"
        "event['request']['payload']['seen_by'] = platform.session['user']['id']\n",
        host,
    )
    assert outcome.error is None
    assert outcome.abort is None
    assert outcome.event == {"request": {"payload": {"name": "ADA", "seen_by": 1}}}
    assert outcome.duration_ms > 0


def test_without_keep_changes_the_event_comes_back_as_given(host: RecordingHost) -> None:
    given = {"request": {"payload": {"name": "ada"}}}
    outcome = run(
        "event['request']['payload']['name'] = 'changed'\nplatform.log('ran')\n"
        "raise platform.Abort(409, 'taken')\n",
        host,
        given,
        keep_changes=False,
    )
    assert outcome.event == given
    assert (outcome.abort, outcome.logs) == ((409, "taken"), ("ran",))


def test_rebinding_event_returns_the_new_dict(host: RecordingHost) -> None:
    outcome = run("event = {'replaced': True}", host)
    assert outcome.event == {"replaced": True}


def test_platform_calls_round_trip_to_the_host(host: RecordingHost) -> None:
    outcome = run(
        "r = platform.api.post('/api/v2/db/_table/contact', payload={'a': 1}, params={'fields': 'id'})\n"
        "event['api'] = [r['status_code'], r['content']['resource'][0]['id'], r['headers']]\n"
        "platform.store.set('seen', {'n': 1}, ttl=60)\n"
        "event['stored'] = platform.store.get('seen')\n"
        "event['deleted'] = platform.store.delete('seen')\n"
        "h = platform.http.put('https://api.hubapi.com/crm/v3', json={'b': 2}, headers={'X': 'y'})\n"
        "event['http'] = h['status_code']\n"
        "try:\n"
        "    platform.http.get('http://169.254.169.254/latest')\n"
        "except PermissionError as exc:\n"
        "    event['refused'] = str(exc)\n"
        "platform.log('done', 3)\n"
        "print('printed')\n",
        host,
    )
    assert outcome.error is None
    assert outcome.event["api"] == [200, 7, {"x": "1"}]
    assert outcome.event["stored"] == {"n": 1}
    assert outcome.event["deleted"] is True
    assert outcome.event["http"] == 201
    assert outcome.event["refused"] == "outbound HTTP to this host is not allowed"
    assert outcome.logs == ("done 3", "printed")
    assert host.calls[0] == ("api", "POST", "/api/v2/db/_table/contact", {"a": 1}, {"fields": "id"})
    assert ("store", "set", "seen", {"n": 1}, 60) in host.calls
    assert (
        "http",
        "PUT",
        "https://api.hubapi.com/crm/v3",
        {"X": "y"},
        {"b": 2},
        None,
    ) in host.calls


def test_bad_platform_call_arguments_reach_the_script_not_the_host(host: RecordingHost) -> None:
    outcome = run("platform.store.set('k', 1, ttl=-5)", host)
    assert (
        outcome.error
        == "Script error: RuntimeError: ttl must be a positive whole number of seconds (line 1)"
    )
    assert host.calls == []


def test_abort_carries_status_and_message(host: RecordingHost) -> None:
    outcome = run("x = 1\nraise platform.Abort(422, 'email is required')\n", host)
    assert outcome.abort == (422, "email is required")
    assert outcome.error is None


def test_abort_without_an_http_status_is_an_error(host: RecordingHost) -> None:
    outcome = run("raise platform.Abort('nope', 'x')", host)
    assert outcome.error == "Script error: platform.Abort needs an HTTP status (100-599)"
    assert outcome.abort is None


def test_syntax_error_is_reported_with_its_line(host: RecordingHost) -> None:
    assert check_syntax("x = 1\nif x\n    pass\n") == "line 2: expected ':'"
    assert check_syntax("x = 1\n") is None
    outcome = run("x = 1\nif x\n    pass\n", host, event={"a": 1})
    assert outcome.error == "Script error: SyntaxError: line 2: expected ':'"
    assert outcome.event == {"a": 1}


def test_exception_is_reported_with_its_line(host: RecordingHost) -> None:
    outcome = run("a = 1\nb = 0\nevent['x'] = 1\nc = a / b\n", host, event={"a": 1})
    assert outcome.error == "Script error: ZeroDivisionError: division by zero (line 4)"
    assert outcome.event == {"a": 1}  # a failed run leaves the event as it was


def test_exception_inside_a_function_names_the_script_line_deepest_in(host: RecordingHost) -> None:
    outcome = run("def f(d):\n    return d['missing']\n\nf({})\n", host)
    assert outcome.error == "Script error: KeyError: 'missing' (line 2)"


def test_event_values_json_cannot_carry_are_an_error(host: RecordingHost) -> None:
    outcome = run("event['x'] = {1, 2}", host)
    assert outcome.error is not None
    assert outcome.error.startswith("Script error: the event holds a value JSON cannot carry")


def test_logs_are_bounded(host: RecordingHost) -> None:
    outcome = run("for i in range(500):\n    platform.log('line', i)\n", host)
    assert outcome.error is None
    assert len(outcome.logs) == 100
    assert outcome.logs[0] == "line 0"
    big = run("print('x' * 100000)", host)
    assert sum(len(line) for line in big.logs) == 16 * 1024


def test_each_run_starts_from_fresh_state(host: RecordingHost) -> None:
    first = run(
        "import json\njson.leaked = 1\nopen('note.txt', 'w').write('hi')\n"
        "event['read'] = open('note.txt').read()\n",
        host,
    )
    assert first.error is None
    assert first.event["read"] == "hi"
    for _ in range(3):  # whichever worker serves it
        second = run(
            "import json, os\nevent['leak'] = hasattr(json, 'leaked')\n"
            "event['files'] = os.listdir('.')\n",
            host,
        )
        assert second.error is None
        assert second.event["leak"] is False
        assert second.event["files"] == []


def test_stdlib_modules_can_be_imported(host: RecordingHost) -> None:
    outcome = run(
        "import csv, datetime, decimal, fractions, hashlib, json, re, zoneinfo\n"
        "event['f'] = str(fractions.Fraction(1, 3) + 1)\n"
        "event['tz'] = str(zoneinfo.ZoneInfo('Europe/Berlin'))\n"
        "event['h'] = hashlib.sha256(b'x').hexdigest()[:8]\n",
        host,
    )
    assert outcome.error is None
    assert outcome.event["tz"] == "Europe/Berlin"
    assert outcome.event["h"] == "2d711642"
    assert outcome.event["f"] == "4/3"


def test_platform_calls_per_run_are_bounded(host: RecordingHost) -> None:
    outcome = run(
        "for i in range(1001):\n    platform.store.get('k')\n",
        host,
    )
    assert (
        outcome.error == "Script error: RuntimeError: too many platform calls in one run (line 2)"
    )
    assert len(host.calls) == 1000


def test_concurrent_runs_from_many_threads_each_get_their_own_result(host: RecordingHost) -> None:
    results: dict[int, Outcome] = {}

    def one(n: int) -> None:
        results[n] = run(
            "event['double'] = event['n'] * 2\nplatform.store.get('k')\n", RecordingHost(), {"n": n}
        )

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {n: r.event.get("double") for n, r in results.items()} == {n: n * 2 for n in range(6)}
    assert all(r.error is None for r in results.values())


def test_a_forked_process_starts_its_own_pool(host: RecordingHost) -> None:
    assert run("pass", host).error is None  # the parent's pool is warm
    parent_pool = sandbox_pool.get_pool()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        ok = False
        try:
            outcome = run("event['v'] = 1", RecordingHost(), {})
            ok = outcome.event == {"v": 1} and sandbox_pool.get_pool() is not parent_pool
        finally:
            sandbox_pool.get_pool().close()
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sandbox_pool.get_pool() is parent_pool
    assert run("pass", host).error is None
