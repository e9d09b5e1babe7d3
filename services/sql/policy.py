"""The `Policy` value: what one caller may see of one table, as data the compiler applies.

One rule: the compiler applies a policy to every clause it builds (select list,
filter, order, group, aggregates, related records, counts); "no policy" is
never an unfiltered query — a table without a policy is not reachable at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.sql.ast import Expr


@dataclass(frozen=True, slots=True)
class Policy:
    """Read rights on one table.

    readable: the columns the caller may read (None: every column).
    row_filter: an AST ANDed with every query on the table (None: all rows);
      its `{lookup}` values are bound per request from the caller's lookups.
    max_page_size: a cap below the service's own maximum (None: no extra cap).
    writable: the columns the caller may write (None: every column).
    presets: (column, JSON text of the value) pairs set on every create and update
      (a value may be a `{lookup}` string, resolved per request).
    """

    readable: frozenset[str] | None = None
    row_filter: Expr | None = None
    max_page_size: int | None = None
    writable: frozenset[str] | None = None
    presets: tuple[tuple[str, str], ...] = ()

    def can_read(self, column: str) -> bool:
        """Return whether `column` may be read (and so named anywhere in a query)."""
        return self.readable is None or column in self.readable


FULL_ACCESS = Policy()
