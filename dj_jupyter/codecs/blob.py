"""``<blob>``: any Python or numpy value in DataJoint's blob byte format.

In the table (``bytes``) by default; with ``@store`` the packed bytes go to a
hash-addressed object (``<hash@store>``), so equal values are stored once.

For a store, a large value whose payload does not compress is handed to
``<hash@>`` as a list of buffers (the blob header and the array's own memory):
it is hashed and written without ever being copied into one ``bytes`` object.
"""

from __future__ import annotations

from .base import Codec
from .blob_format import PROTOCOL_DJ0, PROTOCOL_MYM, pack, unpack
from .blob_pack import SLICE, SLICES, WORTHWHILE, Packer, sample_ratio
from .hash import Buffers

_LARGE = 1 << 20  # below this, packing into one bytes object costs nothing worth avoiding


def pack_buffers(value):
    """``pack(value)`` as bytes, or as :class:`Buffers` when it is large and not worth compressing."""
    packer = Packer()
    try:
        packer.put(value)
    except RecursionError:
        return pack(value)  # let pack() raise its own error
    parts = [PROTOCOL_DJ0 if packer.dj0 else PROTOCOL_MYM] + packer.parts
    sizes = [len(memoryview(p).cast("B")) if not isinstance(p, bytes) else len(p) for p in parts]
    total = sum(sizes)
    largest = max(range(len(parts)), key=sizes.__getitem__)
    if total < _LARGE or sizes[largest] < 0.9 * total or sizes[largest] < SLICE * SLICES:
        return pack(value)
    if sample_ratio(memoryview(parts[largest]).cast("B")) <= WORTHWHILE:
        return pack(value)  # compressible: pack() compresses it
    return Buffers(parts)


class BlobCodec(Codec):
    name = "blob"

    def get_dtype(self, is_store: bool) -> str:
        return "<hash>" if is_store else "bytes"

    def encode(self, value, *, key=None, store_name=None, context=None):
        if store_name is not None:
            return pack_buffers(value)
        return pack(value)

    def decode(self, stored, *, key=None, context=None):
        return unpack(stored)
