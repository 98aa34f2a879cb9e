"""Tables, schemas and connections: DataJoint 2.3's user-facing behaviour (settings: test_settings.py)."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pandas as pd
import pytest

import dj_jupyter as dj
from dj_jupyter import errors


def declare_basics(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        # experimental subject
        subject_id : int32
        ---
        name : varchar(16)
        weight = null : float32
        """

    @schema
    class Color(dj.Lookup):
        definition = """
        color : varchar(8)
        ---
        rgb : char(6)
        """
        contents = [("red", "ff0000"), ("blue", "0000ff")]

    @schema
    class Scan(dj.Imported):
        definition = """
        -> Subject
        ---
        frames : int32
        """

    @schema
    class Square(dj.Computed):
        definition = """
        -> Subject
        ---
        squared : int64
        """

        class Digit(dj.Part):
            definition = """
            -> master
            position : int8
            ---
            digit : int8
            """

    return Subject, Color, Scan, Square


@pytest.fixture
def schema(make_schema):
    return make_schema()


@pytest.fixture
def tables(schema):
    return declare_basics(schema)


def rows_of(table):
    return sorted((tuple(sorted(r.items())) for r in table.to_dicts()))


def subject_rows(table):
    return {r["subject_id"]: (r["name"], r["weight"]) for r in table.to_dicts()}


# ---- insert forms ---------------------------------------------------------------------------------------
def test_insert1_dict_and_tuple(tables):
    Subject = tables[0]
    Subject.insert1({"subject_id": 1, "name": "one"})
    Subject.insert1((2, "two", 2.5))
    Subject.insert1([3, "three", None])
    assert subject_rows(Subject) == {1: ("one", None), 2: ("two", 2.5), 3: ("three", None)}


def test_insert_sequences_of_dicts_and_tuples(tables):
    Subject = tables[0]
    Subject.insert([{"subject_id": 1, "name": "a"}, {"subject_id": 2, "name": "b", "weight": 1.5}])
    Subject.insert([(3, "c", None), [4, "d", 4.0]])
    Subject.insert(({"subject_id": i, "name": f"g{i}"} for i in range(10, 13)))  # any iterable
    assert subject_rows(Subject) == {1: ("a", None), 2: ("b", 1.5), 3: ("c", None), 4: ("d", 4.0),
                                     10: ("g10", None), 11: ("g11", None), 12: ("g12", None)}


def test_insert_numpy_records(tables):
    Subject = tables[0]
    records = np.array([(1, "a", 0.5), (2, "b", np.nan)],
                       dtype=[("subject_id", "i4"), ("name", "U8"), ("weight", "f4")])
    Subject.insert(records)
    Subject.insert1(np.array([(3, "c", 1.0)], dtype=records.dtype)[0])
    assert subject_rows(Subject) == {1: ("a", 0.5), 2: ("b", None), 3: ("c", 1.0)}


def test_insert_pandas_dataframe(tables):
    Subject = tables[0]
    Subject.insert(pd.DataFrame({"subject_id": [1, 2], "name": ["a", "b"], "weight": [1.0, np.nan]}))
    indexed = pd.DataFrame({"name": ["c"], "weight": [3.0]}, index=pd.Index([3], name="subject_id"))
    Subject.insert(indexed)  # a named index is part of the row
    assert subject_rows(Subject) == {1: ("a", 1.0), 2: ("b", None), 3: ("c", 3.0)}
    # a frame fetched with to_pandas() goes back in as it came out
    frame = Subject.to_pandas()
    Subject.delete_quick()
    Subject.insert(frame)
    assert subject_rows(Subject) == {1: ("a", 1.0), 2: ("b", None), 3: ("c", 3.0)}


def test_insert_from_a_query_expression(schema, tables):
    Subject, _, Scan, _ = tables
    Subject.insert([(i, f"s{i}", None) for i in range(1, 6)])
    Scan.insert(Subject.proj(frames="subject_id * 10") & "subject_id < 4", allow_direct_insert=True)
    assert {r["subject_id"]: r["frames"] for r in Scan.to_dicts()} == {1: 10, 2: 20, 3: 30}
    # another table's rows by class, with the extra attributes ignored
    Other = type("Other", (dj.Manual,), {"definition": "subject_id : int32\n---\nname : varchar(16)"})
    schema(Other, context={})
    Other.insert(Subject, ignore_extra_fields=True)
    assert len(Other) == 5
    with pytest.raises(errors.UnknownAttributeError):
        Other.insert(Subject & "subject_id = 1", skip_duplicates=True)


def test_skip_duplicates_keeps_the_existing_row(tables):
    Subject = tables[0]
    Subject.insert1({"subject_id": 1, "name": "first"})
    Subject.insert([{"subject_id": 1, "name": "second"}, {"subject_id": 2, "name": "new"}], skip_duplicates=True)
    assert subject_rows(Subject) == {1: ("first", None), 2: ("new", None)}


def test_replace_overwrites_the_existing_row(tables):
    Subject = tables[0]
    Subject.insert1({"subject_id": 1, "name": "first", "weight": 5.0})
    Subject.insert1({"subject_id": 1, "name": "second", "weight": 6.0}, replace=True)
    Subject.insert([{"subject_id": 1, "name": "third", "weight": 7.0}, {"subject_id": 2, "name": "x"}],
                   replace=True)
    assert subject_rows(Subject) == {1: ("third", 7.0), 2: ("x", None)}
    with pytest.raises(dj.DataJointError):
        Subject.insert1({"subject_id": 1, "name": "both"}, replace=True, skip_duplicates=True)


def test_ignore_extra_fields(tables):
    Subject = tables[0]
    with pytest.raises(errors.UnknownAttributeError) as info:
        Subject.insert1({"subject_id": 1, "name": "a", "color": "red"})
    assert "color" in str(info.value) and "ignore_extra_fields" in info.value.hint
    assert len(Subject) == 0
    Subject.insert1({"subject_id": 1, "name": "a", "color": "red"}, ignore_extra_fields=True)
    assert subject_rows(Subject) == {1: ("a", None)}


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_chunk_size(tables, chunk_size):
    Subject = tables[0]
    Subject.insert(({"subject_id": i, "name": f"n{i}"} for i in range(50)), chunk_size=chunk_size)
    assert len(Subject) == 50
    assert sorted(Subject.to_pandas().index) == list(range(50))


def test_failed_chunked_insert_inserts_nothing(tables):
    Subject = tables[0]
    rows = [{"subject_id": i, "name": "n"} for i in range(20)] + [{"subject_id": 3, "name": "duplicate"}]
    with pytest.raises(errors.DuplicateError):
        Subject.insert(rows, chunk_size=5)
    assert len(Subject) == 0


def test_insert_a_single_dict_into_insert_is_refused(tables):
    with pytest.raises(dj.DataJointError) as info:
        tables[0].insert({"subject_id": 1, "name": "a"})
    assert "insert1" in str(info.value)


def test_tuple_of_the_wrong_length_is_refused(tables):
    with pytest.raises(dj.DataJointError) as info:
        tables[0].insert1((1, "a"))
    assert info.value.hint


# ---- update1 ----------------------------------------------------------------------------------------------
def test_update1_changes_secondary_attributes(tables):
    Subject = tables[0]
    Subject.insert([(1, "a", 1.0), (2, "b", 2.0)])
    Subject.update1({"subject_id": 1, "name": "changed"})
    Subject.update1({"subject_id": 2, "weight": None})
    assert subject_rows(Subject) == {1: ("changed", 1.0), 2: ("b", None)}


@pytest.mark.parametrize("row,error", [
    ({"subject_id": 99, "name": "x"}, dj.DataJointError),  # no such row
    ({"name": "x"}, dj.DataJointError),  # no key
    ({"subject_id": 1, "nickname": "x"}, errors.UnknownAttributeError),
    ({"subject_id": 1, "name": None}, dj.DataJointError),  # not nullable
])
def test_update1_refusals_change_nothing(tables, row, error):
    Subject = tables[0]
    Subject.insert1((1, "a", 1.0))
    with pytest.raises(error) as info:
        Subject.update1(row)
    assert info.value.hint
    assert subject_rows(Subject) == {1: ("a", 1.0)}


# ---- tiers, names and Lookup contents ----------------------------------------------------------------------
def test_table_name_prefixes(tables):
    Subject, Color, Scan, Square = tables
    assert Subject.table_name == "subject"
    assert Color.table_name == "#color"
    assert Scan.table_name == "_scan"
    assert Square.table_name == "__square"
    assert Square.Digit.table_name == "__square__digit"
    assert Square.Digit.master is Square


def test_camel_case_names_become_snake_case(schema):
    @schema
    class SessionTrial(dj.Manual):
        definition = "trial_id : int32"

        class EyeTrace2(dj.Part):
            definition = "-> master\nsample : int32"

    assert SessionTrial.table_name == "session_trial"
    assert SessionTrial.EyeTrace2.table_name == "session_trial__eye_trace2"
    assert set(schema.list_tables()) >= {"session_trial", "session_trial__eye_trace2"}


@pytest.mark.parametrize("name", ["subject", "my_table", "Bad_Name", "_Hidden"])
def test_class_names_must_be_camel_case(schema, name):
    cls = type(name, (dj.Manual,), {"definition": "x : int32"})
    with pytest.raises(dj.DataJointError) as info:
        schema(cls, context={})
    assert "CamelCase" in str(info.value) and info.value.hint
    assert schema.list_tables() == []


def test_lookup_contents_are_inserted_once(schema, tables):
    Color = tables[1]
    assert rows_of(Color) == sorted([(("color", "blue"), ("rgb", "0000ff")), (("color", "red"), ("rgb", "ff0000"))])
    # decorating again (e.g. re-running a notebook cell) does not duplicate or fail
    again = type("Color", (dj.Lookup,), {"definition": Color.definition, "contents": Color.contents})
    schema(again, context={})
    assert len(again) == 2


def test_direct_insert_into_auto_populated_tables_is_refused(tables):
    Subject, _, Scan, Square = tables
    Subject.insert1((1, "a", None))
    for table, row in [(Scan, {"subject_id": 1, "frames": 3}), (Square, {"subject_id": 1, "squared": 1}),
                       (Square.Digit, {"subject_id": 1, "position": 0, "digit": 1})]:
        with pytest.raises(dj.DataJointError) as info:
            table.insert1(row)
        assert "allow_direct_insert" in info.value.hint
        assert len(table) == 0
    Scan.insert1({"subject_id": 1, "frames": 3}, allow_direct_insert=True)
    Square.insert1({"subject_id": 1, "squared": 1}, allow_direct_insert=True)
    Square.Digit.insert1({"subject_id": 1, "position": 0, "digit": 1}, allow_direct_insert=True)
    assert (len(Scan), len(Square), len(Square.Digit)) == (1, 1, 1)


def test_manual_and_lookup_accept_direct_inserts(tables):
    Subject, Color, _, _ = tables
    Color.insert1(("green", "00ff00"))
    Subject.insert1((1, "a", None))
    assert len(Color) == 3 and len(Subject) == 1


def test_native_types_are_accepted_with_a_warning(schema, caplog):
    with caplog.at_level(logging.WARNING, logger="dj_jupyter"):
        @schema
        class Legacy(dj.Manual):
            definition = """
            legacy_id : int unsigned
            ---
            value : double
            """

    assert any("int unsigned" in record.getMessage() for record in caplog.records)
    Legacy.insert1((4000000000, 0.5))
    assert Legacy.fetch1() == {"legacy_id": 4000000000, "value": 0.5}


# ---- errors ------------------------------------------------------------------------------------------------
def test_duplicate_error(tables):
    Subject = tables[0]
    Subject.insert1((1, "a", None))
    with pytest.raises(errors.DuplicateError) as info:
        Subject.insert1((1, "again", None))
    assert isinstance(info.value, dj.DataJointError)
    assert "skip_duplicates" in info.value.hint
    assert subject_rows(Subject) == {1: ("a", None)}


def test_integrity_error_for_a_missing_parent(tables):
    Scan = tables[2]
    with pytest.raises(errors.IntegrityError) as info:
        Scan.insert1({"subject_id": 42, "frames": 1}, allow_direct_insert=True)
    assert isinstance(info.value, dj.DataJointError) and info.value.hint
    assert len(Scan) == 0


@pytest.mark.parametrize("row", [{"subject_id": 1}, {"name": "no key"}, {"subject_id": None, "name": "null key"},
                                 {"subject_id": 1, "name": None}])
def test_missing_attribute_error(tables, row):
    Subject = tables[0]
    with pytest.raises(errors.MissingAttributeError) as info:
        Subject.insert1(row)
    assert info.value.hint
    assert len(Subject) == 0


def test_unknown_attribute_error_in_a_restriction(tables):
    Subject = tables[0]
    with pytest.raises(errors.UnknownAttributeError) as info:
        (Subject & "nickname = 'x'").to_dicts()
    assert "nickname" in str(info.value) and info.value.hint


def test_missing_table_error(schema, tables):
    missing = dj.FreeTable(schema.connection, schema.database, "not_there")
    with pytest.raises(errors.MissingTableError) as info:
        missing.to_dicts()
    assert info.value.hint

    class Undeclared(dj.Manual):
        definition = "x : int32"

    with pytest.raises(dj.DataJointError):
        Undeclared.insert1({"x": 1})


def test_error_hierarchy():
    for cls in (errors.DuplicateError, errors.IntegrityError, errors.MissingAttributeError,
                errors.UnknownAttributeError, errors.MissingTableError):
        assert issubclass(cls, dj.DataJointError)
    assert dj.DataJointError("x", hint="do y").hint == "do y"
    assert "do y" in str(dj.DataJointError("x", hint="do y"))


# ---- fetching ----------------------------------------------------------------------------------------------
def test_to_dicts_to_pandas_fetch1_len_bool(tables):
    Subject = tables[0]
    assert len(Subject) == 0 and not Subject and Subject.to_dicts() == []
    assert list(Subject.to_pandas().index.names) == ["subject_id"]
    Subject.insert([(1, "a", 1.5), (2, "b", None), (3, "c", 3.5)])
    assert len(Subject) == 3 and bool(Subject)
    assert Subject.to_dicts() == [{"subject_id": 1, "name": "a", "weight": 1.5},
                                  {"subject_id": 2, "name": "b", "weight": None},
                                  {"subject_id": 3, "name": "c", "weight": 3.5}]
    frame = Subject.to_pandas()
    assert list(frame.index.names) == ["subject_id"]
    assert list(frame.index) == [1, 2, 3]
    assert list(frame.columns) == ["name", "weight"]
    assert frame.loc[3, "name"] == "c"
    one = Subject & {"subject_id": 2}
    assert one.fetch1() == {"subject_id": 2, "name": "b", "weight": None}
    assert one.fetch1("name") == "b"
    assert one.fetch1("name", "subject_id") == ("b", 2)
    assert len(Subject & "weight > 1") == 2
    assert not (Subject & {"subject_id": 99})
    assert len(Subject & [{"subject_id": 1}, {"subject_id": 3}]) == 2
    assert len(Subject & 'name = "a"') == 1  # MySQL-flavoured quoting is accepted


def test_fetch1_needs_exactly_one_row(tables):
    Subject = tables[0]
    with pytest.raises(dj.DataJointError):
        Subject.fetch1()
    Subject.insert([(1, "a", None), (2, "b", None)])
    with pytest.raises(dj.DataJointError):
        Subject.fetch1()


def test_heading_and_primary_key(tables):
    Subject, _, _, Square = tables
    assert Subject.primary_key == ["subject_id"]
    assert Subject.heading.names == ["subject_id", "name", "weight"]
    assert Subject.heading["weight"].nullable and not Subject.heading["name"].nullable
    assert Subject.heading.table_comment == "experimental subject"
    assert Square.Digit.primary_key == ["subject_id", "position"]


# ---- connection and transactions -------------------------------------------------------------------------------
def second_connection(connection):
    return dj.Connection(password=connection._password, **connection.conn_info)


def test_transaction_commits(connection, tables):
    Subject = tables[0]
    with connection.transaction:
        assert connection.in_transaction
        Subject.insert1((1, "a", None))
        Subject.insert1((2, "b", None))
    assert not connection.in_transaction
    other = second_connection(connection)
    try:
        assert len(dj.FreeTable(other, Subject.database, Subject.table_name)) == 2
    finally:
        other.close()


def test_transaction_rolls_back_on_exception(connection, tables):
    Subject = tables[0]
    Subject.insert1((1, "kept", None))
    with pytest.raises(ZeroDivisionError):
        with connection.transaction:
            Subject.insert1((2, "lost", None))
            (Subject & {"subject_id": 1}).delete_quick()
            1 / 0
    assert not connection.in_transaction
    assert subject_rows(Subject) == {1: ("kept", None)}


def test_transactions_do_not_nest(connection, tables):
    Subject = tables[0]
    with pytest.raises(dj.DataJointError) as info:
        with connection.transaction:
            Subject.insert1((1, "a", None))
            with connection.transaction:
                Subject.insert1((2, "b", None))
    assert info.value.hint
    assert not connection.in_transaction
    assert len(Subject) == 0
    connection.start_transaction()
    with pytest.raises(dj.DataJointError):
        connection.start_transaction()
    connection.cancel_transaction()
    assert not connection.in_transaction


def test_failed_insert_inside_a_transaction_leaves_it_usable_for_rollback(connection, tables):
    Subject = tables[0]
    Subject.insert1((1, "a", None))
    with pytest.raises(errors.DuplicateError):
        with connection.transaction:
            Subject.insert1((2, "b", None))
            Subject.insert1((1, "dup", None))
    assert subject_rows(Subject) == {1: ("a", None)}


def test_conn_uses_config(connection, schema):
    import dj_jupyter.connection as connection_module

    info = connection.conn_info
    settings = {"database.backend": info["backend"], "database.path": info.get("path")}
    if info["backend"] != "sqlite":
        settings.update({"database.host": info["host"], "database.port": info["port"], "database.user": info["user"],
                         "database.password": connection._password})
    saved = connection_module._global.pop("connection", None)
    try:
        with dj.config.override(settings):
            first = dj.conn(reset=True)
            assert dj.conn() is first
            assert schema.database in dj.list_schemas()
            first.close()
    finally:
        connection_module._global.pop("connection", None)
        if saved is not None:
            connection_module._global["connection"] = saved


def test_list_schemas(connection, make_schema):
    names = [make_schema().database for _ in range(2)]
    listed = dj.list_schemas(connection)
    assert set(names) <= set(listed)
    assert not any(name.startswith("~") for name in listed)


# ---- schemas ----------------------------------------------------------------------------------------------------
def test_deferred_activation(connection, schema_name):
    schema = dj.Schema()
    assert not schema.is_activated()

    @schema
    class Animal(dj.Manual):
        definition = "animal_id : int32"

    assert Animal.database is None
    assert schema_name not in dj.list_schemas(connection)
    schema.activate(schema_name, connection=connection)
    try:
        assert schema.is_activated() and schema.database == schema_name
        assert schema.list_tables() == ["animal"]
        Animal.insert1({"animal_id": 1})
        assert len(Animal) == 1
        with pytest.raises(dj.DataJointError):
            schema.activate("another_name")
    finally:
        schema.drop(prompt=False, force=True)


def test_list_tables_in_dependency_order(schema, tables):
    names = schema.list_tables()
    assert set(names) == {"subject", "#color", "_scan", "__square", "__square__digit"}
    assert names.index("subject") < names.index("_scan")
    assert names.index("subject") < names.index("__square") < names.index("__square__digit")


def test_schema_drop(connection, schema, tables):
    Subject = tables[0]
    Subject.insert1((1, "a", None))
    schema.drop(prompt=False)
    assert schema.database not in dj.list_schemas(connection)
    assert not Subject().is_declared
    schema.drop(prompt=False)  # dropping twice is harmless


def test_schema_drop_asks_without_a_terminal(schema, tables, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal to ask on
    with dj.config.override(safemode=True):
        with pytest.raises(dj.DataJointError) as info:
            schema.drop()
    assert "prompt=False" in info.value.hint
    assert set(schema.list_tables()) >= {"subject"}


def test_virtual_schema_rebuilds_classes_from_the_database(connection, schema, tables):
    Subject, Color, Scan, Square = tables
    Subject.insert([(1, "a", 0.5), (2, "b", None)])
    Square.insert([{"subject_id": 1, "squared": 1}], allow_direct_insert=True)
    Square.Digit.insert([{"subject_id": 1, "position": 0, "digit": 1}], allow_direct_insert=True)

    other = second_connection(connection)  # a connection that never saw the classes
    module = dj.virtual_schema(schema.database, connection=other)
    assert issubclass(module.Subject, dj.Manual)
    assert issubclass(module.Color, dj.Lookup)
    assert issubclass(module.Scan, dj.Imported)
    assert issubclass(module.Square, dj.Computed)
    assert issubclass(module.Square.Digit, dj.Part)
    for virtual, real in [(module.Subject, Subject), (module.Color, Color), (module.Scan, Scan),
                          (module.Square, Square), (module.Square.Digit, Square.Digit)]:
        assert virtual.table_name == real.table_name
        assert virtual.full_table_name == real.full_table_name
        assert virtual.heading.names == real.heading.names
        assert virtual.primary_key == real.primary_key
        assert rows_of(virtual) == rows_of(real)
    assert module.Square.Digit.master is module.Square
    assert module.Square.Digit.describe().splitlines()[0] in ("-> Square", "-> master")
    module.Subject.insert1((3, "c", None))
    assert len(Subject) == 3
    assert module.Square.parts() == [Square.Digit.full_table_name]
    assert module.Square.Digit.parents() == [Square.full_table_name]
    other.close()


def test_virtual_schema_of_a_missing_schema(connection, schema_name):
    with pytest.raises(dj.DataJointError):
        dj.virtual_schema(schema_name, connection=connection)
    assert schema_name not in dj.list_schemas(connection)


def test_invalid_schema_name(connection):
    with pytest.raises(dj.DataJointError):
        dj.Schema("bad-name; drop", connection=connection)
