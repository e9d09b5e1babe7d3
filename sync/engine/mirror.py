"""Mirror mode's second half: archive in HubSpot the records whose source rows are gone.

One rule: deletions are counted before any is made, and a run that would
archive more records than the job's `max_deletions` archives none and
fails with a message saying so (a truncated table or a wrong filter must
not empty the CRM). Only records this job pushed (they have a record state
with a HubSpot id) are ever archived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync.engine.payload import key_parts
from sync.engine.source import EngineError, existing_keys
from sync.engine.types import PushResult
from sync.models import SyncRecordState

if TYPE_CHECKING:
    from sync.engine.push import PushRun

STATE_CHUNK = 1000


def vanished(push: PushRun, limit: int) -> list[tuple[str, tuple[str, ...], str]]:
    """(record key, key, HubSpot id) of pushed records whose rows are gone; at most `limit`."""
    source = push.source
    assert source is not None
    found: list[tuple[str, tuple[str, ...], str]] = []
    last_pk = 0
    while len(found) < limit:
        chunk = list(
            SyncRecordState.objects.filter(job_id=push.spec.job_id, pk__gt=last_pk)
            .exclude(hubspot_id="")
            .order_by("pk")
            .values_list("pk", "record_key", "hubspot_id")[:STATE_CHUNK]
        )
        if not chunk:
            break
        last_pk = chunk[-1][0]
        parsed = [
            (text, parts, hubspot_id)
            for _, text, hubspot_id in chunk
            if (parts := key_parts(text, source.key_width)) is not None
        ]
        present = existing_keys(source, [parts for _, parts, _ in parsed])
        found.extend(item for item in parsed if item[1] not in present)
    return found[:limit]


def archive_vanished(push: PushRun) -> None:
    """Archive what vanished from the source, or fail the run when it is over the maximum.

    Raises EngineError (nothing archived) when more than `max_deletions` records vanished.
    """
    maximum = push.spec.max_deletions
    gone = vanished(push, maximum + 1)
    if len(gone) > maximum:
        raise EngineError(
            f"Mirror: more than {maximum} records vanished from the source, over the job's "
            "maximum deletions per run; nothing was archived. Check the source table, or raise "
            "the maximum and run again."
        )
    if not gone:
        return
    if push.dry_run:
        for text, _, hubspot_id in gone:
            push.counts.deleted += 1
            push.add_preview({"action": "archive", "key": text, "id": hubspot_id})
        return
    size = push.batch_size
    for start in range(0, len(gone), size):
        chunk = gone[start : start + size]
        answer = push.client.batch_archive(push.spec.object_type, [item[2] for item in chunk])
        results = [
            PushResult(
                key=key,
                record_key=text,
                outcome="archived" if outcome.ok else "failed",
                hubspot_id=hubspot_id,
                error=outcome.error,
            )
            for (text, key, hubspot_id), outcome in zip(chunk, answer.outcomes, strict=True)
        ]
        push.record_archived(results)
