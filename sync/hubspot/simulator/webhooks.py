"""Webhooks: HubSpot's signed POSTs of change events to a configured URL.

One rule: events are queued as records change and sent by one background
thread, batched (at most 100 per POST, after `webhook_batch_delay_seconds`
of gathering), signed exactly as HubSpot signs them (v1 and v3 headers, see
`signature_v3`), retried on failure with `attemptNumber` counting up, and
optionally delivered twice. With no `webhook_url` nothing is queued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import threading
import zlib
from collections.abc import Callable
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from .catalog import ObjectType
from .clock import Clock
from .config import SimulatorConfig

MAX_EVENTS_PER_POST = 100
_ESCAPES = re.compile("%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


def decode_uri(uri: str) -> str:
    """Decode the URL escapes HubSpot's v3 signature decodes (`%3A`, `%2F` …) in `uri`."""
    return _ESCAPES.sub(lambda match: bytes.fromhex(match.group(1)).decode(), uri)


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """HubSpot's v3 signature: base64 HMAC-SHA256 of method + uri + body + timestamp."""
    message = method.encode() + decode_uri(uri).encode() + body + str(timestamp_ms).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_v1(secret: str, body: bytes) -> str:
    """HubSpot's v1 signature: hex SHA-256 of client secret + body."""
    return hashlib.sha256(secret.encode() + body).hexdigest()


def subscription_id(subscription_type: str) -> int:
    """A stable id per subscription type, as an app's subscription would have."""
    return 100_000 + zlib.crc32(subscription_type.encode()) % 900_000


class WebhookEmitter:
    """Queues change events and delivers them in signed batches; thread-safe."""

    def __init__(self, clock: Clock, config: Callable[[], SimulatorConfig]) -> None:
        self._clock = clock
        self._config = config
        self._condition = threading.Condition()
        self._pending: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._event_ids = 0
        self._random = random.Random(0)  # noqa: S311 (seeded for reproducible tests)
        self._stats = {"posts": 0, "events_sent": 0, "failed_attempts": 0, "events_dropped": 0}

    def start(self) -> None:
        """Start the delivery thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="hubspot-sim-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering; events still queued are dropped."""
        self._stopping.set()
        with self._condition:
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def reset(self, seed: int) -> None:
        """Forget queued events and counts."""
        with self._condition:
            self._pending.clear()
            self._event_ids = 0
            self._random = random.Random(seed)  # noqa: S311 (seeded for reproducible tests)
            self._stats = dict.fromkeys(self._stats, 0)

    def stats(self) -> dict[str, int]:
        with self._condition:
            return {**self._stats, "queued": len(self._pending)}

    def emit(
        self, object_type: ObjectType, kind: str, object_id: int, *, source: str, **fields: Any
    ) -> None:
        """Queue one event (`kind`: creation, deletion, propertyChange, merge …)."""
        config = self._config()
        if not config.webhook_url:
            return
        subscription_type = f"{object_type.webhook_prefix}.{kind}"
        if config.webhook_subscriptions and subscription_type not in config.webhook_subscriptions:
            return
        event: dict[str, Any] = {
            "subscriptionId": subscription_id(subscription_type),
            "portalId": config.portal_id,
            "appId": config.app_id,
            "occurredAt": int(self._clock.now() * 1000),
            "subscriptionType": subscription_type,
            "attemptNumber": 0,
            "objectId": object_id,
            "changeSource": source,
            "sourceId": f"{config.app_id}" if source == "INTEGRATION" else "userId:1",
        }
        if object_type.webhook_prefix == "object":
            event["objectTypeId"] = object_type.type_id
        event.update(fields)
        with self._condition:
            self._event_ids += 1
            event = {"eventId": self._event_ids, **event}
            self._pending.append(event)
            self._condition.notify_all()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._condition:
                while not self._pending and not self._stopping.is_set():
                    self._condition.wait()
            # Gather what arrives during the batching delay into the same POSTs.
            if self._stopping.wait(self._config().webhook_batch_delay_seconds):
                return
            with self._condition:
                events, self._pending = self._pending, []
            for start in range(0, len(events), MAX_EVENTS_PER_POST):
                self._deliver(events[start : start + MAX_EVENTS_PER_POST])

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        config = self._config()
        for attempt in range(config.webhook_max_retries + 1):
            if self._stopping.is_set():
                return
            batch = [{**event, "attemptNumber": attempt} for event in events]
            if self._post(batch, config):
                with self._condition:
                    self._stats["posts"] += 1
                    self._stats["events_sent"] += len(batch)
                    duplicate = self._random.random() < config.webhook_duplicate_rate
                if duplicate and self._post(batch, config):
                    with self._condition:
                        self._stats["posts"] += 1
                return
            with self._condition:
                self._stats["failed_attempts"] += 1
            if self._stopping.wait(config.webhook_retry_delay_seconds):
                return
        with self._condition:
            self._stats["events_dropped"] += len(events)

    def _post(self, batch: list[dict[str, Any]], config: SimulatorConfig) -> bool:
        body = json.dumps(batch).encode()
        timestamp = int(self._clock.now() * 1000)
        secret = config.webhook_client_secret
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon",
            "X-HubSpot-Signature": signature_v1(secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature-v3": signature_v3(
                secret, "POST", config.webhook_url, body, timestamp
            ),
            "X-HubSpot-Request-Timestamp": str(timestamp),
        }
        # http.client rather than urllib: it keeps the headers' spelling as HubSpot sends it.
        target = urlsplit(config.webhook_url)
        connection_class = HTTPSConnection if target.scheme == "https" else HTTPConnection
        path = target.path or "/"
        if target.query:
            path = f"{path}?{target.query}"
        try:
            connection = connection_class(
                target.hostname or "", target.port, timeout=config.webhook_timeout_seconds
            )
            try:
                connection.request("POST", path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                return 200 <= answer.status < 300
            finally:
                connection.close()
        except (OSError, HTTPException, ValueError):
            return False
