"""Read Sluicegate's configuration from environment variables.

One rule: every setting that comes from the environment is parsed here, once,
into the frozen `Environment` value; `config.settings` only assigns from it.
Nothing here logs or prints a value, so no secret can leak through it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    ldap: LdapSettings | None = None  # None: LDAP logins are off
    hsts_seconds: int = 0
    hsts_include_subdomains: bool = True
    hsts_preload: bool = True
    ssl_redirect: bool | None = None  # None: not set (off, and `check --deploy` reminds)
    audit: bool = True
    audit_log: bool = True
    audit_retention_days: int = 90
    trusted_proxies: tuple[str, ...] = ()
    oauth_access_token_seconds: int = 3600
    oauth_refresh_token_seconds: int = 1209600
    rate_limit_fail_closed: bool = False
    rate_limit_redis_timeout: float = 0.25
    sync_debounce_seconds: float = 2.0
    sync_webhook_max_age_seconds: float = 300.0
    sync_webhook_dedupe_seconds: float = 900.0
    sync_jobs_check_seconds: float = 1.0
    use_x_forwarded_host: bool = False
    script_workers: int = 4  # by default one per gunicorn thread (WEB_THREADS)

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


def parse_int(name: str, raw: str | None, *, default: int, minimum: int) -> int:
    """Return the whole number (at least `minimum`) a variable spells; raise otherwise."""
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number.") from None
    if value < minimum:
        least = "0 or more" if minimum == 0 else f"at least {minimum}"
        raise ImproperlyConfigured(f"{name} must be {least}.")
    return value


def parse_positive_int(name: str, raw: str | None, *, default: int) -> int:
    """Return the whole number (at least 1) a variable spells; raise ImproperlyConfigured otherwise."""
    return parse_int(name, raw, default=default, minimum=1)


def parse_whole_number(name: str, raw: str | None, *, default: int) -> int:
    """Return the whole number (0 or more) a variable spells; raise ImproperlyConfigured otherwise."""
    return parse_int(name, raw, default=default, minimum=0)


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


def parse_networks(name: str, raw: str | None) -> tuple[str, ...]:
    """Return the comma-separated IP addresses or networks (CIDR) a variable lists; raise otherwise."""
    items = parse_list(raw)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: '{item}' is not an IP address or network."
            ) from None
    return items


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


LDAP_GROUP_TYPES = (
    "groupOfNames",
    "nestedGroupOfNames",
    "groupOfUniqueNames",
    "posixGroup",
    "activeDirectory",
    "nestedActiveDirectory",
)
LDAP_ROLE_MAP_SHAPE = (
    "SLUICEGATE_LDAP_ROLE_MAP must be a JSON object of app names to objects of group DN "
    'to role name, e.g. {"portal": {"cn=admins,ou=groups,dc=example,dc=org": "admin"}}.'
)


@dataclass(frozen=True, slots=True)
class LdapSettings:
    """LDAP / Active Directory logins (`SLUICEGATE_LDAP_*`), parsed and validated.

    `role_map` keeps the JSON's order: per app name, its (group DN, role name) pairs.
    """

    server_uri: str
    bind_dn: str
    bind_password: str = field(repr=False)
    user_search_base: str = ""
    user_filter: str = "(uid=%(user)s)"
    group_search_base: str = ""
    group_type: str = "groupOfNames"
    start_tls: bool = False
    ca_file: str = ""
    connect_timeout: float = 3.0
    network_timeout: float = 5.0
    first: bool = False
    role_map: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()


def parse_ldap_dn(name: str, raw: str) -> str:
    """Return `raw` unchanged when it is a valid DN; raise ImproperlyConfigured otherwise."""
    import ldap.dn  # python-ldap, only needed once LDAP is configured

    try:
        ldap.dn.str2dn(raw)
    except Exception:  # python-ldap raises DECODING_ERROR, or ValueError on odd input
        raise ImproperlyConfigured(f"{name} is not a valid LDAP DN.") from None
    return raw


def parse_ldap_role_map(raw: str | None) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Return the group → role mapping per app of SLUICEGATE_LDAP_ROLE_MAP, in its order."""
    if raw is None or not raw.strip():
        return ()
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(
            f"SLUICEGATE_LDAP_ROLE_MAP is not valid JSON ({error.msg} at character {error.pos})."
        ) from None
    if not isinstance(document, dict):
        raise ImproperlyConfigured(LDAP_ROLE_MAP_SHAPE)
    apps: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for app, groups in document.items():
        if not app.strip() or not isinstance(groups, dict) or not groups:
            raise ImproperlyConfigured(
                f"SLUICEGATE_LDAP_ROLE_MAP: app '{app}' must map to a non-empty object "
                "of group DN to role name."
            )
        pairs: list[tuple[str, str]] = []
        for group, role in groups.items():
            if not isinstance(role, str) or not role.strip():
                raise ImproperlyConfigured(
                    f"SLUICEGATE_LDAP_ROLE_MAP: the role of group '{group}' in app '{app}' "
                    "must be a role name."
                )
            parse_ldap_dn(f"SLUICEGATE_LDAP_ROLE_MAP: group '{group}' of app '{app}'", group)
            pairs.append((group, role.strip()))
        apps.append((app.strip(), tuple(pairs)))
    return tuple(apps)


def parse_ldap(environ: Mapping[str, str]) -> LdapSettings | None:
    """Return the LDAP login settings, or None when SLUICEGATE_LDAP_SERVER_URI is unset.

    Raises ImproperlyConfigured, naming the variable, for any value that
    cannot work (a URI that is not ldap:// or ldaps://, a missing search
    base, a filter without `%(user)s`, an unknown group type, a malformed
    role map …).
    """
    uri = (environ.get("SLUICEGATE_LDAP_SERVER_URI") or "").strip()
    if not uri:
        return None
    if not all(part.lower().startswith(("ldap://", "ldaps://")) for part in uri.split()):
        raise ImproperlyConfigured(
            "SLUICEGATE_LDAP_SERVER_URI must be ldap://host[:port] or ldaps://host[:port] "
            "(several separated by spaces)."
        )
    start_tls = parse_bool(
        "SLUICEGATE_LDAP_START_TLS", environ.get("SLUICEGATE_LDAP_START_TLS"), default=False
    )
    if start_tls and "ldaps://" in uri.lower():
        raise ImproperlyConfigured(
            "SLUICEGATE_LDAP_START_TLS is for ldap:// URIs; ldaps:// is already encrypted."
        )
    bind_dn = (environ.get("SLUICEGATE_LDAP_BIND_DN") or "").strip()
    if bind_dn:
        parse_ldap_dn("SLUICEGATE_LDAP_BIND_DN", bind_dn)
    user_base = (environ.get("SLUICEGATE_LDAP_USER_SEARCH_BASE") or "").strip()
    if not user_base:
        raise ImproperlyConfigured(
            "SLUICEGATE_LDAP_USER_SEARCH_BASE is required with SLUICEGATE_LDAP_SERVER_URI "
            "(e.g. ou=people,dc=example,dc=org)."
        )
    parse_ldap_dn("SLUICEGATE_LDAP_USER_SEARCH_BASE", user_base)
    user_filter = (environ.get("SLUICEGATE_LDAP_USER_FILTER") or "").strip() or "(uid=%(user)s)"
    try:
        filled = user_filter % {"user": "x"}
    except (KeyError, ValueError, TypeError):
        filled = ""
    if "%(user)s" not in user_filter or not (filled.startswith("(") and filled.endswith(")")):
        raise ImproperlyConfigured(
            "SLUICEGATE_LDAP_USER_FILTER must be an LDAP filter in parentheses naming "
            "%(user)s, e.g. (uid=%(user)s) or (sAMAccountName=%(user)s)."
        )
    group_base = (environ.get("SLUICEGATE_LDAP_GROUP_SEARCH_BASE") or "").strip()
    if group_base:
        parse_ldap_dn("SLUICEGATE_LDAP_GROUP_SEARCH_BASE", group_base)
    group_type_raw = (environ.get("SLUICEGATE_LDAP_GROUP_TYPE") or "").strip() or "groupOfNames"
    group_type = next(
        (name for name in LDAP_GROUP_TYPES if name.lower() == group_type_raw.lower()), None
    )
    if group_type is None:
        raise ImproperlyConfigured(
            f"SLUICEGATE_LDAP_GROUP_TYPE must be one of {', '.join(LDAP_GROUP_TYPES)}."
        )
    role_map = parse_ldap_role_map(environ.get("SLUICEGATE_LDAP_ROLE_MAP"))
    if role_map and not group_base:
        raise ImproperlyConfigured(
            "SLUICEGATE_LDAP_ROLE_MAP needs SLUICEGATE_LDAP_GROUP_SEARCH_BASE "
            "(where the groups are looked up)."
        )
    ca_file = (environ.get("SLUICEGATE_LDAP_CA_FILE") or "").strip()
    if ca_file and not Path(ca_file).is_file():
        raise ImproperlyConfigured("SLUICEGATE_LDAP_CA_FILE does not name a readable file.")
    timeouts = [
        parse_seconds(name, environ.get(name), default=default)
        for name, default in (
            ("SLUICEGATE_LDAP_CONNECT_TIMEOUT", 3.0),
            ("SLUICEGATE_LDAP_NETWORK_TIMEOUT", 5.0),
        )
    ]
    if not all(timeouts):
        raise ImproperlyConfigured("SLUICEGATE_LDAP_*_TIMEOUT must be more than 0 seconds.")
    return LdapSettings(
        server_uri=uri,
        bind_dn=bind_dn,
        bind_password=environ.get("SLUICEGATE_LDAP_BIND_PASSWORD") or "",
        user_search_base=user_base,
        user_filter=user_filter,
        group_search_base=group_base,
        group_type=group_type,
        start_tls=start_tls,
        ca_file=ca_file,
        connect_timeout=timeouts[0],
        network_timeout=timeouts[1],
        first=parse_bool(
            "SLUICEGATE_LDAP_FIRST", environ.get("SLUICEGATE_LDAP_FIRST"), default=False
        ),
        role_map=role_map,
    )


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
    debug = parse_bool("DEBUG", environ.get("DEBUG"), default=False)
    if debug and production:
        raise ImproperlyConfigured(
            "DEBUG is refused in production mode: its error pages show code, settings and "
            "versions. Use SLUICEGATE_ENV=development to debug."
        )

    return Environment(
        mode=mode,
        debug=debug,
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
        ldap=parse_ldap(environ),
        rbac_check_seconds=parse_seconds(
            "SLUICEGATE_RBAC_CHECK_SECONDS",
            environ.get("SLUICEGATE_RBAC_CHECK_SECONDS"),
            default=1.0,
        ),
        hsts_seconds=parse_whole_number(
            "SLUICEGATE_HSTS_SECONDS",
            environ.get("SLUICEGATE_HSTS_SECONDS"),
            default=31536000 if production else 0,
        ),
        hsts_include_subdomains=parse_bool(
            "SLUICEGATE_HSTS_INCLUDE_SUBDOMAINS",
            environ.get("SLUICEGATE_HSTS_INCLUDE_SUBDOMAINS"),
            default=True,
        ),
        hsts_preload=parse_bool(
            "SLUICEGATE_HSTS_PRELOAD", environ.get("SLUICEGATE_HSTS_PRELOAD"), default=True
        ),
        ssl_redirect=None
        if environ.get("SLUICEGATE_SSL_REDIRECT") is None
        else parse_bool(
            "SLUICEGATE_SSL_REDIRECT", environ.get("SLUICEGATE_SSL_REDIRECT"), default=False
        ),
        audit=parse_bool("SLUICEGATE_AUDIT", environ.get("SLUICEGATE_AUDIT"), default=True),
        audit_log=parse_bool(
            "SLUICEGATE_AUDIT_LOG", environ.get("SLUICEGATE_AUDIT_LOG"), default=True
        ),
        audit_retention_days=parse_positive_int(
            "SLUICEGATE_AUDIT_RETENTION_DAYS",
            environ.get("SLUICEGATE_AUDIT_RETENTION_DAYS"),
            default=90,
        ),
        trusted_proxies=parse_networks(
            "SLUICEGATE_TRUSTED_PROXIES", environ.get("SLUICEGATE_TRUSTED_PROXIES")
        ),
        oauth_access_token_seconds=parse_positive_int(
            "SLUICEGATE_OAUTH_ACCESS_TOKEN_SECONDS",
            environ.get("SLUICEGATE_OAUTH_ACCESS_TOKEN_SECONDS"),
            default=3600,
        ),
        oauth_refresh_token_seconds=parse_positive_int(
            "SLUICEGATE_OAUTH_REFRESH_TOKEN_SECONDS",
            environ.get("SLUICEGATE_OAUTH_REFRESH_TOKEN_SECONDS"),
            default=1209600,
        ),
        rate_limit_fail_closed=parse_bool(
            "SLUICEGATE_RATE_LIMIT_FAIL_CLOSED",
            environ.get("SLUICEGATE_RATE_LIMIT_FAIL_CLOSED"),
            default=False,
        ),
        rate_limit_redis_timeout=parse_seconds(
            "SLUICEGATE_RATE_LIMIT_REDIS_TIMEOUT",
            environ.get("SLUICEGATE_RATE_LIMIT_REDIS_TIMEOUT"),
            default=0.25,
        ),
        sync_debounce_seconds=parse_seconds(
            "SLUICEGATE_SYNC_DEBOUNCE_SECONDS",
            environ.get("SLUICEGATE_SYNC_DEBOUNCE_SECONDS"),
            default=2.0,
        ),
        sync_webhook_max_age_seconds=parse_seconds(
            "SLUICEGATE_SYNC_WEBHOOK_MAX_AGE_SECONDS",
            environ.get("SLUICEGATE_SYNC_WEBHOOK_MAX_AGE_SECONDS"),
            default=300.0,
        ),
        sync_webhook_dedupe_seconds=parse_seconds(
            "SLUICEGATE_SYNC_WEBHOOK_DEDUPE_SECONDS",
            environ.get("SLUICEGATE_SYNC_WEBHOOK_DEDUPE_SECONDS"),
            default=900.0,
        ),
        sync_jobs_check_seconds=parse_seconds(
            "SLUICEGATE_SYNC_JOBS_CHECK_SECONDS",
            environ.get("SLUICEGATE_SYNC_JOBS_CHECK_SECONDS"),
            default=1.0,
        ),
        use_x_forwarded_host=parse_bool(
            "SLUICEGATE_USE_X_FORWARDED_HOST",
            environ.get("SLUICEGATE_USE_X_FORWARDED_HOST"),
            default=False,
        ),
        script_workers=parse_positive_int(
            "SLUICEGATE_SCRIPT_WORKERS",
            environ.get("SLUICEGATE_SCRIPT_WORKERS"),
            default=parse_positive_int("WEB_THREADS", environ.get("WEB_THREADS"), default=4),
        ),
    )
