"""Schema-addressed storage: ``SchemaCodec`` and ``<object@store>`` for files and folders.

Objects live at ``{schema_prefix}/[partition/]{schema}/{table}/{pk}=v/.../{field}_{token}{ext}``,
one per row (no deduplication). ``<object@>`` takes bytes, ``(ext, bytes or file)``,
or the path of a local file or folder (zarr, HDF5, a folder of TIFFs, ...), and
fetches as a lazy :class:`~dj_jupyter.storage.objectref.ObjectRef`. The column holds
DataJoint's metadata ``{path, store, size, ext, is_dir, item_count, timestamp}``;
for zarr folders ``shape``, ``dtype`` and ``chunks`` are added, read from the
zarr metadata at insert time so that fetching needs no store I/O.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

from ..errors import DataJointError
from ..storage.paths import clean_path, object_path
from .base import Codec
from .stored import as_metadata, ledger_of, schema_table_field, store_for_read, store_for_write


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class SchemaCodec(Codec, register=False):
    """Base class of schema-addressed codecs (``<object@>``, ``<npy@>`` and user codecs).

    Helpers keep DataJoint 2.3's names so that codecs written for it run unchanged:
    ``_extract_context``, ``_codec_config``, ``_build_path`` and ``_get_backend``.
    Codecs written for dj_jupyter should also call ``_record(context, store, path)``
    after writing, so that a failed transaction removes the object.
    """

    def get_dtype(self, is_store: bool) -> str:
        if not is_store:
            raise DataJointError(f"<{self.name}> is stored in an object store only.",
                                 hint=f"Write <{self.name}@> (default store) or <{self.name}@store>.")
        return "json"

    @staticmethod
    def _extract_context(key: dict | None, context: dict | None = None) -> tuple[str, str, str, dict]:
        return schema_table_field(key, context)

    def _build_path(self, schema: str, table: str, field: str, primary_key: dict, ext: str | None = None,
                    store_name: str | None = None, config=None) -> tuple[str, str]:
        from ..storage.stores import get_store

        store = get_store(store_name or None, config)
        return self._path_in(store, schema, table, field, primary_key, ext)

    @staticmethod
    def _path_in(store, schema, table, field, primary_key, ext) -> tuple[str, str]:
        spec = store.spec
        return object_path(schema, table, field, primary_key, ext, schema_prefix=spec.get("schema_prefix"),
                           partition_pattern=spec.get("partition_pattern"),
                           token_length=spec.get("token_length") or 8)

    def _get_backend(self, store_name: str | None = None, config=None):
        from ..storage.stores import get_store

        return get_store(store_name or None, config)

    @staticmethod
    def _record(context: dict | None, store, path: str) -> None:
        ledger = ledger_of(context)
        if ledger is not None:
            ledger.record_write(store, path)

    @staticmethod
    def _write(context: dict | None, store, path: str, data) -> int:
        """Write an object of this row (removed again if the transaction does not commit)."""
        ledger = ledger_of(context)
        if ledger is not None:
            return ledger.write(store, path, data)
        return store.write_bytes(path, data)

    def decode(self, stored, *, key=None, context=None):
        from ..storage.objectref import ObjectRef

        metadata = as_metadata(stored, self.name)
        return ObjectRef(metadata, store_for_read(metadata, key, context))


def _in_table_section(store, path: str, schema: str, table: str) -> bool:
    """Whether ``path`` lies in ``{schema_prefix}/[partitions/]{schema}/{table}/`` of ``store``."""
    from ..storage.paths import partition_attributes, safe_segment

    parts = path.split("/")
    prefix = [p for p in (store.spec.get("schema_prefix") or "").strip("/").split("/") if p]
    if parts[:len(prefix)] != prefix:
        return False
    rest = parts[len(prefix):]
    partitions = set(partition_attributes(store.spec.get("partition_pattern")))
    while rest and "=" in rest[0] and rest[0].split("=", 1)[0] in partitions:
        rest = rest[1:]
    return len(rest) > 2 and rest[0] == safe_segment(schema) and rest[1] == safe_segment(table)


def zarr_layout(read_json) -> dict:
    """``shape``, ``dtype``, ``chunks`` of a zarr array from its metadata files ({} if not an array)."""
    meta = read_json("zarr.json")
    if meta is not None:  # zarr v3
        if meta.get("node_type") != "array":
            return {"format": "zarr"}
        layout = {"format": "zarr", "shape": meta.get("shape")}
        grid = (meta.get("chunk_grid") or {}).get("configuration") or {}
        if grid.get("chunk_shape") is not None:
            layout["chunks"] = grid["chunk_shape"]
        dtype = meta.get("data_type")
        if isinstance(dtype, str):
            layout["dtype"] = dtype
        return layout
    meta = read_json(".zarray")
    if meta is not None:  # zarr v2
        layout = {"format": "zarr", "shape": meta.get("shape"), "chunks": meta.get("chunks")}
        try:
            import numpy as np

            layout["dtype"] = str(np.dtype(meta["dtype"])) if isinstance(meta.get("dtype"), str) else None
        except (TypeError, ValueError, KeyError):
            pass
        return {k: v for k, v in layout.items() if v is not None}
    if read_json(".zgroup") is not None:
        return {"format": "zarr"}
    return {}


def _local_json(folder: Path):
    def read(name: str):
        path = folder / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (ValueError, OSError):
            return None

    return read


class ObjectCodec(SchemaCodec):
    name = "object"

    def validate(self, value: Any) -> None:
        if isinstance(value, (bytes, bytearray, memoryview, str, os.PathLike)):
            return
        if isinstance(value, tuple) and len(value) == 2:
            return
        if isinstance(value, dict) and "path" in value:
            return
        raise TypeError(f"<object> takes bytes, (extension, data), or the path of a local file or folder; "
                        f"got {type(value).__name__}")

    def encode(self, value, *, key=None, store_name=None, context=None) -> dict:
        schema, table, field, primary_key = self._extract_context(key, context)
        store = store_for_write(store_name, key, context)
        if isinstance(value, dict):  # metadata of an object already in the store (staged insert)
            metadata = dict(value)
            metadata["path"] = clean_path(metadata["path"])
            # Only an object of this row's own section (where staged_insert1 writes) may be adopted: deleting
            # the row removes it, so metadata naming any other file (a <filepath@> target, raw data, another
            # table's object) would turn a delete into the removal of that file.
            if metadata.get("store") not in (None, "", store.name) or \
                    not _in_table_section(store, metadata["path"], schema, table):
                raise DataJointError(f"<object@{store.name}> metadata may only name an object in the section of "
                                     f"{schema}.{table} in store {store.name!r}; got {metadata['path']!r}.",
                                     hint="Use staged_insert1 to write objects in place, or insert the file or "
                                          "bytes (they are copied into the store).")
            metadata["store"] = store.name
            return metadata
        ext = None
        is_dir = False
        item_count = None
        layout: dict = {}
        if isinstance(value, (bytes, bytearray, memoryview)):
            payload = value
        elif isinstance(value, tuple):
            ext, payload = value
            if hasattr(payload, "read"):
                payload = payload.read()
            if not isinstance(payload, (bytes, bytearray, memoryview)):
                raise DataJointError("<object> (extension, data) takes bytes or a binary file as data.")
        else:
            source = Path(value)
            if not source.exists():
                raise DataJointError(f"<object> source not found: {source}")
            is_dir = source.is_dir()
            ext = source.suffix or None
            payload = source
            if is_dir:
                layout = zarr_layout(_local_json(source))
        path, _token = self._path_in(store, schema, table, field, primary_key, ext)
        if is_dir:
            self._record(context, store, path)  # registered first: a half-written folder is removed too
            manifest = store.write_folder(path, payload)
            size, item_count = manifest["total_size"], manifest["item_count"]
        elif isinstance(payload, Path):
            self._record(context, store, path)
            size = store.write_file(path, payload)
        else:
            size = self._write(context, store, path, payload)
        metadata = {"path": path, "store": store.name, "size": size, "ext": ext, "is_dir": is_dir,
                    "item_count": item_count, "timestamp": now_iso()}
        metadata.update(layout)
        return metadata
