"""The MySQL / MariaDB backend (PyMySQL).

Schemas are databases. The layout follows DataJoint 2.3: InnoDB tables, core
types mapped to MySQL types (``bool`` -> ``tinyint``, ``uuid`` ->
``binary(16)``, ``bytes`` -> ``longblob``, ``float32`` -> ``float``), the
declared type at the start of each column comment (``:int32:comment``),
foreign keys ``ON UPDATE CASCADE ON DELETE RESTRICT``. The connection runs in
autocommit mode with strict SQL modes; the library issues its own
``START TRANSACTION``/``COMMIT``. The client accepts packets up to 1 GiB so
large blobs pass when the server allows them too.
"""

from __future__ import annotations

import re
from typing import Sequence

import pymysql
from pymysql.constants import CLIENT

from ..errors import (
    AccessError,
    DataJointError,
    DuplicateError,
    IntegrityError,
    LostConnectionError,
    MissingAttributeError,
    MissingTableError,
    QueryError,
    QuerySyntaxError,
    UnknownAttributeError,
    TransactionConflictError,
)
from ._server import as_bool, coerce_default, natural_key, scrub
from .base import Backend, ColumnDDL, ColumnInfo, FetchedResult, ForeignKeyInfo, TableDDL, parse_default_sql

SQL_MODE = ("NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,STRICT_ALL_TABLES,"
            "NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY")
MAX_PACKET = 1 << 30
SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")

_CORE_TYPES = {
    "int8": "tinyint",
    "int16": "smallint",
    "int32": "int",
    "int64": "bigint",
    "float32": "float",
    "float64": "double",
    "bool": "tinyint",
    "uuid": "binary(16)",
    "bytes": "longblob",
    "json": "json",
    "date": "date",
}
# 2006 gone away, 2013 lost during query, 2014/2045/2055 broken protocol or socket,
# 4031 disconnected by the server (idle), 1927 connection killed (MariaDB), 1053 server shutdown.
_LOST = {2006, 2013, 2014, 2045, 2055, 4031, 1927, 1053, 2003, 2002}
_ACCESS = {1044, 1045, 1142, 1143, 1227, 1370, 1211, 1410}
_VALUE = {1406, 1264, 1265, 1366, 1292, 4025, 3819, 1367, 1300, 3140, 1690, 1441}


class MySQLBackend(Backend):
    name = "mysql"
    sqlglot_dialect = "mysql"
    quote_char = "`"
    max_name_length = 64
    supports_transactional_ddl = False
    placeholder = "%s"
    no_limit = "18446744073709551615"

    def __init__(self):
        self.mariadb = True

    # ---- naming ------------------------------------------------------------------------
    def string_literal(self, value: str) -> str:
        if "\x00" in value:
            raise DataJointError("Text in a definition cannot contain NUL characters.")
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"

    # ---- connection ------------------------------------------------------------------------
    def describe_target(self, settings: dict) -> str:
        return f"mysql://{settings.get('user') or ''}@{settings.get('host')}:{settings.get('port')}"

    def connect(self, settings: dict):
        password = settings.get("password")
        kwargs = dict(
            host=settings.get("host") or "localhost",
            port=int(settings.get("port") or 3306),
            user=settings.get("user") or None,
            password=password if password is not None else "",
            charset=settings.get("charset") or "utf8mb4",
            autocommit=True,
            sql_mode=SQL_MODE,
            max_allowed_packet=MAX_PACKET,
            binary_prefix=True,
            connect_timeout=int(settings.get("connect_timeout") or 10),
            local_infile=False,
            client_flag=CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,  # run_batch: one round trip
        )
        use_tls = settings.get("use_tls")
        if use_tls is False:
            kwargs["ssl_disabled"] = True
        elif use_tls is True:
            kwargs["ssl"] = {}
        elif isinstance(use_tls, dict):
            kwargs["ssl"] = use_tls
        try:
            raw = pymysql.connect(**kwargs)
        except pymysql.MySQLError as error:
            code = error.args[0] if error.args else None
            message = scrub(str(error.args[1] if len(error.args) > 1 else error), password)
            target = self.describe_target(settings)
            if code in (1045, 1044, 1698):
                raise AccessError(f"Cannot log in to {target}: {message}",
                                  hint="Check database.user and database.password (dj.config, DJ_USER/DJ_PASS "
                                       "or .secrets/).") from None
            raise LostConnectionError(f"Cannot connect to {target}: {message}",
                                      hint="Check that the server runs and that host and port are right.") from None
        self.mariadb = "mariadb" in (raw.get_server_info() or "").lower()
        if self.mariadb:
            # MariaDB's split-materialized ("lateral derived") optimisation drops rows from outer joins of
            # grouped derived tables (seen on 10.11; tests/backends/query/test_operators.py reproduces it)
            try:
                with raw.cursor() as cursor:
                    cursor.execute("SET SESSION optimizer_switch='split_materialized=off'")
            except pymysql.MySQLError:
                pass
        return raw

    def begin_sql(self) -> str:
        return "START TRANSACTION WITH CONSISTENT SNAPSHOT"

    def execute(self, raw, sql, params):
        """One statement; a text of several (allowed on these connections for ``run_batch``) runs whole,
        returns the first one's result and leaves no unread results behind on the connection."""
        cursor = super().execute(raw, sql, params)
        if getattr(getattr(cursor, "_result", None), "has_next", False):
            first = FetchedResult.of(cursor)
            while cursor.nextset():
                pass
            return first
        return cursor

    def run_batch(self, raw, statements: list) -> list:
        """Several statements in one round trip: the driver quotes each one's values as it always does,
        and the server runs them in order, stopping at the first that fails (which raises its error)."""
        if len(statements) < 2:
            return super().run_batch(raw, statements)
        cursor = raw.cursor()
        text = ";\n".join(cursor.mogrify(sql, None if params is None else tuple(params)) for sql, params in statements)
        cursor.execute(text)
        results = [FetchedResult.of(cursor)]
        while len(results) < len(statements):
            cursor.nextset()
            results.append(FetchedResult.of(cursor))
        return results

    def ping(self, raw) -> bool:
        try:
            raw.ping(reconnect=False)
            return True
        except Exception:
            return False

    def connection_id(self, conn) -> int:
        return int(conn.query("SELECT CONNECTION_ID()").fetchone()[0])

    def is_connection_error(self, error: Exception) -> bool:
        if isinstance(error, pymysql.err.InterfaceError):
            return True
        if isinstance(error, pymysql.err.OperationalError):
            return bool(error.args) and error.args[0] in _LOST
        return isinstance(error, (ConnectionError, BrokenPipeError))

    # ---- types ---------------------------------------------------------------------------------
    def column_sql_type(self, column: ColumnDDL, schema: str) -> str:
        declared = column.declared
        name = declared.name
        if declared.category == "core":
            if name in _CORE_TYPES:
                return _CORE_TYPES[name]
            if name == "datetime":
                return f"datetime({declared.params[0]})" if declared.params else "datetime"
            if name in ("char", "varchar"):
                return f"{name}({declared.params[0]})"
            if name == "decimal":
                return f"decimal({declared.params[0]},{declared.params[1]})"
            if name == "enum":
                # binary collation: enum members match exactly, as on PostgreSQL and SQLite
                return ("enum(" + ",".join(self.string_literal(v) for v in declared.params) + ")"
                        " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            raise DataJointError(f"The core type {declared.text} has no MySQL mapping.")
        if declared.category == "codec":
            raise DataJointError(f"The codec type {declared.text} must be resolved to its storage type first.")
        return _native_type(name)

    def _column_sql(self, column: ColumnDDL, schema: str) -> str:
        parts = [self.quote(column.name), self.column_sql_type(column, schema)]
        if not column.nullable:
            parts.append("NOT NULL")
        default = self.default_sql(column)
        if default:
            parts.append(default)
        if column.comment:
            parts.append(f"COMMENT {self.string_literal(column.comment)}")
        return " ".join(parts)

    # ---- DDL ------------------------------------------------------------------------------------
    def create_schema_sql(self, schema: str) -> list[str]:
        self.check_schema_name(schema)
        return [f"CREATE DATABASE {self.quote(schema)} CHARACTER SET utf8mb4"]

    def drop_schema_sql(self, schema: str) -> list[str]:
        return [f"DROP DATABASE IF EXISTS {self.quote(schema)}"]

    def create_table_sql(self, ddl: TableDDL) -> list[str]:
        ref = self.table_ref(ddl.schema, ddl.table)
        lines = [self._column_sql(column, ddl.schema) for column in ddl.columns]
        lines.append("PRIMARY KEY (" + ", ".join(self.quote(c) for c in ddl.primary_key) + ")")
        for fk in ddl.foreign_keys:
            child_cols = ", ".join(self.quote(c) for c, _ in fk.columns)
            parent_cols = ", ".join(self.quote(p) for _, p in fk.columns)
            lines.append(f"FOREIGN KEY ({child_cols}) REFERENCES {self.table_ref(*fk.parent)} ({parent_cols}) "
                         "ON UPDATE CASCADE ON DELETE RESTRICT")
        for columns, unique in ddl.indexes:
            lines.append(f"{'UNIQUE ' if unique else ''}INDEX (" + ", ".join(self.quote(c) for c in columns) + ")")
        options = "ENGINE=InnoDB"
        if ddl.comment:
            options += f" COMMENT={self.string_literal(ddl.comment)}"
        return [f"CREATE TABLE {ref} (\n  " + ",\n  ".join(lines) + f"\n) {options}"]

    def alter_sql(self, schema, table, added, changed, dropped, table_comment):
        ref = self.table_ref(schema, table)
        clauses = [f"ADD COLUMN {self._column_sql(column, schema)}" for column in added]
        clauses += [f"DROP COLUMN {self.quote(name)}" for name in dropped]
        clauses += [f"MODIFY COLUMN {self._column_sql(column, schema)}" for column in changed]
        if table_comment is not None:
            clauses.append(f"COMMENT={self.string_literal(table_comment)}")
        return [f"ALTER TABLE {ref} " + ", ".join(clauses)] if clauses else []

    def lineage_table_sql(self, schema: str) -> list[str]:
        ref = self.table_ref(schema, "~lineage")
        return [f"CREATE TABLE IF NOT EXISTS {ref} (\n"
                "`table_name` VARCHAR(64) NOT NULL COMMENT 'table name within the schema',\n"
                "`attribute_name` VARCHAR(64) NOT NULL COMMENT 'attribute name',\n"
                "`lineage` VARCHAR(255) NOT NULL COMMENT 'origin: schema.table.attribute',\n"
                "PRIMARY KEY (`table_name`, `attribute_name`)\n) ENGINE=InnoDB"]

    # ---- introspection -------------------------------------------------------------------------
    def list_schemas(self, conn) -> list[str]:
        marks = ", ".join(["%s"] * len(SYSTEM_SCHEMAS))
        rows = conn.query(f"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ({marks}) "
                          "ORDER BY SCHEMA_NAME", SYSTEM_SCHEMAS).fetchall()
        return [_text(r[0]) for r in rows]

    def schema_exists(self, conn, schema: str) -> bool:
        row = conn.query("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                         (schema,)).fetchone()
        return bool(row[0])

    def list_tables(self, conn, schema: str) -> list[str]:
        rows = conn.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                          "AND TABLE_TYPE = 'BASE TABLE'", (schema,)).fetchall()
        return sorted(_text(r[0]) for r in rows)

    def columns(self, conn, schema: str, table: str) -> list[ColumnInfo]:
        rows = conn.query(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT, COLUMN_KEY, EXTRA "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "ORDER BY ORDINAL_POSITION", (schema, table)).fetchall()
        result = []
        for name, sql_type, nullable, default, comment, key, extra in rows:
            name, sql_type, comment, extra = _text(name), _text(sql_type), _text(comment) or "", _text(extra) or ""
            default = _text(default)
            if default is None:
                parsed = None
            elif self.mariadb or "DEFAULT_GENERATED" in extra.upper():
                parsed = parse_default_sql(default)
            else:  # MySQL 8 reports literal defaults without quotes
                from ..declare.parser import Default

                parsed = Default(value=default)
            parsed = coerce_default(parsed, comment, sql_type)
            result.append(ColumnInfo(name, sql_type, nullable == "YES", parsed, comment,
                                     in_key=_text(key) == "PRI",
                                     autoincrement="auto_increment" in extra.lower()))
        return result

    def table_comment(self, conn, schema: str, table: str) -> str:
        row = conn.query("SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                         "AND TABLE_NAME = %s", (schema, table)).fetchone()
        return (_text(row[0]) or "") if row else ""

    def foreign_keys(self, conn, schemas: Sequence[str]) -> list[ForeignKeyInfo]:
        schemas = list(dict.fromkeys(schemas))
        if not schemas:
            return []
        marks = ", ".join(["%s"] * len(schemas))
        rows = conn.query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, CONSTRAINT_NAME, "
            "COLUMN_NAME, REFERENCED_COLUMN_NAME, ORDINAL_POSITION FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE REFERENCED_TABLE_NAME IS NOT NULL "
            f"AND (TABLE_SCHEMA IN ({marks}) OR REFERENCED_TABLE_SCHEMA IN ({marks}))",
            tuple(schemas) * 2).fetchall()
        groups: dict[tuple, list] = {}
        for child_schema, child_table, parent_schema, parent_table, constraint, column, parent_column, position in rows:
            key = (_text(child_schema), _text(child_table), _text(constraint))
            entry = groups.setdefault(key, [(_text(parent_schema), _text(parent_table)), []])
            entry[1].append((int(position), _text(column), _text(parent_column)))
        result = []
        for key in sorted(groups, key=lambda k: (k[0], k[1], natural_key(k[2]))):
            parent, columns = groups[key]
            columns.sort()
            result.append(ForeignKeyInfo((key[0], key[1]), parent, tuple((c, p) for _, c, p in columns)))
        return result

    def indexes(self, conn, schema: str, table: str):
        rows = conn.query(
            "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND INDEX_NAME <> 'PRIMARY'", (schema, table)).fetchall()
        groups: dict[str, list] = {}
        for index_name, non_unique, column, seq in rows:
            entry = groups.setdefault(_text(index_name), [not int(non_unique), []])
            entry[1].append((int(seq), _text(column)))
        result = []
        for unique, columns in groups.values():
            names = [c for _, c in sorted(columns)]
            if None not in names:
                result.append((tuple(names), unique))
        return result

    def primary_keys(self, conn, schema: str) -> dict[str, list[str]]:
        rows = conn.query(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (schema,)).fetchall()
        result: dict[str, list[str]] = {}
        for table, column in rows:
            table = _text(table)
            if table.startswith("~"):
                continue
            result.setdefault(table, []).append(_text(column))
        return result

    def table_sizes(self, conn, schema: str) -> dict[str, int]:
        rows = conn.query("SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                          "AND TABLE_TYPE = 'BASE TABLE'", (schema,)).fetchall()
        return {_text(name): int(count or 0) for name, count in rows}

    def table_size(self, conn, schema: str, table: str) -> int:
        row = conn.query("SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
                         "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (schema, table)).fetchone()
        return int(row[0] or 0) if row else 0

    # ---- DML ---------------------------------------------------------------------------------------
    def _duplicate_clause(self, table_ref: str | None, columns, primary_key, on_duplicate) -> str:
        if on_duplicate not in ("skip", "replace"):
            return ""
        prefix = f"{table_ref}." if table_ref else ""
        updates = [c for c in columns if c not in primary_key]
        if on_duplicate == "skip" or not updates:
            first = self.quote(primary_key[0])
            return f" ON DUPLICATE KEY UPDATE {prefix}{first} = {prefix}{first}"
        return " ON DUPLICATE KEY UPDATE " + ", ".join(
            f"{prefix}{self.quote(c)} = VALUES({self.quote(c)})" for c in updates)

    def conflict_clause(self, columns, primary_key, on_duplicate):
        return self._duplicate_clause(None, columns, primary_key, on_duplicate)

    def insert_sql(self, table_ref, columns, primary_key, on_duplicate="error"):
        names = ", ".join(self.quote(c) for c in columns)
        marks = ", ".join(self.placeholder for _ in columns)
        return (f"INSERT INTO {table_ref} ({names}) VALUES ({marks})"
                + self._duplicate_clause(table_ref, columns, primary_key, on_duplicate))

    def insert_select_sql(self, table_ref, columns, primary_key, on_duplicate, select_sql):
        names = ", ".join(self.quote(c) for c in columns)
        return (f"INSERT INTO {table_ref} ({names}) SELECT * FROM ({select_sql}) AS {self.quote('_i')}"
                + self._duplicate_clause(table_ref, columns, primary_key, on_duplicate))

    def random_sql(self) -> str:
        return "RAND()"

    def now_sql(self, precision: int = 3) -> str:
        return f"CURRENT_TIMESTAMP({int(precision)})" if precision else "CURRENT_TIMESTAMP"

    def current_user(self, conn) -> str:
        return conn.query("SELECT USER()").fetchone()[0]  # user@client host, as DataJoint reports it

    def live_connection_ids(self, conn) -> set[int] | None:
        """Every connection's id when this account may see them all (PROCESS privilege), else None."""
        try:
            allowed = conn.query(
                "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES "
                "WHERE PRIVILEGE_TYPE IN ('PROCESS', 'SUPER') AND GRANTEE = CONCAT(%s, "
                "SUBSTRING_INDEX(CURRENT_USER(), '@', 1), %s, SUBSTRING_INDEX(CURRENT_USER(), '@', -1), %s)",
                ("'", "'@'", "'")).fetchone()[0]
            if not allowed:
                return None
            rows = conn.query("SELECT ID FROM information_schema.PROCESSLIST").fetchall()
        except DataJointError:
            return None
        return {int(r[0]) for r in rows}

    def like_is_case_sensitive(self) -> bool:
        return False

    # ---- values --------------------------------------------------------------------------------------
    def encode_bool(self, value):
        value = as_bool(value)
        return None if value is None else int(value)

    # ---- errors ----------------------------------------------------------------------------------------
    def translate_error(self, error: Exception) -> Exception:
        if isinstance(error, DataJointError) or not isinstance(error, pymysql.MySQLError):
            return error
        code = error.args[0] if error.args and isinstance(error.args[0], int) else None
        message = str(error.args[1]) if len(error.args) > 1 else str(error)
        if code == 1062:
            return DuplicateError(f"{message}.",
                                  hint="Use skip_duplicates=True to ignore duplicates or replace=True to overwrite.")
        if code in (1451, 1217):
            return IntegrityError(f"Cannot delete or change rows: other rows still reference them ({message}).",
                                  hint="Use delete(), which removes dependent rows together with their parents.")
        if code in (1452, 1216):
            return IntegrityError(f"Foreign key constraint failed: the row references a parent row that does not "
                                  f"exist ({message}).", hint="Insert the parent rows first.")
        if code in (1048, 1364):
            column = re.search(r"'([^']+)'", message)
            name = column.group(1) if column else "?"
            return MissingAttributeError(f"Missing value for required attribute `{name}` ({message}).",
                                         hint="Provide a value, or declare the attribute with `= null`.")
        if code in (1146, 1049):
            return MissingTableError(f"{message}.", hint="Declare the table (or activate its schema) first.")
        if code == 1054:
            return UnknownAttributeError(f"{message}.", hint="Check the attribute names against the heading.")
        if code in _ACCESS:
            return AccessError(f"Permission denied: {message}.",
                               hint="Ask the database administrator for the privilege, or use another account.")
        if code in (1064, 1149):
            return QuerySyntaxError(f"SQL syntax error: {message}.")
        if code in _VALUE:
            return DataJointError(f"Invalid value: {message}.",
                                  hint="Pass values of the declared type (enum members, string lengths, ranges).")
        if code == 1050:
            return DataJointError(f"{message}.", hint="The table already exists.")
        if code in (1213, 1205):
            return TransactionConflictError(f"{message}.", hint="Another transaction interfered; run the operation again.")
        if code == 1153:
            return DataJointError(f"{message}.", hint="The value is larger than max_allowed_packet on the server; "
                                                      "raise it (e.g. --max-allowed-packet=1G).")
        if self.is_connection_error(error):
            return LostConnectionError(f"The connection to the MySQL server was lost: {message}",
                                       hint="Reconnect with dj.conn(reset=True) and run the operation again.")
        return QueryError(f"{message}" + (f" (MySQL error {code})" if code else ""))


def _text(value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    return value


_PG_NATIVE = {
    "bytea": "longblob",
    "jsonb": "json",
    "boolean": "tinyint",
    "double precision": "double",
    "real": "float",
    "serial": "int auto_increment",
    "bigserial": "bigint auto_increment",
    "smallserial": "smallint auto_increment",
}


def _native_type(text: str) -> str:
    """A native type for MySQL: PostgreSQL spellings are translated, MySQL ones pass through."""
    text = text.strip().lower()
    if text in _PG_NATIVE:
        return _PG_NATIVE[text]
    match = re.fullmatch(r"numeric(\s*\(.*\))?", text)
    if match:
        return "decimal" + (match.group(1) or "")
    return text
