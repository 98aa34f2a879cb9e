"""Connection.set_query_cache: SELECT results answered from files; nothing written while it is on.
And ``query(..., as_dict=True)``."""

from __future__ import annotations

import datetime
import decimal
import uuid

import numpy as np
import pytest

import dj_jupyter as dj


def declare(schema):
    @schema
    class Sample(dj.Manual):
        definition = """
        sample : int32
        ---
        label : varchar(16)
        taken = null : datetime
        day = null : date
        amount = null : decimal(8,3)
        ident = null : uuid
        meta = null : json
        good = null : bool
        weight = null : float64
        trace = null : <blob>
        """

    return Sample


ROWS = [
    {"sample": 1, "label": "first", "taken": datetime.datetime(2024, 5, 1, 12, 30, 15),
     "day": datetime.date(2024, 5, 1), "amount": decimal.Decimal("12.500"), "ident": uuid.UUID(int=7),
     "meta": {"k": [1, "two"]}, "good": True, "weight": 0.25, "trace": np.arange(6.0).reshape(2, 3)},
    {"sample": 2, "label": "second"},
]


@pytest.fixture
def cached(connection, make_schema, tmp_path):
    sample = declare(make_schema())
    sample.insert(ROWS)
    connection.config["query_cache"] = str(tmp_path / "cache")
    yield connection, sample, tmp_path / "cache"
    connection.set_query_cache(None)
    del connection.config["query_cache"]


def same_rows(left, right):
    assert len(left) == len(right)
    for a, b in zip(left, right):
        assert a.keys() == b.keys()
        for name in a:
            if isinstance(a[name], np.ndarray):
                np.testing.assert_array_equal(a[name], b[name])
            else:
                assert a[name] == b[name], name


def test_query_returns_dicts_when_asked(connection, make_schema):
    sample = declare(make_schema())
    sample.insert(ROWS)
    rows = connection.query(f"SELECT sample, label FROM {sample.full_table_name} ORDER BY sample",
                            as_dict=True).fetchall()
    assert rows == [{"sample": 1, "label": "first"}, {"sample": 2, "label": "second"}]
    cursor = connection.query(f"SELECT label FROM {sample.full_table_name} ORDER BY sample", as_dict=True)
    assert cursor.fetchone() == {"label": "first"} and [r for r in cursor] == [{"label": "second"}]


def test_cached_results_are_the_database_results_and_outlive_changes(cached):
    connection, sample, folder = cached
    fresh = sample.to_dicts(order_by="sample")
    connection.set_query_cache("frozen")
    first = sample.to_dicts(order_by="sample")
    same_rows(first, fresh)
    assert any(folder.iterdir())
    connection.set_query_cache(None)
    sample.insert1({"sample": 3, "label": "third"})
    (sample & {"sample": 1}).delete()
    connection.set_query_cache("frozen")
    same_rows(sample.to_dicts(order_by="sample"), fresh)  # answered from the files
    connection.set_query_cache("later")  # another tag asks the database again
    assert [r["sample"] for r in sample.to_dicts(order_by="sample")] == [2, 3]
    connection.set_query_cache(None)
    assert [r["sample"] for r in sample.to_dicts(order_by="sample")] == [2, 3]


def test_nothing_is_written_while_caching(cached):
    connection, sample, _ = cached
    connection.set_query_cache("frozen")
    attempts = [lambda: sample.insert1({"sample": 9, "label": "nine"}),
                lambda: (sample & {"sample": 2}).delete(),
                lambda: sample.update1({"sample": 2, "label": "changed"}),
                lambda: connection.query(f"DELETE FROM {sample.full_table_name}")]
    for attempt in attempts:
        with pytest.raises(dj.DataJointError, match="query caching is on|written while query caching"):
            attempt()
    with pytest.raises(dj.DataJointError, match="query caching"):
        with connection.transaction:
            pass
    connection.set_query_cache(None)
    assert sorted(r["label"] for r in sample.to_dicts()) == ["first", "second"]


def test_purge_removes_the_cached_files_and_a_folder_is_required(cached):
    connection, sample, folder = cached
    connection.set_query_cache("frozen")
    len(sample)
    assert any(folder.iterdir())
    connection.purge_query_cache()
    assert not any(folder.iterdir())
    del connection.config["query_cache"]
    with pytest.raises(dj.DataJointError, match="query_cache"):
        sample.to_dicts()


def test_a_foreign_file_in_the_cache_folder_is_not_trusted(cached):
    connection, sample, folder = cached
    connection.set_query_cache("frozen")
    expected = len(sample)
    for path in folder.iterdir():
        path.write_bytes(b"not a blob")
    assert len(sample) == expected  # asked the database again
