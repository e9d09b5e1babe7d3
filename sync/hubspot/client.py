"""The HubSpot CRM client: typed methods for objects, batches, search, properties and associations.

One rule: a call returns what became of every record it was given, in the
given order (`BatchResult.outcomes`); a record HubSpot refuses becomes that
record's `RecordError` and never fails its batch-mates. Exceptions are kept
for calls that fail as a whole (see `errors`).

One client per HubSpot account: one `httpx.Client` (pooled connections,
explicit timeouts, no redirects, `User-Agent: Sluicegate/<version>`, the
bearer token), and one rate limiter shared through Redis by every process
using the account (see `ratelimit`); retries and backoff are `transport`'s.
Paths are built from the account's API version: `v3` gives
`/crm/v3/objects/{type}`, a date version such as `2026-03` gives
`/crm/objects/2026-03/{type}`.

Batch writes accept any number of inputs and send them in chunks of at most
100 (the account's `batch_size`). Inputs naming a record already named
earlier in the call are not sent (`DUPLICATE_INPUT`: HubSpot would refuse
the whole batch). Every write input carries an `objectWriteTraceId` (the
caller's, or a fresh one), so HubSpot answers a partial failure with 207;
should it still refuse a whole batch of several inputs with 400 or 409, the
batch is split in halves and each half sent again, down to single inputs,
so the refusal lands on the records that caused it; a refusal of the
request itself (a non-unique `idProperty`, too many inputs) raises
`RequestRejected` instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import redis

from sync.hubspot.associations import associations_create, associations_read
from sync.hubspot.batch import ChunkSender, Key, find_duplicates, match_answer, new_trace_id, normal
from sync.hubspot.errors import rejected
from sync.hubspot.ratelimit import RateLimiter, redis_connect
from sync.hubspot.settings import AccountSettings
from sync.hubspot.transport import ClientStats, Transport
from sync.hubspot.types import (
    Association,
    AssociationInput,
    AssociationSet,
    BatchResult,
    CreateInput,
    HubSpotObject,
    ObjectPage,
    PropertyCreate,
    PropertyDefinition,
    RecordOutcome,
    SearchRequest,
    UpdateInput,
    UpsertInput,
)

InputT = TypeVar("InputT")
Operation = Literal["read", "create", "update", "upsert"]


def _paging_after(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    after = ((body.get("paging") or {}).get("next") or {}).get("after")
    return None if after in (None, "") else str(after)


class HubSpotClient:
    """The client of one HubSpot account. Thread-safe; close it (or use `with`) when done.

    `redis` is the limiter's Redis (a client or a URL); `clock` and `sleep`
    replace the limiter's clock and every wait, for tests.
    """

    def __init__(
        self,
        settings: AccountSettings,
        *,
        redis_client: redis.Redis | str,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        connection = redis_connect(redis_client) if isinstance(redis_client, str) else redis_client
        self.limiter = RateLimiter(connection, settings, clock=clock, sleep=sleep)
        self.transport = Transport(settings, self.limiter, sleep=sleep, rng=rng)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> ClientStats:
        """Requests sent, 429s absorbed, retries and seconds waited by this client so far."""
        return self.transport.stats()

    # --- paths ----------------------------------------------------------------------

    def objects_path(self, object_type: str) -> str:
        version = self.settings.api_version
        name = quote(object_type, safe="")
        return f"/crm/v3/objects/{name}" if version == "v3" else f"/crm/objects/{version}/{name}"

    def properties_path(self, object_type: str) -> str:
        version = self.settings.api_version
        name = quote(object_type, safe="")
        return (
            f"/crm/v3/properties/{name}" if version == "v3" else f"/crm/properties/{version}/{name}"
        )

    def associations_path(self, from_type: str, to_type: str) -> str:
        version = self.settings.api_version
        pair = f"{quote(from_type, safe='')}/{quote(to_type, safe='')}"
        return (
            f"/crm/v4/associations/{pair}"
            if version == "v3"
            else f"/crm/associations/{version}/{pair}"
        )

    # --- single records and pages ---------------------------------------------------

    def test_connection(self) -> None:
        """Make the cheapest authenticated call; raises the HubSpotError that explains a failure."""
        path = self.objects_path("contacts")
        answer = self.transport.request("GET", path, params={"limit": "1"})
        if answer.status != 200:
            raise rejected("GET", path, answer.status, answer.body)

    def list_objects(
        self,
        object_type: str,
        *,
        properties: Sequence[str] = (),
        archived: bool = False,
        limit: int = 100,
        after: str | None = None,
    ) -> ObjectPage:
        """One page of records (`archived=True`: only archived ones, as HubSpot does)."""
        path = self.objects_path(object_type)
        params = {"limit": str(limit), "archived": "true" if archived else "false"}
        if properties:
            params["properties"] = ",".join(properties)
        if after is not None:
            params["after"] = after
        answer = self.transport.request("GET", path, params=params)
        if answer.status != 200:
            raise rejected("GET", path, answer.status, answer.body)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        results = tuple(HubSpotObject.of(item) for item in body.get("results") or ())
        return ObjectPage(results=results, after=_paging_after(body))

    def iter_objects(
        self, object_type: str, *, properties: Sequence[str] = (), archived: bool = False
    ) -> Iterator[HubSpotObject]:
        """Every record of the type, page after page (100 a request)."""
        after: str | None = None
        while True:
            page = self.list_objects(
                object_type, properties=properties, archived=archived, after=after
            )
            yield from page.results
            if page.after is None:
                return
            after = page.after

    def get_object(
        self,
        object_type: str,
        object_id: str,
        *,
        id_property: str = "",
        properties: Sequence[str] = (),
        archived: bool = False,
    ) -> HubSpotObject | None:
        """One record by id (or by a unique property's value); None when HubSpot has none."""
        # `@` and `+` are legal in a path segment: emails go as they are.
        path = f"{self.objects_path(object_type)}/{quote(object_id, safe='@+')}"
        params = {"archived": "true" if archived else "false"}
        if id_property:
            params["idProperty"] = id_property
        if properties:
            params["properties"] = ",".join(properties)
        answer = self.transport.request("GET", path, params=params)
        if answer.status == 404:
            return None
        if answer.status != 200 or not isinstance(answer.body, Mapping):
            raise rejected("GET", path, answer.status, answer.body)
        return HubSpotObject.of(answer.body)

    def search(self, object_type: str, request: SearchRequest) -> ObjectPage:
        """One page of a search (counted against the account's search limit)."""
        path = f"{self.objects_path(object_type)}/search"
        answer = self.transport.request("POST", path, json=request.to_json(), kind="search")
        if answer.status != 200:
            raise rejected("POST", path, answer.status, answer.body)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        return ObjectPage(
            results=tuple(HubSpotObject.of(item) for item in body.get("results") or ()),
            after=_paging_after(body),
            total=int(body["total"]) if "total" in body else None,
        )

    # --- batches of records ---------------------------------------------------------

    def batch_read(
        self,
        object_type: str,
        ids: Sequence[str],
        *,
        id_property: str = "",
        properties: Sequence[str] = (),
        archived: bool = False,
    ) -> BatchResult[str, HubSpotObject]:
        """Records by id (or by `id_property` values); unknown ones fail as OBJECT_NOT_FOUND."""
        keys = [
            Key(unique_property=id_property, unique_value=normal(item))
            if id_property
            else Key(id=item)
            for item in ids
        ]
        extra: dict[str, Any] = {"properties": list(properties)}
        if id_property:
            extra["idProperty"] = id_property
        payloads = [{"id": item} for item in ids]
        return self._batch(
            object_type,
            "read",
            ids,
            keys,
            payloads,
            extra=extra,
            params={"archived": "true" if archived else "false"},
        )

    def batch_create(
        self, object_type: str, inputs: Sequence[CreateInput]
    ) -> BatchResult[CreateInput, HubSpotObject]:
        """Create records. Not retried after ambiguous failures (see `transport`)."""
        traces = [item.trace_id or new_trace_id() for item in inputs]
        payloads = [
            {
                "properties": dict(item.properties),
                "associations": [
                    {"to": {"id": link.to_id}, "types": [kind.to_json() for kind in link.types]}
                    for link in item.associations
                ],
                "objectWriteTraceId": trace,
            }
            for item, trace in zip(inputs, traces, strict=True)
        ]
        keys = [Key(trace_id=trace) for trace in traces]
        written = [item.properties for item in inputs]
        return self._batch(object_type, "create", inputs, keys, payloads, written=written)

    def batch_update(
        self, object_type: str, inputs: Sequence[UpdateInput]
    ) -> BatchResult[UpdateInput, HubSpotObject]:
        """Update records by id or unique property; unknown ones fail as OBJECT_NOT_FOUND."""
        traces = [item.trace_id or new_trace_id() for item in inputs]
        payloads: list[dict[str, Any]] = []
        keys: list[Key] = []
        for item, trace in zip(inputs, traces, strict=True):
            payload: dict[str, Any] = {
                "id": item.id,
                "properties": dict(item.properties),
                "objectWriteTraceId": trace,
            }
            if item.id_property:
                payload["idProperty"] = item.id_property
                keys.append(
                    Key(trace, unique_property=item.id_property, unique_value=normal(item.id))
                )
            else:
                keys.append(Key(trace, id=item.id))
            payloads.append(payload)
        return self._batch(object_type, "update", inputs, keys, payloads)

    def batch_upsert(
        self, object_type: str, inputs: Sequence[UpsertInput]
    ) -> BatchResult[UpsertInput, HubSpotObject]:
        """Create or update records by a unique property; each result says whether it is `new`."""
        traces = [item.trace_id or new_trace_id() for item in inputs]
        payloads = [
            {
                "id": item.id,
                "idProperty": item.id_property,
                "properties": dict(item.properties),
                "objectWriteTraceId": trace,
            }
            for item, trace in zip(inputs, traces, strict=True)
        ]
        keys = [
            Key(trace, unique_property=item.id_property, unique_value=normal(item.id))
            for item, trace in zip(inputs, traces, strict=True)
        ]
        return self._batch(object_type, "upsert", inputs, keys, payloads)

    def batch_archive(self, object_type: str, ids: Sequence[str]) -> BatchResult[str, None]:
        """Archive (soft-delete) records by id; archiving an archived or unknown id is no error."""
        keys = [Key(id=item) for item in ids]
        outcomes: dict[int, RecordOutcome[str, None]] = {
            i: RecordOutcome(ids[i], error=error) for i, error in find_duplicates(keys).items()
        }
        todo = [i for i in range(len(ids)) if i not in outcomes]
        path = f"{self.objects_path(object_type)}/batch/archive"
        requests = 0
        for start in range(0, len(todo), self.settings.batch_size):
            chunk = todo[start : start + self.settings.batch_size]
            answer = self.transport.request(
                "POST", path, json={"inputs": [{"id": ids[i]} for i in chunk]}
            )
            requests += 1
            if answer.status not in (200, 204, 207):
                raise rejected("POST", path, answer.status, answer.body)
            matched = match_answer([ids[i] for i in chunk], [keys[i] for i in chunk], answer.body)
            for i, outcome in zip(chunk, matched, strict=True):
                failed = (
                    outcome.error
                    if outcome.error and outcome.error.category != "NO_RESULT"
                    else None
                )
                outcomes[i] = RecordOutcome(ids[i], error=failed)
        return BatchResult(tuple(outcomes[i] for i in range(len(ids))), requests)

    def _batch(
        self,
        object_type: str,
        operation: Operation,
        inputs: Sequence[InputT],
        keys: Sequence[Key],
        payloads: Sequence[Mapping[str, Any]],
        *,
        extra: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        written: Sequence[Mapping[str, str]] | None = None,
    ) -> BatchResult[InputT, HubSpotObject]:
        """Send inputs in chunks; return every input's outcome in order."""
        outcomes: dict[int, RecordOutcome[InputT, HubSpotObject]] = {
            i: RecordOutcome(inputs[i], error=error) for i, error in find_duplicates(keys).items()
        }
        todo = [i for i in range(len(inputs)) if i not in outcomes]
        sender = ChunkSender(
            self.transport,
            f"{self.objects_path(object_type)}/batch/{operation}",
            inputs,
            keys,
            payloads,
            extra=extra or {},
            params=params,
            written=written,
            idempotent=operation != "create",
            outcomes=outcomes,
        )
        size = self.settings.batch_size
        for start in range(0, len(todo), size):
            sender.send(todo[start : start + size])
        return BatchResult(tuple(outcomes[i] for i in range(len(inputs))), sender.requests)

    # --- properties -----------------------------------------------------------------

    def list_properties(
        self, object_type: str, *, archived: bool = False
    ) -> tuple[PropertyDefinition, ...]:
        """Every property definition of an object type."""
        path = self.properties_path(object_type)
        answer = self.transport.request(
            "GET", path, params={"archived": "true" if archived else "false"}
        )
        if answer.status != 200:
            raise rejected("GET", path, answer.status, answer.body)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        return tuple(PropertyDefinition.of(item) for item in body.get("results") or ())

    def create_property(self, object_type: str, definition: PropertyCreate) -> PropertyDefinition:
        """Create a property; raises RequestRejected (409 when the name is taken, 400 when invalid).

        Retried like any idempotent call: HubSpot refuses a second property of the same name.
        """
        path = self.properties_path(object_type)
        answer = self.transport.request("POST", path, json=definition.to_json())
        if answer.status not in (200, 201) or not isinstance(answer.body, Mapping):
            raise rejected("POST", path, answer.status, answer.body)
        return PropertyDefinition.of(answer.body)

    # --- associations (v4) ----------------------------------------------------------

    def create_associations(
        self, from_type: str, to_type: str, inputs: Sequence[AssociationInput]
    ) -> BatchResult[AssociationInput, Association]:
        """Associate records (labelled when an input has types, else HubSpot's default type)."""
        return associations_create(
            self.transport, self.associations_path(from_type, to_type), inputs
        )

    def read_associations(
        self, from_type: str, to_type: str, ids: Sequence[str]
    ) -> BatchResult[str, AssociationSet]:
        """Every association of each record to the other type (a record with none: empty set)."""
        return associations_read(self.transport, self.associations_path(from_type, to_type), ids)
