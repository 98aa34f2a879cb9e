"""The basics every backend must get right, run on SQLite, PostgreSQL and MySQL/MariaDB alike.

Expected results are literals written here, the same for every engine, so a
test that passes on all three also shows that the engines agree. Tests of the
on-disk layout (DataJoint 2.3's conventions) and of lost connections run on
the servers only.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import math
import time
import uuid

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter import errors
from dj_jupyter.declare.parser import Default

from tests.conftest import SERVER_BACKENDS

SERVERS = ("postgresql", "mysql")
on_servers = pytest.mark.parametrize("backend", SERVER_BACKENDS)  # the sessions, users and layouts of a server

ALL_TYPES = """
# every core type
id : int32
---
i8 = null : int8              # tiny
i16 = null : int16
i32 = null : int32
i64 = null : int64
f32 = null : float32
f64 = null : float64
flag = null : bool
amount = null : decimal(8,3)
code = null : char(4)
name = null : varchar(30)     # a name
day = null : date
moment = null : datetime
micro = null : datetime(6)
color = null : enum('red', 'green', 'it''s blue')
uid = null : uuid
meta = null : json
raw = null : bytes
array = null : <blob>
"""

FULL_ROW = dict(
    id=1, i8=-128, i16=-32768, i32=2**31 - 1, i64=2**62 + 3, f32=-0.25, f64=math.pi, flag=True,
    amount=decimal.Decimal("12345.678"), code="abcd", name="héllo ✓ it's \"q\" 50%", day=datetime.date(2024, 2, 29),
    moment=datetime.datetime(2024, 5, 17, 13, 45, 12), micro=datetime.datetime(2024, 5, 17, 13, 45, 12, 123456),
    color="it's blue", uid=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    meta={"a": [1, 2.5, None], "b": {"c": "x"}, "d": True}, raw=b"\x00\x01\xff" * 50, array=None)


def second_connection(connection):
    """Another session on the same server (e.g. to kill the first one)."""
    info = connection.conn_info
    return dj.Connection(info["host"], info["user"], connection._password, info["port"], backend=info["backend"])


# ---- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture
def everything(make_schema):
    schema = make_schema()

    @schema
    class Everything(dj.Manual):
        definition = ALL_TYPES

    return Everything


@pytest.fixture
def lab(make_schema):
    """Subjects, sessions (with a renamed reference and a part table) in one schema."""
    schema = make_schema()

    @schema
    class Subject(dj.Manual):
        definition = """
        # research animals
        subject_id : int32
        ---
        species : enum('mouse', 'rat')
        sex : char(1)
        weight = null : float32     # grams
        dob = null : date
        name : varchar(16)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        -> [nullable] Subject.proj(buddy_id='subject_id')
        duration : float64
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            ---
            outcome : bool
            """

    Subject.insert([
        dict(subject_id=1, species="mouse", sex="M", weight=25.5, dob=datetime.date(2020, 1, 1), name="alpha"),
        dict(subject_id=2, species="mouse", sex="F", weight=18.25, dob=datetime.date(2021, 6, 1), name="beta"),
        dict(subject_id=3, species="rat", sex="F", weight=310.0, dob=None, name="gamma"),
        dict(subject_id=4, species="rat", sex="M", weight=None, dob=datetime.date(2019, 3, 3), name="delta"),
    ])
    Session.insert([dict(subject_id=1, session=1, buddy_id=2, duration=10.0),
                    dict(subject_id=1, session=2, buddy_id=None, duration=20.0),
                    dict(subject_id=3, session=1, buddy_id=1, duration=30.5)])
    Session.Trial.insert([dict(subject_id=1, session=1, trial=t, outcome=t % 2 == 0) for t in range(3)]
                         + [dict(subject_id=3, session=1, trial=0, outcome=True)])
    return schema, Subject, Session


def keys(expr, *names):
    return sorted(tuple(row[n] for n in names) for row in expr.to_dicts())


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


# ---- lost connections ---------------------------------------------------------------------------------------
def kill(connection, killer):
    """Terminate ``connection``'s server session from another session."""
    session = connection.connection_id
    if connection.backend.name == "postgresql":
        killer.query("SELECT pg_terminate_backend(%s)", (session,))
    else:
        killer.query(f"KILL CONNECTION {int(session)}")
    for _ in range(50):  # the server ends the session asynchronously
        if session not in (killer.backend.live_connection_ids(killer) or set()):
            return
        time.sleep(0.05)


@on_servers
def test_reconnect_after_the_server_kills_the_connection(lab, connection, backend):
    _, Subject, _ = lab
    killer = second_connection(connection)
    try:
        before = connection.connection_id
        kill(connection, killer)
        assert len(Subject) == 4  # reconnects transparently outside a transaction
        assert connection.connection_id != before
        Subject.insert1(dict(subject_id=5, species="mouse", sex="F", name="epsilon"))
        assert len(Subject) == 5
    finally:
        killer.close()


@on_servers
def test_lost_connection_inside_a_transaction_commits_nothing(lab, connection, backend):
    _, Subject, _ = lab
    killer = second_connection(connection)
    try:
        with pytest.raises(errors.LostConnectionError) as caught:
            with connection.transaction:
                Subject.insert1(dict(subject_id=5, species="mouse", sex="F", name="epsilon"))
                kill(connection, killer)
                Subject.insert1(dict(subject_id=6, species="rat", sex="M", name="zeta"))
        assert "rolled back" in str(caught.value) or "Nothing" in str(caught.value)
        assert not connection.in_transaction
        assert keys(Subject, "subject_id") == [(1,), (2,), (3,), (4,)]  # nothing of the transaction
        with connection.transaction:  # and the connection is usable again
            Subject.insert1(dict(subject_id=7, species="rat", sex="M", name="eta"))
        assert len(Subject) == 5
    finally:
        killer.close()


# ---- on-disk layout: DataJoint 2.3's conventions -----------------------------------------------------------------
@pytest.mark.parametrize("backend", [b for b in SERVER_BACKENDS if b == "postgresql"])
def test_postgres_layout(everything, lab, connection, backend):
    db = everything.database
    rows = connection.query(
        "SELECT column_name::text, data_type::text, udt_name::text, character_maximum_length, numeric_precision, "
        "numeric_scale, datetime_precision, is_nullable::text FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s", (db, everything.table_name)).fetchall()
    columns = {r[0]: r[1:] for r in rows}
    expect = {"id": "integer", "i8": "smallint", "i16": "smallint", "i32": "integer", "i64": "bigint", "f32": "real",
              "f64": "double precision", "flag": "boolean", "amount": "numeric", "code": "character",
              "name": "character varying", "day": "date", "moment": "timestamp without time zone",
              "micro": "timestamp without time zone", "color": "USER-DEFINED", "uid": "uuid", "meta": "jsonb",
              "raw": "bytea", "array": "bytea"}
    assert {name: value[0] for name, value in columns.items()} == expect
    assert columns["amount"][3:5] == (8, 3) and columns["code"][2] == 4 and columns["name"][2] == 30
    assert columns["micro"][5] == 6
    enum_name = "enum_" + hashlib.md5("_".join(sorted(["red", "green", "it's blue"])).encode()).hexdigest()[:8]
    assert columns["color"][1] == enum_name
    labels = connection.query(
        "SELECT e.enumlabel::text FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
        "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = %s AND t.typname = %s "
        "ORDER BY e.enumsortorder", (db, enum_name)).fetchall()
    assert [r[0] for r in labels] == ["red", "green", "it's blue"]
    comments = dict(connection.query(
        "SELECT a.attname::text, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0", (db, everything.table_name)).fetchall())
    assert comments["i8"] == ":int8:tiny" and comments["name"] == ":varchar(30):a name"
    assert comments["array"] == ":<blob>:" and comments["color"].startswith(":enum(")
    storage = dict(connection.query(
        "SELECT a.attname::text, a.attstorage::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0",
        (db, everything.table_name)).fetchall())
    assert storage["array"] == "e" and storage["raw"] == "x"  # codec bytes are not compressed twice
    assert connection.query("SELECT obj_description(%s::regclass, 'pg_class')",
                            (f'"{db}"."{everything.table_name}"',)).fetchone()[0] == "every core type"
    # int8 keeps its range although PostgreSQL stores it as smallint
    with pytest.raises(dj.DataJointError):
        everything.insert1(dict(id=9, i8=128))

    _, Subject, Session = lab
    lineage = connection.query(
        "SELECT column_name::text, data_type::text, character_maximum_length, is_nullable::text "
        "FROM information_schema.columns WHERE table_schema = %s AND table_name = '~lineage' "
        "ORDER BY ordinal_position", (Session.database,)).fetchall()
    assert lineage == [("table_name", "character varying", 64, "NO"), ("attribute_name", "character varying", 64, "NO"),
                       ("lineage", "character varying", 255, "NO")]
    stored = dict(((t, a), l) for t, a, l in connection.query(
        f'SELECT table_name, attribute_name, lineage FROM "{Session.database}"."~lineage"').fetchall())
    assert stored[("session", "buddy_id")] == f"{Subject.database}.subject.subject_id"
    assert stored[("session", "session")] == f"{Subject.database}.session.session"
    rules = connection.query(
        "SELECT confupdtype::text, confdeltype::text FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE c.contype = 'f' AND n.nspname = %s",
        (Session.database,)).fetchall()
    assert rules and set(rules) == {("c", "r")}  # ON UPDATE CASCADE ON DELETE RESTRICT
    # the renamed, secondary reference gets its supporting index; the primary one is served by the key
    indexes = connection.query("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'session'",
                               (Session.database,)).fetchall()
    definitions = [r[0] for r in indexes]
    assert any("(buddy_id)" in d for d in definitions) and len(definitions) == 2  # + the primary key


@pytest.mark.parametrize("backend", [b for b in SERVER_BACKENDS if b == "mysql"])
def test_mysql_layout(everything, lab, connection, backend):
    db = everything.database
    rows = connection.query(
        "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_COMMENT FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (db, everything.table_name)).fetchall()
    types = {r[0]: r[1] for r in rows}
    comments = {r[0]: r[2] for r in rows}
    strip = {name: (t.split("(")[0] if name in ("id", "i8", "i16", "i32", "i64", "flag") else t) for name, t in types.items()}
    assert strip == {
        "id": "int", "i8": "tinyint", "i16": "smallint", "i32": "int", "i64": "bigint", "f32": "float",
        "f64": "double", "flag": "tinyint", "amount": "decimal(8,3)", "code": "char(4)", "name": "varchar(30)",
        "day": "date", "moment": "datetime", "micro": "datetime(6)", "color": "enum('red','green','it''s blue')",
        "uid": "binary(16)", "meta": "longtext" if connection.backend.mariadb else "json", "raw": "longblob",
        "array": "longblob"}
    assert comments["i8"] == ":int8:tiny" and comments["name"] == ":varchar(30):a name"
    assert comments["array"] == ":<blob>:" and comments["meta"] == ":json:"
    engine, comment = connection.query(
        "SELECT ENGINE, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (db, everything.table_name)).fetchone()
    assert (engine, comment) == ("InnoDB", "every core type")

    _, Subject, Session = lab
    lineage = connection.query(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COLUMN_COMMENT FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = '~lineage' ORDER BY ORDINAL_POSITION",
        (Session.database,)).fetchall()
    assert lineage == (("table_name", "varchar(64)", "NO", "PRI", "table name within the schema"),
                       ("attribute_name", "varchar(64)", "NO", "PRI", "attribute name"),
                       ("lineage", "varchar(255)", "NO", "", "origin: schema.table.attribute"))
    rules = connection.query("SELECT UPDATE_RULE, DELETE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS "
                             "WHERE CONSTRAINT_SCHEMA = %s", (Session.database,)).fetchall()
    assert rules and set(rules) == {("CASCADE", "RESTRICT")}


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


# ---- the real DataJoint 2.3.5 opens our tables, and we open its tables ---------------------------------------
@pytest.fixture
def datajoint(connection, backend):
    import datajoint
    info = connection.conn_info
    datajoint.config["database.backend"] = backend
    datajoint.config["database.host"] = info["host"]
    datajoint.config["database.port"] = info["port"]
    datajoint.config["database.user"] = info["user"]
    datajoint.config["database.password"] = connection._password
    datajoint.config["database.use_tls"] = False
    datajoint.config["safemode"] = False
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="MariaDB is not officially supported")
        theirs = datajoint.conn(reset=True)
    yield datajoint, theirs
    theirs.close()


@on_servers
def test_datajoint_reads_and_writes_our_tables(lab, datajoint, backend):
    dj23, theirs = datajoint
    schema, Subject, Session = lab
    module = dj23.VirtualModule("ours", schema.database, connection=theirs)
    assert module.Subject.heading.primary_key == ["subject_id"]
    assert sorted(r["subject_id"] for r in module.Subject.to_dicts()) == [1, 2, 3, 4]
    row = (module.Subject & {"subject_id": 1}).fetch1()
    assert (row["species"], row["sex"], row["weight"], row["dob"]) == ("mouse", "M", 25.5, datetime.date(2020, 1, 1))
    sessions = (module.Session & {"subject_id": 3}).fetch1()
    assert sessions["buddy_id"] == 1 and sessions["duration"] == 30.5
    assert len(module.Session.Trial()) == 4
    assert len(module.Subject() * module.Session()) == 3
    # their writes land in our tables, checked by their foreign keys and read back by us
    module.Subject.insert1(dict(subject_id=7, species="rat", sex="F", name="theirs", weight=1.5))
    module.Session.insert1(dict(subject_id=7, session=1, buddy_id=2, duration=4.0))
    assert (Session & {"subject_id": 7}).fetch1("buddy_id", "duration") == (2, 4.0)
    assert (Subject & {"subject_id": 7}).fetch1("species", "name", "weight") == ("rat", "theirs", 1.5)
    (module.Subject & {"subject_id": 7}).delete()
    assert len(Subject) == 4 and len(Session) == 3


@on_servers
def test_we_read_and_extend_datajoint_tables(make_schema, datajoint, connection, backend):
    dj23, theirs = datajoint
    name = "t_" + uuid.uuid4().hex[:10]
    theirs_schema = dj23.Schema(name, connection=theirs)
    ours = None
    try:
        @theirs_schema
        class Animal(dj23.Manual):
            definition = """
            # animals
            animal_id : int32
            sex : enum('M', 'F')
            ---
            species = "mouse" : varchar(30)  # species name
            weight = null : float32
            active = 1 : bool
            price = 1.50 : decimal(6,2)
            meta = null : json
            raw = null : bytes
            index(weight)
            """

        @theirs_schema
        class Visit(dj23.Manual):
            definition = """
            -> Animal
            visit : int16
            ---
            data = null : <blob>
            """

            class Note(dj23.Part):
                definition = """
                -> master
                note_id : int8
                ---
                text : varchar(100)
                """

        Animal.insert1(dict(animal_id=1, sex="M", weight=20.5, meta={"k": [1]}, raw=b"\x01\x02"))
        Visit.insert1(dict(animal_id=1, sex="M", visit=1, data=np.arange(3)))
        Visit.Note.insert1(dict(animal_id=1, sex="M", visit=1, note_id=1, text="hi"))

        module = dj.virtual_schema(name, connection=connection)
        described = module.Animal.describe()
        for line in ("animal_id : int32", "sex : enum('M','F')", 'species = "mouse" : varchar(30)  # species name',
                     "weight = null : float32", "active = True : bool", "price = 1.5 : decimal(6,2)",
                     "meta = null : json", "raw = null : bytes", "index(weight)"):
            assert line in described, (line, described)
        row = module.Animal.fetch1()
        assert row == dict(animal_id=1, sex="M", species="mouse", weight=20.5, active=True,
                           price=decimal.Decimal("1.50"), meta={"k": [1]}, raw=b"\x01\x02")
        np.testing.assert_array_equal(module.Visit.fetch1("data"), np.arange(3))
        assert module.Visit.Note.fetch1("text") == "hi"

        # a table of ours that references theirs: the enum key is inherited (a qualified type on PostgreSQL)
        ours = make_schema()
        Animal = module.Animal

        @ours
        class Weighing(dj.Manual):
            definition = """
            -> Animal
            when : int32
            ---
            grams : float64
            """

        module.Animal.insert1(dict(animal_id=2, sex="F", meta=[1]))
        Weighing.insert1(dict(animal_id=2, sex="F", when=1, grams=3.5))
        assert keys(Weighing * module.Animal, "animal_id", "sex", "grams", "species") == [(2, "F", 3.5, "mouse")]
        with pytest.raises(errors.IntegrityError):
            Weighing.insert1(dict(animal_id=2, sex="M", when=1, grams=3.5))
        (module.Animal & {"animal_id": 2}).delete()
        assert len(Weighing) == 0
        assert (Animal & {"animal_id": 1}).fetch1("species") == "mouse"
        assert len(dj23.VirtualModule("again", name, connection=theirs).Animal()) == 1  # they still read it
    finally:
        if ours is not None:  # ours references theirs: it goes first
            ours.drop(prompt=False, force=True)
        theirs_schema.drop(prompt=False)
