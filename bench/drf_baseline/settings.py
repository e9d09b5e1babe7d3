"""Settings of the DRF baseline: production-like (DEBUG off), loopback only.

DATABASE_URL names the server; BENCH_DEMO_DATABASE the database holding
`contacts` (the read benchmark's demo, or the write benchmark's own);
SECRET_KEY must be set (the benchmark generates one per run).
"""

from __future__ import annotations

import os
from typing import Any

import dj_database_url

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "bench.drf_baseline.apps.DrfBaselineConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "bench.drf_baseline.urls"
WSGI_APPLICATION = "bench.drf_baseline.wsgi.application"

_database: dict[str, Any] = dict(
    dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=600, conn_health_checks=True)
)
_database["NAME"] = os.environ["BENCH_DEMO_DATABASE"]
# Names its PostgreSQL sessions, so the benchmark can count their CPU time.
_database["OPTIONS"] = {**_database.get("OPTIONS", {}), "application_name": "bench-drf"}
DATABASES = {"default": _database}

# The same request body bound as Sluicegate's (Django's 2.5 MB default refuses a
# 10,000-record body); the write benchmark raises both alike when it must.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("SLUICEGATE_MAX_BODY_BYTES", 10 * 1024 * 1024))

USE_TZ = True
TIME_ZONE = "UTC"

# Generous to the baseline: JSON only, nobody to authenticate, nothing to throttle.
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
