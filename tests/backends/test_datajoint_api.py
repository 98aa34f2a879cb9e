"""DataJoint 2.3's smaller public names: Table.validate, inserts from CSV files, Schema.make_classes,
Schema.lineage, Connection.get_user, dj.Job and dj.logger."""

from __future__ import annotations

import logging
import uuid

import numpy as np
import pandas as pd
import pytest

import dj_jupyter as dj


class PositiveCount(dj.Codec):
    """A user codec whose validate() refuses what its encode() could not store."""

    name = "positive_count_api_test"

    def get_dtype(self, is_store: bool) -> str:
        return "int32"

    def encode(self, value, *, key=None, store_name=None):
        return int(value)

    def decode(self, stored, *, key=None):
        return stored

    def validate(self, value):
        if value <= 0:
            raise ValueError(f"{value} is not a positive count")


def declare(schema):
    @schema
    class Animal(dj.Manual):
        definition = """
        animal_id : int32
        ---
        name : varchar(16)
        born : date
        tag = null : uuid
        notes = null : json
        weight = 1.5 : float32
        """

    @schema
    class Recording(dj.Manual):
        definition = """
        -> Animal
        recording : int16
        ---
        trace = null : <blob>
        spikes = null : <positive_count_api_test>
        """

    @schema
    class Length(dj.Computed):
        definition = """
        -> Recording
        ---
        samples : int64
        """

        class Channel(dj.Part):
            definition = """
            -> master
            channel : int8
            """

        def make(self, key):
            self.insert1({**key, "samples": 0})

    return Animal, Recording, Length


@pytest.fixture
def schema(make_schema):
    return make_schema()


@pytest.fixture
def tables(schema):
    return declare(schema)


GOOD = {"animal_id": 1, "name": "Ada", "born": "2024-01-02", "tag": str(uuid.uuid4()), "notes": {"a": [1, 2]}}


# ---- validate -------------------------------------------------------------------------------------------
def test_validate_accepts_rows_that_insert_accepts_and_inserts_nothing(tables):
    Animal, _, _ = tables
    rows = [GOOD, {"animal_id": 2, "name": "Bo", "born": "2024-02-03"}, (3, "Cy", "2024-03-04", None, None, 2.0)]
    result = Animal.validate(rows)
    assert result and result.is_valid
    assert result.errors == [] and result.rows_checked == 3
    assert result.summary() == "Validation passed: 3 rows checked"
    result.raise_if_invalid()
    assert len(Animal()) == 0
    Animal.insert(rows)
    assert len(Animal()) == 3


def test_validate_lists_every_problem_with_its_row_and_attribute(tables):
    Animal, _, _ = tables
    rows = [
        GOOD,
        {"animal_id": 2, "born": "2024-01-01"},  # name missing
        {"animal_id": 3, "name": None, "born": "2024-01-01"},  # NULL where none is allowed
        {"name": "Dee", "born": "2024-01-01"},  # primary key missing
        {"animal_id": 5, "name": "Eve", "born": "2024-01-01", "tag": "not-a-uuid"},
        {"animal_id": 6, "name": "Fay", "born": "2024-01-01", "notes": {1, 2}},  # a set is not JSON
        {"animal_id": "seven", "name": "Gus", "born": "2024-01-01"},
        {"animal_id": 8, "name": "Hal", "born": "2024-01-01", "colour": "red"},
        (9, "too short"),
    ]
    result = Animal.validate(rows)
    assert not result and result.rows_checked == len(rows)
    where = {(index, name) for index, name, _ in result.errors}
    assert where == {(1, "name"), (2, "name"), (3, "animal_id"), (4, "tag"), (5, "notes"), (6, "animal_id"),
                     (7, "colour"), (8, None)}
    messages = {(index, name): message for index, name, message in result.errors}
    assert "Required field 'name' is missing" in messages[(1, "name")]
    assert "NULL value not allowed" in messages[(2, "name")]
    assert "Primary key field 'animal_id' is missing" in messages[(3, "animal_id")]
    assert messages[(7, "colour")] == "Field 'colour' not in table heading"
    # DataJoint's own wording where it checks the same thing
    assert messages[(4, "tag")] == "Invalid UUID format: not-a-uuid"
    assert messages[(5, "notes")] == "Value not JSON serializable: Object of type set is not JSON serializable"
    # a missing key attribute is both a missing required field and an incomplete key, as in DataJoint
    assert [name for index, name, _ in result.errors if index == 3] == ["animal_id", "animal_id"]
    summary = result.summary()
    assert summary.startswith(f"Validation failed: {len(result.errors)} error(s) in 9 rows")
    assert "  Row 1 in field 'name': Required field 'name' is missing" in summary.splitlines()
    assert "  Row 8: Incorrect number of attributes: 2 given, 6 expected" in summary.splitlines()
    with pytest.raises(dj.DataJointError, match="Validation failed"):
        result.raise_if_invalid()
    assert len(Animal()) == 0


def test_validate_summary_shows_the_first_ten_problems(tables):
    Animal, _, _ = tables
    result = Animal.validate([{"animal_id": i, "born": "2024-01-01"} for i in range(12)])
    assert len(result.errors) == 12
    lines = result.summary().splitlines()
    assert len(lines) == 12 and lines[-1] == "  ... and 2 more errors"


def test_validate_ignores_extra_fields_when_asked_and_reads_dataframes_and_records(tables):
    Animal, _, _ = tables
    extra = dict(GOOD, colour="red")
    assert not Animal.validate([extra])
    assert Animal.validate([extra], ignore_extra_fields=True)
    frame = pd.DataFrame([{"animal_id": 1, "name": "Ada", "born": "2024-01-02"},
                          {"animal_id": 2, "name": None, "born": "2024-01-02"}])
    result = Animal.validate(frame)
    assert [(i, n) for i, n, _ in result.errors] == [(1, "name")]
    records = np.array([(1, "Ada", "2024-01-02")], dtype=[("animal_id", "i4"), ("name", "U8"), ("born", "U10")])
    assert Animal.validate(records)


def test_validate_checks_codec_and_key_values(tables):
    _, Recording, _ = tables
    assert Recording.validate([{"animal_id": 1, "recording": 1, "trace": np.arange(5)}])
    result = Recording.validate([{"animal_id": 1, "recording": 1.5, "trace": {"any": "object"}, "spikes": 0}])
    assert [(i, n) for i, n, _ in result.errors] == [(0, "recording"), (0, "spikes")]
    assert "1.5 is not an integer" in result.errors[0][2]
    assert result.errors[1][2] == "Codec validation failed: 0 is not a positive count"


# ---- inserts from a CSV file ------------------------------------------------------------------------------
def test_insert_reads_a_csv_file_given_as_a_path(tables, tmp_path):
    Animal, _, _ = tables
    path = tmp_path / "animals.csv"
    path.write_text("animal_id,name,born\n1,Ada,2024-01-02\n2,Bo,2024-02-03\n")
    assert Animal.validate(path)
    Animal.insert(path)
    assert sorted((r["animal_id"], r["name"], str(r["born"])) for r in Animal.to_dicts()) == [
        (1, "Ada", "2024-01-02"), (2, "Bo", "2024-02-03")]


# ---- make_classes ---------------------------------------------------------------------------------------
def test_make_classes_creates_the_missing_classes_with_their_parts(schema, tables):
    Animal, Recording, Length = tables
    Animal.insert1(GOOD)
    Recording.insert1({"animal_id": 1, "recording": 1})
    Length.populate()
    reopened = dj.Schema(schema.database, connection=schema.connection, create_schema=False)
    namespace = {"Animal": Animal}
    reopened.make_classes(into=namespace)
    assert set(namespace) == {"Animal", "Recording", "Length"}
    assert namespace["Animal"] is Animal  # an existing class is kept
    assert len(namespace["Recording"]()) == 1 and namespace["Length"]().to_dicts()[0]["samples"] == 0
    assert namespace["Length"].Channel.table_name == Length.Channel.table_name
    assert issubclass(namespace["Length"], dj.Computed)


def test_make_classes_skips_tables_whose_class_has_another_name(schema, tables):
    Animal, _, _ = tables
    namespace = {"Subject": Animal}
    schema.make_classes(into=namespace)
    assert "Animal" not in namespace and {"Recording", "Length"} <= set(namespace)


def test_make_classes_defaults_to_the_callers_namespace(schema, tables):
    """As a notebook cell or a module calls it: the classes land in that namespace."""
    namespace = {"dj": dj, "database": schema.database, "connection": schema.connection}
    exec("dj.Schema(database, connection=connection, create_schema=False).make_classes()", namespace)
    assert {"Animal", "Recording", "Length"} <= set(namespace)
    assert namespace["Length"].Channel.table_name == "__length__channel"


# ---- lineage ----------------------------------------------------------------------------------------------
def test_schema_lineage_maps_every_key_attribute_to_its_origin(schema, tables):
    Animal, Recording, _ = tables
    assert schema.lineage_table_exists
    lineage = schema.lineage
    db = schema.database
    assert lineage[f"{db}.{Animal.table_name}.animal_id"] == f"{db}.{Animal.table_name}.animal_id"
    assert lineage[f"{db}.{Recording.table_name}.animal_id"] == f"{db}.{Animal.table_name}.animal_id"
    assert lineage[f"{db}.{Recording.table_name}.recording"] == f"{db}.{Recording.table_name}.recording"
    assert f"{db}.{Animal.table_name}.name" not in lineage


# ---- connection, jobs, logger -------------------------------------------------------------------------
def test_get_user_names_the_account(connection, backend):
    user = connection.get_user()
    assert isinstance(user, str) and user
    expected = connection.conn_info.get("user")
    if backend == "mysql":
        assert user.split("@")[0] == expected and "@" in user
    elif backend == "postgresql":
        assert user == expected


def test_job_is_the_job_table_of_an_auto_populated_table(tables):
    _, Recording, Length = tables
    jobs = dj.Job(Length())
    assert jobs.table_name == Length.jobs.table_name == "~~length"
    assert len(jobs) == 0 and len(jobs.pending) == 0


def test_logger_is_the_library_logger(caplog):
    assert isinstance(dj.logger, logging.Logger)
    with caplog.at_level(logging.INFO, logger=dj.logger.name):
        dj.logger.info("hello from a pipeline")
    assert "hello from a pipeline" in caplog.text


# ---- query expressions ------------------------------------------------------------------------------------
def test_a_left_join_may_keep_a_partly_null_key_when_allowed(tables):
    Animal, Recording, _ = tables
    Animal.insert([GOOD, {"animal_id": 2, "name": "Bo", "born": "2024-02-03"}])
    Recording.insert([{"animal_id": 1, "recording": 1}, {"animal_id": 1, "recording": 2}])
    with pytest.raises(dj.DataJointError, match="determine"):
        Animal.join(Recording, left=True)
    joined = Animal.join(Recording, left=True, allow_nullable_pk=True)
    assert joined.primary_key == ["animal_id", "recording"]
    assert joined.heading["recording"].nullable and not joined.heading["animal_id"].nullable
    rows = sorted(((r["animal_id"], r["recording"]) for r in joined.to_dicts()), key=str)
    assert rows == [(1, 1), (1, 2), (2, None)]


def test_cursor_gives_undecoded_rows_as_tuples_or_dicts(tables):
    Animal, _, _ = tables
    Animal.insert1(GOOD)
    assert [tuple(row) for row in Animal.proj("name").cursor().fetchall()] == [(1, "Ada")]
    assert Animal.proj("name").cursor(as_dict=True).fetchall() == [{"animal_id": 1, "name": "Ada"}]


def test_to_arrow_takes_squeeze_like_to_pandas(tables):
    Animal, _, _ = tables
    Animal.insert1(GOOD)
    table = Animal.proj("name").to_arrow(squeeze=True)
    assert table.column_names == ["animal_id", "name"] and table.to_pylist() == [{"animal_id": 1, "name": "Ada"}]


def test_free_table_by_name_on_a_given_or_the_process_wide_connection(connection, schema, tables, monkeypatch):
    import dj_jupyter.connection as connection_module

    Animal, _, _ = tables
    Animal.insert1(GOOD)
    name = f"{schema.database}.{Animal.table_name}"
    assert len(dj.FreeTable(connection, name)) == 1
    assert len(dj.FreeTable(connection, full_table_name=name)) == 1
    assert len(dj.FreeTable(connection, schema.database, Animal.table_name)) == 1
    monkeypatch.setitem(connection_module._global, "connection", connection)
    table = dj.FreeTable(name)
    assert table.connection is connection and table.to_dicts()[0]["name"] == "Ada"
