"""Fixtures for the sync tests: the HubSpot simulator, started once, reset for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync.hubspot.simulator import Simulator


@pytest.fixture(scope="session")
def _hubspot_simulator_server() -> Iterator[Simulator]:
    """One simulator HTTP server for the whole session, on a free loopback port."""
    simulator = Simulator()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def hubspot_simulator(_hubspot_simulator_server: Simulator) -> Simulator:
    """The session's simulator, emptied and back to its default settings.

    Point a client at `hubspot_simulator.base_url` with `hubspot_simulator.token`;
    steer it with `configure(...)` or `POST {base_url}/__sim__/config`.
    """
    _hubspot_simulator_server.reset()
    return _hubspot_simulator_server
