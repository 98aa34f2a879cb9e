"""Blobs that are not well formed, values the format cannot hold, and property tests: every failure is a
DataJointError, never a crash."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dj_jupyter.codecs import blob_format as ours
from dj_jupyter.errors import DataJointError

import datajoint.blob as dj_blob
from tests.unit.blob_cases import (CASES, COMPLEX_DTYPES, FLOAT_DTYPES, INT_DTYPES, MATLAB_BLOBS, assert_same,
                                   numeric_array)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        object(),
        np.float16(1.0),
        np.zeros(3, dtype=np.float16),
        np.zeros(3, dtype="m8[s]"),
        np.zeros(3, dtype="S3"),
        np.zeros(2, dtype=np.longdouble) if np.dtype(np.longdouble).itemsize > 8 else object(),
        2 ** (8 * 70000),
        lambda: None,
    ],
    ids=lambda v: type(v).__name__,
)
def test_unsupported_values_raise(value):
    with pytest.raises(DataJointError):
        ours.pack(value)
    with pytest.raises(Exception):
        dj_blob.pack(value)


def test_self_containing_value_raises():
    x = []
    x.append(x)
    with pytest.raises(DataJointError):
        ours.pack(x)


def _u64(n):
    return struct.pack("<Q", n)


HOSTILE = {
    "empty": b"",
    "unknown_header": b"abc\0\xff",
    "no_terminator": b"mYmX",
    "header_only": b"dj0\0",
    "unknown_code": b"dj0\0Z",
    "sparse": b"mYm\0P",
    "trailing": b"dj0\0\xff\xff",
    "list_forged_count": b"dj0\0\x02" + _u64(2**62),
    "list_forged_item_len": b"dj0\0\x02" + _u64(1) + _u64(2**63),
    "item_len_mismatch": b"dj0\0\x02" + _u64(1) + _u64(5) + b"\xff" + b"\0" * 4,
    "str_forged_len": b"dj0\0\x05" + _u64(2**64 - 1) + b"abc",
    "bad_utf8": b"dj0\0\x05" + _u64(2) + b"\xff\xfe",
    "array_huge_ndim": b"mYm\0A" + _u64(2**61),
    "array_huge_shape": b"mYm\0A" + _u64(2) + _u64(2**40) + _u64(2**40) + struct.pack("<II", 6, 0),
    "array_overflow_shape": b"mYm\0A" + _u64(2) + _u64(2**63) + _u64(2**63) + struct.pack("<II", 6, 0),
    "array_zero_size_huge_dims": b"mYm\0A" + _u64(2) + _u64(0) + _u64(2**63) + struct.pack("<II", 6, 0),
    "array_too_many_dims": b"mYm\0A" + _u64(100) + _u64(1) * 100 + struct.pack("<II", 6, 0) + b"\0" * 8,
    "array_unknown_class": b"mYm\0A" + _u64(1) + _u64(1) + struct.pack("<II", 99, 0) + b"\0" * 8,
    "array_cell_class": b"mYm\0A" + _u64(1) + _u64(1) + struct.pack("<II", 1, 0) + b"\0" * 8,
    "array_complex_datetime": b"mYm\0A" + _u64(1) + _u64(1) + struct.pack("<II", 65539, 1) + b"\0" * 16,
    "array_truncated_data": b"mYm\0A" + _u64(1) + _u64(10) + struct.pack("<II", 6, 0) + b"\0" * 79,
    "object_array_forged": b"dj0\0A" + _u64(1) + _u64(2**50) + struct.pack("<II", 5, 0),
    "cell_forged": b"mYm\0C" + _u64(2) + _u64(2**32) + _u64(2**32),
    "struct_forged": b"mYm\0S" + _u64(1) + _u64(2**40) + struct.pack("<I", 2) + b"a\0b\0",
    "struct_forged_fields": b"mYm\0S" + _u64(1) + _u64(1) + struct.pack("<I", 2**31),
    "struct_unterminated_name": b"mYm\0S" + _u64(1) + _u64(1) + struct.pack("<I", 1) + b"abc",
    "struct_duplicate_names": b"mYm\0S" + _u64(1) + _u64(1) + struct.pack("<I", 2) + b"a\0a\0"
    + _u64(1) + b"\xff" + _u64(1) + b"\xff",
    "records_forged": b"dj0\0F" + struct.pack("<I", 2**31),
    "records_not_array": b"dj0\0F" + struct.pack("<I", 1) + b"a\0" + b"\xff",
    "records_blowup": b"dj0\0F" + struct.pack("<I", 2) + b"a\0b\0"
    + b"A" + _u64(1) + _u64(100_000) + struct.pack("<II", 8, 0) + bytes(100_000)
    + b"A" + _u64(1) + _u64(500_000) + struct.pack("<II", 4, 0) + "x".encode("utf-16-le") * 500_000,
    "int_truncated": b"dj0\0\x0a" + struct.pack("<H", 100) + b"\0",
    "decimal_bad": b"dj0\0d" + _u64(3) + b"abc",
    "datetime_bad": b"dj0\0t" + struct.pack("<iq", 20201399, -1),
    "datetime_bad_time": b"dj0\0t" + struct.pack("<iq", -1, 990000000000),
    "uuid_short": b"dj0\0u" + b"\0" * 15,
    "set_unhashable": b"dj0\0\x03" + _u64(1) + _u64(9) + b"\x02" + _u64(0),
    "dict_unhashable": b"dj0\0\x04" + _u64(1) + _u64(9) + b"\x02" + _u64(0) + _u64(1) + b"\xff",
    "zl_short": b"ZL123\0\x01",
    "zl_forged_size": b"ZL123\0" + _u64(2**60) + zlib.compress(b"dj0\0\xff"),
    "zl_size_too_small": b"ZL123\0" + _u64(3) + zlib.compress(b"dj0\0\xff"),
    "zl_size_too_big": b"ZL123\0" + _u64(6) + zlib.compress(b"dj0\0\xff"),
    "zl_truncated": b"ZL123\0" + _u64(5000) + zlib.compress(b"dj0\0\x06" + _u64(4991) + bytes(4991))[:-10],
    "zl_garbage": b"ZL123\0" + _u64(10) + b"not zlib at all",
    "zl_not_a_blob": b"ZL123\0" + _u64(3) + zlib.compress(b"abc"),
    "deep_nesting": b"dj0\0" + b"".join(b"\x01" + _u64(1) + _u64(10**6) for _ in range(100_000)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_invalid_blobs_raise_datajoint_error(name):
    with pytest.raises(DataJointError):
        ours.unpack(HOSTILE[name])


def test_legitimate_wide_record_array_is_read():
    # 1e6 records of (int8, U1): a legitimate table larger than the blob itself
    blob = (
        b"dj0\0F" + struct.pack("<I", 2) + b"a\0b\0"
        + b"A" + _u64(1) + _u64(1_000_000) + struct.pack("<II", 8, 0) + bytes(1_000_000)
        + b"A" + _u64(1) + _u64(1) + struct.pack("<II", 4, 0) + "x".encode("utf-16-le")
    )
    result = ours.unpack(blob)
    assert result.shape == (1_000_000,)
    assert result.b[5] == "x"
    assert_same(result, dj_blob.unpack(blob))


def test_none_and_non_bytes_input():
    assert ours.unpack(None) is None
    with pytest.raises(DataJointError):
        ours.unpack("a string")
    with pytest.raises(DataJointError):
        ours.unpack(12)


# ---------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------

VALID_BLOBS = [ours.pack(CASES[n]) for n in sorted(CASES)] + [
    b"mYm\0" + b for b in MATLAB_BLOBS.values()
]


def _unpack_or_error(data):
    try:
        ours.unpack(data)
    except DataJointError:
        pass


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data):
    _unpack_or_error(data)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([b"mYm\0", b"dj0\0", b"ZL123\0"]),
    st.sampled_from([b"", b"A", b"S", b"C", b"F", b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"t", b"d"]),
    st.binary(max_size=200),
)
def test_plausible_prefixes_never_crash(header, code, data):
    _unpack_or_error(header + code + data)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID_BLOBS), st.data())
def test_corrupted_valid_blobs_never_crash(blob, data):
    mode = data.draw(st.sampled_from(["truncate", "flip", "overwrite", "splice"]))
    if mode == "truncate":
        corrupted = blob[: data.draw(st.integers(0, max(len(blob) - 1, 0)))]
    elif mode == "flip":
        corrupted = bytearray(blob)
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(blob) - 1))
            corrupted[i] ^= 1 << data.draw(st.integers(0, 7))
        corrupted = bytes(corrupted)
    elif mode == "overwrite":
        i = data.draw(st.integers(0, len(blob) - 1))
        patch = data.draw(st.binary(min_size=1, max_size=8))
        corrupted = blob[:i] + patch + blob[i + len(patch) :]
    else:
        i = data.draw(st.integers(0, len(blob)))
        corrupted = blob[:i] + data.draw(st.binary(max_size=16)) + blob[i:]
    _unpack_or_error(corrupted)


hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
    st.uuids(),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.decimals(allow_nan=False),
)
values = st.recursive(
    st.one_of(hashable_scalars, st.complex_numbers(allow_nan=False)),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.frozensets(hashable_scalars, max_size=5).map(set),
        st.dictionaries(hashable_scalars, children, max_size=5),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_python_values_roundtrip_and_match_datajoint(value):
    blob = ours.pack(value)
    raw = ours.pack(value, compress=False)
    assert raw == dj_blob.pack(value, compress=False)
    if len(raw) <= 16 * 1024:
        assert blob == dj_blob.pack(value)
    assert_same(ours.unpack(blob), value)
    assert_same(dj_blob.unpack(blob), value)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(INT_DTYPES + FLOAT_DTYPES + COMPLEX_DTYPES + ["bool"]),
    st.lists(st.integers(0, 4), max_size=4),
    st.booleans(),
)
def test_random_arrays_match_datajoint(dtype, shape, fortran):
    value = numeric_array(dtype, tuple(shape))
    if fortran:
        value = np.asfortranarray(value)
    blob = ours.pack(value)
    assert blob == dj_blob.pack(value)
    assert_same(ours.unpack(blob), dj_blob.unpack(blob))
    assert np.array_equal(ours.unpack(blob), value, equal_nan=value.dtype.kind in "fc")
