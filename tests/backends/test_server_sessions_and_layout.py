"""Server sessions and DataJoint 2.3's on-disk conventions: reconnecting after the server ends a session,
a lost connection inside a transaction, the tables and comments DataJoint 2.3.5 writes, and the real
DataJoint 2.3.5 reading and writing our tables (and we its tables). PostgreSQL and MariaDB only.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import time
import uuid

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter import errors
from tests.backends.basics import keys, on_servers, second_connection
from tests.conftest import SERVER_BACKENDS

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
