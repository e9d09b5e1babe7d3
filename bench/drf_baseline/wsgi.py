"""WSGI entry point of the DRF baseline (gunicorn: `bench.drf_baseline.wsgi:application`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.drf_baseline.settings")

application = get_wsgi_application()
