"""Answers to a script's platform calls, checked before the host sees them.

The one rule: everything a worker sends is untrusted — a call reaches the host only with
the argument types the host's protocol promises, and the host's answer goes back as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from services.scripting.sandbox.values import Host

logger = logging.getLogger(__name__)

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
STORE_OPS = frozenset({"get", "set", "delete"})


class CallRefused(ValueError):
    """A call whose arguments do not fit the platform's interface."""


def _text(args: Mapping[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise CallRefused(f"{key} must be a non-empty string")
    return value


def _mapping(args: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CallRefused(f"{key} must be a dict")
    return value


def _method(args: Mapping[str, Any]) -> str:
    method = _text(args, "method")
    if method not in METHODS:
        raise CallRefused("unknown method")
    return method


def _dispatch(host: Host, target: str, args: Mapping[str, Any]) -> Any:
    if target == "api":
        return host.api(
            _method(args), _text(args, "path"), args.get("payload"), _mapping(args, "params")
        )
    if target == "store":
        op = _text(args, "op")
        if op not in STORE_OPS:
            raise CallRefused("unknown store operation")
        ttl = args.get("ttl")
        if ttl is not None and (type(ttl) is not int or ttl <= 0):
            raise CallRefused("ttl must be a positive whole number of seconds")
        return host.store(op, _text(args, "key"), args.get("value"), ttl)
    if target == "http":
        headers = _mapping(args, "headers") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise CallRefused("headers must map strings to strings")
        return host.http(
            _method(args), _text(args, "url"), headers, args.get("body"), _mapping(args, "params")
        )
    raise CallRefused("unknown platform call")


def answer_call(host: Host, message: Any) -> dict[str, Any]:
    """Return the reply frame to one ``{"op": "call", …}`` frame from a worker."""
    target = message.get("target") if isinstance(message, dict) else None
    args = message.get("args") if isinstance(message, dict) else None
    if not isinstance(target, str) or not isinstance(args, dict):
        return {"fail": "error", "message": "malformed platform call"}
    try:
        return {"ok": _dispatch(host, target, args)}
    except PermissionError as exc:
        return {"fail": "permission", "message": str(exc) or "not allowed"}
    except (ValueError, TypeError) as exc:
        return {"fail": "error", "message": str(exc)[:400]}
    except Exception:
        logger.exception("platform.%s failed for a script", target)
        return {"fail": "error", "message": f"platform.{target} failed"}
