"""Tests for dj_jupyter.codecs.blob_format against datajoint 2.3.5's blob module."""

from __future__ import annotations

import datetime
import math
import struct
import uuid
import warnings
import zlib
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dj_jupyter.codecs import blob_format as ours
from dj_jupyter.errors import DataJointError

import datajoint.blob as dj_blob

RNG = np.random.default_rng(20240601)


# ---------------------------------------------------------------------------
# deep comparison
# ---------------------------------------------------------------------------


def _kind(x):
    """Class identity that treats our MatCell/MatStruct like DataJoint's."""
    for name in ("MatCell", "MatStruct"):
        if any(c.__name__ == name for c in type(x).__mro__):
            return name
    if isinstance(x, np.recarray):
        return "recarray"
    if isinstance(x, np.ndarray):
        return "ndarray"
    return type(x)


def assert_same(a, b, path="value"):
    assert _kind(a) == _kind(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape, f"{path}: shape {a.shape} != {b.shape}"
        if a.dtype.names:
            assert a.dtype.names == b.dtype.names, f"{path}: fields differ"
            for name in a.dtype.names:
                assert_same(np.asarray(a[name]), np.asarray(b[name]), f"{path}.{name}")
            return
        assert a.dtype == b.dtype, f"{path}: dtype {a.dtype} != {b.dtype}"
        if a.dtype.kind == "O":
            for i, (x, y) in enumerate(zip(a.ravel(), b.ravel())):
                assert_same(x, y, f"{path}[{i}]")
        elif a.dtype.kind in "mM":  # compare NaT as equal
            assert np.array_equal(a.view("i8"), b.view("i8")), f"{path}: {a!r} != {b!r}"
        else:
            equal_nan = a.dtype.kind in "fc"
            assert np.array_equal(a, b, equal_nan=equal_nan), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: length differs"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), f"{path}: {b!r} is not nan"
    elif isinstance(a, complex) and (math.isnan(a.real) or math.isnan(a.imag)):
        assert repr(a) == repr(b)
    elif isinstance(a, Decimal) and a.is_nan():
        assert str(a) == str(b)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
        if isinstance(a, np.generic):
            assert a.dtype == b.dtype


# ---------------------------------------------------------------------------
# the catalogue of values DataJoint's blob format handles
# ---------------------------------------------------------------------------

INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
FLOAT_DTYPES = ["float32", "float64"]
COMPLEX_DTYPES = ["complex64", "complex128"]
DATETIME_UNITS = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"]


def _numeric(dtype, shape):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        data = RNG.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
    elif dtype.kind == "f":
        data = RNG.standard_normal(n).astype(dtype)
    elif dtype.kind == "c":
        data = (RNG.standard_normal(n) + 1j * RNG.standard_normal(n)).astype(dtype)
    else:
        data = RNG.integers(0, 2, size=n).astype(bool)
    return data.reshape(shape)


def _object_array(items, shape=None):
    arr = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        arr[i] = x
    return arr if shape is None else arr.reshape(shape)


def catalogue():
    cases = {}
    # python scalars
    cases.update(
        {
            "int_small": 32,
            "int_neg": -255,
            "int_zero": 0,
            "int_edge": -128,
            "int_big": -25523987234234287910987234987098245697129798713407812347,
            "int_huge": 7**3000,
            "float": -3.7e-2,
            "float_inf": -math.inf,
            "float_nan": math.nan,
            "complex": 7j,
            "complex2": complex(-1.5, 2e300),
            "bool_true": True,
            "bool_false": False,
            "none": None,
            "str": "test",
            "str_empty": "",
            "str_unicode": "héllo wörld ✓ 🧪",
            "bytes": b"\x00\x01binary\xff",
            "bytes_empty": b"",
            "bytearray": bytearray(b"abc"),
            "decimal": Decimal("-112122121.000003000"),
            "decimal_small": Decimal("1.24"),
            "decimal_nan": Decimal("NaN"),
            "datetime": datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
            "datetime_midnight": datetime.datetime(1999, 1, 1),
            "date": datetime.date(2021, 12, 31),
            "time": datetime.time(13, 4, 5, 6),
            "time_midnight": datetime.time(0, 0),
            "uuid": uuid.UUID("0b2a4f1c-5d7e-4e1b-9c55-0123456789ab"),
        }
    )
    # numpy scalars
    for dt in INT_DTYPES + FLOAT_DTYPES + COMPLEX_DTYPES:
        cases[f"np_scalar_{dt}"] = _numeric(dt, ()).reshape(())[()]
    cases["np_bool_"] = np.bool_(True)
    cases["np_float_nan"] = np.float64("nan")
    cases["np_str_"] = np.str_("numpy string")
    cases["np_bytes_"] = np.bytes_(b"numpy bytes")
    cases["np_datetime64"] = np.datetime64("1998").astype("datetime64[us]")
    # containers
    cases.update(
        {
            "list": [1, 2.5, "three", None],
            "list_none": [None],
            "list_empty": [],
            "tuple": (1, "a", (2, (3, None))),
            "tuple_empty": (),
            "set": {"elephant", 1, (2, 3)},
            "frozenset": frozenset({1, 2}),
            "range": range(10),
            "dict": {
                "name": "Anonymous",
                "age": 15,
                99: datetime.datetime(2020, 1, 2, 3, 4, 5),
                "range": [110, 190],
                (11, 12): None,
            },
            "dict_nested": {
                "a": {"b": {"c": [np.arange(5), {"d": (1.0, b"x")}]}},
                datetime.date(2020, 1, 1): "today",
                uuid.UUID(int=7): Decimal("3.14"),
            },
            "dict_empty": {},
            "list_mixed": [1, datetime.datetime(2020, 5, 6, 7, 8, 9), {1: "one", "two": 2}, (1, 2)],
            "tuple_arrays": (1, {"yes!": [1, 2, np.array((3, 4))]}),
        }
    )
    # numeric arrays: every dtype, several shapes, both memory orders
    shapes = [(), (1,), (7,), (3, 4), (2, 3, 4), (1, 5), (5, 1), (2, 1, 3, 1)]
    for dt in INT_DTYPES + FLOAT_DTYPES + COMPLEX_DTYPES + ["bool"]:
        for shape in shapes:
            arr = _numeric(dt, shape)
            cases[f"arr_{dt}_{'x'.join(map(str, shape)) or '0d'}"] = arr
        cases[f"arr_{dt}_F"] = np.asfortranarray(_numeric(dt, (4, 3)))
        cases[f"arr_{dt}_3dF"] = np.asfortranarray(_numeric(dt, (2, 3, 4)))
        cases[f"arr_{dt}_strided"] = _numeric(dt, (6, 8))[::2, 1::3]
        cases[f"arr_{dt}_transposed"] = _numeric(dt, (3, 5, 2)).transpose(1, 2, 0)
        cases[f"arr_{dt}_empty"] = np.zeros((0,), dtype=dt)
        cases[f"arr_{dt}_empty3d"] = np.zeros((2, 0, 3), dtype=dt)
    cases["arr_float_specials"] = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324])
    cases["arr_int_range"] = np.r_[1:180:15][None, :]
    # char arrays ('c' / S1 -> MATLAB char)
    cases["char_row"] = np.array(list(b"hello"), dtype=np.uint8).view("S1")
    cases["char_one"] = np.array([b"x"], dtype="S1")
    cases["char_empty"] = np.zeros(0, dtype="S1")
    cases["char_0d"] = np.array(b"q", dtype="S1")
    cases["char_column"] = np.array([b"a", b"b", b"c"], dtype="S1").reshape(3, 1)
    cases["char_matrix_3d"] = np.array(list(b"abcdefghijkl"), dtype=np.uint8).view("S1").reshape(2, 3, 2)
    # string and object arrays
    cases["str_array"] = np.array(["yes"])
    cases["str_array_2d"] = np.array([["a", "bb", "ccc"], ["dddd", "", "é"]])
    cases["str_array_F"] = np.asfortranarray(np.array([["a", "bb"], ["c", "d"]]))
    cases["str_array_0d"] = np.array("zero-d")
    cases["object_array"] = np.array(((1, 2, 3), True), dtype=object)
    cases["object_array_mixed"] = _object_array([1, "two", 3.0, None, {"k": [1]}, np.arange(3)], (2, 3))
    cases["object_array_empty"] = np.empty((0, 2), dtype=object)
    cases["object_array_0d"] = _object_array([{"x": 1}]).reshape(())
    # structured / record arrays
    xy = np.array([(1.0, 2), (3.0, 4)], dtype=[("x", float), ("y", int)])
    cases["struct_xy"] = xy
    cases["recarray_xy"] = xy.view(np.recarray)
    cases["recarray_object"] = np.array([(3, 4)], dtype=[("tmp0", float), ("tmp1", "O")]).view(np.recarray)
    cases["struct_strings"] = np.array([(1, "alpha"), (2, "beta")], dtype=[("id", "i4"), ("name", "U10")])
    cases["struct_2d_F"] = np.asfortranarray(
        np.array([[(1, 2.0), (3, 4.0)], [(5, 6.0), (7, 8.0)]], dtype=[("i", "u2"), ("f", "f4")])
    )
    cases["struct_nested"] = np.array(
        [(1, (2.0, 3)), (4, (5.0, 6))], dtype=[("a", "i8"), ("b", [("c", "f8"), ("d", "i2")])]
    )
    cases["struct_complex_bool"] = np.array([(1 + 2j, True), (3 - 4j, False)], dtype=[("z", "c16"), ("t", "?")])
    cases["struct_empty"] = np.zeros(0, dtype=[("x", "f8"), ("y", "i1")])
    cases["struct_0d"] = np.array((1.5, 2), dtype=[("x", "f8"), ("y", "i4")])
    cases["struct_datetime"] = np.array([("2020-01-01", 1)], dtype=[("when", "M8[D]"), ("n", "i1")])
    # datetime64 arrays of every unit DataJoint knows
    for unit in DATETIME_UNITS:
        cases[f"datetime64_{unit}"] = np.array([0, 1, 1234, -5], dtype=f"datetime64[{unit}]")
    cases["datetime64_2d"] = np.array([["2022-10-13T03:03:13", "NaT"], ["1970-01-01", "2000-02-29"]], "M8[s]")
    cases["datetime64_list"] = np.array([np.datetime64("2022-10-13 03:03:13") for _ in range(100)])
    # MATLAB cell and struct arrays (DataJoint's own classes)
    cell = _object_array([np.array([1, 2, 3]), np.array([4, 5, 6, 7, 8])], (1, 2)).view(dj_blob.MatCell)
    cases["matcell_ragged"] = cell
    cases["matcell_empty_elements"] = _object_array([np.array([])] * 3, (3, 1)).view(dj_blob.MatCell)
    cases["matcell_strings"] = _object_array(["string1", "string2"], (1, 2)).view(dj_blob.MatCell)
    cases["matcell_empty"] = np.empty((0, 0), dtype=object).view(dj_blob.MatCell)
    mstruct = np.empty((1, 2), dtype=[("a", object), ("b", object)])
    mstruct[0, 0] = (np.array([[1.0]]), np.array([[1, 2], [3, 4]]))
    mstruct[0, 1] = (np.array([[2.0]]), "text")
    cases["matstruct"] = mstruct.view(dj_blob.MatStruct)
    numeric_struct = np.zeros((2, 2), dtype=[("a", "f8"), ("b", "i4")])
    numeric_struct["a"] = [[1.5, 2.5], [3.5, 4.5]]
    cases["matstruct_numeric_fields"] = numeric_struct.view(dj_blob.MatStruct)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        cases["np_matrix"] = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    cases["big_compressible"] = np.zeros((300, 300))
    cases["big_mixed_dict"] = {"zeros": np.zeros(5000), "noise": RNG.standard_normal(2000)}
    return cases


CASES = catalogue()


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


# ---------------------------------------------------------------------------
# blobs as MATLAB's mYm writes them (hand-built)
# ---------------------------------------------------------------------------


def _dims(shape, w):
    return struct.pack(f"<{1 + len(shape)}{w}", len(shape), *shape)


def m_array(shape, class_id, data, is_complex=0, w="Q"):
    return b"A" + _dims(shape, w) + struct.pack("<II", class_id, is_complex) + data


def m_sized(item, w="Q"):
    return struct.pack(f"<{w}", len(item)) + item


def m_char(text, w="Q"):
    return m_array((1, len(text)), 4, text.encode("utf-16-le"), w=w)


def m_double(arr, w="Q"):
    arr = np.asarray(arr, dtype="<f8")
    return m_array(arr.shape, 6, arr.tobytes(order="F"), w=w)


def m_cell(shape, items, w="Q"):
    return b"C" + _dims(shape, w) + b"".join(m_sized(i, w) for i in items)


def m_struct(shape, names, elements, w="Q"):
    body = b"".join(m_sized(v, w) for element in elements for v in element)
    return b"S" + _dims(shape, w) + struct.pack("<I", len(names)) + b"".join(n.encode() + b"\0" for n in names) + body


def magic3():
    return np.array([[8.0, 1, 6], [3, 5, 7], [4, 9, 2]])


MATLAB_BLOBS = {
    "char": m_char("character string"),
    "vector": m_double(np.arange(1, 180, 15, dtype=float)[None, :]),
    "cellstr": m_cell((1, 2), [m_char("string1"), m_char("string2")]),
    "struct": m_struct(
        (1, 2),
        ["a", "b"],
        [
            [m_double([[1.0]]), m_struct((1, 1), ["c"], [[m_double(magic3())]])],
            [m_double([[2.0]]), m_struct((1, 1), ["C"], [[m_double(np.arange(25.0).reshape(5, 5))]])],
        ],
    ),
    "double3d": m_array((2, 3, 4), 6, np.arange(1, 25, dtype="<f8").tobytes()),
    "uint8_3d": m_array((2, 3, 4), 9, bytes(range(1, 25))),
    "complex3d": m_array(
        (2, 3, 4),
        6,
        np.fft.fftn(np.arange(1, 25.0).reshape((2, 3, 4), order="F")).real.tobytes(order="F")
        + np.fft.fftn(np.arange(1, 25.0).reshape((2, 3, 4), order="F")).imag.tobytes(order="F"),
        is_complex=1,
    ),
    "logical": m_array((2, 2), 3, bytes([1, 0, 0, 1])),
    "int_complex": m_array((1, 2), 10, struct.pack("<4h", 1, 2, 3, 4), is_complex=1),
    "empty_cell": m_cell((0, 0), []),
    "char_matrix": m_array((2, 2), 4, "abcd".encode("utf-16-le")),
    "empty_struct": m_struct((1, 1), [], []),
}


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
    value = _numeric(dtype, tuple(shape))
    if fortran:
        value = np.asfortranarray(value)
    blob = ours.pack(value)
    assert blob == dj_blob.pack(value)
    assert_same(ours.unpack(blob), dj_blob.unpack(blob))
    assert np.array_equal(ours.unpack(blob), value, equal_nan=value.dtype.kind in "fc")
