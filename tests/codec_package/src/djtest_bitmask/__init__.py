"""``<bitmask>`` / ``<bitmask@store>``: boolean arrays stored as packed bits.

Registered through the ``dj_jupyter.codecs`` entry point group, so a table can use
``<bitmask>`` as soon as this package is installed, without importing it.
"""

import struct

import numpy as np

from dj_jupyter import Codec


class BitMaskCodec(Codec, register=False):
    name = "bitmask"

    def get_dtype(self, is_store: bool) -> str:
        return "<hash>" if is_store else "bytes"

    def validate(self, value):
        if not isinstance(value, np.ndarray) or value.dtype != np.bool_:
            raise TypeError("<bitmask> takes a boolean numpy array")

    def encode(self, value, *, key=None, store_name=None, context=None):
        header = struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}Q", *value.shape)
        return header + np.packbits(value, axis=None).tobytes()

    def decode(self, stored, *, key=None, context=None):
        data = bytes(stored)
        ndim = data[0]
        shape = struct.unpack_from(f"<{ndim}Q", data, 1)
        bits = np.frombuffer(data, dtype=np.uint8, offset=1 + 8 * ndim)
        count = int(np.prod(shape)) if shape else 1
        return np.unpackbits(bits, count=count).astype(bool).reshape(shape)
