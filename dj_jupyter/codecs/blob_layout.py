"""The constants of DataJoint's blob format that writing and reading share: protocol headers, MATLAB
class ids and their numpy dtypes, fixed-width integer layouts, and the MATLAB cell and struct classes.
The format itself is described in :mod:`dj_jupyter.codecs.blob_format`."""

from __future__ import annotations

import struct as _struct

import numpy as np

PROTOCOL_MYM = b"mYm\0"
PROTOCOL_DJ0 = b"dj0\0"
COMPRESSION_PREFIX = b"ZL123\0"

# --- type tables ----------------------------------------------------------
LOGICAL, CHAR, VOID = 3, 4, 5
NUMERIC_IDS = {
    6: "<f8",
    7: "<f4",
    8: "i1",
    9: "u1",
    10: "<i2",
    11: "<u2",
    12: "<i4",
    13: "<u4",
    14: "<i8",
    15: "<u8",
}
DATETIME_UNITS = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as")
ID_TO_DTYPE = {k: np.dtype(v) for k, v in NUMERIC_IDS.items()}
ID_TO_DTYPE[LOGICAL] = np.dtype(bool)
ID_TO_DTYPE.update({0x10000 + i: np.dtype(f"<M8[{u}]") for i, u in enumerate(DATETIME_UNITS)})
DTYPE_TO_ID = {dt: k for k, dt in ID_TO_DTYPE.items()}
CHAR_DTYPE = np.dtype("S1")

U16 = _struct.Struct("<H").pack
U32 = _struct.Struct("<I").pack
U64 = _struct.Struct("<Q").pack
I32_I64 = _struct.Struct("<iq")
F64 = _struct.Struct("<d")
C128 = _struct.Struct("<dd")
STRUCT_U16 = _struct.Struct("<H")
STRUCT_U32 = _struct.Struct("<I")
STRUCT_2U32 = _struct.Struct("<II")


class MatCell(np.ndarray):
    """A MATLAB cell array: an object ndarray packed in the mYm ``C`` layout."""


class MatStruct(np.recarray):
    """A MATLAB struct array: a record array packed in the mYm ``S`` layout."""
