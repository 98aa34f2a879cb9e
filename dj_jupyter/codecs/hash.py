"""``<hash@store>``: bytes in hash-addressed storage, deduplicated per schema.

Path ``{hash_prefix}/{schema}/[folds/]{hash}``; the column holds DataJoint's JSON
metadata ``{hash, path, schema, store, size}``. ``<blob@store>`` and
``<attach@store>`` store their bytes through this codec.
"""

from __future__ import annotations

from typing import Any

from ..errors import DataJointError
from ..storage.paths import content_hash, hash_path
from .base import Codec
from .stored import as_metadata, ledger_of, schema_table_field, store_for_read, store_for_write


class Buffers:
    """Bytes given as a sequence of buffers (written and hashed without joining them)."""

    __slots__ = ("parts", "nbytes")

    def __init__(self, parts):
        self.parts = [p if isinstance(p, bytes) else memoryview(p).cast("B") for p in parts]
        self.nbytes = sum(len(p) for p in self.parts)

    def __len__(self) -> int:
        return self.nbytes

    def tobytes(self) -> bytes:
        return b"".join(self.parts)


def _digest(data) -> str:
    if isinstance(data, Buffers):
        import base64
        import hashlib

        md5 = hashlib.md5()
        for part in data.parts:
            md5.update(part)
        return base64.b32encode(md5.digest()).decode("ascii").rstrip("=").lower()
    return content_hash(data)


class HashCodec(Codec):
    name = "hash"

    def get_dtype(self, is_store: bool) -> str:
        if not is_store:
            raise DataJointError("<hash> is stored in an object store only.", hint="Write <hash@> or <hash@store>.")
        return "json"

    def validate(self, value: Any) -> None:
        if not isinstance(value, (bytes, bytearray, memoryview, Buffers)):
            raise TypeError(f"<hash> stores bytes, got {type(value).__name__}; use <blob@> for Python objects")

    def encode(self, value, *, key=None, store_name=None, context=None) -> dict:
        schema, _table, _field, _pk = schema_table_field(key, context)
        store = store_for_write(store_name, key, context)
        if isinstance(value, bytearray):
            value = bytes(value)
        elif isinstance(value, memoryview):
            value = Buffers([value])
        digest = _digest(value)
        size = len(value)
        path = hash_path(digest, schema, hash_prefix=store.spec.get("hash_prefix"),
                         subfolding=store.spec.get("subfolding"))
        ledger = ledger_of(context)
        data = value.parts if isinstance(value, Buffers) else value
        if ledger is not None and ledger.queues(store, size):
            ledger.write(store, path, data, shared=True)  # rewriting equal content costs no more than a check
        elif store.size(path) != size:  # absent, or a partial leftover of a crashed writer
            if ledger is not None:
                ledger.write(store, path, data, shared=True)
            else:
                store.write_bytes(path, data)
        if ledger is not None:
            ledger.ensure_after_commit(store, path, data)
        return {"hash": digest, "path": path, "schema": schema, "store": store.name, "size": size}

    def decode(self, stored, *, key=None, context=None) -> bytes:
        metadata = as_metadata(stored, "hash")
        store = store_for_read(metadata, key, context)
        data = store.read_bytes(metadata["path"])
        expected = metadata.get("size")
        if expected is not None and len(data) != expected:
            raise DataJointError(f"Object {metadata['path']} in store {store.name!r} has {len(data)} bytes, "
                                 f"but its row recorded {expected}.", hint="The stored object is damaged.")
        if store.verify_hash and metadata.get("hash") and content_hash(data) != metadata["hash"]:
            raise DataJointError(f"Hash mismatch for {metadata['path']} in store {store.name!r}: the stored "
                                 "object does not match its row.", hint="The stored object is damaged.")
        return data
