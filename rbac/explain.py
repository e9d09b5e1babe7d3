"""Explain a role's effective access to one table: which rules matched, which tier won, the policy.

One rule: nothing here decides access on its own. The winning tier comes from
`rbac.policies.resolve` and the policy from `rbac.policies.table_policy`, the
very functions the API calls; the per-rule verdicts only say why each rule
did or did not take part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from rbac.policies import (
    SERVED_VERBS,
    TIER_NAMES,
    Principal,
    component_rank,
    filter_fits,
    lookups_for,
    missing_lookups,
    resolve,
    table_component,
    table_policy,
)
from rbac.state import AppInfo, RbacState, RoleInfo, RuleInfo, UserInfo
from services.sql import ast
from services.sql.policy import Policy
from services.sql.schema import SchemaSnapshot, Table

# (tier, -specificity): lower is more specific, as in `rbac.policies.resolve`.
RuleKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One rule of the role and whether it took part in the decision.

    `tier` is the tier the rule would sit in for this component (None when it
    does not match at all); `winner` says it is in the winning tier; `reason`
    is a short sentence for the admin.
    """

    rule: RuleInfo
    tier: int | None
    winner: bool
    reason: str

    @property
    def tier_name(self) -> str:
        return TIER_NAMES[self.tier] if self.tier is not None else ""

    @property
    def service_label(self) -> str:
        return self.rule.service or "every service"

    @property
    def verbs(self) -> str:
        return ", ".join(verb for verb in SERVED_VERBS if verb in self.rule.verbs)

    @property
    def requestors(self) -> str:
        return ", ".join(sorted(self.rule.requestors))


@dataclass(frozen=True, slots=True)
class Explanation:
    """The effective access of one role to one table, for one verb, requestor and sample caller.

    `policy` is None when the verb is not granted. `readable`/`writable` list
    column names in table order (every column when the policy names none);
    `row_filter` is the policy's row filter as text and `bound_row_filter` the
    same with each lookup replaced by the sample caller's value (lookups the
    caller has no value for stay as `{name}` and are listed in `unbound`).
    """

    role: RoleInfo
    service: str
    table: str
    component: str
    verb: str
    requestor: str
    user: UserInfo | None
    app: AppInfo | None
    verdicts: tuple[RuleVerdict, ...]
    winning_tier: int | None
    verbs_granted: tuple[str, ...]
    policy: Policy | None
    readable: tuple[str, ...]
    readable_all: bool
    writable: tuple[str, ...]
    writable_all: bool
    row_filter: str
    bound_row_filter: str
    unbound: tuple[str, ...]
    presets: tuple[tuple[str, str], ...]
    max_page_size: int | None
    notes: tuple[str, ...]

    @property
    def winning_tier_name(self) -> str:
        return TIER_NAMES[self.winning_tier] if self.winning_tier is not None else ""


def explain_table(
    state: RbacState,
    *,
    role_id: int,
    service: str,
    snapshot: SchemaSnapshot,
    table: Table,
    verb: str = "GET",
    requestor: str = "API",
    user_id: int | None = None,
    app_id: int | None = None,
) -> Explanation:
    """Return how `role_id`'s rules decide `verb` on `table` of `service`.

    Raises KeyError when the role is not in `state`.
    """
    role = state.roles[role_id]
    user = state.user(user_id) if user_id is not None else None
    app = state.apps_by_id.get(app_id) if app_id is not None else None
    principal = Principal(user=user, app=app, role=role, requestor=requestor)
    notes: list[str] = []
    if principal.is_superuser:
        # Superusers bypass roles; explain the role as it applies to everyone else.
        notes.append("The sample user is a superuser: roles do not apply to them.")
        principal = replace(principal, user=replace(user, is_superuser=False) if user else None)
    if not role.active:
        notes.append("The role is inactive: it grants nothing.")
    component = table_component(table)
    grant = resolve(state, role.id, service, component, requestor)
    rules = state.rules_by_role.get(role.id, ())
    keys = {rule.id: rule_key(rule, service, component, requestor) for rule in rules}
    missing = missing_lookups(state, principal)
    best = min((key for key in keys.values() if key is not None), default=None)
    verdicts = tuple(
        rule_verdict(
            rule,
            service=service,
            component=component,
            requestor=requestor,
            key=keys[rule.id],
            best=best,
            verb=verb,
            table=table,
            missing=missing,
        )
        for rule in rules
    )
    policy = table_policy(state, principal, service, snapshot, table, verb)
    values = lookups_for(state, principal)
    names = [column.name for column in table.columns]
    row_filter = policy.row_filter if policy is not None else None
    return Explanation(
        role=role,
        service=service,
        table=table.name,
        component=component,
        verb=verb,
        requestor=requestor,
        user=user,
        app=app,
        verdicts=verdicts,
        winning_tier=grant.tier if grant is not None else None,
        verbs_granted=tuple(
            name for name in SERVED_VERBS if grant is not None and name in grant.verbs
        ),
        policy=policy,
        readable=ordered(policy.readable, names) if policy is not None else (),
        readable_all=policy is not None and policy.readable is None,
        writable=ordered(policy.writable, names) if policy is not None else (),
        writable_all=policy is not None and policy.writable is None,
        row_filter=filter_text(row_filter) if row_filter is not None else "",
        bound_row_filter=filter_text(row_filter, values) if row_filter is not None else "",
        unbound=tuple(
            sorted(name for name in ast.lookup_names(row_filter) if name not in values)
            if row_filter is not None
            else ()
        ),
        presets=policy.presets if policy is not None else (),
        max_page_size=policy.max_page_size if policy is not None else None,
        notes=tuple(notes),
    )


def rule_key(rule: RuleInfo, service: str, component: str, requestor: str) -> RuleKey | None:
    """Rank `rule` for `component` as `rbac.policies.resolve` does (None: it does not match)."""
    if requestor not in rule.requestors:
        return None
    if rule.service is not None and rule.service != service:
        return None
    rank = component_rank(rule.component, component)
    if rank is None:
        return None
    return rank[0] + (3 if rule.service is None else 0), rank[1]


def rule_verdict(
    rule: RuleInfo,
    *,
    service: str,
    component: str,
    requestor: str,
    key: RuleKey | None,
    best: RuleKey | None,
    verb: str,
    table: Table,
    missing: frozenset[str],
) -> RuleVerdict:
    """Say whether `rule` took part, given its rank `key` and the winners' rank `best`."""
    if key is None:
        if rule.service is not None and rule.service != service:
            reason = f"Other service ({rule.service})."
        elif requestor not in rule.requestors:
            reason = f"Requestor {requestor} not allowed."
        else:
            reason = f"Component {rule.component} does not match {component}."
        return RuleVerdict(rule, None, False, reason)
    tier = key[0]
    if best is not None and key > best:
        if tier == best[0]:
            reason = "Matches, but a more specific wildcard in the same tier wins."
        else:
            reason = "Matches, but on a lower tier than the winner."
        return RuleVerdict(rule, tier, False, reason)
    if rule.broken:
        reason = "Winning tier, but its row filter cannot be parsed: it grants nothing."
    elif rule.row_filter is not None and not filter_fits(rule.row_filter, table):
        reason = (
            "Winning tier, but its row filter names fields this table lacks: it grants nothing."
        )
    elif rule.lookups & missing:
        names = ", ".join(f"{{{name}}}" for name in sorted(rule.lookups & missing))
        reason = f"Winning tier, but the caller has no value for {names}: it grants nothing."
    elif verb not in rule.verbs:
        reason = f"Winning tier; it does not allow {verb}."
    else:
        reason = f"Winning tier; allows {verb}."
    return RuleVerdict(rule, tier, True, reason)


def ordered(columns: frozenset[str] | None, names: list[str]) -> tuple[str, ...]:
    """`columns` in table order (every name when `columns` is None)."""
    return tuple(names) if columns is None else tuple(name for name in names if name in columns)


def filter_text(expr: ast.Expr, values: Mapping[str, object] | None = None) -> str:
    """Write a filter tree back as filter text.

    With `values`, each `{lookup}` found in them is written as that value (a
    quoted string or a number), as the API binds it for the caller.
    """

    def value(item: ast.Value) -> str:
        if isinstance(item, ast.Lookup):
            if values is not None and item.name in values:
                return literal(values[item.name])
            return "{" + item.name + "}"
        if isinstance(item, ast.Param):
            return ":" + item.name
        return quoted(item.text) if item.kind == "string" else item.text

    def text(node: ast.Expr, parent: type | None = None) -> str:
        if isinstance(node, ast.And | ast.Or):
            joiner = " AND " if isinstance(node, ast.And) else " OR "
            inner = joiner.join(text(item, type(node)) for item in node.items)
            return f"({inner})" if parent is not None else inner
        if isinstance(node, ast.Not):
            return f"NOT ({text(node.item)})"
        field = field_text(node.field)
        negated = "NOT " if getattr(node, "negated", False) else ""
        if isinstance(node, ast.Comparison):
            return f"{field} {node.op} {value(node.value)}"
        if isinstance(node, ast.InList):
            return f"{field} {negated}IN ({', '.join(value(item) for item in node.values)})"
        if isinstance(node, ast.Between):
            return f"{field} {negated}BETWEEN {value(node.low)} AND {value(node.high)}"
        if isinstance(node, ast.IsNull):
            return f"{field} IS {negated}NULL"
        return f"{field} {negated}{node.op} {value(node.value)}"

    return text(expr)


def field_text(ref: ast.FieldRef) -> str:
    """A field reference as filter text, e.g. `rel.attrs->'a'->>'b'`."""
    text = f"{ref.relation}.{ref.name}" if ref.relation else ref.name
    for index, key in enumerate(ref.json_path):
        arrow = "->>" if index == len(ref.json_path) - 1 and ref.json_text else "->"
        text += arrow + quoted(key)
    return text


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def literal(raw: object) -> str:
    """A bound lookup value as filter text."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    return quoted(str(raw))
