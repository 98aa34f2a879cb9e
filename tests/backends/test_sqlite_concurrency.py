"""Two processes writing to one SQLite file at the same time lose nothing and raise nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dj_jupyter as dj

ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_WORKER = 500
ROWS_PER_TRANSACTION = 5

WORKER = textwrap.dedent("""
    import json, sys, time
    import dj_jupyter as dj

    path, schema_name, worker, rows, per_transaction, start_file = sys.argv[1:7]
    worker, rows, per_transaction = int(worker), int(rows), int(per_transaction)
    connection = dj.Connection(backend="sqlite", path=path, quiet=True)
    schema = dj.Schema(schema_name, connection=connection)

    @schema
    class Event(dj.Manual):
        definition = '''
        worker : int8
        seq : int32
        ---
        payload : varchar(32)
        '''

    @schema
    class Tally(dj.Manual):
        definition = '''
        worker : int8
        ---
        written : int32
        '''

    open(start_file + f".ready{worker}", "w").close()
    while not __import__("os").path.exists(start_file):  # start together
        time.sleep(0.005)
    other_committed = start_file + f".committed{3 - worker}"
    seq = 0
    commits = []
    while seq < rows:
        if seq + per_transaction >= rows:
            # SQLite's busy handler backs off to 100 ms sleeps, so one writer can finish before the other
            # gets the lock once; hold the last transaction until the other writer has committed
            while not __import__("os").path.exists(other_committed):
                time.sleep(0.005)
        with connection.transaction:
            for _ in range(per_transaction):
                Event.insert1({"worker": worker, "seq": seq, "payload": f"w{worker}-{seq}"})
                seq += 1
            Tally.insert1({"worker": worker, "written": seq}, replace=True)
        commits.append(time.time())
        if len(commits) == 1:
            open(start_file + f".committed{worker}", "w").close()
        time.sleep(0.002)  # a little work between transactions, as a real worker has
    print(json.dumps({"worker": worker, "written": seq, "count": len(Event & {"worker": worker}),
                      "first": commits[0], "last": commits[-1]}))
""")


def test_two_processes_insert_into_one_file(tmp_path):
    path = tmp_path / "shared.sqlite3"
    schema_name = "concurrent"
    # declare once up front so both workers only insert
    setup = dj.Connection(backend="sqlite", path=str(path), quiet=True)
    schema = dj.Schema(schema_name, connection=setup)

    @schema
    class Event(dj.Manual):
        definition = """
        worker : int8
        seq : int32
        ---
        payload : varchar(32)
        """

    @schema
    class Tally(dj.Manual):
        definition = """
        worker : int8
        ---
        written : int32
        """

    start = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), schema_name, str(worker),
                                 str(ROWS_PER_WORKER), str(ROWS_PER_TRANSACTION), str(start)],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for worker in (1, 2)]
    deadline = time.time() + 120
    while not all((tmp_path / f"go.ready{w}").exists() for w in (1, 2)):
        assert time.time() < deadline and all(p.poll() is None for p in workers), "a worker did not start"
        time.sleep(0.01)
    start.touch()
    reports = []
    for process in workers:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "Traceback" not in err, err
        reports.append(json.loads(out.strip().splitlines()[-1]))

    assert sorted(r["written"] for r in reports) == [ROWS_PER_WORKER, ROWS_PER_WORKER]
    rows = Event.to_dicts()
    assert len(rows) == 2 * ROWS_PER_WORKER
    for worker in (1, 2):
        mine = sorted(r["seq"] for r in rows if r["worker"] == worker)
        assert mine == list(range(ROWS_PER_WORKER))
        assert all(r["payload"] == f"w{r['worker']}-{r['seq']}" for r in rows)
    assert {r["worker"]: r["written"] for r in Tally.to_dicts()} == {1: ROWS_PER_WORKER, 2: ROWS_PER_WORKER}
    assert all(r["count"] == ROWS_PER_WORKER for r in reports)
    # the writers overlapped in time: each committed between the other's first and last commits
    assert max(r["first"] for r in reports) < min(r["last"] for r in reports)
    setup.close()


def test_concurrent_readers_see_only_committed_rows(tmp_path):
    """A second connection never sees rows of a transaction that has not committed."""
    path = str(tmp_path / "isolation.sqlite3")
    writer = dj.Connection(backend="sqlite", path=path, quiet=True)
    reader = dj.Connection(backend="sqlite", path=path, quiet=True)
    schema = dj.Schema("iso", connection=writer)

    @schema
    class Item(dj.Manual):
        definition = "item : int32"

    seen = dj.FreeTable(reader, "iso", "item")
    with writer.transaction:
        Item.insert([(i,) for i in range(10)])
        assert len(seen) == 0
    assert len(seen) == 10
    writer.close()
    reader.close()
