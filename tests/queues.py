"""The Celery queue this test process uses in the shared broker.

Each test process (every xdist worker, every concurrent run) sends its tasks
to a queue of its own, so tests that read what was queued never see another
process's messages.
"""

from __future__ import annotations

import os

TEST_QUEUE = f"celery-test-{os.getpid()}"
