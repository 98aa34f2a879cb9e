"""The PostgreSQL backend (psycopg 3).

Schemas are PostgreSQL schemas inside one database (``database.name``,
``postgres`` by default). Results are transferred in binary, so ``bytea``
columns arrive as bytes without text decoding; the connection runs in
autocommit mode and the library issues ``BEGIN``/``COMMIT`` itself.

On-disk layout follows DataJoint 2.3: core types map to native PostgreSQL
types (``int8`` -> ``smallint``, ``json`` -> ``jsonb``, ``bytes`` -> ``bytea``,
``datetime(n)`` -> ``timestamp(n)``, ``decimal`` -> ``numeric``), enums are
named types ``enum_<hash of the sorted values>`` in the table's schema, column
comments carry the declared type (``:int32:comment``) through ``COMMENT ON``,
and foreign keys get a supporting index unless the primary key or another
index already starts with their columns.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from typing import Sequence

import psycopg
from psycopg.types.string import BytesBinaryDumper
from psycopg import errors as pg_errors
from psycopg.adapt import Loader
from psycopg.pq import Format

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
from ._server import as_bool, coerce_default, enum_type_name, fk_support_indexes, scrub
from .base import Backend, ColumnDDL, ColumnInfo, ForeignKeyInfo, TableDDL, _as_uuid, _json_default
from .postgres_types import (decode_bytes, decode_char, decode_float32, decode_text, native_type, parse_default,
                             reported_type)

_CORE_TYPES = {
    "int8": "smallint",  # PostgreSQL has no one-byte integer; the range is checked
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float32": "real",
    "float64": "double precision",
    "bool": "boolean",
    "uuid": "uuid",
    "json": "jsonb",
    "bytes": "bytea",
    "date": "date",
}
_ENUM_TAG = "$dj_enum$"
_CLEANUP_TAG = "$dj_cleanup$"
_CONNECTION_STATES = ("57P01", "57P02", "57P03")  # admin/crash shutdown, cannot connect now


class _BinaryResults:
    """Cursors that ask the server for results in binary format."""

    def __init__(self, connection, *, row_factory=None):
        super().__init__(connection, row_factory=row_factory)
        self.format = Format.BINARY


class _BinaryCursor(_BinaryResults, psycopg.Cursor):
    """The connection's cursor."""


class _RawBinaryCursor(_BinaryResults, psycopg.RawCursor):
    """For statements whose placeholders are already ``$1, $2, ...``."""


_PSYCOPG_CACHED_LENGTH = 4096
_PSYCOPG_CACHED_PARAMETERS = 50
_MARKER = re.compile(r"%%|%s")
_OTHER_PERCENT = re.compile(r"%(?![%s])")


@functools.lru_cache(maxsize=256)
def _numbered_placeholders(sql: str) -> str | None:
    """``sql`` with ``%s`` markers numbered ``$1, $2, ...`` and ``%%`` unescaped; None when it has other
    ``%`` forms, which psycopg's own parser handles."""
    if _OTHER_PERCENT.search(sql.replace("%%", "")):
        return None
    counter = itertools.count(1)
    return _MARKER.sub(lambda match: "%" if match.group() == "%%" else f"${next(counter)}", sql)


class _UnknownBinaryLoader(Loader):
    """Values of types psycopg has no binary loader for (enum labels): text when it decodes."""

    format = Format.BINARY

    def load(self, data):
        data = bytes(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data


class PostgresBackend(Backend):
    name = "postgresql"
    sqlglot_dialect = "postgres"
    quote_char = '"'
    max_name_length = 63
    supports_transactional_ddl = True
    no_limit = "ALL"
    placeholder = "%s"

    # ---- connection -----------------------------------------------------------------
    def bulk_insert_worthwhile(self, rows: int) -> bool:
        return rows >= 64

    def bulk_insert(self, cursor, table_ref, columns, rows) -> int:
        names = ", ".join(self.quote(c) for c in columns)
        with cursor.copy(f"COPY {table_ref} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)

    def run_batch(self, raw, statements: list) -> list:
        """Several statements in one round trip (libpq pipeline mode): BEGIN with a check, records with COMMIT.

        A failing statement raises its own error when the pipeline syncs; the ones after it do not run.
        """
        if len(statements) < 2:
            return super().run_batch(raw, statements)
        with raw.pipeline():
            return [self.execute(raw, sql, params) for sql, params in statements]

    def execute(self, raw, sql, params):
        """Long statements (multi-row inserts, batch checks) skip psycopg's placeholder parsing, which it
        caches only up to 4 KB and 50 parameters: their ``%s`` markers become ``$n`` once per statement text."""
        if params and not isinstance(params, dict) and (len(sql) > _PSYCOPG_CACHED_LENGTH
                                                        or len(params) > _PSYCOPG_CACHED_PARAMETERS):
            numbered = _numbered_placeholders(sql)
            if numbered is not None:
                cursor = _RawBinaryCursor(raw)
                cursor.execute(numbered, tuple(params))
                return cursor
        return super().execute(raw, sql, params)

    def order_item(self, term: str, direction: str, nullable: bool = True) -> str:
        if not nullable:  # plain terms keep index scans usable
            return f"{term} {direction}" if direction else term
        return f"{term} DESC NULLS LAST" if direction == "DESC" else f"{term} ASC NULLS FIRST"

    def describe_target(self, settings: dict) -> str:
        database = settings.get("name") or "postgres"
        return f"postgresql://{settings.get('user') or ''}@{settings.get('host')}:{settings.get('port')}/{database}"

    def connect(self, settings: dict):
        use_tls = settings.get("use_tls")
        if settings.get("sslmode"):
            sslmode = settings["sslmode"]
        elif use_tls is False:
            sslmode = "disable"
        elif use_tls is True or isinstance(use_tls, dict):
            sslmode = "require"
        else:
            sslmode = "prefer"
        tls = {}
        if isinstance(use_tls, dict):  # MySQL-style keys, as DataJoint users write them
            for key, name in (("ca", "sslrootcert"), ("cert", "sslcert"), ("key", "sslkey")):
                if use_tls.get(key):
                    tls[name] = str(use_tls[key])
            if "sslrootcert" in tls and not settings.get("sslmode"):
                sslmode = "verify-ca"
        password = settings.get("password")
        try:
            raw = psycopg.connect(
                host=settings.get("host") or "localhost",
                port=int(settings.get("port") or 5432),
                user=settings.get("user") or None,
                password=password,
                dbname=settings.get("name") or "postgres",
                sslmode=sslmode,
                **tls,
                connect_timeout=int(settings.get("connect_timeout") or 10),
                application_name="dj_jupyter",
                autocommit=True,
                # statements run 5 times are prepared (a third faster bulk inserts); psycopg forgets them
                # after DROP/ALTER/ROLLBACK. Pass prepare_threshold=None for poolers such as PgBouncer.
                prepare_threshold=settings.get("prepare_threshold", 5),
                cursor_factory=_BinaryCursor,
            )
        except psycopg.Error as error:
            message = scrub(str(error).strip(), password)
            target = self.describe_target(settings)
            if "password authentication failed" in message or "no password supplied" in message:
                raise AccessError(f"Cannot log in to {target}: {message}",
                                  hint="Check database.user and database.password (dj.config, DJ_USER/DJ_PASS "
                                       "or .secrets/).") from None
            if "does not exist" in message and "database" in message:
                raise LostConnectionError(f"Cannot connect to {target}: {message}",
                                          hint="Set dj.config['database.name'] to an existing database "
                                               "(schemas live inside it).") from None
            raise LostConnectionError(f"Cannot connect to {target}: {message}",
                                      hint="Check that the server runs and that host and port are right.") from None
        raw.adapters.register_loader(0, _UnknownBinaryLoader)
        # bytes travel in binary format (the default text format hex-encodes them: 2x the data, 2x slower)
        for kind in (bytes, bytearray, memoryview):
            raw.adapters.register_dumper(kind, BytesBinaryDumper)
        raw.execute("SET jit = off")  # JIT compilation costs ~100 ms per query on tables without statistics
        return raw

    def begin_sql(self) -> str:
        return "BEGIN"

    def ping(self, raw) -> bool:
        if getattr(raw, "closed", True) or getattr(raw, "broken", False):
            return False
        return super().ping(raw)

    def connection_id(self, conn) -> int:
        return int(conn.query("SELECT pg_backend_pid()").fetchone()[0])

    def is_connection_error(self, error: Exception) -> bool:
        if isinstance(error, psycopg.OperationalError):
            state = getattr(error, "sqlstate", None)
            return state is None or state.startswith("08") or state in _CONNECTION_STATES
        if isinstance(error, psycopg.InterfaceError):
            return "closed" in str(error) or "connection" in str(error).lower()
        return isinstance(error, (ConnectionError, BrokenPipeError))

    # ---- types ---------------------------------------------------------------------------
    def enum_type_ref(self, schema: str, values: Sequence[str]) -> str:
        return f"{self.quote(schema)}.{self.quote(enum_type_name(values))}"

    def column_sql_type(self, column: ColumnDDL, schema: str) -> str:
        declared = column.declared
        name = declared.name
        if declared.category == "core":
            if name in _CORE_TYPES:
                return _CORE_TYPES[name]
            if name == "datetime":
                return f"timestamp({declared.params[0]})" if declared.params else "timestamp"
            if name in ("char", "varchar"):
                return f"{name}({declared.params[0]})"
            if name == "decimal":
                return f"numeric({declared.params[0]},{declared.params[1]})"
            if name == "enum":
                return self.enum_type_ref(column.type_schema or schema, declared.params)
            raise DataJointError(f"The core type {declared.text} has no PostgreSQL mapping.")
        if declared.category == "codec":
            raise DataJointError(f"The codec type {declared.text} must be resolved to its storage type first.")
        return native_type(name)

    def _checks(self, column: ColumnDDL) -> list[str]:
        declared = column.declared
        quoted = self.quote(column.name)
        if declared.category == "core" and declared.name == "int8":
            return [f"CHECK ({quoted} BETWEEN -128 AND 127)"]
        if declared.category == "native" and re.search(r"\bunsigned\b", declared.name) and \
                "auto_increment" not in declared.name:
            return [f"CHECK ({quoted} >= 0)"]
        return []

    def bool_literal(self, value: bool, column: ColumnDDL) -> str:
        declared = column.declared
        if declared.category == "core" and declared.name == "bool" or declared.name in ("boolean", "bool"):
            return "TRUE" if value else "FALSE"
        return "1" if value else "0"

    def constant_sql(self, constant: str) -> str:
        return constant

    def _column_sql(self, column: ColumnDDL, schema: str) -> str:
        sql_type = self.column_sql_type(column, schema)
        parts = [self.quote(column.name), sql_type]
        identity = "GENERATED BY DEFAULT AS IDENTITY" in sql_type
        if not column.nullable:
            parts.append("NOT NULL")
        if not identity:
            default = self.default_sql(column)
            if default:
                parts.append(default)
        parts.extend(self._checks(column))
        return " ".join(parts)

    def _enum_statements(self, columns: list[ColumnDDL], schema: str) -> list[str]:
        statements = []
        for column in columns:
            declared = column.declared
            if declared.category != "core" or declared.name != "enum":
                continue
            target = column.type_schema or schema
            values = ", ".join(self.string_literal(v) for v in declared.params)
            if _ENUM_TAG in values:
                raise DataJointError(f"The enum values of `{column.name}` contain {_ENUM_TAG}.",
                                     hint="Choose other enum values.")
            statement = (f"DO {_ENUM_TAG} BEGIN CREATE TYPE {self.enum_type_ref(target, declared.params)} "
                         f"AS ENUM ({values}); EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; "
                         f"END {_ENUM_TAG}")
            if statement not in statements:
                statements.append(statement)
        return statements

    # ---- DDL ---------------------------------------------------------------------------------
    def create_schema_sql(self, schema: str) -> list[str]:
        self.check_schema_name(schema)
        return [f"CREATE SCHEMA {self.quote(schema)}"]

    def drop_schema_sql(self, schema: str) -> list[str]:
        # Tables were dropped one by one before; CASCADE removes what is left of the schema
        # itself (enum types, the ~lineage and job tables).
        return [f"DROP SCHEMA IF EXISTS {self.quote(schema)} CASCADE"]

    def create_table_sql(self, ddl: TableDDL) -> list[str]:
        ref = self.table_ref(ddl.schema, ddl.table)
        statements = self._enum_statements(ddl.columns, ddl.schema)
        lines = [self._column_sql(column, ddl.schema) for column in ddl.columns]
        lines.append("PRIMARY KEY (" + ", ".join(self.quote(c) for c in ddl.primary_key) + ")")
        for fk in ddl.foreign_keys:
            child_cols = ", ".join(self.quote(c) for c, _ in fk.columns)
            parent_cols = ", ".join(self.quote(p) for _, p in fk.columns)
            lines.append(f"FOREIGN KEY ({child_cols}) REFERENCES {self.table_ref(*fk.parent)} ({parent_cols}) "
                         "ON UPDATE CASCADE ON DELETE RESTRICT")
        statements.append(f"CREATE TABLE {ref} (\n  " + ",\n  ".join(lines) + "\n)")
        for columns, unique in ddl.indexes:
            statements.append(f"CREATE {'UNIQUE ' if unique else ''}INDEX ON {ref} ("
                              + ", ".join(self.quote(c) for c in columns) + ")")
        for columns in fk_support_indexes(ddl.primary_key, ddl.indexes, ddl.foreign_keys):
            statements.append(f"CREATE INDEX ON {ref} (" + ", ".join(self.quote(c) for c in columns) + ")")
        if ddl.comment:
            statements.append(f"COMMENT ON TABLE {ref} IS {self.string_literal(ddl.comment)}")
        for column in ddl.columns:
            if column.comment:
                statements.append(f"COMMENT ON COLUMN {ref}.{self.quote(column.name)} IS "
                                  f"{self.string_literal(column.comment)}")
        statements += self._storage_statements(ref, ddl.columns)
        return statements

    def _storage_statements(self, ref: str, columns: list[ColumnDDL]) -> list[str]:
        """Codec bytes (``<blob>``, ``<attach>``) are compressed by the codec when that pays; storing them
        EXTERNAL spares the server a second compression attempt (a 100 MB blob inserts about twice as fast)."""
        return [f"ALTER TABLE {ref} ALTER COLUMN {self.quote(column.name)} SET STORAGE EXTERNAL"
                for column in columns
                if column.declared.category == "core" and column.declared.name == "bytes"
                and (column.comment or "").startswith(":<")]

    def drop_table_sql(self, schema: str, table: str) -> list[str]:
        return [f"DROP TABLE {self.table_ref(schema, table)}", self._drop_unused_enums_sql(schema)]

    def _drop_unused_enums_sql(self, schema: str) -> str:
        """Remove the schema's DataJoint enum types that no column uses any more (best effort)."""
        return (
            f"DO {_CLEANUP_TAG} DECLARE r record; BEGIN "
            "FOR r IN SELECT t.typname::text AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            f"WHERE n.nspname = {self.string_literal(schema)} AND t.typtype = 'e' AND left(t.typname, 5) = 'enum_' "
            "AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.atttypid = t.oid AND NOT a.attisdropped) LOOP "
            f"BEGIN EXECUTE format('DROP TYPE %I.%I', {self.string_literal(schema)}, r.name); "
            "EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END; "
            f"END LOOP; END {_CLEANUP_TAG}"
        )

    def alter_sql(self, schema, table, added, changed, dropped, table_comment):
        ref = self.table_ref(schema, table)
        statements = self._enum_statements(list(added) + list(changed), schema)
        for column in added:
            statements.append(f"ALTER TABLE {ref} ADD COLUMN {self._column_sql(column, schema)}")
        for name in dropped:
            statements.append(f"ALTER TABLE {ref} DROP COLUMN {self.quote(name)}")
        for column in changed:
            quoted = self.quote(column.name)
            sql_type = self.column_sql_type(column, schema)
            statements.append(f"ALTER TABLE {ref} ALTER COLUMN {quoted} TYPE {sql_type} USING {quoted}::{sql_type}")
            statements.append(f"ALTER TABLE {ref} ALTER COLUMN {quoted} "
                              + ("DROP NOT NULL" if column.nullable else "SET NOT NULL"))
            default = self.default_sql(column)
            statements.append(f"ALTER TABLE {ref} ALTER COLUMN {quoted} "
                              + (f"SET {default}" if default else "DROP DEFAULT"))
        for column in list(added) + list(changed):
            statements.append(f"COMMENT ON COLUMN {ref}.{self.quote(column.name)} IS "
                              + (self.string_literal(column.comment) if column.comment else "NULL"))
        statements += self._storage_statements(ref, list(added) + list(changed))
        if table_comment is not None:
            statements.append(f"COMMENT ON TABLE {ref} IS "
                              + (self.string_literal(table_comment) if table_comment else "NULL"))
        if dropped or changed:
            statements.append(self._drop_unused_enums_sql(schema))
        return statements

    def lineage_table_sql(self, schema: str) -> list[str]:
        ref = self.table_ref(schema, "~lineage")
        return [f"CREATE TABLE IF NOT EXISTS {ref} (\n"
                '  "table_name" VARCHAR(64) NOT NULL,\n'
                '  "attribute_name" VARCHAR(64) NOT NULL,\n'
                '  "lineage" VARCHAR(255) NOT NULL,\n'
                '  PRIMARY KEY ("table_name", "attribute_name")\n)']

    # ---- introspection ----------------------------------------------------------------------
    def list_schemas(self, conn) -> list[str]:
        rows = conn.query(
            "SELECT n.nspname::text FROM pg_namespace n "
            "WHERE left(n.nspname, 3) <> 'pg_' AND n.nspname <> 'information_schema' "
            "AND (n.nspname <> 'public' OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid "
            "AND c.relkind IN ('r', 'p'))) ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def schema_exists(self, conn, schema: str) -> bool:
        return conn.query("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (schema,)).fetchone()[0]

    def list_tables(self, conn, schema: str) -> list[str]:
        rows = conn.query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname", (schema,)).fetchall()
        return [r[0] for r in rows]

    def columns(self, conn, schema: str, table: str) -> list[ColumnInfo]:
        rows = conn.query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum), "
            "COALESCE(a.attnum = ANY (i.indkey), false), a.attidentity::text "
            "FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (schema, table)).fetchall()
        result = []
        for name, sql_type, notnull, default, comment, in_key, identity in rows:
            sql_type = reported_type(sql_type)
            comment = comment or ""
            autoincrement = bool(identity) or bool(default and default.startswith("nextval("))
            parsed = None if autoincrement else coerce_default(parse_default(default), comment, sql_type)
            result.append(ColumnInfo(name, sql_type, not notnull, parsed, comment, in_key=bool(in_key),
                                     autoincrement=autoincrement))
        return result

    def table_comment(self, conn, schema: str, table: str) -> str:
        row = conn.query(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s", (schema, table)).fetchone()
        return (row[0] or "") if row else ""

    def foreign_keys(self, conn, schemas: Sequence[str]) -> list[ForeignKeyInfo]:
        schemas = list(dict.fromkeys(schemas))
        if not schemas:
            return []
        marks = ", ".join(["%s"] * len(schemas))
        rows = conn.query(
            "SELECT ns1.nspname::text, cl1.relname::text, ns2.nspname::text, cl2.relname::text, con.oid::bigint, "
            "a1.attname::text, a2.attname::text "
            "FROM pg_constraint con "
            "JOIN pg_class cl1 ON cl1.oid = con.conrelid JOIN pg_namespace ns1 ON ns1.oid = cl1.relnamespace "
            "JOIN pg_class cl2 ON cl2.oid = con.confrelid JOIN pg_namespace ns2 ON ns2.oid = cl2.relnamespace "
            "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_att, parent_att, ord) "
            "JOIN pg_attribute a1 ON a1.attrelid = con.conrelid AND a1.attnum = k.child_att "
            "JOIN pg_attribute a2 ON a2.attrelid = con.confrelid AND a2.attnum = k.parent_att "
            f"WHERE con.contype = 'f' AND (ns1.nspname IN ({marks}) OR ns2.nspname IN ({marks})) "
            "ORDER BY ns1.nspname, cl1.relname, con.oid, k.ord", tuple(schemas) * 2).fetchall()
        groups: dict[int, list] = {}
        for child_schema, child_table, parent_schema, parent_table, oid, child_col, parent_col in rows:
            groups.setdefault(oid, [(child_schema, child_table), (parent_schema, parent_table), []])[2].append(
                (child_col, parent_col))
        return [ForeignKeyInfo(child, parent, tuple(columns)) for child, parent, columns in groups.values()]

    def indexes(self, conn, schema: str, table: str):
        rows = conn.query(
            "SELECT i.indexrelid::bigint, i.indisunique, a.attname::text "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            "WHERE n.nspname = %s AND c.relname = %s AND NOT i.indisprimary AND i.indpred IS NULL "
            "ORDER BY i.indexrelid, k.ord", (schema, table)).fetchall()
        groups: dict[int, list] = {}
        for oid, unique, column in rows:
            groups.setdefault(oid, [bool(unique), []])[1].append(column)
        return [(tuple(columns), unique) for unique, columns in groups.values() if None not in columns]

    def primary_keys(self, conn, schema: str) -> dict[str, list[str]]:
        rows = conn.query(
            "SELECT c.relname::text, a.attname::text FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            "WHERE i.indisprimary AND n.nspname = %s AND left(c.relname, 1) <> '~' "
            "ORDER BY c.relname, k.ord", (schema,)).fetchall()
        result: dict[str, list[str]] = {}
        for table, column in rows:
            result.setdefault(table, []).append(column)
        return result

    def table_sizes(self, conn, schema: str) -> dict[str, int]:
        rows = conn.query(
            "SELECT c.relname::text, GREATEST(c.reltuples, 0)::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
            (schema,)).fetchall()
        return {name: int(count) for name, count in rows}

    def table_size(self, conn, schema: str, table: str) -> int:
        row = conn.query(
            "SELECT pg_total_relation_size(c.oid)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s", (schema, table)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def estimate_rows(self, conn, sql: str, params=()) -> int | None:
        """The planner's row estimate (EXPLAIN, no execution): a millisecond even on 10M rows."""
        row = conn.query("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
        plan = row[0] if row else None
        if isinstance(plan, (str, bytes)):
            plan = json.loads(plan)
        try:
            return int(plan[0]["Plan"]["Plan Rows"])
        except (TypeError, KeyError, IndexError, ValueError):
            return None

    # ---- DML ---------------------------------------------------------------------------------
    def conflict_clause(self, columns, primary_key, on_duplicate):
        if on_duplicate not in ("skip", "replace"):
            return ""
        target = ", ".join(self.quote(c) for c in primary_key)
        updates = [c for c in columns if c not in primary_key]
        if on_duplicate == "skip" or not updates:
            return f" ON CONFLICT ({target}) DO NOTHING"
        return f" ON CONFLICT ({target}) DO UPDATE SET " + ", ".join(
            f"{self.quote(c)} = EXCLUDED.{self.quote(c)}" for c in updates)

    def random_sql(self) -> str:
        return "RANDOM()"

    def now_sql(self, precision: int = 3) -> str:
        # the session's local time as a timestamp without time zone, like the datetime columns
        return f"LOCALTIMESTAMP({int(precision)})"

    def live_connection_ids(self, conn) -> set[int] | None:
        try:
            rows = conn.query("SELECT pid FROM pg_stat_activity").fetchall()
        except DataJointError:
            return None
        return {int(r[0]) for r in rows if r[0] is not None}

    # ---- values ---------------------------------------------------------------------------------
    def encode_bool(self, value):
        return as_bool(value)

    def encode_uuid(self, value):
        if value is None:
            return None
        return _as_uuid(value)

    def encode_json(self, value):
        if value is None:
            return None
        return json.dumps(value, default=_json_default)

    def decode_json(self, value):
        # psycopg already parses json and jsonb; a JSON string comes back as a Python str.
        if isinstance(value, (bytes, bytearray, memoryview)):
            return json.loads(bytes(value))
        return value

    def decoder(self, declared):
        if declared.category == "core":
            if declared.name == "enum":
                return decode_text
            if declared.name == "char":
                return decode_char
            if declared.name == "float32":
                return decode_float32
        if declared.category == "native" and declared.name in ("bytea",):
            return decode_bytes
        return super().decoder(declared)

    # ---- errors -------------------------------------------------------------------------------------
    def translate_error(self, error: Exception) -> Exception:
        if isinstance(error, DataJointError) or not isinstance(error, psycopg.Error):
            return error
        diag = error.diag
        primary = (diag.message_primary or str(error)).strip()
        detail = (diag.message_detail or "").strip()
        table = ".".join(p for p in (diag.schema_name, diag.table_name) if p)
        where = f" in {table}" if table else ""
        state = getattr(error, "sqlstate", None) or ""
        if isinstance(error, pg_errors.UniqueViolation):
            return DuplicateError(f"Duplicate entry{where}: {detail or primary}",
                                  hint="Use skip_duplicates=True to ignore duplicates or replace=True to overwrite.")
        if isinstance(error, pg_errors.ForeignKeyViolation):
            if "still referenced" in detail or primary.startswith("update or delete"):
                return IntegrityError(f"Cannot delete or change rows{where}: other rows still reference them "
                                      f"({detail or primary}).",
                                      hint="Use delete(), which removes dependent rows together with their parents.")
            return IntegrityError(f"Foreign key constraint failed{where}: the row references a parent row that does "
                                  f"not exist ({detail or primary}).", hint="Insert the parent rows first.")
        if isinstance(error, pg_errors.NotNullViolation):
            column = diag.column_name or "?"
            return MissingAttributeError(f"Missing value for required attribute `{column}`{where}.",
                                         hint="Provide a value, or declare the attribute with `= null`.")
        if isinstance(error, pg_errors.CheckViolation):
            return DataJointError(f"A value is out of the range its type allows{where} ({primary}).",
                                  hint="Check integer ranges and other limits against the definition.")
        if isinstance(error, (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)):
            return MissingTableError(f"{primary}.", hint="Declare the table (or activate its schema) first.")
        if isinstance(error, pg_errors.UndefinedColumn):
            return UnknownAttributeError(f"{primary}.", hint="Check the attribute names against the heading.")
        if isinstance(error, pg_errors.InsufficientPrivilege):
            return AccessError(f"Permission denied: {primary}.",
                               hint="Ask the database administrator for the privilege, or use another account.")
        if isinstance(error, pg_errors.SyntaxError):
            return QuerySyntaxError(f"SQL syntax error: {primary}.")
        if isinstance(error, (pg_errors.UndefinedFunction, pg_errors.DatatypeMismatch)):
            return QueryError(f"The database cannot evaluate the query: {primary}.",
                              hint="Compare values of matching types (e.g. a bool attribute with true/false, "
                                   "not 1/0).")
        if state.startswith("22"):  # data exceptions: bad enum label, too long, out of range, bad date
            return DataJointError(f"Invalid value{where}: {primary}.",
                                  hint="Pass values of the declared type (enum members, string lengths, ranges).")
        if isinstance(error, pg_errors.DuplicateTable):
            return DataJointError(f"{primary}.", hint="The table already exists.")
        if isinstance(error, (pg_errors.DeadlockDetected, pg_errors.SerializationFailure,
                              pg_errors.LockNotAvailable)):
            return TransactionConflictError(f"{primary}.", hint="Another transaction interfered; run the operation again.")
        if isinstance(error, pg_errors.InFailedSqlTransaction):
            return QueryError("The transaction already failed; its remaining statements are ignored.",
                              hint="Roll back (leave the transaction block) and run the operation again.")
        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) and self.is_connection_error(error):
            return LostConnectionError(f"The connection to the PostgreSQL server was lost: {primary}",
                                       hint="Reconnect with dj.conn(reset=True) and run the operation again.")
        return QueryError(f"{primary}" + (f" ({detail})" if detail else ""))
