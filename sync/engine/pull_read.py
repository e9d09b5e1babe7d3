"""Reading HubSpot for a pull: the object list page by page, or what changed since a moment.

One rule: a reader hands out each record at most once per modification
(by id and `lastmodifieddate`), in an order a checkpoint can follow: list
pages in cursor order, changes in ascending modification time. Search
answers at most `search_result_cap` (10,000) results per query, so before
a query's offset would pass it the reader starts a new query from the
last modification time seen (`GTE`), dropping the records it already
handed out; when a whole window shares one modification time, it sweeps
that moment by id (`EQ` time, `GT` id, sorted by id) and goes on after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from queue import Full, Queue
from typing import Any, TypeVar

from sync.hubspot.client import HubSpotClient
from sync.hubspot.types import Filter, HubSpotObject, ObjectPage, SearchRequest, Sort
from sync.transforms.values import TransformError, as_utc, epoch_ms, read_moment

T = TypeVar("T")
LIST_PAGE = 100
SEARCH_PAGE = 200
SEARCH_CAP = 10_000


def moment_ms(value: object) -> int | None:
    """A timestamp (datetime, ISO text or epoch ms) in epoch ms; None for a bare date or junk."""
    try:
        moment = read_moment(value) if isinstance(value, str) else value
    except TransformError:
        return None
    return epoch_ms(as_utc(moment)) if isinstance(moment, datetime) else None


def modified_ms(record: HubSpotObject, prop: str) -> int:
    """When the record last changed, in epoch ms (0 when HubSpot does not say)."""
    for value in (record.properties.get(prop), record.updated_at):
        found = moment_ms(value) if value else None
        if found is not None:
            return found
    return 0


def prefetched(items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """The items of `items`, the next ones fetched in a thread while the caller handles one.

    Pages then arrive at the rate limit's pace while the pages before them
    are written; an error of the fetching thread is raised here, in order.
    """
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def fetch() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as error:  # handed to the caller's thread
            put((False, error))

    thread = threading.Thread(target=fetch, name="sync-pull-fetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = queue.get()
            if ok:
                yield item
            elif item is None:
                return
            else:
                raise item
    finally:
        stop.set()
        thread.join(timeout=30)


@dataclass(frozen=True, slots=True)
class ListPage:
    """A page of the object list and the cursor of the next one (None: the last)."""

    records: tuple[HubSpotObject, ...]
    after: str | None


def list_pages(
    client: HubSpotClient,
    object_type: str,
    properties: Sequence[str],
    *,
    after: str | None = None,
    archived: bool = False,
) -> Iterator[ListPage]:
    """The object list from cursor `after` on (100 records a request)."""
    while True:
        page = client.list_objects(
            object_type, properties=properties, archived=archived, limit=LIST_PAGE, after=after
        )
        yield ListPage(page.results, page.after)
        if page.after is None:
            return
        after = page.after


@dataclass(slots=True)
class ChangeReader:
    """The records modified at or after `since` (epoch ms), oldest first, in search pages.

    `seen` maps record ids to the modification time they were handed out
    with (pre-filled from the checkpoint: the ids already applied at its
    moment); a record comes out again only with a later time. After each
    page, `moment` and `at_moment` say where a checkpoint stands: the last
    modification time handed out and the ids handed out with it.
    """

    client: HubSpotClient
    object_type: str
    prop: str
    properties: tuple[str, ...]
    since: int
    seen: dict[str, int] = field(default_factory=dict)
    cap: int = SEARCH_CAP
    page_size: int = SEARCH_PAGE
    moment: int = 0
    total: int | None = None
    at_moment: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.moment = max(self.since, 0)
        self.at_moment = {key for key, ms in self.seen.items() if ms == self.moment}

    def points(self) -> Iterator[tuple[list[HubSpotObject], dict[str, Any]]]:
        """Each page with the checkpoint that stands after it (`{"since": ms, "ids": [...]}`)."""
        for records in self.pages():
            yield records, {"since": self.moment, "ids": sorted(self.at_moment)}

    def pages(self) -> Iterator[list[HubSpotObject]]:
        lower, after = self.since, 0
        while True:
            page = self._search(((Filter(self.prop, "GTE", str(lower)),),), Sort(self.prop), after)
            if self.total is None:
                self.total = page.total
            yield self._fresh(page.results)
            if page.after is None:
                return
            after = int(page.after)
            if after + self.page_size <= self.cap:
                continue
            last = modified_ms(page.results[-1], self.prop) if page.results else lower
            if last > lower:
                lower, after = last, 0
                continue
            # The whole window shares one moment: sweep it by id, then go on after it.
            yield from self._sweep(lower)
            lower, after = lower + 1, 0

    def _sweep(self, moment: int) -> Iterator[list[HubSpotObject]]:
        last_id, after = "0", 0
        while True:
            group = (
                Filter(self.prop, "EQ", str(moment)),
                Filter("hs_object_id", "GT", last_id),
            )
            page = self._search((group,), Sort("hs_object_id"), after)
            yield self._fresh(page.results)
            if page.after is None:
                return
            after = int(page.after)
            if after + self.page_size > self.cap and page.results:
                last_id, after = page.results[-1].id, 0

    def _search(self, groups: tuple[tuple[Filter, ...], ...], sort: Sort, after: int) -> ObjectPage:
        request = SearchRequest(
            filter_groups=groups,
            sorts=(sort,),
            properties=self.properties,
            limit=self.page_size,
            after=str(after) if after else None,
        )
        return self.client.search(self.object_type, request)

    def _fresh(self, records: Sequence[HubSpotObject]) -> list[HubSpotObject]:
        fresh: list[HubSpotObject] = []
        for record in records:
            ms = modified_ms(record, self.prop)
            if self.seen.get(record.id, -1) >= ms:
                continue
            self.seen[record.id] = ms
            if ms > self.moment:
                self.moment, self.at_moment = ms, {record.id}
            elif ms == self.moment:
                self.at_moment.add(record.id)
            fresh.append(record)
        return fresh
