"""The audit trail of writes: one call per write request, whatever its outcome.

One rule: the API calls `record_write` exactly once for each table write that
ran (a batch that partly failed included), after the database work, with the
number of records written (0 when a batch was rolled back); a request refused
as a whole writes nothing and is not recorded. This function must stay cheap
and must never fail the request.
"""

from __future__ import annotations

import logging

from rbac.policies import Principal

logger = logging.getLogger(__name__)


def record_write(principal: Principal, service: str, table: str, verb: str, count: int) -> None:
    """Note that `principal` wrote `count` records of `table` on `service` with `verb`."""
    if logger.isEnabledFor(logging.DEBUG):
        who = principal.user.username if principal.user is not None else None
        app = principal.app.name if principal.app is not None else None
        logger.debug(
            "write %s %s/%s: %d record(s) by user=%s app=%s", verb, service, table, count, who, app
        )
