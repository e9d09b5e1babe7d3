"""Where a push run lets others react to its results: one call after each batch.

One rule: a hook sees a batch only after it is recorded (states, errors,
checkpoint), so whatever a hook does, the run's own bookkeeping is already
safe; a hook never changes what the run sends or records.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.engine.types import PushResult
from sync.jobspec import JobSpec
from sync.models import SyncRun


def batch_processed(spec: JobSpec, run: SyncRun, results: Sequence[PushResult]) -> None:
    """Called after each batch of a push run is recorded; the event `sync.{job}.batch.post_process`.

    Nothing listens yet: event scripts, once they exist, are fired from here.
    """
