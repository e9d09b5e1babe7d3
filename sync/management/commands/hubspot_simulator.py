"""`manage.py hubspot_simulator --port N`: run the local HubSpot simulator in the foreground.

One rule: the command only parses options and runs the simulator until
SIGINT/SIGTERM; with `--data FILE` the records are loaded from and saved to
that file, so a restart (`make run` again) keeps what the demo pushed.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sync.hubspot.simulator import DEFAULT_TOKEN, Simulator, SimulatorConfig


class Command(BaseCommand):
    help = "Run a local HubSpot-compatible API server (for the demo and for tests)."
    # The simulator uses nothing of the platform's configuration or database.
    requires_system_checks = ()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="port to listen on (8765)")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
        parser.add_argument(
            "--data", default=None, help="JSON file to load records from and save them to"
        )
        parser.add_argument(
            "--token", default=DEFAULT_TOKEN, help=f"the valid bearer token ({DEFAULT_TOKEN})"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = SimulatorConfig(tokens={options["token"]: None})
        simulator = Simulator(config, data_file=options["data"])
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, request_stop)
        url = simulator.start(options["host"], options["port"])
        self.stdout.write(f"HubSpot simulator listening on {url} (token: {options['token']})")
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            simulator.stop()
        self.stdout.write("HubSpot simulator stopped.")
