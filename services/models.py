"""Models of `services`: the platform's own state, kept in its PostgreSQL database.

One rule: a service's database password is stored only as a Fernet token
(`config.crypto`), set through `Service.set_password` and decrypted only for
code that connects (`Service.config()`); it never appears in repr, forms,
logs or error messages.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from config.crypto import decrypt_secret, encrypt_secret
from services.connection import ServiceConfig

# Paths of the platform itself under /api/v2 (API.md "Paths"); a service may not shadow them.
RESERVED_NAMES = frozenset({"user", "system", "hooks", "docs", "api"})
NAME_PATTERN = r"^[a-z0-9_-]+\Z"
# Unquoted-style PostgreSQL identifiers; 63 bytes is NAMEDATALEN - 1.
SCHEMA_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
MAX_IDENTIFIER_LENGTH = 63


def validate_service_name(value: str) -> None:
    """Refuse the names reserved for the platform's own paths (and any name starting with `_`)."""
    if value.startswith("_") or value in RESERVED_NAMES:
        raise ValidationError(
            "'%(value)s' is reserved for the platform's own paths; choose another name.",
            code="reserved",
            params={"value": value},
        )


validate_name_characters = RegexValidator(
    NAME_PATTERN,
    message="Use lower-case letters, digits, hyphens and underscores only.",
    code="invalid",
)


def parse_schemas(raw: str) -> tuple[str, ...]:
    """Return the schema names in a comma-separated list, in order.

    Raises ValidationError when the list is empty, holds an item that is not a
    plain PostgreSQL identifier, or names a schema twice.
    """
    names = tuple(item.strip() for item in raw.split(","))
    if not any(names):
        raise ValidationError("Name at least one schema.", code="required")
    for name in names:
        if len(name) > MAX_IDENTIFIER_LENGTH or not SCHEMA_PATTERN.fullmatch(name):
            raise ValidationError(
                "'%(name)s' is not a schema name (letters, digits, _ and $; "
                "not starting with a digit; at most 63 characters).",
                code="invalid",
                params={"name": name},
            )
    if len(set(names)) != len(names):
        raise ValidationError("A schema is listed twice.", code="duplicate")
    return names


def validate_schemas(value: str) -> None:
    """Validator form of `parse_schemas`."""
    parse_schemas(value)


class SslMode(models.TextChoices):
    """libpq's `sslmode` values."""

    DISABLE = "disable", "disable"
    ALLOW = "allow", "allow"
    PREFER = "prefer", "prefer"
    REQUIRE = "require", "require"
    VERIFY_CA = "verify-ca", "verify-ca"
    VERIFY_FULL = "verify-full", "verify-full"


class Service(models.Model):
    """A PostgreSQL database served as REST at `/api/v2/{name}/...`.

    Holds how to reach the database (host, port, database, user, an encrypted
    password, sslmode), which schemas to expose, and limits for serving it
    (records per request, pool sizes, statement timeout). Code that connects
    takes `config()`, an immutable `ServiceConfig`, never the model.
    """

    name = models.SlugField(
        max_length=64,
        unique=True,
        validators=[validate_service_name, validate_name_characters],
        help_text="URL name: /api/v2/<name>/… Lower-case letters, digits, - and _.",
    )
    label = models.CharField(max_length=128, help_text="Display name.")
    description = models.TextField(blank=True)
    host = models.CharField(
        max_length=255, help_text="Host name, IP address, or a Unix socket directory."
    )
    port = models.PositiveIntegerField(
        default=5432, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    database = models.CharField(max_length=MAX_IDENTIFIER_LENGTH)
    username = models.CharField(
        max_length=MAX_IDENTIFIER_LENGTH, help_text="The PostgreSQL user to connect as."
    )
    # A Fernet token (config.crypto), never the plaintext; set it with set_password().
    password_encrypted = models.TextField(editable=False)
    sslmode = models.CharField(max_length=16, choices=SslMode.choices, default=SslMode.PREFER)
    schemas = models.CharField(
        max_length=512,
        default="public",
        validators=[validate_schemas],
        help_text="Comma-separated schemas to expose; tables of the first one keep bare names.",
    )
    max_records = models.PositiveIntegerField(
        default=1000,
        validators=[MinValueValidator(1)],
        help_text="Most records one request may read or write.",
    )
    pool_min_size = models.PositiveIntegerField(
        default=1, help_text="Connections kept open per process (0: open on demand)."
    )
    pool_max_size = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1)],
        help_text="Most connections per process; at least the minimum.",
    )
    statement_timeout_ms = models.PositiveIntegerField(
        default=30_000, help_text="PostgreSQL statement_timeout in milliseconds (0: none)."
    )
    assume_roles = models.BooleanField(
        "assume PostgreSQL roles",
        default=False,
        help_text=(
            "Run each request under SET LOCAL ROLE to the caller's role's PostgreSQL role "
            "and pass its claims in request.claims, so row-level security in the database "
            "applies on top of Sluicegate's own policy."
        ),
    )
    active = models.BooleanField(default=True, help_text="Inactive services are not served.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = (
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535), name="service_port_range"
            ),
            models.CheckConstraint(condition=Q(max_records__gte=1), name="service_max_records_min"),
            models.CheckConstraint(
                condition=Q(pool_max_size__gte=1) & Q(pool_max_size__gte=F("pool_min_size")),
                name="service_pool_sizes",
                violation_error_message="The pool's maximum size must be at least 1 and at "
                "least its minimum size.",
            ),
        )

    def __str__(self) -> str:
        return self.name

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        """Validate the fields, and require a password unless `exclude` names its column.

        Django skips validation of non-editable fields, and the token column is
        non-editable so that no generated form or serializer ever carries it.
        """
        errors: dict[str, Any] = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if "password_encrypted" not in (exclude or ()) and not self.password_encrypted:
            errors.setdefault("password_encrypted", []).append(
                ValidationError("Set the database password.", code="required")
            )
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        """Check the settings that depend on each other (pool sizes)."""
        if (
            self.pool_min_size is not None
            and self.pool_max_size is not None
            and self.pool_max_size < self.pool_min_size
        ):
            raise ValidationError(
                {"pool_max_size": "Must be at least the minimum pool size."}, code="invalid"
            )

    def set_password(self, raw: str) -> None:
        """Store `raw` encrypted with the current key (not saved until `save()`)."""
        self.password_encrypted = encrypt_secret(raw)

    def get_password(self) -> str:
        """Return the decrypted password ("" if none is set).

        Raises config.crypto.DecryptionError when no configured key opens it.
        """
        if not self.password_encrypted:
            return ""
        return decrypt_secret(self.password_encrypted)

    def schema_names(self) -> tuple[str, ...]:
        """Return the exposed schemas in order, e.g. ("public", "crm")."""
        return tuple(name.strip() for name in self.schemas.split(",") if name.strip())

    def config(self) -> ServiceConfig:
        """Return the immutable connection settings, with the decrypted password.

        `stamp` is "<pk>:<updated_at>", so it changes with every saved edit.
        Raises config.crypto.DecryptionError when the password cannot be decrypted.
        """
        updated = self.updated_at.isoformat() if self.updated_at else ""
        return ServiceConfig(
            name=self.name,
            host=self.host,
            port=self.port,
            database=self.database,
            user=self.username,
            password=self.get_password(),
            sslmode=self.sslmode,
            schemas=self.schema_names(),
            max_records=self.max_records,
            pool_min_size=self.pool_min_size,
            pool_max_size=self.pool_max_size,
            statement_timeout_ms=self.statement_timeout_ms,
            assume_roles=self.assume_roles,
            stamp=f"{self.pk}:{updated}",
        )


# Event scripts live in their own package; importing them here registers them with the app.
from services.scripting.models import EventScript, ScriptHttpHost, ScriptRun  # noqa: E402, F401
