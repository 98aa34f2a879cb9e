"""dj.Instance: settings and a connection of its own; thread-safe mode refuses the process-wide ones."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

import dj_jupyter as dj
from tests.conftest import connection_settings

ROOT = Path(__file__).resolve().parents[2]


def make_instance(backend, tmp_path, **settings):
    options = connection_settings(backend, tmp_path)
    if backend == "sqlite":
        return dj.Instance(backend="sqlite", database__path=options["path"], **settings)
    return dj.Instance(options["host"], options["user"], options["password"], options["port"], backend=backend,
                       **settings)


@pytest.fixture
def instance(backend, tmp_path):
    made = make_instance(backend, tmp_path, safemode=False)
    schemas = []
    yield made, schemas
    for schema in schemas:
        schema.drop(prompt=False, force=True)
    made.connection.close()


def declare(schema):
    @schema
    class Trial(dj.Manual):
        definition = """
        trial : int32
        ---
        signal = null : <blob@>
        """

    @schema
    class Mean(dj.Computed):
        definition = """
        -> Trial
        ---
        mean : float64
        """

        def make(self, key):
            signal = (Trial & key).fetch1("signal")
            self.insert1({**key, "mean": float(np.mean(signal))})

    return Trial, Mean


def test_an_instance_reads_its_own_settings(instance, tmp_path, backend):
    made, schemas = instance
    assert made.connection.config is made.config
    made.config["display.limit"] = 2
    assert dj.config["display.limit"] != 2
    made.config["stores"] = {"default": "lab", "lab": {"protocol": "file", "location": str(tmp_path / "lab")}}
    schema = made.Schema("t_" + uuid.uuid4().hex[:10])
    schemas.append(schema)
    assert schema.connection is made.connection
    Trial, Mean = declare(schema)
    Trial.insert([{"trial": t, "signal": np.full(4, t, dtype=float)} for t in range(5)])
    assert list((tmp_path / "lab").rglob("*")), "the blobs went to the instance's store"
    assert "lab" not in dj.config["stores"]
    lines = repr(Trial()).splitlines()  # header, rule, two rows (the instance's display.limit), more, count
    assert len(lines) == 6 and lines[-1].strip() == "(5 tuples)"
    Mean.populate()
    assert sorted(Mean().to_arrays("mean")) == [0.0, 1.0, 2.0, 3.0, 4.0]
    (Trial & {"trial": 0}).delete()  # safemode is off for this instance only: no prompt
    assert len(Trial()) == 4 and len(Mean()) == 4
    table = made.FreeTable(f"{schema.database}.{Trial.table_name}")
    assert len(table) == 4 and table.connection is made.connection


def test_two_instances_keep_their_settings_apart(backend, tmp_path):
    first = make_instance(backend, tmp_path, display__limit=3)
    second = make_instance(backend, tmp_path, display__limit=7)
    try:
        assert first.connection is not second.connection
        assert (first.config["display.limit"], second.config["display.limit"]) == (3, 7)
        second.config["jobs.default_priority"] = 1
        assert first.config["jobs.default_priority"] == dj.config["jobs.default_priority"] != 1
    finally:
        first.connection.close()
        second.connection.close()


def test_thread_safe_mode_refuses_global_state_and_instances_work(instance, monkeypatch, tmp_path):
    made, schemas = instance
    monkeypatch.setenv("DJ_THREAD_SAFE", "true")
    for use in (lambda: dj.config["safemode"], lambda: dj.config.safemode, lambda: dj.config.database.host,
                lambda: dj.config.__setitem__("safemode", True), dj.conn):
        with pytest.raises(dj.ThreadSafetyError, match="dj.Instance"):
            use()
    made.config["stores"] = {"default": "lab", "lab": {"protocol": "file", "location": str(tmp_path / "lab")}}
    schema = made.Schema("t_" + uuid.uuid4().hex[:10])
    schemas.append(schema)
    Trial, Mean = declare(schema)
    errors = []

    def insert(first):
        try:
            Trial.insert([{"trial": t, "signal": np.arange(3.0) + t} for t in range(first, first + 3)])
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=insert, args=(first,)) for first in (0, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    Mean.populate(reserve_jobs=True)
    assert len(Mean()) == 6 and (Mean & {"trial": 11}).fetch1("mean") == 12.0
    assert "6 tuples" in repr(Mean())
    (Trial & "trial >= 10").delete()
    assert len(Trial()) == 3 and len(Mean()) == 3
    monkeypatch.delenv("DJ_THREAD_SAFE")
    assert dj.config["safemode"] is False  # back to normal once the mode is off


def test_thread_safe_mode_is_read_from_the_environment(monkeypatch):
    for value in ("1", "yes", "TRUE"):
        monkeypatch.setenv("DJ_THREAD_SAFE", value)
        with pytest.raises(dj.ThreadSafetyError):
            dj.config.get("display.limit")
    monkeypatch.setenv("DJ_THREAD_SAFE", "false")
    assert dj.config.get("display.limit") > 0


def test_a_process_started_in_thread_safe_mode_imports_and_works_through_an_instance(tmp_path):
    """DJ_THREAD_SAFE set before the process starts, as it is meant to be used."""
    script = textwrap.dedent(f"""
        import dj_jupyter as dj
        lab = dj.Instance(backend="sqlite", database__path={str(tmp_path / "lab.sqlite3")!r}, safemode=False)
        schema = lab.Schema("lab")

        @schema
        class Item(dj.Manual):
            definition = "item : int32"

        Item.insert([(1,), (2,)])
        (Item & "item = 1").delete()
        try:
            dj.config["safemode"]
        except dj.ThreadSafetyError:
            print("refused", len(Item()))
    """)
    env = dict(os.environ, DJ_THREAD_SAFE="true", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "refused 1"
