"""Scripts around `_func` and `_proc` calls: generic and specific names, changes and aborts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.scripting.models import EventScript
from tests.services.api.conftest import Api

Maker = Callable[..., EventScript]


def post(api: Api, path: str, payload: Any) -> Any:
    return api.client.post(
        f"/api/v2/{api.service}{path}",
        json.dumps(payload),
        content_type="application/json",
        headers={"X-API-Key": api.key},
    )


def test_function_events_generic_then_specific(api: Api, make_script: Maker) -> None:
    generic = make_script(
        f"{api.service}._func.{{function_name}}.get.pre_process",
        'if "a" in event["request"]["parameters"]:\n    event["request"]["parameters"]["a"] = "10"',
        allow_event_modification=True,
    )
    make_script(
        f"{api.service}._func.add_numbers.get.post_process",
        'event["response"]["content"] = {"result": event["response"]["content"], '
        '"resource": event["resource"]}',
        allow_event_modification=True,
    )

    assert api.get("/_func/add_numbers", a=2).json() == {
        "result": 11,
        "resource": "_func/add_numbers",
    }
    # Inline arguments name the same function; other functions fire only the generic script.
    assert api.get("/_func/add_numbers(2,3)").json() == {
        "result": 5,
        "resource": "_func/add_numbers",
    }
    assert api.get("/_func/greet", name="x").json() == "hello x"
    assert generic.runs.count() == 3


def test_procedure_pre_process_abort(api: Api, make_script: Maker) -> None:
    make_script(
        f"{api.service}._proc.double_it.post.pre_process",
        'raise platform.Abort(409, "Doubling is paused.")',
    )

    refused = post(api, "/_proc/double_it", {"params": [2, 21]})

    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == "Doubling is paused."
    assert api.get("/_proc/double_it(2, 21)").json() == {"value": 42}  # a GET: another event
