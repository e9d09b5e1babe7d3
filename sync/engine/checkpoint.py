"""A job's push checkpoint: where a watermarked scan stands, and creates on their way.

One rule: the checkpoint only ever describes what is recorded. Its
position (the (watermark, key) of the last row read) moves with the batch
that covers it, in the same transaction as that batch's record states
(`runs.record_batch`), and never past a row whose batch is still on its
way. Creates of records without a unique value are announced here
(`pending_creates`) before they are sent and dropped once recorded, so a
run killed in between leaves their keys behind for the next run to settle.

The value, under the job's `checkpoint["push"]`:
`{"watermark": "<text>", "key": ["<text>", …], "pending_creates": ["<record key>", …]}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.sql.keyset import Position
from sync.engine import runs


class Checkpoint:
    """The push checkpoint of one job, as this run last saved (or will next save) it."""

    def __init__(self, job_id: int, *, watermarked: bool, key_width: int) -> None:
        self.job_id = job_id
        self.watermarked = watermarked
        self.key_width = key_width
        self.value: dict[str, Any] = runs.load_checkpoint(job_id)

    def position(self) -> Position | None:
        """Where the last scan stopped (None: from the start)."""
        watermark, key = self.value.get("watermark"), self.value.get("key")
        if not self.watermarked or not isinstance(watermark, str) or not isinstance(key, list):
            return None
        parts = tuple(str(part) for part in key)
        return Position(watermark, parts) if len(parts) == self.key_width else None

    @property
    def pending_creates(self) -> tuple[str, ...]:
        return tuple(str(key) for key in self.value.get("pending_creates") or ())

    def after(
        self, position: Position | None, created: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        """The value once everything up to `position` is recorded and `created` are done.

        Returns None when nothing changes; otherwise the new value, which
        the caller saves (with the batch it belongs to).
        """
        value = dict(self.value)
        if position is not None and self.watermarked:
            value["watermark"] = position.watermark
            value["key"] = list(position.key)
        pending = set(self.pending_creates) - set(created)
        if pending:
            value["pending_creates"] = sorted(pending)
        else:
            value.pop("pending_creates", None)
        if value == self.value:
            return None
        self.value = value
        return value

    def save(self, value: Mapping[str, Any] | None) -> None:
        if value is not None:
            runs.save_checkpoint(self.job_id, value)

    def announce_creates(self, record_keys: Sequence[str]) -> None:
        """Note durably, before sending them, that these records are about to be created."""
        value = dict(self.value)
        value["pending_creates"] = sorted(set(self.pending_creates) | set(record_keys))
        self.value = value
        runs.save_checkpoint(self.job_id, value)

    def forget_creates(self) -> None:
        """Drop every announced create (they are settled otherwise)."""
        self.save(self.after(None, self.pending_creates))
