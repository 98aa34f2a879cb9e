"""dj_jupyter.codecs.blob_format against datajoint 2.3.5's blob module: round trips, MATLAB's blobs and
the compression policy."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from dj_jupyter.codecs import blob_format as ours

import datajoint.blob as dj_blob
from tests.unit.blob_cases import CASES, MATLAB_BLOBS, RNG, assert_same, m_char, m_double, m_struct, magic3


def _roundtrip_dj(value, squeeze=False):
    return dj_blob.unpack(dj_blob.pack(value), squeeze=squeeze)


@pytest.mark.parametrize("name", sorted(CASES))
def test_roundtrip_matches_datajoint(name):
    value = CASES[name]
    expected = _roundtrip_dj(value)
    dj_bytes = dj_blob.pack(value)
    our_bytes = ours.pack(value)
    # our pack -> our unpack
    assert_same(ours.unpack(our_bytes), expected)
    # datajoint pack -> our unpack
    assert_same(ours.unpack(dj_bytes), expected)
    # our pack -> datajoint unpack
    assert_same(dj_blob.unpack(our_bytes), expected)
    # uncompressed output is byte-identical; small compressed output too
    assert ours.pack(value, compress=False) == dj_blob.pack(value, compress=False)
    if len(dj_blob.pack(value, compress=False)) <= 16 * 1024:
        assert our_bytes == dj_bytes
    # memoryview / bytearray input
    assert_same(ours.unpack(memoryview(dj_bytes)), expected)
    assert_same(ours.unpack(bytearray(dj_bytes)), expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_squeeze_matches_datajoint(name):
    value = CASES[name]
    blob = dj_blob.pack(value)
    try:
        expected = dj_blob.unpack(blob, squeeze=True)
    except AttributeError:  # DataJoint cannot squeeze 1-element structured arrays
        assert CASES[name].dtype.names and CASES[name].size == 1
        assert ours.unpack(blob, squeeze=True) is not None
        return
    assert_same(ours.unpack(blob, squeeze=True), expected)
    assert_same(ours.unpack(ours.pack(value), squeeze=True), expected)


NATURAL = [
    "int_small",
    "int_big",
    "int_huge",
    "float",
    "complex2",
    "bool_true",
    "none",
    "str_unicode",
    "bytes",
    "decimal",
    "datetime",
    "date",
    "time",
    "time_midnight",
    "uuid",
    "list",
    "tuple",
    "set",
    "dict",
    "dict_nested",
    "list_mixed",
    "struct_xy",
    "struct_nested",
    "struct_strings",
]


@pytest.mark.parametrize("name", NATURAL)
def test_roundtrip_gives_the_original(name):
    value = CASES[name]
    result = ours.unpack(ours.pack(value))
    if isinstance(value, np.ndarray):
        assert result.dtype.names == value.dtype.names
        for f in value.dtype.names:
            assert np.array_equal(np.asarray(result[f]).astype(value[f].dtype), value[f])
    else:
        assert type(result) is type(value)
        assert_same(result, value)


@pytest.mark.parametrize(
    "name",
    [n for n in CASES if n.startswith("arr_") or n.startswith("datetime64_") or n.startswith("np_scalar")],
)
def test_numeric_arrays_roundtrip_exactly(name):
    value = np.asarray(CASES[name])
    result = ours.unpack(ours.pack(value))
    assert isinstance(result, np.ndarray if value.ndim else np.generic)
    result = np.asarray(result)
    assert result.dtype == value.dtype
    assert result.shape == value.shape
    if value.dtype.kind == "M":
        result, value = result.view("i8"), value.view("i8")
    assert np.array_equal(result, value, equal_nan=value.dtype.kind in "fc")


def test_protocol_header():
    assert ours.pack(np.arange(3)).startswith(b"mYm\0")
    assert ours.pack(np.zeros((2, 2), dtype="c")).startswith(b"mYm\0")
    assert ours.pack(np.array(3)).startswith(b"dj0\0")  # 0-d arrays are a dj0 feature
    assert ours.pack(np.array(["a"])).startswith(b"dj0\0")
    assert ours.pack(3).startswith(b"dj0\0")
    assert ours.pack(CASES["matcell_strings"]).startswith(b"dj0\0")  # Python str inside
    assert ours.pack(ours.MatCell((1, 1), dtype=object)).startswith(b"dj0\0")  # None inside
    assert ours.pack(np.zeros(3, "M8[D]")).startswith(b"dj0\0")


def test_our_matlab_classes_are_packed_like_datajoints():
    for name in ("matcell_ragged", "matcell_strings", "matcell_empty_elements", "matstruct"):
        dj_value = CASES[name]
        value = np.asarray(dj_value).view(ours.MatStruct if name == "matstruct" else ours.MatCell)
        assert ours.pack(value) == dj_blob.pack(dj_value)
        back = ours.unpack(ours.pack(value))
        assert isinstance(back, ours.MatStruct if name == "matstruct" else ours.MatCell)
        # re-packing what was read gives the same bytes again
        assert ours.pack(back) == ours.pack(value)


def test_numeric_unpack_is_zero_copy():
    value = RNG.standard_normal((300, 200))
    blob = ours.pack(value, compress=False)
    result = ours.unpack(blob)
    assert not result.flags.owndata
    assert not result.flags.writeable  # like DataJoint: a view on the immutable blob
    assert np.array_equal(result, value)


def test_big_endian_arrays_are_stored_little_endian():
    value = np.arange(12, dtype=">i4").reshape(3, 4)
    blob = ours.pack(value)
    assert blob == ours.pack(value.astype("<i4"))
    assert np.array_equal(dj_blob.unpack(blob), value)


def test_masked_array_packs_filled_values_like_datajoint():
    value = np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    assert ours.pack(value) == dj_blob.pack(value)


@pytest.mark.parametrize("name", sorted(MATLAB_BLOBS))
@pytest.mark.parametrize("squeeze", [False, True])
def test_matlab_blobs_read_like_datajoint(name, squeeze):
    blob = b"mYm\0" + MATLAB_BLOBS[name]
    assert_same(ours.unpack(blob, squeeze=squeeze), dj_blob.unpack(blob, squeeze=squeeze))
    compressed = b"ZL123\0" + struct.pack("<Q", len(blob)) + zlib.compress(blob)
    assert_same(ours.unpack(compressed, squeeze=squeeze), dj_blob.unpack(blob, squeeze=squeeze))


def test_matlab_blob_values():
    get = lambda name, **kw: ours.unpack(b"mYm\0" + MATLAB_BLOBS[name], **kw)  # noqa: E731
    assert get("char")[0] == "character string"
    assert get("char", squeeze=True) == "character string"
    assert np.array_equal(get("vector"), np.r_[1:180:15][None, :])
    cell = get("cellstr")
    assert isinstance(cell, ours.MatCell) and cell.shape == (1, 2)
    assert cell[0, 1][0] == "string2"
    s = get("struct")
    assert isinstance(s, ours.MatStruct) and s.dtype.names == ("a", "b")
    assert np.array_equal(s.a[0, 1], [[2.0]])
    assert isinstance(s.b[0, 1], ours.MatStruct)
    assert s.b[0, 1].C[0, 0].shape == (5, 5)
    assert np.array_equal(s.b[0, 0].c[0, 0], magic3())
    sq = get("struct", squeeze=True)
    assert np.array_equal(sq.a.astype(float), [1.0, 2.0])
    assert np.array_equal(get("double3d"), np.r_[1:25].reshape((2, 3, 4), order="F"))
    assert get("uint8_3d").dtype == np.uint8
    z = get("complex3d")
    assert z.dtype == np.complex128
    assert np.allclose(z, np.fft.fftn(np.arange(1, 25.0).reshape((2, 3, 4), order="F")))
    assert np.array_equal(get("int_complex"), np.array([[1 + 3j, 2 + 4j]]))
    assert get("logical").dtype == bool
    # a fetched MATLAB struct is written back in the MATLAB layout
    assert ours.pack(get("struct"), compress=False) == b"mYm\0" + MATLAB_BLOBS["struct"]
    # and re-packing what was fetched gives DataJoint's bytes
    for name in MATLAB_BLOBS:
        blob = b"mYm\0" + MATLAB_BLOBS[name]
        assert ours.pack(ours.unpack(blob)) == dj_blob.pack(dj_blob.unpack(blob)), name


def test_matlab_non_ascii_chars():
    blob = b"mYm\0" + m_char("naïve café ✓")
    assert ours.unpack(blob, squeeze=True) == "naïve café ✓"


def test_32bit_mym_blobs(monkeypatch):
    body = m_struct(
        (1, 1),
        ["hits", "sides", "stage"],
        [
            [
                m_double(np.array([[np.nan, 1, 1, 0, 1, 0, np.nan]]), w="I"),
                m_char("llllrrl", w="I"),
                m_char("Stage 10", w="I"),
            ]
        ],
        w="I",
    )
    blob = b"mYm\0" + body
    monkeypatch.setattr(ours, "use_32bit_dims", True)
    monkeypatch.setattr(dj_blob, "use_32bit_dims", True)
    result = ours.unpack(blob)
    assert_same(result, dj_blob.unpack(blob))
    assert result[0, 0]["sides"][0] == "llllrrl"
    assert result[0, 0]["stage"][0] == "Stage 10"
    assert np.array_equal(result[0, 0]["hits"], [[np.nan, 1, 1, 0, 1, 0, np.nan]], equal_nan=True)
    compressed = b"ZL123\0" + struct.pack("<I", len(blob)) + zlib.compress(blob)
    assert_same(ours.unpack(compressed), result)


# ---------------------------------------------------------------------------
# compression policy
# ---------------------------------------------------------------------------


def test_small_blobs_are_never_compressed():
    blob = ours.pack(np.zeros(100))
    assert blob.startswith(b"mYm\0") and len(blob) == 4 + 1 + 16 + 8 + 800


def test_incompressible_data_is_stored_uncompressed():
    value = RNG.standard_normal(1_000_000)  # 8 MB of noise
    blob = ours.pack(value)
    assert blob.startswith(b"mYm\0")
    assert len(blob) == 4 + 1 + 16 + 8 + value.nbytes
    assert np.array_equal(ours.unpack(blob), value)
    assert np.array_equal(dj_blob.unpack(blob), value)
    raw = RNG.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    assert not ours.pack(raw).startswith(b"ZL123\0")


def test_compressible_data_is_compressed():
    for value in (
        np.zeros(1_000_000),
        np.cumsum(RNG.integers(-3, 4, 2_000_000)).astype(np.int16),
        np.zeros(20_000),  # between the exact and the sampling thresholds
        {"a": np.zeros(3000), "b": ["x"] * 500},
    ):
        blob = ours.pack(value)
        assert blob.startswith(b"ZL123\0")
        size = struct.unpack_from("<Q", blob, 6)[0]
        assert size == len(ours.pack(value, compress=False))
        assert len(blob) < 0.75 * size
        assert_same(ours.unpack(blob), dj_blob.unpack(blob))
        assert_same(ours.unpack(blob), _roundtrip_dj(value))


def test_mostly_noise_with_compressible_tail_is_readable():
    value = np.concatenate([RNG.standard_normal(200_000), np.zeros(200_000)])
    blob = ours.pack(value)
    assert np.array_equal(dj_blob.unpack(blob), value)
    assert np.array_equal(ours.unpack(blob), value)


def test_compress_false():
    value = np.zeros(10_000)
    assert not ours.pack(value, compress=False).startswith(b"ZL123\0")


def test_trailing_bytes_after_zlib_stream_are_ignored_like_datajoint():
    blob = ours.pack(np.zeros(1000))
    assert blob.startswith(b"ZL123\0")
    assert np.array_equal(ours.unpack(blob + b"junk"), dj_blob.unpack(blob + b"junk"))
