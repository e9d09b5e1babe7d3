"""HubSpot's webhooks: `POST /api/v2/hooks/hubspot/{account}` queues targeted pulls of the objects named.

One rule: nothing in a webhook is believed before its v3 signature and
timestamp check out against the account's client secret (HMAC-SHA256 of
method + URI + body + timestamp, compared in constant time, at most
`SLUICEGATE_SYNC_WEBHOOK_MAX_AGE_SECONDS` old). The answer comes fast: the
events' object ids are grouped per object type and one targeted pull task
(`sync.tasks.pull_objects_task`) per job and batch is queued; the pull
reads each object's current state, so duplicated or out-of-order events
do no harm, and events seen within `SLUICEGATE_SYNC_WEBHOOK_DEDUPE_SECONDS`
(HubSpot's retries, replays) queue nothing new.

The URI signed is the full URL HubSpot called, as this request rebuilds it
(`build_absolute_uri`): behind a proxy, set `SECURE_PROXY_SSL_HEADER` (set
for `X-Forwarded-Proto`) and `USE_X_FORWARDED_HOST` so the scheme and host
are the ones HubSpot used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from config.crypto import DecryptionError
from services.api.errors import ApiError, envelope
from sync.keys import sync_key
from sync.models import Direction, HubSpotAccount, SyncJob
from sync.triggers import redis_client

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE_SECONDS = 300.0
# A timestamp this far ahead of our clock is still believed (clocks drift).
FUTURE_SKEW_SECONDS = 30.0
DEFAULT_DEDUPE_SECONDS = 900.0
MAX_IDS_PER_TASK = 100
SEEN = "webhook:{account}:{event}"
# The escapes HubSpot decodes in the URI before signing it.
_ESCAPES = re.compile("%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)
# subscriptionType prefix → the names a job may give that object type.
OBJECT_TYPES: Mapping[str, tuple[str, ...]] = {
    "contact": ("contacts", "0-1"),
    "company": ("companies", "0-2"),
    "deal": ("deals", "0-3"),
    "ticket": ("tickets", "0-5"),
    "product": ("products", "0-7"),
    "line_item": ("line_items", "0-8"),
}
BY_TYPE_ID = {names[1]: names for names in OBJECT_TYPES.values()}
# Events that say nothing about an object's own properties.
IGNORED_KINDS = frozenset({"associationChange"})


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a webhook: the object type's names, the objects it names, its identity."""

    object_types: tuple[str, ...]
    object_ids: tuple[str, ...]
    identity: str


# --- the view ----------------------------------------------------------------------


@csrf_exempt
def hubspot_webhook(request: HttpRequest, account: str) -> JsonResponse:
    """Verify a HubSpot webhook and queue pulls of the objects it names; answer in JSON.

    200 `{"success": true, "queued": n}`; 404 unknown account (or one without
    a webhook secret); 401 bad or missing signature, stale timestamp; 400 a
    body that is not a JSON array of events; 503 when nothing could be queued.
    """
    try:
        if request.method != "POST":
            raise ApiError(405, f"Method {request.method} is not allowed on this resource.")
        found = HubSpotAccount.objects.filter(name=account).first()
        secret = _secret_of(found, account)
        body = request.body
        verify_request(
            secret,
            method="POST",
            uri=request.build_absolute_uri(),
            body=body,
            signature=request.headers.get("X-HubSpot-Signature-v3", ""),
            timestamp=request.headers.get("X-HubSpot-Request-Timestamp", ""),
        )
        assert found is not None  # _secret_of refused the request otherwise
        queued = receive_events(found, parse_events(body))
    except ApiError as error:
        answer = JsonResponse(envelope(error.status, error.message), status=error.status)
        if error.status == 503:
            answer["Retry-After"] = "30"
        return answer
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = f"The request body is larger than the {limit} bytes allowed."
        return JsonResponse(envelope(413, message), status=413)
    return JsonResponse({"success": True, "queued": queued})


def _secret_of(account: HubSpotAccount | None, name: str) -> str:
    if account is None or not account.has_webhook_secret:
        raise ApiError(404, f"No webhooks are received for HubSpot account '{name}'.")
    try:
        return account.webhook_secret()
    except DecryptionError:
        logger.error("HubSpot account %s: the webhook secret cannot be decrypted", account.name)
        raise ApiError(401, "The webhook's signature cannot be checked.") from None


# --- the signature -----------------------------------------------------------------


def decode_uri(uri: str) -> str:
    """`uri` with the escapes HubSpot decodes before signing (`%3A`, `%2F`, `%3F` …) decoded."""
    return _ESCAPES.sub(lambda match: bytes.fromhex(match.group(1)).decode(), uri)


def expected_signature(secret: str, *, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature: base64 of HMAC-SHA256(secret, method + uri + body + timestamp)."""
    message = method.encode() + decode_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_request(
    secret: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    signature: str,
    timestamp: str,
    now: float | None = None,
) -> None:
    """Raise ApiError(401) unless `signature` signs the request and `timestamp` (ms) is recent."""
    if not signature or not timestamp:
        raise ApiError(401, "The webhook is not signed (X-HubSpot-Signature-v3 is missing).")
    try:
        sent = int(timestamp.strip()) / 1000
    except ValueError:
        raise ApiError(401, "The webhook's timestamp is not a number of milliseconds.") from None
    age = (time.time() if now is None else now) - sent
    max_age = float(
        getattr(settings, "SLUICEGATE_SYNC_WEBHOOK_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS)
    )
    if age > max_age or age < -FUTURE_SKEW_SECONDS:
        raise ApiError(401, "The webhook's timestamp is too old (or in the future).")
    expected = expected_signature(
        secret, method=method, uri=uri, body=body, timestamp=timestamp.strip()
    )
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise ApiError(401, "The webhook's signature does not match.")


# --- the events --------------------------------------------------------------------


def parse_events(body: bytes) -> list[Event]:
    """The events of a webhook body (a JSON array of objects); raise ApiError(400) otherwise.

    Events of unknown kinds, or naming no object, are left out.
    """
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The webhook's body is not JSON.") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError(400, "The webhook's body is not an array of events.")
    events = []
    for item in items:
        event = event_of(item)
        if event is not None:
            events.append(event)
    return events


def event_of(item: Mapping[str, Any]) -> Event | None:
    """One event, or None when it names no object of a type we know."""
    kind = str(item.get("subscriptionType") or item.get("eventType") or "")
    prefix, _, action = kind.partition(".")
    if action in IGNORED_KINDS:
        return None
    if prefix == "object":
        type_id = str(item.get("objectTypeId") or "")
        types = BY_TYPE_ID.get(type_id, (type_id,) if type_id else ())
    else:
        types = OBJECT_TYPES.get(prefix, ())
    ids = [item.get("objectId"), item.get("primaryObjectId"), item.get("newObjectId")]
    merged = item.get("mergedObjectIds")
    if isinstance(merged, list):
        ids.extend(merged)
    found = tuple(dict.fromkeys(str(i) for i in ids if _is_id(i)))
    if not types or not found:
        return None
    # HubSpot's retries repeat the event but count attemptNumber up: leave it out.
    identity = {key: value for key, value in item.items() if key != "attemptNumber"}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return Event(object_types=types, object_ids=found, identity=digest)


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.isdigit()


def receive_events(account: HubSpotAccount, events: Sequence[Event]) -> int:
    """Queue the targeted pulls `events` call for; return how many tasks were queued.

    Events seen before (within the dedupe window) are dropped first; when
    queueing fails they are forgotten again (so HubSpot's retry is not
    dropped) and ApiError(503) is raised.
    """
    fresh, marks = _unseen(account, events)
    if not fresh or not account.active:
        return 0
    ids_by_type: dict[str, dict[str, None]] = {}
    for event in fresh:
        for name in event.object_types:
            ids_by_type.setdefault(name, {}).update(dict.fromkeys(event.object_ids))
    jobs = SyncJob.objects.filter(
        account=account,
        enabled=True,
        direction__in=(Direction.PULL, Direction.BOTH),
        object_type__in=list(ids_by_type),
    ).values_list("pk", "object_type")
    try:
        return queue_pulls([(pk, list(ids_by_type[kind])) for pk, kind in jobs.order_by("pk")])
    except Exception as error:
        logger.warning("webhook of account %s: cannot queue pulls: %s", account.name, error)
        _forget(marks)
        raise ApiError(503, "The webhook cannot be handled now; send it again later.") from None


def queue_pulls(pulls: Sequence[tuple[int, Sequence[str]]]) -> int:
    """Queue `pull_objects_task(job, ids)` per job, at most MAX_IDS_PER_TASK ids each; return how many."""
    from sync.tasks import pull_objects_task

    queued = 0
    for job_id, object_ids in pulls:
        for start in range(0, len(object_ids), MAX_IDS_PER_TASK):
            chunk = list(object_ids[start : start + MAX_IDS_PER_TASK])
            pull_objects_task.apply_async((job_id, chunk))
            queued += 1
    return queued


def _unseen(account: HubSpotAccount, events: Sequence[Event]) -> tuple[list[Event], list[str]]:
    """The events not seen within the dedupe window, and the marks set for them.

    With Redis down every event counts as new (a pull twice does no harm).
    """
    window = int(
        float(getattr(settings, "SLUICEGATE_SYNC_WEBHOOK_DEDUPE_SECONDS", DEFAULT_DEDUPE_SECONDS))
    )
    unique = list({event.identity: event for event in events}.values())
    if not unique or window <= 0:
        return unique, []
    keys = [sync_key(SEEN, account=account.pk, event=event.identity) for event in unique]
    try:
        pipe = redis_client().pipeline(transaction=False)
        for key in keys:
            pipe.set(key, "1", nx=True, ex=window)
        answers = pipe.execute()
    except Exception as error:
        logger.warning("webhook of account %s: cannot dedupe events: %s", account.name, error)
        return unique, []
    fresh = [event for event, new in zip(unique, answers, strict=True) if new]
    return fresh, [key for key, new in zip(keys, answers, strict=True) if new]


def _forget(marks: Sequence[str]) -> None:
    if not marks:
        return
    try:
        redis_client().delete(*marks)
    except Exception:
        logger.warning("cannot forget webhook events marked as seen", exc_info=True)
