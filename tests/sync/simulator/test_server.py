"""The server itself: scale, concurrency, keep-alive, the data file and the management command."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from sync.hubspot.simulator import Simulator

from .conftest import stored

ROOT = Path(__file__).resolve().parents[3]


def test_100000_records_list_search_and_get_stay_fast(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    ids = hubspot_simulator.create_many(
        "contacts",
        ({"email": f"user{i}@example.com", "firstname": f"F{i}"} for i in range(100_000)),
    )

    page = api.get("/crm/v3/objects/contacts", params={"limit": 100}).json()
    for _ in range(3):
        page = api.get(
            "/crm/v3/objects/contacts",
            params={"limit": 100, "after": page["paging"]["next"]["after"]},
        ).json()
    by_email = api.post(
        "/crm/v3/objects/contacts/search",
        json={
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "email",
                            "operator": "EQ",
                            "value": "USER99999@example.com",
                        }
                    ]
                }
            ]
        },
    ).json()
    recent = api.post(
        "/crm/v3/objects/contacts/search",
        json={
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_object_id", "operator": "GT", "value": ids[-150]}
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
            "limit": 200,
        },
    ).json()
    capped = api.post(
        "/crm/v3/objects/contacts/search", json={"limit": 200, "after": "9800"}
    ).json()
    one = api.get(f"/crm/v3/objects/contacts/{ids[54_321]}").json()
    by_id_property = api.get(
        "/crm/v3/objects/contacts/user777@example.com", params={"idProperty": "email"}
    )

    assert len(ids) == 100_000
    assert [r["id"] for r in page["results"]] == ids[300:400]
    assert [r["id"] for r in by_email["results"]] == [ids[-1]]
    assert recent["total"] == 149
    assert recent["results"][0]["id"] == ids[-1]
    assert capped["total"] == 100_000
    assert len(capped["results"]) == 200
    assert one["properties"]["firstname"] == "F54321"
    assert by_id_property.json()["id"] == ids[777]


def test_concurrent_writers_get_unique_ids_and_unique_emails(hubspot_simulator: Simulator) -> None:
    hubspot_simulator.configure(burst_limit=1000)
    headers = {"Authorization": f"Bearer {hubspot_simulator.token}"}
    statuses: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        with httpx.Client(base_url=hubspot_simulator.base_url, headers=headers) as client:
            for i in range(10):
                mine = client.post(
                    "/crm/v3/objects/contacts", json={"properties": {"email": f"w{n}-{i}@x.com"}}
                )
                shared = client.post(
                    "/crm/v3/objects/contacts", json={"properties": {"email": "same@x.com"}}
                )
                with lock:
                    statuses.extend([mine.status_code, shared.status_code])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses.count(201) == 61  # 60 own emails and the shared one once
    assert statuses.count(409) == 59
    assert hubspot_simulator.count("contacts") == 61
    ids = {stored(hubspot_simulator, "contacts", str(i))["id"] for i in range(1, 62)}
    assert len(ids) == 61


def test_one_connection_serves_many_requests(hubspot_simulator: Simulator) -> None:
    target = urlsplit(hubspot_simulator.base_url)
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=5)
    headers = {
        "Authorization": f"Bearer {hubspot_simulator.token}",
        "Content-Type": "application/json",
    }
    statuses = []
    sockets = set()
    for i in range(5):
        body = json.dumps({"properties": {"email": f"k{i}@x.com"}})
        connection.request("POST", "/crm/v3/objects/contacts", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        statuses.append(answer.status)
        sockets.add(id(connection.sock))
    connection.request("DELETE", "/crm/v3/objects/contacts/1", headers=headers)
    deleted = connection.getresponse()
    deleted.read()
    connection.request("GET", "/crm/v3/objects/contacts/2", headers=headers)
    after_204 = connection.getresponse()
    after_204.read()
    connection.close()

    assert statuses == [201] * 5
    assert len(sockets) == 1
    assert deleted.status == 204
    assert after_204.status == 200


def test_the_data_file_keeps_records_properties_and_links(tmp_path: Path) -> None:
    data = tmp_path / "hubspot.json"
    first = Simulator(data_file=data)
    first.start()
    headers = {"Authorization": f"Bearer {first.token}"}
    with httpx.Client(base_url=first.base_url, headers=headers) as client:
        client.post(
            "/crm/v3/properties/contacts",
            json={
                "name": "tier",
                "label": "Tier",
                "type": "string",
                "fieldType": "text",
                "groupName": "g",
            },
        )
        contact = client.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "p@x.com", "tier": "gold"}}
        ).json()
        gone = client.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "gone@x.com"}}
        ).json()
        client.delete(f"/crm/v3/objects/contacts/{gone['id']}")
        company = client.post(
            "/crm/v3/objects/companies", json={"properties": {"domain": "acme.com"}}
        ).json()
        client.put(
            f"/crm/v4/objects/contacts/{contact['id']}/associations/default/companies/{company['id']}"
        )
    first.stop()

    second = Simulator(data_file=data)
    second.start()
    with httpx.Client(base_url=second.base_url, headers=headers) as client:
        again = client.get(
            f"/crm/v3/objects/contacts/{contact['id']}", params={"properties": "tier"}
        ).json()
        duplicate = client.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "P@x.com"}}
        )
        fresh = client.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "n@x.com"}}
        ).json()
        links = client.get(
            f"/crm/v4/objects/contacts/{contact['id']}/associations/companies"
        ).json()
    archived = second.get("contacts", gone["id"])
    second.stop()

    assert again["properties"]["tier"] == "gold"
    assert again["createdAt"] == contact["createdAt"]
    assert duplicate.status_code == 409
    assert int(fresh["id"]) == int(gone["id"]) + 1
    assert links["results"][0]["toObjectId"] == int(company["id"])
    assert archived is not None
    assert archived["archived"] is True


def test_management_command_serves_until_terminated_and_saves(tmp_path: Path) -> None:
    data = tmp_path / "sim.json"
    command = [
        sys.executable, "manage.py", "hubspot_simulator",
        "--port", "0", "--data", str(data), "--token", "pat-na1-test",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    if not banner.startswith("HubSpot simulator listening on http://127.0.0.1:"):
        process.kill()
        _, errors = process.communicate(timeout=20)
        raise AssertionError(f"the command did not start: {banner!r} {errors[-2000:]}")
    try:
        url = banner.split(" on ")[1].split(" ")[0]
        created = httpx.post(
            f"{url}/crm/v3/objects/deals",
            headers={"Authorization": "Bearer pat-na1-test"},
            json={"properties": {"dealname": "Saved"}},
        )
        refused = httpx.get(
            f"{url}/crm/v3/objects/deals", headers={"Authorization": "Bearer sim-token"}
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)

    assert created.status_code == 201
    assert refused.status_code == 401
    assert process.returncode == 0
    saved = json.loads(data.read_text())
    assert saved["types"]["deals"]["records"][0][1] == {"dealname": "Saved"}
