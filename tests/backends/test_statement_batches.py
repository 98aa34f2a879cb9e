"""Statements sent together (one round trip on PostgreSQL and MariaDB) and long statements.

populate() sends BEGIN with its check, a savepoint with make()'s first statement, and the job
records with COMMIT as one batch; these tests pin down what a batch returns and how it fails.
Long statements (many keys, many parameters) take a different driver path on PostgreSQL.
"""

from __future__ import annotations

import pytest

import dj_jupyter as dj
from dj_jupyter.errors import DuplicateError


def declare(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int32
        ---
        label : varchar(24)
        """

    return Item


def test_a_batch_returns_each_statements_own_result(make_schema, connection):
    Item = declare(make_schema())
    Item.insert([(i, f"item {i}") for i in range(5)])
    ref, p = Item.full_table_name, connection.backend.placeholder
    q = connection.backend.quote
    with connection.transaction:
        counted, updated, listed = connection.batch([
            (f"SELECT COUNT(*) FROM {ref} WHERE {q('item_id')} < {p}", (3,)),
            (f"UPDATE {ref} SET {q('label')} = {p} WHERE {q('item_id')} >= {p}", ("late", 3)),
            (f"SELECT {q('item_id')} FROM {ref} WHERE {q('label')} = {p} ORDER BY {q('item_id')}", ("late",)),
        ])
        assert counted.fetchone()[0] == 3
        assert updated.rowcount == 2
        assert [row[0] for row in listed.fetchall()] == [3, 4]
    assert sorted(Item.to_arrays("label")) == ["item 0", "item 1", "item 2", "late", "late"]


def test_a_failing_statement_in_a_batch_raises_its_own_error(make_schema, connection):
    Item = declare(make_schema())
    Item.insert1((1, "one"))
    insert = (f"INSERT INTO {Item.full_table_name} ({connection.backend.quote('item_id')}, "
              f"{connection.backend.quote('label')}) VALUES ({connection.backend.placeholder}, "
              f"{connection.backend.placeholder})")
    with pytest.raises(DuplicateError):
        with connection.transaction:
            connection.batch([(insert, (2, "two")), (insert, (1, "again")), (insert, (3, "three"))])
    assert Item.to_dicts() == [{"item_id": 1, "label": "one"}], "the rolled-back batch left rows behind"


def test_long_statements_with_percent_signs_select_the_right_rows(make_schema):
    """Hundreds of keys make a statement past the driver's statement cache; '%' in the restriction
    (modulo and LIKE) must survive the placeholder numbering."""
    Item = declare(make_schema())
    Item.insert([(i, f"{i}%off" if i % 3 else f"{i} full") for i in range(600)])
    keys = [{"item_id": i} for i in range(0, 600, 2)]
    query = Item & keys & "item_id % 7 = 0" & "label LIKE '%\\%off'"
    expected = [i for i in range(0, 600, 2) if i % 7 == 0 and i % 3]
    assert sorted(int(i) for i in query.to_arrays("item_id")) == expected
    assert len(query) == len(expected)
    (Item & keys).delete_quick()
    assert len(Item) == 300


def test_a_query_of_several_statements_leaves_the_connection_usable(connection):
    """SQLite and PostgreSQL refuse a text of several statements; MariaDB runs it (batches need that)
    and returns the first result. Either way the next query works."""
    try:
        first = connection.query("SELECT 1; SELECT 2").fetchall()
    except dj.DataJointError:
        assert connection.backend.name != "mysql"
    else:
        assert connection.backend.name == "mysql"
        assert [tuple(row) for row in first] == [(1,)]
    assert connection.query("SELECT 3").fetchone()[0] == 3
