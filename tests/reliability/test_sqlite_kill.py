"""SQLite: two notebook processes write to one database file; one is killed (SIGKILL) inside a transaction.

Notebook A commits batches of 10 rows; in its 9th batch it stops after 7 uncommitted rows while
holding the write lock (BEGIN IMMEDIATE) and is killed there. Notebook B writes batches of 5
rows the whole time and is blocked by A's lock when the kill comes. Afterwards B has finished,
every committed row of both is there, none of A's 7 uncommitted rows is, and
``PRAGMA integrity_check`` / ``foreign_key_check`` report nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from tests.reliability import helpers

pytestmark = pytest.mark.timeout(180)

NOTEBOOK = textwrap.dedent('''
    import json, os, sys, time
    import numpy as np
    import dj_jupyter as dj

    path, name, role, progress, marker = sys.argv[1:6]
    connection = dj.Connection(backend="sqlite", path=path, quiet=True)
    schema = dj.Schema("lab", connection=connection)

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        """

    @schema
    class Event(dj.Manual):
        definition = """
        -> Subject
        writer : varchar(1)
        seq : int32
        ---
        payload : <blob>
        """

    if role == "A":
        Subject.insert([(1,), (2,)], skip_duplicates=True)
    while not len(Subject()):
        time.sleep(0.01)
    open(progress + ".ready", "w").close()
    batch, size = (10, 12) if role == "A" else (5, 60)
    seq = 0
    for b in range(size):
        with connection.transaction:
            for i in range(batch):
                Event.insert1(dict(subject_id=1 if role == "A" else 2, writer=role, seq=seq,
                                   payload=np.full(50, seq)))
                seq += 1
                if role == "A" and b == 8 and i == 6:  # hold the write lock with 7 uncommitted rows
                    with open(marker, "w") as f:
                        f.write(str(os.getpid()))
                    time.sleep(120)
        with open(progress, "a") as f:
            f.write(f"{seq} {time.time()}\\n")
        time.sleep(0.05 if role == "A" else 0.01)
    print(json.dumps({"role": role, "rows": seq}))
''')


def test_two_notebooks_one_killed_mid_transaction(tmp_path, capture_dir):
    path = tmp_path / "shared.sqlite3"
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}
    env["PYTHONPATH"] = str(helpers.ROOT)
    logs = {}

    def start(role):
        progress, marker = tmp_path / f"progress{role}", tmp_path / f"marker{role}"
        out = open(capture_dir / f"sqlite-notebook{role}.out", "w")
        err = open(capture_dir / f"sqlite-notebook{role}.err", "w")
        logs[role] = capture_dir / f"sqlite-notebook{role}.err"
        process = subprocess.Popen([sys.executable, str(script), str(path), "lab", role, str(progress), str(marker)],
                                   env=env, cwd=tmp_path, stdout=out, stderr=err)
        return process, progress, marker

    a, progress_a, marker_a = start("A")
    deadline = time.time() + 60
    while not (tmp_path / "progressA.ready").exists():  # A declares the tables first
        assert a.poll() is None and time.time() < deadline, logs["A"].read_text()
        time.sleep(0.02)
    b, progress_b, _ = start("B")
    while not marker_a.exists() or not marker_a.read_text():
        assert a.poll() is None and b.poll() is None and time.time() < deadline, \
            logs["A"].read_text() + logs["B"].read_text()
        time.sleep(0.02)
    time.sleep(0.5)  # B is now waiting for A's write lock
    b_rows_at_kill = _last(progress_b)
    os.kill(a.pid, signal.SIGKILL)
    a.wait(timeout=30)
    killed_at = time.time()
    out_b, _ = b.communicate(timeout=120)
    assert b.returncode == 0, logs["B"].read_text()
    b_rows = json.loads(open(capture_dir / "sqlite-notebookB.out").read().splitlines()[-1])["rows"]
    committed_a = _last(progress_a)
    resumed = [float(line.split()[1]) for line in progress_b.read_text().splitlines()
               if float(line.split()[1]) > killed_at]
    assert resumed, "B never committed after the kill"

    raw = sqlite3.connect(str(path))
    try:
        integrity = raw.execute("PRAGMA integrity_check").fetchall()
        fk = raw.execute("PRAGMA foreign_key_check").fetchall()
        counts = dict(raw.execute('SELECT writer, COUNT(*) FROM "lab.event" GROUP BY writer').fetchall())
        seqs_a = sorted(r[0] for r in raw.execute('SELECT seq FROM "lab.event" WHERE writer = \'A\'').fetchall())
    finally:
        raw.close()
    assert integrity == [("ok",)], integrity
    assert fk == []
    assert counts.get("B") == b_rows == 300
    assert counts.get("A") == committed_a == 80, (counts, committed_a)
    assert seqs_a == list(range(80)), "a row of A's killed transaction survived"
    assert b_rows_at_kill > 0, "B should have been writing while A was"
    # the file takes new writers
    import dj_jupyter as dj

    connection = dj.Connection(backend="sqlite", path=str(path), quiet=True)
    try:
        module = dj.virtual_schema("lab", connection=connection)
        module.Event.insert1(dict(subject_id=1, writer="C", seq=0, payload=[1, 2]))
        assert len(module.Event) == 381
    finally:
        connection.close()
    helpers.report(f"[sqlite two notebooks] A committed 8 batches (80 rows) while B wrote and was killed (SIGKILL) holding BEGIN IMMEDIATE "
          f"with 7 uncommitted rows; B had {b_rows_at_kill} rows committed and was blocked on the lock, then "
          f"finished all {b_rows} rows ({len(resumed)} commits after the kill); integrity_check {integrity[0][0]!r}, "
          f"foreign_key_check {len(fk)} problems; rows A={counts['A']} (none of the 7), B={counts['B']}; a third "
          f"connection then wrote a row")


def _last(progress) -> int:
    if not progress.exists():
        return 0
    lines = progress.read_text().splitlines()
    return int(lines[-1].split()[0]) if lines else 0
