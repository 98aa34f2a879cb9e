"""Run every benchmark of the project and print one table: ``python -m benchmarks [NAME ...]``.

Each row is measured in this run, next to its reference (DataJoint 2.3.5, the raw
driver, or numpy), and reported as a ratio ours / reference.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from .common import stop_servers

MODULES = ["bench_fetch", "bench_backends", "bench_objects", "bench_populate", "bench_diagram", "bench_browser"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help=f"subset of {', '.join(MODULES)}")
    args = parser.parse_args(argv)
    rows = []

    def report(name: str, ours: float, reference: float | None, note: str = "") -> None:
        rows.append((name, ours, reference, note))
        ratio = f"{ours / reference:.2f}" if reference else "-"
        print(f"  {name}: {ours:.4f} s vs {reference if reference is None else f'{reference:.4f} s'} "
              f"(ratio {ratio}) {note}", flush=True)

    failed = []
    try:
        for name in args.names or MODULES:
            try:
                module = importlib.import_module(f"benchmarks.{name}")
            except ModuleNotFoundError as error:
                if error.name == f"benchmarks.{name}":
                    continue
                raise
            print(f"[{name}]", flush=True)
            try:
                module.run(report)
            except Exception:
                failed.append(name)
                traceback.print_exc()
    finally:
        stop_servers()
    width = max((len(r[0]) for r in rows), default=10)
    print()
    print(f"{'benchmark':<{width}}  {'ours (s)':>10}  {'reference (s)':>13}  {'ratio':>6}  note")
    print("-" * (width + 50))
    for name, ours, reference, note in rows:
        ratio = f"{ours / reference:6.2f}" if reference else "     -"
        ref = f"{reference:13.4f}" if reference is not None else f"{'-':>13}"
        print(f"{name:<{width}}  {ours:10.4f}  {ref}  {ratio}  {note}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
