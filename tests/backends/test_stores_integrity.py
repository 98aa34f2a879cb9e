"""The database and the store stay one system: failed writes leave nothing, deletes take their objects along."""

from __future__ import annotations


import numpy as np
import pytest

import dj_jupyter as dj
from tests.object_stores import InjectedFault


def stored_paths(table, attributes=None) -> set[str]:
    """Paths referenced by the rows of ``table`` (read from the raw column metadata)."""
    from dj_jupyter.storage.references import collect_references

    return {path for _store, path in collect_references(table if not isinstance(table, type) else table(),
                                                       attributes)}


def with_manifests(env, paths):
    files = env.files()
    return {f for f in files if any(f == p or f.startswith(p + "/") or f == p + ".manifest.json" for p in paths)}


def assert_no_dangling(table):
    """Every committed row's objects exist and decode."""
    for row in table.to_dicts():
        for name, value in row.items():
            if isinstance(value, (dj.NpyRef,)):
                value.load()
            elif isinstance(value, dj.ObjectRef):
                assert value.exists()


@pytest.fixture
def rich(make_schema, object_store):
    schema = make_schema()

    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        ---
        array : <npy@>
        blob : <blob@>
        raw : <object@>
        """

    return Item


def rows(start, count, shared=None):
    out = []
    for i in range(start, start + count):
        out.append({"item": i, "array": np.full(5, i), "blob": shared if shared is not None else {"i": i},
                    "raw": b"raw-%d" % i})
    return out


@pytest.mark.parametrize("fail_on", [1, 2, 5, 9, 15])
def test_store_fails_on_nth_write_of_multirow_insert(rich, object_store, fail_on):
    Item = rich
    Item.insert(rows(100, 2))  # committed before: must survive
    before = object_store.files()
    wrapper = object_store.instrument(fail_on_write=fail_on)
    with pytest.raises(InjectedFault):
        Item.insert(rows(0, 5))
    object_store.uninstrument()
    assert len(Item()) == 2
    assert object_store.files() == before, "no object of the failed insert remains"
    assert wrapper.writes == fail_on
    assert_no_dangling(Item)


@pytest.mark.parametrize("fail_on", [1, 4])
def test_store_fails_while_large_objects_are_written_behind(rich, object_store, fail_on):
    """Large objects are written by a background writer while the next row is encoded."""
    Item = rich
    rng = np.random.default_rng(fail_on)
    big = [rng.standard_normal(5 * 1024 * 1024 // 8) for _ in range(3)]  # 5 MiB each: above the queue limit
    Item.insert(rows(100, 1))
    before = object_store.files()
    object_store.instrument(fail_on_write=fail_on)
    with pytest.raises(InjectedFault):
        Item.insert({"item": i, "array": a, "blob": a[::-1].copy(), "raw": b"r"} for i, a in enumerate(big))
    object_store.uninstrument()
    assert len(Item()) == 1
    assert object_store.files() == before
    Item.insert({"item": i, "array": a, "blob": a[::-1].copy(), "raw": b"r"} for i, a in enumerate(big))
    for i, a in enumerate(big):
        np.testing.assert_array_equal((Item & {"item": i}).fetch1("array").load(), a)
        np.testing.assert_array_equal((Item & {"item": i}).fetch1("blob"), a[::-1])


def test_store_failure_inside_transaction_rolls_back_everything(rich, object_store):
    Item = rich
    connection = Item.connection
    Item.insert(rows(100, 1))
    before = object_store.files()
    object_store.instrument(fail_on_write=8)
    with pytest.raises(InjectedFault):
        with connection.transaction:
            Item.insert(rows(0, 2))  # 6 writes, succeed
            Item.insert(rows(10, 2))  # fails on its 2nd write
    object_store.uninstrument()
    assert len(Item()) == 1
    assert object_store.files() == before
    assert_no_dangling(Item)


def test_database_failure_removes_written_objects_but_keeps_shared(rich, object_store):
    Item = rich
    shared = np.arange(1000.0)
    Item.insert1({"item": 1, "array": np.zeros(3), "blob": shared, "raw": b"x"})
    before = object_store.files()
    with pytest.raises(dj.errors.DuplicateError):
        Item.insert([{"item": 2, "array": np.ones(3), "blob": shared, "raw": b"y"},
                     {"item": 3, "array": np.ones(4), "blob": "new content", "raw": b"z"},
                     {"item": 1, "array": np.ones(5), "blob": shared, "raw": b"w"}])
    assert object_store.files() == before
    np.testing.assert_array_equal(Item.fetch1("blob"), shared)


def test_failure_in_make_leaves_nothing(make_schema, object_store):
    schema = make_schema()

    @schema
    class Source(dj.Manual):
        definition = """
        source : int32
        """

    @schema
    class Result(dj.Computed):
        definition = """
        -> Source
        ---
        array : <npy@>
        blob : <blob@>
        """

        class Piece(dj.Part):
            definition = """
            -> master
            piece : int32
            ---
            raw : <object@>
            """

        def make(self, key):
            self.insert1({**key, "array": np.arange(key["source"] + 1), "blob": {"k": key["source"]}})
            self.Piece.insert({**key, "piece": p, "raw": b"p%d" % p} for p in range(3))
            if key["source"] == 2:
                raise RuntimeError("make failed after writing objects")

    Source.insert([{"source": i} for i in range(4)])
    Result.populate(suppress_errors=True)
    assert {r["source"] for r in Result.keys()} == {0, 1, 3}
    referenced = stored_paths(Result) | stored_paths(Result.Piece)
    assert object_store.files() == with_manifests(object_store, referenced)

    # the store itself failing inside make(): the Nth write of the third job
    Result.delete()
    assert not object_store.files()
    object_store.instrument(fail_on_write=7)
    Result.populate(suppress_errors=True)
    object_store.uninstrument()
    referenced = stored_paths(Result) | stored_paths(Result.Piece)
    assert object_store.files() == with_manifests(object_store, referenced)
    assert_no_dangling(Result)


@pytest.fixture
def lab(make_schema, object_store):
    """Subject -> Session -> Recording (another schema) -> Recording.Unit: three levels of descendants."""
    upstream = make_schema()
    downstream = make_schema()

    @upstream
    class Subject(dj.Manual):
        definition = """
        subject : int32
        ---
        photo : <object@>
        profile : <blob@>
        """

    @upstream
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int32
        ---
        raw : <npy@>
        settings : <blob@>
        """

    @downstream
    class Recording(dj.Manual):
        definition = """
        -> Session
        recording : int32
        ---
        data : <blob@>
        notes = null : <attach@>
        """

        class Unit(dj.Part):
            definition = """
            -> master
            unit : int32
            ---
            spikes : <npy@>
            template : <blob@>
            waveform : <object@>
            """

    return Subject, Session, Recording


def fill_lab(Subject, Session, Recording, tmp_path):
    shared_template = np.linspace(-1, 1, 64)  # the same content under both subjects
    note = tmp_path / "note.txt"
    note.write_text("shared note")
    for subject in (1, 2):
        Subject.insert1({"subject": subject, "photo": (".png", b"png%d" % subject), "profile": {"s": subject}})
        for session in range(2):
            Session.insert1({"subject": subject, "session": session, "raw": np.full(8, subject * 10 + session),
                             "settings": {"gain": 2}})  # identical for every session: one shared object
            for recording in range(2):
                key = {"subject": subject, "session": session, "recording": recording}
                Recording.insert1({**key, "data": np.arange(subject * 100 + session * 10 + recording),
                                   "notes": note})
                Recording.Unit.insert({**key, "unit": u, "spikes": np.arange(u + subject),
                                       "template": shared_template, "waveform": b"w%d%d%d%d" % (
                                           subject, session, recording, u)} for u in range(3))


def lab_paths(Subject, Session, Recording, restriction=None):
    tables = [Subject(), Session(), Recording(), Recording.Unit()]
    paths = set()
    for table in tables:
        expr = table & restriction if restriction is not None else table
        paths |= stored_paths(expr)
    return paths


def test_cascade_delete_removes_descendant_objects_keeps_shared(lab, object_store, tmp_path):
    Subject, Session, Recording = lab
    fill_lab(Subject, Session, Recording, tmp_path)
    survivors = lab_paths(Subject, Session, Recording, {"subject": 2})
    doomed = lab_paths(Subject, Session, Recording, {"subject": 1})
    shared = survivors & doomed
    assert shared, "the fixture shares hash-addressed objects between subjects"
    assert object_store.files() == with_manifests(object_store, survivors | doomed)

    (Subject & {"subject": 1}).delete()

    assert len(Subject()) == 1 and len(Recording.Unit()) == 12
    assert object_store.files() == with_manifests(object_store, survivors)
    for path in doomed - shared:
        assert not object_store.exists(path)
    for table in (Subject, Session, Recording, Recording.Unit):
        assert_no_dangling(table)
    # the survivors' shared objects still decode
    np.testing.assert_array_equal(Recording.Unit.to_arrays("template")[0], np.linspace(-1, 1, 64))

    (Subject & {"subject": 2}).delete()
    assert not object_store.files()


def test_delete_quick_and_restricted_part_deletes(lab, object_store, tmp_path):
    Subject, Session, Recording = lab
    fill_lab(Subject, Session, Recording, tmp_path)
    doomed = stored_paths(Recording.Unit & {"unit": 0})
    (Recording.Unit & {"unit": 0}).delete_quick()
    remaining = lab_paths(Subject, Session, Recording)
    assert doomed - remaining, "the deleted parts owned objects of their own"
    assert object_store.files() == with_manifests(object_store, remaining)
    assert doomed & remaining, "their shared template stays for the other units"


def test_delete_inside_failed_transaction_keeps_objects(lab, object_store, tmp_path):
    Subject, Session, Recording = lab
    fill_lab(Subject, Session, Recording, tmp_path)
    before = object_store.files()
    connection = Subject.connection
    with pytest.raises(RuntimeError):
        with connection.transaction:
            (Subject & {"subject": 1}).delete(transaction=False)
            raise RuntimeError("abort")
    assert object_store.files() == before
    assert len(Subject()) == 2


def test_replace_releases_old_objects(rich, object_store):
    Item = rich
    Item.insert(rows(0, 3))
    old = stored_paths(Item & {"item": 1})
    Item.insert([{"item": 1, "array": np.zeros(2), "blob": "replaced", "raw": b"new"}], replace=True)
    new = stored_paths(Item & {"item": 1})
    files = object_store.files()
    assert not (old - new) & files
    assert files == with_manifests(object_store, stored_paths(Item))


def test_skip_duplicates_leaves_no_orphans(rich, object_store):
    Item = rich
    Item.insert(rows(0, 2))
    Item.insert(rows(0, 4), skip_duplicates=True)
    assert len(Item()) == 4
    assert object_store.files() == with_manifests(object_store, stored_paths(Item))


def test_staged_insert_failure_removes_staged_objects(make_schema, object_store):
    schema = make_schema()

    @schema
    class Movie(dj.Manual):
        definition = """
        movie : int32
        ---
        frames : <object@>
        """

    with pytest.raises(RuntimeError):
        with Movie.staged_insert1 as staged:
            staged.rec["movie"] = 1
            with staged.open("frames", ".bin") as f:
                f.write(b"partial")
            raise RuntimeError("acquisition failed")
    assert len(Movie()) == 0
    assert not object_store.files()
    with pytest.raises(dj.DataJointError):  # the insert itself fails (missing key): objects removed too
        with Movie.staged_insert1 as staged:
            staged.rec["movie"] = 2
            with staged.open("frames", ".bin") as f:
                f.write(b"data")
            staged.rec["unknown_attribute"] = 1
    assert not object_store.files()
