"""Round trips of every built-in codec on every engine and both store kinds, with DataJoint's stored metadata."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter.storage.paths import content_hash

HASH_RE = re.compile(r"^[a-z2-7]{26}$")


def raw_metadata(table, attribute, key):
    """The JSON stored in the column, read without decoding."""
    cursor = (table & key).cursor(fields=[attribute])
    value = cursor.fetchone()[0]
    cursor.close()
    return json.loads(value) if isinstance(value, (str, bytes)) else value


@pytest.fixture
def objects_schema(make_schema, object_store):
    schema = make_schema()

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        name : varchar(64)
        ---
        weight = null : <blob@>
        trace = null : <npy@main>
        raw = null : <object@>
        doc = null : <attach@main>
        notes = null : <attach>
        digest = null : <hash@>
        """

    return schema, Subject


def test_blob_store_round_trip(objects_schema, object_store):
    _, Subject = objects_schema
    values = {"weight": {"a": np.arange(5.0), "b": [1, "two", None], "c": np.float32(2.5)}}
    Subject.insert1({"subject_id": 1, "name": "alpha", **values})
    fetched = (Subject & {"subject_id": 1}).fetch1("weight")
    np.testing.assert_array_equal(fetched["a"], values["weight"]["a"])
    assert fetched["b"] == [1, "two", None]
    meta = raw_metadata(Subject, "weight", {"subject_id": 1})
    assert set(meta) == {"hash", "path", "schema", "store", "size"}
    assert HASH_RE.match(meta["hash"])
    assert meta["path"] == f"_hash/{Subject.database}/{meta['hash']}"
    assert meta["store"] == "main" and meta["schema"] == Subject.database
    stored = object_store.files()
    assert meta["path"] in stored
    # the hash is DataJoint's: base32 of the MD5 of the stored bytes, lowercase, unpadded
    store = object_store.store()
    data = store.read_bytes(meta["path"])
    assert meta["hash"] == base64.b32encode(hashlib.md5(data).digest()).decode().rstrip("=").lower()
    assert meta["size"] == len(data)


def test_blob_store_deduplicates(objects_schema, object_store):
    _, Subject = objects_schema
    same = np.linspace(0, 1, 1000)
    Subject.insert([{"subject_id": i, "name": f"s{i}", "weight": same} for i in range(3)])
    paths = {raw_metadata(Subject, "weight", {"subject_id": i})["path"] for i in range(3)}
    assert len(paths) == 1
    assert len([p for p in object_store.files() if p.startswith("_hash/")]) == 1
    for value in Subject.to_arrays("weight"):
        np.testing.assert_array_equal(value, same)


def test_npy_round_trip_and_metadata(objects_schema, object_store):
    _, Subject = objects_schema
    arrays = {
        1: np.random.default_rng(1).standard_normal((20, 7)).astype(np.float32),
        2: np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4)),
        3: np.array(3.5),
        4: np.zeros((0, 3), dtype=np.uint8),
        5: np.array([b"ab", b"c"]),
        6: np.array(["x", "yz"]),
        7: np.array([1 + 2j, 3j]),
        8: np.arange(10, dtype=">i4"),
        9: np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
        10: np.arange(10)[::2],
    }
    Subject.insert([{"subject_id": k, "name": "n", "trace": v} for k, v in arrays.items()])
    for key, expected in arrays.items():
        ref = (Subject & {"subject_id": key}).fetch1("trace")
        assert isinstance(ref, dj.NpyRef)
        assert ref.shape == expected.shape and ref.dtype == expected.dtype
        assert not ref.is_loaded
        loaded = ref.load()
        np.testing.assert_array_equal(loaded, expected)
        assert loaded.dtype == expected.dtype
        np.testing.assert_array_equal(np.asarray(ref), expected)
    meta = raw_metadata(Subject, "trace", {"subject_id": 1})
    assert {"path", "store", "dtype", "shape"} <= set(meta)
    assert meta["dtype"] == "float32" and meta["shape"] == [20, 7]
    table = Subject.table_name
    assert re.match(rf"^_schema/{Subject.database}/{re.escape(table)}/subject_id=1/name=n/trace_[A-Za-z0-9_-]{{8}}\.npy$",
                    meta["path"]), meta["path"]
    # the stored file is exactly what numpy.save writes
    import io

    buffer = io.BytesIO()
    np.save(buffer, arrays[1])
    assert object_store.store().read_bytes(meta["path"]) == buffer.getvalue()
    assert ref.file_size is not None and ref.size == ref.shape[0] * ref.shape[1] if ref.ndim == 2 else True


def test_npy_arithmetic_and_mmap(objects_schema, object_store):
    _, Subject = objects_schema
    data = np.arange(100.0).reshape(10, 10)
    Subject.insert1({"subject_id": 1, "name": "a", "trace": data})
    ref = Subject.fetch1("trace")
    assert len(ref) == 10
    np.testing.assert_array_equal(ref[2:4], data[2:4])
    assert float(np.mean(ref)) == pytest.approx(data.mean())
    mapped = ref.load(mmap_mode="r")
    np.testing.assert_array_equal(mapped, data)


def test_object_bytes_tuple_file_and_folder(objects_schema, object_store, tmp_path):
    _, Subject = objects_schema
    source = tmp_path / "recording.dat"
    source.write_bytes(b"\x00\x01" * 1000)
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    Subject.insert([
        {"subject_id": 1, "name": "bytes", "raw": b"payload"},
        {"subject_id": 2, "name": "tuple", "raw": (".json", b'{"x": 1}')},
        {"subject_id": 3, "name": "file", "raw": str(source)},
        {"subject_id": 4, "name": "folder", "raw": folder},
    ])
    one = (Subject & {"subject_id": 1}).fetch1("raw")
    assert isinstance(one, dj.ObjectRef) and one.read() == b"payload" and one.size == 7 and not one.is_dir
    two = (Subject & {"subject_id": 2}).fetch1("raw")
    assert two.ext == ".json" and two.path.endswith(".json") and json.loads(two.read()) == {"x": 1}
    three = (Subject & {"subject_id": 3}).fetch1("raw")
    assert three.ext == ".dat" and three.size == 2000
    with three.open() as f:
        assert f.read(4) == b"\x00\x01\x00\x01"
    assert isinstance(three.timestamp, datetime.datetime)
    four = (Subject & {"subject_id": 4}).fetch1("raw")
    assert four.is_dir and four.item_count == 2 and four.size == 3
    assert four.listdir() == ["a.txt", "sub"]
    with four.open("sub/b.txt") as f:
        assert f.read() == b"bb"
    assert four.verify()
    local = four.download(tmp_path / "out")
    assert (local / "sub" / "b.txt").read_text() == "bb"
    meta = raw_metadata(Subject, "raw", {"subject_id": 3})
    assert set(meta) >= {"path", "store", "size", "ext", "is_dir", "item_count", "timestamp"}
    assert object_store.exists(four.path + ".manifest.json")


def test_attach_in_table_and_in_store(objects_schema, object_store, tmp_path):
    _, Subject = objects_schema
    source = tmp_path / "notes.txt"
    source.write_bytes(b"field notes\n")
    Subject.insert1({"subject_id": 1, "name": "a", "doc": source, "notes": str(source)})
    downloads = tmp_path / "dl"
    doc, notes = (Subject & {"subject_id": 1}).fetch1("doc", "notes", download_path=downloads)
    assert doc == str((downloads / "notes.txt").resolve())
    assert open(doc, "rb").read() == b"field notes\n"
    assert notes == doc  # same name, same content: the file is reused
    meta = raw_metadata(Subject, "doc", {"subject_id": 1})
    data = object_store.store().read_bytes(meta["path"])
    assert data == b"notes.txt\0field notes\n"  # DataJoint's attachment format
    assert meta["hash"] == content_hash(data)


def test_attach_name_collision_keeps_both(objects_schema, object_store, tmp_path):
    _, Subject = objects_schema
    first, second = tmp_path / "a" / "same.txt", tmp_path / "b" / "same.txt"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text("one")
    second.write_text("two")
    Subject.insert([{"subject_id": 1, "name": "a", "doc": first}, {"subject_id": 2, "name": "b", "doc": second}])
    downloads = tmp_path / "dl"
    paths = [r["doc"] for r in Subject.to_dicts(download_path=downloads, order_by="subject_id")]
    assert sorted(open(p).read() for p in paths) == ["one", "two"]
    assert len(set(paths)) == 2


def test_hash_round_trip(objects_schema, object_store):
    _, Subject = objects_schema
    Subject.insert1({"subject_id": 1, "name": "a", "digest": b"\x00raw bytes\xff"})
    assert (Subject & {"subject_id": 1}).fetch1("digest") == b"\x00raw bytes\xff"
    with pytest.raises(dj.DataJointError):
        Subject.insert1({"subject_id": 2, "name": "b", "digest": "not bytes"})


def test_filepath_round_trip(make_schema, object_store, tmp_path):
    object_store.write("recordings/day1/data.bin", b"12345")
    object_store.write("recordings/day1/meta/info.txt", b"i")
    schema = make_schema()

    @schema
    class Recording(dj.Manual):
        definition = """
        rec : int32
        ---
        file : <filepath@main>
        """

    Recording.insert([{"rec": 1, "file": "recordings/day1/data.bin"},
                      {"rec": 2, "file": "recordings/day1/meta"}])
    ref = (Recording & {"rec": 1}).fetch1("file")
    assert isinstance(ref, dj.ObjectRef) and ref.read() == b"12345" and ref.size == 5
    folder = (Recording & {"rec": 2}).fetch1("file")
    assert folder.is_dir and folder.listdir() == ["info.txt"]
    meta = raw_metadata(Recording, "file", {"rec": 1})
    assert set(meta) >= {"path", "store", "size", "is_dir", "timestamp"}
    with pytest.raises(dj.DataJointError, match="not found"):
        Recording.insert1({"rec": 3, "file": "recordings/missing.bin"})
    # deleting the row leaves the file: <filepath@> objects are not managed
    Recording.delete()
    assert object_store.exists("recordings/day1/data.bin")


def test_filepath_default_store(make_schema, object_store, tmp_path):
    import dj_jupyter as dj

    stores = dict(dj.config["stores"])
    stores["filepath_default"] = "main"
    object_store.write("f.txt", b"x")
    with dj.config.override({"stores": stores}):
        schema = make_schema()

        @schema
        class Ref(dj.Manual):
            definition = """
            i : int32
            ---
            f : <filepath@>
            """

        Ref.insert1({"i": 1, "f": "f.txt"})
        assert Ref.fetch1("f").read() == b"x"
        assert raw_metadata(Ref, "f", {"i": 1})["store"] == "main"


def test_partition_pattern_and_subfolding(make_schema, tmp_path, s3_or_local_spec):
    import dj_jupyter as dj

    spec = dict(s3_or_local_spec.spec, partition_pattern="{subject_id}", subfolding=[2, 3], token_length=12)
    with dj.config.override({"stores": {"default": "main", "main": spec}}):
        from dj_jupyter.storage.stores import clear_store_cache

        clear_store_cache()
        schema = make_schema()

        @schema
        class Session(dj.Manual):
            definition = """
            subject_id : int32
            session : varchar(16)
            ---
            trace : <npy@>
            blob : <blob@>
            """

        Session.insert1({"subject_id": 7, "session": "s1", "trace": np.arange(3), "blob": [1, 2]})
        trace = raw_metadata(Session, "trace", {"subject_id": 7})
        assert re.match(rf"^_schema/subject_id=7/{Session.database}/{Session.table_name}/session=s1/"
                        r"trace_[A-Za-z0-9_-]{12}\.npy$", trace["path"]), trace["path"]
        blob = raw_metadata(Session, "blob", {"subject_id": 7})
        digest = blob["hash"]
        assert blob["path"] == f"_hash/{Session.database}/{digest[:2]}/{digest[2:5]}/{digest}"
        np.testing.assert_array_equal(Session.fetch1("trace").load(), np.arange(3))
        assert Session.fetch1("blob") == [1, 2]
        report = dj.gc.collect(schema, grace_period=0)  # the partitioned layout is scanned too
        assert report.stored == 2 and report.referenced == 2 and not report.orphans
        Session.delete()
        assert not s3_or_local_spec.files()
        clear_store_cache()


@pytest.fixture
def s3_or_local_spec(object_store):
    return object_store


def test_store_codec_needs_a_store(make_schema, object_store):
    schema = make_schema()
    with pytest.raises(dj.DataJointError):
        @schema
        class Bad(dj.Manual):
            definition = """
            i : int32
            ---
            x : <npy>
            """


def test_unknown_store_is_reported(make_schema, object_store):
    schema = make_schema()

    @schema
    class Elsewhere(dj.Manual):
        definition = """
        i : int32
        ---
        x : <blob@nowhere>
        """

    with pytest.raises(dj.DataJointError, match="nowhere"):
        Elsewhere.insert1({"i": 1, "x": 1})
    assert not object_store.files()
    assert len(Elsewhere()) == 0


def test_update1_replaces_object(objects_schema, object_store):
    _, Subject = objects_schema
    Subject.insert1({"subject_id": 1, "name": "a", "trace": np.zeros(3), "weight": np.zeros(4)})
    old = {p for p in object_store.files()}
    Subject.update1({"subject_id": 1, "name": "a", "trace": np.ones(3), "weight": np.ones(4)})
    new = object_store.files()
    assert not (old & new), "the replaced objects are removed after the update commits"
    np.testing.assert_array_equal(Subject.fetch1("trace").load(), np.ones(3))
    np.testing.assert_array_equal(Subject.fetch1("weight"), np.ones(4))


def test_datajoint_style_schema_codec(make_schema, object_store):
    """A user codec written against DataJoint 2.3's SchemaCodec helpers runs unchanged."""

    class UpperText(dj.SchemaCodec):
        name = "dj_style_text"

        def validate(self, value):
            if not isinstance(value, str):
                raise TypeError("text only")

        def encode(self, value, *, key=None, context=None, store_name=None):
            schema, table, field, primary_key = self._extract_context(key, context)
            config = self._codec_config(key, context)
            path, _token = self._build_path(schema, table, field, primary_key, ext=".txt", store_name=store_name,
                                            config=config)
            backend = self._get_backend(store_name, config=config)
            backend.put_buffer(value.upper().encode(), path)
            return {"path": path, "store": store_name}

        def decode(self, stored, *, key=None, context=None):
            backend = self._get_backend(stored.get("store"), config=self._codec_config(key, context))
            return backend.get_buffer(stored["path"]).decode()

    try:
        schema = make_schema()

        @schema
        class Note(dj.Manual):
            definition = """
            i : int32
            ---
            text : <dj_style_text@>
            """

        Note.insert1({"i": 1, "text": "hello"})
        assert Note.fetch1("text") == "HELLO"
        (path,) = object_store.files()
        assert path.startswith(f"_schema/{Note.database}/note/i=1/text_") and path.endswith(".txt")
        Note.delete()
        assert not object_store.files()
    finally:
        dj.codecs.unregister_codec("dj_style_text")
