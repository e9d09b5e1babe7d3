"""A pull run: HubSpot → PostgreSQL, page by page, as SYNC.md's "Pull" describes it.

One rule: a page counts as pulled only once it is recorded — its rows
written and committed in the service's database (conditionally: rows
already equal are not touched, `pull_apply`), then its record states,
errors and the pull checkpoint saved in one platform transaction. A run
killed between the two commits re-reads that page next time and writes
nothing, because its rows already hold its values; a run killed anywhere
else resumes after the last recorded page. Nothing is skipped, nothing
applied twice.

The steps:
1. take the job's lock (as a push does); a second start ends as cancelled;
2. fetch the property definitions once and stop when a mapped property is
   missing;
3. full pull (no checkpoint yet, or `full=True`): page the object list (100
   a request, resuming an interrupted listing at its cursor); incremental
   pull: search `lastmodifieddate >= checkpoint - overlap`, oldest first,
   200 a request (`pull_read.ChangeReader` moves the window before the
   10,000-result cap);
4. convert and write each page (`pull_apply`), two-way jobs first dropping
   echoes and settling conflicts (`conflicts`);
5. mirror mode: delete the rows of records HubSpot archived (list with
   `archived=true`: search never returns archived records), unless more than
   the job's maximum would go;
6. record the run's end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings

from sync.engine import runs
from sync.engine.outcome import run_recorded
from sync.engine.pull_apply import delete_rows, open_target, pull_mappings
from sync.engine.pull_page import PagePuller
from sync.engine.pull_read import (
    SEARCH_CAP,
    SEARCH_PAGE,
    ChangeReader,
    list_pages,
    moment_ms,
    prefetched,
)
from sync.engine.session import Progress, locked
from sync.engine.source import EngineError, open_source
from sync.jobspec import RECORD_ID, JobSpec
from sync.models import Direction, RunStatus, SyncRun

BATCH_READ = 100
DEFAULT_OVERLAP_SECONDS = 30.0


def overlap_ms() -> int:
    """How far before its checkpoint an incremental pull starts (search lags a few seconds)."""
    return int(
        1000
        * float(getattr(settings, "SLUICEGATE_SYNC_PULL_OVERLAP_SECONDS", DEFAULT_OVERLAP_SECONDS))
    )


def search_cap() -> int:
    """The results one search query can page through (HubSpot: 10,000)."""
    return int(getattr(settings, "SLUICEGATE_SYNC_SEARCH_CAP", SEARCH_CAP))


def run_pull(
    spec: JobSpec,
    *,
    run: SyncRun,
    dry_run: bool = False,
    full: bool = False,
    on_progress: Progress | None = None,
) -> SyncRun:
    """Run a pull of `spec` recorded as `run`; return the run, finished.

    Ends `succeeded`, `partial` (some records failed), `failed` or
    `cancelled`, like a push; raises, after recording the run as failed,
    the errors worth retrying the run for (`outcome.RETRYABLE`).
    """
    with locked(spec, run, Direction.PULL) as session:
        if session is None:
            return run
        client, lock = session
        pull = PullRun(spec, run, client, lock, dry_run=dry_run or spec.dry_run)
        pull.on_progress = on_progress
        return pull.execute(lambda: pull.pull(full=full))


def pull_objects(spec: JobSpec, object_ids: Sequence[str], *, run: SyncRun) -> SyncRun:
    """Pull just these HubSpot records (batch reads of at most 100), applied like a page.

    Records HubSpot no longer has are deleted from the table in mirror mode
    and left alone otherwise. The pull checkpoint does not move. Returns
    the run, finished (cancelled when another run of the job holds its
    lock: that run, or the next, reads the change anyway).
    """
    with locked(spec, run, Direction.PULL) as session:
        if session is None:
            return run
        client, lock = session
        pull = PullRun(spec, run, client, lock, dry_run=False)
        return pull.execute(lambda: pull.pull_ids(object_ids))


class PullRun(PagePuller):
    """The state of one pull run (see the module docstring for what it does)."""

    def execute(self, work: Callable[[], None], *, finish: bool = True) -> SyncRun:
        """Do `work`, then record the run's end (with `finish`; else only failures end it)."""
        failed = run_recorded(work, self.finish, left="Records not pulled are pulled next run.")
        if failed is not None:
            return failed
        if not finish:
            return self.run
        return self.finish(RunStatus.PARTIAL if self.counts.failed else RunStatus.SUCCEEDED, "")

    def finish(self, status: str, error: str) -> SyncRun:
        self.run.preview = self.preview
        return runs.run_finished(self.run, self.counts, self.stats(), status=status, error=error)

    def prepare(self) -> None:
        spec = self.spec
        source = open_source(spec)
        self.target = open_target(spec, source)
        if spec.mode == "mirror" and self.target.id_column is None:
            raise EngineError(
                "A mirror pull deletes rows by HubSpot id: give the job a write-back id column "
                "(or match by record id)."
            )
        known = {d.name for d in self.client.list_properties(spec.object_type)}
        wanted = {m.property for m in spec.mappings}
        if spec.match_property != RECORD_ID:
            wanted.add(spec.match_property)
        missing = sorted(wanted - known - {RECORD_ID})
        if missing:
            raise EngineError(f"HubSpot {spec.object_type} have no property {', '.join(missing)}.")
        if not pull_mappings(spec):
            raise EngineError("The job has no mapping that pulls (direction pull or both).")
        self.properties = tuple(sorted(wanted | {self.prop, RECORD_ID}))

    # --- the run -------------------------------------------------------------------------

    def pull(self, *, full: bool) -> None:
        self.prepare()
        checkpoint = runs.load_checkpoint(self.spec.job_id, "pull")
        if full or "since" not in checkpoint or checkpoint.get("listing"):
            self._list(checkpoint if checkpoint.get("listing") and not full else {})
        else:
            self._search(checkpoint)

    def _list(self, checkpoint: dict[str, Any]) -> None:
        """A full pull: the object list, then (mirror) the archived records."""
        started = int(checkpoint.get("started") or (time.time() * 1000 - overlap_ms()))
        after = checkpoint.get("after") if isinstance(checkpoint.get("after"), str) else None
        pages = list_pages(self.client, self.spec.object_type, self.properties, after=after)
        for page in prefetched(pages):
            point = {"listing": True, "after": page.after, "started": started}
            self.page(page.records, point if page.after is not None else None)
        if self.spec.mode == "mirror":
            self._mirror(since=None)
        self.save_point({"since": max(started, 0), "ids": []})

    def _search(self, checkpoint: dict[str, Any]) -> None:
        """An incremental pull: what changed since the checkpoint, oldest first."""
        since = int(checkpoint.get("since") or 0)
        applied = [str(i) for i in checkpoint.get("ids") or ()]
        cap = search_cap()
        reader = ChangeReader(
            self.client,
            self.spec.object_type,
            self.prop,
            self.properties,
            since=max(since - overlap_ms(), 0),
            seen=dict.fromkeys(applied, since),
            cap=cap,
            page_size=min(SEARCH_PAGE, cap),
        )
        reader.moment, reader.at_moment = since, set(applied)
        for records, point in prefetched(reader.points()):
            self.counts.total = max(self.counts.total, reader.total or 0)
            self.page(records, point)
        if self.spec.mode == "mirror":
            self._mirror(since=since - overlap_ms())

    def _mirror(self, *, since: int | None) -> None:
        """Delete the rows of records HubSpot archived (since `since` ms; None: every one)."""
        gone: list[str] = []
        for page in list_pages(self.client, self.spec.object_type, (RECORD_ID,), archived=True):
            for record in page.records:
                if since is None or _archived_ms(record.archived_at) >= since:
                    gone.append(record.id)
        self.delete(gone)

    def pull_ids(self, object_ids: Sequence[str]) -> None:
        if not pull_mappings(self.spec):
            return  # a two-way job whose mappings all push: nothing comes from HubSpot
        self.prepare()
        ids = list(dict.fromkeys(str(i) for i in object_ids if str(i)))
        self.counts.total = len(ids)
        for start in range(0, len(ids), BATCH_READ):
            chunk = ids[start : start + BATCH_READ]
            answer = self.client.batch_read(
                self.spec.object_type, chunk, properties=self.properties
            )
            found = [o.result for o in answer.succeeded if o.result is not None]
            missing = [
                o.input for o in answer.failed if o.error and o.error.category == "OBJECT_NOT_FOUND"
            ]
            self.page(found, None)
            if self.spec.mode == "mirror":
                self.delete(missing)
            else:
                self.counts.done += len(missing)

    def delete(self, hubspot_ids: Sequence[str]) -> None:
        """Mirror mode: delete these records' rows, unless more than the job's maximum would go."""
        assert self.target is not None
        if not hubspot_ids:
            return
        present = self.rows_with_ids(hubspot_ids)
        if len(present) > self.spec.max_deletions:
            raise EngineError(
                f"Mirror: {len(present)} rows of records archived in HubSpot would be deleted, more "
                f"than the job's maximum of {self.spec.max_deletions}; none were deleted."
            )
        if self.dry_run:
            self.counts.deleted += len(present)
            return
        deleted = delete_rows(self.target, present)
        self.counts.deleted += deleted
        self.counts.done += deleted
        self.forget(present)


def _archived_ms(value: str | None) -> int:
    return (moment_ms(value) or 0) if value else 0
