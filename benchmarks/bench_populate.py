"""Per-key overhead of populate: 2,000 keys whose make() inserts one small row.

dj_jupyter and DataJoint 2.3.5 against the same PostgreSQL and MariaDB servers,
direct and with ``reserve_jobs=True``. The figure is the whole populate time
divided by the number of keys (make itself is one insert). Each figure is the best of
``ROUNDS`` rounds that alternate the two libraries, after flushing dirty pages (``os.sync``) so
that neither pays for the write-back of an earlier benchmark in the same run.
"""

from __future__ import annotations

import os
import time
import uuid

from .common import datajoint_connection, ours_connection

KEYS = 2000
ROUNDS = 2


def _pipeline(module, schema):
    class Source(module.Manual):
        definition = """
        source_id : int32
        ---
        value : float64
        """

    class Result(module.Computed):
        definition = """
        -> Source
        ---
        doubled : float64
        """

        def make(self, key):
            self.insert1(dict(key, doubled=2.0 * key["source_id"]))

    Source = schema(Source, context={})
    Result = schema(Result, context={"Source": Source})
    return Source, Result


def _per_key(Result, reserve_jobs: bool) -> float:
    os.sync()
    start = time.perf_counter()
    result = Result.populate(reserve_jobs=reserve_jobs)
    elapsed = time.perf_counter() - start
    made = result["success_count"] if isinstance(result, dict) else len(Result())
    assert made == KEYS, f"populate made {made} of {KEYS} keys"
    return elapsed / KEYS


def _measure(module, schema_factory, reserve_jobs: bool) -> float:
    schema = schema_factory()
    try:
        Source, Result = _pipeline(module, schema)
        Source.insert([(i, float(i)) for i in range(KEYS)])
        return _per_key(Result, reserve_jobs)
    finally:
        schema.drop(prompt=False)


def run(report) -> None:
    import dj_jupyter as ours

    for kind, label in (("postgresql", "PostgreSQL"), ("mysql", "MariaDB")):
        connection = ours_connection(kind)
        datajoint, _ = datajoint_connection(kind)
        for reserve in (False, True):
            mode = "reserve_jobs" if reserve else "direct"
            mine, theirs = float("inf"), float("inf")
            for _ in range(ROUNDS):
                mine = min(mine, _measure(
                    ours, lambda: ours.Schema(f"bp_o_{uuid.uuid4().hex[:6]}", connection=connection), reserve))
                theirs = min(theirs, _measure(
                    datajoint, lambda: datajoint.Schema(f"bp_t_{uuid.uuid4().hex[:6]}"), reserve))
            report(f"{label}: populate overhead per key, {mode} (ours / DataJoint 2.3.5)", mine, theirs,
                   f"{mine * 1000:.2f} ms vs {theirs * 1000:.2f} ms per key; target <= 0.5")
        connection.close()


if __name__ == "__main__":
    from .__main__ import main

    main(["bench_populate"])
