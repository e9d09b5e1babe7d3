"""The access configuration as one immutable value per process, reloaded when it changes.

One rule: the API path never queries the platform database for roles, rules,
apps or lookups on a request. Every process holds one `RbacState` built from
those tables and tagged with the version published in Redis; it re-reads
that version at most every `SLUICEGATE_RBAC_CHECK_SECONDS` (default 1) and
reloads when it moved. Any save or delete of the configuration drops this
process's state at once and bumps the published version when the
transaction commits, so every other process follows within one check
interval. Users are looked up lazily and kept in the state, so a change to a
user (deactivated, no longer superuser) reloads it too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from config import versions
from services.sql.ast import Expr, lookup_names
from services.sql.errors import QueryError
from services.sql.parse import parse_filter

if TYPE_CHECKING:
    from rbac.limits import LimitInfo

logger = logging.getLogger(__name__)

VERSION_KEY = "rbac:version"
DEFAULT_CHECK_SECONDS = 1.0
# Bound on per-process memos (users, lookups, policies), which grow with the
# number of distinct callers between two configuration changes.
MEMO_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class RoleInfo:
    id: int
    name: str
    active: bool
    pg_role: str


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """One access rule; `row_filter` is parsed once here (None: all rows)."""

    id: int
    role_id: int
    service: str | None  # None: every service
    component: str
    verbs: frozenset[str]
    requestors: frozenset[str]
    readable: frozenset[str] | None
    writable: frozenset[str] | None
    row_filter_text: str
    row_filter: Expr | None
    presets: Mapping[str, Any]
    max_page_size: int | None
    lookups: frozenset[str] = frozenset()  # the `{lookups}` the row filter names
    broken: bool = False  # an unparsable stored row filter: the rule grants nothing


@dataclass(frozen=True, slots=True)
class AppInfo:
    id: int
    name: str
    active: bool
    default_role_id: int | None
    cors_origins: frozenset[str] = frozenset()  # normalized browser origins (`rbac.cors`)


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    is_active: bool
    is_superuser: bool

    @property
    def display_name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.username


@dataclass(frozen=True, slots=True)
class LookupInfo:
    value: str
    private: bool


@dataclass(slots=True)
class RbacState:
    """Everything the request path needs to know about access, as plain values.

    `users` and `memo` fill lazily (under `lock`); everything else is fixed
    once loaded.
    """

    version: str
    roles: dict[int, RoleInfo]
    rules_by_role: dict[int, tuple[RuleInfo, ...]]
    apps_by_id: dict[int, AppInfo]
    apps_by_digest: dict[str, int]
    admin_keys: dict[str, int]  # digest -> user id
    user_app_roles: dict[tuple[int, int], int]  # (user id, app id) -> role id
    system_lookups: dict[str, LookupInfo]
    app_lookups: dict[int, dict[str, LookupInfo]]
    role_lookups: dict[int, dict[str, LookupInfo]]
    user_lookups: dict[int, dict[str, LookupInfo]]
    limits: tuple[LimitInfo, ...] = ()  # active rate limits (`rbac.limits`)
    users: dict[int, UserInfo | None] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def user(self, user_id: int) -> UserInfo | None:
        """Return the user with `user_id` (None when it does not exist), loaded once."""
        if user_id in self.users:
            return self.users[user_id]
        info = load_user(user_id)
        with self.lock:
            if len(self.users) >= MEMO_LIMIT:
                self.users.clear()  # many distinct callers: start over rather than grow
            self.users[user_id] = info
        return info

    def remember(self, key: Any, value: Any) -> None:
        """Keep a derived value (a grant, a policy, lookups) for the life of this state."""
        with self.lock:
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()  # per-user entries of many callers: start over
            self.memo[key] = value

    def app_for_digest(self, digest: str) -> AppInfo | None:
        app_id = self.apps_by_digest.get(digest)
        return self.apps_by_id.get(app_id) if app_id is not None else None


_current: tuple[float, RbacState] | None = None
_guard = threading.Lock()


def current_state() -> RbacState:
    """Return this process's state, reloading it when the published version moved."""
    global _current
    held = _current
    now = time.monotonic()
    if held is not None and now - held[0] < _check_seconds():
        return held[1]
    version = published_version()
    if held is not None and held[1].version == version:
        _current = (now, held[1])
        return held[1]
    with _guard:
        held = _current
        if held is not None and held[1].version == version:
            return held[1]  # another thread has just loaded it
        state = load_state(version)
        _current = (time.monotonic(), state)
        return state


def forget_state() -> None:
    """Drop this process's state: the next request reloads it."""
    global _current
    _current = None


def changed() -> None:
    """Record a change of the access configuration (call inside the writing transaction)."""
    forget_state()
    transaction.on_commit(_bump)


def _bump() -> None:
    forget_state()
    versions.bump(VERSION_KEY, "the access configuration")


def published_version() -> str:
    return versions.published(VERSION_KEY, "the access configuration")


def _check_seconds() -> float:
    return float(getattr(settings, "SLUICEGATE_RBAC_CHECK_SECONDS", DEFAULT_CHECK_SECONDS))


def load_user(user_id: int) -> UserInfo | None:
    row = (
        get_user_model()
        .objects.filter(pk=user_id)
        .values_list(
            "pk", "username", "email", "first_name", "last_name", "is_active", "is_superuser"
        )
        .first()
    )
    return UserInfo(*row) if row is not None else None


def parse_row_filter(text: str) -> Expr | None:
    """Return the AST of a rule's row filter (None when empty). Raises ParseError (a ValueError)."""
    return parse_filter(text) if text.strip() else None


def rule_info(rule: Any, service_name: str | None) -> RuleInfo:
    """Build the RuleInfo of an AccessRule row (`service_name` passed to avoid a query)."""
    broken = False
    try:
        row_filter = parse_row_filter(rule.row_filter)
    except (QueryError, ValueError):  # ParseError is a ValueError
        logger.error("access rule %s has an unparsable row filter; it grants nothing", rule.pk)
        row_filter, broken = None, True
    return RuleInfo(
        id=rule.pk,
        role_id=rule.role_id,
        service=service_name,
        component=rule.component.strip() or "*",
        verbs=frozenset(verb.upper() for verb in rule.verbs),
        requestors=frozenset(requestor.upper() for requestor in rule.requestors),
        readable=frozenset(rule.readable_columns) if rule.readable_columns else None,
        writable=frozenset(rule.writable_columns) if rule.writable_columns else None,
        row_filter_text=rule.row_filter,
        row_filter=row_filter,
        presets=dict(rule.presets or {}),
        max_page_size=rule.max_page_size,
        lookups=lookup_names(row_filter) if row_filter is not None else frozenset(),
        broken=broken,
    )


def load_state(version: str) -> RbacState:
    """Read the whole access configuration from the platform database."""
    from rbac.limits import limits_load
    from rbac.models import AccessRule, AdminApiKey, App, Lookup, Role, UserAppRole

    roles = {
        row[0]: RoleInfo(*row)
        for row in Role.objects.values_list("pk", "name", "active", "pg_role")
    }
    rules: dict[int, list[RuleInfo]] = {}
    for rule in AccessRule.objects.select_related("service").order_by("pk"):
        service = rule.service.name if rule.service is not None else None
        if rule.service is not None and not rule.service.active:
            continue
        rules.setdefault(rule.role_id, []).append(rule_info(rule, service))
    apps_by_id: dict[int, AppInfo] = {}
    apps_by_digest: dict[str, int] = {}
    from rbac.cors import stored_origins

    for pk, name, active, role_id, digest, origins in App.objects.values_list(
        "pk", "name", "active", "default_role_id", "key_digest", "cors_origins"
    ):
        apps_by_id[pk] = AppInfo(pk, name, active, role_id, stored_origins(origins))
        if digest:
            apps_by_digest[digest] = pk
    admin_keys = dict(
        AdminApiKey.objects.filter(revoked_at__isnull=True).values_list("digest", "user_id")
    )
    state = RbacState(
        version=version,
        roles=roles,
        rules_by_role={role: tuple(items) for role, items in rules.items()},
        apps_by_id=apps_by_id,
        apps_by_digest=apps_by_digest,
        admin_keys=admin_keys,
        user_app_roles={
            (user, app): role
            for user, app, role in UserAppRole.objects.values_list("user_id", "app_id", "role_id")
        },
        system_lookups={},
        app_lookups={},
        role_lookups={},
        user_lookups={},
        limits=limits_load(),
    )
    for key, value, private, app_id, role_id, user_id in Lookup.objects.values_list(
        "key", "value", "private", "app_id", "role_id", "user_id"
    ):
        info = LookupInfo(value, private)
        if user_id is not None:
            state.user_lookups.setdefault(user_id, {})[key] = info
        elif role_id is not None:
            state.role_lookups.setdefault(role_id, {})[key] = info
        elif app_id is not None:
            state.app_lookups.setdefault(app_id, {})[key] = info
        else:
            state.system_lookups[key] = info
    return state
