"""Share repeated response and parameter objects of a document as components.

One rule: only objects that are equal wherever they occur are shared, under
a name made of what they are (`Error404`, `BatchError400`, `include_count`),
so the document means exactly what it meant before, in a fraction of the size.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
COMPONENT_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        item[method]
        for item in document.get("paths", {}).values()
        for method in METHODS
        if method in item
    ]


def response_name(status: str, response: dict[str, Any]) -> str:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    batch = any(alt.get("$ref", "").endswith("/BatchError") for alt in schema.get("anyOf", []))
    return f"{'BatchError' if batch else 'Error'}{status}"


def share_responses(document: dict[str, Any]) -> None:
    """Error responses (every status but 200) as `#/components/responses/…`."""
    shared: dict[str, dict[str, Any]] = {}
    for operation in operations(document):
        for status, response in operation.get("responses", {}).items():
            if status == "200" or "$ref" in response:
                continue
            name = response_name(status, response)
            if shared.setdefault(name, response) == response:
                operation["responses"][status] = {"$ref": f"#/components/responses/{name}"}
    if shared:
        document.setdefault("components", {})["responses"] = dict(sorted(shared.items()))


def share_parameters(document: dict[str, Any]) -> None:
    """Parameters equal in every operation that has them, as `#/components/parameters/…`."""
    seen: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for operation in operations(document):
        for parameter in operation.get("parameters", []):
            seen[parameter["in"], parameter["name"]].append(parameter)
    shared: dict[str, dict[str, Any]] = {}
    names: dict[tuple[str, str], str] = {}
    for (place, name), found in seen.items():
        if len(found) < 2 or any(other != found[0] for other in found[1:]):
            continue
        key = name if place == "query" else f"{name}.{place}"
        if COMPONENT_NAME.match(key) and key not in shared:
            shared[key] = found[0]
            names[place, name] = key
    for operation in operations(document):
        operation_parameters = operation.get("parameters", [])
        for index, parameter in enumerate(operation_parameters):
            shared_name = names.get((parameter["in"], parameter["name"]))
            if shared_name is not None:
                operation_parameters[index] = {"$ref": f"#/components/parameters/{shared_name}"}
    if shared:
        document.setdefault("components", {})["parameters"] = dict(sorted(shared.items()))


def compact(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with repeated responses and parameters shared (changed in place)."""
    share_responses(document)
    share_parameters(document)
    return document
