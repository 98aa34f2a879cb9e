"""The database server stops and starts again in the middle of a populate.

Per engine (PostgreSQL, MariaDB): 4 ``dj-jupyter worker`` processes populate the
three-level soak pipeline (objects in S3). One of them holds key (3, 3) of Spectrum
inside its open transaction, after its rows and its object are written, when the
server is restarted (clean stop: the server aborts every open transaction and drops
every connection). The workers must reconnect and finish; at the end every key is
committed exactly once, the interrupted transaction left no row (its key is computed
again later), no row references a missing object, and ``dj.gc`` removes the object
the aborted transaction wrote.

A second test breaks the connection *during* COMMIT after the server has committed
(an in-doubt commit): the rows are committed, so the objects they reference must stay.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.reliability import helpers
from tests.reliability.soaktools import (LEVELS, Pipeline, check_consistency, diagnose, job_counts, job_errors,
                                         load_pipeline, raw_keys, remaining, wait_until)

pytestmark = pytest.mark.timeout(600)


@helpers.engines_param("postgresql", "mysql")
def test_server_restart_during_populate(engine, tmp_path, capture_dir):
    subjects, sessions = 12, 10
    pipeline = Pipeline(engine, tmp_path, capture_dir, helpers.s3_store_spec(), tag="restart")
    load_pipeline(pipeline, subjects, sessions)
    for i in range(4):  # whichever worker makes Spectrum (3, 3) holds its transaction open for 6 s
        pipeline.start_worker(f"worker{i}", sleep=0.2, SOAK_SLOW="0.02", SOAK_HOLD="Spectrum:make:3:3",
                              SOAK_HOLD_SECONDS="6")
    pipeline.wait_marker()  # a worker is inside the transaction of Spectrum (3, 3)
    before = len(raw_keys(pipeline, "Trace")), len(raw_keys(pipeline, "Spectrum")), len(raw_keys(pipeline, "Summary"))
    commits_before = sum(pipeline.commits().values())
    srv = helpers.server(engine)
    t0 = time.time()
    srv.restart("fast")
    downtime = time.time() - t0
    assert (3, 3) not in raw_keys(pipeline, "Spectrum"), "the interrupted transaction committed"

    def done():
        left = remaining(pipeline)
        jobs = job_counts(pipeline)
        return not any(left.values()) and not any(j.get("reserved", 0) or j.get("pending", 0) for j in jobs.values())

    wait_until(done, 120, "the workers to finish after the restart", interval=1.0,
               diagnose=lambda: diagnose(pipeline))
    codes = pipeline.stop_all()
    assert all(code == 0 for code in codes.values()), {n: pipeline.stderr_of(n)[-2000:] for n in codes}
    errors = job_errors(pipeline)
    assert not errors, f"keys left in error by the restart: {errors[:5]}"

    commits = pipeline.commits()
    survivors = raw_keys(pipeline, "Session")
    assert len(survivors) == subjects * sessions
    for level in LEVELS:
        assert raw_keys(pipeline, level) == survivors
        twice = [(key, commits[(level, *key)]) for key in survivors if commits[(level, *key)] != 1]
        assert not twice, (f"{level}: keys not committed exactly once (key, commits): {twice[:5]}\n"
                           + "\n".join(line for line in pipeline.log.read_text().splitlines()
                                        if any(line.startswith(f"{level} {k[0]} {k[1]} ") for k, _ in twice))
                           + f"\n{diagnose(pipeline)}")
    log_lines = pipeline.log.read_text().splitlines()
    after = log_lines[commits_before:]
    workers_after = {line.split()[3] for line in after}
    notes = [line for i in range(4) for line in pipeline.stderr_of(f"worker{i}").splitlines() if "retrying" in line]
    figures = check_consistency(pipeline, label=f"restart {engine}")
    # Transactions the restart cut off before COMMIT were rolled back and their hooks removed their objects;
    # a COMMIT in flight at that moment is in doubt, so its objects stay for gc, which check_consistency ran
    # (after it the store holds exactly the referenced objects).
    helpers.report(f"[restart {engine}] {subjects * sessions} keys x 3 levels, 4 workers; server restarted (clean stop, "
          f"{downtime:.1f} s down) with (Trace, Spectrum, Summary) = {before} rows done and Spectrum (3, 3) in an "
          f"open transaction; {len(after)} makes committed after the restart by {len(workers_after)} worker "
          f"processes; every key committed exactly once ({sum(commits.values())} commits for {3 * len(survivors)} "
          f"rows); job errors 0; worker retry notes: {len(notes)} {notes[:2]}; objects: {figures}")


@helpers.engines_param("postgresql", "mysql")
def test_connection_lost_during_commit_keeps_objects(engine, tmp_path, use_stores):
    """The server commits, then the connection breaks before the client hears it: the rows exist, so their
    objects must exist too (before the fix, the rollback hooks removed them)."""
    import dj_jupyter as dj
    from dj_jupyter.errors import LostConnectionError

    spec = {"protocol": "file", "location": str(tmp_path / "store")}
    use_stores(spec)
    connection = helpers.connect(engine)
    schema = dj.Schema("r_doubt_" + engine[:2] + str(int(time.time() * 1000) % 100000), connection=connection)
    try:
        @schema
        class Item(dj.Manual):
            definition = """
            item : int32
            ---
            array : <npy@>
            raw : <object@>
            """

        original = connection._execute
        broken = {"n": 0}

        def execute(sql, args):
            cursor = original(sql, args)
            if sql == "COMMIT" and not broken["n"]:
                broken["n"] += 1
                connection._raw.close()  # the COMMIT reached the server; the reply is lost with the socket
                raise _connection_error(engine)
            return cursor

        connection._execute = execute
        fired = []
        with pytest.raises(LostConnectionError, match="may or may not"):
            with connection.transaction:
                Item.insert1({"item": 1, "array": np.arange(5), "raw": b"payload"})
                connection.on_commit(lambda: fired.append("in-doubt transaction"))
        connection._execute = original
        assert broken["n"] == 1
        # the connection goes on: a later commit must not fire the in-doubt transaction's hooks, a later
        # rollback must not run its rollback hooks (which would remove the objects of item 1)
        with connection.transaction:
            Item.insert1({"item": 2, "array": np.arange(2), "raw": b"two"})
        with pytest.raises(ZeroDivisionError):
            with connection.transaction:
                Item.insert1({"item": 3, "array": np.arange(3), "raw": b"three"})
                1 / 0
        assert fired == [], "the in-doubt transaction's commit hook fired at a later commit"
        rows = [r for r in Item.to_dicts() if r["item"] == 1]
        assert len(rows) == 1, "the server committed the row"
        np.testing.assert_array_equal(rows[0]["array"].load(), np.arange(5))
        assert rows[0]["raw"].read() == b"payload"
        files = helpers.store_files(spec)
        assert len(Item()) == 2 and len(files) == 4, files
        helpers.report(f"[in-doubt commit {engine}] connection broken after COMMIT reached the server: row committed, its "
              f"2 objects kept and readable; a later commit and a later rollback on the same connection fired none "
              f"of its hooks; store holds {len(files)} objects for 2 rows")
    finally:
        schema.drop(prompt=False, force=True)
        connection.close()


def _connection_error(engine: str) -> Exception:
    if engine == "postgresql":
        import psycopg

        return psycopg.OperationalError("server closed the connection unexpectedly")
    import pymysql

    return pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
