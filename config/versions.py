"""Configuration versions in the shared cache: how every process learns that it must reload.

One rule: a process that changes a kind of configuration bumps that kind's
version once its transaction has committed; every process compares the
published version with the one it loaded (at most every few seconds) and
reloads when they differ. With Redis down nothing fails: the change is
logged as unpublished and readers see `UNAVAILABLE`, which never equals a
loaded version, so they reload until it is back.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"


def bump(key: str, what: str) -> None:
    """Publish a new version under `key` (`what` names the configuration in log lines)."""
    try:
        cache.incr(key)
    except ValueError:  # no version published yet
        cache.add(key, 1, timeout=None)
    except Exception:  # Redis down: other processes catch up when it is back
        logger.warning("could not publish the version of %s", what, exc_info=True)


def published(key: str, what: str) -> str:
    """The version published under `key`, or UNAVAILABLE when the cache cannot be read."""
    try:
        return str(cache.get(key, 0))
    except Exception:
        logger.warning("could not read the version of %s", what, exc_info=True)
        return UNAVAILABLE
