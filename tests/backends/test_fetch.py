"""Fetching: every output shape, ordering and paging, the deprecated fetch() shim, and previews."""

from __future__ import annotations

import datetime
import decimal
import re
import warnings

import numpy as np
import pandas
import pytest

import dj_jupyter as dj
from tests.backends.query.checks import STUDENT_KEYS, STUDENTS
from tests.schemas import university

HOSTILE = "<script>alert(1)</script>"

SAMPLES = [
    dict(sample_id=1, label="alpha", value=0.5, count=3, price=decimal.Decimal("1.25"),
         taken=datetime.datetime(2024, 1, 2, 3, 4, 5), flag=True, payload=np.arange(6).reshape(2, 3), raw=b"\x00\x01"),
    dict(sample_id=2, label=HOSTILE, value=None, count=None, price=decimal.Decimal("20.00"),
         taken=datetime.datetime(2024, 2, 3, 4, 5, 6), flag=False, payload={"k": [1, 2]}, raw=None),
    dict(sample_id=3, label='a & b "c" \'d\'', value=-1.75, count=7, price=decimal.Decimal("0.10"),
         taken=datetime.datetime(2023, 12, 31, 23, 59, 59), flag=True, payload=None, raw=b"xyz"),
]


@pytest.fixture
def sample(make_schema):
    schema = make_schema()

    @schema
    class Sample(dj.Manual):
        definition = """
        # measured <b>samples</b> & "things"
        sample_id : int32
        ---
        label : varchar(64)          # a <label> & more
        value=null : float64
        count=null : int32
        price : decimal(6,2)
        taken : datetime
        flag : bool
        payload=null : <blob>
        raw=null : bytes
        """

    Sample.insert(SAMPLES)
    return Sample


def student_ids(records):
    return [r["student_id"] for r in records]


# ----------------------------------------------------------------------------------------------
# output shapes
# ----------------------------------------------------------------------------------------------
class TestToDicts:
    def test_all_rows_all_attributes(self, uni):
        got = uni.Student.to_dicts(order_by="KEY")
        assert got == sorted(STUDENTS, key=lambda s: s["student_id"])

    def test_values_keep_their_types(self, sample):
        got = {r["sample_id"]: r for r in sample.to_dicts()}
        for expected in SAMPLES:
            row = got[expected["sample_id"]]
            assert row["label"] == expected["label"]
            assert row["value"] == expected["value"]
            assert row["count"] == expected["count"]
            assert row["price"] == expected["price"]
            assert row["taken"] == expected["taken"]
            assert row["flag"] is expected["flag"] or row["flag"] == expected["flag"]
            assert row["raw"] == expected["raw"]
        np.testing.assert_array_equal(got[1]["payload"], SAMPLES[0]["payload"])
        assert got[3]["payload"] is None

    def test_empty_result(self, uni):
        assert (uni.Student & False).to_dicts() == []

    def test_squeeze(self, sample):
        row = (sample & {"sample_id": 1}).proj("payload")
        assert row.to_dicts(squeeze=True)[0]["payload"].shape == (2, 3)


class TestToPandas:
    def test_primary_key_is_the_index(self, uni):
        frame = uni.Student.to_pandas()
        assert isinstance(frame, pandas.DataFrame)
        assert list(frame.index.names) == ["student_id"]
        assert list(frame.columns) == list(STUDENT_KEYS[1:])
        assert frame.loc[3, "last_name"] == "Hopper"
        assert len(frame) == len(STUDENTS)

    def test_composite_key_index(self, uni):
        frame = uni.Enroll.to_pandas()
        assert list(frame.index.names) == list(university.ENROLL_KEYS)
        assert len(frame) == len(university.ENROLL)

    def test_column_types(self, sample):
        frame = sample.to_pandas(order_by="KEY")
        assert frame["count"].isna().tolist() == [False, True, False]
        assert frame["value"].dtype == np.float64 and np.isnan(frame.loc[2, "value"])
        assert frame.loc[3, "label"] == SAMPLES[2]["label"]
        assert pandas.Timestamp(frame.loc[1, "taken"]) == pandas.Timestamp(SAMPLES[0]["taken"])
        np.testing.assert_array_equal(frame.loc[1, "payload"], SAMPLES[0]["payload"])
        ints = (sample & "count is not null").to_pandas()
        assert ints["count"].dtype == np.int32

    def test_built_from_columns_not_from_dicts(self, uni, monkeypatch):
        from dj_jupyter.query import fetch

        def refuse(*args, **kwargs):
            raise AssertionError("to_pandas went through to_dicts")

        monkeypatch.setattr(fetch, "to_dicts", refuse)
        frame = uni.Student.to_pandas(order_by="KEY")
        assert frame.index.tolist() == sorted(s["student_id"] for s in STUDENTS)

    def test_empty_result(self, uni):
        frame = (uni.Student & False).to_pandas()
        assert len(frame) == 0
        assert set(frame.columns) | set(frame.index.names) >= set(STUDENT_KEYS)

    def test_no_primary_key(self, uni):
        frame = dj.U().aggr(uni.Student, n="count(*)").to_pandas()
        assert frame["n"].tolist() == [len(STUDENTS)]

    def test_order_and_limit(self, uni):
        frame = uni.Student.to_pandas(order_by="date_of_birth DESC", limit=3)
        youngest = sorted(STUDENTS, key=lambda s: s["date_of_birth"], reverse=True)[:3]
        assert frame.index.tolist() == student_ids(youngest)


class TestToArrays:
    def test_structured_array(self, uni):
        records = uni.Student.to_arrays(order_by="KEY")
        assert records.dtype.names == STUDENT_KEYS
        assert len(records) == len(STUDENTS)
        assert records["student_id"].tolist() == sorted(s["student_id"] for s in STUDENTS)
        assert records[0]["first_name"] == "Ada"

    def test_one_attribute(self, uni):
        names = uni.Student.to_arrays("last_name", order_by="KEY")
        assert isinstance(names, np.ndarray)
        assert names.tolist() == [s["last_name"] for s in sorted(STUDENTS, key=lambda s: s["student_id"])]

    def test_several_attributes(self, uni):
        first, state = uni.Student.to_arrays("first_name", "home_state", order_by="KEY")
        ordered = sorted(STUDENTS, key=lambda s: s["student_id"])
        assert first.tolist() == [s["first_name"] for s in ordered]
        assert state.tolist() == [s["home_state"] for s in ordered]

    def test_include_key(self, uni):
        keys, last = uni.Student.to_arrays("last_name", include_key=True, order_by="KEY DESC")
        ordered = sorted(STUDENTS, key=lambda s: s["student_id"], reverse=True)
        assert keys == [{"student_id": s["student_id"]} for s in ordered]
        assert last.tolist() == [s["last_name"] for s in ordered]
        assert uni.Student & keys[0]

    def test_numeric_types_and_nulls(self, sample):
        value, count = sample.to_arrays("value", "count", order_by="KEY")
        assert value.dtype == np.float64 and np.isnan(value[1])
        assert None in count.tolist()
        sid = sample.to_arrays("sample_id")
        assert sid.dtype == np.int32

    def test_renamed_attribute_keeps_its_type(self, sample):
        assert sample.proj(v="value").to_arrays("v").dtype == np.float64
        records = sample.proj(v="value", c="(sample_id)").to_arrays()
        assert records["v"].dtype == np.float64

    def test_blobs_and_text_are_objects(self, sample):
        records = sample.to_arrays(order_by="KEY")
        assert records["payload"].dtype == object and records["label"].dtype == object
        np.testing.assert_array_equal(records["payload"][0], SAMPLES[0]["payload"])

    def test_empty(self, uni):
        records = (uni.Student & False).to_arrays()
        assert len(records) == 0 and records.dtype.names == STUDENT_KEYS
        assert len((uni.Student & False).to_arrays("last_name")) == 0

    def test_unknown_attribute(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.to_arrays("nickname")


class TestKeysAndFetch1:
    def test_keys(self, uni):
        assert uni.Student.keys(order_by="KEY") == [{"student_id": s["student_id"]} for s in
                                                    sorted(STUDENTS, key=lambda s: s["student_id"])]
        keys = uni.Enroll.keys()
        assert len(keys) == len(university.ENROLL)
        assert set(keys[0]) == set(university.ENROLL_KEYS)
        assert uni.Student.keys(limit=2, offset=1, order_by="KEY DESC") == [{"student_id": 7}, {"student_id": 6}]

    def test_fetch1_whole_row(self, uni):
        assert (uni.Student & {"student_id": 2}).fetch1() == STUDENTS[1]

    def test_fetch1_attributes(self, uni):
        one = uni.Student & {"student_id": 3}
        assert one.fetch1("last_name") == "Hopper"
        assert one.fetch1("first_name", "home_state") == ("Grace", "NY")
        assert one.fetch1("KEY") == {"student_id": 3}
        name, key = one.fetch1("last_name", "KEY")
        assert (name, key) == ("Hopper", {"student_id": 3})

    def test_fetch1_needs_exactly_one_row(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.fetch1()
        with pytest.raises(dj.DataJointError):
            uni.Student.fetch1("last_name")
        with pytest.raises(dj.DataJointError):
            (uni.Student & False).fetch1()
        with pytest.raises(dj.DataJointError):
            (uni.Student & False).fetch1("KEY")

    def test_fetch1_unknown_attribute(self, uni):
        with pytest.raises(dj.DataJointError):
            (uni.Student & {"student_id": 1}).fetch1("nickname")

    def test_fetch1_of_a_whole_set_aggregate(self, uni):
        assert dj.U().aggr(uni.Student, n="count(*)").fetch1("n") == len(STUDENTS)
        assert dj.U().aggr(uni.Student, n="count(*)").fetch1() == {"n": len(STUDENTS)}

    def test_decimal_keys_round_trip(self, make_schema):
        schema = make_schema()

        @schema
        class Price(dj.Manual):
            definition = """
            amount : decimal(8,3)
            """

        Price.insert([(decimal.Decimal("3.142"),), (decimal.Decimal("2.5"),)])
        for key in Price.keys():
            assert len(Price & key) == 1
        assert (Price & {"amount": decimal.Decimal("2.500")}).fetch1("amount") == decimal.Decimal("2.5")


class TestPythonProtocols:
    def test_head_and_tail(self, uni):
        ordered = sorted(STUDENTS, key=lambda s: s["student_id"])
        assert uni.Student.head(3) == ordered[:3]
        assert uni.Student.tail(3) == ordered[-3:]
        assert len(uni.Student.head()) == len(STUDENTS)  # default 25
        join = uni.Student * uni.Enroll
        keys = sorted(tuple(e[k] for k in university.ENROLL_KEYS) for e in university.ENROLL)
        assert [tuple(r[k] for k in university.ENROLL_KEYS) for r in join.tail(4)] == keys[-4:]

    def test_head_and_tail_in_the_old_formats(self, uni):
        with pytest.warns(DeprecationWarning):
            frame = uni.Student.head(3, format="frame")
        assert frame.index.tolist() == [1, 2, 3]
        with pytest.warns(DeprecationWarning):
            frame = uni.Student.tail(3, format="frame")
        assert frame.index.tolist() == [6, 7, 8]
        with pytest.warns(DeprecationWarning):
            records = uni.Student.tail(2, format="array")
        assert records["student_id"].tolist() == [7, 8]

    def test_iteration(self, uni):
        rows = list(uni.Student & 'sex = "F"')
        assert sorted(student_ids(rows)) == [1, 3, 5, 7]
        assert all(isinstance(r, dict) and set(r) == set(STUDENT_KEYS) for r in rows)
        assert sorted(student_ids(uni.Student)) == sorted(s["student_id"] for s in STUDENTS)

    def test_len_and_bool(self, uni):
        assert len(uni.Student) == len(STUDENTS)
        assert len(uni.Enroll * uni.Student) == len(university.ENROLL)
        assert bool(uni.Student) and not bool(uni.Student & False)
        assert not (uni.Student & {"student_id": 999})
        top = uni.Student & dj.Top(3)
        assert len(top) == 3 and bool(top)
        assert len(uni.Student & dj.Top(2, offset=7)) == 1

    def test_contains(self, uni):
        assert {"student_id": 1} in uni.Student
        assert {"student_id": 99} not in uni.Student
        assert 'home_state = "TX"' in uni.Student
        assert 'home_state = "ZZ"' not in uni.Student
        assert (uni.Enroll & {"student_id": 4}) in uni.Student
        assert [{"student_id": 99}, {"student_id": 2}] in uni.Student


# ----------------------------------------------------------------------------------------------
# ordering and paging
# ----------------------------------------------------------------------------------------------
class TestOrdering:
    def test_key(self, uni):
        assert student_ids(uni.Student.to_dicts(order_by="KEY")) == sorted(s["student_id"] for s in STUDENTS)
        assert student_ids(uni.Student.to_dicts(order_by="KEY DESC")) == sorted(
            (s["student_id"] for s in STUDENTS), reverse=True)

    def test_composite_key_descending(self, uni):
        keys = uni.Enroll.keys(order_by="KEY DESC")
        expected = sorted((tuple(e[k] for k in university.ENROLL_KEYS) for e in university.ENROLL), reverse=True)
        assert [tuple(k[n] for n in university.ENROLL_KEYS) for k in keys] == expected

    def test_several_attributes(self, uni):
        for state_dir in ("ASC", "DESC"):
            for id_dir in ("ASC", "DESC"):
                got = uni.Student.to_dicts(order_by=[f"home_state {state_dir}", f"student_id {id_dir}"])
                expected = sorted(STUDENTS, key=lambda s: s["student_id"], reverse=id_dir == "DESC")
                expected = sorted(expected, key=lambda s: s["home_state"], reverse=state_dir == "DESC")
                assert student_ids(got) == student_ids(expected)

    def test_key_after_another_attribute(self, uni):
        got = uni.Student.to_dicts(order_by=("sex", "KEY DESC"))
        expected = sorted(sorted(STUDENTS, key=lambda s: s["student_id"], reverse=True), key=lambda s: s["sex"])
        assert student_ids(got) == student_ids(expected)

    def test_limit_and_offset(self, uni):
        order = sorted(STUDENTS, key=lambda s: (s["last_name"]))
        assert student_ids(uni.Student.to_dicts(order_by="last_name", limit=3)) == student_ids(order[:3])
        assert student_ids(uni.Student.to_dicts(order_by="last_name", limit=3, offset=2)) == student_ids(order[2:5])
        assert student_ids(uni.Student.to_dicts(order_by="last_name", offset=6)) == student_ids(order[6:])
        assert len(uni.Student.to_dicts(limit=4)) == 4
        assert uni.Student.to_dicts(limit=0) == []

    def test_limit_without_order_is_by_key(self, uni):
        assert student_ids(uni.Student.to_dicts(limit=2)) == [1, 2]

    def test_order_of_a_projection_by_a_computed_attribute(self, uni):
        got = uni.Student.proj(n="length(first_name)").to_dicts(order_by=["n DESC", "KEY"], limit=2)
        expected = sorted(STUDENTS, key=lambda s: (-len(s["first_name"]), s["student_id"]))[:2]
        assert student_ids(got) == student_ids(expected)

    def test_order_by_an_aggregate(self, uni):
        import collections

        counts = collections.Counter(e["student_id"] for e in university.ENROLL)
        got = uni.Student.aggr(uni.Enroll, n="count(*)").to_dicts(order_by=["n DESC", "student_id DESC"], limit=3)
        expected = sorted((s["student_id"] for s in STUDENTS), key=lambda s: (-counts.get(s, 0), -s))[:3]
        assert student_ids(got) == expected

    def test_order_by_errors(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.to_dicts(order_by="nickname")
        with pytest.raises(dj.DataJointError):
            uni.Student.to_dicts(order_by="student_id; DROP TABLE x")
        with pytest.raises(dj.DataJointError):
            uni.Student.to_dicts(order_by=["student_id SIDEWAYS"])

    def test_all_fetch_methods_accept_paging(self, uni):
        assert len(uni.Student.to_pandas(limit=2, offset=1)) == 2
        assert len(uni.Student.to_arrays(limit=2)) == 2
        assert len(uni.Student.to_arrays("last_name", limit=2, order_by="KEY DESC")) == 2
        assert uni.Student.to_arrays("student_id", limit=2, order_by="KEY DESC").tolist() == [8, 7]


# ----------------------------------------------------------------------------------------------
# the deprecated fetch()
# ----------------------------------------------------------------------------------------------
class TestDeprecatedFetch:
    def test_fetch_without_arguments_is_a_structured_array(self, uni):
        with pytest.warns(DeprecationWarning):
            records = uni.Student.fetch(order_by="KEY")
        assert records.dtype.names == STUDENT_KEYS
        assert records["student_id"].tolist() == sorted(s["student_id"] for s in STUDENTS)

    def test_fetch_attributes(self, uni):
        with pytest.warns(DeprecationWarning):
            first, last = uni.Student.fetch("first_name", "last_name", order_by="KEY")
        ordered = sorted(STUDENTS, key=lambda s: s["student_id"])
        assert first.tolist() == [s["first_name"] for s in ordered]
        assert last.tolist() == [s["last_name"] for s in ordered]
        with pytest.warns(DeprecationWarning):
            single = uni.Student.fetch("home_state", order_by="KEY")
        assert single.tolist() == [s["home_state"] for s in ordered]

    def test_fetch_key(self, uni):
        with pytest.warns(DeprecationWarning):
            keys = uni.Student.fetch("KEY", order_by="KEY")
        assert keys == [{"student_id": s["student_id"]} for s in sorted(STUDENTS, key=lambda s: s["student_id"])]
        with pytest.warns(DeprecationWarning):
            last, keys = uni.Student.fetch("last_name", "KEY", order_by="KEY DESC")
        assert keys[0] == {"student_id": 8} and last[0] == "Thompson"

    def test_fetch_as_dict(self, uni):
        with pytest.warns(DeprecationWarning):
            rows = uni.Student.fetch(as_dict=True, order_by="KEY")
        assert rows == sorted(STUDENTS, key=lambda s: s["student_id"])
        with pytest.warns(DeprecationWarning):
            rows = uni.Student.fetch("sex", "date_of_birth", as_dict=True)
        assert len(rows) == len(STUDENTS) and set(rows[0]) == {"sex", "date_of_birth"}

    def test_fetch_frame(self, uni):
        with pytest.warns(DeprecationWarning):
            frame = uni.Student.fetch(format="frame")
        assert isinstance(frame, pandas.DataFrame) and list(frame.index.names) == ["student_id"]
        assert len(frame) == len(STUDENTS)

    def test_fetch_limit_offset(self, uni):
        with pytest.warns(DeprecationWarning):
            records = uni.Student.fetch(limit=3, offset=2, order_by="KEY DESC")
        assert records["student_id"].tolist() == [6, 5, 4]

    def test_fetch_none_is_an_error(self, uni):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with pytest.raises(dj.DataJointError):
                uni.Student.fetch(None)

    def test_misspelled_attribute_in_a_restriction(self, uni):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with pytest.raises(dj.DataJointError):
                (uni.Student & 'home_sate = "CA"').fetch()

    def test_warning_points_at_the_caller(self, uni):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            uni.Student.fetch()
        deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        assert deprecations and deprecations[0].filename == __file__


# ----------------------------------------------------------------------------------------------
# previews
# ----------------------------------------------------------------------------------------------
class _CountingCursor:
    def __init__(self, cursor, counter):
        self._cursor, self._counter = cursor, counter

    def fetchall(self):
        rows = self._cursor.fetchall()
        self._counter["rows"] += len(rows)
        return rows

    def fetchmany(self, size=None):
        rows = self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()
        self._counter["rows"] += len(rows)
        return rows

    def fetchone(self):
        row = self._cursor.fetchone()
        self._counter["rows"] += row is not None
        return row

    def __iter__(self):
        for row in self._cursor:
            self._counter["rows"] += 1
            yield row

    def __getattr__(self, name):
        return getattr(self._cursor, name)


@pytest.fixture
def big(make_schema):
    schema = make_schema()

    @schema
    class Big(dj.Manual):
        definition = """
        item : int32
        ---
        word : varchar(16)
        """

    Big.insert(((i, f"w{i}") for i in range(3000)))
    return Big


def counting(monkeypatch, connection):
    counter = {"rows": 0, "sql": []}
    original = connection.query

    def query(sql, args=(), **kwargs):
        counter["sql"].append(sql)
        return _CountingCursor(original(sql, args, **kwargs), counter)

    monkeypatch.setattr(connection, "query", query)
    return counter


class TestPreview:
    def test_html_preview_is_bounded(self, big, connection, monkeypatch):
        with dj.config.override(display__limit=7):
            counter = counting(monkeypatch, connection)
            html = big()._repr_html_()
        assert counter["rows"] <= 7 + 1 + 1  # limit + 1 rows, plus the row of the count
        assert html.count("<tr>") <= 7 + 2  # header, rows, and one "more" row
        assert "3000" in html  # the total count
        assert "w0" in html and "w6" in html and "w7" not in html

    def test_text_preview_is_bounded(self, big, connection, monkeypatch):
        with dj.config.override(display__limit=5):
            counter = counting(monkeypatch, connection)
            text = repr(big())
        assert counter["rows"] <= 5 + 1 + 1
        assert "3000" in text
        assert len(text.strip().splitlines()) <= 5 + 4

    def test_preview_of_a_derived_expression_is_bounded(self, big, connection, monkeypatch):
        with dj.config.override(display__limit=4):
            counter = counting(monkeypatch, connection)
            html = (big & "item >= 100").proj(double="item * 2")._repr_html_()
        assert counter["rows"] <= 4 + 1 + 1
        assert "2900" in html and "200" in html

    def test_primary_key_marked(self, uni):
        html = uni.Enroll.extend(uni.Grade)._repr_html_()
        headers = re.findall(r"<th[^>]*>.*?</th>", html, flags=re.S)
        assert len(headers) == len(uni.Enroll.extend(uni.Grade).heading.names)
        key_headers = [h for h in headers if "dj-key" in h]
        assert len(key_headers) == len(university.ENROLL_KEYS)
        assert all(any(f">{name}<" in h for h in key_headers) for name in university.ENROLL_KEYS)
        assert not any(">grade<" in h for h in key_headers)
        text = repr(uni.Student)
        assert "*student_id" in text and "*first_name" not in text

    def test_blob_placeholders(self, sample, connection, monkeypatch):
        counter = counting(monkeypatch, connection)
        html = sample()._repr_html_()
        assert "&lt;blob&gt;" in html
        assert "0, 1, 2" not in html and "[[0" not in html
        # the blob columns are not even selected
        preview_sql = [q for q in counter["sql"] if "count(" not in q.lower()]
        quote = connection.backend.quote
        assert preview_sql and all(quote("payload") not in q and quote("raw") not in q for q in preview_sql)

    def test_every_value_is_escaped(self, sample):
        html = sample()._repr_html_()
        assert HOSTILE not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert 'a &amp; b &quot;c&quot; &#x27;d&#x27;' in html
        assert "<label>" not in html and "<b>samples</b>" not in html

    def test_preview_of_an_empty_result(self, uni):
        html = (uni.Student & False)._repr_html_()
        assert "student_id" in html and "0" in html

    def test_preview_follows_a_top_ordering(self, uni):
        with dj.config.override(display__limit=3):
            text = repr(uni.Student & dj.Top(None, "student_id DESC"))
        lines = [line.split()[0] for line in text.splitlines()[2:5]]
        assert lines == ["8", "7", "6"]

    def test_preview_method(self, uni):
        text = uni.Student.preview(limit=2)
        assert "Lovelace" in text and "Hopper" not in text
