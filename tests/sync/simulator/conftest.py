"""Fixtures for the simulator's fidelity tests: HTTP clients and a simulator on a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sync.hubspot.simulator import ManualClock, Simulator


@pytest.fixture
def api(hubspot_simulator: Simulator) -> Iterator[httpx.Client]:
    """A plain httpx client on the shared simulator, authorised with its token."""
    with httpx.Client(
        base_url=hubspot_simulator.base_url,
        headers={"Authorization": f"Bearer {hubspot_simulator.token}"},
        timeout=10,
    ) as client:
        yield client


def stored(simulator: Simulator, object_type: str, object_id: str) -> dict[str, Any]:
    """A record as the simulator holds it (failing the test when there is none)."""
    record = simulator.get(object_type, object_id)
    assert record is not None, f"no {object_type} {object_id}"
    return record


@dataclass
class Timed:
    """A simulator of a test's own whose clock only moves when told to."""

    simulator: Simulator
    clock: ManualClock
    client: httpx.Client


@pytest.fixture
def timed() -> Iterator[Timed]:
    clock = ManualClock()
    simulator = Simulator(clock=clock)
    simulator.start()
    with httpx.Client(
        base_url=simulator.base_url,
        headers={"Authorization": f"Bearer {simulator.token}"},
        timeout=10,
    ) as client:
        yield Timed(simulator, clock, client)
    simulator.stop()
