"""``<blob>``: any Python or numpy value in DataJoint's blob byte format.

In the table (``bytes``) by default; with ``@store`` the packed bytes go to a
hash-addressed object (``<hash@store>``), so equal values are stored once.
"""

from __future__ import annotations

from .base import Codec
from .blob_format import pack, unpack


class BlobCodec(Codec):
    name = "blob"

    def get_dtype(self, is_store: bool) -> str:
        return "<hash>" if is_store else "bytes"

    def encode(self, value, *, key=None, store_name=None, context=None):
        return pack(value)

    def decode(self, stored, *, key=None, context=None):
        return unpack(stored)
