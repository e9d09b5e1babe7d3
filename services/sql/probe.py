"""The statements "test connection" runs on a target database: version and risky privileges.

One rule (the package's): SQL text for target databases lives in
`services.sql`; `services.probe` connects and calls these. Both only read
the catalog, so they are safe on any connection, in or out of a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import psycopg

from services.sql.catalog_queries import EXPOSED_RELATION

# How many owned relations a warning names before "…".
EXAMPLES_SHOWN: Final = 3

# The connecting role's attributes. `current_user` is the login role here:
# the probe runs before anything could SET ROLE.
ROLE_ATTRIBUTES: Final = """
SELECT current_user, r.rolsuper, r.rolbypassrls
FROM pg_catalog.pg_roles r
WHERE r.rolname = current_user
"""

# Exposed relations (`catalog_queries.EXPOSED_RELATION`) the
# connecting role owns, directly or through membership in the owning role:
# either way it may ALTER them, and row-level security skips it unless the
# table has FORCE ROW LEVEL SECURITY. pg_has_role(..., 'MEMBER') also counts
# roles whose privileges are not inherited, since SET ROLE reaches them.
OWNED_RELATIONS: Final = (
    """
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE """
    + EXPOSED_RELATION
    + """
    AND pg_catalog.pg_has_role(c.relowner, 'MEMBER')
ORDER BY array_position(%s::text[], n.nspname::text), c.relname
"""
)


class Risk(StrEnum):
    """A kind of privilege that lets the connecting role get past row-level security."""

    SUPERUSER = "superuser"
    BYPASS_RLS = "bypassrls"
    OWNER = "owner"


@dataclass(frozen=True, slots=True)
class PrivilegeReport:
    """What the connecting role may do beyond what row-level security allows.

    `owned` names the exposed tables and views the role owns (directly or as
    a member of the owner), bare for the first exposed schema and
    schema-qualified for the others; it is empty for a superuser, who is a
    member of every role, so ownership says nothing more about it.
    """

    user: str
    superuser: bool
    bypass_rls: bool
    owned: tuple[str, ...] = ()

    @property
    def risks(self) -> tuple[tuple[Risk, str], ...]:
        """Return each risk with a sentence for an admin (empty when there is none).

        Each sentence reads after the service's name ("Service 'crm' connects
        as superuser 'postgres': …") and has no final full stop.
        """
        found: list[tuple[Risk, str]] = []
        if self.superuser:
            found.append(
                (
                    Risk.SUPERUSER,
                    f"connects as superuser '{self.user}': row-level security does not apply "
                    "to it, so Sluicegate's own policy is the only protection",
                )
            )
        if self.bypass_rls and not self.superuser:
            found.append(
                (
                    Risk.BYPASS_RLS,
                    f"connects as role '{self.user}', which has BYPASSRLS: row-level security "
                    "does not apply to it",
                )
            )
        if self.owned:
            count = len(self.owned)
            examples = ", ".join(self.owned[:EXAMPLES_SHOWN])
            if count > EXAMPLES_SHOWN:
                examples = f"e.g. {examples}, …"
            noun = "exposed table" if count == 1 else "exposed tables"
            found.append(
                (
                    Risk.OWNER,
                    f"connects as role '{self.user}', which owns {count} {noun} ({examples}): "
                    "row-level security does not apply to owners unless FORCE ROW LEVEL "
                    "SECURITY is set",
                )
            )
        return tuple(found)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Return the sentences of `risks`, in order."""
        return tuple(sentence for _, sentence in self.risks)


def server_version(conn: psycopg.Connection[Any]) -> str:
    """Return the server's version string, e.g. "16.4 (Debian 16.4-1.pgdg120+1)"."""
    row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else ""


def read_privileges(conn: psycopg.Connection[Any], *, schemas: Sequence[str]) -> PrivilegeReport:
    """Return what the connecting role may do beyond row-level security in `schemas`.

    Two catalog reads (pg_roles, pg_class). Raises psycopg.Error when the
    catalog cannot be read.
    """
    row = conn.execute(ROLE_ATTRIBUTES).fetchone()
    if row is None:
        # Only when the role was dropped under a live session.
        raise psycopg.errors.UndefinedObject("the connecting role no longer exists")
    user, superuser, bypass_rls = str(row[0]), bool(row[1]), bool(row[2])
    owned: tuple[str, ...] = ()
    if not superuser:
        names = list(schemas)
        rows = conn.execute(OWNED_RELATIONS, [names, names]).fetchall()
        first = names[0] if names else None
        owned = tuple(str(name) if schema == first else f"{schema}.{name}" for schema, name in rows)
    return PrivilegeReport(user=user, superuser=superuser, bypass_rls=bypass_rls, owned=owned)
