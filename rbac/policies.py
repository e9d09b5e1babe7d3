"""Who may do what: rule resolution by DreamFactory's tiers, compiled into `Policy` values.

One rule: deny by default. A component is reachable only through a rule that
matches it, in the most specific tier that has any rule matching it for the
caller's requestor type; verbs and column masks are united within that tier
only, never across tiers. Superusers bypass roles. Results are memoised in
the process's `RbacState`, so they are recomputed after any change to the
configuration and, because the key holds the schema version, after any
schema change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rbac.state import AppInfo, RbacState, RoleInfo, RuleInfo, UserInfo
from services.sql.ast import Expr, Or, field_refs
from services.sql.policy import FULL_ACCESS, Policy
from services.sql.schema import SchemaSnapshot, Table

REQUESTOR_API = "API"
REQUESTOR_SCRIPT = "SCRIPT"
SERVED_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Tier names, most specific first (shown by "explain").
TIER_NAMES = {
    0: "exact component on this service",
    1: "wildcard component on this service",
    2: "'*' on this service",
    3: "exact component on every service",
    4: "wildcard component on every service",
    5: "'*' on every service",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request: the user (if any), the app (if any) and the role that applies.

    `verbs` narrows what the role allows (an OAuth token's scopes): None
    narrows nothing; otherwise only these verbs are ever granted.
    """

    user: UserInfo | None
    app: AppInfo | None
    role: RoleInfo | None
    requestor: str = REQUESTOR_API
    verbs: frozenset[str] | None = None

    @property
    def is_superuser(self) -> bool:
        return self.user is not None and self.user.is_active and self.user.is_superuser

    @property
    def is_authenticated(self) -> bool:
        """Always True: DRF reads it on `request.user`."""
        return True


@dataclass(frozen=True, slots=True)
class Grant:
    """The rules of the winning tier for one (role, service, component, requestor)."""

    tier: int
    rules: tuple[RuleInfo, ...]

    @property
    def verbs(self) -> frozenset[str]:
        return frozenset().union(*(rule.verbs for rule in self.rules if not rule.broken))

    @property
    def tier_name(self) -> str:
        return TIER_NAMES[self.tier]


def component_rank(pattern: str, component: str) -> tuple[int, int] | None:
    """Return how `pattern` matches `component` as (kind, -specificity), or None.

    kind 0: exact; 1: wildcard `prefix/*` (matching the prefix itself and
    everything below it; a longer prefix is more specific); 2: `*`. A table's
    records are part of the table: `_table/t` also matches `_table/t/5`.
    """
    if pattern == "*":
        return 2, 0
    if pattern.endswith("/*"):
        prefix = pattern[:-2]
        if component == prefix or component.startswith(prefix + "/"):
            return 1, -len(prefix)
        return None
    if component == pattern or component.startswith(pattern + "/"):
        return 0, 0
    return None


def resolve(
    state: RbacState, role_id: int, service: str, component: str, requestor: str
) -> Grant | None:
    """Return the winning tier's rules for `component` of `service`, or None (no access)."""
    key = ("grant", role_id, service, component, requestor)
    if key in state.memo:
        return state.memo[key]  # type: ignore[no-any-return]
    best: tuple[int, int] | None = None
    winners: list[RuleInfo] = []
    for rule in state.rules_by_role.get(role_id, ()):
        if requestor not in rule.requestors:
            continue
        if rule.service is not None and rule.service != service:
            continue
        rank = component_rank(rule.component, component)
        if rank is None:
            continue
        tier = (rank[0] + (3 if rule.service is None else 0), rank[1])
        if best is None or tier < best:
            best, winners = tier, [rule]
        elif tier == best:
            winners.append(rule)
    grant = Grant(tier=best[0], rules=tuple(winners)) if best is not None else None
    state.remember(key, grant)
    return grant


def service_reachable(state: RbacState, role_id: int, service: str, requestor: str) -> bool:
    """Return whether the role has any rule on `service` (or every service)."""
    return any(
        (rule.service is None or rule.service == service)
        and requestor in rule.requestors
        and rule.verbs
        and not rule.broken
        for rule in state.rules_by_role.get(role_id, ())
    )


def filter_fits(expr: Expr, table: Table) -> bool:
    """Return whether every field of a row filter names a column or relation of `table`."""
    return all(
        (ref.relation is not None and table.relationship(ref.relation) is not None)
        or (ref.relation is None and table.column(ref.name) is not None)
        for ref in field_refs(expr)
    )


def unite(
    rules: Iterable[RuleInfo], table: Table, missing: frozenset[str] = frozenset()
) -> Policy | None:
    """The union of several rules' policies on `table` (None when no usable rule is left).

    Readable and writable columns are united (all columns when any rule names
    none), row filters are ORed (no filter when any rule has none), presets
    merged and the largest page cap kept (none when any rule has none). A rule
    whose row filter names a column the table lacks, or a lookup in `missing`
    (one the caller has no value for), grants nothing.
    """
    usable = [
        rule
        for rule in rules
        if not rule.broken
        and not (rule.lookups & missing)
        and (rule.row_filter is None or filter_fits(rule.row_filter, table))
    ]
    if not usable:
        return None
    names = {column.name for column in table.columns}

    def columns(masks: list[frozenset[str] | None]) -> frozenset[str] | None:
        if any(mask is None for mask in masks):
            return None
        return frozenset(set().union(*masks) & names)  # type: ignore[arg-type]

    filters = [rule.row_filter for rule in usable]
    row_filter: Expr | None
    if any(item is None for item in filters):
        row_filter = None
    elif len(filters) == 1:
        row_filter = filters[0]
    else:
        row_filter = Or(tuple(item for item in filters if item is not None))
    caps = [rule.max_page_size for rule in usable]
    presets: dict[str, Any] = {}
    for rule in usable:
        presets.update({k: json.dumps(v) for k, v in rule.presets.items() if k in names})
    return Policy(
        readable=columns([rule.readable for rule in usable]),
        row_filter=row_filter,
        max_page_size=None if any(cap is None for cap in caps) else max(c for c in caps if c),
        writable=columns([rule.writable for rule in usable]),
        presets=tuple(sorted(presets.items())),
    )


def table_component(table: Table) -> str:
    return f"_table/{table.name}"


def table_policy(
    state: RbacState,
    principal: Principal,
    service: str,
    snapshot: SchemaSnapshot,
    table: Table,
    verb: str = "GET",
) -> Policy | None:
    """Return the caller's policy for `verb` on `table`, or None when the verb is not granted."""
    if principal.is_superuser:
        return FULL_ACCESS
    if principal.role is None or not principal.role.active:
        return None
    missing = missing_lookups(state, principal)
    role_id, requestor = principal.role.id, principal.requestor
    key = ("policy", role_id, service, snapshot.version, table.name, verb, requestor, missing)
    if key in state.memo:
        return state.memo[key]  # type: ignore[no-any-return]
    grant = resolve(state, principal.role.id, service, table_component(table), principal.requestor)
    policy = None
    if grant is not None:
        policy = unite((rule for rule in grant.rules if verb in rule.verbs), table, missing)
    state.remember(key, policy)
    return policy


def table_verbs(
    state: RbacState, principal: Principal, service: str, snapshot: SchemaSnapshot, table: Table
) -> list[str]:
    """Return the verbs the caller may use on `table` (empty: the table is unreachable)."""
    return [
        verb
        for verb in SERVED_VERBS
        if table_policy(state, principal, service, snapshot, table, verb) is not None
    ]


def component_verbs(
    state: RbacState, principal: Principal, service: str, component: str
) -> frozenset[str]:
    """Return the verbs granted on a non-table component (`_schema/contacts`, `_proc/x` …)."""
    if principal.is_superuser:
        return frozenset(SERVED_VERBS)
    if principal.role is None or not principal.role.active:
        return frozenset()
    grant = resolve(state, principal.role.id, service, component, principal.requestor)
    return grant.verbs if grant is not None else frozenset()


def can_reach_service(state: RbacState, principal: Principal, service: str) -> bool:
    """Return whether the caller may know that `service` exists."""
    if principal.is_superuser:
        return True
    if principal.role is None or not principal.role.active:
        return False
    return service_reachable(state, principal.role.id, service, principal.requestor)


def lookups_for(
    state: RbacState, principal: Principal, *, private: bool = False
) -> Mapping[str, object]:
    """Return the `{name}` values of the caller: built-ins, then custom lookups.

    Custom lookups come from the system, the app, the role and the user, the
    more specific winning. Private ones only when `private` (event scripts).
    """
    user, app, role = principal.user, principal.app, principal.role
    key = ("lookups", user and user.id, app and app.id, role and role.id, private)
    if key in state.memo:
        return state.memo[key]  # type: ignore[no-any-return]
    values: dict[str, object] = {}
    layers = [
        state.system_lookups,
        state.app_lookups.get(app.id, {}) if app else {},
        state.role_lookups.get(role.id, {}) if role else {},
        state.user_lookups.get(user.id, {}) if user else {},
    ]
    for layer in layers:
        for name, info in layer.items():
            if private or not info.private:
                values[name] = info.value
    if user is not None:
        values.update(
            {
                "user.id": user.id,
                "user.username": user.username,
                "user.email": user.email,
                "user.first_name": user.first_name,
                "user.last_name": user.last_name,
                "user.display_name": user.display_name,
            }
        )
    if role is not None:
        values.update({"role.id": role.id, "role.name": role.name})
    if app is not None:
        values.update({"app.id": app.id, "app.name": app.name})
    state.remember(key, values)
    return values


def missing_lookups(state: RbacState, principal: Principal) -> frozenset[str]:
    """Return the lookups the role's row filters name that the caller has no value for.

    (An app key without a user has no `{user.id}`; private lookups never
    reach filters.) Rules using them grant this caller nothing.
    """
    role = principal.role
    if role is None:
        return frozenset()
    key = (
        "missing",
        principal.user and principal.user.id,
        principal.app and principal.app.id,
        role.id,
    )
    if key in state.memo:
        return state.memo[key]  # type: ignore[no-any-return]
    have = lookups_for(state, principal)
    needed = frozenset().union(*(rule.lookups for rule in state.rules_by_role.get(role.id, ())))
    missing = frozenset(name for name in needed if name not in have)
    state.remember(key, missing)
    return missing


def database_claims(principal: Principal) -> dict[str, object]:
    """The caller as PostgreSQL row-level security policies see it (`request.claims`)."""
    user, app, role = principal.user, principal.app, principal.role
    return {
        "user_id": user.id if user else None,
        "username": user.username if user else None,
        "email": user.email if user else None,
        "app": app.name if app else None,
        "role": role.name if role else None,
        "superuser": principal.is_superuser,
        "requestor": principal.requestor,
    }


def database_role(principal: Principal) -> str | None:
    """The PostgreSQL role a request of `principal` assumes (None: the service's own user)."""
    if principal.is_superuser or principal.role is None:
        return None
    return principal.role.pg_role or None
