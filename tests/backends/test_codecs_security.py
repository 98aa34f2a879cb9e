"""Object paths never leave their store: hostile key values, forged metadata, filepaths and attachment names."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter.storage.paths import UnsafePathError

HOSTILE_KEYS = [
    "../../../../etc/passwd",
    "/etc/passwd",
    "..",
    ".",
    "a/../../b",
    "nul\x00byte",
    "tab\tand\nnewline",
    "x" * 300,
    "ü" * 120,
    'res:er*ved?"<>|chars\\',
    " leading and trailing ",
    "%2e%2e%2f",
    "C:\\Windows\\system32",
]


@pytest.fixture
def keyed(make_schema, object_store):
    schema = make_schema()

    @schema
    class Named(dj.Manual):
        definition = """
        name : varchar(400)
        ---
        trace : <npy@>
        raw = null : <object@>
        """

    return Named


def _inside(env, paths):
    for path in paths:
        assert not path.startswith("/") and ".." not in path.split("/"), path
        assert "\x00" not in path and "\n" not in path
        assert all(len(segment.encode()) <= 255 for segment in path.split("/"))


def test_hostile_primary_keys_stay_in_store(keyed, object_store, tmp_path):
    Named = keyed
    rows = [{"name": name, "trace": np.arange(i + 1), "raw": b"r%d" % i} for i, name in enumerate(HOSTILE_KEYS)
            if "\x00" not in name or Named.connection.backend.name != "postgresql"]
    Named.insert(rows)
    files = object_store.files()
    assert len(files) == 2 * len(rows)
    _inside(object_store, files)
    for i, row in enumerate(rows):
        ref = (Named & {"name": row["name"]}).fetch1("trace")
        np.testing.assert_array_equal(ref.load(), row["trace"])
        assert ref.path in files
    # nothing was written next to the store
    if object_store.kind == "local":
        outside = {p.name for p in tmp_path.iterdir()}
        assert outside <= {"store", "pipeline.sqlite3", "downloads", "pipeline.sqlite3-journal",
                           "pipeline.sqlite3-wal", "pipeline.sqlite3-shm"}
    Named.delete()
    assert not object_store.files()


def test_forged_metadata_cannot_read_or_delete_outside(keyed, object_store, tmp_path):
    Named = keyed
    secret = tmp_path / "secret.txt"
    secret.write_text("do not touch")
    Named.insert1({"name": "victim", "trace": np.arange(3)})
    backend = Named.connection.backend
    forged = {"path": "../secret.txt", "store": "main", "dtype": "int64", "shape": [3]}
    for path in ("../secret.txt", "/" + str(secret).lstrip("/"), "a/../../secret.txt", "_schema/\x01x"):
        forged["path"] = path
        Named.connection.query(
            f"UPDATE {Named.full_table_name} SET {backend.quote('trace')} = {backend.placeholder}",
            (json.dumps(forged),))
        ref = Named.fetch1("trace")
        with pytest.raises(UnsafePathError):
            ref.load()
    (Named & {"name": "victim"}).delete()  # releasing the forged path must not remove anything outside
    assert secret.read_text() == "do not touch"


def test_filepath_refuses_paths_outside_store(make_schema, object_store, tmp_path):
    object_store.write("inside/ok.txt", b"ok")
    object_store.write("_hash/managed", b"m")
    outside = tmp_path / "outside.txt"
    outside.write_text("no")
    schema = make_schema()

    @schema
    class Ref(dj.Manual):
        definition = """
        i : int32
        ---
        f : <filepath@main>
        """

    Ref.insert1({"i": 0, "f": "inside/ok.txt"})
    for i, bad in enumerate(["../outside.txt", str(outside), "inside/../../outside.txt", "/etc/passwd",
                             "s3://other-bucket/x", "file:///etc/passwd", "inside/\x00x", "_hash/managed",
                             "_schema/x", "inside//ok.txt"], start=1):
        with pytest.raises(dj.DataJointError):
            Ref.insert1({"i": i, "f": bad})
    assert len(Ref()) == 1
    if object_store.kind == "local":
        # an absolute path that points inside the store is accepted as the relative path
        root = object_store.root
        Ref.insert1({"i": 100, "f": f"{root}/inside/ok.txt"})
        assert (Ref & {"i": 100}).fetch1("f").path == "inside/ok.txt"


def test_filepath_prefix_is_enforced(make_schema, object_store):
    stores = dict(dj.config["stores"])
    stores["main"] = dict(stores["main"], filepath_prefix="shared")
    object_store.write("shared/a.txt", b"a")
    object_store.write("private/b.txt", b"b")
    from dj_jupyter.storage.stores import clear_store_cache

    with dj.config.override({"stores": stores}):
        clear_store_cache()
        schema = make_schema()

        @schema
        class Ref(dj.Manual):
            definition = """
            i : int32
            ---
            f : <filepath@main>
            """

        Ref.insert1({"i": 1, "f": "shared/a.txt"})
        with pytest.raises(dj.DataJointError, match="filepath_prefix"):
            Ref.insert1({"i": 2, "f": "private/b.txt"})
    clear_store_cache()


@pytest.mark.parametrize("stored_name", ["../../escape.txt", "/etc/cron.d/evil", "..", "a\\..\\..\\win.txt",
                                         "sub/dir/name.txt", "", "\x01ctrl.txt", "." * 5])
def test_attach_never_writes_outside_download_path(make_schema, object_store, tmp_path, stored_name):
    schema = make_schema()

    @schema
    class Doc(dj.Manual):
        definition = """
        i : int32
        ---
        a : <attach>
        s : <attach@main>
        """

    source = tmp_path / "f.txt"
    source.write_text("content")
    Doc.insert1({"i": 1, "a": source, "s": source})
    # forge the stored file name in the in-table attachment
    backend = Doc.connection.backend
    Doc.connection.query(f"UPDATE {Doc.full_table_name} SET {backend.quote('a')} = {backend.placeholder}",
                         (stored_name.encode() + b"\0" + b"evil",))
    downloads = tmp_path / "dl" / "nested"
    before = set(_all_files(tmp_path))
    path = Doc.fetch1("a", download_path=downloads)
    created = set(_all_files(tmp_path)) - before
    assert created == {os.path.realpath(path)}
    assert os.path.dirname(os.path.realpath(path)) == os.path.realpath(downloads)
    assert open(path, "rb").read() == b"evil"


def _all_files(root):
    for folder, _dirs, files in os.walk(root):
        for name in files:
            yield os.path.realpath(os.path.join(folder, name))


def test_attach_does_not_follow_symlinks(make_schema, object_store, tmp_path):
    schema = make_schema()

    @schema
    class Doc(dj.Manual):
        definition = """
        i : int32
        ---
        a : <attach>
        """

    source = tmp_path / "report.txt"
    source.write_text("new")
    Doc.insert1({"i": 1, "a": source})
    downloads = tmp_path / "dl"
    downloads.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    os.symlink(target, downloads / "report.txt")
    path = Doc.fetch1("a", download_path=downloads)
    assert target.read_text() == "precious"
    assert os.path.basename(path) == "report_1.txt" and open(path).read() == "new"
