"""SQL the PostgreSQL and MySQL backends generate, and how they read server metadata back (no server needed).

The layout is DataJoint 2.3's: these tests pin the type mapping, enum type
names, comments, foreign-key clauses and support indexes.
"""

from __future__ import annotations

import hashlib

import pytest

from dj_jupyter.backends.base import ColumnDDL, ForeignKeyInfo, TableDDL
from dj_jupyter.declare.ddl import column_comment
from dj_jupyter.declare.parser import Default
from dj_jupyter.declare.types import classify


from dj_jupyter.backends import _server  # noqa: E402
from dj_jupyter.backends import mysql as my  # noqa: E402
from dj_jupyter.backends import postgres as pg  # noqa: E402
from dj_jupyter.backends import postgres_types as pg_types  # noqa: E402


def column(name, type_text, nullable=False, default=None, comment="", type_schema=None):
    declared = classify(type_text)
    return ColumnDDL(name, declared, nullable, default, column_comment(declared, comment), type_schema)


CORE = ["int8", "int16", "int32", "int64", "float32", "float64", "bool", "uuid", "json", "bytes", "date",
        "datetime", "datetime(6)", "char(4)", "varchar(30)", "decimal(8,3)"]
PG_TYPES = ["smallint", "smallint", "integer", "bigint", "real", "double precision", "boolean", "uuid", "jsonb",
            "bytea", "date", "timestamp", "timestamp(6)", "char(4)", "varchar(30)", "numeric(8,3)"]
MY_TYPES = ["tinyint", "smallint", "int", "bigint", "float", "double", "tinyint", "binary(16)", "json",
            "longblob", "date", "datetime", "datetime(6)", "char(4)", "varchar(30)", "decimal(8,3)"]


@pytest.mark.parametrize("core, pg_type, my_type", list(zip(CORE, PG_TYPES, MY_TYPES)))
def test_core_type_mapping(core, pg_type, my_type):
    assert pg.PostgresBackend().column_sql_type(column("x", core), "s") == pg_type
    assert my.MySQLBackend().column_sql_type(column("x", core), "s") == my_type


def test_enum_types_are_named_like_datajoint():
    values = ("M", "F", "U")
    expected = "enum_" + hashlib.md5("_".join(sorted(values)).encode()).hexdigest()[:8]
    assert _server.enum_type_name(values) == expected
    b = pg.PostgresBackend()
    assert b.column_sql_type(column("sex", "enum('M','F','U')"), "lab") == f'"lab"."{expected}"'
    # an inherited enum names the type of the schema where the attribute was declared
    inherited = column("sex", "enum('M','F','U')", type_schema="upstream")
    assert b.column_sql_type(inherited, "lab") == f'"upstream"."{expected}"'
    statements = b.create_table_sql(TableDDL("lab", "animal", "", [inherited], ["sex"]))
    assert statements[0].startswith("DO $dj_enum$ BEGIN CREATE TYPE \"upstream\".")
    assert "AS ENUM ('M', 'F', 'U'); EXCEPTION WHEN duplicate_object" in statements[0]
    mysql_type = my.MySQLBackend().column_sql_type(column("c", "enum('a','it''s')"), "lab")
    assert mysql_type == "enum('a','it''s') CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"


def _session_ddl():
    columns = [column("subject_id", "int32", comment="subject"), column("session", "int16"),
               column("buddy_id", "int32", nullable=True, default=Default(constant="NULL")),
               column("badge", "char(2)", nullable=True, default=Default(constant="NULL")),
               column("note", "varchar(20)", default=Default(value="it's \\ 50%"), comment="a note"),
               column("flag", "bool", default=Default(value=True)),
               column("tiny", "int8", default=Default(value=-3))]
    fks = [ForeignKeyInfo(("lab", "session"), ("lab", "subject"), (("subject_id", "subject_id"),)),
           ForeignKeyInfo(("lab", "session"), ("lab", "subject"), (("buddy_id", "subject_id"),)),
           ForeignKeyInfo(("lab", "session"), ("lab", "badge"), (("badge", "badge"),))]
    return TableDDL("lab", "session", "sessions 'quoted'", columns, ["subject_id", "session"], fks,
                    [(("badge",), True), (("note", "flag"), False)])


def test_postgres_create_table():
    statements = pg.PostgresBackend().create_table_sql(_session_ddl())
    create = statements[0]
    assert create.startswith('CREATE TABLE "lab"."session" (')
    assert '"subject_id" integer NOT NULL' in create
    assert '"buddy_id" integer DEFAULT NULL' in create
    assert "\"note\" varchar(20) NOT NULL DEFAULT 'it''s \\ 50%'" in create
    assert '"flag" boolean NOT NULL DEFAULT TRUE' in create
    assert '"tiny" smallint NOT NULL DEFAULT -3 CHECK ("tiny" BETWEEN -128 AND 127)' in create
    assert 'PRIMARY KEY ("subject_id", "session")' in create
    assert ('FOREIGN KEY ("buddy_id") REFERENCES "lab"."subject" ("subject_id") '
            "ON UPDATE CASCADE ON DELETE RESTRICT") in create
    rest = statements[1:]
    assert 'CREATE UNIQUE INDEX ON "lab"."session" ("badge")' in rest
    assert 'CREATE INDEX ON "lab"."session" ("note", "flag")' in rest
    # foreign keys need a supporting index unless an index starts with their columns
    assert 'CREATE INDEX ON "lab"."session" ("buddy_id")' in rest
    assert not any('("subject_id")' in s for s in rest if s.startswith("CREATE INDEX"))
    assert "COMMENT ON TABLE \"lab\".\"session\" IS 'sessions ''quoted'''" in rest
    assert "COMMENT ON COLUMN \"lab\".\"session\".\"subject_id\" IS ':int32:subject'" in rest
    assert "COMMENT ON COLUMN \"lab\".\"session\".\"note\" IS ':varchar(20):a note'" in rest


def test_fk_support_index_rule():
    fk = lambda *cols: ForeignKeyInfo(("s", "c"), ("s", "p"), tuple((c, c) for c in cols))  # noqa: E731
    assert _server.fk_support_indexes(["a", "b"], [], [fk("a"), fk("a", "b")]) == []
    assert _server.fk_support_indexes(["a"], [], [fk("b"), fk("b", "c")]) == [("b", "c")]
    assert _server.fk_support_indexes(["a"], [(("c", "b"), False)], [fk("c")]) == []
    assert _server.fk_support_indexes(["a"], [(("x",), True)], [fk("x")]) == []
    assert _server.fk_support_indexes(["a"], [], [fk("b", "a")]) == [("b", "a")]


def test_mysql_create_table():
    statements = my.MySQLBackend().create_table_sql(_session_ddl())
    assert len(statements) == 1
    create = statements[0]
    assert create.startswith("CREATE TABLE `lab`.`session` (")
    assert "`subject_id` int NOT NULL COMMENT ':int32:subject'" in create
    assert "`note` varchar(20) NOT NULL DEFAULT 'it''s \\\\ 50%' COMMENT ':varchar(20):a note'" in create
    assert "`flag` tinyint NOT NULL DEFAULT 1 COMMENT ':bool:'" in create
    assert "FOREIGN KEY (`buddy_id`) REFERENCES `lab`.`subject` (`subject_id`) ON UPDATE CASCADE ON DELETE RESTRICT" \
        in create
    assert "UNIQUE INDEX (`badge`)" in create and "INDEX (`note`, `flag`)" in create
    assert create.endswith(") ENGINE=InnoDB COMMENT='sessions ''quoted'''")


def test_lineage_tables():
    assert pg.PostgresBackend().lineage_table_sql("lab") == [
        'CREATE TABLE IF NOT EXISTS "lab"."~lineage" (\n  "table_name" VARCHAR(64) NOT NULL,\n'
        '  "attribute_name" VARCHAR(64) NOT NULL,\n  "lineage" VARCHAR(255) NOT NULL,\n'
        '  PRIMARY KEY ("table_name", "attribute_name")\n)']
    sql = my.MySQLBackend().lineage_table_sql("lab")[0]
    assert "`table_name` VARCHAR(64) NOT NULL COMMENT 'table name within the schema'" in sql
    assert "`lineage` VARCHAR(255) NOT NULL COMMENT 'origin: schema.table.attribute'" in sql
    assert sql.endswith(") ENGINE=InnoDB")


def test_duplicate_handling_and_limits():
    p, m = pg.PostgresBackend(), my.MySQLBackend()
    assert p.conflict_clause(["a", "b", "c"], ["a"], "skip") == ' ON CONFLICT ("a") DO NOTHING'
    assert p.conflict_clause(["a", "b", "c"], ["a"], "replace") == \
        ' ON CONFLICT ("a") DO UPDATE SET "b" = EXCLUDED."b", "c" = EXCLUDED."c"'
    assert p.conflict_clause(["a"], ["a"], "replace") == ' ON CONFLICT ("a") DO NOTHING'
    assert p.conflict_clause(["a"], ["a"], "error") == ""
    assert m.insert_sql("`s`.`t`", ["a", "b"], ["a"], "replace") == \
        "INSERT INTO `s`.`t` (`a`, `b`) VALUES (%s, %s) ON DUPLICATE KEY UPDATE `s`.`t`.`b` = VALUES(`b`)"
    assert m.insert_sql("`s`.`t`", ["a", "b"], ["a"], "skip").endswith(
        "ON DUPLICATE KEY UPDATE `s`.`t`.`a` = `s`.`t`.`a`")
    assert p.limit_sql(None, 5) == " LIMIT ALL OFFSET 5" and p.limit_sql(3, 0) == " LIMIT 3"
    assert m.limit_sql(None, 5) == " LIMIT 18446744073709551615 OFFSET 5"
    assert p.placeholder == m.placeholder == "%s"
    assert p.protect_percent("a LIKE 'x%'") == "a LIKE 'x%%'"
    assert m.string_literal("a\\b'c") == "'a\\\\b''c'" and p.string_literal("a\\b'c") == "'a\\b''c'"


@pytest.mark.parametrize("text, expected", [
    ("'-5'::integer", Default(value="-5")),
    ("'it''s'::character varying", Default(value="it's")),
    ("'M'::\"lab\".enum_0123abcd", Default(value="M")),
    ("NULL::integer", Default(constant="NULL")),
    ("CURRENT_TIMESTAMP", Default(constant="CURRENT_TIMESTAMP")),
    ("CURRENT_TIMESTAMP(3)", Default(constant="CURRENT_TIMESTAMP(3)")),
    ("now()", Default(constant="CURRENT_TIMESTAMP")),
    ("true", Default(value=True)),
    ("1.50", Default(value=1.5)),
    ("7", Default(value=7)),
    ("'2020-01-02'::date", Default(value="2020-01-02")),
    (None, None),
])
def test_postgres_defaults_read_back(text, expected):
    assert pg_types.parse_default(text) == expected


def test_defaults_take_the_declared_type():
    assert _server.coerce_default(Default(value="-5"), ":int32:", "integer") == Default(value=-5)
    assert _server.coerce_default(Default(value=1), ":bool:", "tinyint(4)") == Default(value=True)
    assert _server.coerce_default(Default(value="0"), ":bool:", "tinyint(4)") == Default(value=False)
    assert _server.coerce_default(Default(value="1.25"), ":float32:", "real") == Default(value=1.25)
    assert _server.coerce_default(Default(value="5"), ":varchar(3):", "varchar(3)") == Default(value="5")
    assert _server.coerce_default(Default(constant="NULL"), ":int32:", "int") == Default(constant="NULL")


def test_native_types_translate_between_dialects():
    assert pg_types.native_type("tinyint unsigned") == "smallint"
    assert pg_types.native_type("int unsigned") == "bigint"
    assert pg_types.native_type("longblob") == "bytea"
    assert pg_types.native_type("double") == "double precision"
    assert pg_types.native_type("int auto_increment") == "integer GENERATED BY DEFAULT AS IDENTITY"
    assert pg_types.native_type("decimal(5,2) unsigned") == "numeric(5,2)"
    assert pg_types.native_type("text") == "text"
    assert my._native_type("bytea") == "longblob" and my._native_type("jsonb") == "json"
    assert my._native_type("int unsigned") == "int unsigned"
    assert pg_types.reported_type("character varying(30)") == "varchar(30)"
    assert pg_types.reported_type("timestamp(6) without time zone") == "timestamp(6)"
    assert pg_types.reported_type("character(4)") == "char(4)"
