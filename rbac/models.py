"""Models of `rbac`: the platform's own state about who may call the API and what they may do.

One rule: these rows are configuration, read by `rbac.state` into one
immutable in-memory value per process; every save or delete bumps a version
in Redis so each process reloads it (see `rbac.state`).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from oauth2_provider.settings import oauth2_settings

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
REQUESTORS = ("API", "SCRIPT")


def all_verbs() -> list[str]:
    return list(VERBS)


def api_requestor() -> list[str]:
    return ["API"]


class AdminApiKey(models.Model):
    """An API key that acts as a superuser: for operators, automation and benchmarks.

    Only the SHA-256 digest of the key is stored; the key itself is shown once,
    when `manage.py create_admin_key` creates it. Keys of a user who is no
    longer an active superuser stop working.
    """

    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="admin_api_keys"
    )
    prefix = models.CharField(
        max_length=12, help_text="The key's first characters, to tell keys apart."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "admin API key"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Role(models.Model):
    """A named set of access rules; apps and users are given roles, never rules directly."""

    name = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    pg_role = models.CharField(
        "PostgreSQL role",
        max_length=63,
        blank=True,
        help_text=(
            "Optional. On services that assume roles, each request of this role runs "
            "under SET LOCAL ROLE to this PostgreSQL role, so row-level security in the "
            "database applies as well."
        ),
    )

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class AccessRule(models.Model):
    """What a role may do with one component of one service (or of every service).

    The component is `*`, an exact path (`_table/contacts`) or a wildcard
    (`_table/*`, `_table/contacts/*`). For tables, the rule also carries the
    column and row policy. NULL column lists mean "every column".
    """

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="rules")
    service = models.ForeignKey(
        "services.Service",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="access_rules",
        help_text="Leave empty for a rule on every service.",
    )
    component = models.CharField(
        max_length=255,
        default="*",
        help_text="`*`, `_table/*`, `_table/contacts`, `_table/contacts/*`, `_schema/*`, `_proc/*` …",
    )
    verbs = ArrayField(models.CharField(max_length=6), default=all_verbs)
    requestors = ArrayField(models.CharField(max_length=6), default=api_requestor)
    readable_columns = ArrayField(
        models.CharField(max_length=63),
        null=True,
        blank=True,
        help_text="Columns the role may read; empty means every column.",
    )
    writable_columns = ArrayField(
        models.CharField(max_length=63),
        null=True,
        blank=True,
        help_text="Columns the role may write; empty means every column.",
    )
    row_filter = models.TextField(
        blank=True,
        help_text="A filter in the API's filter language, ANDed with every query, e.g. "
        "owner_id = {user.id}.",
    )
    presets = models.JSONField(
        default=dict,
        blank=True,
        help_text='Column values set on create and update, e.g. {"owner_id": "{user.id}"}.',
    )
    max_page_size = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("role", "service", "component")

    def __str__(self) -> str:
        where = self.service.name if self.service_id and self.service else "every service"
        return f"{self.role}: {','.join(self.verbs)} {self.component} on {where}"


class App(models.Model):
    """A client of the API, identified by its API key; its default role applies to its calls.

    Only the key's SHA-256 digest is stored; the key is shown once, when it is
    created or regenerated.
    """

    name = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    default_role = models.ForeignKey(
        Role, on_delete=models.SET_NULL, null=True, blank=True, related_name="default_for_apps"
    )
    key_prefix = models.CharField(max_length=12, blank=True, editable=False)
    # NULL, not "", for "no key": the unique index must allow many apps without one.
    key_digest = models.CharField(max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    key_created_at = models.DateTimeField(null=True, editable=False)
    cors_origins = models.TextField(
        blank=True,
        help_text="Browser origins allowed to call the API with this app, one per line "
        "(e.g. https://app.example.com).",
    )

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class UserAppRole(models.Model):
    """The role a user has when calling through one app (else the app's default role)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_roles"
    )
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="user_roles")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="user_apps")

    class Meta:
        verbose_name = "user's role in an app"
        constraints = (
            models.UniqueConstraint(fields=("user", "app"), name="one_role_per_user_app"),
        )

    def __str__(self) -> str:
        return f"{self.user} in {self.app}: {self.role}"


class Lookup(models.Model):
    """A named value usable as `{key}` in filters: for the system, an app, a role or a user.

    The most specific one wins (user over role over app over system). Private
    lookups are only given to event scripts, never to filters.
    """

    key = models.CharField(max_length=64)
    value = models.TextField(blank=True)
    private = models.BooleanField(default=False)
    app = models.ForeignKey(
        App, on_delete=models.CASCADE, null=True, blank=True, related_name="lookups"
    )
    role = models.ForeignKey(
        Role, on_delete=models.CASCADE, null=True, blank=True, related_name="lookups"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="lookups",
    )

    class Meta:
        ordering = ("key",)
        constraints = (
            models.CheckConstraint(
                condition=(
                    Q(app__isnull=True, role__isnull=True)
                    | Q(app__isnull=True, user__isnull=True)
                    | Q(role__isnull=True, user__isnull=True)
                ),
                name="lookup_has_one_owner",
            ),
            models.UniqueConstraint(
                fields=("key", "app", "role", "user"),
                name="one_lookup_per_key_and_owner",
                nulls_distinct=False,
            ),
        )

    def __str__(self) -> str:
        return f"{{{self.key}}}"

    @property
    def scope(self) -> str:
        if self.user_id:
            return f"user {self.user}"
        if self.role_id:
            return f"role {self.role}"
        if self.app_id:
            return f"app {self.app}"
        return "system"


class OAuthClient(models.Model):
    """Links an OAuth 2.0 client (django-oauth-toolkit's Application) to the app it acts for.

    Tokens issued to the client resolve roles as the app's API key would:
    client credentials get the app's default role, an authorization code the
    user's role for the app.
    """

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="sluicegate"
    )
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="oauth_clients")

    class Meta:
        verbose_name = "OAuth client"

    def __str__(self) -> str:
        return f"{self.application} → {self.app}"


class Limit(models.Model):
    """A rate limit: at most `rate` calls per `period` within its scope (DreamFactory's limit types)."""

    SCOPES = (
        ("instance", "Instance"),
        ("instance.user", "Instance, one user"),
        ("instance.each_user", "Instance, each user"),
        ("app", "App"),
        ("app.user", "App, one user"),
        ("app.each_user", "App, each user"),
        ("role", "Role"),
        ("role.user", "Role, one user"),
        ("role.each_user", "Role, each user"),
        ("service", "Service"),
        ("service.user", "Service, one user"),
        ("service.each_user", "Service, each user"),
        ("service.endpoint", "Service endpoint"),
        ("service.endpoint.user", "Service endpoint, one user"),
        ("service.endpoint.each_user", "Service endpoint, each user"),
    )
    PERIODS = (
        ("minute", "Minute"),
        ("hour", "Hour"),
        ("day", "Day"),
        ("7-day", "7 days"),
        ("30-day", "30 days"),
    )

    name = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    scope = models.CharField(max_length=32, choices=SCOPES, default="instance")
    rate = models.PositiveIntegerField(help_text="Calls allowed per period.")
    period = models.CharField(max_length=8, choices=PERIODS, default="minute")
    verb = models.CharField(
        max_length=6,
        blank=True,
        choices=[(verb, verb) for verb in VERBS],
        help_text="Count only calls with this verb (blank: every verb).",
    )
    app = models.ForeignKey(App, on_delete=models.CASCADE, null=True, blank=True)
    role = models.ForeignKey(Role, on_delete=models.CASCADE, null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True
    )
    service = models.ForeignKey("services.Service", on_delete=models.CASCADE, null=True, blank=True)
    endpoint = models.CharField(
        max_length=255,
        blank=True,
        help_text="A resource of the service, e.g. `_table/contacts` or `_table/*`.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def required_fields(self) -> frozenset[str]:
        """Return which of app, role, user, service and endpoint this limit's scope needs."""
        kind = self.scope.split(".", 1)[0]
        needed = {kind} if kind in ("app", "role", "service") else set()
        if self.scope.startswith("service.endpoint"):
            needed.add("endpoint")
        if self.scope.endswith(".user"):
            needed.add("user")
        return frozenset(needed)

    def clean(self) -> None:
        """Check that the scope's targets are given and nothing else is; tidy the endpoint.

        Raises ValidationError naming each field at fault.
        """
        from django.core.exceptions import ValidationError

        self.endpoint = self.endpoint.strip().strip("/")
        scope = dict(self.SCOPES).get(self.scope, self.scope)
        needed = self.required_fields()
        given = {
            "app": self.app_id is not None,
            "role": self.role_id is not None,
            "user": self.user_id is not None,
            "service": self.service_id is not None,
            "endpoint": bool(self.endpoint),
        }
        errors: dict[str, str] = {}
        for name, present in given.items():
            if name in needed and not present:
                article = "an" if name[0] in "aeiou" else "a"
                errors[name] = f"A limit of scope '{scope}' needs {article} {name}."
            elif name not in needed and present:
                errors[name] = f"Leave this empty: a limit of scope '{scope}' has no {name}."
        if self.endpoint and ("*" in self.endpoint[:-1] or any(c.isspace() for c in self.endpoint)):
            errors["endpoint"] = (
                "An endpoint is a resource such as _table/contacts; '*' may only end it "
                "(_table/*, _table/cont*)."
            )
        if self.rate is not None and self.rate < 1:
            errors["rate"] = "A limit allows at least 1 call per period."
        if errors:
            raise ValidationError(errors)


class AuditRecord(models.Model):
    """One API request: who made it, what it touched, how it ended."""

    time = models.DateTimeField(db_index=True)
    request_id = models.CharField(max_length=64, db_index=True)
    # Names and ids as they were: a record outlives the user, app or role.
    user_id = models.IntegerField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True)
    app = models.CharField(max_length=64, blank=True)
    role = models.CharField(max_length=64, blank=True)
    requestor = models.CharField(max_length=8, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=2048)
    service = models.CharField(max_length=64, blank=True)
    table = models.CharField(max_length=255, blank=True)
    verb = models.CharField(max_length=8, blank=True)
    status = models.PositiveSmallIntegerField()
    rows = models.IntegerField(null=True, blank=True)
    duration_ms = models.FloatField()

    class Meta:
        ordering = ("-time",)
        indexes = (
            models.Index(fields=("service", "table", "time")),
            models.Index(fields=("username", "time")),
            models.Index(fields=("app", "time")),
            models.Index(fields=("status", "time")),
        )

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.method} {self.path} {self.status}"


class AdminChange(models.Model):
    """One change an admin made to the platform's configuration, with secrets masked."""

    ACTIONS = (("create", "Create"), ("update", "Update"), ("delete", "Delete"))

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=8, choices=ACTIONS)
    model = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("-time",)

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.model}"
