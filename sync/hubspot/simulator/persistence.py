"""Keeping the simulator's records in a JSON file between runs.

One rule: the file is written whole and atomically (a temporary file renamed
over the old one), from a snapshot taken under the lock, so a crash never
leaves half a file; loading happens before the server answers anything.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .catalog import Option, PropertyDef
from .state import SimState

FORMAT_VERSION = 1


def snapshot(state: SimState) -> dict[str, Any]:
    """Records, custom property definitions and links as JSON-ready data."""
    with state.lock:
        return {
            "version": FORMAT_VERSION,
            "types": {
                name: {
                    **store.dump(),
                    "custom_properties": [
                        dataclasses.asdict(p)
                        for p in store.definitions.values()
                        if not p.hubspot_defined
                    ],
                }
                for name, store in state.stores.items()
            },
            "links": state.links.dump(),
        }


def save(state: SimState, path: Path) -> None:
    """Write the state to `path` atomically."""
    data = json.dumps(snapshot(state), separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(data)
    os.replace(temporary, path)


def load(state: SimState, path: Path) -> bool:
    """Restore the state from `path`; return False when there is no such file."""
    if not path.exists():
        return False
    data = json.loads(path.read_text())
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a simulator data file of version {FORMAT_VERSION}.")
    with state.lock:
        for name, saved in data["types"].items():
            store = state.stores[name]
            for raw in saved.get("custom_properties", []):
                options = tuple(Option(**option) for option in raw.pop("options", []))
                prop = PropertyDef(**raw, options=options)
                if prop.name not in store.definitions:
                    store.add_definition(prop)
            store.load(saved)
        state.links.load(data["links"])
    return True
