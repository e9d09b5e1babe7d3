"""Translate a Redis URL between the spellings of the clients that take it.

redis-py and Django's cache read `unix:///path/to/socket?db=N` for a socket;
Celery's transport (kombu) wants `redis+socket:///path?virtual_host=N`.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def kombu_url(redis_url: str) -> str:
    """Return `redis_url` spelled for kombu; TCP URLs are returned unchanged."""
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"
