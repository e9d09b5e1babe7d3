"""`manage.py run_sync JOB [--dry-run] [--retry-failed]`: run a sync job in the foreground.

One rule: the command only parses options, calls `sync.engine.jobs.run_job`
and shows its progress (on stderr, so stdout carries only the summary); it
exits non-zero when the run failed or could not start.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from sync.engine.jobs import JobNotRunnable, find_job, run_job
from sync.models import RunStatus, SyncRun

BAR_WIDTH = 30


class ProgressBar:
    """A one-line text progress bar, redrawn at most a few times a second."""

    def __init__(self, stream: OutputWrapper, *, interval: float = 0.2) -> None:
        self.stream = stream
        self.interval = interval
        self.last = 0.0
        self.drawn = False

    def __call__(self, run: SyncRun) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        self.draw(run)

    def draw(self, run: SyncRun) -> None:
        total = run.progress_total or 0
        done = run.progress_done
        share = min(done / total, 1.0) if total else 0.0
        filled = int(share * BAR_WIDTH)
        rate = run.records_per_second or 0.0
        line = (
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} "
            f"sent {run.records_created + run.records_updated} failed {run.records_failed} "
            f"requests {run.requests_sent} 429s {run.rate_limited} {rate:.0f} rec/s"
        )
        self.stream.write(line, style_func=str, ending="")  # not styled as an error
        self.stream.flush()
        self.drawn = True

    def close(self, run: SyncRun) -> None:
        self.draw(run)
        self.stream.write("", style_func=str)
        self.stream.flush()


class Command(BaseCommand):
    help = "Run a sync job now, in the foreground, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job", help="the job's name (or id)")
        parser.add_argument(
            "--dry-run", action="store_true", help="compute what would be sent; send nothing"
        )
        parser.add_argument(
            "--retry-failed", action="store_true", help="push only the records that failed before"
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="pull every HubSpot record, not only those changed since the last pull",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="do not draw the progress bar"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        job = find_job(options["job"])
        if job is None:
            raise CommandError(f"There is no sync job '{options['job']}'.")
        bar = None if options["no_progress"] else ProgressBar(self.stderr)
        try:
            run = run_job(
                job.pk,
                dry_run=options["dry_run"],
                retry_failed=options["retry_failed"],
                full=options["full"],
                on_progress=bar,
            )
        except JobNotRunnable as error:
            raise CommandError(str(error)) from error
        if bar is not None:
            bar.close(run)
        elapsed = run.elapsed_seconds or 0.0
        self.stdout.write(
            f"Run #{run.pk} of '{job.name}': {run.status}{' (dry run)' if run.dry_run else ''} "
            f"in {elapsed:.1f}s: read {run.records_read}, changed {run.records_changed}, "
            f"created {run.records_created}, updated {run.records_updated}, "
            f"unchanged {run.records_unchanged}, failed {run.records_failed}, "
            f"deleted {run.records_deleted}; {run.requests_sent} requests, "
            f"{run.rate_limited} 429s absorbed."
        )
        if run.error:
            self.stdout.write(run.error)
        if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise CommandError(f"The run {run.status}.")
