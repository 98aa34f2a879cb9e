"""dj.gc.collect: finds exactly the orphans that crashes leave, and never removes what a committed row references."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import dj_jupyter as dj
from tests.backends.test_stores_integrity import stored_paths, with_manifests


def second_connection(connection):
    """Another connection to the same database as ``connection``."""
    info = dict(connection.conn_info)
    return dj.Connection(info.pop("host"), info.pop("user"), connection._password, info.pop("port"), **info)


@pytest.fixture
def pipeline(make_schema, object_store):
    schema = make_schema()

    @schema
    class Animal(dj.Manual):
        definition = """
        animal : int32
        ---
        scan : <npy@>
        summary : <blob@>
        movie = null : <object@>
        """

    @schema
    class Cell(dj.Manual):
        definition = """
        -> Animal
        cell : int32
        ---
        trace : <npy@>
        shape : <blob@>
        """

    return schema, Animal, Cell


def fill(Animal, Cell, animals=range(4), tmp_path=None):
    shared = np.eye(4)  # one hash object shared by every Cell row
    for a in animals:
        movie = None
        if tmp_path is not None and a % 2:
            folder = tmp_path / f"movie{a}.zarr"
            (folder / "c").mkdir(parents=True)
            (folder / "zarr.json").write_text('{"node_type": "group", "zarr_format": 3}')
            (folder / "c" / "0").write_bytes(b"chunk")
            movie = folder
        Animal.insert1({"animal": a, "scan": np.full(10, a), "summary": {"a": a}, "movie": movie})
        Cell.insert({"animal": a, "cell": c, "trace": np.arange(c + a), "shape": shared} for c in range(3))


@pytest.fixture
def crash_after_commit(monkeypatch):
    """Deletes commit, then 'crash' before removing their objects."""
    import dj_jupyter.storage.stores as stores

    monkeypatch.setattr(stores, "remove_if_unreferenced", lambda connection, references: [])


def test_gc_finds_exactly_the_orphans_of_crashed_deletes(pipeline, object_store, crash_after_commit, tmp_path):
    schema, Animal, Cell = pipeline
    fill(Animal, Cell, tmp_path=tmp_path)
    alive_before = stored_paths(Animal) | stored_paths(Cell)
    doomed = (stored_paths(Animal & "animal < 2") | stored_paths(Cell & "animal < 2"))
    (Animal & "animal < 2").delete()
    survivors = stored_paths(Animal) | stored_paths(Cell)
    expected_orphans = sorted(doomed - survivors)
    assert expected_orphans and object_store.files() == with_manifests(object_store, alive_before)

    report = dj.gc.collect(schema, store="main", grace_period=0)  # dry run by default
    assert report.dry_run and report.orphans == expected_orphans
    assert report.eligible == expected_orphans and not report.removed
    assert object_store.files() == with_manifests(object_store, alive_before), "a dry run removes nothing"

    report = dj.gc.collect(schema, store="main", dry_run=False, grace_period=0)
    assert report.removed == expected_orphans and report.bytes_freed > 0 and not report.errors
    assert object_store.files() == with_manifests(object_store, survivors)
    for row in Cell.to_dicts():
        row["trace"].load()
    np.testing.assert_array_equal(Cell.to_arrays("shape")[0], np.eye(4))
    again = dj.gc.collect(schema, dry_run=False, grace_period=0)
    assert not again.orphans and not again.removed


def test_gc_after_crash_during_rollback(pipeline, object_store, monkeypatch):
    schema, Animal, Cell = pipeline
    fill(Animal, Cell, animals=[0])
    alive = stored_paths(Animal) | stored_paths(Cell)
    from dj_jupyter.storage.stores import Store

    def crash(*args, **kwargs):
        raise OSError("crash")

    monkeypatch.setattr(Store, "remove", crash)
    monkeypatch.setattr(Store, "remove_many", crash)
    with pytest.raises(RuntimeError):
        with Cell.connection.transaction:
            Cell.insert([{"animal": 0, "cell": 9, "trace": np.ones(3), "shape": np.zeros(2)},
                         {"animal": 0, "cell": 10, "trace": np.ones(4), "shape": np.zeros(3)}])
            raise RuntimeError("the process fails before committing")
    monkeypatch.undo()
    leftovers = object_store.files() - with_manifests(object_store, alive)
    assert leftovers, "the failed insert left objects behind (its cleanup 'crashed')"
    report = dj.gc.collect(schema, grace_period=0, dry_run=False)
    assert set(report.removed) == leftovers
    assert object_store.files() == with_manifests(object_store, alive)


def test_gc_grace_period_marks_then_sweeps(pipeline, object_store, crash_after_commit):
    schema, Animal, Cell = pipeline
    fill(Animal, Cell, animals=[0, 1])
    (Cell & {"animal": 1}).delete()
    orphans = report_orphans = dj.gc.collect(schema).orphans
    assert orphans

    first = dj.gc.collect(schema, dry_run=False, grace_period=1.5)
    assert first.orphans == orphans and not first.removed and first.deferred == orphans
    assert all(object_store.exists(p) for p in orphans)
    time.sleep(1.7)
    # found again after the grace period: only now removed
    second = dj.gc.collect(schema, dry_run=False, grace_period=1.5)
    assert second.removed == report_orphans
    assert not any(object_store.exists(p) for p in orphans)


def test_gc_is_confined_to_its_schema_sections(pipeline, make_schema, object_store, crash_after_commit):
    schema, Animal, Cell = pipeline
    other = make_schema()

    @other
    class Other(dj.Manual):
        definition = """
        i : int32
        ---
        x : <npy@>
        """

    Other.insert1({"i": 1, "x": np.arange(3)})
    Other.delete()  # an orphan, but of another schema
    object_store.write("user/files/keep.bin", b"user data")
    object_store.write(f"_hash/{schema.database}/not-a-hash-name", b"?")
    fill(Animal, Cell, animals=[0])
    report = dj.gc.collect(schema, dry_run=False, grace_period=0)
    assert not report.removed
    assert object_store.exists("user/files/keep.bin")
    assert len([f for f in object_store.files() if f.startswith(f"_schema/{other.database}/")]) == 1


GRACE = 1.0


def test_gc_never_removes_objects_of_concurrent_inserts(pipeline, object_store, crash_after_commit, backend,
                                                         tmp_path):
    """A writer keeps inserting rows (some reuse orphaned hash objects) while gc marks and sweeps.

    The grace period (1 s) exceeds the writer's transactions, as it must; the orphaned hash
    objects the writer reuses are older than that and get swept under its feet: the writer
    restores them after its commit.
    """
    schema, Animal, Cell = pipeline
    fill(Animal, Cell, animals=[0])
    pool = [np.full(50, k, dtype=np.float32) for k in range(5)]
    # orphan the pool's hash objects: insert then delete with removal "crashed"
    Animal.insert({"animal": 100 + k, "scan": np.zeros(1), "summary": pool[k]} for k in range(5))
    (Animal & "animal >= 100").delete()
    dj.gc.collect(schema, dry_run=False, grace_period=GRACE)  # marks them
    time.sleep(GRACE + 0.2)  # ... and lets them age past the grace period

    writer_connection = second_connection(Animal.connection)
    writer_schema = dj.Schema(schema.database, connection=writer_connection)
    WriterAnimal = type("Animal", (dj.Manual,), {"definition": Animal.definition})
    WriterAnimal = writer_schema(WriterAnimal)
    errors = []
    stop = threading.Event()

    def write():
        try:
            for i in range(40):
                WriterAnimal.insert1({"animal": 1000 + i, "scan": np.arange(i + 1), "summary": pool[i % 5]})
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            stop.set()

    thread = threading.Thread(target=write)
    thread.start()
    sweeps = 0
    swept = set()
    while not stop.is_set() or sweeps == 0:
        swept |= set(dj.gc.collect(schema, dry_run=False, grace_period=GRACE).removed)
        sweeps += 1
    thread.join()
    writer_connection.close()
    assert not errors
    assert len(Animal & "animal >= 1000") == 40
    for row in (Animal & "animal >= 1000").to_dicts():
        row["scan"].load()  # every committed row's objects exist
        np.testing.assert_array_equal(row["summary"], pool[(row["animal"] - 1000) % 5])
    final = dj.gc.collect(schema, dry_run=False, grace_period=0)
    assert object_store.files() == with_manifests(object_store, stored_paths(Animal) | stored_paths(Cell))
    assert not final.errors


def test_gc_default_grace_protects_fresh_objects(pipeline, object_store, crash_after_commit):
    schema, Animal, Cell = pipeline
    fill(Animal, Cell, animals=[0, 1])
    (Animal & {"animal": 1}).delete()
    report = dj.gc.collect(schema, dry_run=False)  # default grace: one hour
    assert report.orphans and not report.removed and report.deferred == report.orphans
    assert "in grace period" in str(report)


def test_garbage_collector_class(pipeline, object_store, crash_after_commit):
    schema, Animal, Cell = pipeline
    fill(Animal, Cell, animals=[0])
    Cell.delete()
    collector = dj.gc.GarbageCollector(schema, store="main", grace_period=0)
    stats = collector.collect()
    assert stats["dry_run"] and stats["orphaned"] == len(stats.orphans) > 0
    stats = collector.collect(dry_run=False)
    assert stats["deleted"] == len(stats.orphans)


def test_writer_restores_hash_object_removed_before_its_commit(pipeline, object_store, monkeypatch):
    """A sweep (or a delete elsewhere) removes a reused hash object between our write and our commit."""
    schema, Animal, Cell = pipeline
    from dj_jupyter.codecs.hash import HashCodec

    original = HashCodec.encode

    def racing(self, value, **kwargs):
        metadata = original(self, value, **kwargs)
        object_store.store().remove(metadata["path"])  # the concurrent removal
        return metadata

    monkeypatch.setattr(HashCodec, "encode", racing)
    Animal.insert1({"animal": 1, "scan": np.zeros(2), "summary": {"restored": True}})
    monkeypatch.undo()
    assert Animal.fetch1("summary") == {"restored": True}
