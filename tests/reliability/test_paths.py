"""Object paths built from hostile values never leave the store; filepaths and attachments stay in their folders.

Checked from outside the library: the whole temporary tree around a local store (every file
that exists afterwards) and the whole bucket of an S3 store (every key), before and after
inserting, fetching and deleting rows whose primary keys are hostile.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter.errors import DataJointError
from tests.reliability import helpers

pytestmark = pytest.mark.timeout(180)

HOSTILE = ["../../../../../../tmp/djrel-escape", "/etc/passwd", "..", ".", "a/../../b", "../", "./x", "~root",
           "nul\x00byte", "line\nbreak", "x" * 500, "ü" * 200, 'res:er*ved?"<>|\\', "%2e%2e%2f%00", "C:\\evil",
           "file:///etc/passwd", "s3://other-bucket/key", " spaced ", "$(touch /tmp/x)", "{schema}", "*", "[a-z]"]


def _tree(root: Path) -> set[str]:
    out = set()
    for base, dirs, files in os.walk(root, followlinks=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(base, d))]:
            out.add(os.path.relpath(os.path.join(base, name), root))
    return out


def _bucket_keys() -> set[str]:
    fs = helpers.s3_filesystem()
    fs.invalidate_cache()
    return {fs._strip_protocol(p) for p in fs.find(helpers.BUCKET, withdirs=False)}


@pytest.mark.parametrize("engine,kind", [(engine, kind) for engine, kind in
                                         [("sqlite", "local"), ("postgresql", "s3"), ("mysql", "local")]
                                         if engine in helpers.ENGINES])
def test_hostile_keys_stay_inside_the_store(engine, kind, tmp_path, use_stores):
    root = tmp_path / "deep" / "er"
    store_dir = root / "store"
    store_dir.mkdir(parents=True)
    if kind == "local":
        spec = {"protocol": "file", "location": str(store_dir), "partition_pattern": "{name}"}
    else:
        spec = dict(helpers.s3_store_spec(), partition_pattern="{name}")
    use_stores(spec, download_path=str(root / "downloads"))
    tree_before = _tree(tmp_path)
    bucket_before = _bucket_keys() if kind == "s3" else set()
    connection = helpers.connect(engine, root)
    schema = dj.Schema("r_p" + uuid.uuid4().hex[:8], connection=connection)
    try:
        @schema
        class Named(dj.Manual):
            definition = """
            name : varchar(600)
            ---
            arr : <npy@>
            obj : <object@>
            blob : <blob@>
            """

        accepted, refused = [], []
        for i, name in enumerate(HOSTILE):
            try:
                Named.insert1({"name": name, "arr": np.arange(i + 1), "obj": b"o%d" % i, "blob": {"i": i}})
                accepted.append(name)
            except DataJointError as error:
                refused.append((name, str(error).splitlines()[0][:80]))
        for name in accepted:  # every object reads back through its row
            row = (Named & {"name": name}).fetch1()
            np.testing.assert_array_equal(row["arr"].load(), np.arange(HOSTILE.index(name) + 1))
            assert row["obj"].read() == b"o%d" % HOSTILE.index(name)
        files = helpers.store_files(spec)
        for path in files:
            segments = path.split("/")
            assert not path.startswith("/") and ".." not in segments and "." not in segments and "" not in segments
            assert "\x00" not in path and "\n" not in path and all(len(s.encode()) <= 255 for s in segments)
        outside = _outside_changes(kind, tmp_path, tree_before, bucket_before, spec)
        assert not outside, f"files appeared outside the store: {sorted(outside)[:5]}"
        created = len(files)
        Named.delete()
        assert not helpers.store_files(spec), "deleting the rows removes their objects"
        assert not _outside_changes(kind, tmp_path, tree_before, bucket_before, spec)
        helpers.report(f"[paths {engine}/{kind}] {len(HOSTILE)} hostile key values (../, absolute, NUL, newline, 500-char, "
              f"reserved characters, URLs, globs) as primary key and partition: {len(accepted)} stored, "
              f"{len(refused)} refused {[r[0][:12] for r in refused]}; {created} objects, all under the store "
              f"location with clean segments; nothing else appeared in the {'bucket' if kind == 's3' else 'tree'}; "
              f"delete removed all of them")
    finally:
        schema.drop(prompt=False, force=True)
        connection.close()


def _outside_changes(kind, tmp_path, tree_before, bucket_before, spec) -> set[str]:
    if kind == "s3":
        location = f"{spec['bucket']}/{spec['location']}/"
        return {k for k in _bucket_keys() - bucket_before if not k.startswith(location)}
    new = _tree(tmp_path) - tree_before
    return {p for p in new if not p.startswith(os.path.join("deep", "er", "store") + os.sep)
            and not p.startswith(os.path.join("deep", "er", "pipeline.sqlite3"))}


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_filepath_refuses_paths_outside_its_store(kind, tmp_path, use_stores):
    store_dir = tmp_path / "store"
    (store_dir / "data" / "sub").mkdir(parents=True)
    (store_dir / "data" / "sub" / "ok.txt").write_text("inside")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the store")
    if kind == "local":
        spec = {"protocol": "file", "location": str(store_dir)}
        os.symlink(secret, store_dir / "data" / "link_out.txt")
    else:
        spec = helpers.s3_store_spec()
        fs = helpers.s3_filesystem()
        fs.pipe_file(f"{spec['bucket']}/{spec['location']}/data/sub/ok.txt", b"inside")
        fs.pipe_file(f"{spec['bucket']}/{spec['location']}-other/secret.txt", b"outside the store")
        fs.pipe_file(f"{spec['bucket']}/secret.txt", b"outside the store")
    use_stores(spec)
    from dj_jupyter.storage.stores import get_store

    root = get_store("main").root
    connection = helpers.connect("sqlite", tmp_path)
    schema = dj.Schema("files", connection=connection)
    try:
        @schema
        class Ref(dj.Manual):
            definition = """
            ref_id : int32
            ---
            file : <filepath@main>
            """

        hostile = ["../secret.txt", "data/../../secret.txt", "/etc/passwd", str(secret), "file:///etc/passwd",
                   f"{root}/../secret.txt", f"{root}-other/secret.txt", "data/sub/../../../secret.txt",
                   "data/\x00/ok.txt", "s3://other-bucket/secret.txt", f"s3://{helpers.BUCKET}/secret.txt",
                   f"s3://{helpers.BUCKET}/{spec.get('location', '')}-other/secret.txt", "~/.bashrc", "",
                   "data\\..\\..\\secret.txt", "C:/Windows/win.ini"]
        refused = 0
        for i, path in enumerate(hostile):
            with pytest.raises((DataJointError, TypeError, ValueError)):
                Ref.insert1({"ref_id": i, "file": path})
            refused += 1
        Ref.insert1({"ref_id": 100, "file": "data/sub/ok.txt"})
        Ref.insert1({"ref_id": 101, "file": f"{root}/data/sub/ok.txt" if kind == "local"
                     else f"s3://{root}/data/sub/ok.txt"})
        assert len(Ref()) == 2
        assert (Ref & {"ref_id": 100}).fetch1("file").read() in (b"inside", "inside")
        note = ""
        if kind == "local":  # a symlink planted inside the store that points outside it
            with pytest.raises(DataJointError, match="leads outside the store") as refused_link:
                Ref.insert1({"ref_id": 200, "file": "data/link_out.txt"})
            assert len(Ref()) == 2
            note = f"; a symlink inside the store pointing outside is refused ({str(refused_link.value)[:70]})"
        helpers.report(f"[filepath {kind}] {refused}/{len(hostile)} paths outside the store refused (.., absolute, URLs of "
              f"other buckets and locations, NUL, backslashes, home, empty); 2 paths inside accepted and read{note}")
    finally:
        schema.drop(prompt=False, force=True)
        connection.close()


def test_attach_never_writes_outside_the_download_path(tmp_path, use_stores):
    """Stored attachment names are forged in the database (as a hostile database could): fetching them
    writes only inside the download folder, never follows a planted symlink and never overwrites."""
    downloads = tmp_path / "work" / "downloads"
    downloads.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, downloads / "planted.txt")
    use_stores({"protocol": "file", "location": str(tmp_path / "store")}, download_path=str(downloads))
    connection = helpers.connect("sqlite", tmp_path)
    schema = dj.Schema("att", connection=connection)
    try:
        @schema
        class Doc(dj.Manual):
            definition = """
            doc_id : int32
            ---
            doc : <attach>
            """

        source = tmp_path / "source.txt"
        source.write_bytes(b"payload")
        Doc.insert1({"doc_id": 0, "doc": source})
        names = ["../../victim.txt", "/tmp/djrel-attach-escape.txt", "..\\..\\victim.txt", "sub/dir/../../x.txt",
                 "..", ".", "", "planted.txt", "a\x01b\nc.txt", "x" * 400 + ".txt", "~/.bashrc",
                 "C:\\Windows\\evil.dll", "%2e%2e/victim.txt", "\u202etxt.exe"]
        table = connection.backend.table_ref(schema.database, "doc")
        for i, name in enumerate(names, start=1):
            stored = name.encode("utf-8", "surrogatepass") + b"\0" + b"evil %d" % i
            connection.query(f"INSERT INTO {table} (doc_id, doc) VALUES (?, ?)", (i, stored))
        before = _tree(tmp_path)
        paths = [Path(p) for p in Doc.to_arrays("doc")]
        created = _tree(tmp_path) - before
        assert all(p.resolve().parent == downloads.resolve() for p in paths), paths
        assert all(c.startswith(os.path.join("work", "downloads") + os.sep) for c in created), created
        assert victim.read_text() == "precious" and not Path("/tmp/djrel-attach-escape.txt").exists()
        assert os.readlink(downloads / "planted.txt") == str(victim)
        helpers.report(f"[attach] {len(names)} forged attachment names (.., absolute, backslashes, empty, '.', a planted "
              f"symlink, control characters, 400 characters, RTL override) fetched: {len(paths)} files, all directly "
              f"in the download folder ({sorted(p.name[:20] for p in paths)[:6]}...); the symlink target and "
              f"every file outside untouched")
    finally:
        schema.drop(prompt=False, force=True)
        connection.close()


def test_forged_object_metadata_cannot_turn_a_delete_into_file_removal(tmp_path, use_stores):
    """A row whose <object@> metadata names a file outside its own section (a <filepath@> target, raw data,
    another table's object): deleting that row used to remove the file. The insert is now refused."""
    store_dir = tmp_path / "store"
    (store_dir / "raw").mkdir(parents=True)
    raw = store_dir / "raw" / "session1.dat"
    raw.write_bytes(b"irreplaceable raw data")
    use_stores({"protocol": "file", "location": str(store_dir)})
    connection = helpers.connect("sqlite", tmp_path)
    schema = dj.Schema("forge", connection=connection)
    try:
        @schema
        class Raw(dj.Manual):
            definition = """
            rid : int32
            ---
            f : <filepath@main>
            """

        @schema
        class Obj(dj.Manual):
            definition = """
            oid : int32
            ---
            o : <object@>
            """

        @schema
        class Other(dj.Manual):
            definition = """
            oid : int32
            ---
            o : <object@>
            """

        Raw.insert1({"rid": 1, "f": "raw/session1.dat"})
        Other.insert1({"oid": 1, "o": b"other table's object"})
        other_path = json.loads(connection.query(
            f"SELECT o FROM {connection.backend.table_ref(schema.database, 'other')}").fetchone()[0])["path"]
        forged = ["raw/session1.dat", other_path, "forge/obj", "_hash/forge/abcdefghijklmnopqrstuvwxyz",
                  "forge/obj/oid=1/../../../raw/session1.dat", "forge/other/oid=1/o_x"]
        refused = 0
        for i, path in enumerate(forged):
            with pytest.raises(DataJointError):
                Obj.insert1({"oid": i, "o": {"path": path, "store": "main"}})
            refused += 1
        with pytest.raises(DataJointError):
            Obj.insert1({"oid": 99, "o": {"path": "forge/obj/oid=99/o_ok", "store": "elsewhere"}})
        (Obj & "oid >= 0").delete(prompt=False)
        assert raw.read_bytes() == b"irreplaceable raw data"
        assert (Other & {"oid": 1}).fetch1("o").read() == b"other table's object"
        helpers.report(f"[forged <object@> metadata] {refused + 1} inserts naming a <filepath@> target, another table's "
              f"object, a hash object, a folder, a '..' path or another store were refused; the raw file and "
              f"the other table's object survive a delete (before the fix a forged row's delete removed the file)")
    finally:
        schema.drop(prompt=False, force=True)
        connection.close()
