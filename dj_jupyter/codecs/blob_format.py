"""DataJoint's blob byte format: pack and unpack Python and numpy values.

This module writes and reads the binary layout that DataJoint 2.3 stores in
``<blob>`` attributes (and that datajoint-matlab's mYm library writes), so
blobs move freely between ``dj_jupyter``, ``datajoint==2.3.5`` and MATLAB.
It depends only on numpy and the standard library.

Layout
------
A blob is an optional compression envelope around a protocol header and one
serialized value::

    [b"ZL123\\0" <uint64 uncompressed length> <zlib stream>]   (optional)
    b"mYm\\0" | b"dj0\\0"                                       protocol
    <code byte> <payload>                                      the value

``mYm`` is written when everything in the value is something MATLAB's mYm
can read (n-d numeric, logical and char arrays, cell and struct arrays);
anything else (Python scalars, strings, containers, 0-d arrays, datetime64,
object/string arrays, structured arrays, ...) switches the header to ``dj0``.
All integers in headers are little-endian. "Sized" items below are preceded
by their byte length as a uint64.

Code  Payload
----  -------------------------------------------------------------------
A     ndarray: uint64 ndim, uint64[ndim] shape, uint32 class id,
      uint32 is_complex, then the data in Fortran order (real part, then
      imaginary part when complex). Class ids: 3 logical, 4 char (uint16
      code units), 5 "void" (each element is a sized item), 6 float64,
      7 float32, 8..15 int8, uint8, int16, uint16, int32, uint32, int64,
      uint64, 65536 + k datetime64 of unit Y, M, W, D, h, m, s, ms, us, ns,
      ps, fs, as (k = 0..12).
S     MATLAB struct array: uint64 ndim, uint64[ndim] shape, uint32 number of
      fields, NUL-terminated field names, then for every element (Fortran
      order) every field value as a sized item.
C     MATLAB cell array: uint64 ndim, uint64[ndim] shape, sized elements.
F     numpy structured array: uint32 number of fields, NUL-terminated names,
      then each field as an (unsized) ``A`` or nested ``F`` item.
P     sparse array (never supported by DataJoint; rejected).
\\x01  tuple, \\x02 list, \\x03 set: uint64 count, sized elements.
\\x04  dict: uint64 count, then sized key, sized value for each pair.
\\x05  str: uint64 length, UTF-8 bytes.   \\x06 bytes: uint64 length, bytes.
\\x0a  int: uint16 n, n bytes two's complement little-endian.
\\x0b  bool: one byte.   \\x0c complex: 2 x float64.   \\x0d float: float64.
d     Decimal: uint64 length, ASCII text.
t     date/time/datetime: int32 YYYYMMDD (-1: none), int64 HHMMSSffffff
      (-1: none).
u     UUID: 16 bytes.
\\xff  None.

Blobs written by MATLAB's old 32-bit mYm use uint32 instead of uint64 for
dimensions and lengths; set the module attribute ``use_32bit_dims = True``
to read those (same switch as ``datajoint.blob.use_32bit_dims``).

Compatibility notes (differences from ``datajoint.blob``)
--------------------------------------------------------
* ``pack(x, compress=False)`` is byte-identical to DataJoint. With
  compression, blobs up to 16 KiB are also byte-identical (same zlib level,
  same keep-if-smaller rule). Larger blobs are first tested on a few 32 KiB
  samples; if zlib level 1 does not shrink the samples below 90 % they are
  stored uncompressed, otherwise they are compressed at level 1. DataJoint
  reads every variant.
* ``unpack`` returns :class:`MatCell` / :class:`MatStruct` defined here:
  plain ``np.ndarray`` / ``np.recarray`` subclasses with no behaviour of
  their own, mirroring DataJoint's classes of the same names, so that a
  fetched MATLAB cell or struct array is written back in the MATLAB layout.
  ``pack`` also recognises DataJoint's own ``MatCell``/``MatStruct`` (by
  class name).
* Numeric arrays are returned, like DataJoint's, as read-only zero-copy
  views on the blob's bytes (call ``.copy()`` to modify them); 0-d numeric
  arrays come back as numpy scalars (``np.float64`` ...), again like
  DataJoint.
* Elements of object arrays and cell arrays are stored exactly as read.
  (DataJoint builds object arrays with ``np.array(list, dtype=object)``,
  which merges equally shaped element arrays into extra dimensions and
  then fails or flattens them; we keep each element intact.)
* Char arrays are decoded as UTF-16 code units (MATLAB's encoding);
  DataJoint keeps only the low byte and fails on non-ASCII characters.
  Logical arrays are normalised to 0/1 bytes.
* Big-endian arrays are packed after conversion to little-endian (DataJoint
  refuses them). With ``squeeze=True``, structured arrays whose fields
  squeeze to scalars are still read (DataJoint fails on them).
* Anything that is not a well-formed blob -- unknown protocol header,
  truncated data, forged lengths, bad UTF-8, trailing bytes, unknown
  codes, nesting too deep -- raises :class:`DataJointError`; DataJoint
  returns ``None`` for an unknown header and raises assorted exceptions
  for the rest. Blob ``A`` arrays with the MATLAB class ids 0, 1, 2 and 16
  (unknown, cell, struct, function handle) are rejected rather than read as
  raw uint64 data.
"""

from __future__ import annotations

from dj_jupyter.errors import DataJointError

from .blob_layout import COMPRESSION_PREFIX, PROTOCOL_DJ0, PROTOCOL_MYM, MatCell, MatStruct
from .blob_pack import pack
from .blob_unpack import Reader, as_bytes, decompress

__all__ = [
    "pack",
    "unpack",
    "MatCell",
    "MatStruct",
    "PROTOCOL_MYM",
    "PROTOCOL_DJ0",
    "COMPRESSION_PREFIX",
    "use_32bit_dims",
]

#: Read dimensions and lengths as uint32 (blobs from 32-bit MATLAB mYm).
use_32bit_dims = False


def unpack(blob, squeeze: bool = False):
    """Deserialize a DataJoint blob (bytes, bytearray or memoryview).

    With ``squeeze=True`` singleton dimensions are removed from arrays and
    0-d numeric arrays become Python scalars, as in DataJoint.
    Returns ``None`` for ``None``; raises :class:`DataJointError` for
    anything that is not a valid blob.
    """
    if blob is None:
        return None
    buf = as_bytes(blob)
    dims32 = bool(use_32bit_dims)
    try:
        if buf.startswith(COMPRESSION_PREFIX):
            buf = decompress(buf, dims32)
        header = buf[:4]
        if header not in (PROTOCOL_MYM, PROTOCOL_DJ0):
            raise DataJointError(
                f"Not a DataJoint blob: unknown header {header[:8]!r} (expected mYm or dj0)"
            )
        reader = Reader(buf, 4, squeeze, dims32)
        value = reader.read()
        if reader.pos != len(buf):
            raise DataJointError("Blob length check failed! Invalid blob")
        return value
    except DataJointError:
        raise
    except RecursionError:
        raise DataJointError("Invalid blob: values are nested too deeply") from None
    except Exception as e:  # malformed content that numpy/stdlib rejected
        raise DataJointError(f"Invalid blob: {type(e).__name__}: {e}") from None
