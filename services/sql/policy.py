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
    row_filter: an AST ANDed with every query on the table (None: all rows).
    max_page_size: a cap below the service's own maximum (None: no extra cap).
    """

    readable: frozenset[str] | None = None
    row_filter: Expr | None = None
    max_page_size: int | None = None

    def can_read(self, column: str) -> bool:
        """Return whether `column` may be read (and so named anywhere in a query)."""
        return self.readable is None or column in self.readable


FULL_ACCESS = Policy()
