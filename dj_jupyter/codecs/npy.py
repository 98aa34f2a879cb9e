"""``<npy@store>``: numpy arrays as standard ``.npy`` files, fetched as lazy :class:`NpyRef`.

Path ``{schema_prefix}/{schema}/{table}/{pk}=v/.../{field}_{token}.npy``; the column
holds DataJoint's metadata ``{path, store, dtype, shape}`` plus ``size`` (bytes of the
file) and ``timestamp``. Arrays are written header-then-data straight from the
array's memory and read back with one ``readinto`` into a fresh array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..storage.objectref import NpyRef, npy_buffers
from .object import SchemaCodec, now_iso
from .stored import as_metadata, store_for_read, store_for_write


def dtype_metadata(dtype: np.dtype):
    """``str(dtype)`` as DataJoint writes it, or numpy's descr for structured dtypes."""
    if dtype.fields is not None or dtype.subdtype is not None:
        return np.lib.format.dtype_to_descr(dtype)
    return str(dtype)


class NpyCodec(SchemaCodec):
    name = "npy"

    def validate(self, value: Any) -> None:
        if not isinstance(value, np.ndarray):
            raise TypeError(f"<npy> takes a numpy array, got {type(value).__name__}")
        if value.dtype.hasobject:
            raise TypeError("<npy> cannot store arrays of Python objects; use <blob@> instead")

    def encode(self, value, *, key=None, store_name=None, context=None) -> dict:
        schema, table, field, primary_key = self._extract_context(key, context)
        store = store_for_write(store_name, key, context)
        path, _token = self._path_in(store, schema, table, field, primary_key, ".npy")
        if type(value) is not np.ndarray:
            value = np.asarray(value)
        size = self._write(context, store, path, npy_buffers(value))
        return {"path": path, "store": store.name, "dtype": dtype_metadata(value.dtype), "shape": list(value.shape),
                "size": size, "timestamp": now_iso()}

    def decode(self, stored, *, key=None, context=None) -> NpyRef:
        metadata = as_metadata(stored, "npy")
        return NpyRef(metadata, store_for_read(metadata, key, context))
