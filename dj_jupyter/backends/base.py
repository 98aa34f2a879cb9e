"""The interface every database backend implements.

Everything that depends on the SQL dialect lives behind this interface:
identifier quoting, type mapping, DDL, upsert syntax, introspection, value
conversion and error translation. The rest of the library writes parameter
markers with ``placeholder``, quotes identifiers with ``quote``, and passes any
SQL text that may contain ``%`` (parsed restriction strings) through
``protect_percent`` so drivers with the ``format`` paramstyle read it literally.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DataJointError

SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class ColumnInfo:
    """A column as the database reports it."""

    name: str
    sql_type: str
    nullable: bool
    default: str | None
    comment: str
    in_key: bool = False
    autoincrement: bool = False


@dataclass(frozen=True)
class ForeignKeyInfo:
    """One foreign key constraint: child columns referencing parent columns."""

    child: tuple[str, str]  # (schema, table)
    parent: tuple[str, str]
    columns: tuple[tuple[str, str], ...]  # (child_column, parent_column)


@dataclass
class ColumnDDL:
    """A column ready for CREATE TABLE: the backend maps ``core_type`` to its own type."""

    name: str
    declared: Any  # DeclaredType of the storage type (after codec resolution)
    nullable: bool
    default: Any  # parser.Default or None
    comment: str  # full column comment, e.g. ":int32:subject id"
    type_schema: str | None = None  # schema owning a named type (PostgreSQL enums of a parent)


@dataclass
class TableDDL:
    schema: str
    table: str
    comment: str
    columns: list[ColumnDDL]
    primary_key: list[str]
    foreign_keys: list[ForeignKeyInfo] = field(default_factory=list)
    indexes: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (columns, unique)


class FetchedResult:
    """A statement's result with its rows already read, used like a driver cursor: one statement of a
    multi-statement round trip, rows turned into dicts, or a result read back from the query cache."""

    def __init__(self, description, rows: list, rowcount: int | None = None, lastrowid=None):
        self.description = description
        self.rows = rows
        self.rowcount = len(rows) if rowcount is None else rowcount
        self.lastrowid = lastrowid
        self._next = 0

    @classmethod
    def of(cls, cursor) -> "FetchedResult":
        rows = list(cursor.fetchall()) if cursor.description else []
        return cls(cursor.description, rows, cursor.rowcount, getattr(cursor, "lastrowid", None))

    @classmethod
    def named(cls, names: list[str], rows: list) -> "FetchedResult":
        return cls([(name, None, None, None, None, None, None) for name in names], rows)

    @property
    def names(self) -> list[str]:
        return [column[0] for column in self.description or ()]

    def with_dicts(self) -> "FetchedResult":
        """The rows not yet read, as dicts of column name to value."""
        names = self.names
        return FetchedResult(self.description, [dict(zip(names, row)) for row in self.fetchall()], self.rowcount,
                             self.lastrowid)

    def fetchone(self):
        if self._next >= len(self.rows):
            return None
        self._next += 1
        return self.rows[self._next - 1]

    def fetchmany(self, size: int = 1) -> list:
        rows = self.rows[self._next:self._next + size]
        self._next += len(rows)
        return rows

    def fetchall(self) -> list:
        rows = self.rows[self._next:]
        self._next = len(self.rows)
        return rows

    def __iter__(self):
        return iter(self.fetchall())

    def close(self) -> None:
        self.rows, self._next = [], 0


class Backend:
    """Base class; subclasses fill in the dialect."""

    name = "base"
    sqlglot_dialect = ""
    quote_char = '"'
    max_name_length = 64
    supports_transactional_ddl = False

    # ---- naming -----------------------------------------------------------------
    def quote(self, name: str) -> str:
        if not isinstance(name, str) or not name or "\x00" in name or "?" in name or "%" in name:
            raise DataJointError(f"Invalid identifier {name!r}.")
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def check_schema_name(self, name: str) -> str:
        if not isinstance(name, str) or not SCHEMA_NAME.fullmatch(name):
            raise DataJointError(
                f"Invalid schema name {name!r}.",
                hint="Schema names start with a letter or _ and contain only letters, digits and _ (at most 64).",
            )
        return name

    def table_ref(self, schema: str, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}"

    def string_literal(self, value: str) -> str:
        """A string literal for DDL, where parameters cannot be used."""
        if "\x00" in value:
            raise DataJointError("Text in a definition cannot contain NUL characters.")
        return "'" + value.replace("'", "''") + "'"

    placeholder = "%s"

    def protect_percent(self, sql: str) -> str:
        """Escape ``%`` for drivers that use the ``format`` paramstyle."""
        return sql.replace("%", "%%")

    # ---- connections ---------------------------------------------------------------
    def connect(self, settings: dict) -> Any:
        raise NotImplementedError

    def describe_target(self, settings: dict) -> str:
        """Human-readable connection target without credentials."""
        return f"{self.name}://{settings.get('user') or ''}@{settings.get('host')}:{settings.get('port')}"

    def begin_sql(self) -> str:
        return "BEGIN"

    def is_connection_error(self, error: Exception) -> bool:
        return False

    def connection_id(self, conn: Any) -> int:
        return 0

    def ping(self, raw: Any) -> bool:
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            return True
        except Exception:
            return False

    # ---- types ----------------------------------------------------------------------
    def column_sql_type(self, column: ColumnDDL, schema: str) -> str:
        raise NotImplementedError

    def default_sql(self, column: ColumnDDL) -> str:
        default = column.default
        if column.nullable:
            return "DEFAULT NULL"
        if default is None:
            return ""
        if default.constant:
            return f"DEFAULT {self.constant_sql(default.constant)}"
        value = default.value
        if isinstance(value, bool):
            return f"DEFAULT {self.bool_literal(value, column)}"
        if isinstance(value, (int, float)):
            return f"DEFAULT {value!r}"
        return f"DEFAULT {self.string_literal(str(value))}"

    def bool_literal(self, value: bool, column: ColumnDDL) -> str:
        return "1" if value else "0"

    def constant_sql(self, constant: str) -> str:
        return constant

    # ---- DDL ------------------------------------------------------------------------
    def create_schema_sql(self, schema: str) -> list[str]:
        raise NotImplementedError

    def drop_schema_sql(self, schema: str) -> list[str]:
        raise NotImplementedError

    def create_table_sql(self, ddl: TableDDL) -> list[str]:
        raise NotImplementedError

    def drop_table_sql(self, schema: str, table: str) -> list[str]:
        return [f"DROP TABLE {self.table_ref(schema, table)}"]

    def alter_sql(self, schema: str, table: str, added: list[ColumnDDL], changed: list[ColumnDDL],
                  dropped: list[str], table_comment: str | None) -> list[str]:
        raise NotImplementedError

    # ---- introspection ---------------------------------------------------------------
    def list_schemas(self, conn) -> list[str]:
        raise NotImplementedError

    def schema_exists(self, conn, schema: str) -> bool:
        return schema in self.list_schemas(conn)

    def list_tables(self, conn, schema: str) -> list[str]:
        raise NotImplementedError

    def columns(self, conn, schema: str, table: str) -> list[ColumnInfo]:
        raise NotImplementedError

    def table_comment(self, conn, schema: str, table: str) -> str:
        raise NotImplementedError

    def foreign_keys(self, conn, schemas: Sequence[str]) -> list[ForeignKeyInfo]:
        """Foreign keys whose child or parent lives in one of ``schemas``."""
        raise NotImplementedError

    def indexes(self, conn, schema: str, table: str) -> list[tuple[tuple[str, ...], bool]]:
        """Secondary indexes as (columns, unique), excluding the primary key."""
        raise NotImplementedError

    def table_sizes(self, conn, schema: str) -> dict[str, int]:
        """Approximate row counts per table, when cheap; empty if the backend cannot tell."""
        return {}

    # ---- DML ---------------------------------------------------------------------------
    def insert_sql(self, table_ref: str, columns: Sequence[str], primary_key: Sequence[str],
                   on_duplicate: str = "error") -> str:
        """INSERT with ``on_duplicate`` in ("error", "skip", "replace")."""
        names = ", ".join(self.quote(c) for c in columns)
        marks = ", ".join(self.placeholder for _ in columns)
        return f"INSERT INTO {table_ref} ({names}) VALUES ({marks})" + self.conflict_clause(
            columns, primary_key, on_duplicate)

    def insert_select_sql(self, table_ref: str, columns: Sequence[str], primary_key: Sequence[str],
                          on_duplicate: str, select_sql: str) -> str:
        """INSERT ... SELECT with the same duplicate handling as ``insert_sql``."""
        names = ", ".join(self.quote(c) for c in columns)
        return (f"INSERT INTO {table_ref} ({names}) SELECT * FROM ({select_sql}) AS {self.quote('_i')} WHERE 1 = 1"
                + self.conflict_clause(columns, primary_key, on_duplicate))

    def execute(self, raw, sql: str, params: Sequence | dict | None):
        """Run one statement on the driver connection ``raw``; returns its cursor."""
        cursor = raw.cursor()
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params if isinstance(params, dict) else tuple(params))
        return cursor

    def run_batch(self, raw, statements: list) -> list:
        """Execute (sql, params) statements in order; backends that can, send them in one round trip."""
        return [self.execute(raw, sql, params) for sql, params in statements]

    def bulk_insert_worthwhile(self, rows: int) -> bool:
        """Whether ``bulk_insert`` is faster than executemany for this many rows."""
        return False

    def bulk_insert(self, cursor, table_ref: str, columns: Sequence[str], rows: list) -> int:
        """Insert rows through the driver's bulk path; duplicates raise as with INSERT."""
        raise NotImplementedError

    def conflict_clause(self, columns: Sequence[str], primary_key: Sequence[str], on_duplicate: str) -> str:
        """The clause that skips or replaces rows whose primary key exists."""
        raise NotImplementedError

    def limit_sql(self, limit: int | None, offset: int | None) -> str:
        if limit is None and not offset:
            return ""
        if limit is None:
            return f" LIMIT {self.no_limit} OFFSET {int(offset)}"
        return f" LIMIT {int(limit)}" + (f" OFFSET {int(offset)}" if offset else "")

    no_limit = "18446744073709551615"

    def page_sql(self, sql: str) -> str:
        """``sql`` followed by LIMIT and OFFSET as parameters: one statement text for every page."""
        return f"{sql} LIMIT {self.placeholder} OFFSET {self.placeholder}"

    def delete_sql(self, table_ref: str, key: Sequence[str] | None, select_sql: str, expr=None) -> str:
        """DELETE the rows of ``table_ref`` that ``select_sql`` selects (by primary key)."""
        if not key:
            return f"DELETE FROM {table_ref} WHERE EXISTS ({select_sql})"
        columns = ", ".join(self.quote(k) for k in key)
        target = f"({columns})" if len(key) > 1 else columns
        return (f"DELETE FROM {table_ref} WHERE {target} IN "
                f"(SELECT {columns} FROM ({select_sql}) AS {self.quote('_d')})")

    def lineage_table_sql(self, schema: str) -> list[str]:
        """DDL of the ``~lineage`` table (DataJoint's layout)."""
        raise NotImplementedError

    def lineage_rows_sql(self, schema: str) -> str:
        """Every (table, attribute, origin) row of the schema's ``~lineage`` table."""
        columns = ", ".join(self.quote(c) for c in ("table_name", "attribute_name", "lineage"))
        return f"SELECT {columns} FROM {self.table_ref(schema, '~lineage')}"

    def lineage_delete_sql(self, schema: str) -> str:
        """Remove one table's rows from the ``~lineage`` table (its name is the parameter)."""
        return f"DELETE FROM {self.table_ref(schema, '~lineage')} WHERE {self.quote('table_name')} = {self.placeholder}"

    def primary_keys(self, conn, schema: str) -> dict[str, list[str]]:
        """Primary-key columns of every table in ``schema``, in key order."""
        raise NotImplementedError

    def table_size(self, conn, schema: str, table: str) -> int:
        return 0

    def estimate_rows(self, conn, sql: str, params=()) -> int | None:
        """The planner's estimate of the rows ``sql`` returns, when it is cheap; None if unknown."""
        return None

    def order_item(self, term: str, direction: str, nullable: bool = True) -> str:
        """One ORDER BY item; NULLs sort as the smallest value on every backend (MySQL's and SQLite's rule)."""
        return f"{term} {direction}" if direction else term

    def enum_order_sql(self, term: str, values: tuple) -> str:
        """An ORDER BY term that sorts an enum in declaration order (native enums already do)."""
        return term

    def now_sql(self, precision: int = 3) -> str:
        """The server's local time as an SQL expression comparable with datetime columns."""
        return f"CURRENT_TIMESTAMP({precision})"

    def live_connection_ids(self, conn) -> set[int] | None:
        """Ids of the server's open connections, or None when the backend cannot tell."""
        return None

    def random_sql(self) -> str:
        return "RANDOM()"

    def current_user(self, conn) -> str:
        """The account this connection is logged in as, as the server reports it."""
        return conn.query("SELECT current_user").fetchone()[0]

    def like_is_case_sensitive(self) -> bool:
        return True

    # ---- values ------------------------------------------------------------------------
    def encoder(self, declared) -> Callable[[Any], Any] | None:
        """A function turning a Python value into the driver value for a storage type."""
        name = declared.name
        if declared.category == "core":
            if name in ("float32", "float64"):
                return _encode_float
            if name.startswith("int"):
                return _encode_int
            if name == "bool":
                return self.encode_bool
            if name == "uuid":
                return self.encode_uuid
            if name == "json":
                return self.encode_json
            if name == "decimal":
                return self.encode_decimal
            if name == "datetime":
                return self.encode_datetime
            if name == "date":
                return self.encode_date
            if name in ("varchar", "char", "enum"):
                return _encode_text
            if name == "bytes":
                return _encode_bytes
        return _encode_native

    def decoder(self, declared) -> Callable[[Any], Any] | None:
        """A function turning a driver value into the Python value, or None when none is needed."""
        name = declared.name
        if declared.category == "core":
            if name == "bool":
                return _decode_bool
            if name == "uuid":
                return self.decode_uuid
            if name == "json":
                return self.decode_json
            if name == "bytes":
                return _decode_bytes
        return None

    def column_decoder(self, declared) -> Callable[[Sequence], Any] | None:
        """A vectorized decoder for a whole column of a core type (used to build DataFrames), or None."""
        if declared.name == "bool":
            return _bool_column
        return None

    def encode_bool(self, value):
        if value is None:
            return None
        return int(bool(value))

    def encode_uuid(self, value):
        if value is None:
            return None
        return _as_uuid(value).bytes

    def decode_uuid(self, value):
        if value is None:
            return None
        if isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(bytes=bytes(value))

    def encode_json(self, value):
        if value is None:
            return None
        return json.dumps(value, default=_json_default)

    def decode_json(self, value):
        if value is None or not isinstance(value, (str, bytes, bytearray)):
            return value
        return json.loads(value)

    def encode_decimal(self, value):
        if value is None:
            return None
        if isinstance(value, float) and math.isnan(value):
            return None
        try:
            return decimal.Decimal(str(value)) if not isinstance(value, decimal.Decimal) else value
        except decimal.InvalidOperation:
            raise DataJointError(f"{value!r} is not a decimal number.") from None

    def encode_datetime(self, value):
        if value is None:
            return None
        if isinstance(value, np.datetime64):
            if np.isnat(value):
                return None
            value = value.astype("datetime64[us]").item()
        if isinstance(value, str):
            try:
                value = datetime.datetime.fromisoformat(value.strip())
            except ValueError:
                raise DataJointError(f"Cannot read {value!r} as a datetime; use ISO format YYYY-MM-DD HH:MM:SS.") from None
        if hasattr(value, "to_pydatetime"):
            value = value.to_pydatetime()
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            value = datetime.datetime(value.year, value.month, value.day)
        return value

    def encode_date(self, value):
        if value is None:
            return None
        if isinstance(value, np.datetime64):
            if np.isnat(value):
                return None
            value = value.astype("datetime64[D]").item()
        if isinstance(value, str):
            try:
                value = datetime.date.fromisoformat(value.strip()[:10])
            except ValueError:
                raise DataJointError(f"Cannot read {value!r} as a date; use ISO format YYYY-MM-DD.") from None
        if isinstance(value, datetime.datetime):
            value = value.date()
        return value

    # ---- errors --------------------------------------------------------------------------
    def translate_error(self, error: Exception) -> Exception:
        return error


def parse_default_sql(text: str | None):
    """A column default as the database reports it, read back into a definition default."""
    from ..declare.parser import Default

    if text is None:
        return None
    value = text.strip()
    while value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    value = re.sub(r"::[a-z ]+(\(\d+\))?(\[\])?$", "", value, flags=re.I)
    upper = value.upper()
    if upper == "NULL":
        return Default(constant="NULL")
    if "STRFTIME" in upper and "%F" in upper:
        return Default(constant="CURRENT_TIMESTAMP(3)")
    timestamp = re.fullmatch(r"(CURRENT_TIMESTAMP|NOW|LOCALTIMESTAMP)\s*(\(\s*(\d?)\s*\))?", upper)
    if timestamp or upper.startswith("DATETIME('NOW'"):
        precision = timestamp.group(3) if timestamp else None
        return Default(constant=f"CURRENT_TIMESTAMP({precision})" if precision and precision != "0" else "CURRENT_TIMESTAMP")
    if len(value) >= 2 and value[0] == value[-1] == "'":
        inner = value[1:-1].replace("''", "'")
        return Default(value=inner.replace("\\\\", "\\"))
    if re.fullmatch(r"[+-]?\d+", value):
        return Default(value=int(value))
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", value):
        return Default(value=float(value))
    if upper in ("TRUE", "FALSE"):
        return Default(value=upper == "TRUE")
    return Default(value=value)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (datetime.date, datetime.datetime, uuid.UUID, decimal.Decimal)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _as_uuid(value) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        if isinstance(value, (bytes, bytearray)) and len(value) == 16:
            return uuid.UUID(bytes=bytes(value))
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise DataJointError(f"{value!r} is not a valid UUID.") from None


def _encode_float(value):
    if value is None:
        return None
    if isinstance(value, (np.ndarray,)) and value.size == 1:
        value = value.item()
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DataJointError(f"{value!r} is not a number.") from None
    return None if math.isnan(value) else value


def _encode_int(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if not float(value).is_integer():
            raise DataJointError(f"{value!r} is not an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataJointError(f"{value!r} is not an integer.") from None


def _encode_text(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.str_,)):
        return str(value)
    if not isinstance(value, str):
        if isinstance(value, (int, float, np.integer, np.floating, decimal.Decimal)):
            return str(value)
        raise DataJointError(f"{type(value).__name__} value {value!r} cannot be stored as text.")
    return value


def _encode_bytes(value):
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, np.ndarray):
        return value.tobytes()
    raise DataJointError(f"{type(value).__name__} cannot be stored as bytes; pass bytes, or use <blob> for objects.")


def _decode_bytes(value):
    if value is None or isinstance(value, bytes):
        return value
    return bytes(value)


def _encode_native(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, uuid.UUID):
        return value.bytes
    return value


def _bool_column(values):
    if None in values:
        return np.array([None if v is None else bool(v) for v in values], dtype=object)
    return np.array(values, dtype=bool)


def _decode_bool(value):
    if value is None:
        return None
    return bool(value)
