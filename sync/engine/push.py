"""A push run: PostgreSQL → HubSpot, as SYNC.md's "What a run does" lists it.

One rule: a record counts as pushed only once its batch is recorded
(`runs.record_batch`: states, errors and checkpoint in one transaction),
and the checkpoint never moves past a row whose record is not; so a run
killed at any moment, run again, sends what was not recorded — again,
harmlessly (`send`'s rule) — and nothing else.

The steps:
1. take the job's lock (`lock`); a second start ends at once as cancelled;
2. fetch the HubSpot property definitions once, and stop with a clear
   message when a mapping cannot work at all (`validate.check_job`);
3. read the rows that have open errors (retried first; with
   `retry_failed`, only those), then the changed rows in keyset chunks:
   with a watermark column, the rows after the checkpoint's (watermark,
   key) up to the highest watermark seen at the start; without one, every
   row; either way a row whose payload hashes as last pushed is unchanged
   (so our own write-backs, which may move a watermark, cost no request);
4. decide each row (`decide`: properties, validation, what to send) and
   batch the candidates by at most the account's batch size (100);
5. send each batch and write its results back into the source table from
   the sending thread (`send`, `source.write_results`), while this thread
   records the batch before it (`runs.record_batch`) and calls
   `hooks.batch_processed`;
6. mirror mode: archive in HubSpot the records whose rows vanished
   (`mirror`), unless more than the job's maximum would go; then make the
   job's associations whose both sides exist (`associate`);
7. record the run's end. A dry run does steps 1 to 4 and 6 without sending,
   writing back or recording anything but the run and its preview.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from services.sql.keyset import Position, SourceRow
from sync.engine import hooks, runs
from sync.engine.associate import associate_records
from sync.engine.checkpoint import Checkpoint
from sync.engine.decide import Decider, preview_of
from sync.engine.lock import JobLock
from sync.engine.mirror import archive_vanished
from sync.engine.outcome import run_recorded
from sync.engine.payload import content_hash, key_parts, push_mappings, record_key
from sync.engine.pull_page import PULLED_PREFIX
from sync.engine.send import BatchSender
from sync.engine.session import Progress, locked
from sync.engine.source import (
    EngineError,
    Source,
    count_rows,
    max_watermark,
    open_source,
    read_by_keys,
    read_chunk,
    write_results,
)
from sync.engine.types import AMBIGUOUS_CREATE, Candidate, Counts, PushResult
from sync.engine.validate import check_job
from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import (
    RecordError,
)
from sync.hubspot.transport import ClientStats
from sync.jobspec import JobSpec
from sync.models import Direction, RunStatus, SyncRun

CHUNK_ROWS = 1000
PREVIEW_LIMIT = 100


def run_push(
    spec: JobSpec,
    *,
    run: SyncRun,
    dry_run: bool = False,
    retry_failed: bool = False,
    on_progress: Progress | None = None,
    keys: Sequence[str] | None = None,
) -> SyncRun:
    """Run a push of `spec` recorded as `run`; return the run, finished.

    With `keys` (record keys, see `payload.record_key`), only the rows with
    those keys are read, those changed since last pushed are sent, and
    neither the checkpoint nor mirror-mode archiving is touched.

    The run ends `succeeded`, `partial` (some records failed), `failed` (the
    message says why) or `cancelled` (another run of the job holds the
    lock). Raises, after recording the run as failed, the errors worth
    retrying the whole run for (`outcome.RETRYABLE`: HubSpot or a database
    unavailable); other failures are recorded and not raised.
    """
    with locked(spec, run, Direction.PUSH) as session:
        if session is None:
            return run
        client, lock = session
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sync-{spec.name}") as sending:
            push = PushRun(
                spec,
                run,
                client,
                lock,
                sending,
                dry_run=dry_run or spec.dry_run,
                retry_failed=retry_failed,
            )
            push.keys = keys
            push.on_progress = on_progress
            return push.execute()


@dataclass(frozen=True, slots=True)
class InFlight:
    """A batch on its way to HubSpot: its results to come, where the scan stood, its unsafe creates."""

    future: Future[list[PushResult]]
    position: Position | None
    unsafe: tuple[str, ...]


class PushRun:
    """The state of one push run (see the module docstring for what it does)."""

    def __init__(
        self,
        spec: JobSpec,
        run: SyncRun,
        client: HubSpotClient,
        lock: JobLock,
        sending: Executor,
        *,
        dry_run: bool,
        retry_failed: bool,
    ) -> None:
        self.spec = spec
        self.run = run
        self.client = client
        self.lock = lock
        self.sending = sending
        self.dry_run = dry_run
        self.retry_failed = retry_failed
        self.on_progress: Progress | None = None
        self.keys: Sequence[str] | None = None  # push only these records
        self.started = client.stats()
        self.batch_size = spec.account.batch_size
        self.sender = BatchSender(client, spec)
        self.counts = Counts()
        self.pending: list[Candidate] = []
        self.sendable = 0
        self.in_flight: InFlight | None = None
        self.handled: set[str] = set()
        self.open_errors: dict[str, str] = {}
        self.scan_position: Position | None = None
        self.preview: list[dict[str, Any]] = []
        self.source: Source | None = None
        self.checkpoint: Checkpoint | None = None
        self.decider: Decider | None = None

    def stats(self) -> ClientStats:
        """What the client did in this run."""
        return self.client.stats() - self.started

    # --- the run ---------------------------------------------------------------------

    def execute(self) -> SyncRun:
        failed = run_recorded(self._push, self._finish, left="Records not sent are sent next run.")
        if failed is not None:
            return failed
        status = RunStatus.PARTIAL if self.counts.failed else RunStatus.SUCCEEDED
        return self._finish(status, "")

    def _finish(self, status: str, error: str) -> SyncRun:
        if self.dry_run:
            self.run.preview = self.preview
        return runs.run_finished(self.run, self.counts, self.stats(), status=status, error=error)

    def _push(self) -> None:
        spec = self.spec
        self.source = source = open_source(spec)
        definitions = {d.name: d for d in self.client.list_properties(spec.object_type)}
        problems = check_job(spec, push_mappings(spec), definitions)
        if problems:
            raise EngineError(" ".join(problems))
        self.checkpoint = checkpoint = Checkpoint(
            spec.job_id, watermarked=source.rows.watermark is not None, key_width=source.key_width
        )
        self._settle_interrupted_creates()
        self.open_errors = runs.open_errors(spec.job_id)
        self.decider = Decider(spec, definitions, self.open_errors, self.retry_failed)
        retry_keys = [
            k
            for k in self.open_errors
            if not k.startswith(PULLED_PREFIX) and key_parts(k, source.key_width) is not None
        ]
        if self.keys is not None:
            self._push_keys(self.keys)
            return
        upto: str | None = None
        after: Position | None = None
        if not self.retry_failed:
            if source.rows.watermark is not None:
                upto = max_watermark(source)
                after = checkpoint.position()
            self.counts.total = count_rows(source, after=after, upto=upto)
        self.counts.total += len(retry_keys)
        self._save_progress()
        self._retry_open_errors(retry_keys)
        if not self.retry_failed:
            self._scan(after, upto)
        self._flush()
        self._record_in_flight()
        self._save_checkpoint()
        if spec.mode == "mirror" and not self.retry_failed:
            archive_vanished(self)
        if not self.dry_run:
            associate_records(spec, self.client, source, lost=self.lock.lost)

    # --- reading ---------------------------------------------------------------------

    def _retry_open_errors(self, record_keys: Sequence[str]) -> None:
        """Read and push again the rows whose records have open errors."""
        self._read_keys(record_keys, forced=True)

    def _push_keys(self, record_keys: Sequence[str]) -> None:
        """A keyed push: read just these rows and push those that changed."""
        self.counts.total = len(record_keys)
        self._save_progress()
        self._read_keys(sorted(set(record_keys)), forced=False)
        self._flush()
        self._record_in_flight()
        self._save_checkpoint()
        if not self.dry_run:
            assert self.source is not None
            associate_records(
                self.spec, self.client, self.source, lost=self.lock.lost, keys=record_keys
            )

    def _read_keys(self, record_keys: Sequence[str], *, forced: bool) -> None:
        """Read the rows with these record keys, chunk by chunk, and take them."""
        assert self.source is not None
        for start in range(0, len(record_keys), CHUNK_ROWS):
            chunk = record_keys[start : start + CHUNK_ROWS]
            keys = [key_parts(text, self.source.key_width) for text in chunk]
            rows = read_by_keys(self.source, [key for key in keys if key is not None])
            found = {record_key(row.key) for row in rows}
            gone = [text for text in chunk if text not in found]
            self.counts.done += len(gone)
            resolved = [text for text in gone if text in self.open_errors]
            if resolved and not self.dry_run:
                runs.resolve_errors(self.spec.job_id, resolved)  # their rows are gone
            self._take(rows, forced=forced, scanning=False)
            self.handled.update(found)

    def _scan(self, after: Position | None, upto: str | None) -> None:
        """Read the changed rows, chunk by chunk, in position order."""
        assert self.source is not None
        while True:
            rows = read_chunk(self.source, after=after, limit=CHUNK_ROWS, upto=upto)
            if not rows:
                return
            self._take(rows, forced=False, scanning=True)
            after = rows[-1].position
            self._save_checkpoint()
            self._save_progress()
            if len(rows) < CHUNK_ROWS:
                return

    def _take(self, rows: Sequence[SourceRow], *, forced: bool, scanning: bool) -> None:
        assert self.decider is not None
        keys = [record_key(row.key) for row in rows]
        states = runs.load_states(self.spec.job_id, keys)
        for row, text in zip(rows, keys, strict=True):
            if scanning:
                self.scan_position = row.position
            if text in self.handled:
                self.counts.done += 1
                continue
            self.counts.read += 1
            force = forced or text in self.open_errors
            decided = self.decider.decide(row, text, states.get(text), forced=force)
            if decided is not None:
                self.counts.changed += 1
            if decided is None or decided.operation == "skip":
                # Unchanged, or changed but left alone by this mode (create only).
                self.counts.unchanged += 1
                self.counts.done += 1
                continue
            self.pending.append(decided)
            if decided.problem is None:
                self.sendable += 1
            if self.sendable >= self.batch_size or len(self.pending) >= 5 * self.batch_size:
                self._flush()

    # --- sending and recording ---------------------------------------------------------

    def _flush(self) -> None:
        """Send the pending batch; record the one sent before it meanwhile.

        The batch goes out from the sending thread while this thread records
        the previous batch, so HubSpot's answer time and our own bookkeeping
        overlap; batches are still recorded one by one, in the order they
        were read.
        """
        if not self.pending:
            return
        if self.lock.lost.is_set():
            raise EngineError("The job's lock was lost (another run took over); stopping.")
        batch, self.pending, self.sendable = self.pending, [], 0
        if self.dry_run:
            self._preview(batch)
            return
        assert self.checkpoint is not None
        unsafe = [
            c.record_key
            for c in batch
            if c.problem is None and c.operation == "create" and not c.unique_value
        ]
        if unsafe:
            self.checkpoint.announce_creates(unsafe)
        future = self.sending.submit(self._send, batch)
        self._record_in_flight()
        self.in_flight = InFlight(future, self.scan_position, tuple(unsafe))

    def _send(self, batch: Sequence[Candidate]) -> list[PushResult]:
        """Send a batch and write its results back to the source (in the sending thread).

        Only the source database is written here (through its pools); the
        platform database is written by the run's own thread.
        """
        assert self.source is not None
        results = self.sender.send(batch)
        write_results(self.source, results)
        return results

    def _record_in_flight(self) -> None:
        """Wait for the batch on its way (sent and written back), then record it."""
        flight, self.in_flight = self.in_flight, None
        if flight is None:
            return
        assert self.checkpoint is not None
        results = flight.future.result()  # raises what sending raised
        by_id = self.spec.matches_by_record_id
        # A record-id job's created record hashes with its new id (its row now holds it).
        hashes = {
            r.record_key: content_hash(r.properties, r.hubspot_id)
            if by_id and r.hubspot_id != r.match_value
            else r.content_hash
            for r in results
            if r.ok
        }
        self.counts.add(results)
        self.counts.done += len(results)
        open_keys = {r.record_key for r in results if r.ok and r.record_key in self.open_errors}
        runs.record_batch(
            self.run,
            results,
            hashes,
            counts=self.counts,
            stats=self.stats(),
            checkpoint=self.checkpoint.after(flight.position, flight.unsafe),
            resolve=open_keys,
            keep_values=self.spec.direction == "both",
        )
        for key in open_keys:
            self.open_errors.pop(key, None)
        self.open_errors.update({r.record_key: r.error.category for r in results if r.error})
        self._notify()
        hooks.batch_processed(self.spec, self.run, results)

    def _save_checkpoint(self) -> None:
        """Save the position of the last row read, when every row before it is recorded."""
        if self.dry_run or self.in_flight is not None or self.pending:
            return
        assert self.checkpoint is not None
        self.checkpoint.save(self.checkpoint.after(self.scan_position))

    def _settle_interrupted_creates(self) -> None:
        """Creates an interrupted run announced but never recorded become AMBIGUOUS_CREATE errors."""
        assert self.checkpoint is not None
        pending = self.checkpoint.pending_creates
        if not pending or self.dry_run:
            return
        error = RecordError(
            category=AMBIGUOUS_CREATE,
            message="A run was interrupted while creating this record; HubSpot may hold it "
            "already. It is not created again until its failed records are retried.",
        )
        runs.record_errors(self.spec.job_id, self.run, [(k, error, {"key": k}) for k in pending])
        self.checkpoint.forget_creates()

    # --- dry runs and progress ---------------------------------------------------------

    def _preview(self, batch: Sequence[Candidate]) -> None:
        for candidate in batch:
            action, entry = preview_of(candidate)
            if action == "invalid":
                self.counts.failed += 1
            elif action in ("create", "upsert"):
                self.counts.created += 1
            else:
                self.counts.updated += 1
            self.counts.done += 1
            self.add_preview(entry)
        self._save_progress()

    def add_preview(self, entry: dict[str, Any]) -> None:
        """Keep a dry run's preview entry (the first PREVIEW_LIMIT of them)."""
        if len(self.preview) < PREVIEW_LIMIT:
            self.preview.append(entry)

    def _save_progress(self) -> None:
        if self.dry_run:
            self.run.preview = self.preview
        runs.save_progress(self.run, self.counts, self.stats())
        self._notify()

    def _notify(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.run)

    # --- for `mirror` ------------------------------------------------------------------

    def record_archived(self, results: Sequence[PushResult]) -> None:
        """Record a batch of archives (or failures to archive) like any batch."""
        self.counts.add(results)
        runs.record_batch(
            self.run, results, {}, counts=self.counts, stats=self.stats(), checkpoint=None
        )
        self._notify()
        hooks.batch_processed(self.spec, self.run, results)
