"""The policy seam: what one caller may reach of one service, as `Policy` values.

One rule: deny by default. Views get the caller's `Principal` from
authentication, bind it to a service and its schema snapshot, and ask this
`Access` for every table they touch; a table without a policy is treated
exactly like a table that does not exist. A principal's `verbs` (an OAuth
token's scopes) narrow every answer here, so a verb outside them is refused
exactly like a verb the role lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rbac import policies
from rbac.policies import Principal
from rbac.state import RbacState, current_state
from services.sql.policy import Policy
from services.sql.schema import SchemaSnapshot, Table


@dataclass(frozen=True, slots=True)
class Access:
    """One caller's rights on one service at one schema version (GET unless a verb is named)."""

    principal: Principal
    state: RbacState
    service: str
    snapshot: SchemaSnapshot
    lookups: Mapping[str, object]

    def in_scope(self, verb: str) -> bool:
        """Return whether the principal's scopes (if any) allow `verb`."""
        scope = self.principal.verbs
        return scope is None or verb in scope

    def policy_for(self, table: Table, verb: str = "GET") -> Policy | None:
        """Return the caller's policy for `verb` on `table`, or None when not granted."""
        if not self.in_scope(verb):
            return None
        return policies.table_policy(
            self.state, self.principal, self.service, self.snapshot, table, verb
        )

    def verbs_for(self, table: Table) -> list[str]:
        """The verbs the caller may use on `table` (empty: unreachable)."""
        verbs = policies.table_verbs(self.state, self.principal, self.service, self.snapshot, table)
        return [verb for verb in verbs if self.in_scope(verb)]

    def component_verbs(self, component: str) -> frozenset[str]:
        """The verbs granted on a component other than a table (`_schema/t`, `_proc/p` …)."""
        verbs = policies.component_verbs(self.state, self.principal, self.service, component)
        scope = self.principal.verbs
        return verbs if scope is None else verbs & scope


def can_reach_service(principal: Principal, service: str) -> bool:
    """Return whether the caller may learn that `service` exists."""
    return policies.can_reach_service(current_state(), principal, service)


def bind_access(principal: Principal, service: str, snapshot: SchemaSnapshot) -> Access:
    """Return the caller's Access to `service` at `snapshot`'s version."""
    state = current_state()
    return Access(
        principal=principal,
        state=state,
        service=service,
        snapshot=snapshot,
        lookups=policies.lookups_for(state, principal),
    )
