"""Deployment checks of the services' databases (ids `services.W01x`).

One rule: these checks report, they never fail a command. Every active
service is probed with a short connect timeout, and whatever goes wrong (a
service out of reach, no platform database at all) becomes a Warning or
nothing, never an Error or a traceback. They are deployment checks
(`manage.py check --deploy`), so `migrate`, `runserver` and
`makemigrations --check` never wait for a target database.

Ids: W010 a service could not be tested; W011 it connects as a superuser;
W012 its role has BYPASSRLS; W013 its role owns exposed tables.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from config.crypto import DecryptionError
from services.connection import ServiceConfig
from services.models import Service
from services.probe import DECRYPTION_FAILED_MESSAGE, ProbeResult, test_connection
from services.sql.probe import Risk

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS: Final = 3
# Services are probed side by side, so `check --deploy` waits about one
# connect timeout, not one per unreachable service.
MAX_PARALLEL_PROBES: Final = 8

UNTESTED_ID: Final = "services.W010"
RISK_IDS: Final = {
    Risk.SUPERUSER: "services.W011",
    Risk.BYPASS_RLS: "services.W012",
    Risk.OWNER: "services.W013",
}
RISK_HINTS: Final = {
    Risk.SUPERUSER: "Connect as a role without SUPERUSER that holds only the grants it needs.",
    Risk.BYPASS_RLS: "ALTER ROLE ... NOBYPASSRLS, or connect as another role.",
    Risk.OWNER: (
        "Connect as a role that does not own the tables (grant it what it needs), "
        "or ALTER TABLE ... FORCE ROW LEVEL SECURITY."
    ),
}
UNTESTED_HINT: Final = "Use the service's Test connection button or `manage.py test_service`."


@checks.register(checks.Tags.database, deploy=True)
def check_service_privileges(**kwargs: Any) -> list[checks.CheckMessage]:
    """Probe every active service; warn when one cannot be reached or bypasses row security.

    Returns no messages when the platform's database cannot be read (no
    DATABASE_URL, not migrated yet, server down): `config.W001` and
    `migrate` speak for that.
    """
    try:
        services = list(Service.objects.filter(active=True).order_by("name"))
    except (DatabaseError, ImproperlyConfigured) as error:
        logger.debug("service checks skipped: platform database unavailable (%s)", error)
        return []
    configs: list[ServiceConfig | None] = []
    for service in services:
        try:
            configs.append(service.config())
        except DecryptionError:
            configs.append(None)
    results = probe_all([config for config in configs if config is not None])
    messages: list[checks.CheckMessage] = []
    found = iter(results)
    for service, config in zip(services, configs, strict=True):
        result = (
            ProbeResult(ok=False, message=DECRYPTION_FAILED_MESSAGE)
            if config is None
            else next(found)
        )
        messages.extend(service_messages(service, result))
    return messages


def probe_all(configs: Sequence[ServiceConfig]) -> list[ProbeResult]:
    """Return `test_connection` of each config, in order, probing them side by side."""
    if not configs:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PROBES, len(configs))) as pool:
        return list(pool.map(probe_one, configs))


def probe_one(config: ServiceConfig) -> ProbeResult:
    """Return `test_connection` with the checks' timeout; any failure becomes a result."""
    try:
        return test_connection(config, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except Exception as error:  # a check must never end `check --deploy` with a traceback
        logger.warning("service %s: check failed", config.name, exc_info=True)
        return ProbeResult(ok=False, message=f"The test failed ({type(error).__name__}).")


def service_messages(service: Service, result: ProbeResult) -> list[checks.CheckMessage]:
    """Return the check messages for one service's probe result."""
    if not result.ok:
        return [
            checks.Warning(
                f"Cannot test the service's database: {result.message}",
                hint=UNTESTED_HINT,
                obj=service,
                id=UNTESTED_ID,
            )
        ]
    if result.privileges is None:
        # The connection worked but the catalog could not be read.
        return [
            checks.Warning(
                f"The service {warning}.", hint=UNTESTED_HINT, obj=service, id=UNTESTED_ID
            )
            for warning in result.warnings
        ]
    return [
        checks.Warning(
            f"The service {sentence}.", hint=RISK_HINTS[risk], obj=service, id=RISK_IDS[risk]
        )
        for risk, sentence in result.privileges.risks
    ]
