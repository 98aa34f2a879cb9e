"""Soak: 8 worker processes, an inserter and a deleter on one pipeline with objects in S3 (moto).

Per engine (PostgreSQL, MariaDB): a three-level pipeline (Trace <blob@>, Spectrum <npy@>
+ part, Summary <object@> three-part make) is populated by 8 ``dj-jupyter worker``
processes while a fourth process inserts new subjects and sessions and a fifth deletes
subjects (cascading through every level and releasing their objects). At the end:

* every surviving key of every level was committed exactly once (the commit log is
  written by on_commit callbacks, so it counts committed makes, not attempts);
* keys of deleted subjects were committed at most once and left no row behind;
* no row references a missing object; after ``dj.gc.collect`` no object is unreferenced;
* the row counts the library reports equal a recount by raw driver SQL.

Default size: 40 subjects x 16 sessions (640 keys, ~2,100 makes with the inserted keys)
per engine; ``--long``: 250 x 20 (5,000 keys).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.reliability import helpers
from tests.reliability.soaktools import (LEVELS, Pipeline, check_consistency, diagnose, job_counts, job_errors,
                                         load_pipeline, raw_keys, recount, remaining, server_conflicts, wait_until)

pytestmark = pytest.mark.timeout(3600)

WORKERS = 8

INSERTER = """
import json, sys, time
import tests.reliability.soakpipe as p
first, subjects, sessions, extra_for, rounds = {first}, {new_subjects}, {sessions}, {extra_for}, {rounds}
inserted = 0
for r in range(rounds):
    s = first + r
    if r < subjects:  # a new subject with its sessions, in one transaction
        with p.Subject.connection.transaction:
            p.Subject.insert1((s, 50.0 + s))
            p.Session.insert([(s, k, 1.0 + k / 10) for k in range(sessions)])
        inserted += sessions
    # one more session for a subject that is never deleted
    keep = extra_for[r % len(extra_for)]
    p.Session.insert1((keep, 1000 + r, 2.0))
    inserted += 1
    time.sleep({pause})
print(json.dumps({{"sessions_inserted": inserted}}))
"""

DELETER = """
import json, time
import tests.reliability.soakpipe as p
from dj_jupyter.errors import DataJointError
doomed, pause = {doomed}, {pause}
retries, messages, deleted = 0, [], 0
waited = []
for i, s in enumerate(doomed):
    time.sleep(pause)
    # delete while the workers are at this subject: after some of its keys reached Trace (or Summary)
    level = p.Trace if i % 2 == 0 else p.Summary
    t0 = time.time()
    while not (level & {{"subject_id": s}}) and time.time() - t0 < 60:
        time.sleep(0.05)
    waited.append(round(time.time() - t0, 1))
    for attempt in range(50):
        try:
            (p.Subject & {{"subject_id": s}}).delete(prompt=False)
            deleted += 1
            break
        except DataJointError as error:  # a worker inserted a dependent row meanwhile: try again
            retries += 1
            messages.append(type(error).__name__ + ": " + str(error).splitlines()[0][:160])
            time.sleep(0.2)
    else:
        raise SystemExit(f"could not delete subject {{s}}")
print(json.dumps({{"deleted": deleted, "retries": retries, "messages": messages[:5], "waited": waited}}))
"""


@helpers.engines_param("postgresql", "mysql")
def test_soak(engine, tmp_path, capture_dir, long_run):
    subjects, sessions = (250, 20) if long_run else (40, 16)
    new_subjects, rounds = (25, 60) if long_run else (5, 20)
    doomed = [s for s in range(subjects) if s % 4 == 1][: (30 if long_run else 6)]
    keep = [s for s in range(subjects) if s % 4 == 0]
    started = time.time()
    pipeline = Pipeline(engine, tmp_path, capture_dir, helpers.s3_store_spec())
    load_pipeline(pipeline, subjects, sessions)
    loaded = time.time()
    _, log_start = server_conflicts(engine)

    for i in range(WORKERS):
        pipeline.start_worker(f"worker{i}", sleep=0.3)
    inserter = pipeline.start_code(INSERTER.format(first=subjects, new_subjects=new_subjects, sessions=sessions,
                                                   extra_for=keep, rounds=rounds, pause=0.4), "inserter")
    deleter = pipeline.start_code(DELETER.format(doomed=doomed, pause=0.5), "deleter")
    assert inserter.wait(timeout=900) == 0, pipeline.stderr_of("inserter")
    assert deleter.wait(timeout=900) == 0, pipeline.stderr_of("deleter")
    inserted = json.loads((pipeline.capture / "inserter.out").read_text().splitlines()[-1])
    deletions = json.loads((pipeline.capture / "deleter.out").read_text().splitlines()[-1])

    def settled():
        left = remaining(pipeline)
        jobs = job_counts(pipeline)
        busy = sum(j.get("reserved", 0) for j in jobs.values())
        errors = sum(j.get("error", 0) for j in jobs.values())
        return (not any(left.values()) and not busy) or (errors and _surviving_errors(pipeline))

    wait_until(settled, 3000 if long_run else 400, "the workers to finish", interval=1.0,
               diagnose=lambda: diagnose(pipeline))
    finished = time.time()
    deadlocks, _ = server_conflicts(engine, log_start)
    codes = pipeline.stop_all()
    failed = {name: pipeline.stderr_of(name)[-3000:] for name, code in codes.items() if code != 0}
    if failed:
        print(helpers.deadlock_log())
    assert not failed, f"processes failed: {codes}\n" + "\n".join(f"--- {n}:\n{e}" for n, e in failed.items())

    # ---- what happened --------------------------------------------------------------------------------
    survivors = raw_keys(pipeline, "Session")
    errors = job_errors(pipeline)
    surviving_errors = [e for e in errors if (e[1], e[2]) in survivors]
    if surviving_errors:
        print(helpers.deadlock_log())
    assert not surviving_errors, f"make failed for surviving keys: {surviving_errors[:5]}"
    commits = pipeline.commits()
    per_level = {}
    for level in LEVELS:
        rows = raw_keys(pipeline, level)
        assert rows == survivors, f"{level}: {len(survivors - rows)} keys not computed, {len(rows - survivors)} extra"
        counts = [commits[(level, s, k)] for s, k in survivors]
        twice = [(s, k) for (s, k) in survivors if commits[(level, s, k)] > 1]
        assert not twice, f"{level}: keys committed more than once: {twice[:5]}"
        assert min(counts) == 1, f"{level}: rows without a committed make"
        gone = [key for (table, *key), n in commits.items() if table == level and tuple(key) not in survivors]
        assert all(commits[(level, *key)] == 1 for key in gone)
        per_level[level] = {"rows": len(rows), "commits": sum(counts), "commits_of_deleted_keys": len(gone)}
    deleted_left = [s for s, _ in survivors if s in doomed]
    assert not deleted_left, "rows of deleted subjects remain"
    for name in ("Trace", "Spectrum", "Summary"):
        table_rows = raw_keys(pipeline, name)
        assert not {k for k in table_rows if k[0] in doomed}

    # the library's counts equal the raw recount
    import dj_jupyter as dj

    connection = helpers.connect(engine)
    try:
        module = dj.virtual_schema(pipeline.schema_name, connection=connection)
        library = {"Subject": len(module.Subject), "Session": len(module.Session), "Trace": len(module.Trace),
                   "Spectrum": len(module.Spectrum), "Band": len(module.Spectrum.Band),
                   "Summary": len(module.Summary)}
        progress = {name: getattr(module, name).progress() for name in LEVELS}
    finally:
        connection.close()
    raw = recount(pipeline)
    assert library == raw, (library, raw)
    assert all(p[0] == 0 for p in progress.values()), progress
    figures = check_consistency(pipeline, label=f"soak {engine}")
    jobs = job_counts(pipeline)
    worker_retries = [line for i in range(WORKERS) for line in pipeline.stderr_of(f"worker{i}").splitlines()
                      if "(retrying)" in line]
    worker_errors = [line for i in range(WORKERS) for line in pipeline.stderr_of(f"worker{i}").splitlines()
                     if line.startswith(LEVELS)]
    helpers.report(f"[soak {engine}] {WORKERS} workers + inserter + deleter; initial {subjects}x{sessions} = "
          f"{subjects * sessions} keys, inserted {inserted['sessions_inserted']} sessions "
          f"({new_subjects} new subjects), deleted {deletions['deleted']} subjects "
          f"({deletions['retries']} delete retries: {deletions['messages'][:2]}); surviving keys {len(survivors)}; "
          f"per level {per_level}; make errors reported by workers (all on keys being deleted) {len(worker_errors)} "
          f"{[e[:150] for e in worker_errors[:3]]}; job table status {jobs}; "
          f"raw recount {raw}; deadlocks the server reported (each rolled back and retried by populate, none left "
          f"an error): {deadlocks}; worker loop retries after a conflict outside make(): {len(worker_retries)}; load {loaded - started:.1f} s, run {finished - loaded:.1f} s")
    assert figures["orphans_before_gc"] >= 0


def _surviving_errors(pipeline) -> bool:
    survivors = raw_keys(pipeline, "Session")
    return any((s, k) in survivors for _, s, k, _ in job_errors(pipeline))



@helpers.engines_param("sqlite", "postgresql", "mysql")
def test_workers_declare_a_fresh_pipeline_at_once(engine, tmp_path, capture_dir):
    """8 worker processes import the pipeline module on a schema that does not exist yet (a cluster job
    array starting): they race to create the schema, the tables, the lineage table and the job tables; every
    one of them must start (before the fix, 1-3 of 8 died with "table already exists" on each engine)."""
    spec = {"protocol": "file", "location": str(tmp_path / "store")}
    pipeline = Pipeline(engine, tmp_path, capture_dir, spec, tag="startup")
    code = ("import tests.reliability.soakpipe as p\n"
            "for T in p.TABLES: T.jobs\n"
            "print(len(p.schema.list_tables()))")
    processes = [pipeline.start_code(code, f"starter{i}") for i in range(WORKERS)]
    codes = [process.wait(timeout=120) for process in processes]
    failed = {i: pipeline.stderr_of(f"starter{i}").strip().splitlines()[-1:] for i, c in enumerate(codes) if c}
    assert not failed, f"workers died while declaring: {failed}"
    tables = {(pipeline.capture / f"starter{i}.out").read_text().split()[-1] for i in range(WORKERS)}
    import dj_jupyter as dj

    connection = helpers.connect(engine, tmp_path)
    try:
        dj.virtual_schema(pipeline.schema_name, connection=connection)  # rebuilds every class: must not fail
        names = connection.backend.list_tables(connection, pipeline.schema_name)
        lineage = dj.FreeTable(connection, pipeline.schema_name, "~lineage").to_dicts()
    finally:
        connection.close()
    assert tables == {"6"}, tables
    assert {"~~trace", "~~spectrum", "~~summary", "~lineage"} <= set(names)
    assert {row["table_name"] for row in lineage} >= {"subject", "session", "__trace", "__spectrum", "__summary"}
    helpers.report(f"[startup race {engine}] {WORKERS} processes imported the pipeline on a fresh schema at once: all "
                   f"{WORKERS} started; schema, 6 tables, ~lineage ({len(lineage)} rows) and 3 job tables declared "
                   f"once ({len(names)} tables in all)")
