"""Auth, rate limits, their headers and 429 bodies, and the stats (REFERENCE §2.4, §3, §4.1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.hubspot.simulator import Simulator

from .conftest import Timed

LIST = "/crm/v3/objects/contacts"
SEARCH = "/crm/v3/objects/contacts/search"
HEADERS = (
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic c2ltLXRva2Vu", "sim-token"]
)
def test_missing_or_wrong_token_is_401(
    hubspot_simulator: Simulator, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    answer = httpx.get(hubspot_simulator.base_url + LIST, headers=headers)

    assert answer.status_code == 401
    body = answer.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    assert body["correlationId"]


def test_a_token_without_the_scope_is_403(hubspot_simulator: Simulator) -> None:
    hubspot_simulator.configure(tokens={"reader": ["crm.objects.contacts.read"]})
    headers = {"Authorization": "Bearer reader"}

    read = httpx.get(hubspot_simulator.base_url + LIST, headers=headers)
    write = httpx.post(hubspot_simulator.base_url + LIST, headers=headers, json={"properties": {}})

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["category"] == "MISSING_SCOPES"
    assert write.json()["errors"][0]["context"] == {
        "requiredGranularScopes": ["crm.objects.contacts.write"]
    }


def test_normal_answers_carry_the_rate_limit_headers(api: httpx.Client) -> None:
    first = api.get(LIST)
    second = api.get(LIST)

    for header in HEADERS:
        assert header in first.headers
    assert first.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert (
        int(second.headers["X-HubSpot-RateLimit-Remaining"])
        == int(first.headers["X-HubSpot-RateLimit-Remaining"]) - 1
    )
    assert int(second.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 249_998


def test_search_answers_carry_no_rate_limit_headers(api: httpx.Client) -> None:
    answer = api.post(SEARCH, json={})

    assert answer.status_code == 200
    assert not [h for h in answer.headers if h.lower().startswith("x-hubspot-ratelimit")]


def test_burst_limit_answers_429_ten_secondly_until_the_window_rolls(timed: Timed) -> None:
    timed.simulator.configure(burst_limit=3)
    answers = []
    for _ in range(4):
        answers.append(timed.client.get(LIST))
        timed.clock.advance(1)

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    body = answers[3].json()
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert answers[3].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in answers[3].headers
    assert answers[2].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    # The first request leaves the rolling window ten seconds after it was made.
    timed.clock.advance(6)
    assert timed.client.get(LIST).status_code == 200


def test_a_refused_request_is_not_counted_against_the_limit(timed: Timed) -> None:
    timed.simulator.configure(burst_limit=2)
    statuses = [timed.client.get(LIST).status_code for _ in range(5)]
    timed.clock.advance(10)

    assert statuses == [200, 200, 429, 429, 429]
    assert [timed.client.get(LIST).status_code for _ in range(3)] == [200, 200, 429]


def test_retry_after_is_sent_when_switched_on(timed: Timed) -> None:
    timed.simulator.configure(burst_limit=1, retry_after_on_429=True)
    timed.client.get(LIST)
    timed.clock.advance(3)

    refused = timed.client.get(LIST)

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "7"


def test_shrunken_window_via_config(timed: Timed) -> None:
    timed.simulator.configure(burst_limit=2, burst_window_seconds=1)
    statuses = [timed.client.get(LIST).status_code for _ in range(3)]
    timed.clock.advance(1.01)

    assert statuses == [200, 200, 429]
    assert timed.client.get(LIST).status_code == 200
    assert timed.client.get(LIST).headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "1000"


def test_daily_limit_answers_429_daily_until_midnight_utc(timed: Timed) -> None:
    timed.simulator.configure(daily_limit=3, burst_limit=100)
    statuses = []
    for _ in range(4):
        statuses.append(timed.client.get(LIST))
        timed.clock.advance(60)

    assert [a.status_code for a in statuses] == [200, 200, 200, 429]
    body = statuses[3].json()
    assert body["policyName"] == "DAILY"
    assert body["message"] == "You have reached your daily limit."
    assert statuses[2].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    timed.clock.advance(86_400)  # the next UTC day
    assert timed.client.get(LIST).status_code == 200


def test_search_counts_against_the_daily_limit_but_not_the_burst(timed: Timed) -> None:
    timed.simulator.configure(daily_limit=2, burst_limit=1)
    timed.client.post(SEARCH, json={})

    assert timed.client.get(LIST).status_code == 200  # the burst slot was still free
    assert timed.client.post(SEARCH, json={}).json()["policyName"] == "DAILY"


def test_search_has_its_own_secondly_limit(timed: Timed) -> None:
    statuses = [timed.client.post(SEARCH, json={}) for _ in range(6)]
    timed.clock.advance(1)

    assert [a.status_code for a in statuses] == [200] * 5 + [429]
    body = statuses[5].json()
    assert body["category"] == "RATE_LIMITS"
    assert body["message"] == "You have reached your secondly limit."
    assert timed.client.post(SEARCH, json={}).status_code == 200
    assert timed.client.get(LIST).status_code == 200  # the burst limit is untouched


def test_limits_are_per_token(timed: Timed) -> None:
    timed.simulator.configure(burst_limit=1, tokens=["one", "two"])

    def get(token: str) -> int:
        return timed.client.get(LIST, headers={"Authorization": f"Bearer {token}"}).status_code

    assert [get("one"), get("two"), get("one")] == [200, 200, 429]


def test_stats_count_requests_429s_and_the_busiest_window(timed: Timed) -> None:
    timed.simulator.configure(burst_limit=3)
    for _ in range(5):
        timed.client.get(LIST)
        timed.clock.advance(0.5)
    timed.clock.advance(20)
    timed.client.post("/crm/v3/objects/contacts", json={"properties": {"firstname": "A"}})
    timed.client.get("/crm/v3/objects/contacts/1")
    timed.client.get(LIST, headers={"Authorization": "Bearer nope"})

    stats = httpx.get(timed.simulator.base_url + "/__sim__/stats").json()

    assert stats["requests"] == 8
    assert stats["requests_by_path"] == {
        "GET /crm/v3/objects/contacts": 6,
        "POST /crm/v3/objects/contacts": 1,
        "GET /crm/v3/objects/contacts/{id}": 1,
    }
    assert stats["responses_by_status"] == {"200": 4, "201": 1, "401": 1, "429": 2}
    assert stats["rate_limited"] == 2
    assert stats["rate_limited_by_policy"] == {"TEN_SECONDLY_ROLLING": 2}
    assert stats["max_requests_in_window"] == 5  # refused attempts count: the client sent them
    assert stats["max_accepted_in_window"] == 3
    assert stats["tokens"]["sim-token"]["requests"] == 7
    assert stats["objects"]["contacts"] == {"active": 1, "archived": 0}
    assert timed.simulator.stats()["requests"] == 8


def test_config_can_be_read_and_changed_over_http(hubspot_simulator: Simulator) -> None:
    url = hubspot_simulator.base_url + "/__sim__/config"

    changed = httpx.post(url, json={"burst_limit": 7, "fault_modes": ["503", "drop"]})

    assert changed.status_code == 200
    assert changed.json()["burst_limit"] == 7
    assert httpx.get(url).json()["fault_modes"] == ["503", "drop"]
    assert hubspot_simulator.config.burst_limit == 7


@pytest.mark.parametrize(
    "change",
    [
        {"burst_limit": 0},
        {"burst_limit": "many"},
        {"no_such": 1},
        {"fault_modes": ["fire"]},
        {"fault_rate": 2},
    ],
)
def test_bad_config_changes_are_400_and_change_nothing(
    hubspot_simulator: Simulator, change: dict[str, Any]
) -> None:
    answer = httpx.post(hubspot_simulator.base_url + "/__sim__/config", json=change)

    assert answer.status_code == 400
    assert answer.json()["error"]
    assert hubspot_simulator.config.burst_limit == 100


def test_reset_over_http_clears_records_counts_and_settings(hubspot_simulator: Simulator) -> None:
    hubspot_simulator.create("contacts", {"email": "r@x.com"})
    hubspot_simulator.configure(burst_limit=5)
    httpx.get(hubspot_simulator.base_url + LIST)

    answer = httpx.post(hubspot_simulator.base_url + "/__sim__/reset")

    assert answer.status_code == 200
    assert hubspot_simulator.count("contacts") == 0
    assert hubspot_simulator.config.burst_limit == 100
    assert hubspot_simulator.stats()["requests"] == 0
    assert hubspot_simulator.create("contacts", {"email": "r@x.com"}) == "1"
