"""The simulator's own control endpoints under `/__sim__/` (no auth): stats, reset, config.

One rule: these steer and observe the simulator, never HubSpot behaviour;
they are not counted, limited or faulted, so a test can always reach them.
"""

from __future__ import annotations

import json

from .config import ConfigError
from .messages import ApiResponse
from .state import SimState

PREFIX = "/__sim__/"


def handle_control(state: SimState, method: str, path: str, raw_body: bytes) -> ApiResponse:
    """Answer `GET stats`, `POST reset`, `GET|POST config`."""
    name = path.removeprefix(PREFIX).strip("/")
    if name == "stats" and method == "GET":
        return ApiResponse(200, state.stats())
    if name == "reset" and method == "POST":
        state.reset()
        return ApiResponse(200, {"status": "reset"})
    if name == "config" and method == "GET":
        return ApiResponse(200, state.config.to_json())
    if name == "config" and method == "POST":
        try:
            changes = json.loads(raw_body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return ApiResponse(400, {"error": "The body must be a JSON object of settings."})
        if not isinstance(changes, dict):
            return ApiResponse(400, {"error": "The body must be a JSON object of settings."})
        try:
            config = state.configure(changes)
        except ConfigError as problem:
            return ApiResponse(400, {"error": str(problem)})
        return ApiResponse(200, config.to_json())
    return ApiResponse(404, {"error": f"No control endpoint {method} {path}."})
