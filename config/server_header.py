"""What the `Server:` response header says: the product's name, never the server's or a version.

One rule: nothing we send tells a client which web server or version runs
here. gunicorn writes `Server: gunicorn` from its module-level `SERVER`
name, read each time it starts a response; `hide_server_name()` replaces it.
"""

from __future__ import annotations

import importlib
import sys

SERVER_NAME = "Sluicegate"


def hide_server_name(name: str = SERVER_NAME) -> bool:
    """Make gunicorn answer with `Server: <name>`; return whether gunicorn is serving.

    Does nothing (and imports nothing) unless gunicorn is running this process.
    """
    if "gunicorn" not in sys.modules:
        return False
    # gunicorn ships no type information; the module is set through setattr.
    setattr(importlib.import_module("gunicorn.http.wsgi"), "SERVER", name)  # noqa: B010
    return True
