"""Run every benchmark (`make bench`) and print its figures as ratios.

Each module in BENCHMARKS has `run() -> list[str]`; the lines it returns say
what was measured, against which baseline, and the ratio. `python -m bench
NAME...` runs only the named ones.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

import django

BENCHMARKS = ("demo_load", "catalog", "read_api", "write_api", "sync_push", "sync_pull")


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.core.management import call_command

    # The read and write benchmarks register services and keys: the platform's tables must exist.
    call_command("migrate", interactive=False, verbosity=0)
    wanted = set(sys.argv[1:])
    for name in BENCHMARKS:
        if wanted and name not in wanted:
            continue
        started = time.perf_counter()
        lines = importlib.import_module(f"bench.{name}").run()
        print(f"== {name} ({time.perf_counter() - started:.1f}s)")
        for line in lines:
            print(f"   {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
