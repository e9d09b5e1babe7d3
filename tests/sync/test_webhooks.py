"""HubSpot webhooks: the v3 signature and timestamp checks, and the targeted pulls they queue.

Queued pulls are checked through the real broker: a webhook leaves task
messages in Redis (`queued_tasks`), which the end-to-end tests run as a
worker would (`work_off`).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client

from config.celery import app as celery_app
from services.api.errors import ApiError
from sync.hubspot.simulator.webhooks import signature_v3
from sync.keys import sync_key
from sync.models import HubSpotAccount
from sync.webhooks import expected_signature, verify_request
from tests.queues import TEST_QUEUE
from tests.services.scripting.test_background import broker, queued_tasks
from tests.sync.engine.conftest import World, source_database, world

__all__ = ["broker", "source_database", "world"]  # fixtures used here

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URL = "/api/v2/hooks/hubspot/sim"
PULL_TASK = "sync.tasks.pull_objects_task"


@pytest.fixture(autouse=True)
def _no_seen_events() -> Iterator[None]:
    """Each test starts with no webhook event remembered as seen."""
    client = redis.Redis.from_url(str(settings.REDIS_URL))
    for key in client.scan_iter(match=sync_key("webhook:*")):
        client.delete(key)
    yield
    client.close()


@pytest.fixture
def hooked(world: World) -> World:
    """The world's account with a webhook secret and a pull job on contacts."""
    world.account.set_webhook_secret(SECRET)
    world.account.save()
    world.job(
        name="people-in",
        direction="pull",
        match_column="hubspot_id",
        match_property="hs_object_id",
        writeback_id_column="",
    )
    return world


def event(object_id: int, kind: str = "contact.propertyChange", **fields: Any) -> dict[str, Any]:
    """An event as HubSpot sends it."""
    return {
        "eventId": object_id * 10,
        "subscriptionId": 4200,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
        **fields,
    }


def send(
    client: Client,
    body: bytes | list[dict[str, Any]],
    *,
    url: str = URL,
    secret: str = SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> Any:
    """POST a webhook signed as HubSpot signs it (the URI is the full URL called)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = int(time.time() * 1000) if timestamp is None else timestamp
    signed = signature_v3(secret, "POST", f"http://testserver{url}", raw, stamp)
    return client.post(
        url,
        data=raw,
        content_type="application/json",
        headers={
            "X-HubSpot-Signature-v3": signed if signature is None else signature,
            "X-HubSpot-Request-Timestamp": str(stamp),
        },
    )


def pulls(connection: redis.Redis) -> list[tuple[int, list[str]]]:
    """The targeted pulls waiting in the broker: (job id, object ids)."""
    return [(args[0], args[1]) for name, args, _ in queued_tasks(connection) if name == PULL_TASK]


def work_off(connection: redis.Redis, done: Callable[[], bool], *, timeout: float = 10.0) -> int:
    """Run the broker's task messages as a worker would (each once it is due) until `done()`.

    Returns how many messages ran; fails the test when `done()` stays false.
    """
    ran = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return ran
        raw: Any = connection.rpop(TEST_QUEUE)
        if raw is None:
            time.sleep(0.05)
            continue
        message = json.loads(raw)
        headers = message["headers"]
        eta = headers.get("eta")
        if eta and datetime.fromisoformat(eta) > datetime.now(UTC):
            connection.rpush(TEST_QUEUE, raw)  # not due yet: back at the head of the queue
            time.sleep(0.05)
            continue
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        task = celery_app.tasks[headers["task"]]
        task.apply(args=tuple(args), kwargs=kwargs, task_id=headers["id"])
        ran += 1
    assert done(), f"not done after {timeout} s ({ran} task messages run)"
    return ran


# --- the signature -----------------------------------------------------------------


def test_signature_matches_the_reference_vector() -> None:
    body = b'{"example_field":"example_value"}'
    signature = expected_signature(
        SECRET,
        method="POST",
        uri="https://www.example.com/webhook_uri",
        body=body,
        timestamp="1700000000000",
    )

    assert signature == "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o="


def test_signature_decodes_the_escapes_hubspot_decodes() -> None:
    body = b"[]"
    stamp = "1700000000000"
    plain = expected_signature(
        SECRET, method="POST", uri="https://h.example/hook?a=b:c", body=body, timestamp=stamp
    )
    escaped = expected_signature(
        SECRET, method="POST", uri="https://h.example/hook%3Fa=b%3Ac", body=body, timestamp=stamp
    )

    assert plain == escaped


def test_timestamp_window_has_its_edges_at_five_minutes_and_a_small_skew() -> None:
    now = 1_700_000_000.0
    body = b"[]"

    def check(sent: float) -> str:
        stamp = str(int(sent * 1000))
        signature = signature_v3(SECRET, "POST", "https://h.example/x", body, int(stamp))
        try:
            verify_request(
                SECRET,
                method="POST",
                uri="https://h.example/x",
                body=body,
                signature=signature,
                timestamp=stamp,
                now=now,
            )
        except ApiError as error:
            return error.message
        return "ok"

    assert check(now - 299) == "ok"
    assert check(now - 301) == "The webhook's timestamp is too old (or in the future)."
    assert check(now + 10) == "ok"
    assert check(now + 120) == "The webhook's timestamp is too old (or in the future)."


# --- the endpoint ------------------------------------------------------------------


def test_signed_webhook_queues_one_targeted_pull_per_job_with_ids_deduplicated(
    hooked: World, client: Client, broker: redis.Redis
) -> None:
    other = hooked.job(name="people-both", direction="both")
    hooked.job(name="people-out", direction="push")  # pushes only: not pulled
    hooked.job(name="firms-in", direction="pull", object_type="companies")

    answer = send(
        client,
        [
            event(11),
            event(12, "contact.creation"),
            event(11, propertyName="firstname", propertyValue="Ann"),
            event(13, "contact.deletion"),
        ],
    )

    assert answer.status_code == 200
    assert answer.json() == {"success": True, "queued": 2}
    job = hooked.account.jobs.get(name="people-in")
    assert sorted(pulls(broker)) == sorted(
        [(job.pk, ["11", "12", "13"]), (other.pk, ["11", "12", "13"])]
    )


def test_generic_object_events_and_merges_name_every_object_involved(
    hooked: World, client: Client, broker: redis.Redis
) -> None:
    merge = event(21, "contact.merge", primaryObjectId=21, mergedObjectIds=[22, 23], newObjectId=24)
    generic = event(25, "object.propertyChange", objectTypeId="0-1")
    association = event(26, "contact.associationChange")

    answer = send(client, [merge, generic, association])

    assert answer.status_code == 200
    [(_job, ids)] = pulls(broker)
    assert ids == ["21", "24", "22", "23", "25"]


def test_replayed_events_queue_no_second_pull(
    hooked: World, client: Client, broker: redis.Redis
) -> None:
    events = [event(31), event(32)]
    assert send(client, events).json()["queued"] == 1

    # The same events again, as HubSpot retries them (attemptNumber counts up), freshly signed.
    retried = [{**e, "attemptNumber": 1} for e in events]
    again = send(client, retried)

    assert again.status_code == 200
    assert again.json() == {"success": True, "queued": 0}
    assert len(pulls(broker)) == 1
    # A new event for an object already named is pulled again (it may have changed since).
    assert send(client, [event(31, occurredAt=1)]).json()["queued"] == 1


def test_bad_signature_is_refused_and_queues_nothing(
    hooked: World, client: Client, broker: redis.Redis
) -> None:
    wrong_secret = send(client, [event(41)], secret="not-the-secret")
    tampered = send(client, [event(41)], signature="AAAA" + "=" * 40)
    missing = client.post(URL, data=b"[]", content_type="application/json")

    for answer in (wrong_secret, tampered):
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "The webhook's signature does not match."
        assert answer.json()["error"]["status_code"] == 401
    assert missing.status_code == 401
    assert "X-HubSpot-Signature-v3 is missing" in missing.json()["error"]["message"]
    assert pulls(broker) == []


def test_stale_or_future_timestamp_is_refused(
    hooked: World, client: Client, broker: redis.Redis
) -> None:
    now_ms = int(time.time() * 1000)

    stale = send(client, [event(51)], timestamp=now_ms - 6 * 60 * 1000)
    future = send(client, [event(51)], timestamp=now_ms + 10 * 60 * 1000)
    not_a_number = client.post(
        URL,
        data=b"[]",
        content_type="application/json",
        headers={"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "yesterday"},
    )

    for answer in (stale, future):
        assert answer.status_code == 401
        assert "timestamp is too old" in answer.json()["error"]["message"]
    assert not_a_number.status_code == 401
    assert pulls(broker) == []


def test_unknown_account_or_account_without_secret_is_not_found(
    hooked: World, client: Client, broker: redis.Redis
) -> None:
    bare = HubSpotAccount(name="bare", label="Bare", base_url=hooked.simulator.base_url)
    bare.set_token("t")
    bare.save()

    unknown = send(client, [event(61)], url="/api/v2/hooks/hubspot/nobody")
    no_secret = send(client, [event(61)], url="/api/v2/hooks/hubspot/bare")

    for answer in (unknown, no_secret):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == 404
        assert answer.json()["error"]["message"].startswith("No webhooks are received")
    assert pulls(broker) == []


def test_malformed_body_is_a_bad_request(
    hooked: World, client: Client, broker: redis.Redis
) -> None:
    not_json = send(client, b"{not json")
    an_object = send(client, b'{"objectId": 1}')
    not_events = send(client, b"[1, 2]")
    nothing_known = send(client, [{"subscriptionType": "spaceship.creation", "objectId": 5}])

    for answer in (not_json, an_object, not_events):
        assert answer.status_code == 400
        assert answer.json()["error"]["status_code"] == 400
    assert nothing_known.status_code == 200
    assert nothing_known.json()["queued"] == 0
    assert pulls(broker) == []


def test_only_post_is_allowed(hooked: World, client: Client) -> None:
    answer = client.get(URL)

    assert answer.status_code == 405
    assert answer.json()["error"]["message"] == "Method GET is not allowed on this resource."


def test_a_hundred_and_fifty_objects_make_two_tasks(
    hooked: World, client: Client, broker: redis.Redis
) -> None:
    answer = send(client, [event(1000 + i) for i in range(150)])

    assert answer.json()["queued"] == 2
    assert sorted(len(ids) for _job, ids in pulls(broker)) == [50, 100]
