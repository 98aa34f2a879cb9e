"""Reading DataJoint blobs: the byte layout of :mod:`dj_jupyter.codecs.blob_format` back to values, with
every length checked against the bytes that are there."""

from __future__ import annotations

import datetime as _datetime
import struct as _struct
import uuid as _uuid
import zlib
from decimal import Decimal

import numpy as np

from dj_jupyter.errors import DataJointError

from .blob_layout import (C128, CHAR, COMPRESSION_PREFIX, F64, I32_I64, ID_TO_DTYPE, STRUCT_2U32, STRUCT_U16,
                          STRUCT_U32, VOID, MatCell, MatStruct)

_MAX_DEFLATE_RATIO = 1100  # deflate cannot expand data more than ~1032x


class Reader:
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
        return self.unpack_from(STRUCT_U32)[0]

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
        value = self.read()
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
        (n,) = self.unpack_from(STRUCT_U16)
        return int.from_bytes(self.take(n), "little", signed=True)

    def read_bool(self):
        return self.take(1) != b"\x00"

    def read_complex(self):
        return complex(*self.unpack_from(C128))

    def read_float(self):
        return self.unpack_from(F64)[0]

    def read_decimal(self):
        text = self.read_str()
        try:
            return Decimal(text)
        except Exception:
            raise DataJointError(f"Invalid blob: {text[:40]!r} is not a decimal number") from None

    def read_datetime(self):
        day, clock = self.unpack_from(I32_I64)
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
        type_id, is_complex = self.unpack_from(STRUCT_2U32)
        if type_id == VOID:
            self.count(n, self.len_size + 1, "object array")
            data = np.empty(n, dtype=object)
            for i in range(n):
                data[i] = self.read_sized()
            return self.squeezed(data.reshape(shape, order="F"))
        if type_id == CHAR:
            return self.squeezed(self.read_chars(shape, n))
        dtype = ID_TO_DTYPE.get(type_id)
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


def as_bytes(blob) -> bytes:
    if isinstance(blob, bytes):
        return blob
    try:
        return memoryview(blob).tobytes()
    except TypeError:
        raise DataJointError(f"Cannot unpack a {type(blob).__name__}: a blob must be bytes") from None


def decompress(buf: bytes, dims32: bool) -> bytes:
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
