"""The Redis keys of this installation's sync machinery: job locks, queued pushes, webhook marks.

One rule: every such key is built by `sync_key`, which names the platform
database, so installations sharing one Redis (or test runs side by side)
never take each other's locks or drain each other's queues. The shared
HubSpot rate limiters are keyed by account instead (`sync.hubspot.ratelimit`):
every installation using one token must share its limit.
"""

from __future__ import annotations

from django.conf import settings


def sync_key(template: str, **parts: object) -> str:
    """`sg:{platform database}:sync:` + `template` filled with `parts`."""
    database = settings.DATABASES["default"].get("NAME") or "default"
    return f"sg:{database}:sync:" + template.format(**parts)
