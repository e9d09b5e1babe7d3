"""The simulator's settings: limits, tokens, faults, webhooks, result order.

One rule: a `SimulatorConfig` is an immutable value; changing the settings
(`Simulator.configure`, `POST /__sim__/config`) builds a new one through
`config_updated`, which checks every changed field's type and range and
raises `ConfigError` naming the field, so a bad change never half-applies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOKEN = "sim-token"  # noqa: S105 (a fake server's well-known test token)

FAULT_MODES = frozenset(
    {
        "423",  # Locked: too many writes to the same records
        "429",  # a ten-secondly rate-limit answer, whatever the real count
        "429_daily",
        "429_secondly",  # search's "secondly" body
        "477",  # Migration in progress, with Retry-After
        "500",
        "502",
        "503",
        "504",
        "521",
        "524",
        "timeout",  # hang past the client's timeout, then reset the connection; nothing written
        "slow",  # do the work, then wait before answering (the client has usually given up)
        "drop",  # reset the connection before doing anything
        "drop_after",  # do the work, then reset the connection instead of answering
    }
)


class ConfigError(ValueError):
    """A configuration change names an unknown field or gives it a bad value."""


Tokens = Mapping[str, tuple[str, ...] | None]


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything a test or a demo may steer.

    `tokens` maps each valid bearer token to its granted scopes (None: all
    scopes). Limits are per token: `burst_limit` requests per rolling
    `burst_window_seconds` (search exempt), `daily_limit` per UTC day (search
    included), and `search_limit` searches per `search_window_seconds`.
    `fault_rate` is the share of API requests answered by a fault drawn from
    `fault_modes` (seeded by `fault_seed`); `fault_script` lists faults for the
    very next requests, in order, before any random ones; `fault_paths`, when
    set, limits faults to paths containing it. Batch results come back in
    reversed input order, or shuffled (seeded) with `shuffle_results`.
    """

    tokens: Tokens = field(default_factory=lambda: {DEFAULT_TOKEN: None})
    portal_id: int = 62515
    app_id: int = 54321
    id_start: int = 1
    burst_limit: int = 100
    burst_window_seconds: float = 10.0
    daily_limit: int = 250_000
    search_limit: int = 5
    search_window_seconds: float = 1.0
    retry_after_on_429: bool = False
    search_indexing_delay_seconds: float = 0.0
    search_max_filter_groups: int = 5
    search_max_filters_per_group: int = 6
    search_max_filters_total: int = 18
    search_result_cap: int = 10_000
    shuffle_results: bool = False
    shuffle_seed: int = 0
    omit_empty_properties: bool = False
    fault_rate: float = 0.0
    fault_modes: tuple[str, ...] = ("502", "503")
    fault_seed: int = 0
    fault_script: tuple[str, ...] = ()
    fault_paths: str = ""
    fault_timeout_seconds: float = 30.0
    fault_retry_after_seconds: int = 2
    webhook_url: str = ""
    webhook_client_secret: str = ""
    webhook_batch_delay_seconds: float = 0.2
    webhook_max_retries: int = 3
    webhook_retry_delay_seconds: float = 0.5
    webhook_timeout_seconds: float = 5.0
    webhook_duplicate_rate: float = 0.0
    webhook_subscriptions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the settings as JSON-ready data (what `GET /__sim__/config` shows)."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "tokens":
                value = {
                    token: None if scopes is None else list(scopes)
                    for token, scopes in value.items()
                }
            elif isinstance(value, tuple):
                value = list(value)
            data[item.name] = value
        return data


def _whole(minimum: int) -> Callable[[str, Any], int]:
    def coerce(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{name} must be a whole number of at least {minimum}.")
        return int(value)

    return coerce


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number of seconds.")
    if not 0 <= value < math.inf:
        raise ConfigError(f"{name} must be 0 or more.")
    return float(value)


def _positive_seconds(name: str, value: Any) -> float:
    seconds = _seconds(name, value)
    if seconds <= 0:
        raise ConfigError(f"{name} must be more than 0.")
    return seconds


def _share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a number from 0 to 1.")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false.")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string.")
    return value


def _texts(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{name} must be a list of strings.")
    return tuple(value)


def _fault_list(name: str, value: Any) -> tuple[str, ...]:
    modes = _texts(name, value)
    unknown = sorted(set(modes) - FAULT_MODES)
    if unknown:
        raise ConfigError(f"{name}: unknown fault modes {unknown}; known: {sorted(FAULT_MODES)}.")
    return modes


def _tokens(name: str, value: Any) -> Tokens:
    """Accept a list of tokens (all scopes) or a mapping token -> scopes or null."""
    if isinstance(value, list | tuple):
        value = dict.fromkeys(value)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            f"{name} must be a non-empty list of tokens or a mapping token -> scopes."
        )
    tokens: dict[str, tuple[str, ...] | None] = {}
    for token, scopes in value.items():
        if not isinstance(token, str) or not token:
            raise ConfigError(f"{name}: every token must be a non-empty string.")
        tokens[token] = None if scopes is None else _texts(f"{name}[{token}]", scopes)
    return tokens


_COERCERS: dict[str, Callable[[str, Any], Any]] = {
    "tokens": _tokens,
    "portal_id": _whole(1),
    "app_id": _whole(1),
    "id_start": _whole(1),
    "burst_limit": _whole(1),
    "burst_window_seconds": _positive_seconds,
    "daily_limit": _whole(1),
    "search_limit": _whole(1),
    "search_window_seconds": _positive_seconds,
    "retry_after_on_429": _flag,
    "search_indexing_delay_seconds": _seconds,
    "search_max_filter_groups": _whole(1),
    "search_max_filters_per_group": _whole(1),
    "search_max_filters_total": _whole(1),
    "search_result_cap": _whole(1),
    "shuffle_results": _flag,
    "shuffle_seed": _whole(0),
    "omit_empty_properties": _flag,
    "fault_rate": _share,
    "fault_modes": _fault_list,
    "fault_seed": _whole(0),
    "fault_script": _fault_list,
    "fault_paths": _text,
    "fault_timeout_seconds": _seconds,
    "fault_retry_after_seconds": _whole(0),
    "webhook_url": _text,
    "webhook_client_secret": _text,
    "webhook_batch_delay_seconds": _seconds,
    "webhook_max_retries": _whole(0),
    "webhook_retry_delay_seconds": _seconds,
    "webhook_timeout_seconds": _positive_seconds,
    "webhook_duplicate_rate": _share,
    "webhook_subscriptions": _texts,
}


def config_updated(config: SimulatorConfig, changes: Mapping[str, Any]) -> SimulatorConfig:
    """Return `config` with `changes` applied; raise ConfigError if any change is bad."""
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        coerce = _COERCERS.get(name)
        if coerce is None:
            raise ConfigError(f"Unknown setting '{name}'; known: {sorted(_COERCERS)}.")
        checked[name] = coerce(name, value)
    if checked.get("fault_modes") == ():
        raise ConfigError("fault_modes must name at least one fault mode.")
    return dataclasses.replace(config, **checked)
