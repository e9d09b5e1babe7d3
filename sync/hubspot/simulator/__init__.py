"""A local HubSpot-compatible HTTP server for demos and tests.

One rule: the simulator imports nothing of Sluicegate's sync engine or
HubSpot client, and no production module imports it (except the
`hubspot_simulator` management command that runs it): it is a fake of
HubSpot, built from HubSpot's documented behaviour, not of our client.
"""

from .clock import Clock, ManualClock, SystemClock
from .config import DEFAULT_TOKEN, FAULT_MODES, ConfigError, SimulatorConfig
from .server import Simulator, SimulatorError
from .webhooks import signature_v1, signature_v3

__all__ = [
    "DEFAULT_TOKEN",
    "FAULT_MODES",
    "Clock",
    "ConfigError",
    "ManualClock",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "SystemClock",
    "signature_v1",
    "signature_v3",
]
