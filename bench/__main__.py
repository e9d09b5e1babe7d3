"""Run every benchmark (`make bench`) and print its figures as ratios.

Each `bench/bench_*.py` module has `run() -> list[str]`; the lines it returns
say what was measured, against which baseline, and the ratio.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time

import django


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    wanted = set(sys.argv[1:])
    import bench

    for module in pkgutil.iter_modules(bench.__path__):
        if not module.name.startswith("bench_"):
            continue
        if wanted and module.name.removeprefix("bench_") not in wanted:
            continue
        started = time.perf_counter()
        lines = importlib.import_module(f"bench.{module.name}").run()
        print(f"== {module.name} ({time.perf_counter() - started:.1f}s)")
        for line in lines:
            print(f"   {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
