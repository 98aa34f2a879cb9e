"""The embedded SQLite backend: zero set-up, one file per pipeline.

SQLite enforces foreign keys only inside one database file, so every schema of
a pipeline lives in the same file: a table ``subject`` of schema ``lab`` is the
table ``"lab.subject"``. Column comments and declared types, which SQLite has no
place for, are kept in the ``~dj_columns`` table next to the data and written in
the same transaction as the DDL. Tables are STRICT so a wrong type is refused
instead of being stored silently.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import getpass
import math
import os
import re
import sqlite3
import sys
from pathlib import Path

import numpy as np
from typing import Sequence

from ..errors import (
    DataJointError,
    DuplicateError,
    IntegrityError,
    LostConnectionError,
    MissingAttributeError,
    MissingTableError,
    QuerySyntaxError,
    UnknownAttributeError,
)
from .base import Backend, ColumnDDL, ColumnInfo, ForeignKeyInfo, TableDDL, parse_default_sql

SCHEMAS_TABLE = "~dj_schemas"
COLUMNS_TABLE = "~dj_columns"
DEFAULT_FILENAME = "datajoint.sqlite3"
_announced: set[str] = set()

_INT_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1)}


def _regexp(pattern, value):
    if pattern is None or value is None:
        return None
    return 1 if re.search(pattern, str(value)) else 0


def _date_part(value, part):
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        try:
            parsed = datetime.datetime.strptime(str(value), "%H:%M:%S")
        except ValueError:
            return None
    return getattr(parsed, part)


class _Deviation:
    """Aggregate for the standard deviation and variance MySQL and PostgreSQL provide."""

    def __init__(self, sample: bool, root: bool):
        self.values: list[float] = []
        self.sample, self.root = sample, root

    def step(self, value):
        if value is not None:
            self.values.append(float(value))

    def finalize(self):
        n = len(self.values) - (1 if self.sample else 0)
        if n <= 0:
            return None
        mean = sum(self.values) / len(self.values)
        variance = sum((v - mean) ** 2 for v in self.values) / n
        return math.sqrt(variance) if self.root else variance


def _install_functions(conn: sqlite3.Connection) -> None:
    """Functions MySQL-flavoured restrictions use that SQLite lacks."""
    conn.create_function("REGEXP", 2, _regexp, deterministic=True)
    names = {row[0] for row in conn.execute("SELECT name FROM pragma_function_list")}
    fallbacks = {
        "sqrt": (1, lambda x: None if x is None or x < 0 else math.sqrt(x)),
        "power": (2, lambda x, y: None if x is None or y is None else math.pow(x, y)),
        "pow": (2, lambda x, y: None if x is None or y is None else math.pow(x, y)),
        "exp": (1, lambda x: None if x is None else math.exp(x)),
        "ln": (1, lambda x: None if x is None or x <= 0 else math.log(x)),
        "log": (1, lambda x: None if x is None or x <= 0 else math.log(x)),
        "log10": (1, lambda x: None if x is None or x <= 0 else math.log10(x)),
        "log2": (1, lambda x: None if x is None or x <= 0 else math.log2(x)),
        "floor": (1, lambda x: None if x is None else math.floor(x)),
        "ceil": (1, lambda x: None if x is None else math.ceil(x)),
        "ceiling": (1, lambda x: None if x is None else math.ceil(x)),
        "pi": (0, lambda: math.pi),
        "mod": (2, lambda x, y: None if x is None or not y else math.fmod(x, y)),
        "year": (1, lambda v: _date_part(v, "year")),
        "month": (1, lambda v: _date_part(v, "month")),
        "day": (1, lambda v: _date_part(v, "day")),
        "hour": (1, lambda v: _date_part(v, "hour")),
        "minute": (1, lambda v: _date_part(v, "minute")),
        "second": (1, lambda v: _date_part(v, "second")),
    }
    for name, (arity, function) in fallbacks.items():
        if name not in names:
            conn.create_function(name, arity, function, deterministic=True)
    conn.create_function("NOW", 0, lambda: datetime.datetime.now().isoformat(sep=" ", timespec="seconds"))
    for name, sample, root in (("stddev_pop", False, True), ("stddev_samp", True, True), ("stddev", True, True),
                               ("var_pop", False, False), ("variance_pop", False, False), ("var_samp", True, False),
                               ("variance", True, False)):
        conn.create_aggregate(name, 1, functools.partial(_Deviation, sample, root))


class SQLiteBackend(Backend):
    name = "sqlite"
    sqlglot_dialect = "sqlite"
    quote_char = '"'
    max_name_length = 128
    supports_transactional_ddl = True
    no_limit = "-1"

    placeholder = "?"

    def protect_percent(self, sql: str) -> str:
        return sql

    # ---- naming ---------------------------------------------------------------
    def table_ref(self, schema: str, table: str) -> str:
        return self.quote(f"{schema}.{table}")

    @staticmethod
    def stored_name(schema: str, table: str) -> str:
        return f"{schema}.{table}"

    # ---- connection -------------------------------------------------------------
    def database_path(self, settings: dict) -> Path:
        path = settings.get("path") or settings.get("name")
        if not path:
            path = Path.cwd() / DEFAULT_FILENAME
        return Path(path).expanduser().resolve()

    def describe_target(self, settings: dict) -> str:
        return f"sqlite:///{self.database_path(settings)}"

    def connect(self, settings: dict) -> sqlite3.Connection:
        path = self.database_path(settings)
        configured = settings.get("path") or settings.get("name")
        if not configured and str(path) not in _announced and not settings.get("quiet"):
            _announced.add(str(path))
            print(f"[dj_jupyter] Using the SQLite database {path} "
                  "(set dj.config['database.path'] to choose another).", file=sys.stderr)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=60.0)
        conn.execute("PRAGMA busy_timeout = 60000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _install_functions(conn)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {self.quote(SCHEMAS_TABLE)} (schema_name TEXT PRIMARY KEY) STRICT")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.quote(COLUMNS_TABLE)} (table_name TEXT NOT NULL, "
            "column_name TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '', declared_type TEXT NOT NULL DEFAULT '', "
            "PRIMARY KEY (table_name, column_name)) STRICT"
        )
        return conn

    def begin_sql(self) -> str:
        return "BEGIN IMMEDIATE"

    def connection_id(self, conn) -> int:
        return os.getpid()

    def is_connection_error(self, error: Exception) -> bool:
        return isinstance(error, sqlite3.ProgrammingError) and "closed" in str(error)

    # ---- types ---------------------------------------------------------------------
    def column_sql_type(self, column: ColumnDDL, schema: str) -> str:
        declared = column.declared
        name = declared.name
        # "INT", not "INTEGER": a lone INTEGER primary key would become an alias of the rowid, which
        # ignores its default and turns an inserted NULL into a fresh number instead of an error.
        if declared.category == "core":
            if name.startswith("int") or name == "bool":
                return "INT"
            if name.startswith("float") or name == "decimal":
                return "REAL"
            if name in ("uuid", "bytes"):
                return "BLOB"
            return "TEXT"
        native = name.lower()
        if re.match(r"(tiny|small|medium|big)?int|integer|serial|bit|boolean|year", native):
            return "INTEGER" if ("auto_increment" in native or "serial" in native) else "INT"
        if re.match(r"double|float|real|decimal|numeric|dec|fixed", native):
            return "REAL"
        if re.search(r"blob|binary|bytea", native):
            return "BLOB"
        return "TEXT"

    def _checks(self, column: ColumnDDL) -> list[str]:
        declared = column.declared
        name = self.quote(column.name)
        checks = []
        if declared.category == "core":
            if declared.name in _INT_RANGES:
                low, high = _INT_RANGES[declared.name]
                checks.append(f"{name} BETWEEN {low} AND {high}")
            elif declared.name == "bool":
                checks.append(f"{name} IN (0, 1)")
            elif declared.name in ("varchar", "char"):
                checks.append(f"length({name}) <= {declared.params[0]}")
            elif declared.name == "enum":
                checks.append(f"{name} IN (" + ", ".join(self.string_literal(v) for v in declared.params) + ")")
            elif declared.name == "uuid":
                checks.append(f"length({name}) = 16")
        elif declared.category == "native" and "unsigned" in declared.name:
            checks.append(f"{name} >= 0")
        return [f"CHECK ({c})" for c in checks]

    def constant_sql(self, constant: str) -> str:
        if constant.upper().startswith("CURRENT_TIMESTAMP"):
            precision = re.search(r"\((\d)\)", constant)
            if precision and int(precision.group(1)) > 0:
                return "(strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime'))"
            return "(datetime('now', 'localtime'))"
        return constant

    # ---- DDL ---------------------------------------------------------------------------
    def create_schema_sql(self, schema: str) -> list[str]:
        self.check_schema_name(schema)
        return [f"INSERT INTO {self.quote(SCHEMAS_TABLE)} (schema_name) VALUES ({self.string_literal(schema)}) "
                "ON CONFLICT DO NOTHING"]

    def drop_schema_sql(self, schema: str) -> list[str]:
        return [f"DELETE FROM {self.quote(SCHEMAS_TABLE)} WHERE schema_name = {self.string_literal(schema)}"]

    def create_table_sql(self, ddl: TableDDL) -> list[str]:
        stored = self.stored_name(ddl.schema, ddl.table)
        lines = []
        for column in ddl.columns:
            parts = [self.quote(column.name), self.column_sql_type(column, ddl.schema)]
            if not column.nullable:
                parts.append("NOT NULL")
            default = self.default_sql(column)
            if default:
                parts.append(default)
            parts.extend(self._checks(column))
            lines.append(" ".join(parts))
        lines.append("PRIMARY KEY (" + ", ".join(self.quote(c) for c in ddl.primary_key) + ")")
        for fk in ddl.foreign_keys:
            child_cols = ", ".join(self.quote(c) for c, _ in fk.columns)
            parent_cols = ", ".join(self.quote(p) for _, p in fk.columns)
            lines.append(f"FOREIGN KEY ({child_cols}) REFERENCES {self.table_ref(*fk.parent)} ({parent_cols}) "
                         "ON UPDATE CASCADE ON DELETE RESTRICT")
        statements = [f"CREATE TABLE {self.quote(stored)} (\n  " + ",\n  ".join(lines) + "\n) STRICT"]
        for number, (columns, unique) in enumerate(ddl.indexes):
            index_name = self.quote(f"{stored}.idx{number}")
            statements.append(
                f"CREATE {'UNIQUE ' if unique else ''}INDEX {index_name} ON {self.quote(stored)} ("
                + ", ".join(self.quote(c) for c in columns) + ")")
        statements.extend(self._comment_statements(stored, ddl.comment, ddl.columns))
        return statements

    def _comment_statements(self, stored: str, table_comment: str | None, columns: list[ColumnDDL]) -> list[str]:
        rows = []
        if table_comment is not None:
            rows.append((stored, "", table_comment, ""))
        for column in columns:
            rows.append((stored, column.name, column.comment, column.declared.text))
        return [
            f"INSERT INTO {self.quote(COLUMNS_TABLE)} (table_name, column_name, comment, declared_type) VALUES ("
            + ", ".join(self.string_literal(v) for v in row)
            + ") ON CONFLICT (table_name, column_name) DO UPDATE SET comment = excluded.comment, "
            "declared_type = excluded.declared_type"
            for row in rows
        ]

    def drop_table_sql(self, schema: str, table: str) -> list[str]:
        stored = self.stored_name(schema, table)
        return [f"DROP TABLE {self.quote(stored)}",
                f"DELETE FROM {self.quote(COLUMNS_TABLE)} WHERE table_name = {self.string_literal(stored)}"]

    def alter_sql(self, schema, table, added, changed, dropped, table_comment):
        stored = self.stored_name(schema, table)
        statements = []
        for column in added:
            parts = [self.quote(column.name), self.column_sql_type(column, schema)]
            if not column.nullable:
                parts.append("NOT NULL")
            default = self.default_sql(column)
            if default:
                parts.append(default)
            parts.extend(self._checks(column))
            statements.append(f"ALTER TABLE {self.quote(stored)} ADD COLUMN " + " ".join(parts))
        for name in dropped:
            statements.append(f"ALTER TABLE {self.quote(stored)} DROP COLUMN {self.quote(name)}")
            statements.append(f"DELETE FROM {self.quote(COLUMNS_TABLE)} WHERE table_name = "
                              f"{self.string_literal(stored)} AND column_name = {self.string_literal(name)}")
        statements.extend(self._comment_statements(stored, table_comment, added + changed))
        return statements

    # ---- introspection ------------------------------------------------------------------
    def list_schemas(self, conn) -> list[str]:
        rows = conn.query(f"SELECT schema_name FROM {self.quote(SCHEMAS_TABLE)} ORDER BY schema_name").fetchall()
        return [r[0] for r in rows]

    def list_tables(self, conn, schema: str) -> list[str]:
        prefix = f"{schema}."
        rows = conn.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ? ORDER BY name",
            (len(prefix), prefix)).fetchall()
        return [r[0][len(prefix):] for r in rows]

    def columns(self, conn, schema: str, table: str) -> list[ColumnInfo]:
        stored = self.stored_name(schema, table)
        info = conn.query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?)", (stored,)).fetchall()
        meta = {row[0]: (row[1], row[2]) for row in conn.query(
            f"SELECT column_name, comment, declared_type FROM {self.quote(COLUMNS_TABLE)} WHERE table_name = ?",
            (stored,)).fetchall()}
        columns = []
        for name, sql_type, notnull, default, pk in info:
            comment, declared = meta.get(name, ("", ""))
            if declared and not comment.startswith(":") and not declared.startswith("<") and not _is_core(declared):
                sql_type = declared  # native type: report what was declared
            columns.append(ColumnInfo(name, sql_type, not notnull, parse_default_sql(default), comment, in_key=pk > 0))
        return columns

    def table_comment(self, conn, schema: str, table: str) -> str:
        row = conn.query(f"SELECT comment FROM {self.quote(COLUMNS_TABLE)} WHERE table_name = ? AND column_name = ''",
                         (self.stored_name(schema, table),)).fetchone()
        return row[0] if row else ""

    def primary_key_order(self, conn, schema: str, table: str) -> list[str]:
        info = conn.query("SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
                          (self.stored_name(schema, table),)).fetchall()
        return [r[0] for r in info]

    def foreign_keys(self, conn, schemas: Sequence[str]) -> list[ForeignKeyInfo]:
        wanted = set(schemas)
        tables = [r[0] for r in conn.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND instr(name, '.') > 0").fetchall()]
        result = []
        for stored in tables:
            child = tuple(stored.split(".", 1))
            rows = conn.query("SELECT id, seq, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?) "
                              "ORDER BY id, seq", (stored,)).fetchall()
            groups: dict[int, list] = {}
            for fk_id, _seq, parent, source, target in rows:
                groups.setdefault(fk_id, []).append((parent, source, target))
            for items in groups.values():
                parent = tuple(items[0][0].split(".", 1))
                if child[0] in wanted or parent[0] in wanted:
                    result.append(ForeignKeyInfo(child, parent, tuple((s, t) for _, s, t in items)))
        return result

    def indexes(self, conn, schema: str, table: str):
        stored = self.stored_name(schema, table)
        result = []
        for _seq, name, unique, origin, _partial in conn.query("SELECT * FROM pragma_index_list(?)", (stored,)).fetchall():
            if origin == "pk":
                continue
            columns = tuple(r[0] for r in conn.query("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (name,)).fetchall())
            result.append((columns, bool(unique), name))
        # in declaration order (the pragma lists the newest first), so describe() is stable
        number = lambda name: int(m.group(1)) if (m := re.search(r"\.idx(\d+)$", name)) else -1
        return [(columns, unique) for columns, unique, _ in sorted(result, key=lambda r: number(r[2]))]

    # ---- DML -------------------------------------------------------------------------------
    def conflict_clause(self, columns, primary_key, on_duplicate):
        if on_duplicate == "skip":
            return " ON CONFLICT DO NOTHING"
        if on_duplicate == "replace":
            updates = [c for c in columns if c not in primary_key]
            target = ", ".join(self.quote(c) for c in primary_key)
            if not updates:
                return f" ON CONFLICT ({target}) DO NOTHING"
            return f" ON CONFLICT ({target}) DO UPDATE SET " + ", ".join(
                f"{self.quote(c)} = excluded.{self.quote(c)}" for c in updates)
        return ""

    def lineage_table_sql(self, schema: str) -> list[str]:
        ref = self.table_ref(schema, "~lineage")
        return [f"CREATE TABLE IF NOT EXISTS {ref} (table_name TEXT NOT NULL, attribute_name TEXT NOT NULL, "
                "lineage TEXT NOT NULL, PRIMARY KEY (table_name, attribute_name)) STRICT"]

    def primary_keys(self, conn, schema: str) -> dict[str, list[str]]:
        result = {}
        for table in self.list_tables(conn, schema):
            if table.startswith("~"):
                continue
            result[table] = self.primary_key_order(conn, schema, table)
        return result

    def table_size(self, conn, schema: str, table: str) -> int:
        try:
            row = conn.query("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (self.stored_name(schema, table),)).fetchone()
            return int(row[0] or 0)
        except Exception:
            return 0

    def enum_order_sql(self, term: str, values: tuple) -> str:
        cases = " ".join(f"WHEN {self.string_literal(v)} THEN {i}" for i, v in enumerate(values))
        return f"CASE {term} {cases} END"

    def current_user(self, conn) -> str:
        return f"{getpass.getuser()}@localhost"  # a file has no accounts: the operating-system user

    def now_sql(self, precision: int = 3) -> str:
        if precision:
            return "strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime')"
        return "datetime('now', 'localtime')"

    def like_is_case_sensitive(self) -> bool:
        return False

    # ---- values ------------------------------------------------------------------------------
    def encoder(self, declared):
        base = super().encoder(declared)
        if declared.category == "core":
            if declared.name == "datetime":
                return lambda v: _iso(base(v))
            if declared.name == "date":
                return lambda v: _iso(base(v))
            if declared.name == "decimal":
                return lambda v: None if (d := base(v)) is None else float(d)
        elif declared.category == "native":
            return lambda v: _iso(base(v)) if isinstance(v, (datetime.date, datetime.time, datetime.timedelta)) else (
                float(v) if isinstance(v, decimal.Decimal) else base(v))
        return base

    def column_decoder(self, declared):
        if declared.category == "core" and declared.name == "datetime":
            return _datetime_column
        if declared.category == "core" and declared.name == "date":
            return _date_column
        return super().column_decoder(declared)

    def decoder(self, declared):
        if declared.category == "core":
            if declared.name == "datetime":
                return _parse_datetime
            if declared.name == "date":
                return _parse_date
            if declared.name == "decimal":
                scale = declared.params[1]
                quantum = decimal.Decimal(1).scaleb(-scale)
                return lambda v: None if v is None else decimal.Decimal(repr(float(v))).quantize(quantum)
        return super().decoder(declared)

    # ---- errors --------------------------------------------------------------------------------
    def translate_error(self, error: Exception) -> Exception:
        if isinstance(error, DataJointError):
            return error
        message = str(error)
        if isinstance(error, sqlite3.IntegrityError):
            if message.startswith("UNIQUE constraint failed") or "PRIMARY KEY" in message:
                columns = message.split(":", 1)[-1].strip()
                return DuplicateError(f"Duplicate entry: a row with the same {_columns(columns)} already exists.",
                                      hint="Use skip_duplicates=True to ignore duplicates or replace=True to overwrite.")
            if "FOREIGN KEY constraint failed" in message:
                return IntegrityError(
                    "Foreign key constraint failed: the row references a parent row that does not exist, "
                    "or other rows still reference this one.",
                    hint="Insert the parent rows first; delete() removes dependent rows together with their parents.")
            if message.startswith("NOT NULL constraint failed"):
                column = message.split(":", 1)[-1].strip()
                return MissingAttributeError(f"Missing value for required attribute {_columns(column)}.",
                                             hint="Provide a value, or declare the attribute with `= null`.")
            if message.startswith("CHECK constraint failed"):
                return DataJointError(f"A value is out of the range its type allows ({message.split(':', 1)[-1].strip()}).",
                                      hint="Check enum members, string lengths and integer ranges against the definition.")
            if "cannot store" in message:
                return DataJointError(f"Wrong value type: {message}.", hint="Pass values of the attribute's declared type.")
        if isinstance(error, sqlite3.OperationalError):
            if "no such table" in message:
                return MissingTableError(f"{message}.", hint="Declare the table (or activate its schema) first.")
            if "no such column" in message:
                return UnknownAttributeError(f"{message}.", hint="Check the attribute names against the heading.")
            if "parser stack overflow" in message or "too many terms" in message or "Expression tree is too large" in message:
                return QuerySyntaxError(f"The query is nested too deeply for SQLite ({message}).",
                                        hint="Fetch an intermediate result, or restrict by keys instead of deep expressions.")
            if "syntax error" in message or "unrecognized token" in message:
                return QuerySyntaxError(f"SQL syntax error: {message}.")
            if "database is locked" in message:
                return DataJointError("The SQLite database stayed locked by another process for 60 s.",
                                      hint="Another process holds a long write transaction; let it finish and retry.")
            if "readonly" in message:
                return DataJointError(f"The SQLite database is read-only: {message}.")
        if isinstance(error, sqlite3.ProgrammingError) and "closed" in message:
            return LostConnectionError("The SQLite connection was closed.", hint="Call dj.conn(reset=True).")
        if isinstance(error, sqlite3.ProgrammingError) and "one statement at a time" in message:
            return QuerySyntaxError("SQLite runs one SQL statement per query.", hint="Send the statements one by one.")
        if isinstance(error, (sqlite3.InterfaceError, OverflowError)):
            return DataJointError(f"A value cannot be stored: {message}.", hint="Pass values of the declared type.")
        return error


_CORE_PREFIXES = ("int8", "int16", "int32", "int64", "float32", "float64", "bool", "date", "uuid", "json", "bytes",
                  "datetime", "char", "varchar", "decimal", "enum")


def _is_core(declared: str) -> bool:
    return declared.split("(")[0] in _CORE_PREFIXES


def _columns(text: str) -> str:
    names = [part.strip().split(".", 1)[-1].rsplit(".", 1)[-1] for part in text.split(",")]
    return ", ".join(names)


def _iso(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    return value


def _datetime_column(values):
    import pandas

    return pandas.to_datetime(pandas.Series(values, dtype="object"), format="ISO8601", errors="coerce")


def _date_column(values):
    column = np.empty(len(values), dtype=object)
    column[:] = [None if v is None else datetime.date.fromisoformat(v) for v in values]
    return column


def _parse_datetime(value):
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(value)


def _parse_date(value):
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(value[:10])
