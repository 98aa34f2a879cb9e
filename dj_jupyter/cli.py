"""The ``dj-jupyter`` console: workers for schedulers, status, and maintenance.

``dj-jupyter worker PIPELINE_MODULE`` is what SLURM, Kubernetes or Airflow start
on each node: it imports the pipeline package and keeps populating its tables
with reserved jobs until told to stop (or, with ``--until-empty``, until
nothing is left to do).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import signal
import sys
import time

from .errors import DataJointError, LostConnectionError, TransactionConflictError


def _pipeline_tables(module_name: str, names: list[str] | None = None, auto_only: bool = True) -> list:
    from .jobs.autopopulate import AutoPopulate
    from .table import Table

    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise DataJointError(f"Cannot import the pipeline module {module_name}: {error}",
                             hint="Run from the directory that contains it or install it; check PYTHONPATH.") from None
    found = {}
    for name, member in vars(module).items():
        if inspect.isclass(member) and issubclass(member, Table) and getattr(member, "database", None):
            if not auto_only or issubclass(member, AutoPopulate):
                found[name] = member
    if names:
        unknown = [n for n in names if n not in found]
        if unknown:
            raise DataJointError(f"{module_name} has no auto-populated table(s) {', '.join(unknown)}.",
                                 hint=f"Known: {', '.join(sorted(found))}.")
        found = {n: found[n] for n in names}
    if not found:
        return []
    connection = next(iter(found.values())).connection
    order = connection.dependencies.topological((cls.database, cls.table_name) for cls in found.values())
    by_node = {(cls.database, cls.table_name): cls for cls in found.values()}
    return [by_node[node] for node in order]


MAX_TRANSIENT_FAILURES = 120  # lost connections or conflicts in a row before a worker gives up


def run_worker(module_name: str, tables: list[str] | None, processes: int, max_calls: int | None,
               until_empty: bool, sleep: float) -> int:
    classes = _pipeline_tables(module_name, tables)
    if not classes:
        print(f"dj-jupyter worker: {module_name} has no auto-populated tables.", file=sys.stderr)
        return 1
    stopping = {"now": False}

    def stop(signum, frame):
        stopping["now"] = True
        from .jobs.populate import request_stop

        for cls in classes:
            request_stop(cls())

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    calls = 0
    failures = 0  # transient failures in a row
    while not stopping["now"]:
        made = 0
        for cls in classes:
            if stopping["now"]:
                break
            remaining = None if max_calls is None else max_calls - calls
            if remaining is not None and remaining <= 0:
                break
            try:
                result = cls().populate(reserve_jobs=True, suppress_errors=True, processes=processes,
                                        max_calls=remaining)
            except (LostConnectionError, TransactionConflictError) as error:
                # the server restarted or another worker's transaction collided with ours: not this
                # worker's fault, and nothing was committed half-way; try again after a pause
                failures += 1
                if failures > MAX_TRANSIENT_FAILURES:
                    raise
                print(f"dj-jupyter worker: {cls.__name__}: {str(error).splitlines()[0]} (retrying)",
                      file=sys.stderr, flush=True)
                time.sleep(min(sleep, 1.0))
                made += 1  # not idle: do not stop with --until-empty
                continue
            failures = 0
            made += result["success_count"] + len(result["error_list"])
            calls += result["success_count"] + len(result["error_list"])
            for key, message in result["error_list"]:
                print(f"{cls.__name__} {key}: {message}", file=sys.stderr, flush=True)
        if max_calls is not None and calls >= max_calls:
            break
        if made == 0:
            if until_empty:
                break
            time.sleep(sleep)
    print(f"dj-jupyter worker: {calls} make calls, stopping.", flush=True)
    return 0


def print_status(module_name: str) -> int:
    classes = _pipeline_tables(module_name, None)
    print(f"{'table':<28}{'done':>10}{'total':>10}{'pending':>10}{'reserved':>10}{'error':>8}{'ignore':>8}")
    for cls in classes:
        table = cls()
        remaining, total = table.progress()
        jobs = table.jobs.progress()
        print(f"{cls.__name__:<28}{total - remaining:>10}{total:>10}{jobs['pending']:>10}{jobs['reserved']:>10}"
              f"{jobs['error']:>8}{jobs['ignore']:>8}")
    return 0


def print_description(module_name: str, as_json: bool) -> int:
    import json

    from .introspect import describe_pipeline

    description = describe_pipeline(module_name)
    if as_json:
        print(json.dumps(description, indent=1, default=str))
        return 0
    for table in description["tables"]:
        print(f"{table['name']}  [{table['tier']}]  {table.get('rows', '')} rows")
        for key in table["foreign_keys"]:
            print(f"    -> {key['parent']} ({key['kind']})")
    return 0


def run_gc(schemas: list[str], store: str | None, delete: bool, grace_period: float) -> int:
    from .storage.gc import collect

    report = collect(*schemas, store=store, dry_run=not delete, grace_period=grace_period)
    print(report)
    return 1 if getattr(report, "errors", None) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dj-jupyter", description="dj_jupyter pipeline tools")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="populate a pipeline's tables with reserved jobs")
    worker.add_argument("module", help="importable pipeline module, e.g. mylab.pipeline")
    worker.add_argument("tables", nargs="*", help="class names to populate (default: all auto-populated)")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--max-calls", type=int, default=None)
    worker.add_argument("--until-empty", action="store_true", help="exit when no work is left")
    worker.add_argument("--sleep", type=float, default=5.0, help="seconds to wait when idle")
    status = commands.add_parser("status", help="per-table done/pending/reserved/error counts")
    status.add_argument("module")
    gc = commands.add_parser("gc", help="find (and with --delete remove) stored objects no row references")
    gc.add_argument("schemas", nargs="+", help="schema names whose objects to check")
    gc.add_argument("--store", default=None, help="store name (default: stores.default)")
    gc.add_argument("--delete", action="store_true", help="remove the orphans (default: report only)")
    gc.add_argument("--grace-period", type=float, default=3600.0,
                    help="seconds an object must stay unreferenced before removal (default 3600)")
    describe = commands.add_parser("describe", help="describe a pipeline (tables, keys, lineage, jobs)")
    describe.add_argument("module")
    describe.add_argument("--json", action="store_true", help="machine-readable output (see the JSON Schema)")
    args = parser.parse_args(argv)
    sys.path.insert(0, "")
    try:
        if args.command == "worker":
            return run_worker(args.module, args.tables or None, args.processes, args.max_calls, args.until_empty,
                              args.sleep)
        if args.command == "status":
            return print_status(args.module)
        if args.command == "gc":
            return run_gc(args.schemas, args.store, args.delete, args.grace_period)
        if args.command == "describe":
            return print_description(args.module, args.json)
    except DataJointError as error:
        print(f"dj-jupyter: {error}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
