"""Django settings for Sluicegate, all taken from the environment.

The README's settings table documents every variable; `config.environment`
parses them. When DATABASE_URL / REDIS_URL are unset, the embedded servers
under the data directory are used if they are running (`config.launch`
starts them).
"""

from __future__ import annotations

import os

import django_stubs_ext
from celery.schedules import crontab
from corsheaders.defaults import default_headers as cors_default_headers

from config.embedded import running_postgres_url, running_redis_url
from config.environment import BASE_DIR, database_config, load_environment
from config.redis_urls import kombu_url

# Lets generic Django classes be subscripted at run time (`ModelAdmin[Service]`).
django_stubs_ext.monkeypatch()

ENV = load_environment(os.environ)

DEBUG = ENV.debug
SECRET_KEY = ENV.secret_key
ALLOWED_HOSTS = list(ENV.allowed_hosts)
SLUICEGATE_ENV = ENV.mode
SLUICEGATE_DATA_DIR = ENV.data_dir
SLUICEGATE_ENCRYPTION_KEYS = ENV.encryption_keys
SLUICEGATE_DEMO_DATABASE = ENV.demo_database
SLUICEGATE_SESSION_LIFETIME = ENV.session_lifetime
SLUICEGATE_SESSION_REFRESH_WINDOW = ENV.session_refresh_window
SLUICEGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT = ENV.login_max_failures_per_account
SLUICEGATE_LOGIN_MAX_FAILURES_PER_IP = ENV.login_max_failures_per_ip
SLUICEGATE_LOGIN_FAILURE_WINDOW = ENV.login_failure_window
SLUICEGATE_IDEMPOTENCY_SECONDS = ENV.idempotency_seconds
SLUICEGATE_SCHEMA_CHECK_SECONDS = ENV.schema_check_seconds
SLUICEGATE_RBAC_CHECK_SECONDS = ENV.rbac_check_seconds
# LDAP / Active Directory logins (None: off); rbac.ldap makes django-auth-ldap's settings of it.
SLUICEGATE_LDAP = ENV.ldap
SLUICEGATE_AUDIT = ENV.audit
SLUICEGATE_AUDIT_LOG = ENV.audit_log
SLUICEGATE_AUDIT_RETENTION_DAYS = ENV.audit_retention_days
SLUICEGATE_TRUSTED_PROXIES = ENV.trusted_proxies
SLUICEGATE_RATE_LIMIT_FAIL_CLOSED = ENV.rate_limit_fail_closed
SLUICEGATE_RATE_LIMIT_REDIS_TIMEOUT = ENV.rate_limit_redis_timeout
# HubSpot sync in near real time (docs/sync.md, "Webhooks and near-real-time pushes").
SLUICEGATE_SYNC_DEBOUNCE_SECONDS = ENV.sync_debounce_seconds
SLUICEGATE_SYNC_WEBHOOK_MAX_AGE_SECONDS = ENV.sync_webhook_max_age_seconds
SLUICEGATE_SYNC_WEBHOOK_DEDUPE_SECONDS = ENV.sync_webhook_dedupe_seconds
SLUICEGATE_SYNC_JOBS_CHECK_SECONDS = ENV.sync_jobs_check_seconds
# Event script sandbox workers per process: by default one per gunicorn thread
# (WEB_THREADS), so a request never waits for a free worker (docs/scripts.md).
SLUICEGATE_SCRIPT_WORKERS = ENV.script_workers

# An unset URL with no embedded server running is reported by the system
# check config.W001 / W002 rather than failing here, so tools that only import
# settings (mypy's Django plugin, `manage.py help`) still work.
DATABASE_URL = ENV.database_url or running_postgres_url(ENV.data_dir)
REDIS_URL = ENV.redis_url or running_redis_url(ENV.data_dir)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    # Swagger UI's files for /api/docs, served from here (no CDN).
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "corsheaders",
    "django_celery_beat",
    "config.apps.ConfigConfig",
    "services",
    "rbac",
    "sync",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "rbac.audit.AuditMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "rbac.cors.CorsMiddleware",
    "rbac.cors.AppOriginMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "rbac.audit_changes.AdminChangeActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_config(DATABASE_URL or "postgres:///sluicegate")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL or "redis://127.0.0.1:6379/0",
        "KEY_PREFIX": "sg",
    }
}

# Local accounts first; the directory backend does nothing while LDAP is off.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "rbac.ldap.DirectoryBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Development serves static files straight from the apps; production serves
# the collected, hashed copies (`collectstatic` runs in the container build).
STATIC_ROOT = BASE_DIR / "staticfiles" if ENV.is_production else None
WHITENOISE_USE_FINDERS = not ENV.is_production
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if ENV.is_production
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "services.api.errors.exception_handler",
    # drf-spectacular describes the views (`_spec` documents); `extend_schema` needs it.
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
# Largest request body accepted (bytes); larger ones answer 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = ENV.max_body_bytes
# drf-spectacular writes OpenAPI 3.1 (JSON Schema 2020-12), which `_spec` documents promise.
SPECTACULAR_SETTINGS = {"OAS_VERSION": "3.1.0", "TITLE": "Sluicegate"}

# OAuth 2.0 (django-oauth-toolkit): the provider's own models (model names, not secrets).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"  # noqa: S105
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"  # noqa: S105
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "Read records (GET)",
        "write": "Create, change and delete records (POST, PUT, PATCH, DELETE)",
    },
    "DEFAULT_SCOPES": ["read", "write"],
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": ENV.oauth_access_token_seconds,
    "REFRESH_TOKEN_EXPIRE_SECONDS": ENV.oauth_refresh_token_seconds,
    "ROTATE_REFRESH_TOKEN": True,
    # A replayed (already rotated) refresh token revokes its whole family.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # RFC 9700: tokens stored only as checksums, S256 PKCE only, no implicit or
    # password grant, no access token in a query string, the issuer named in
    # authorization responses. Plain-http redirect URIs stay allowed for native
    # apps' loopback callbacks (RFC 8252).
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
}
# The login page of the OAuth authorization-code flow; the admin keeps its own.
LOGIN_URL = "/oauth/login/"

CELERY_BROKER_URL = kombu_url(REDIS_URL) if REDIS_URL else None
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Task modules outside an app's own `tasks.py` (autodiscovery finds only those).
CELERY_IMPORTS = ("services.scripting.tasks",)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "purge-audit-records": {
        "task": "rbac.tasks.purge_audit",
        "schedule": crontab(hour=3, minute=17),
    },
}

# Security headers; HTTPS-only cookies whenever we are not in development.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = ENV.is_production
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = ENV.is_production
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A proxy that rewrites Host passes the original in X-Forwarded-Host (webhook signatures sign it).
USE_X_FORWARDED_HOST = ENV.use_x_forwarded_host
SECURE_REFERRER_POLICY = "same-origin"
# HSTS: a year in production, off in development (a browser would remember it for localhost).
SECURE_HSTS_SECONDS = ENV.hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = ENV.hsts_include_subdomains
SECURE_HSTS_PRELOAD = ENV.hsts_preload
# Off by default: TLS usually ends at a proxy, which redirects plain HTTP itself.
SECURE_SSL_REDIRECT = bool(ENV.ssl_redirect)
# SLUICEGATE_SSL_REDIRECT=false says so explicitly: `check --deploy` stops reminding then.
SILENCED_SYSTEM_CHECKS = ["security.W008"] if ENV.ssl_redirect is False else []

# CORS: only /api/v2 answers cross-origin requests, for the origins each app
# lists (`rbac.cors` decides per request; no origin is allowed globally).
CORS_URLS_REGEX = r"^/api/v2(?:/|$)"
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (
    *cors_default_headers,
    "x-dreamfactory-api-key",
    "x-api-key",
    "x-dreamfactory-session-token",
    "x-http-method",
    "x-method-override",
    "idempotency-key",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "X-Request-Id",
)
# Short, so an origin removed from an app stops being preflighted soon.
CORS_PREFLIGHT_MAX_AGE = 600

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.middleware.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": ENV.log_format,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": ENV.log_level},
    "loggers": {
        # Request bodies and SQL parameters may hold secrets: never log them.
        "django.db.backends": {"level": "WARNING", "propagate": True},
    },
}
