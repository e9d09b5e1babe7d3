"""gunicorn settings, from the environment.

PORT / BIND choose the address (127.0.0.1:8000 by default, 0.0.0.0 in the
container), WEB_CONCURRENCY the worker count, WEB_THREADS threads per worker.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# Load the application once in the master and fork workers from it: a worker
# (re)starts in milliseconds instead of importing Django again. Connection
# pools and caches are opened lazily, in each worker.
preload_app = True
# Recycle workers now and then so a slow leak never grows unbounded; not so
# often that a busy worker restarts every few seconds.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "50000"))
max_requests_jitter = 5000
accesslog = "-"
errorlog = "-"
# API calls are logged by the audit trail's JSON line instead (config/access_log.py).
logger_class = "config.access_log.AccessLogger"
# Never log headers or query strings: they can carry API keys and tokens.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def worker_exit(server: object, worker: object) -> None:
    """Write the audit records a worker still holds before it exits."""
    import sys

    audit = sys.modules.get("rbac.audit")
    if audit is not None:
        audit.flush()
