"""The Redis keys of this installation's sync machinery: job locks, queued pushes, webhook marks.

One rule: every such key is built by `sync_key`, which names the platform
database, so installations sharing one Redis (or test runs side by side)
never take each other's locks or drain each other's queues. The shared
HubSpot rate limiters are keyed by account instead (`sync.hubspot.ratelimit`):
every installation using one token must share its limit.
"""

from __future__ import annotations

from config.installation import installation


def sync_key(template: str, **parts: object) -> str:
    """`sg:{installation}:sync:` + `template` filled with `parts`."""
    return f"sg:{installation()}:sync:" + template.format(**parts)
