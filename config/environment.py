"""Read Sluicegate's configuration from environment variables.

One rule: every setting that comes from the environment is parsed here, once,
into the frozen `Environment` value; `config.settings` only assigns from it.
Nothing here logs or prints a value, so no secret can leak through it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION = "production"
DEVELOPMENT = "development"

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True, slots=True)
class Environment:
    """Every environment-driven setting, parsed and validated."""

    mode: str
    debug: bool
    data_dir: Path
    secret_key: str
    encryption_keys: tuple[str, ...]
    database_url: str | None
    redis_url: str | None
    allowed_hosts: tuple[str, ...]
    log_level: str
    log_format: str
    demo_database: str
    session_lifetime: int
    session_refresh_window: int
    login_max_failures_per_account: int
    login_max_failures_per_ip: int
    login_failure_window: int
    max_body_bytes: int = 10 * 1024 * 1024
    idempotency_seconds: int = 86400
    schema_check_seconds: float = 5.0
    rbac_check_seconds: float = 1.0

    @property
    def is_production(self) -> bool:
        return self.mode == PRODUCTION


def parse_bool(name: str, raw: str | None, *, default: bool) -> bool:
    """Return the boolean a variable spells; raise ImproperlyConfigured on anything else."""
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off.")


def parse_positive_int(name: str, raw: str | None, *, default: int) -> int:
    """Return the whole number (at least 1) a variable spells; raise ImproperlyConfigured otherwise."""
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number.") from None
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be at least 1.")
    return value


def parse_seconds(name: str, raw: str | None, *, default: float) -> float:
    """Return the seconds (0 or more, fractions allowed) a variable spells; raise otherwise."""
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds.") from None
    if not 0 <= value < float("inf"):
        raise ImproperlyConfigured(f"{name} must be 0 or more.")
    return value


def parse_list(raw: str | None) -> tuple[str, ...]:
    """Split a comma-separated variable into its non-empty, trimmed items."""
    if not raw:
        return ()
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def read_or_create_secret(path: Path, make: type[Fernet] | None = None) -> str:
    """Return the secret stored at `path`, creating it (mode 0600) on first use.

    `make=Fernet` stores a Fernet key, otherwise a random URL-safe token.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make.generate_key().decode() if make else secrets.token_urlsafe(50)
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def validate_fernet_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Return the keys unchanged after checking each is a valid Fernet key."""
    for index, key in enumerate(keys):
        try:
            Fernet(key.encode())
        except ValueError:
            raise ImproperlyConfigured(
                f"SLUICEGATE_ENCRYPTION_KEYS item {index + 1} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    return keys


def database_config(url: str) -> dict[str, Any]:
    """Return Django's DATABASES entry for a PostgreSQL URL.

    Accepts `postgres://user:password@host:port/name?sslmode=...`, and a
    percent-encoded socket directory as host (`postgres://user@%2Fsocket%2Fdir/name`).
    """
    if not url.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL.")
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    )
    return config


def load_environment(environ: Mapping[str, str]) -> Environment:
    """Parse `environ` into an `Environment`.

    Raises ImproperlyConfigured when production mode lacks a secret, or when a
    value cannot be parsed. In development mode missing secrets are generated
    once and kept under the data directory.
    """
    mode = environ.get("SLUICEGATE_ENV", PRODUCTION).strip().lower()
    if mode not in (PRODUCTION, DEVELOPMENT):
        raise ImproperlyConfigured("SLUICEGATE_ENV must be 'production' or 'development'.")
    production = mode == PRODUCTION
    data_dir = Path(environ.get("SLUICEGATE_DATA_DIR") or BASE_DIR / ".data").resolve()

    secret_key = environ.get("SECRET_KEY", "").strip()
    if not secret_key:
        if production:
            raise ImproperlyConfigured(
                "SECRET_KEY is not set. Production mode refuses to start without it; "
                "set SECRET_KEY, or SLUICEGATE_ENV=development to generate one."
            )
        secret_key = read_or_create_secret(data_dir / "secret_key")

    keys = parse_list(environ.get("SLUICEGATE_ENCRYPTION_KEYS"))
    if not keys:
        if production:
            raise ImproperlyConfigured(
                "SLUICEGATE_ENCRYPTION_KEYS is not set. Production mode refuses to start "
                "without a Fernet key to encrypt stored secrets."
            )
        keys = (read_or_create_secret(data_dir / "encryption_key", make=Fernet),)

    log_format = environ.get("SLUICEGATE_LOG_FORMAT", "text").strip().lower()
    if log_format not in ("text", "json"):
        raise ImproperlyConfigured("SLUICEGATE_LOG_FORMAT must be 'text' or 'json'.")

    return Environment(
        mode=mode,
        debug=parse_bool("DEBUG", environ.get("DEBUG"), default=False),
        data_dir=data_dir,
        secret_key=secret_key,
        encryption_keys=validate_fernet_keys(keys),
        database_url=environ.get("DATABASE_URL") or None,
        redis_url=environ.get("REDIS_URL") or None,
        allowed_hosts=parse_list(environ.get("ALLOWED_HOSTS")) or ("localhost", "127.0.0.1"),
        log_level=environ.get("SLUICEGATE_LOG_LEVEL", "INFO").strip().upper(),
        log_format=log_format,
        demo_database=environ.get("SLUICEGATE_DEMO_DATABASE", "sluicegate_demo"),
        session_lifetime=parse_positive_int(
            "SLUICEGATE_SESSION_LIFETIME", environ.get("SLUICEGATE_SESSION_LIFETIME"), default=86400
        ),
        session_refresh_window=parse_positive_int(
            "SLUICEGATE_SESSION_REFRESH_WINDOW",
            environ.get("SLUICEGATE_SESSION_REFRESH_WINDOW"),
            default=1209600,
        ),
        login_max_failures_per_account=parse_positive_int(
            "SLUICEGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT",
            environ.get("SLUICEGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT"),
            default=5,
        ),
        login_max_failures_per_ip=parse_positive_int(
            "SLUICEGATE_LOGIN_MAX_FAILURES_PER_IP",
            environ.get("SLUICEGATE_LOGIN_MAX_FAILURES_PER_IP"),
            default=20,
        ),
        login_failure_window=parse_positive_int(
            "SLUICEGATE_LOGIN_FAILURE_WINDOW",
            environ.get("SLUICEGATE_LOGIN_FAILURE_WINDOW"),
            default=900,
        ),
        max_body_bytes=parse_positive_int(
            "SLUICEGATE_MAX_BODY_BYTES",
            environ.get("SLUICEGATE_MAX_BODY_BYTES"),
            default=10 * 1024 * 1024,
        ),
        idempotency_seconds=parse_positive_int(
            "SLUICEGATE_IDEMPOTENCY_SECONDS",
            environ.get("SLUICEGATE_IDEMPOTENCY_SECONDS"),
            default=86400,
        ),
        schema_check_seconds=parse_seconds(
            "SLUICEGATE_SCHEMA_CHECK_SECONDS",
            environ.get("SLUICEGATE_SCHEMA_CHECK_SECONDS"),
            default=5.0,
        ),
        rbac_check_seconds=parse_seconds(
            "SLUICEGATE_RBAC_CHECK_SECONDS",
            environ.get("SLUICEGATE_RBAC_CHECK_SECONDS"),
            default=1.0,
        ),
    )
