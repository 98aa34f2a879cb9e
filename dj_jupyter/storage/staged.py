"""``Table.staged_insert1``: write large objects (zarr, HDF5, ...) straight into the store, then insert the row.

::

    with Recording.staged_insert1 as staged:
        staged.rec["recording_id"] = 7
        z = zarr.open(staged.store("traces", ".zarr"), mode="w", shape=(1000, 64), chunks=(100, 64))
        z[:] = data
        with staged.open("raw", ".h5") as f:          # a binary file in the store
            with h5py.File(f, "w") as h5: ...
    # clean exit: the metadata of each staged object is computed and the row inserted;
    # an exception (here or in the insert): the staged objects are removed, no row.

If the block runs inside an open transaction (e.g. in ``make()``), a later
rollback of that transaction removes the staged objects as well.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import IO

from ..codecs.base import resolve
from ..errors import DataJointError
from .ledger import ObjectLedger
from .paths import clean_extension, object_path
from .stores import MANIFEST_SUFFIX, get_store


class StagedInsert:
    """Collects the row in ``rec`` and hands out store locations for its ``<object@>`` attributes."""

    def __init__(self, table):
        self._table = table
        self._rec: dict = {}
        self._staged: dict[str, dict] = {}

    @property
    def rec(self) -> dict:
        """The row being built; set its primary key before calling ``store()`` or ``open()``."""
        return self._rec

    @property
    def fs(self):
        """The fsspec filesystem of the default store."""
        return get_store(None, self._table.connection.config).fs

    def _resolve(self, field: str, ext: str) -> tuple[str, object]:
        if field in self._staged:
            info = self._staged[field]
            if (ext or None) != info["ext"]:
                raise DataJointError(f"{field} is already staged with extension {info['ext']!r}.")
            return info["path"], info["store"]
        heading = self._table.heading
        if field not in heading:
            raise DataJointError(f"{type(self._table).__name__} has no attribute {field!r}.")
        attribute = heading[field]
        if not attribute.is_codec or attribute.type.name != "object":
            raise DataJointError(f"Attribute {field!r} is not an <object@> attribute.",
                                 hint="staged_insert1 writes <object@store> attributes directly into their store.")
        missing = [k for k in self._table.primary_key if k not in self._rec]
        if missing:
            raise DataJointError(f"Set the primary key in staged.rec before staging objects; missing "
                                 f"{', '.join(missing)}.")
        _chain, _storage, store_name = resolve(attribute.type)
        store = get_store(store_name or None, self._table.connection.config)
        key = {k: self._rec[k] for k in self._table.primary_key}
        path, _token = object_path(self._table.database, self._table.table_name, field, key,
                                   clean_extension(ext) if ext else None,
                                   schema_prefix=store.spec.get("schema_prefix"),
                                   partition_pattern=store.spec.get("partition_pattern"),
                                   token_length=store.spec.get("token_length") or 8)
        self._staged[field] = {"path": path, "store": store, "ext": clean_extension(ext) if ext else None}
        return path, store

    def store(self, field: str, ext: str = "") -> object:
        """An fsspec mapping at the object's location, for ``zarr.open(staged.store("x", ".zarr"))``."""
        path, store = self._resolve(field, ext)
        return store.fsmap(path, create=True)

    def open(self, field: str, ext: str = "", mode: str = "wb") -> IO:
        """A binary file at the object's location, open for writing (e.g. for ``h5py.File(f, "w")``)."""
        if "w" not in mode or "b" not in mode:
            raise DataJointError("staged.open() opens binary files for writing (mode 'wb').")
        path, store = self._resolve(field, ext)
        try:  # HDF5 and similar formats read back and seek while writing
            target = store.fs.open(store.full_path(path), "w+b")
        except (ValueError, NotImplementedError, TypeError):
            target = None
        if target is not None and _seekable(target):
            return target
        if target is not None:
            target.close()
        return _UploadOnClose(store, path)  # e.g. S3: write locally, upload on close

    def path(self, field: str, ext: str = "") -> str:
        """The object's store-relative path (for tools that write through the store's filesystem)."""
        return self._resolve(field, ext)[0]

    def _metadata(self, field: str) -> dict:
        from ..codecs.object import now_iso, zarr_layout

        info = self._staged[field]
        store, path = info["store"], info["path"]
        try:
            kind = store.info(path).get("type")
        except FileNotFoundError:
            raise DataJointError(f"Nothing was written for the staged attribute {field!r}.") from None
        files = store.walk_files(path) if kind == "directory" else {}
        if files:
            size = sum(int(i.get("size") or 0) for i in files.values())
            is_dir, item_count = True, len(files)

            def read_json(name):
                if f"{path}/{name}" not in files:
                    return None
                try:
                    return json.loads(store.read_bytes(f"{path}/{name}"))
                except ValueError:
                    return None

            layout = zarr_layout(read_json)
            manifest = {"files": [{"path": p[len(path) + 1:], "size": i.get("size")} for p, i in sorted(files.items())],
                        "total_size": size, "item_count": item_count, "created": now_iso()}
            store.write_bytes(path + MANIFEST_SUFFIX, json.dumps(manifest, indent=2).encode())
        else:
            size = store.size(path)
            if size is None:
                raise DataJointError(f"Nothing was written for the staged attribute {field!r}.")
            is_dir, item_count, layout = False, None, {}
        metadata = {"path": path, "store": store.name, "size": size, "ext": info["ext"], "is_dir": is_dir,
                    "item_count": item_count, "timestamp": now_iso()}
        metadata.update(layout)
        return metadata

    def _finalize(self) -> None:
        connection = self._table.connection
        with connection.atomic():
            ledger = ObjectLedger(connection)
            for field, info in self._staged.items():
                ledger.record_write(info["store"], info["path"])
            for field in self._staged:
                self._rec[field] = self._metadata(field)
            self._table.insert1(self._rec)

    def _cleanup(self) -> None:
        for info in self._staged.values():
            try:
                info["store"].remove(info["path"])
            except Exception:  # dj.gc finds what is left
                pass


def _seekable(f) -> bool:
    try:
        return bool(f.seekable()) and f.readable()
    except Exception:
        return False


class _UploadOnClose:
    """A local, seekable temporary file that is copied to the store when closed."""

    def __init__(self, store, path: str):
        import tempfile

        self._store = store
        self._path = path
        self._file = tempfile.TemporaryFile("w+b")
        self._uploaded = False

    def __getattr__(self, name):
        return getattr(self._file, name)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            if not self._uploaded:
                self._file.flush()
                self._file.seek(0)
                with self._store.open_write(self._path) as target:
                    while True:
                        chunk = self._file.read(64 * 1024 * 1024)
                        if not chunk:
                            break
                        target.write(chunk)
                self._uploaded = True
        finally:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


@contextmanager
def staged_insert1(table):
    staged = StagedInsert(table)
    try:
        yield staged
        staged._finalize()
    except BaseException:
        staged._cleanup()
        raise
