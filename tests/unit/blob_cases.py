"""The values DataJoint's blob format handles, hand-built MATLAB blobs, and a deep comparison of
unpacked values, shared by the blob format tests."""

from __future__ import annotations

import datetime
import math
import struct
import uuid
import warnings
from decimal import Decimal

import numpy as np


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


def numeric_array(dtype, shape):
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
        cases[f"np_scalar_{dt}"] = numeric_array(dt, ()).reshape(())[()]
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
            arr = numeric_array(dt, shape)
            cases[f"arr_{dt}_{'x'.join(map(str, shape)) or '0d'}"] = arr
        cases[f"arr_{dt}_F"] = np.asfortranarray(numeric_array(dt, (4, 3)))
        cases[f"arr_{dt}_3dF"] = np.asfortranarray(numeric_array(dt, (2, 3, 4)))
        cases[f"arr_{dt}_strided"] = numeric_array(dt, (6, 8))[::2, 1::3]
        cases[f"arr_{dt}_transposed"] = numeric_array(dt, (3, 5, 2)).transpose(1, 2, 0)
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
