"""WSGI entry point (gunicorn: `config.wsgi:application`)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.handlers import get_application

application = get_application()
