"""A two-way run (`direction = both`): HubSpot's changes pulled, then PostgreSQL's pushed.

One rule: one run, one lock, one `SyncRun`: the pull half goes first and
settles every record changed on both sides (`conflicts`), writing the
winners from HubSpot and leaving the rows that win as they are; the push
half then sends exactly the rows whose push payload differs from what
HubSpot holds (their record state), which are the PostgreSQL changes and
the conflicts PostgreSQL won. Each half records what HubSpot holds after
it (states with their values), so the other half of the next run sees a
change the sync made itself as no change at all: no ping-pong.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sync.engine.pull import PullRun
from sync.engine.pull_apply import pull_mappings
from sync.engine.push import PushRun
from sync.engine.session import Progress, locked
from sync.jobspec import JobSpec
from sync.models import Direction, SyncRun


def run_both(
    spec: JobSpec, *, run: SyncRun, dry_run: bool = False, on_progress: Progress | None = None
) -> SyncRun:
    """Run both halves of a two-way job, recorded as `run`; return the run, finished.

    Ends like a push or a pull (a failed pull half ends the run before the
    push half); raises what they raise.
    """
    dry_run = dry_run or spec.dry_run
    with locked(spec, run, Direction.BOTH) as session:
        if session is None:
            return run
        client, lock = session
        pull = PullRun(spec, run, client, lock, dry_run=dry_run)
        pull.on_progress = on_progress
        if pull_mappings(spec):  # a job whose mappings all push has no pull half
            pull.execute(lambda: pull.pull(full=False), finish=False)
            if run.finished:
                return run
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sync-{spec.name}") as sending:
            push = PushRun(spec, run, client, lock, sending, dry_run=dry_run, retry_failed=False)
            push.on_progress = on_progress
            push.counts = pull.counts
            push.started = pull.started
            push.preview = pull.preview
            return push.execute()
