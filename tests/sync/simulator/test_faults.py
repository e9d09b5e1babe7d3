"""Fault injection: error answers, hangs and dropped connections (REFERENCE §2.4, §10)."""

from __future__ import annotations

import httpx
import pytest

from sync.hubspot.simulator import Simulator

CREATE = "/crm/v3/objects/contacts"


def create(api: httpx.Client, email: str) -> httpx.Response:
    return api.post(CREATE, json={"properties": {"email": email}})


@pytest.mark.parametrize(
    ("mode", "status", "category"),
    [("423", 423, "LOCKED"), ("477", 477, "MIGRATION_IN_PROGRESS"), ("500", 500, "INTERNAL_ERROR")],
)
def test_json_error_faults(
    api: httpx.Client, hubspot_simulator: Simulator, mode: str, status: int, category: str
) -> None:
    hubspot_simulator.configure(fault_script=[mode])

    answer = create(api, "f@x.com")

    assert answer.status_code == status
    assert answer.json()["category"] == category
    assert hubspot_simulator.count("contacts") == 0
    assert create(api, "f@x.com").status_code == 201  # the script is used up


def test_477_carries_retry_after_in_seconds(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    hubspot_simulator.configure(fault_script=["477"], fault_retry_after_seconds=3)

    assert api.get(CREATE).headers["Retry-After"] == "3"


@pytest.mark.parametrize("status", [502, 503, 504, 521, 524])
def test_edge_faults_answer_html(
    api: httpx.Client, hubspot_simulator: Simulator, status: int
) -> None:
    hubspot_simulator.configure(fault_script=[str(status)])

    answer = api.get(CREATE)

    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("text/html")
    assert str(status) in answer.text


@pytest.mark.parametrize(
    ("mode", "policy"), [("429", "TEN_SECONDLY_ROLLING"), ("429_daily", "DAILY")]
)
def test_injected_429_bodies(
    api: httpx.Client, hubspot_simulator: Simulator, mode: str, policy: str
) -> None:
    hubspot_simulator.configure(fault_script=[mode])

    answer = api.get(CREATE)

    assert answer.status_code == 429
    assert answer.json()["policyName"] == policy


def test_injected_secondly_429(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    hubspot_simulator.configure(fault_script=["429_secondly"])

    answer = api.post("/crm/v3/objects/contacts/search", json={})

    assert answer.status_code == 429
    assert answer.json()["category"] == "RATE_LIMITS"


def test_drop_resets_the_connection_and_writes_nothing(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    hubspot_simulator.configure(fault_script=["drop"])

    with pytest.raises(httpx.TransportError):
        create(api, "drop@x.com")

    assert hubspot_simulator.count("contacts") == 0
    assert create(api, "drop@x.com").status_code == 201  # a new connection works


def test_drop_after_writes_then_resets_the_connection(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    hubspot_simulator.configure(fault_script=["drop_after"])

    with pytest.raises(httpx.TransportError):
        create(api, "late@x.com")

    assert hubspot_simulator.count("contacts") == 1
    assert create(api, "late@x.com").status_code == 409


def test_timeout_hangs_past_the_client_timeout_and_writes_nothing(
    hubspot_simulator: Simulator,
) -> None:
    hubspot_simulator.configure(fault_script=["timeout"], fault_timeout_seconds=2)
    headers = {"Authorization": f"Bearer {hubspot_simulator.token}"}

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            hubspot_simulator.base_url + CREATE,
            headers=headers,
            json={"properties": {"email": "t@x.com"}},
            timeout=0.3,
        )

    assert hubspot_simulator.count("contacts") == 0


def test_slow_answers_after_the_client_gave_up_but_the_write_happened(
    hubspot_simulator: Simulator,
) -> None:
    hubspot_simulator.configure(fault_script=["slow"], fault_timeout_seconds=1)
    headers = {"Authorization": f"Bearer {hubspot_simulator.token}"}

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            hubspot_simulator.base_url + CREATE,
            headers=headers,
            json={"properties": {"email": "s@x.com"}},
            timeout=0.3,
        )

    assert hubspot_simulator.count("contacts") == 1


def test_a_share_of_requests_fails_reproducibly_by_seed(hubspot_simulator: Simulator) -> None:
    def run() -> list[int]:
        hubspot_simulator.reset()
        hubspot_simulator.configure(fault_rate=0.5, fault_modes=["502", "503"], fault_seed=42)
        with httpx.Client(
            base_url=hubspot_simulator.base_url,
            headers={"Authorization": f"Bearer {hubspot_simulator.token}"},
        ) as client:
            return [client.get(CREATE).status_code for _ in range(40)]

    first, second = run(), run()

    assert first == second
    assert 5 < sum(status != 200 for status in first) < 35
    assert set(first) == {200, 502, 503}
    assert hubspot_simulator.stats()["faults"]["injected"] == {
        "502": first.count(502),
        "503": first.count(503),
    }


def test_faults_can_be_limited_to_some_paths(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    hubspot_simulator.configure(fault_rate=1.0, fault_modes=["503"], fault_paths="/batch/")

    assert api.get(CREATE).status_code == 200
    assert api.post(CREATE + "/batch/read", json={"inputs": []}).status_code == 503


def test_faulted_requests_are_counted_in_stats(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    hubspot_simulator.configure(fault_script=["503", "drop"])
    api.get(CREATE)
    with pytest.raises(httpx.TransportError):
        api.get(CREATE)

    stats = hubspot_simulator.stats()

    assert stats["requests_by_path"]["GET /crm/v3/objects/contacts"] == 2
    assert stats["responses_by_status"] == {"503": 1, "drop": 1}
