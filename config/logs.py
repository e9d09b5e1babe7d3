"""Log formatting: one JSON object per line when SLUICEGATE_LOG_FORMAT=json.

One rule: a record's `request_id` (set by `config.middleware.RequestIdFilter`)
is always a field, and an audit record's fields (`audit`) are kept as an
object, so log shippers need not parse the message.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    """Format a record as a single-line JSON object with time, level, logger, request id, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            entry["audit"] = audit
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
