"""Round trips: ``describe()`` re-declares the same table, and every core type comes back as inserted."""

from __future__ import annotations

import datetime
import decimal
import math
import uuid

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter.declare.parser import parse_definition

THING = """
# a thing with every kind of line: comment with 'quotes' and a colon: here
-> Parent
thing_id : int16            # own key part
---
-> [nullable] Parent.proj(mother='parent_id')
-> [unique] Badge
label = "a: b # c \\"quoted\\" it's" : varchar(64)  # quoted default with : and #
code = 'x' : char(1)
count = 0 : int32
ratio = 0.5 : float64
flag = true : bool
price = 9.99 : decimal(8,2)
color = "green" : enum('red', 'green', 'it''s blue')
note = null : varchar(255)   # optional
created = CURRENT_TIMESTAMP : datetime
stamp = null : datetime(3)
born = null : date
meta = null : json
raw = null : bytes
token = null : uuid
array = null : <blob>
index(count, ratio)
unique index(code, count)
"""


def heading_summary(table):
    return [(a.name, a.type.text, a.in_key, a.nullable, _default_text(a.default), a.comment)
            for a in table.heading.attributes.values()]


def _default_text(default):
    if default is None:
        return None
    return default.as_text() if hasattr(default, "as_text") else str(default)


def fk_summary(table):
    return sorted((parent.split(".")[-1], tuple(sorted(info["attr_map"].items())), info["primary"])
                  for parent, info in table.parents(foreign_key_info=True))


def declare_parents(schema):
    @schema
    class Parent(dj.Manual):
        definition = """
        parent_id : int32
        ---
        parent_name = "" : varchar(16)
        """

    @schema
    class Badge(dj.Lookup):
        definition = """
        badge : varchar(8)
        """
        contents = [("gold",), ("silver",)]

    return Parent, Badge


def test_describe_redeclares_the_same_table_in_another_schema(make_schema):
    first, second = make_schema(), make_schema()
    Parent, Badge = declare_parents(first)

    @first
    class Thing(dj.Manual):
        definition = THING

    described = Thing.describe()
    parse_definition(described)  # describe() output is itself a valid definition
    assert described.startswith("# a thing with every kind of line")

    # a class of the same name in another schema, declared from describe() alone
    namespace = {"Parent": Parent, "Badge": Badge}
    Copy = type("Thing", (dj.Manual,), {"definition": described, "__module__": __name__})
    second(Copy, context=namespace)

    assert Copy.table_name == Thing.table_name
    assert Copy.database != Thing.database
    assert heading_summary(Copy()) == heading_summary(Thing())
    assert fk_summary(Copy()) == fk_summary(Thing())
    assert Copy.describe() == described
    assert Copy.heading.table_comment == Thing.heading.table_comment


def test_describe_keeps_what_the_definition_says(make_schema):
    schema = make_schema()
    Parent, Badge = declare_parents(schema)

    @schema
    class Thing(dj.Manual):
        definition = THING

    spec = parse_definition(Thing.describe())
    original = parse_definition(THING)
    by_name = {a.name: a for a in spec.attributes}
    for attribute in original.attributes:
        again = by_name[attribute.name]
        assert again.type.text == attribute.type.text
        assert again.in_key == attribute.in_key
        assert again.nullable == attribute.nullable
        assert again.comment == attribute.comment
        if attribute.default is not None and attribute.default.constant is None:
            assert again.default.value == attribute.default.value, attribute.name
    assert by_name["label"].default.value == 'a: b # c "quoted" it\'s'
    assert by_name["created"].default.constant == "CURRENT_TIMESTAMP"
    fks = {(fk.reference, fk.renames, fk.nullable, fk.unique, fk.in_key) for fk in spec.foreign_keys}
    assert fks == {("Parent", (), False, False, True), ("Parent", (("mother", "parent_id"),), True, False, False),
                   ("Badge", (), False, True, False)}
    assert {(i.attributes, i.unique) for i in spec.indexes} == {(("count", "ratio"), False), (("code", "count"), True)}
    assert spec.comment == original.comment


def test_describe_of_a_part_with_overlapping_foreign_keys(make_schema):
    """A part referencing its master and another part that share key attributes keeps both references."""
    first, second = make_schema(), make_schema()

    @first
    class Session(dj.Manual):
        definition = """
        session : int32
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            """

    @first
    class Analysis(dj.Manual):
        definition = """
        -> Session
        ---
        score = null : float32
        """

        class Result(dj.Part):
            definition = """
            -> master
            -> Session.Trial
            ---
            value : float64
            """

    described = Analysis.Result.describe()
    references = [fk.reference for fk in parse_definition(described).foreign_keys]
    assert len(references) == 2
    assert "Session.Trial" in references
    assert Analysis.Result.parents() and len(Analysis.Result.parents()) == 2

    Copy = type("Copy", (dj.Manual,), {"definition": described})
    second(Copy, context={"Analysis": Analysis, "Session": Session})
    assert sorted(p for p in Copy.parents()) == sorted(Analysis.Result.parents())
    assert heading_summary(Copy()) == heading_summary(Analysis.Result())


def test_describe_of_a_table_without_primary_key(make_schema):
    schema = make_schema()

    @schema
    class Setting(dj.Manual):
        definition = """
        # one row only
        ---
        value : varchar(16)
        """

    described = Setting.describe()
    spec = parse_definition(described)
    assert [a.name for a in spec.attributes] == ["value"]
    assert not [a for a in spec.attributes if a.in_key]
    Setting.insert1({"value": "only"})
    with pytest.raises(dj.errors.DuplicateError):
        Setting.insert1({"value": "second"})


# ---- every core type inserts and fetches back equal ------------------------------------------------
@pytest.fixture
def everything(make_schema):
    schema = make_schema()

    @schema
    class Everything(dj.Manual):
        definition = """
        id : uuid
        ---
        i8 = null : int8
        i16 = null : int16
        i32 = null : int32
        i64 = null : int64
        f32 = null : float32
        f64 = null : float64
        flag = null : bool
        amount = null : decimal(12,4)
        code = null : char(3)
        name = null : varchar(40)
        day = null : date
        moment = null : datetime
        milli = null : datetime(3)
        micro = null : datetime(6)
        color = null : enum('red', 'green', 'it''s blue')
        meta = null : json
        raw = null : bytes
        """

    return Everything


def _roundtrip(table, **values):
    key = {"id": uuid.uuid4()}
    table.insert1({**key, **values})
    return (table & key).fetch1()


CASES = {
    "uuid": {},
    "int8 limits": [dict(i8=-128), dict(i8=127)],
    "int16 limits": [dict(i16=-32768), dict(i16=32767)],
    "int32 limits": [dict(i32=-(2**31)), dict(i32=2**31 - 1)],
    "int64 limits": [dict(i64=-(2**63)), dict(i64=2**63 - 1)],
    # float32 values with few significant digits: exact in every engine's single-precision type
    "floats": [dict(f32=-0.25, f64=math.pi), dict(f32=3.0e9, f64=-1e-300), dict(f32=0.0, f64=1.0e300)],
    "bools": [dict(flag=True), dict(flag=False)],
    "decimals": [dict(amount=decimal.Decimal("12345678.1234")), dict(amount=decimal.Decimal("-0.0001")),
                 dict(amount=decimal.Decimal("0.0000"))],
    "strings": [dict(code="abc", name="héllo wörld ✓"), dict(code="a-b", name="it's \"quoted\" % ? ; \\ %s")],
    "date": [dict(day=datetime.date(2024, 2, 29)), dict(day=datetime.date(1900, 1, 1))],
    "datetime": [dict(moment=datetime.datetime(2024, 1, 2, 3, 4, 5))],
    "datetime(3)": [dict(milli=datetime.datetime(2024, 1, 2, 3, 4, 5, 123000))],
    "datetime(6)": [dict(micro=datetime.datetime(2024, 12, 31, 23, 59, 59, 999999)),
                    dict(micro=datetime.datetime(2000, 1, 1, 0, 0, 0, 1))],
    "enum": [dict(color="red"), dict(color="it's blue")],
    "json": [dict(meta={"a": [1, 2.5, {"b": None, "c": [True, False]}], "d": "x", "e": {"f": {"g": []}}}),
             dict(meta=[1, "two", None]), dict(meta="just a string"), dict(meta=42)],
    "bytes": [dict(raw=b"\x00\x01\xff" * 100), dict(raw=b"")],
}


@pytest.mark.parametrize("case", list(CASES))
def test_core_type_round_trip(everything, case):
    for values in CASES[case] or [{}]:
        got = _roundtrip(everything, **values)
        for name, value in values.items():
            assert got[name] == value, (name, got[name], value)
            assert type(got[name]) is type(value), (name, type(got[name]))
        assert isinstance(got["id"], uuid.UUID)
        untouched = set(everything.heading.names) - set(values) - {"id"}
        assert all(got[name] is None for name in untouched)


def test_all_types_in_one_row(everything):
    values = dict(i8=-1, i16=2, i32=-3, i64=4, f32=0.5, f64=-2.75, flag=True, amount=decimal.Decimal("3.1416"),
                  code="xyz", name="n", day=datetime.date(2020, 5, 17),
                  moment=datetime.datetime(2020, 5, 17, 1, 2, 3), milli=datetime.datetime(2020, 5, 17, 1, 2, 3, 4000),
                  micro=datetime.datetime(2020, 5, 17, 1, 2, 3, 456789), color="green", meta={"k": ["v"]},
                  raw=bytes(range(256)))
    got = _roundtrip(everything, **values)
    assert {k: got[k] for k in values} == values


def test_uuid_given_as_text_comes_back_as_uuid(everything):
    value = uuid.uuid4()
    everything.insert1({"id": str(value), "name": "text"})
    assert (everything & {"id": value}).fetch1("name") == "text"
    assert (everything & {"name": "text"}).fetch1("id") == value


def test_numpy_values_round_trip(everything):
    got = _roundtrip(everything, i8=np.int8(-5), i64=np.int64(2**40), f32=np.float32(0.75), f64=np.float64(1.25),
                     flag=np.bool_(True))
    assert (got["i8"], got["i64"], got["f32"], got["f64"], got["flag"]) == (-5, 2**40, 0.75, 1.25, True)


def test_nan_becomes_null(everything):
    got = _roundtrip(everything, f32=float("nan"), f64=np.nan)
    assert got["f32"] is None and got["f64"] is None
    key = {"id": uuid.uuid4()}
    everything.insert1({**key, "f64": np.float64("nan")})
    assert (everything & key & "f64 IS NULL").fetch1("id") == key["id"]


def test_none_is_null(everything):
    got = _roundtrip(everything, i32=None, name=None, meta=None, raw=None, day=None)
    assert all(got[k] is None for k in ("i32", "name", "meta", "raw", "day"))


OUT_OF_RANGE = [
    dict(i8=128), dict(i8=-129), dict(i16=32768), dict(i16=-32769), dict(i32=2**31), dict(i32=-(2**31) - 1),
    dict(i64=2**63), dict(i64=-(2**63) - 1), dict(color="blue"), dict(color="gre en"), dict(code="abcd"),
    dict(name="x" * 41), dict(amount="not a number"), dict(moment="yesterday-ish"), dict(i32="12abc"),
    dict(f64="pi"), dict(id="not-a-uuid"), dict(raw="text is not bytes"),
]


@pytest.mark.parametrize("bad", OUT_OF_RANGE, ids=[next(iter(b.items())).__repr__() for b in OUT_OF_RANGE])
def test_invalid_values_raise_and_insert_nothing(everything, bad):
    good = {"id": uuid.uuid4(), "name": "good"}
    row = {"id": uuid.uuid4(), **bad}
    with pytest.raises(dj.DataJointError):
        everything.insert([good, row])  # the valid row before it is rolled back too
    assert len(everything) == 0
    with pytest.raises(dj.DataJointError):
        everything.insert1(row)
    assert len(everything) == 0
    everything.insert1(good)  # the connection is still usable
    assert len(everything) == 1


def test_defaults_are_applied(make_schema):
    schema = make_schema()
    Parent, Badge = declare_parents(schema)

    @schema
    class Thing(dj.Manual):
        definition = THING

    Parent.insert1({"parent_id": 1})
    before = datetime.datetime.now() - datetime.timedelta(days=1)  # server clocks may use another zone
    Thing.insert1({"parent_id": 1, "thing_id": 1, "badge": "gold"})
    row = Thing.fetch1()
    assert row["label"] == 'a: b # c "quoted" it\'s'
    assert (row["code"], row["count"], row["ratio"], row["flag"]) == ("x", 0, 0.5, True)
    assert row["price"] == decimal.Decimal("9.99")
    assert row["color"] == "green"
    assert row["note"] is None and row["mother"] is None and row["array"] is None
    assert isinstance(row["created"], datetime.datetime)
    assert before <= row["created"] <= datetime.datetime.now() + datetime.timedelta(days=1)
