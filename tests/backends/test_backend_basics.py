"""The basics every backend must get right, run on SQLite, PostgreSQL and MySQL/MariaDB alike.

Expected results are literals written here, the same for every engine, so a
test that passes on all three also shows that the engines agree. Lost
connections, the on-disk layout and DataJoint 2.3.5 opening our tables are in
test_server_sessions_and_layout.py.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter import errors
from dj_jupyter.declare.parser import Default
from tests.backends.basics import FULL_ROW, SERVERS, keys, on_servers


# ---- types ------------------------------------------------------------------------------------------------
def test_every_core_type_round_trips(everything):
    array = np.arange(6, dtype=np.float64).reshape(2, 3)
    everything.insert1({**FULL_ROW, "array": array})
    everything.insert1(dict(id=2))  # every secondary attribute nullable
    everything.insert1(dict(id=3, f32=float("nan"), f64=np.nan, meta="just a string", raw=b""))
    everything.insert1(dict(id=4, i8=127, i16=32767, i32=-(2**31), i64=-(2**63), f32=1.5e10,
                            f64=np.float64(-1e-300), flag=np.bool_(False), amount=decimal.Decimal("-0.001"),
                            code="z", meta=[1, "two", None], color="red", uid=str(FULL_ROW["uid"])))

    full = (everything & {"id": 1}).fetch1()
    for name, value in FULL_ROW.items():
        if name != "array":
            assert full[name] == value, name
            assert type(full[name]) is type(value), (name, type(full[name]))
    np.testing.assert_array_equal(full["array"], array)

    empty = (everything & {"id": 2}).fetch1()
    assert all(empty[name] is None for name in everything.heading.secondary_attributes)

    nan_row = (everything & {"id": 3}).fetch1()
    assert nan_row["f32"] is None and nan_row["f64"] is None  # NaN is stored as NULL
    assert nan_row["meta"] == "just a string" and nan_row["raw"] == b""

    limits = (everything & {"id": 4}).fetch1()
    assert (limits["i8"], limits["i16"], limits["i32"], limits["i64"]) == (127, 32767, -(2**31), -(2**63))
    assert limits["f32"] == 1.5e10 and limits["f64"] == -1e-300
    assert limits["flag"] is False and limits["amount"] == decimal.Decimal("-0.001")
    assert limits["code"] == "z" and limits["meta"] == [1, "two", None] and limits["uid"] == FULL_ROW["uid"]

    frame = everything.to_pandas()
    assert list(frame.index) == [1, 2, 3, 4]
    assert frame.loc[1, "name"] == FULL_ROW["name"]


def test_restricting_by_values_of_every_type(everything):
    everything.insert1({**FULL_ROW, "array": None})
    everything.insert1(dict(id=2, color="red", flag=False))
    for name in ("i8", "i64", "flag", "amount", "code", "name", "day", "moment", "micro", "color", "uid"):
        assert keys(everything & {name: FULL_ROW[name]}, "id") == [(1,)], name
    assert keys(everything & {"flag": False}, "id") == [(2,)]
    assert keys(everything & {"micro": "2024-05-17 13:45:12.123456"}, "id") == [(1,)]
    assert keys(everything & {"day": "2024-02-29"}, "id") == [(1,)]
    assert keys(everything & {"uid": str(FULL_ROW["uid"])}, "id") == [(1,)]
    assert keys(everything & {"f32": -0.25}, "id") == [(1,)]
    assert keys(everything & {"meta": None}, "id") == [(2,)]


def test_large_bytes_round_trip(everything):
    big = np.random.default_rng(0).bytes(20 * 1024 * 1024)  # bigger than MySQL's default 16 MB packet
    everything.insert1(dict(id=1, raw=big))
    assert (everything & {"id": 1}).fetch1("raw") == big


# ---- defaults and nullable ---------------------------------------------------------------------------
def test_defaults_and_nullable(make_schema, backend):
    schema = make_schema()

    @schema
    class Defaults(dj.Manual):
        definition = """
        id : int32
        ---
        count = 7 : int32
        offset = -3 : int16
        ratio = 1.5 : float64
        price = 9.99 : decimal(6,2)
        label = "it's \\"here\\" \\\\ 50%" : varchar(40)
        kind = "b" : enum('a', 'b')
        active = true : bool
        inactive = false : bool
        since = "2020-01-02" : date
        created = CURRENT_TIMESTAMP : datetime
        note = null : varchar(20)
        """

    Defaults.insert1(dict(id=1))
    row = Defaults.fetch1()
    assert row["count"] == 7 and row["offset"] == -3 and row["ratio"] == 1.5
    assert row["price"] == decimal.Decimal("9.99")
    assert row["label"] == "it's \"here\" \\ 50%"
    assert row["kind"] == "b" and row["active"] is True and row["inactive"] is False
    assert row["since"] == datetime.date(2020, 1, 2)
    assert isinstance(row["created"], datetime.datetime)
    assert row["note"] is None

    heading = Defaults.heading
    assert heading["count"].default == Default(value=7)
    assert heading["offset"].default == Default(value=-3)
    assert heading["ratio"].default == Default(value=1.5)
    assert heading["price"].default == Default(value=9.99)
    assert heading["label"].default == Default(value="it's \"here\" \\ 50%")
    assert heading["kind"].default == Default(value="b")
    if backend in SERVERS:
        assert heading["active"].default == Default(value=True)
        assert heading["inactive"].default == Default(value=False)
    else:  # SQLite reads bool defaults back as 1 and 0
        assert heading["active"].default.value == 1 and heading["inactive"].default.value == 0
    assert heading["since"].default == Default(value="2020-01-02")
    assert heading["created"].default.constant == "CURRENT_TIMESTAMP"
    assert heading["note"].nullable and not heading["count"].nullable

    text = Defaults.describe()
    assert "count = 7 : int32" in text
    assert "offset = -3 : int16" in text
    assert 'kind = "b" : enum(' in text
    assert "created = CURRENT_TIMESTAMP : datetime" in text
    assert "note = null : varchar(20)" in text

    with pytest.raises(errors.MissingAttributeError):
        Defaults.insert1(dict(id=2, count=None))  # explicit NULL for a required attribute


# ---- describe -------------------------------------------------------------------------------------------
def snapshot(table):
    table = table() if isinstance(table, type) else table
    connection, backend = table.connection, table.connection.backend
    return dict(
        columns=backend.columns(connection, table.database, table.table_name),
        indexes=sorted(backend.indexes(connection, table.database, table.table_name)),
        comment=backend.table_comment(connection, table.database, table.table_name),
        parents=sorted((e.parent, e.columns) for e in connection.dependencies.parents(table.node)),
        describe=table.describe(),
    )


def test_describe_redeclares_an_equal_table(make_schema):
    schema = make_schema()

    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int32
        ---
        name : varchar(20)
        """

    @schema
    class Badge(dj.Lookup):
        definition = """
        badge : char(2)
        """

    @schema
    class Animal(dj.Manual):
        definition = """
        # animals: with 'quotes' and a colon: here
        -> Person
        animal_id : int16           # per person
        ---
        -> [nullable] Person.proj(vet_id='person_id')
        -> [unique, nullable] Badge
        species = "mouse" : enum('mouse', 'rat', 'it''s other')
        weight = null : float32     # grams
        born = null : date
        flag = true : bool
        price = 1.50 : decimal(5,2)
        tag = "" : varchar(12)
        stamp = CURRENT_TIMESTAMP : datetime(3)
        data = null : <blob>
        index(weight, born)
        unique index(tag, born)
        """

    before = snapshot(Animal)
    described = Animal.describe()
    Animal.drop()
    assert "animal" not in schema.list_tables()

    @schema
    class Animal(dj.Manual):  # noqa: F811 - the same table, declared from its own description
        definition = described

    after = snapshot(Animal)
    assert after == before
    assert "-> [nullable] Person.proj(vet_id='person_id')" in described
    assert "-> [nullable, unique] Badge" in described or "-> [unique, nullable] Badge" in described
    assert "index(weight, born)" in described and "unique index(tag, born)" in described


# ---- foreign keys and parts -----------------------------------------------------------------------------
def test_foreign_keys_renames_and_parts(lab):
    schema, Subject, Session = lab
    info = Session.parents(foreign_key_info=True)
    maps = sorted(tuple(sorted(meta["attr_map"].items())) for _, meta in info)
    assert maps == [(("buddy_id", "subject_id"),), (("subject_id", "subject_id"),)]
    assert keys(Session, "subject_id", "session", "buddy_id") == [(1, 1, 2), (1, 2, None), (3, 1, 1)]
    # the renamed reference is enforced
    with pytest.raises(errors.IntegrityError):
        Session.insert1(dict(subject_id=2, session=1, buddy_id=99, duration=1.0))
    assert [p.split(".")[-1].strip('`"') for p in Session.parts()] == [Session.Trial.table_name]
    assert len(Session.Trial) == 4
    # deleting a master deletes its parts; deleting a part alone is refused
    with pytest.raises(dj.DataJointError):
        (Session.Trial & {"subject_id": 1, "session": 1, "trial": 0}).delete()
    (Session & {"subject_id": 1, "session": 1}).delete()
    assert keys(Session.Trial, "subject_id", "session", "trial") == [(3, 1, 0)]
    # a subject referenced through the renamed key cannot go without its dependents
    (Subject & {"subject_id": 1}).delete()
    assert keys(Session, "subject_id", "session") == []  # (3, 1) referenced subject 1 as buddy
    assert keys(Subject, "subject_id") == [(2,), (3,), (4,)]


def test_inherited_enum_key_through_three_schemas(make_schema):
    first, second, third = make_schema(), make_schema(), make_schema()

    @first
    class Animal(dj.Manual):
        definition = """
        sex : enum('M', 'F')
        animal : int16
        """

    @second
    class Weighing(dj.Manual):
        definition = """
        -> Animal
        weighing : int16
        """

    @third
    class Report(dj.Manual):
        definition = """
        -> Weighing
        report : int16
        """

    Animal.insert1(("F", 1))
    Weighing.insert1(("F", 1, 2))
    Report.insert1(("F", 1, 2, 3))
    with pytest.raises(errors.IntegrityError):
        Report.insert1(("M", 1, 2, 3))
    assert keys(Report * Animal, "sex", "animal", "weighing", "report") == [("F", 1, 2, 3)]
    assert keys(Report & {"sex": "F"}, "report") == [(3,)]


def test_skip_duplicates_replace_and_update1(lab):
    _, Subject, Session = lab
    row = dict(subject_id=1, species="rat", sex="F", weight=1.0, dob=None, name="changed")
    with pytest.raises(errors.DuplicateError):
        Subject.insert1(row)
    Subject.insert1(row, skip_duplicates=True)
    assert (Subject & {"subject_id": 1}).fetch1("name") == "alpha"
    Subject.insert([row, dict(row, subject_id=9, name="new")], replace=True)
    assert keys(Subject & "subject_id in (1, 9)", "subject_id", "name", "species") == [
        (1, "changed", "rat"), (9, "new", "rat")]
    # a replaced parent keeps its children (no delete-and-insert)
    assert len(Session & {"subject_id": 1}) == 2

    Subject.update1(dict(subject_id=2, weight=19.5, dob=None))
    assert (Subject & {"subject_id": 2}).fetch1("weight", "dob") == (19.5, None)
    with pytest.raises(dj.DataJointError):
        Subject.update1(dict(subject_id=77, weight=1.0))

    # inserting from a query, with skip and replace
    schema = lab[0]

    @schema
    class Copy(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        """

    Copy.insert(Subject.proj("name") & "subject_id <= 2")
    Copy.insert(Subject.proj("name"), skip_duplicates=True)
    assert len(Copy) == 5
    Copy.update1(dict(subject_id=3, name="renamed"))
    Copy.insert(Subject.proj("name"), replace=True)
    assert (Copy & {"subject_id": 3}).fetch1("name") == "gamma"
    with pytest.raises(errors.DuplicateError):
        Copy.insert(Subject.proj("name"))


def test_cascade_delete_across_two_schemas(make_schema, connection):
    upstream = make_schema()
    downstream = make_schema()

    @upstream
    class Mouse(dj.Manual):
        definition = """
        mouse_id : int32
        """

    @downstream
    class Scan(dj.Manual):
        definition = """
        -> Mouse
        scan : int16
        """

    @downstream
    class Result(dj.Manual):
        definition = """
        -> Scan
        ---
        value : float64
        """

    Mouse.insert([(1,), (2,)])
    Scan.insert([(1, 1), (1, 2), (2, 1)])
    Result.insert([(1, 1, 0.5), (1, 2, 1.5), (2, 1, 2.5)])

    backend = connection.backend
    # foreign keys are found from either end
    for schemas in ([upstream.database], [downstream.database]):
        found = {(fk.child, fk.parent, fk.columns) for fk in backend.foreign_keys(connection, schemas)}
        assert ((downstream.database, "scan"), (upstream.database, "mouse"), (("mouse_id", "mouse_id"),)) in found
    assert backend.primary_keys(connection, downstream.database) == {"scan": ["mouse_id", "scan"],
                                                                       "result": ["mouse_id", "scan"]}

    with pytest.raises(errors.IntegrityError):
        (Mouse & {"mouse_id": 1}).delete_quick()
    (Mouse & {"mouse_id": 1}).delete()
    assert keys(Mouse, "mouse_id") == [(2,)]
    assert keys(Scan, "mouse_id", "scan") == [(2, 1)]
    assert keys(Result, "mouse_id", "scan", "value") == [(2, 1, 2.5)]


# ---- queries -----------------------------------------------------------------------------------------------
def test_restriction_strings(lab):
    _, Subject, Session = lab
    assert keys(Subject & 'species = "mouse" and weight > 20', "subject_id") == [(1,)]
    assert keys(Subject & "species = 'rat' OR weight < 20", "subject_id") == [(2,), (3,), (4,)]
    assert keys(Subject & 'sex in ("F")', "subject_id") == [(2,), (3,)]
    assert keys(Subject & "name like 'a%'", "subject_id") == [(1,)]
    assert keys(Subject & "name like '%t%'", "subject_id") == [(2,), (4,)]
    assert keys(Subject & "weight between 18 and 30", "subject_id") == [(1,), (2,)]
    assert keys(Subject & "weight is null", "subject_id") == [(4,)]
    assert keys(Subject & 'dob > "2020-06-01"', "subject_id") == [(2,)]
    assert keys(Subject & "year(dob) = 2019", "subject_id") == [(4,)]
    assert keys(Subject - 'species = "mouse"', "subject_id") == [(3,), (4,)]
    assert keys(Subject & dj.Not("weight > 20"), "subject_id") == [(2,)]
    assert keys(Session & "duration * 2 >= 40", "subject_id", "session") == [(1, 2), (3, 1)]
    assert keys(Session.Trial & "outcome", "trial") == [(0,), (0,), (2,)]
    assert keys(Subject & ["subject_id = 1", {"subject_id": 3}], "subject_id") == [(1,), (3,)]
    assert keys(Subject & [{"subject_id": 1}, {"subject_id": 2}], "subject_id") == [(1,), (2,)]
    with pytest.raises(errors.UnknownAttributeError):
        Subject & "colour = 'red'"
    with pytest.raises(errors.QuerySyntaxError):
        Subject & "weight > 1; DROP TABLE subject"


def test_operators_give_the_same_rows_everywhere(lab):
    _, Subject, Session = lab
    assert keys(Subject * Session, "subject_id", "session", "name") == [(1, 1, "alpha"), (1, 2, "alpha"),
                                                                     (3, 1, "gamma")]
    counts = Subject.aggr(Session, n="count(*)", total="sum(duration)", longest="max(duration)")
    assert keys(counts, "subject_id", "n", "longest") == [(1, 2, 20.0), (2, 0, None), (3, 1, 30.5), (4, 0, None)]
    assert [row["total"] for row in counts.to_dicts(order_by="subject_id")] == [30.0, None, 30.5, None]
    assert keys(Subject.aggr(Session, n="count(*)", exclude_nonmatching=True), "subject_id", "n") == [(1, 2), (3, 1)]
    assert keys(dj.U("species") & Subject, "species") == [("mouse",), ("rat",)]
    per_species = dj.U("species").aggr(Subject, n="count(*)", heaviest="max(weight)")
    assert keys(per_species, "species", "n", "heaviest") == [("mouse", 2, 25.5), ("rat", 2, 310.0)]
    assert keys(dj.U("sex", "species") & Subject, "sex", "species") == [
        ("F", "mouse"), ("F", "rat"), ("M", "mouse"), ("M", "rat")]
    assert len(dj.U("species") & Subject) == 2

    union = (Subject & "subject_id < 3").proj() + (Subject & "subject_id > 2").proj()
    assert keys(union, "subject_id") == [(1,), (2,), (3,), (4,)]
    mixed = (Subject & "subject_id < 3").proj("name") + (Subject & "subject_id > 1").proj("weight")
    assert keys(mixed, "subject_id", "name", "weight") == [
        (1, "alpha", None), (2, "beta", 18.25), (3, None, 310.0), (4, None, None)]

    projected = Subject.proj("name", heavy="weight > 20", double="weight * 2")
    assert keys(projected & "double > 40", "subject_id", "name") == [(1, "alpha"), (3, "gamma")]
    renamed = Subject.proj(animal="subject_id", nick="name")
    assert keys(renamed, "animal", "nick") == [(1, "alpha"), (2, "beta"), (3, "gamma"), (4, "delta")]

    assert keys((Subject & "weight is not null") & dj.Top(2, "weight DESC"), "subject_id") == [(1,), (3,)]
    assert [r["subject_id"] for r in Subject.to_dicts(order_by="subject_id", limit=2, offset=1)] == [2, 3]
    assert [r["subject_id"] for r in Subject.to_dicts(order_by="subject_id DESC", offset=2)] == [2, 1]
    assert [r["subject_id"] for r in Subject.head(2)] == [1, 2]
    assert [r["subject_id"] for r in Subject.tail(2)] == [3, 4]
    assert len(Subject & Session) == 2 and len(Subject - Session) == 2
    assert {"subject_id": 3} in Subject and {"subject_id": 7} not in Subject
    assert bool(Subject & "subject_id = 4") and not bool(Subject & "subject_id = 5")


# ---- errors ---------------------------------------------------------------------------------------------------
def test_errors_are_translated(lab, connection):
    _, Subject, Session = lab
    with pytest.raises(errors.DuplicateError) as info:
        Subject.insert1(dict(subject_id=1, species="mouse", sex="M", name="dup"))
    assert "skip_duplicates" in str(info.value)
    with pytest.raises(errors.IntegrityError) as info:
        Session.insert1(dict(subject_id=42, session=1, duration=1.0))
    assert "parent" in str(info.value)
    with pytest.raises(errors.IntegrityError) as info:
        (Subject & {"subject_id": 3}).delete_quick()
    with pytest.raises(errors.MissingAttributeError):
        Subject.insert1(dict(subject_id=8, species="mouse", sex="M", name=None))
    with pytest.raises(errors.MissingAttributeError):
        Subject.insert1(dict(subject_id=8, species="mouse", sex="M"))
    with pytest.raises(errors.UnknownAttributeError):
        Subject.insert1(dict(subject_id=8, species="mouse", sex="M", name="x", colour="red"))
    with pytest.raises(dj.DataJointError):
        Subject.insert1(dict(subject_id=8, species="dog", sex="M", name="x"))
    with pytest.raises(dj.DataJointError):
        Subject.insert1(dict(subject_id=8, species="mouse", sex="M", name="x" * 17))
    with pytest.raises(dj.DataJointError):
        Session.insert1(dict(subject_id=1, session=99999, duration=1.0))
    table = Subject.full_table_name
    with pytest.raises(errors.UnknownAttributeError):
        connection.query(f"SELECT no_such_column FROM {table}")
    with pytest.raises(errors.MissingTableError):
        connection.query(f"SELECT * FROM {connection.backend.table_ref(Subject.database, 'no_such_table')}")
    with pytest.raises(errors.QuerySyntaxError):
        connection.query(f"SELEC * FROM {table}")
    assert len(Subject) == 4  # nothing of the failed inserts was written
    # the connection still works after every error
    assert connection.query("SELECT 1").fetchone()[0] == 1


@on_servers
def test_password_is_never_shown(connection, backend):
    password = connection._password
    assert password and password not in repr(connection) and password not in str(connection.conn_info)
    info = connection.conn_info
    with pytest.raises(errors.DataJointError) as caught:
        dj.Connection(info["host"], info["user"], "wrong-" + password, info["port"], backend=backend)
    text = str(caught.value)
    assert password not in text and "wrong-" not in text
    assert isinstance(caught.value, errors.AccessError)


@on_servers
def test_permission_denied_is_an_access_error(lab, connection, backend):
    _, Subject, _ = lab
    user, password = "dj_limited_" + uuid.uuid4().hex[:6], "pw-" + uuid.uuid4().hex[:8]
    if backend == "postgresql":
        connection.execute_ddl(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    else:
        connection.execute_ddl(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    info = connection.conn_info
    limited = None
    try:
        limited = dj.Connection(info["host"], user, password, info["port"], backend=backend)
        with pytest.raises(errors.AccessError) as caught:
            dj.Schema("t_" + uuid.uuid4().hex[:10], connection=limited)
        assert password not in str(caught.value)
        with pytest.raises(errors.AccessError):
            limited.query(f"SELECT * FROM {Subject.full_table_name}")
    finally:
        if limited is not None:
            limited.close()
        if backend == "postgresql":
            connection.execute_ddl(f"DROP ROLE {user}")
        else:
            connection.execute_ddl(f"DROP USER '{user}'@'%'")


# ---- introspection ---------------------------------------------------------------------------------------------------
def test_introspection(lab, connection, backend):
    schema, Subject, Session = lab
    b = connection.backend
    schemas = b.list_schemas(connection)
    assert schema.database in schemas
    system = {"information_schema", "mysql", "performance_schema", "sys", "pg_catalog", "pg_toast"}
    assert not system & set(schemas) and not any(s.startswith("pg_") for s in schemas)
    assert b.schema_exists(connection, schema.database) and not b.schema_exists(connection, "t_no_such_schema")
    assert {"subject", "session", "session__trial", "~lineage"} <= set(b.list_tables(connection, schema.database))
    assert b.primary_keys(connection, schema.database) == {
        "subject": ["subject_id"], "session": ["subject_id", "session"],
        "session__trial": ["subject_id", "session", "trial"]}
    assert b.table_comment(connection, schema.database, "subject") == "research animals"
    columns = {c.name: c for c in b.columns(connection, schema.database, "session")}
    assert [n for n, c in columns.items() if c.in_key] == ["subject_id", "session"]
    assert columns["buddy_id"].nullable and not columns["duration"].nullable
    assert columns["duration"].comment == ":float64:" and columns["duration"].default is None
    assert b.table_size(connection, schema.database, "subject") >= 0
    assert connection.connection_id > 0 and connection.is_connected


def test_alter_adds_and_changes_attributes(make_schema, backend):
    schema = make_schema()

    @schema
    class Note(dj.Manual):
        definition = """
        note_id : int32
        ---
        text : varchar(20)    # the text
        """

    Note.insert1(dict(note_id=1, text="hello"))
    Note.definition = """
    # notes
    note_id : int32
    ---
    text : varchar(40)    # longer text
    mood = null : enum('good', 'bad')
    stars = 3 : int8
    """
    Note.alter(prompt=False)
    heading = Note.heading
    assert heading["text"].type.text == "varchar(40)" and heading["text"].comment == "longer text"
    assert heading["mood"].nullable and heading["stars"].default == Default(value=3)
    assert heading.table_comment == "notes"
    assert Note.fetch1() == dict(note_id=1, text="hello", mood=None, stars=3)
    Note.insert1(dict(note_id=2, text="short", mood="good"))
    assert (Note & {"note_id": 2}).fetch1("mood") == "good"
    if backend in SERVERS:  # the column itself was widened
        Note.insert1(dict(note_id=3, text="x" * 40))
        assert (Note & {"note_id": 3}).fetch1("stars") == 3
