"""Shared machinery of the load and fault tests: worker processes, the commit log, consistency checks."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.reliability import helpers

LEVELS = ("Trace", "Spectrum", "Summary")
TABLE_NAMES = {"Subject": "subject", "Session": "session", "Trace": "__trace", "Spectrum": "__spectrum",
               "Band": "__spectrum__band", "Summary": "__summary"}
OBJECT_COLUMNS = {"Trace": "trace", "Spectrum": "spectrum", "Summary": "report"}


class Pipeline:
    """One soakpipe schema on one engine with its store, the environment of its processes and its logs."""

    def __init__(self, engine: str, tmp_path: Path, capture_dir: Path, store_spec: dict, tag: str = "soak"):
        self.engine = engine
        self.tmp_path = tmp_path
        self.capture = capture_dir / f"{tag}-{engine}-{uuid.uuid4().hex[:6]}"
        self.capture.mkdir(parents=True)
        self.schema_name = "r_" + uuid.uuid4().hex[:10]
        self.store_spec = store_spec
        self.stores = {"default": "main", "main": store_spec}
        self.log = tmp_path / "commits.log"
        self.marker = tmp_path / "marker"
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.outputs: dict[str, Path] = {}

    def env(self, **extra) -> dict:
        return helpers.worker_env(self.engine, self.tmp_path, self.schema_name, self.stores,
                                  SOAK_LOG=str(self.log), SOAK_MARKER=str(self.marker), **extra)

    # ---- processes ------------------------------------------------------------------------------
    def run(self, code: str, name: str, timeout: float = 300, **extra) -> str:
        """Run ``code`` (a Python snippet) to completion in a fresh process; returns its stdout."""
        out = self.capture / f"{name}.out"
        err = self.capture / f"{name}.err"
        with open(out, "w") as o, open(err, "w") as e:
            done = subprocess.run([sys.executable, "-c", code], env=self.env(**extra), cwd=helpers.ROOT, stdout=o,
                                  stderr=e, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"{name} failed ({done.returncode}):\n{err.read_text()[-4000:]}")
        return out.read_text()

    def start(self, args: list[str], name: str, **extra) -> subprocess.Popen:
        out = open(self.capture / f"{name}.out", "w")
        err = open(self.capture / f"{name}.err", "w")
        process = subprocess.Popen(args, env=self.env(**extra), cwd=helpers.ROOT, stdout=out, stderr=err)
        out.close()
        err.close()
        self.processes.append((name, process))
        return process

    def start_code(self, code: str, name: str, **extra) -> subprocess.Popen:
        return self.start([sys.executable, "-c", code], name, **extra)

    def start_worker(self, name: str, *tables: str, sleep: float = 0.3, **extra) -> subprocess.Popen:
        """``dj-jupyter worker tests.reliability.soakpipe`` (the console script; ``-m dj_jupyter.cli`` without it)."""
        console = shutil.which("dj-jupyter")
        command = ([console] if console else [sys.executable, "-m", "dj_jupyter.cli"]) + [
            "worker", "tests.reliability.soakpipe", *tables, "--sleep", str(sleep)]
        return self.start(command, name, **extra)

    def stderr_of(self, name: str) -> str:
        path = self.capture / f"{name}.err"
        return path.read_text() if path.exists() else ""

    def stop_all(self, timeout: float = 60) -> dict[str, int]:
        codes = {}
        for name, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout
        for name, process in self.processes:
            try:
                codes[name] = process.wait(timeout=max(1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        self.processes = []
        return codes

    def wait_marker(self, process: subprocess.Popen | None = None, timeout: float = 120) -> int:
        deadline = time.time() + timeout
        while not (self.marker.exists() and self.marker.read_text().strip()):
            if process is not None and process.poll() is not None:
                raise AssertionError(f"the process exited ({process.returncode}) before reaching the hold point")
            if time.time() > deadline:
                raise AssertionError("the hold point was never reached")
            time.sleep(0.05)
        pid = int(self.marker.read_text().strip())
        self.marker.unlink()
        return pid

    # ---- the commit log --------------------------------------------------------------------------------
    def commits(self) -> collections.Counter:
        """(table, subject_id, session) -> number of committed makes."""
        counter: collections.Counter = collections.Counter()
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                table, subject, session, _pid = line.split()
                counter[(table, int(subject), int(session))] += 1
        return counter


# ---- independent checks (raw driver SQL, raw store listing) -------------------------------------------
def raw_query(engine: str, sql: str, tmp_path: Path | None = None):
    if engine == "sqlite":
        import sqlite3

        connection = sqlite3.connect(str(helpers.settings("sqlite", tmp_path)["path"]))
        try:
            return [tuple(row) for row in connection.execute(sql).fetchall()]
        finally:
            connection.close()
    connection = helpers.raw_connection(engine)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def qualified(engine: str, schema: str, table: str) -> str:
    if engine == "postgresql":
        return f'"{schema}"."{table}"'
    if engine == "mysql":
        return f"`{schema}`.`{table}`"
    return f'"{schema}.{table}"'  # SQLite: one file, tables named schema.table


def recount(pipeline: Pipeline) -> dict[str, int]:
    """Row counts of every table, by raw driver SQL."""
    return {name: int(raw_query(pipeline.engine, f"SELECT COUNT(*) FROM "
                                                 f"{qualified(pipeline.engine, pipeline.schema_name, table)}",
                                pipeline.tmp_path)[0][0])
            for name, table in TABLE_NAMES.items()}


def raw_keys(pipeline: Pipeline, name: str) -> set[tuple[int, int]]:
    table = qualified(pipeline.engine, pipeline.schema_name, TABLE_NAMES[name])
    return {(int(a), int(b)) for a, b in raw_query(pipeline.engine, f"SELECT subject_id, session FROM {table}",
                                                   pipeline.tmp_path)}


def raw_references(pipeline: Pipeline) -> dict[str, set[str]]:
    """Store paths referenced by the rows of each computed table, read by raw SQL from the JSON metadata."""
    result = {}
    for name, column in OBJECT_COLUMNS.items():
        table = qualified(pipeline.engine, pipeline.schema_name, TABLE_NAMES[name])
        paths = set()
        for (value,) in raw_query(pipeline.engine, f"SELECT {column} FROM {table}", pipeline.tmp_path):
            if isinstance(value, (bytes, bytearray, memoryview)):
                value = bytes(value).decode()
            if isinstance(value, str):
                value = json.loads(value)
            paths.add(value["path"])
        result[name] = paths
    return result


def job_counts(pipeline: Pipeline) -> dict[str, dict[str, int]]:
    out = {}
    for name in LEVELS:
        table = qualified(pipeline.engine, pipeline.schema_name, "~~" + TABLE_NAMES[name].lstrip("_"))
        try:
            rows = raw_query(pipeline.engine, f"SELECT status, COUNT(*) FROM {table} GROUP BY status",
                             pipeline.tmp_path)
        except Exception:  # not declared yet
            rows = []
        out[name] = {status: int(count) for status, count in rows}
    return out


def job_errors(pipeline: Pipeline) -> list[tuple]:
    out = []
    for name in LEVELS:
        table = qualified(pipeline.engine, pipeline.schema_name, "~~" + TABLE_NAMES[name].lstrip("_"))
        try:
            rows = raw_query(pipeline.engine, f"SELECT subject_id, session, error_message FROM {table} "
                                              f"WHERE status = 'error'", pipeline.tmp_path)
        except Exception:
            rows = []
        out.extend((name, int(s), int(k), message) for s, k, message in rows)
    return out


def check_consistency(pipeline: Pipeline, *, gc: bool = True, label: str = "") -> dict:
    """Every row's objects exist; after gc every object is referenced; counts agree with the library.

    Returns the figures it checked (printed by the caller).
    """
    import dj_jupyter as dj

    figures: dict = {}
    counts = recount(pipeline)
    figures["rows"] = counts
    references = raw_references(pipeline)
    referenced = set().union(*references.values())
    files = helpers.store_files(pipeline.store_spec)
    missing = referenced - files
    assert not missing, f"{len(missing)} rows reference missing objects, e.g. {sorted(missing)[:3]}"
    figures["referenced_objects"] = len(referenced)
    figures["objects_before_gc"] = len(files)
    figures["orphans_before_gc"] = len(files - referenced)
    if files - referenced:
        figures["orphan_examples"] = sorted(files - referenced)[:4]
    # the rows agree with each other: every computed row has its upstream row, the counts match
    keys = {name: raw_keys(pipeline, name) for name in ("Session", *LEVELS)}
    assert keys["Trace"] <= keys["Session"] and keys["Spectrum"] <= keys["Trace"] \
        and keys["Summary"] <= keys["Spectrum"]
    assert counts["Band"] == 3 * counts["Spectrum"], "every Spectrum has its three Band part rows"
    if gc:
        with dj.config.override({"stores": pipeline.stores}):
            from dj_jupyter.storage.stores import clear_store_cache

            clear_store_cache()
            connection = helpers.connect(pipeline.engine, pipeline.tmp_path)
            try:
                schema = dj.Schema(pipeline.schema_name, connection=connection, create_schema=False)
                report = dj.gc.collect(schema, store="main", dry_run=False, grace_period=0)
            finally:
                connection.close()
                clear_store_cache()
        assert not report.errors, report.errors
        figures["gc_removed"] = len(report.removed)
        after = helpers.store_files(pipeline.store_spec)
        # every file left belongs to a referenced object (folder objects keep a manifest next to them)
        unreferenced = {f for f in after if f not in referenced and f.removesuffix(".manifest.json") not in referenced
                        and not any(f.startswith(p + "/") for p in referenced)}
        assert not unreferenced, f"{len(unreferenced)} objects unreferenced after gc: {sorted(unreferenced)[:3]}"
        assert referenced <= after, "gc removed a referenced object"
        figures["objects_after_gc"] = len(after)
    helpers.report(f"[{label or pipeline.engine}] consistency: {json.dumps(figures)}")
    return figures


def load_pipeline(pipeline: Pipeline, subjects: int, sessions: int) -> None:
    code = f"""
import tests.reliability.soakpipe as p
p.Subject.insert([(s, 10.0 + s) for s in range({subjects})])
p.Session.insert([(s, k, 1.0 + k / 10) for s in range({subjects}) for k in range({sessions})])
for T in p.TABLES:
    T.jobs  # declare the job tables
print(len(p.Session))
"""
    assert int(pipeline.run(code, "load").split()[-1]) == subjects * sessions


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5, diagnose=None):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            detail = f"\n{diagnose()}" if diagnose else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def diagnose(pipeline: "Pipeline") -> str:
    """What is left: keys per level, job states, job errors, the tail of every process's stderr."""
    lines = [f"remaining {remaining(pipeline)}", f"jobs {job_counts(pipeline)}", f"errors {job_errors(pipeline)[:5]}"]
    for name, _process in pipeline.processes:
        lines.append(f"--- {name} stderr:\n{pipeline.stderr_of(name)[-1500:]}")
    return "\n".join(lines)


def remaining(pipeline: Pipeline) -> dict[str, int]:
    """Keys still to compute per level (raw SQL): upstream rows without a row in the level."""
    keys = {name: raw_keys(pipeline, name) for name in ("Session", *LEVELS)}
    return {"Trace": len(keys["Session"] - keys["Trace"]), "Spectrum": len(keys["Trace"] - keys["Spectrum"]),
            "Summary": len(keys["Spectrum"] - keys["Summary"])}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def server_conflicts(engine: str, since: int = 0) -> tuple[int, int]:
    """(deadlocks the server reported since byte ``since`` of its log, current log size)."""
    srv = helpers._servers.get(engine)
    path = srv.error_log_path if srv is not None else None
    if not path or not os.path.exists(path):
        return 0, 0
    with open(path, "rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", "replace")
    needle = "deadlock detected" if engine == "postgresql" else "Transactions deadlock detected"
    return text.count(needle), since + len(text.encode("utf-8", "replace"))
