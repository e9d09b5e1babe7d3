"""Webhook deliveries: batched, HubSpot's payload, v1 and v3 signatures (REFERENCE §4.2, §4.3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from sync.hubspot.simulator import Simulator

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


@dataclass
class Delivery:
    uri: str
    headers: Message  # read case-insensitively, as HubSpot advises
    body: bytes

    @property
    def events(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A tiny webhook endpoint that records deliveries; answers 500 to the first `failures`."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for_events(self, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                events = [e for d in self.deliveries for e in d.events]
            if len(events) >= count:
                return events
            time.sleep(0.02)
        raise AssertionError(f"expected {count} events, got {len(events)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                failing = state.failures > 0
                state.failures -= 1
                state.deliveries.append(
                    Delivery(f"http://{self.headers['Host']}{self.path}", self.headers, body)
                )
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/hubspot?portal=1"
    yield state
    server.shutdown()
    server.server_close()


def v3_is_valid(delivery: Delivery, secret: str) -> bool:
    """HubSpot's documented v3 check, as a receiver performs it."""
    timestamp = delivery.headers["X-HubSpot-Request-Timestamp"]
    if time.time() * 1000 - int(timestamp) > 300_000:
        return False
    message = ("POST" + delivery.uri).encode() + delivery.body + timestamp.encode()
    expected = base64.b64encode(
        hmac.new(secret.encode(), message, hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(expected, delivery.headers["X-HubSpot-Signature-v3"])


def configure(simulator: Simulator, receiver: Receiver, **extra: Any) -> None:
    settings = {
        "webhook_url": receiver.url,
        "webhook_client_secret": SECRET,
        "webhook_batch_delay_seconds": 0.05,
        **extra,
    }
    simulator.configure(**settings)


def test_changes_are_posted_as_signed_batches(
    hubspot_simulator: Simulator, api: httpx.Client, receiver: Receiver
) -> None:
    configure(hubspot_simulator, receiver)
    created = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "w@x.com"}}).json()
    api.patch(f"/crm/v3/objects/contacts/{created['id']}", json={"properties": {"firstname": "W"}})
    api.delete(f"/crm/v3/objects/contacts/{created['id']}")

    events = receiver.wait_for_events(3)

    assert [e["subscriptionType"] for e in events] == [
        "contact.creation", "contact.propertyChange", "contact.deletion",
    ]  # fmt: skip
    for event in events:
        assert event["objectId"] == int(created["id"])
        assert event["portalId"] == 62515
        assert event["attemptNumber"] == 0
        assert event["changeSource"] == "INTEGRATION"
        assert {"eventId", "subscriptionId", "appId", "occurredAt"} <= set(event)
    assert events[0]["changeFlag"] == "NEW"
    assert (events[1]["propertyName"], events[1]["propertyValue"]) == ("firstname", "W")
    for delivery in receiver.deliveries:
        assert "X-HubSpot-Signature-v3" in delivery.headers  # HubSpot's spelling
        assert v3_is_valid(delivery, SECRET)
        assert not v3_is_valid(delivery, "another-secret")
        assert delivery.headers["X-HubSpot-Signature-Version"] == "v1"
        v1 = hashlib.sha256(SECRET.encode() + delivery.body).hexdigest()
        assert delivery.headers["X-HubSpot-Signature"] == v1


def test_the_v3_signature_matches_the_documented_vector() -> None:
    from sync.hubspot.simulator import signature_v3

    body = b'{"example_field":"example_value"}'

    signature = signature_v3(
        SECRET, "POST", "https://www.example.com/webhook_uri", body, 1700000000000
    )

    assert signature == "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o="


def test_at_most_100_events_per_post(hubspot_simulator: Simulator, receiver: Receiver) -> None:
    configure(hubspot_simulator, receiver, webhook_batch_delay_seconds=0.3)

    hubspot_simulator.create_many("companies", [{"name": f"c{i}"} for i in range(150)])

    events = receiver.wait_for_events(150)
    assert [len(d.events) for d in receiver.deliveries] == [100, 50]
    assert {e["changeSource"] for e in events} == {"CRM_UI"}
    assert {e["subscriptionType"] for e in events} == {"company.creation"}


def test_failed_deliveries_are_retried_with_attempt_numbers(
    hubspot_simulator: Simulator, receiver: Receiver
) -> None:
    configure(hubspot_simulator, receiver, webhook_retry_delay_seconds=0.05)
    receiver.failures = 2

    hubspot_simulator.create("deals", {"dealname": "retry me"})

    events = receiver.wait_for_events(3)
    assert [e["attemptNumber"] for e in events] == [0, 1, 2]
    assert hubspot_simulator.stats()["webhooks"]["failed_attempts"] == 2


def test_custom_objects_use_generic_subscriptions(
    hubspot_simulator: Simulator, receiver: Receiver
) -> None:
    configure(hubspot_simulator, receiver)

    hubspot_simulator.create("p_pets", {"name": "Rex"})

    event = receiver.wait_for_events(1)[0]
    assert event["subscriptionType"] == "object.creation"
    assert event["objectTypeId"] == "2-4001"


def test_subscriptions_filter_what_is_sent(
    hubspot_simulator: Simulator, receiver: Receiver
) -> None:
    configure(hubspot_simulator, receiver, webhook_subscriptions=["contact.propertyChange"])
    contact = hubspot_simulator.create("contacts", {"email": "s@x.com"})

    hubspot_simulator.update("contacts", contact, {"city": "Oslo", "email": "s2@x.com"})

    events = receiver.wait_for_events(2)
    assert sorted(e["propertyName"] for e in events) == ["city", "email"]


def test_duplicate_deliveries_can_be_switched_on(
    hubspot_simulator: Simulator, receiver: Receiver
) -> None:
    configure(hubspot_simulator, receiver, webhook_duplicate_rate=1.0)

    hubspot_simulator.create("deals", {"dealname": "twice"})

    events = receiver.wait_for_events(2)
    assert events[0] == events[1]


def test_nothing_is_sent_without_a_url(hubspot_simulator: Simulator) -> None:
    hubspot_simulator.create("contacts", {"email": "quiet@x.com"})

    assert hubspot_simulator.stats()["webhooks"]["queued"] == 0
