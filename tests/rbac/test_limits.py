"""Rate limits: counted per scope, period and verb in Redis, enforced on /api/v2 with headers."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rbac import limits
from rbac.keys import create_admin_key, set_app_key
from rbac.models import AccessRule, App, Limit, Role, UserAppRole
from rbac.sessions import issue_session
from services.models import Service
from tests.services.api.conftest import make_service

pytestmark = pytest.mark.django_db

# A moment at which every period's window (7 and 30 days included) began 10 s ago.
WINDOWS_ALIGN = 210 * 86400  # a multiple of every period
T0 = 100 * WINDOWS_ALIGN + 10
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


class Clock:
    """The limiter's clock, moved by hand."""

    def __init__(self, start: float) -> None:
        self.moment = start

    def __call__(self) -> float:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(T0)
    monkeypatch.setattr(limits, "now", clock)
    return clock


def redis_url() -> str:
    from django.conf import settings

    return str(settings.REDIS_URL)


def clear_counters() -> None:
    client = redis.Redis.from_url(redis_url())
    keys = list(client.scan_iter(match=f"{limits.KEY_PREFIX}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_limiter(monkeypatch: pytest.MonkeyPatch, worker_suffix: str) -> Iterator[None]:
    # Each test database numbers its limits from 1: keep parallel runs' counters apart.
    monkeypatch.setattr(limits, "KEY_PREFIX", f"sg:ratelimit-test-{worker_suffix}")
    limits.forget_limiter()
    clear_counters()
    yield
    limits.forget_limiter()
    clear_counters()


@dataclass
class Caller:
    """Calls /api/v2 with an app's key and, when given, a user's session token."""

    client: Client
    key: str
    token: str | None = None

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"X-API-Key": self.key, **(extra or {})}
        if self.token:
            headers["X-DreamFactory-Session-Token"] = self.token
        return headers

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v2/{path}".rstrip("/"), headers=self.headers())

    def post(self, path: str, tunnel: str | None = None) -> Any:
        extra = {"X-HTTP-Method": tunnel} if tunnel else {}
        return self.client.post(
            f"/api/v2/{path}", "{}", content_type="application/json", headers=self.headers(extra)
        )


@dataclass
class World:
    """Two services, two roles, two apps, two users, and callers combining them."""

    a: Service
    b: Service
    r1: Role
    r2: Role
    p1: App
    p2: App
    u1: User
    u2: User
    callers: dict[str, Caller]

    def limit(self, **fields: Any) -> Limit:
        limit = Limit(name=f"limit-{Limit.objects.count() + 1}", **fields)
        limit.full_clean()
        limit.save()
        return limit


@pytest.fixture
def world(
    client: Client, target_database: str, worker_suffix: str, django_user_model: type[User]
) -> World:
    suffix = worker_suffix.replace("_", "-")[:40]
    a = make_service(f"lim-a-{suffix}", target_database)
    b = make_service(f"lim-b-{suffix}", target_database)
    roles = []
    for name in ("r1", "r2"):
        role = Role.objects.create(name=name)
        AccessRule.objects.create(role=role, service=None, component="*")
        roles.append(role)
    p1 = App.objects.create(name="p1", default_role=roles[0])
    p2 = App.objects.create(name="p2", default_role=roles[1])
    keys = {app.name: set_app_key(app) for app in (p1, p2)}
    u1 = django_user_model.objects.create_user("u1", password="pw-u1-x")
    u2 = django_user_model.objects.create_user("u2", password="pw-u2-x")
    UserAppRole.objects.create(user=u1, app=p1, role=roles[0])
    UserAppRole.objects.create(user=u2, app=p1, role=roles[0])

    def session(user: User, app: App) -> str:
        return issue_session(user_id=user.pk, app_id=app.pk)[0]

    callers = {
        "p1": Caller(client, keys["p1"]),
        "u1@p1": Caller(client, keys["p1"], session(u1, p1)),
        "u2@p1": Caller(client, keys["p1"], session(u2, p1)),
        "u1@p2": Caller(client, keys["p2"], session(u1, p2)),
    }
    return World(a, b, roles[0], roles[1], p1, p2, u1, u2, callers)


def limit_headers(response: Any) -> tuple[str, str, str] | None:
    found = tuple(response.headers.get(name) for name in HEADERS)
    if found == (None, None, None):
        return None
    assert None not in found, found
    return found


def error_of(response: Any) -> dict[str, Any]:
    """The error envelope's fields a client matches on (the request id aside)."""
    error = response.json()["error"]
    return {name: error[name] for name in ("code", "message", "status_code", "context")}


def assert_refused(response: Any, retry_after: int) -> None:
    assert response.status_code == 429
    assert error_of(response) == {
        "code": 429,
        "message": "API limit(s) exceeded.",
        "status_code": 429,
        "context": None,
    }
    assert response.headers["Retry-After"] == str(retry_after)
    assert response.headers["X-RateLimit-Remaining"] == "0"


# --- headers, refusal, windows ---------------------------------------------------


def test_no_headers_when_no_limit_applies(world: World) -> None:
    response = world.callers["u1@p1"].get(world.a.name)
    assert response.status_code == 200
    assert limit_headers(response) is None
    world.limit(scope="app", app=world.p2, rate=5)
    response = world.callers["u1@p1"].get(world.a.name)
    assert response.status_code == 200
    assert limit_headers(response) is None


def test_instance_limit_counts_every_caller_then_answers_429(world: World) -> None:
    world.limit(scope="instance", rate=3, period="minute")
    first = world.callers["p1"].get(world.a.name)
    assert first.status_code == 200
    assert limit_headers(first) == ("3", "2", "50")
    assert limit_headers(world.callers["u1@p2"].get("")) == ("3", "1", "50")
    assert limit_headers(world.callers["u2@p1"].get(f"{world.b.name}/_table/authors")) == (
        "3",
        "0",
        "50",
    )
    refused = world.callers["u1@p1"].get(world.a.name)
    assert_refused(refused, retry_after=50)
    assert limit_headers(refused) == ("3", "0", "50")


def test_the_window_resets_with_the_clock(world: World, clock: Clock) -> None:
    world.limit(scope="instance", rate=1, period="minute")
    caller = world.callers["u1@p1"]
    assert caller.get(world.a.name).status_code == 200
    clock.advance(30)
    assert_refused(caller.get(world.a.name), retry_after=20)
    clock.advance(20)
    again = caller.get(world.a.name)
    assert again.status_code == 200
    assert limit_headers(again) == ("1", "0", "60")


@pytest.mark.parametrize(
    ("period", "seconds"),
    [("minute", 60), ("hour", 3600), ("day", 86400), ("7-day", 604800), ("30-day", 2592000)],
)
def test_each_period_has_its_own_window(
    world: World, clock: Clock, period: str, seconds: int
) -> None:
    world.limit(scope="instance", rate=2, period=period)
    caller = world.callers["p1"]
    assert limit_headers(caller.get(world.a.name)) == ("2", "1", str(seconds - 10))
    clock.advance(seconds - 20)  # 10 s before the window ends
    assert limit_headers(caller.get(world.a.name)) == ("2", "0", "10")
    assert_refused(caller.get(world.a.name), retry_after=10)
    clock.advance(10)
    assert limit_headers(caller.get(world.a.name)) == ("2", "1", str(seconds))


def test_headers_name_the_tightest_limit(world: World) -> None:
    world.limit(scope="instance", rate=10, period="minute")
    world.limit(scope="app", app=world.p1, rate=3, period="hour")
    caller = world.callers["u1@p1"]
    assert limit_headers(caller.get(world.a.name)) == ("3", "2", "3590")
    world.limit(scope="service", service=world.a, rate=2, period="day")
    # instance 8 left, app 1 left, service 1 left: the longer wait wins a tie.
    assert limit_headers(caller.get(world.a.name)) == ("2", "1", "86390")


def test_a_refused_call_consumes_no_other_limit(world: World, clock: Clock) -> None:
    world.limit(scope="instance", rate=1, period="minute")
    world.limit(scope="app", app=world.p1, rate=5, period="hour")
    caller = world.callers["p1"]
    assert caller.get(world.a.name).status_code == 200
    for _ in range(3):
        assert caller.get(world.a.name).status_code == 429
    clock.advance(50)
    # The hourly limit counted one call, not four: 5 - 2 = 3 remain after this one.
    response = caller.get(world.a.name)
    assert response.status_code == 200
    assert limit_headers(response) == ("1", "0", "60")
    app_limit = limits.limit_info(Limit.objects.get(scope="app"))
    reset, counters = limits.limit_counters(app_limit)
    assert [(c.subject, c.count, c.remaining) for c in counters] == [("all", 2, 3)]
    assert reset == 3600 - 60


# --- scopes ------------------------------------------------------------------------

# (scope, targets, a counted call, calls the limit does not count); calls are (caller, path)
# with `A`/`B` standing for the two services.
SCOPE_CASES = [
    ("instance.user", {"user": "u1"}, ("u1@p2", "A"), [("u2@p1", "A"), ("p1", "")]),
    ("app", {"app": "p1"}, ("p1", "A"), [("u1@p2", "A")]),
    ("app.user", {"app": "p1", "user": "u1"}, ("u1@p1", ""), [("u2@p1", "A"), ("u1@p2", "A")]),
    ("role", {"role": "r2"}, ("u1@p2", "B"), [("u1@p1", "B"), ("p1", "")]),
    ("role.user", {"role": "r1", "user": "u2"}, ("u2@p1", "A"), [("u1@p1", "A")]),
    ("service", {"service": "A"}, ("p1", "A/_table/authors"), [("p1", "B"), ("p1", "")]),
    ("service.user", {"service": "A", "user": "u1"}, ("u1@p1", "A"), [("u2@p1", "A")]),
    (
        "service.endpoint",
        {"service": "A", "endpoint": "_table/authors"},
        ("p1", "A/_table/authors/1"),
        [("p1", "A/_table/books"), ("p1", "B/_table/authors"), ("p1", "A/_table")],
    ),
    (
        "service.endpoint",
        {"service": "A", "endpoint": "_table/auth*"},
        ("u2@p1", "A/_table/authors"),
        [("u2@p1", "A/_table/books"), ("u2@p1", "A/_schema")],
    ),
    (
        "service.endpoint",
        {"service": "A", "endpoint": "_table/*"},
        ("u2@p1", "A/_table/books"),
        [("u2@p1", "A/_schema/books"), ("u2@p1", "A")],
    ),
    (
        "service.endpoint.user",
        {"service": "A", "endpoint": "_schema", "user": "u1"},
        ("u1@p2", "A/_schema/authors"),
        [("u2@p1", "A/_schema"), ("u1@p2", "A/_table/authors")],
    ),
]


def targets(world: World, given: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in given.items():
        if name == "service":
            found[name] = world.a if value == "A" else world.b
        elif name == "endpoint":
            found[name] = value
        else:
            found[name] = getattr(world, value)
    return found


def call(world: World, who: str, where: str, method: str = "get", **extra: str) -> Any:
    """Call `where` (`A`, `B`: the services) as caller `who`; never a server error."""
    path = where.replace("A", world.a.name, 1) if where.startswith("A") else where
    path = path.replace("B", world.b.name, 1) if path.startswith("B") else path
    response = getattr(world.callers[who], method)(path, **extra)
    assert response.status_code < 500, response.content
    return response


@pytest.mark.parametrize(
    ("scope", "given", "counted", "uncounted"),
    SCOPE_CASES,
    ids=[f"{case[0]}-{case[1].get('endpoint', '')}" for case in SCOPE_CASES],
)
def test_each_scope_counts_only_its_calls(
    world: World,
    scope: str,
    given: dict[str, str],
    counted: tuple[str, str],
    uncounted: list[tuple[str, str]],
) -> None:
    world.limit(scope=scope, rate=2, **targets(world, given))
    for who, where in uncounted:
        assert limit_headers(call(world, who, where)) is None, (who, where)
    assert limit_headers(call(world, *counted)) == ("2", "1", "50")
    assert limit_headers(call(world, *counted)) == ("2", "0", "50")
    assert_refused(call(world, *counted), retry_after=50)
    for who, where in uncounted:
        assert call(world, who, where).status_code != 429


EACH_USER_CASES = [
    ("instance.each_user", {}, "A"),
    ("app.each_user", {"app": "p1"}, "A"),
    ("role.each_user", {"role": "r1"}, ""),
    ("service.each_user", {"service": "A"}, "A/_table/authors"),
    ("service.endpoint.each_user", {"service": "A", "endpoint": "_table/*"}, "A/_table/books"),
]


@pytest.mark.parametrize(("scope", "given", "where"), EACH_USER_CASES)
def test_each_user_scopes_count_every_user_separately(
    world: World, scope: str, given: dict[str, str], where: str
) -> None:
    world.limit(scope=scope, rate=1, **targets(world, given))
    assert limit_headers(call(world, "u1@p1", where)) == ("1", "0", "50")
    assert limit_headers(call(world, "u2@p1", where)) == ("1", "0", "50")
    # A call with the app's key alone is counted under the app.
    assert limit_headers(call(world, "p1", where)) == ("1", "0", "50")
    assert_refused(call(world, "u1@p1", where), retry_after=50)
    assert_refused(call(world, "u2@p1", where), retry_after=50)
    assert_refused(call(world, "p1", where), retry_after=50)


def test_a_verb_limit_counts_only_that_verb(world: World) -> None:
    world.limit(scope="service", service=world.a, verb="GET", rate=1)
    posted = call(world, "u1@p1", "A", method="post")
    assert posted.status_code == 405
    assert limit_headers(posted) is None
    assert limit_headers(call(world, "u1@p1", "A")) == ("1", "0", "50")
    # A POST tunnelling GET is a GET.
    assert_refused(call(world, "u1@p1", "A", method="post", tunnel="GET"), 50)
    world.limit(scope="service", service=world.a, verb="POST", rate=3)
    posted = call(world, "u1@p1", "A", method="post")
    assert posted.status_code == 405
    assert limit_headers(posted) == ("3", "2", "50")


# --- who is not counted ---------------------------------------------------------------


def test_superusers_and_refused_callers_are_not_counted(
    world: World, client: Client, django_user_model: type[User]
) -> None:
    limit = world.limit(scope="instance", rate=1)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")
    admin_key = create_admin_key(user=admin, name="ops").key
    for _ in range(3):
        response = client.get(f"/api/v2/{world.a.name}", headers={"X-API-Key": admin_key})
        assert response.status_code == 200
        assert limit_headers(response) is None
    client.force_login(admin)
    for _ in range(2):
        response = client.get(f"/api/v2/{world.a.name}")
        assert response.status_code == 200
        assert limit_headers(response) is None
    client.logout()
    for _ in range(3):
        response = client.get(f"/api/v2/{world.a.name}", headers={"X-API-Key": "sg_wrong"})
        assert response.status_code == 401
        assert limit_headers(response) is None
        assert client.get(f"/api/v2/{world.a.name}").status_code == 401
    assert client.get("/health/live").status_code == 200
    _reset, counters = limits.limit_counters(limits.limit_info(limit))
    assert counters == []
    assert limit_headers(world.callers["p1"].get(world.a.name)) == ("1", "0", "50")


def test_a_new_limit_applies_without_reading_the_platform_database_per_request(
    world: World,
) -> None:
    caller = world.callers["p1"]
    assert limit_headers(caller.get(world.a.name)) is None
    world.limit(scope="app", app=world.p1, rate=5)
    assert limit_headers(caller.get(world.a.name)) == ("5", "4", "50")
    with CaptureQueriesContext(connection) as queries:
        assert limit_headers(caller.get(world.a.name)) == ("5", "3", "50")
    reads = [q for q in map(str, (c["sql"] for c in queries.captured_queries)) if "SELECT" in q]
    assert reads == []


# --- shared by processes -----------------------------------------------------------------

SECOND_PROCESS = """
import sys

import django

django.setup()

from rbac import limits

limits.now = lambda: float(sys.argv[1])
limits.KEY_PREFIX = sys.argv[4]
limit = limits.LimitInfo(
    id=int(sys.argv[2]), name="shared", scope="app", rate=3, period="minute", verb="",
    app_id=int(sys.argv[3]), role_id=None, user_id=None, service=None, endpoint="",
)
call = limits.Call(
    user_id=None, app_id=int(sys.argv[3]), role_id=None, service=None, endpoint="", verb="GET"
)
verdict = limits.limits_count([limit], call)
print(verdict.allowed, verdict.counts[0].count)
"""


def test_two_processes_share_one_counter(world: World, tmp_path: Path) -> None:
    limit = world.limit(scope="app", app=world.p1, rate=3)
    caller = world.callers["p1"]
    assert limit_headers(caller.get(world.a.name)) == ("3", "2", "50")
    script = tmp_path / "second_process.py"
    script.write_text(textwrap.dedent(SECOND_PROCESS))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SLUICEGATE_ENV": "development",
        "REDIS_URL": redis_url(),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    done = subprocess.run(
        [sys.executable, str(script), str(T0), str(limit.pk), str(world.p1.pk), limits.KEY_PREFIX],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "2"]
    assert limit_headers(caller.get(world.a.name)) == ("3", "0", "50")
    assert_refused(caller.get(world.a.name), retry_after=50)


# --- Redis unavailable ------------------------------------------------------------------

DEAD_REDIS = "redis://127.0.0.1:1/3"


def test_redis_down_fails_open_with_one_warning(
    world: World, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world.limit(scope="instance", rate=1)
    settings.REDIS_URL = DEAD_REDIS
    settings.SLUICEGATE_RATE_LIMIT_FAIL_CLOSED = False
    caplog.set_level(logging.WARNING, logger="rbac.limits")
    started = time.monotonic()
    for _ in range(3):
        response = world.callers["u1@p1"].get(world.a.name)
        assert response.status_code == 200
        assert limit_headers(response) is None
    assert time.monotonic() - started < 3
    warnings = [r for r in caplog.records if r.name == "rbac.limits"]
    assert [r.getMessage() for r in warnings] == [
        "rate limits are not enforced: their Redis is unavailable"
    ]


def test_redis_down_fails_closed_with_503(world: World, settings: Any) -> None:
    world.limit(scope="instance", rate=1)
    settings.REDIS_URL = DEAD_REDIS
    settings.SLUICEGATE_RATE_LIMIT_FAIL_CLOSED = True
    for _ in range(2):
        response = world.callers["u1@p1"].get(world.a.name)
        assert response.status_code == 503
        assert error_of(response) == {
            "code": 503,
            "message": "Rate limits are unavailable.",
            "status_code": 503,
            "context": None,
        }
    # Calls no limit applies to never need Redis.
    assert world.callers["u1@p2"].get("").status_code == 503
    Limit.objects.all().delete()
    assert world.callers["u1@p1"].get(world.a.name).status_code == 200


# --- validation and the admin -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"scope": "app"}, {"app"}),
        ({"scope": "instance", "app": "p1"}, {"app"}),
        ({"scope": "role.user", "role": "r1"}, {"user"}),
        ({"scope": "app.each_user", "app": "p1", "user": "u1"}, {"user"}),
        ({"scope": "service.endpoint", "service": "A"}, {"endpoint"}),
        ({"scope": "service", "service": "A", "endpoint": "_table/x"}, {"endpoint"}),
        ({"scope": "service.endpoint", "service": "A", "endpoint": "_table/*/x"}, {"endpoint"}),
        ({"scope": "instance", "rate": 0}, {"rate"}),
    ],
)
def test_limit_validation_names_the_fields_at_fault(
    world: World, fields: dict[str, Any], errors: set[str]
) -> None:
    values = {"rate": 5, **fields}
    for name in ("app", "role", "user"):
        if name in values:
            values[name] = getattr(world, values[name])
    if "service" in values:
        values["service"] = world.a
    with pytest.raises(ValidationError) as raised:
        Limit(name="bad", **values).full_clean()
    assert set(raised.value.message_dict) == errors


def test_admin_form_shows_the_scope_error(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/rbac/limit/add/",
        {"name": "x", "scope": "app", "rate": "5", "period": "minute", "verb": "", "active": "on"},
    )
    assert response.status_code == 200
    assert "A limit of scope &#x27;App&#x27; needs an app." in response.content.decode()
    assert not Limit.objects.exists()


def test_admin_counters_view_and_reset_action(world: World, admin_client: Client) -> None:
    limit = world.limit(scope="app.each_user", app=world.p1, rate=3)
    call(world, "u1@p1", "A")
    call(world, "u1@p1", "A")
    call(world, "u2@p1", "A")
    call(world, "p1", "A")
    page = admin_client.get("/admin/rbac/limit/counters/")
    assert page.status_code == 200
    text = page.content.decode()
    assert limit.name in text
    rows = [
        " ".join(part.split("</td><td>")) for part in text.split('<tr class="sg-counter"><td>')[1:]
    ]
    assert [row.split("</td></tr>")[0] for row in rows] == [
        "app p1, calls without a user 1 2",
        "user u1 2 1",
        "user u2 1 2",
    ]
    assert '<span class="sg-reset">50</span>' in text
    listed = admin_client.get("/admin/rbac/limit/")
    assert listed.status_code == 200
    assert f"counters/?limit={limit.pk}" in listed.content.decode()
    done = admin_client.post(
        "/admin/rbac/limit/",
        {"action": "reset_counters", "_selected_action": [str(limit.pk)]},
        follow=True,
    )
    assert done.status_code == 200
    assert "Counters reset (3 cleared)." in done.content.decode()
    _reset, counters = limits.limit_counters(limits.limit_info(limit))
    assert counters == []
    assert limit_headers(call(world, "u1@p1", "A")) == ("3", "2", "50")
    # The reset button on the counters page clears one limit.
    posted = admin_client.post(f"/admin/rbac/limit/counters/?limit={limit.pk}", {"reset": limit.pk})
    assert posted.status_code == 302
    assert limits.limit_counters(limits.limit_info(limit))[1] == []


# --- writes wait for the verdict ------------------------------------------------------


def test_a_write_over_the_limit_writes_nothing(
    client: Client, target_database: str, clock: Clock
) -> None:
    service = make_service("limited-writes", target_database)
    role = Role.objects.create(name="writer")
    AccessRule.objects.create(
        role=role, service=service, component="_table/genres", verbs=["GET", "POST"]
    )
    app = App.objects.create(name="writer-app", default_role=role)
    key = set_app_key(app)
    Limit.objects.create(name="one-write", scope="app", app=app, verb="POST", rate=1)

    def post(name: str) -> Any:
        return client.post(
            f"/api/v2/{service.name}/_table/genres",
            {"resource": [{"name": name}]},
            content_type="application/json",
            headers={"X-API-Key": key},
        )

    assert post("space opera").status_code == 200
    assert_refused(post("cyberpunk"), 50)
    names = client.get(
        f"/api/v2/{service.name}/_table/genres",
        {"filter": "name in ('space opera', 'cyberpunk')"},
        headers={"X-API-Key": key},
    ).json()["resource"]
    assert [row["name"] for row in names] == ["space opera"]


# --- leases far from a limit ------------------------------------------------------------


def redis_counters() -> dict[str, int]:
    client = redis.Redis.from_url(redis_url())
    return {
        key.decode(): int(client.get(key) or 0)
        for key in client.scan_iter(match=f"{limits.KEY_PREFIX}:*")
    }


def test_far_from_the_limit_calls_are_leased_and_headers_stay_exact(world: World) -> None:
    world.limit(scope="instance", rate=100_000, period="minute")
    for made in range(1, limits.MAX_LEASE + 2):
        response = world.callers["p1"].get(world.a.name)
        assert limit_headers(response) == ("100000", str(100_000 - made), "50")
        (counted,) = redis_counters().values()
        # One lease covers the first MAX_LEASE calls; the next call takes another.
        expected = limits.MAX_LEASE if made <= limits.MAX_LEASE else 2 * limits.MAX_LEASE
        assert counted == expected


def test_near_the_limit_every_call_is_counted_in_redis(world: World) -> None:
    world.limit(scope="instance", rate=limits.LEASE_SHARE + 2, period="minute")
    for made in range(1, 4):
        world.callers["p1"].get(world.a.name)
        assert list(redis_counters().values()) == [made]
