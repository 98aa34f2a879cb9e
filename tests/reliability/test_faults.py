"""Crashes and failures: a worker killed with SIGKILL, a store that fails, a disk that fills up.

Each leaves the database and the store consistent (no partial rows, no row pointing at a
missing object) and is recovered by ``jobs.refresh()`` (dead reservations) or ``dj.gc``
(objects of transactions that never committed).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import subprocess
import uuid

import numpy as np
import pytest

import dj_jupyter as dj
from tests.reliability import helpers
from tests.reliability.soaktools import (Pipeline, check_consistency, job_counts, load_pipeline, raw_keys,
                                         raw_query, qualified, pid_alive)

pytestmark = pytest.mark.timeout(300)

POPULATE_ALL = """
import tests.reliability.soakpipe as p
for T in p.TABLES:
    r = T.populate(reserve_jobs=True, suppress_errors=True)
    print(T.__name__, r["success_count"], len(r["error_list"]))
"""


# ---- kill -9 in the middle of a make ---------------------------------------------------------------------
@pytest.mark.parametrize("phase", ["compute", "insert"])
@helpers.engines_param("postgresql", "mysql")
def test_worker_killed_during_make(engine, phase, tmp_path, capture_dir):
    """SIGKILL a worker in Summary.make_compute (no transaction open) or in make_insert (its row and object
    written inside the open transaction): no row is left, the reservation returns to pending with refresh(),
    the object of the aborted transaction is an orphan that gc removes, and the key is then made once."""
    spec = {"protocol": "file", "location": str(tmp_path / "store")}
    pipeline = Pipeline(engine, tmp_path, capture_dir, spec, tag=f"kill-{phase}")
    load_pipeline(pipeline, 2, 3)
    pipeline.run("import tests.reliability.soakpipe as p; p.Trace.populate(); p.Spectrum.populate()", "upstream")
    victim = pipeline.start_code("import tests.reliability.soakpipe as p; "
                                 "p.Summary.populate({'subject_id': 1, 'session': 1}, reserve_jobs=True)", "victim",
                                 SOAK_HOLD=f"Summary:{phase}:1:1", SOAK_HOLD_SECONDS="120")
    pid = pipeline.wait_marker(victim)
    files_before = helpers.store_files(spec)
    summary_files = {f for f in files_before if "/__summary/" in f}
    os.kill(pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert not pid_alive(pid)
    jobs_table = qualified(engine, pipeline.schema_name, "~~summary")
    status = raw_query(engine, f"SELECT status, pid FROM {jobs_table} WHERE subject_id = 1 AND session = 1")
    assert status == [("reserved", pid)], status
    assert (1, 1) not in raw_keys(pipeline, "Summary"), "a killed make left its row"
    expected_orphans = 1 if phase == "insert" else 0
    assert len(summary_files) == expected_orphans, summary_files

    # recovery: refresh returns the dead worker's reservation to pending, populate makes the key once
    connection = helpers.connect(engine)
    try:
        module = dj.virtual_schema(pipeline.schema_name, connection=connection)
        refreshed = module.Summary.jobs.refresh()
        assert refreshed["orphaned"] == 1, refreshed
        assert (module.Summary.jobs & {"subject_id": 1, "session": 1}).fetch1("status") == "pending"
    finally:
        connection.close()
    out = pipeline.run(POPULATE_ALL, "finish")
    assert "Summary 6 0" in out, out
    commits = pipeline.commits()
    assert commits[("Summary", 1, 1)] == 1
    assert all(n == 1 for n in commits.values())
    figures = check_consistency(pipeline, label=f"kill -9 in make_{phase} {engine}")
    assert figures["orphans_before_gc"] == expected_orphans and figures["gc_removed"] == expected_orphans
    helpers.report(f"[kill -9 make_{phase} {engine}] worker pid {pid} killed inside make_{phase} of Summary (1, 1): "
          f"no row; job stayed 'reserved' until refresh() released {refreshed['orphaned']} orphan; objects of the "
          f"aborted transaction {len(summary_files)} (removed by gc: {figures['gc_removed']}); after populate "
          f"Summary has 6/6 rows, each committed once; jobs {job_counts(pipeline)}")


# ---- store failures (in-process pipeline) -------------------------------------------------------------------
def _declare(schema):
    @schema
    class Source(dj.Manual):
        definition = """
        source : int32
        ---
        size : int32
        """

    @schema
    class Result(dj.Computed):
        definition = """
        -> Source
        ---
        array : <npy@>
        blob : <blob@>
        raw : <object@>
        """

        def make(self, key):
            n = (Source & key).fetch1("size")
            self.insert1(dict(key, array=np.arange(n, dtype=np.float64) * key["source"],
                              blob={"source": key["source"], "values": np.ones(n)}, raw=b"r%d" % key["source"]))

    return Source, Result


def _referenced(table) -> set[str]:
    from dj_jupyter.storage.references import collect_references

    return {path for _store, path in collect_references(table())}


class FailingFS:
    """An fsspec filesystem proxy: writes fail after ``fail_after`` of them; removals fail while ``fail_removes``."""

    def __init__(self, fs, fail_after: int | None = None, fail_removes: bool = False, enospc_after: int | None = None):
        object.__setattr__(self, "_fs", fs)
        object.__setattr__(self, "fail_after", fail_after)
        object.__setattr__(self, "fail_removes", fail_removes)
        object.__setattr__(self, "writes", 0)
        object.__setattr__(self, "removes_refused", 0)
        object.__setattr__(self, "enospc_after", enospc_after)
        object.__setattr__(self, "written_bytes", 0)

    def open(self, path, mode="rb", *args, **kwargs):
        if "w" in mode or "a" in mode:
            object.__setattr__(self, "writes", self.writes + 1)
            if self.fail_after is not None and self.writes > self.fail_after:
                raise OSError(errno.EIO, f"injected store failure writing {path}")
            if self.enospc_after is not None:
                return _LimitedWriter(self, self._fs.open(path, mode, *args, **kwargs))
        return self._fs.open(path, mode, *args, **kwargs)

    def _refuse(self, name):
        method = getattr(self._fs, name)

        def refused(*args, **kwargs):
            if self.fail_removes:
                object.__setattr__(self, "removes_refused", self.removes_refused + 1)
                raise OSError(errno.EACCES, "injected store failure on delete")
            return method(*args, **kwargs)

        return refused

    def __getattr__(self, name):
        if name in ("rm_file", "_rm_file", "rm", "_rm", "rmdir"):
            return self._refuse(name)
        if name in ("pipe", "pipe_file", "put", "put_file"):
            raise AttributeError(name)  # force every write through open()
        return getattr(self._fs, name)


class _LimitedWriter:
    """A file whose writes raise ENOSPC once the filesystem proxy has taken ``enospc_after`` bytes."""

    def __init__(self, owner, f):
        self.owner, self.f = owner, f

    def write(self, data):
        size = memoryview(data).nbytes
        if self.owner.written_bytes + size > self.owner.enospc_after:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        object.__setattr__(self.owner, "written_bytes", self.owner.written_bytes + size)
        return self.f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def __getattr__(self, name):
        return getattr(self.f, name)


@helpers.engines_param("postgresql", "mysql")
def test_store_fails_on_write_during_populate(engine, tmp_path, use_stores):
    spec = {"protocol": "file", "location": str(tmp_path / "store")}
    use_stores(spec)
    connection = helpers.connect(engine)
    schema = dj.Schema("r_w" + uuid.uuid4().hex[:8], connection=connection)
    try:
        Source, Result = _declare(schema)
        Source.insert([(i, 8) for i in range(6)])
        Result.populate({"source": 0})  # one good row first
        from dj_jupyter.storage.stores import get_store

        store = get_store("main")
        original = store.fs
        store.fs = FailingFS(original, fail_after=4)  # row 2's objects: the 2nd and later writes fail
        result = Result.populate(reserve_jobs=True, suppress_errors=True)
        store.fs = original
        made, failed = result["success_count"], len(result["error_list"])
        assert made >= 1 and failed >= 1, result
        assert all("injected store failure" in message for _, message in result["error_list"])
        rows = len(Result())
        assert rows == 1 + made
        files = helpers.store_files(spec)
        referenced = _referenced(Result)
        assert referenced <= files, "a row references an object that was never written"
        leftover = files - referenced
        assert not leftover, f"objects of failed makes were left behind: {leftover}"
        errors = len(Result.jobs.errors)
        # recovery: clear the error records and populate again with a working store
        Result.jobs.errors.delete()
        again = Result.populate(reserve_jobs=True)
        assert len(Result()) == 6 and _referenced(Result) == helpers.store_files(spec)
        helpers.report(f"[store write failure {engine}] store failed from its 5th write on during a populate of 5 keys: "
              f"{made} made, {failed} failed with the store error ({errors} job error records), rows {rows}, no "
              f"object left by the failed makes ({len(files)} files = {len(referenced)} referenced); after clearing "
              f"the errors a populate made the other {again['success_count']}: 6 rows, every object referenced")
    finally:
        schema.drop(prompt=False, force=True)
        connection.close()


@helpers.engines_param("postgresql", "mysql")
def test_store_fails_on_delete(engine, tmp_path, use_stores, caplog):
    spec = {"protocol": "file", "location": str(tmp_path / "store")}
    use_stores(spec)
    connection = helpers.connect(engine)
    schema = dj.Schema("r_d" + uuid.uuid4().hex[:8], connection=connection)
    try:
        Source, Result = _declare(schema)
        Source.insert([(i, 8) for i in range(4)])
        Result.populate()
        before = helpers.store_files(spec)
        from dj_jupyter.storage.stores import get_store

        store = get_store("main")
        original = store.fs
        failing = FailingFS(original, fail_removes=True)
        store.fs = failing
        with caplog.at_level(logging.WARNING, logger="dj_jupyter"):
            (Source & "source < 2").delete(prompt=False)  # commits; the objects cannot be removed
        store.fs = original
        assert len(Source()) == 2 and len(Result()) == 2, "the delete is committed although the store failed"
        after = helpers.store_files(spec)
        referenced = _referenced(Result)
        assert referenced <= after
        orphans = after - referenced
        assert orphans, "the refused removals leave the released objects behind"
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warned and any("gc" in message for message in warned), warned
        report = dj.gc.collect(schema, store="main", dry_run=False, grace_period=0)
        final = helpers.store_files(spec)
        assert set(report.removed) and final == referenced, (report, final, referenced)
        helpers.report(f"[store delete failure {engine}] delete of 2 of 4 sources committed while the store refused "
              f"{failing.removes_refused} removal call(s): {len(orphans)} released objects stayed, the user saw "
              f"{len(warned)} warning(s) naming dj.gc ({warned[0][:90]!r}); gc then removed {len(report.removed)} "
              f"object(s); the store holds exactly the {len(referenced)} referenced objects of {len(before)}")
    finally:
        schema.drop(prompt=False, force=True)
        connection.close()


# ---- disk full ------------------------------------------------------------------------------------------------
@pytest.fixture(params=["loop-mount", "enospc-wrapper"])
def small_filesystem(request, tmp_path):
    """A 4 MiB ext4 filesystem loop-mounted for the test; None for the fsspec wrapper that raises ENOSPC after
    3 MiB (also used when this machine does not allow a loop mount)."""
    if request.param == "enospc-wrapper":
        yield None
        return
    image = tmp_path / "disk.img"
    mount = tmp_path / "mnt"
    mount.mkdir()
    try:
        with open(image, "wb") as f:
            f.truncate(4 * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-m", "0", "-F", str(image)], check=True, capture_output=True, timeout=60)
        subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        print(f"loop mount not possible here ({error} {detail.decode(errors='replace').strip()}): "
              f"using the ENOSPC fsspec wrapper")
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=60)


@helpers.engines_param("postgresql", "mysql")
def test_disk_full_on_local_store(engine, tmp_path, use_stores, small_filesystem):
    location = (small_filesystem / "store") if small_filesystem else (tmp_path / "store")
    spec = {"protocol": "file", "location": str(location)}
    use_stores(spec)
    connection = helpers.connect(engine)
    schema = dj.Schema("r_f" + uuid.uuid4().hex[:8], connection=connection)
    try:
        Source, Result = _declare(schema)
        wrapper = None
        if small_filesystem is None:
            from dj_jupyter.storage.stores import get_store

            store = get_store("main")
            wrapper = store.fs = FailingFS(store.fs, enospc_after=3 * 1024 * 1024)
        n = 64 * 1024  # 512 KiB float64 arrays: the disk is full after a few rows
        Source.insert([(i, n) for i in range(12)])
        result = Result.populate(reserve_jobs=True, suppress_errors=True)
        made, failed = result["success_count"], len(result["error_list"])
        assert made >= 1 and failed >= 1, result
        assert all("No space left on device" in message or "ENOSPC" in message or "[Errno 28]" in message
                   for _, message in result["error_list"]), result["error_list"][:2]
        files = helpers.store_files(spec)
        referenced = _referenced(Result)
        assert referenced <= files
        partial = files - referenced
        assert not partial, f"partial objects of failed makes remain: {partial}"
        for row in Result.to_dicts():  # every committed object is complete
            np.testing.assert_array_equal(row["array"].load(), np.arange(n, dtype=np.float64) * row["source"])
        full_rows = len(Result())
        # free space (delete some rows: their objects go after the commit), clear errors, populate the rest
        (Source & f"source < {max(1, made // 2)}").delete(prompt=False)
        Result.jobs.errors.delete()
        if wrapper is not None:
            object.__setattr__(wrapper, "written_bytes", 0)
        second = Result.populate(reserve_jobs=True, suppress_errors=True)
        files2 = helpers.store_files(spec)
        referenced2 = _referenced(Result)
        assert referenced2 <= files2 and not (files2 - referenced2)
        free = shutil.disk_usage(location).free if small_filesystem else None
        helpers.report(f"[disk full {engine}] {'loop-mounted 4 MiB ext4' if small_filesystem else 'ENOSPC fsspec wrapper'}: "
              f"populate of 12 keys x ~1 MiB of objects: {made} made, {failed} failed with ENOSPC, {full_rows} rows; "
              f"no partial object remained ({len(files)} files, all referenced); after deleting rows the next "
              f"populate made {second['success_count']} more ({len(second['error_list'])} ENOSPC again), store "
              f"still exactly its {len(referenced2)} referenced objects" + (f", {free} bytes free" if free else ""))
    finally:
        schema.drop(prompt=False, force=True)
        connection.close()
