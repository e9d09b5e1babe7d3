"""Check a service's database: test its connection, refresh its schema, in plain words.

One rule: what comes back is a clean one-line message for an admin, never a
traceback, raw driver text with connection details, or the password. The
admin, the management commands and anything else that checks a service call
these functions and show `message` as it is.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

import psycopg
from psycopg.conninfo import make_conninfo

from config.crypto import DecryptionError
from services.connection import ServiceConfig
from services.sql.probe import PrivilegeReport, read_privileges, server_version

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5
MAX_REASON_LENGTH = 200
VERSION_SHOWN = 12

# Message prefixes psycopg/libpq put before the server's own words.
NOISE = (
    re.compile(r"^connection (?:failed|is bad):\s*", re.IGNORECASE),
    re.compile(
        r'^connection to server (?:at|on socket) "[^"]*"(?: \([^)]*\))?(?:, port \d+)? failed:\s*'
    ),
    re.compile(r"^(?:FATAL|ERROR):\s*"),
)
# Reasons a server cannot be reached, by a fragment of libpq's message
# ({timeout} is the connect timeout in seconds).
UNREACHABLE = (
    ("connection refused", "connection refused"),
    ("failed to resolve host", "host name not found"),
    ("could not translate host name", "host name not found"),
    ("name or service not known", "host name not found"),
    ("timeout expired", "no answer within {timeout} seconds"),
    ("timed out", "no answer within {timeout} seconds"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("no such file or directory", "no server socket there"),
    ("invalid response to ssl negotiation", "the server there does not speak PostgreSQL"),
    ("expected authentication request", "the server there does not speak PostgreSQL"),
    ("server closed the connection unexpectedly", "the server closed the connection"),
)
ROLE_MISSING = re.compile(r'FATAL:\s+role "[^"]*" does not exist')
DATABASE_MISSING = re.compile(r'FATAL:\s+database "[^"]*" does not exist')
DECRYPTION_FAILED_MESSAGE = (
    "The stored password cannot be decrypted with the configured keys; set it again."
)
AUTH_SQLSTATES = frozenset({"28P01", "28000"})
UNKNOWN_DATABASE_SQLSTATE = "3D000"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of `test_connection`: `message` and `warnings` are fit to show an admin.

    `warnings` say how the connecting role gets past row-level security
    (`privileges`), or that this could not be read; each reads after the
    service's name ("Service 'crm' connects as superuser …") and has no final
    full stop. They are empty when the connection failed.
    """

    ok: bool
    message: str
    server_version: str | None = None
    warnings: tuple[str, ...] = ()
    privileges: PrivilegeReport | None = None


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """The outcome of `refresh_schema`: counts and version of the new snapshot when `ok`."""

    ok: bool
    message: str
    tables: int = 0
    routines: int = 0
    version: str | None = None


class Configurable(Protocol):
    """Anything that yields a ServiceConfig, such as a `services.models.Service`."""

    def config(self) -> ServiceConfig: ...


def check_connection(
    service: Configurable, *, connect_timeout: int = CONNECT_TIMEOUT_SECONDS
) -> ProbeResult:
    """Return `test_connection` for the service's settings (a failure if its password is unreadable)."""
    try:
        config = service.config()
    except DecryptionError:
        return ProbeResult(ok=False, message=DECRYPTION_FAILED_MESSAGE)
    return test_connection(config, connect_timeout=connect_timeout)


def check_schema(service: Configurable) -> RefreshResult:
    """Return `refresh_schema` for the service's settings (a failure if its password is unreadable)."""
    try:
        config = service.config()
    except DecryptionError:
        return RefreshResult(ok=False, message=DECRYPTION_FAILED_MESSAGE)
    return refresh_schema(config)


def test_connection(
    config: ServiceConfig,
    *,
    connect_timeout: int = CONNECT_TIMEOUT_SECONDS,  # noqa: PT028  (not a test, see __test__)
) -> ProbeResult:
    """Connect to the service's database, read its version and the role's risky privileges.

    Returns ProbeResult(ok=True, server_version=..., warnings=...) on
    success, otherwise ok=False and a clean message (authentication,
    unreachable host, unknown database, SSL, or "Connection failed:
    <reason>"). A privilege read that fails leaves ok=True with a warning
    saying so. Never raises for a database failure.
    """
    conninfo = make_conninfo("", **config.conninfo_params(), connect_timeout=str(connect_timeout))
    privileges: PrivilegeReport | None = None
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            version = server_version(conn)
            try:
                privileges = read_privileges(conn, schemas=config.schemas)
            except psycopg.Error as error:
                reason = clean_reason(str(error), config.password)
                logger.info("service %s: privilege check failed: %s", config.name, reason)
                warnings: tuple[str, ...] = (
                    f"connects, but the role's privileges could not be read: {reason.rstrip('.')}",
                )
            else:
                warnings = privileges.warnings
    except psycopg.Error as error:
        message = describe_connection_error(error, config, connect_timeout=connect_timeout)
        logger.info("service %s: connection test failed: %s", config.name, message)
        return ProbeResult(ok=False, message=message)
    return ProbeResult(
        ok=True,
        message=f"Connected to PostgreSQL {version}.",
        server_version=version,
        warnings=warnings,
        privileges=privileges,
    )


# Not a test, whatever pytest's name-based collection thinks when a test module imports it.
test_connection.__test__ = False  # type: ignore[attr-defined]  # pytest's documented opt-out


def refresh_schema(config: ServiceConfig) -> RefreshResult:
    """Re-read the service's catalog into a new schema snapshot; report what it holds.

    When the refresh fails with psycopg.OperationalError the connection is
    tested, so the message says why (e.g. "Authentication failed for user
    'x'."); other database errors give "Schema refresh failed: <reason>".
    """
    # Imported here: the schema cache pulls in the catalog layer and Redis,
    # which the admin and the commands need only when a refresh is asked for.
    from services.schema_cache import refresh_snapshot

    try:
        snapshot = refresh_snapshot(config)
    except psycopg.OperationalError as error:
        probe = test_connection(config)
        message = (
            probe.message
            if not probe.ok
            else f"Schema refresh failed: {clean_reason(str(error), config.password)}"
        )
        logger.info("service %s: schema refresh failed: %s", config.name, message)
        return RefreshResult(ok=False, message=message)
    except psycopg.Error as error:
        message = f"Schema refresh failed: {clean_reason(str(error), config.password)}"
        logger.info("service %s: schema refresh failed: %s", config.name, message)
        return RefreshResult(ok=False, message=message)
    tables, routines = len(snapshot.tables), len(snapshot.routines)
    return RefreshResult(
        ok=True,
        message=(
            f"Schema refreshed: {plural(tables, 'table')}, {plural(routines, 'routine')} "
            f"(version {short_version(snapshot.version)})."
        ),
        tables=tables,
        routines=routines,
        version=snapshot.version,
    )


def describe_connection_error(
    error: psycopg.Error, config: ServiceConfig, *, connect_timeout: int = CONNECT_TIMEOUT_SECONDS
) -> str:
    """Return a clean one-line message for a failure to connect with `config`.

    Uses the SQLSTATE when the driver has one (connection failures usually
    carry none), else the wording of libpq's message.
    """
    raw = str(error)
    text = raw.lower()
    sqlstate = getattr(error, "sqlstate", None)
    where = f"{config.host}:{config.port}"
    auth_failed = f"Authentication failed for user '{config.user}'."

    if "no pg_hba.conf entry" in text:
        if "no encryption" in text:
            return f"The server requires SSL, but sslmode is '{config.sslmode}'."
        return (
            f"{auth_failed[:-1]}: the server does not accept this user for database "
            f"'{config.database}' from here (pg_hba.conf)."
        )
    if (
        sqlstate in AUTH_SQLSTATES
        or "password authentication failed" in text
        or "no password supplied" in text
        or "authentication failed" in text
        or ROLE_MISSING.search(raw)
    ):
        return auth_failed
    if sqlstate == UNKNOWN_DATABASE_SQLSTATE or DATABASE_MISSING.search(raw):
        return f"Database '{config.database}' does not exist."
    if "server does not support ssl" in text:
        return f"The server does not support SSL, but sslmode is '{config.sslmode}'."
    for fragment, reason in UNREACHABLE:
        if fragment in text:
            return f"Cannot reach {where}: {reason.format(timeout=connect_timeout)}."
    if "ssl" in text or "certificate" in text:
        return f"SSL connection failed: {clean_reason(raw, config.password)}"
    return f"Connection failed: {clean_reason(raw, config.password)}"


def clean_reason(raw: str, password: str) -> str:
    """Return the first line of a driver message without its prefixes, the password or excess."""
    line = raw.strip().splitlines()[0] if raw.strip() else ""
    for pattern in NOISE:
        line = pattern.sub("", line)
    if password:
        line = line.replace(password, "***")
    line = " ".join(line.split())
    if len(line) > MAX_REASON_LENGTH:
        line = line[: MAX_REASON_LENGTH - 1] + "…"
    if not line:
        return "no reason given."
    return line if line.endswith((".", "…")) else line + "."


def short_version(version: str) -> str:
    """Return the first characters of a snapshot version, for messages."""
    return version if len(version) <= VERSION_SHOWN else version[:VERSION_SHOWN] + "…"


def plural(count: int, noun: str) -> str:
    """Return e.g. "1 table" or "3 tables"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
