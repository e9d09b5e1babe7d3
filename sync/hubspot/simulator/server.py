"""`Simulator`: a local HubSpot-compatible HTTP server, and its Python handle for tests.

One rule: a client cannot tell the simulator from api.hubapi.com except by
its URL; everything a test needs beyond HubSpot's API (settings, counters,
reset, direct record access) goes through this class or the `/__sim__/`
endpoints, never through HubSpot's paths. All methods are thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from .clock import Clock, SystemClock
from .config import SimulatorConfig
from .errors import ApiError
from .handler import SimulatorHTTPServer
from .persistence import load, save
from .records import (
    UI_SOURCE,
    archive_record,
    check_write,
    create_record,
    render_record,
    update_record,
)
from .state import SimState
from .store import TypeStore


class SimulatorError(ValueError):
    """A direct (Python API) write HubSpot would refuse; the message is HubSpot's."""


class Simulator:
    """A HubSpot simulator: start it, point a client at `base_url` with `token`."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Clock | None = None,
        data_file: str | Path | None = None,
        autosave_seconds: float = 30.0,
    ) -> None:
        self._state = SimState(config or SimulatorConfig(), clock or SystemClock())
        self._data_file = Path(data_file) if data_file else None
        self._autosave_seconds = autosave_seconds
        self._server: SimulatorHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        if self._data_file is not None:
            load(self._state, self._data_file)

    # -- serving -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in background threads; return the base URL (`http://host:port`)."""
        if self._server is not None:
            raise RuntimeError("The simulator is already running.")
        self._server = SimulatorHTTPServer((host, port), self._state)
        self._stopped.clear()
        self._state.webhooks.start()
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="hubspot-sim-http", daemon=True,
        )  # fmt: skip
        self._threads = [serve]
        if self._data_file is not None and self._autosave_seconds > 0:
            self._threads.append(
                threading.Thread(target=self._autosave, name="hubspot-sim-save", daemon=True)
            )
        for thread in self._threads:
            thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving (hanging fault answers end at once) and save the data file, if any."""
        server, self._server = self._server, None
        if server is not None:
            server.stopping.set()
            server.shutdown()
            server.server_close()
        self._stopped.set()
        self._state.webhooks.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self.save()

    def _autosave(self) -> None:
        while not self._stopped.wait(self._autosave_seconds):
            self.save()

    def save(self) -> None:
        """Write the records to the data file now (no-op without one)."""
        if self._data_file is not None:
            save(self._state, self._data_file)

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running server."""
        if self._server is None:
            raise RuntimeError("The simulator is not running.")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token(self) -> str:
        """The first valid bearer token (the default one, `sim-token`, unless configured)."""
        return next(iter(self._state.config.tokens))

    # -- steering ------------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self._state.config

    def configure(self, **changes: Any) -> SimulatorConfig:
        """Change settings (raises ConfigError for a bad one); return the new settings."""
        return self._state.configure(changes)

    def reset(self) -> None:
        """Drop every record, count and setting change (back to the configuration given)."""
        self._state.reset()

    def stats(self) -> dict[str, Any]:
        """What `/__sim__/stats` answers."""
        return self._state.stats()

    # -- direct record access (as if edited in HubSpot's UI) ----------------------------

    def _store(self, object_type: str) -> TypeStore:
        try:
            return self._state.store_for(object_type)
        except ApiError as error:
            raise SimulatorError(str(error)) from None

    def create(self, object_type: str, properties: Mapping[str, Any]) -> str:
        """Create a record; return its id. Raises SimulatorError where HubSpot answers 400/409."""
        return self.create_many(object_type, [properties])[0]

    def create_many(self, object_type: str, records: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create records in one go under one lock; return their ids."""
        state = self._state
        store = self._store(object_type)
        ids: list[str] = []
        with state.lock:
            for properties in records:
                values, failure = check_write(store, dict(properties), None)
                if failure is not None:
                    raise SimulatorError(failure.message)
                ids.append(str(create_record(state, store, values, source=UI_SOURCE).id))
        return ids

    def get(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        """A record with every property that has a value (archived ones too), or None."""
        state = self._state
        store = self._store(object_type)
        with state.lock:
            record = store.records.get(int(object_id)) if str(object_id).isdigit() else None
            return None if record is None else render_record(state, store, record, every=True)

    def update(
        self, object_type: str, object_id: str, properties: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change an active record's properties; return it. SimulatorError if HubSpot would refuse."""
        state = self._state
        store = self._store(object_type)
        with state.lock:
            record = store.get(str(object_id))
            if record is None:
                raise SimulatorError(f"No active {store.type.singular} with ID {object_id}.")
            values, failure = check_write(store, dict(properties), record)
            if failure is not None:
                raise SimulatorError(failure.message)
            update_record(state, store, record, values, source=UI_SOURCE)
            return render_record(state, store, record, every=True)

    def archive(self, object_type: str, object_id: str) -> None:
        """Archive an active record (no-op when there is none)."""
        state = self._state
        store = self._store(object_type)
        with state.lock:
            record = store.get(str(object_id))
            if record is not None:
                archive_record(state, store, record, source=UI_SOURCE)

    def count(self, object_type: str, *, archived: bool = False) -> int:
        """How many active (or archived) records of a type there are."""
        store = self._store(object_type)
        with self._state.lock:
            return len(store.archived if archived else store.active)

    def find(self, object_type: str, name: str, value: str) -> dict[str, Any] | None:
        """The active record whose unique property `name` holds `value`, or None."""
        state = self._state
        store = self._store(object_type)
        with state.lock:
            record = store.find_unique(name, value)
            return None if record is None else render_record(state, store, record, every=True)
