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

import collections.abc as _abc
import datetime as _datetime
import struct as _struct
import uuid as _uuid
import zlib
from decimal import Decimal

import numpy as np

from dj_jupyter.errors import DataJointError

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

PROTOCOL_MYM = b"mYm\0"
PROTOCOL_DJ0 = b"dj0\0"
COMPRESSION_PREFIX = b"ZL123\0"

#: Read dimensions and lengths as uint32 (blobs from 32-bit MATLAB mYm).
use_32bit_dims = False

# --- compression policy ---------------------------------------------------
_COMPRESS_ABOVE = 1000  # DataJoint never compresses blobs of <= 1000 bytes
_EXACT_UP_TO = 16 * 1024  # up to here: DataJoint's exact zlib call
_FAST_LEVEL = 1  # zlib level for larger blobs
_SLICE = 32 * 1024  # sample slice (>= zlib's 32 KiB window)
_SLICES = 8  # at most this many slices are test-compressed
_WORTHWHILE = 0.9  # compress only if the sample shrinks below this ratio
_MAX_DEFLATE_RATIO = 1100  # deflate cannot expand data more than ~1032x

# --- type tables ----------------------------------------------------------
_LOGICAL, _CHAR, _VOID = 3, 4, 5
_NUMERIC_IDS = {
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
_DATETIME_UNITS = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as")
_ID_TO_DTYPE = {k: np.dtype(v) for k, v in _NUMERIC_IDS.items()}
_ID_TO_DTYPE[_LOGICAL] = np.dtype(bool)
_ID_TO_DTYPE.update({0x10000 + i: np.dtype(f"<M8[{u}]") for i, u in enumerate(_DATETIME_UNITS)})
_DTYPE_TO_ID = {dt: k for k, dt in _ID_TO_DTYPE.items()}
_CHAR_DTYPE = np.dtype("S1")

_U16 = _struct.Struct("<H").pack
_U32 = _struct.Struct("<I").pack
_U64 = _struct.Struct("<Q").pack
_I32_I64 = _struct.Struct("<iq")
_F64 = _struct.Struct("<d")
_C128 = _struct.Struct("<dd")
_STRUCT_U16 = _struct.Struct("<H")
_STRUCT_U32 = _struct.Struct("<I")
_STRUCT_2U32 = _struct.Struct("<II")


class MatCell(np.ndarray):
    """A MATLAB cell array: an object ndarray packed in the mYm ``C`` layout."""


class MatStruct(np.recarray):
    """A MATLAB struct array: a record array packed in the mYm ``S`` layout."""


def _is_named(obj, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(obj).__mro__)


# ==========================================================================
# packing
# ==========================================================================


class _Packer:
    """Collects the serialized pieces in ``parts``; every writer returns its size.

    Large array payloads go into ``parts`` as buffers and are copied exactly
    once, by the final ``b"".join``.
    """

    __slots__ = ("parts", "dj0")

    def __init__(self) -> None:
        self.parts: list = []
        self.dj0 = False

    # ---- dispatch (same precedence as DataJoint) --------------------------
    def put(self, obj) -> int:
        if isinstance(obj, np.ndarray):
            if type(obj) is not np.ndarray:
                if _is_named(obj, "MatCell"):
                    return self.put_cell(obj)
                if _is_named(obj, "MatStruct"):
                    return self.put_struct(obj)
            if obj.dtype.fields is None:
                return self.put_array(obj)
        self.dj0 = True
        append = self.parts.append
        if not isinstance(obj, (np.ndarray, np.number)):
            if isinstance(obj, bool):
                append(b"\x0b\x01" if obj else b"\x0b\x00")
                return 2
            if isinstance(obj, int):
                n = obj.bit_length() // 8 + 1
                if n > 0xFFFF:
                    raise DataJointError("Integers are limited to 65535 bytes")
                append(b"\x0a" + _U16(n) + obj.to_bytes(n, "little", signed=True))
                return 3 + n
            if isinstance(obj, complex):
                append(b"\x0c" + _C128.pack(obj.real, obj.imag))
                return 17
            if isinstance(obj, float):
                append(b"\x0d" + _F64.pack(obj))
                return 9
        if isinstance(obj, np.ndarray) and obj.dtype.fields:
            return self.put_records(np.array(obj))
        if isinstance(obj, (np.number, np.datetime64, np.bool_)):
            return self.put_array(np.array(obj))
        if isinstance(obj, (_datetime.datetime, _datetime.date, _datetime.time)):
            append(b"t" + _datetime_code(obj))
            return 13
        if isinstance(obj, Decimal):
            text = str(obj).encode()
            append(b"d" + _U64(len(text)) + text)
            return 9 + len(text)
        if isinstance(obj, _uuid.UUID):
            append(b"u" + obj.bytes)
            return 17
        if isinstance(obj, _abc.Mapping):
            return self.put_dict(obj)
        if isinstance(obj, str):
            try:
                data = obj.encode()
            except UnicodeEncodeError as e:
                raise DataJointError(f"Cannot pack a string that is not valid Unicode: {e}") from None
            append(b"\x05" + _U64(len(data)))
            append(data)
            return 9 + len(data)
        if isinstance(obj, (bytes, bytearray)):
            append(b"\x06" + _U64(len(obj)))
            append(bytes(obj))
            return 9 + len(obj)
        if isinstance(obj, _abc.MutableSequence):
            return self.put_items(b"\x02", obj)
        if isinstance(obj, _abc.Sequence):
            return self.put_items(b"\x01", obj)
        if isinstance(obj, _abc.Set):
            return self.put_items(b"\x03", obj)
        if obj is None:
            append(b"\xff")
            return 1
        raise DataJointError(f"Packing object of type {type(obj)} currently not supported!")

    # ---- containers --------------------------------------------------------
    def put_items(self, code: bytes, items) -> int:
        parts = self.parts
        parts.append(code + _U64(len(items)))
        total = 9
        for item in items:  # each item: uint64 size, then the item
            slot = len(parts)
            parts.append(None)
            size = self.put(item)
            parts[slot] = _U64(size)
            total += 8 + size
        return total

    def put_dict(self, mapping) -> int:
        parts = self.parts
        parts.append(b"\x04" + _U64(len(mapping)))
        total = 9
        for pair in mapping.items():
            for item in pair:
                slot = len(parts)
                parts.append(None)
                size = self.put(item)
                parts[slot] = _U64(size)
                total += 8 + size
        return total

    # ---- arrays --------------------------------------------------------
    def put_array(self, array: np.ndarray) -> int:
        if isinstance(array, np.ma.MaskedArray):
            array = array.filled()  # what MaskedArray.tobytes() would write
        array = np.asarray(array)
        dtype = array.dtype
        parts = self.parts
        header = b"A" + _U64(array.ndim) + np.asarray(array.shape, dtype="<u8").tobytes()

        if dtype.kind in "UO":
            parts.append(header + _U32(_VOID) + _U32(0))
            total = len(header) + 8
            for item in array.ravel(order="F"):
                slot = len(parts)
                parts.append(None)
                size = self.put(item)
                parts[slot] = _U64(size)
                total += 8 + size
            self.dj0 = True
            return total

        if dtype == _CHAR_DTYPE:
            # one uint16 per character; DataJoint writes these in C order
            data = array.view(np.uint8).astype("<u2").tobytes()
            parts.append(header + _U32(_CHAR) + _U32(0))
            parts.append(data)
            return len(header) + 8 + len(data)

        is_complex = dtype.kind == "c"
        planes = (array.real, array.imag) if is_complex else (array,)
        base = planes[0].dtype
        little = base.newbyteorder("<")
        type_id = _DTYPE_TO_ID.get(little)
        if type_id is None:
            raise DataJointError(f"Type {dtype} is ambiguous or unknown")
        if dtype.kind == "M" or array.ndim == 0:
            self.dj0 = True
        parts.append(header + _U32(type_id) + _U32(int(is_complex)))
        total = len(header) + 8
        for plane in planes:
            if plane.dtype != little:
                plane = plane.astype(little)
            flat = plane.reshape(-1, order="F")  # a view when already F-contiguous
            if not flat.flags.c_contiguous:
                flat = np.ascontiguousarray(flat)
            parts.append(flat.view(np.uint8))
            total += flat.nbytes
        return total

    def put_records(self, array: np.ndarray) -> int:
        names = array.dtype.names
        head = b"F" + _U32(len(names)) + "\0".join(names).encode() + b"\0"
        self.parts.append(head)
        total = len(head)
        for name in names:
            field = array[name]
            total += self.put_records(field) if field.dtype.fields else self.put_array(field)
        return total

    def put_struct(self, array: np.ndarray) -> int:
        names = array.dtype.names
        if not names:
            raise DataJointError("Cannot pack a MatStruct without fields")
        parts = self.parts
        head = (
            b"S"
            + np.asarray((array.ndim,) + array.shape, dtype="<u8").tobytes()
            + _U32(len(names))
            + "\0".join(names).encode()
            + b"\0"
        )
        parts.append(head)
        total = len(head)
        n_fields = len(names)
        for record in array.ravel(order="F"):
            for i in range(n_fields):
                slot = len(parts)
                parts.append(None)
                size = self.put(record[i])
                parts[slot] = _U64(size)
                total += 8 + size
        return total

    def put_cell(self, array: np.ndarray) -> int:
        parts = self.parts
        head = b"C" + np.asarray((array.ndim,) + array.shape, dtype="<u8").tobytes()
        parts.append(head)
        total = len(head)
        for item in np.asarray(array).ravel(order="F"):
            slot = len(parts)
            parts.append(None)
            size = self.put(item)
            parts[slot] = _U64(size)
            total += 8 + size
        return total


def _datetime_code(value) -> bytes:
    if isinstance(value, _datetime.datetime):
        date, time = value.date(), value.time()
    elif isinstance(value, _datetime.date):
        date, time = value, None
    else:
        date, time = None, value
    day = -1 if date is None else (date.year * 100 + date.month) * 100 + date.day
    clock = (
        -1
        if time is None
        else ((time.hour * 100 + time.minute) * 100 + time.second) * 1_000_000 + time.microsecond
    )
    return _I32_I64.pack(day, clock)


def _sample_ratio(blob: bytes) -> float:
    """Compressed/raw size ratio of a few evenly spaced slices of ``blob``."""
    view = memoryview(blob)
    step = (len(blob) - _SLICE) // (_SLICES - 1)
    raw = packed = 0
    for i in range(_SLICES):
        piece = view[i * step : i * step + _SLICE]
        raw += len(piece)
        packed += len(zlib.compress(piece, _FAST_LEVEL))
    return packed / raw


def _compress(blob: bytes) -> bytes:
    size = len(blob)
    if size <= _EXACT_UP_TO:
        packed = zlib.compress(blob)  # the same call DataJoint makes
    elif size <= _SLICE * _SLICES:
        packed = zlib.compress(blob, _FAST_LEVEL)
    elif _sample_ratio(blob) > _WORTHWHILE:
        return blob  # incompressible (e.g. noise or already-compressed data)
    else:
        packed = zlib.compress(blob, _FAST_LEVEL)
    if len(packed) + 14 >= size:
        return blob
    return b"".join((COMPRESSION_PREFIX, _U64(size), packed))


def pack(obj, compress: bool = True) -> bytes:
    """Serialize ``obj`` into a DataJoint blob.

    Compression (zlib behind a ``ZL123`` header) is tried for blobs over 1000
    bytes when ``compress`` is true and kept only when it makes them smaller;
    see the module docstring for the policy on large blobs.
    """
    packer = _Packer()
    try:
        packer.put(obj)
    except RecursionError:
        raise DataJointError("Cannot pack: the value is nested too deeply (or contains itself)") from None
    parts = packer.parts
    parts.insert(0, PROTOCOL_DJ0 if packer.dj0 else PROTOCOL_MYM)
    blob = b"".join(parts)
    if compress and len(blob) > _COMPRESS_ABOVE:
        blob = _compress(blob)
    return blob


# ==========================================================================
# unpacking
# ==========================================================================


class _Reader:
    """Cursor over a blob. ``end`` is the limit of the item being read."""

    __slots__ = ("buf", "pos", "end", "squeeze", "len_fmt", "len_size", "handlers")

    def __init__(self, buf: bytes, pos: int, squeeze: bool, dims32: bool) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf)
        self.squeeze = squeeze
        self.len_fmt = _struct.Struct("<I" if dims32 else "<Q")
        self.len_size = self.len_fmt.size
        self.handlers = {
            ord("A"): self.read_array,
            ord("S"): self.read_struct,
            ord("C"): self.read_cell,
            ord("F"): self.read_records,
            ord("P"): self.read_sparse,
            0xFF: self.read_none,
            0x01: self.read_tuple,
            0x02: self.read_list,
            0x03: self.read_set,
            0x04: self.read_dict,
            0x05: self.read_str,
            0x06: self.read_bytes,
            0x0A: self.read_int,
            0x0B: self.read_bool,
            0x0C: self.read_complex,
            0x0D: self.read_float,
            ord("d"): self.read_decimal,
            ord("t"): self.read_datetime,
            ord("u"): self.read_uuid,
        }

    # ---- primitives ---------------------------------------------------------
    def need(self, n: int) -> None:
        if n > self.end - self.pos:
            raise DataJointError(
                f"Invalid blob: {n} bytes needed at offset {self.pos} but only "
                f"{self.end - self.pos} remain (the blob is truncated or corrupt)"
            )

    def take(self, n: int) -> bytes:
        self.need(n)
        start = self.pos
        self.pos = start + n
        return self.buf[start : self.pos]

    def unpack_from(self, fmt: _struct.Struct):
        self.need(fmt.size)
        values = fmt.unpack_from(self.buf, self.pos)
        self.pos += fmt.size
        return values

    def length(self) -> int:
        self.need(self.len_size)
        (value,) = self.len_fmt.unpack_from(self.buf, self.pos)
        self.pos += self.len_size
        return value

    def u32(self) -> int:
        return self.unpack_from(_STRUCT_U32)[0]

    def count(self, n: int, min_bytes_each: int, what: str) -> int:
        """Check that ``n`` items of at least ``min_bytes_each`` bytes can fit."""
        if n * min_bytes_each > self.end - self.pos:
            raise DataJointError(
                f"Invalid blob: {what} claims {n} elements but only {self.end - self.pos} bytes remain"
            )
        return n

    def shape(self) -> tuple:
        ndim = self.length()
        self.need(ndim * self.len_size)
        shape = _struct.unpack_from(f"<{ndim}{self.len_fmt.format[-1]}", self.buf, self.pos)
        self.pos += ndim * self.len_size
        return shape

    def cstring(self) -> str:
        stop = self.buf.find(b"\0", self.pos, self.end)
        if stop < 0:
            raise DataJointError("Invalid blob: unterminated field name")
        name = self.buf[self.pos : stop]
        self.pos = stop + 1
        return name.decode()

    def squeezed(self, array: np.ndarray, to_scalar: bool = True):
        if not self.squeeze:
            return array
        array = array.squeeze()
        return array.item() if to_scalar and array.ndim == 0 else array

    # ---- items -------------------------------------------------------------
    def read(self):
        """Read one (unsized) item."""
        self.need(1)
        code = self.buf[self.pos]
        self.pos += 1
        handler = self.handlers.get(code)
        if handler is None:
            raise DataJointError(f'Unknown data structure code "{chr(code)}" ({code:#04x}) in blob')
        return handler()

    def read_sized(self):
        """Read one item preceded by its byte length and check that length."""
        size = self.length()
        self.need(size)
        outer = self.end
        self.end = stop = self.pos + size
        self.need(1)
        code = self.buf[self.pos]
        self.pos += 1
        handler = self.handlers.get(code)
        if handler is None:
            raise DataJointError(f'Unknown data structure code "{chr(code)}" ({code:#04x}) in blob')
        value = handler()
        if self.pos != stop:
            raise DataJointError("Blob length check failed! Invalid blob")
        self.end = outer
        return value

    def read_items(self, what: str) -> list:
        n = self.count(self.length(), self.len_size + 1, what)
        items = []
        for _ in range(n):
            items.append(self.read_sized())
        return items

    def read_none(self):
        return None

    def read_tuple(self):
        return tuple(self.read_items("tuple"))

    def read_list(self):
        return self.read_items("list")

    def read_set(self):
        return set(self.read_items("set"))

    def read_dict(self):
        n = self.count(self.length(), 2 * (self.len_size + 1), "dict")
        result = {}
        for _ in range(n):
            key = self.read_sized()
            result[key] = self.read_sized()
        return result

    def read_str(self):
        return self.take(self.length()).decode()

    def read_bytes(self):
        return self.take(self.length())

    def read_int(self):
        (n,) = self.unpack_from(_STRUCT_U16)
        return int.from_bytes(self.take(n), "little", signed=True)

    def read_bool(self):
        return self.take(1) != b"\x00"

    def read_complex(self):
        return complex(*self.unpack_from(_C128))

    def read_float(self):
        return self.unpack_from(_F64)[0]

    def read_decimal(self):
        text = self.read_str()
        try:
            return Decimal(text)
        except Exception:
            raise DataJointError(f"Invalid blob: {text[:40]!r} is not a decimal number") from None

    def read_datetime(self):
        day, clock = self.unpack_from(_I32_I64)
        date = (
            _datetime.date(year=day // 10000, month=day // 100 % 100, day=day % 100) if day >= 0 else None
        )
        time = (
            _datetime.time(
                hour=clock // 10_000_000_000 % 100,
                minute=clock // 100_000_000 % 100,
                second=clock // 1_000_000 % 100,
                microsecond=clock % 1_000_000,
            )
            if clock >= 0
            else None
        )
        if date is not None and time is not None:
            return _datetime.datetime.combine(date, time)
        return time if time is not None else date

    def read_uuid(self):
        return _uuid.UUID(bytes=self.take(16))

    def read_sparse(self):
        raise DataJointError("datajoint-python does not yet support sparse arrays. Issue (#590)")

    # ---- arrays ----------------------------------------------------------
    def read_array(self):
        shape = self.shape()
        n = _product(shape)
        type_id, is_complex = self.unpack_from(_STRUCT_2U32)
        if type_id == _VOID:
            self.count(n, self.len_size + 1, "object array")
            data = np.empty(n, dtype=object)
            for i in range(n):
                data[i] = self.read_sized()
            return self.squeezed(data.reshape(shape, order="F"))
        if type_id == _CHAR:
            return self.squeezed(self.read_chars(shape, n))
        dtype = _ID_TO_DTYPE.get(type_id)
        if dtype is None:
            raise DataJointError(f"Invalid blob: unsupported array class id {type_id}")
        data = self.read_plane(dtype, n)
        if is_complex:
            if dtype.kind not in "biuf":
                raise DataJointError(f"Invalid blob: complex flag set on a {dtype} array")
            imag = self.read_plane(dtype, n)
            combined = np.empty(n, dtype=np.result_type(dtype, np.complex64) if dtype.kind == "f" else np.complex128)
            combined.real = data
            combined.imag = imag
            data = combined
        elif dtype.kind == "b" and n and data.view(np.uint8).max() > 1:
            data = data.view(np.uint8) != 0
        if not shape:  # 0-d: a numpy scalar, as DataJoint returns it
            return data[0].item() if self.squeeze else data[0]
        return self.squeezed(data.reshape(shape, order="F"))

    def read_plane(self, dtype: np.dtype, n: int) -> np.ndarray:
        nbytes = n * dtype.itemsize
        self.need(nbytes)
        if n == 0:
            data = np.empty(0, dtype=dtype)
        else:
            data = np.frombuffer(self.buf, dtype=dtype, count=n, offset=self.pos)
        self.pos += nbytes
        return data

    def read_chars(self, shape: tuple, n: int) -> np.ndarray:
        raw = self.take(2 * n)
        if len(shape) == 1 or (len(shape) == 2 and shape[0] == 1):
            # a row of characters is a string, as DataJoint returns it
            return np.array([raw.decode("utf-16-le", errors="surrogatepass")])
        codes = np.frombuffer(raw, dtype="<u2").astype("<u4") if n else np.empty(0, "<u4")
        return codes.view("<U1").reshape(shape, order="F")

    def read_records(self):
        n_fields = self.count(self.u32(), 2, "structured array")
        if not n_fields:
            return np.array(None)
        names = [self.cstring() for _ in range(n_fields)]
        arrays = []
        for _ in range(n_fields):
            value = self.read()
            if not isinstance(value, np.ndarray):
                if not (isinstance(value, np.generic) or self.squeeze):
                    raise DataJointError("Invalid blob: a structured-array field is not an array")
                value = np.asarray(value)  # 0-d field read as a (numpy or squeezed) scalar
            arrays.append(value)
        dtype = np.dtype([(name, a.dtype) for name, a in zip(names, arrays)])
        shape = arrays[0].shape
        if _product(shape) * dtype.itemsize > 8 * len(self.buf) + (1 << 20):
            raise DataJointError("Invalid blob: structured array fields do not match its size")
        records = np.empty(shape, dtype=dtype)
        for name, a in zip(names, arrays):
            records[name] = a
        return records.view(np.recarray)

    def read_struct(self):
        shape = self.shape()
        n = _product(shape)
        n_fields = self.count(self.u32(), 1, "struct array")
        if not n_fields:
            return np.array(None)
        names = [self.cstring() for _ in range(n_fields)]
        self.count(n * n_fields, self.len_size + 1, "struct array")
        data = np.empty(n, dtype=[(name, object) for name in names])
        columns = [data[name] for name in data.dtype.names]
        for i in range(n):
            for column in columns:
                column[i] = self.read_sized()
        data = self.squeezed(data.reshape(shape, order="F"), to_scalar=False)
        return data.view(MatStruct)

    def read_cell(self):
        shape = self.shape()
        n = self.count(_product(shape), self.len_size + 1, "cell array")
        data = np.empty(n, dtype=object)
        for i in range(n):
            data[i] = self.read_sized()
        if n == 0:
            return data.view(MatCell)
        data = self.squeezed(data.reshape(shape, order="F"), to_scalar=False)
        return data.view(MatCell)


def _product(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _as_bytes(blob) -> bytes:
    if isinstance(blob, bytes):
        return blob
    try:
        return memoryview(blob).tobytes()
    except TypeError:
        raise DataJointError(f"Cannot unpack a {type(blob).__name__}: a blob must be bytes") from None


def _decompress(buf: bytes, dims32: bool) -> bytes:
    start = len(COMPRESSION_PREFIX)
    width = 4 if dims32 else 8
    if len(buf) < start + width:
        raise DataJointError("Invalid blob: truncated compression header")
    size = int.from_bytes(buf[start : start + width], "little")
    body = memoryview(buf)[start + width :]
    if size > _MAX_DEFLATE_RATIO * len(body) + 1024:
        raise DataJointError(
            f"Invalid blob: header claims {size} uncompressed bytes from only {len(body)} compressed bytes"
        )
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(body, size + 1)
    except zlib.error as e:
        raise DataJointError(f"Invalid blob: corrupt compressed data ({e})") from None
    if len(data) != size or not inflater.eof:
        if len(data) <= size and not inflater.eof:
            raise DataJointError("Invalid blob: compressed data is truncated")
        raise DataJointError(f"Blob size mismatch: expected {size}, got {len(data)}")
    return data


def unpack(blob, squeeze: bool = False):
    """Deserialize a DataJoint blob (bytes, bytearray or memoryview).

    With ``squeeze=True`` singleton dimensions are removed from arrays and
    0-d numeric arrays become Python scalars, as in DataJoint.
    Returns ``None`` for ``None``; raises :class:`DataJointError` for
    anything that is not a valid blob.
    """
    if blob is None:
        return None
    buf = _as_bytes(blob)
    dims32 = bool(use_32bit_dims)
    try:
        if buf.startswith(COMPRESSION_PREFIX):
            buf = _decompress(buf, dims32)
        header = buf[:4]
        if header not in (PROTOCOL_MYM, PROTOCOL_DJ0):
            raise DataJointError(
                f"Not a DataJoint blob: unknown header {header[:8]!r} (expected mYm or dj0)"
            )
        reader = _Reader(buf, 4, squeeze, dims32)
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
