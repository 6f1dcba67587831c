"""`python -m tests.benchmarks`: run every `bench_*.py` module's `main()` in name order.

Each prints one JSON line per figure ({"bench", "figure", "value", "target", "ok", ...}). The
environment (database `wagateway_bench`, Redis db 14, loopback) is prepared once, here.
Exit status 1 when a module fails; a missed target is reported in its line, not as a failure.
"""
from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from tests.benchmarks.harness import prepare


def main(argv: list[str] | None = None) -> int:
    only = set(argv if argv is not None else sys.argv[1:])  # optional: module names to run
    prepare()
    failed = False
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        if only and path.stem not in only:
            continue
        module = importlib.import_module(f"tests.benchmarks.{path.stem}")
        try:
            module.main()
        except Exception:  # noqa: BLE001 - report it, run the others
            failed = True
            traceback.print_exc()
            print(f'{{"bench": "{path.stem}", "figure": "error", "value": null, "ok": false}}', flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
