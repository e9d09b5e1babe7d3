"""WSGI entry point (gunicorn: `config.wsgi:application`)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.handlers import get_application
from config.server_header import hide_server_name

application = get_application()
# Under gunicorn: `Server: Sluicegate`, not gunicorn's name.
hide_server_name()
