"""Writing DataJoint blobs: values to the byte layout of :mod:`dj_jupyter.codecs.blob_format`, and the
compression policy for large blobs."""

from __future__ import annotations

import collections.abc as _abc
import datetime as _datetime
import uuid as _uuid
import zlib
from decimal import Decimal

import numpy as np

from dj_jupyter.errors import DataJointError

from .blob_layout import (C128, CHAR, CHAR_DTYPE, COMPRESSION_PREFIX, DTYPE_TO_ID, F64, I32_I64, PROTOCOL_DJ0,
                          PROTOCOL_MYM, U16, U32, U64, VOID)

# --- compression policy ---------------------------------------------------
COMPRESS_ABOVE = 1000  # DataJoint never compresses blobs of <= 1000 bytes
EXACT_UP_TO = 16 * 1024  # up to here: DataJoint's exact zlib call
FAST_LEVEL = 1  # zlib level for larger blobs
SLICE = 32 * 1024  # sample slice (>= zlib's 32 KiB window)
SLICES = 8  # at most this many slices are test-compressed
WORTHWHILE = 0.9  # compress only if the sample shrinks below this ratio


def _is_named(obj, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(obj).__mro__)


class Packer:
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
                append(b"\x0a" + U16(n) + obj.to_bytes(n, "little", signed=True))
                return 3 + n
            if isinstance(obj, complex):
                append(b"\x0c" + C128.pack(obj.real, obj.imag))
                return 17
            if isinstance(obj, float):
                append(b"\x0d" + F64.pack(obj))
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
            append(b"d" + U64(len(text)) + text)
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
            append(b"\x05" + U64(len(data)))
            append(data)
            return 9 + len(data)
        if isinstance(obj, (bytes, bytearray)):
            append(b"\x06" + U64(len(obj)))
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
        parts.append(code + U64(len(items)))
        total = 9
        for item in items:  # each item: uint64 size, then the item
            slot = len(parts)
            parts.append(None)
            size = self.put(item)
            parts[slot] = U64(size)
            total += 8 + size
        return total

    def put_dict(self, mapping) -> int:
        parts = self.parts
        parts.append(b"\x04" + U64(len(mapping)))
        total = 9
        for pair in mapping.items():
            for item in pair:
                slot = len(parts)
                parts.append(None)
                size = self.put(item)
                parts[slot] = U64(size)
                total += 8 + size
        return total

    # ---- arrays --------------------------------------------------------
    def put_array(self, array: np.ndarray) -> int:
        if isinstance(array, np.ma.MaskedArray):
            array = array.filled()  # what MaskedArray.tobytes() would write
        array = np.asarray(array)
        dtype = array.dtype
        parts = self.parts
        header = b"A" + U64(array.ndim) + np.asarray(array.shape, dtype="<u8").tobytes()

        if dtype.kind in "UO":
            parts.append(header + U32(VOID) + U32(0))
            total = len(header) + 8
            for item in array.ravel(order="F"):
                slot = len(parts)
                parts.append(None)
                size = self.put(item)
                parts[slot] = U64(size)
                total += 8 + size
            self.dj0 = True
            return total

        if dtype == CHAR_DTYPE:
            # one uint16 per character; DataJoint writes these in C order
            data = array.view(np.uint8).astype("<u2").tobytes()
            parts.append(header + U32(CHAR) + U32(0))
            parts.append(data)
            return len(header) + 8 + len(data)

        is_complex = dtype.kind == "c"
        planes = (array.real, array.imag) if is_complex else (array,)
        base = planes[0].dtype
        little = base.newbyteorder("<")
        type_id = DTYPE_TO_ID.get(little)
        if type_id is None:
            raise DataJointError(f"Type {dtype} is ambiguous or unknown")
        if dtype.kind == "M" or array.ndim == 0:
            self.dj0 = True
        parts.append(header + U32(type_id) + U32(int(is_complex)))
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
        head = b"F" + U32(len(names)) + "\0".join(names).encode() + b"\0"
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
            + U32(len(names))
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
                parts[slot] = U64(size)
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
            parts[slot] = U64(size)
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
    return I32_I64.pack(day, clock)


def sample_ratio(blob: bytes) -> float:
    """Compressed/raw size ratio of a few evenly spaced slices of ``blob``."""
    view = memoryview(blob)
    step = (len(blob) - SLICE) // (SLICES - 1)
    raw = packed = 0
    for i in range(SLICES):
        piece = view[i * step : i * step + SLICE]
        raw += len(piece)
        packed += len(zlib.compress(piece, FAST_LEVEL))
    return packed / raw


def compressed(blob: bytes) -> bytes:
    size = len(blob)
    if size <= EXACT_UP_TO:
        packed = zlib.compress(blob)  # the same call DataJoint makes
    elif size <= SLICE * SLICES:
        packed = zlib.compress(blob, FAST_LEVEL)
    elif sample_ratio(blob) > WORTHWHILE:
        return blob  # incompressible (e.g. noise or already-compressed data)
    else:
        packed = zlib.compress(blob, FAST_LEVEL)
    if len(packed) + 14 >= size:
        return blob
    return b"".join((COMPRESSION_PREFIX, U64(size), packed))


def pack(obj, compress: bool = True) -> bytes:
    """Serialize ``obj`` into a DataJoint blob.

    Compression (zlib behind a ``ZL123`` header) is tried for blobs over 1000
    bytes when ``compress`` is true and kept only when it makes them smaller;
    see the module docstring for the policy on large blobs.
    """
    packer = Packer()
    try:
        packer.put(obj)
    except RecursionError:
        raise DataJointError("Cannot pack: the value is nested too deeply (or contains itself)") from None
    parts = packer.parts
    parts.insert(0, PROTOCOL_DJ0 if packer.dj0 else PROTOCOL_MYM)
    blob = b"".join(parts)
    if compress and len(blob) > COMPRESS_ABOVE:
        blob = compressed(blob)
    return blob
