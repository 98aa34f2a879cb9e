"""Base tables: declaration, heading, insert, update, delete and drop.

Every write goes through one transactional routine. Objects that codecs write
to stores are recorded in a ledger: if the transaction fails they are removed,
and rows removed by a delete release their objects only after the commit.
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
import re
import sys
from dataclasses import replace
from typing import Any


from .declare.ddl import JOB_METADATA, build_declaration, ResolvedParent
from .declare.parser import ForeignKeyDecl
from .errors import (
    DataJointError,
    MissingTableError,
)
from .query.condition import Fragment
from .query.expression import QueryExpression, Source
from .query.heading import Heading, attribute_from_column

logger = logging.getLogger("dj_jupyter")

LINEAGE_TABLE = "~lineage"


# ---------------------------------------------------------------------------------------------
# headings and lineage from the database
# ---------------------------------------------------------------------------------------------
def load_heading(connection, schema: str, table: str, *, include_hidden: bool = False) -> Heading:
    key = (schema, table, include_hidden)
    cached = connection._heading_cache.get(key)
    if cached is not None:
        return cached
    backend = connection.backend
    columns = backend.columns(connection, schema, table)
    if not columns:
        raise MissingTableError(f"Table {schema}.{table} is not declared.",
                                hint="Declare it with its schema decorator, or check the schema and table names.")
    lineages, available = table_lineages(connection, schema, table)
    attributes = []
    for column in columns:
        if column.name.startswith("_") and not include_hidden:
            continue
        attribute = attribute_from_column(
            column.name, column.sql_type, column.comment or "", in_key=column.in_key, nullable=column.nullable,
            default=column.default, lineage=lineages.get(column.name), autoincrement=column.autoincrement)
        attributes.append(replace(attribute, origin=f"{schema}.{table}.{column.name}"))
    heading = Heading(attributes, available, backend.table_comment(connection, schema, table))
    connection._heading_cache[key] = heading
    return heading


def schema_lineages(connection, schema: str) -> tuple[dict[str, dict[str, str]], bool]:
    """table -> attribute -> origin from the schema's ``~lineage`` table, and whether that table exists."""
    cache = connection._heading_cache.get(("~lineage", schema))
    if cache is None:
        # built whole, then published: a widget's poller thread must never see a half-read lineage table
        backend = connection.backend
        available = LINEAGE_TABLE in backend.list_tables(connection, schema)
        lineages: dict[str, dict[str, str]] = {}
        if available:
            rows = connection.query(backend.lineage_rows_sql(schema)).fetchall()
            for table_name, attribute, lineage in rows:
                lineages.setdefault(table_name, {})[attribute] = lineage
        cache = connection._heading_cache[("~lineage", schema)] = (lineages, available)
    return cache


def table_lineages(connection, schema: str, table: str) -> tuple[dict[str, str], bool]:
    lineages, available = schema_lineages(connection, schema)
    return dict(lineages.get(table, {})), available


def ensure_lineage_table(connection, schema: str) -> None:
    backend = connection.backend
    if LINEAGE_TABLE in backend.list_tables(connection, schema):
        return
    connection.execute_ddl(backend.lineage_table_sql(schema))


def write_lineage(connection, schema: str, table: str, lineage: dict[str, str]) -> None:
    backend = connection.backend
    ensure_lineage_table(connection, schema)
    connection.query(backend.lineage_delete_sql(schema), (table,))
    if lineage:
        sql = backend.insert_sql(backend.table_ref(schema, LINEAGE_TABLE), ["table_name", "attribute_name", "lineage"],
                                 ["table_name", "attribute_name"], "replace")
        connection.executemany(sql, [(table, name, origin) for name, origin in lineage.items()])
    invalidate_caches(connection, schema)


def invalidate_caches(connection, schema: str | None = None) -> None:
    if schema is None:
        connection._heading_cache.clear()
    else:
        for key in [k for k in list(connection._heading_cache) if (k[1] if k[0] == "~lineage" else k[0]) == schema]:
            connection._heading_cache.pop(key, None)  # another thread may have dropped it already
    connection.dependencies.invalidate()


# ---------------------------------------------------------------------------------------------
# class-level behaviour
# ---------------------------------------------------------------------------------------------
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")


@functools.lru_cache(maxsize=4096)  # table_name is read on every query and insert
def from_camel_case(name: str) -> str:
    """``SessionTrial`` -> ``session_trial``."""
    if not _CLASS_NAME.fullmatch(name):
        raise DataJointError(f"Table class name `{name}` is not CamelCase.",
                             hint="Name table classes like `Subject` or `SessionTrial` (letters and digits, "
                                  "starting with a capital letter).")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def to_camel_case(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part)


class TableMeta(type):
    """Lets ``Subject & key``, ``Subject * Session``, ``Subject.insert1(...)`` work on classes."""

    _instance_attributes = {
        "key_source", "describe", "alter", "heading", "populate", "progress", "primary_key", "proj", "aggr",
        "join", "extend", "to_dicts", "to_pandas", "to_polars", "to_arrow", "to_arrays", "keys", "fetch",
        "fetch1", "head", "tail", "descendants", "ancestors", "parts", "parents", "children", "insert",
        "insert1", "update1", "drop", "drop_quick", "delete", "delete_quick", "staged_insert1", "jobs",
        "restrict", "is_declared", "make_sql", "preview", "cursor", "provenance", "upstream", "size_on_disk",
        "insert_dataframe", "validate",
    }
    # on a class not yet decorated with a schema these raise "not bound to a schema" instead of a TypeError
    _needs_schema = {"describe", "insert", "insert1", "update1", "delete", "delete_quick", "drop", "drop_quick",
                     "to_dicts", "to_pandas", "fetch", "fetch1", "keys", "populate"}

    def __getattribute__(cls, name):
        if name in TableMeta._instance_attributes and type.__getattribute__(cls, "__dict__").get("_is_base_tier") is None:
            if type.__getattribute__(cls, "database") is not None or name in TableMeta._needs_schema:
                return getattr(cls(), name)
        return super().__getattribute__(name)

    def __and__(cls, restriction):
        return cls() & restriction

    def __sub__(cls, restriction):
        return cls() - restriction

    def __mul__(cls, other):
        return cls() * other

    def __add__(cls, other):
        return cls() + other

    def __xor__(cls, other):
        return cls() ^ other

    def __matmul__(cls, other):
        return cls() @ other

    def __neg__(cls):
        return -cls()

    def __iter__(cls):
        return iter(cls())

    def __len__(cls):
        return len(cls())

    def __contains__(cls, item):
        return item in cls()

    def __repr__(cls):
        if type.__getattribute__(cls, "database") is None or type.__getattribute__(cls, "_connection") is None:
            return type.__repr__(cls)
        return repr(cls())

    def _repr_html_(cls):
        return cls()._repr_html_()

    @property
    def connection(cls):
        return cls._connection

    # the two names below are read on every query and insert: plain type lookups skip __getattribute__
    @property
    def table_name(cls) -> str:
        get = type.__getattribute__
        virtual = get(cls, "__dict__").get("_virtual_table_name")
        return virtual if virtual else get(cls, "_prefix") + from_camel_case(get(cls, "__name__"))

    @property
    def full_table_name(cls) -> str | None:
        get = type.__getattribute__
        database, connection = get(cls, "database"), get(cls, "_connection")
        if database is None or connection is None:
            return None
        return connection.backend.table_ref(database, cls.table_name)


class Table(QueryExpression, metaclass=TableMeta):
    """A base table of a schema; subclass one of the tiers instead of this class."""

    _is_base_tier = True
    database: str | None = None
    _connection = None
    _prefix = ""
    tier = "base"
    declaration_context: dict | None = None
    _allow_insert = False

    def __init__(self):
        cls = type(self)
        if cls.database is None or cls._connection is None:
            raise DataJointError(f"Table class {cls.__name__} is not bound to a schema.",
                                 hint="Decorate it with @schema (an activated dj.Schema).")
        self._connection = cls._connection
        self._sources = (Source(table=cls._connection.backend.table_ref(cls.database, cls.table_name)),)
        self._heading = None

    # ---- identity ------------------------------------------------------------------------------
    @property
    def table_name(self) -> str:
        return type(self).table_name

    @property
    def full_table_name(self) -> str:
        return type(self).full_table_name

    @property
    def node(self) -> tuple[str, str]:
        return (self.database, self.table_name)

    @property
    def class_name(self) -> str:
        return type(self).__name__

    @property
    def heading(self) -> Heading:
        if self._heading is None:
            self._heading = load_heading(self.connection, self.database, self.table_name)
        return self._heading

    @property
    def is_declared(self) -> bool:
        return self.table_name in self.connection.backend.list_tables(self.connection, self.database)

    @property
    def definition(self):
        raise NotImplementedError(f"{type(self).__name__} needs a `definition`.")

    def _restricted(self, fragment: Fragment) -> "Table":
        result = copy.copy(self)
        result._where = self._where + (fragment,)
        return result

    # ---- declaration ---------------------------------------------------------------------------
    def declare(self, context: dict | None = None) -> None:
        """Create the table in the database from its definition."""
        context = context if context is not None else (self.declaration_context or {})
        connection = self.connection
        backend = connection.backend
        table = self.table_name
        if len(table) > backend.max_name_length:
            raise DataJointError(f"Table name {table} is longer than {backend.max_name_length} characters.",
                                 hint="Choose a shorter class name.")
        hidden = JOB_METADATA if (self.tier in ("imported", "computed")
                                  and connection.config["jobs.add_job_metadata"]) else ()
        declaration = build_declaration(self.database, table, self.definition,
                                        lambda fk: resolve_reference(fk, context, self), hidden=hidden)
        if self.tier in ("imported", "computed") and declaration.native_key and \
                not connection.config["jobs.allow_new_pk_fields_in_computed_tables"]:
            raise DataJointError(
                f"{type(self).__name__} is {self.tier} but declares its own primary key attributes "
                f"({', '.join(declaration.native_key)}).",
                hint="Auto-populated tables take their primary key from foreign keys (-> Parent). Put the new "
                     "dimension in a Part table, or set dj.config['jobs.allow_new_pk_fields_in_computed_tables'] = True.")
        statements = backend.create_table_sql(declaration.ddl)
        with connection.atomic():
            connection.execute_ddl(statements)
            write_lineage(connection, self.database, table, declaration.lineage)
        invalidate_caches(connection, self.database)
        self._heading = None

    def alter_statements(self, definition: str | None = None, context: dict | None = None):
        """The difference between the declared table and ``definition`` (see kernel magics for confirmation)."""
        from .declare.alter import plan_alter

        return plan_alter(self, definition or self.definition, context or self.declaration_context or {})

    def alter(self, prompt: bool = True, context: dict | None = None) -> None:
        """Apply changes of secondary attributes and comments from the class definition."""
        plan = self.alter_statements(context=context)
        if not plan.statements:
            logger.info("Nothing to alter.")
            return
        if prompt and not _confirm(f"Alter {self.full_table_name}?\n{plan.summary}"):
            return
        with self.connection.atomic():
            self.connection.execute_ddl(plan.statements)
        invalidate_caches(self.connection, self.database)
        self._heading = None

    def describe(self, context: dict | None = None, printout: bool = False) -> str:
        """Regenerate the definition text from the database."""
        from .declare.describe import describe_table

        text = describe_table(self, context)
        if printout:
            print(text)
        return text

    # ---- dependencies ----------------------------------------------------------------------------
    def _resolve_nodes(self, nodes, as_objects: bool):
        names = [self.connection.backend.table_ref(*n) for n in nodes]
        if not as_objects:
            return names
        return [FreeTable(self.connection, *n) for n in nodes]

    def parents(self, primary: bool | None = None, as_objects: bool = False, foreign_key_info: bool = False):
        edges = self.connection.dependencies.parents(self.node, primary)
        if foreign_key_info:
            return [(FreeTable(self.connection, *e.parent) if as_objects else self.connection.backend.table_ref(*e.parent),
                     {"attr_map": e.attr_map, "primary": e.primary, "aliased": e.renamed}) for e in edges]
        return self._resolve_nodes(list(dict.fromkeys(e.parent for e in edges)), as_objects)

    def children(self, primary: bool | None = None, as_objects: bool = False, foreign_key_info: bool = False):
        edges = self.connection.dependencies.children(self.node, primary)
        if foreign_key_info:
            return [(FreeTable(self.connection, *e.child) if as_objects else self.connection.backend.table_ref(*e.child),
                     {"attr_map": e.attr_map, "primary": e.primary, "aliased": e.renamed}) for e in edges]
        return self._resolve_nodes(list(dict.fromkeys(e.child for e in edges)), as_objects)

    def descendants(self, as_objects: bool = False):
        return self._resolve_nodes(self.connection.dependencies.descendants(self.node), as_objects)

    def ancestors(self, as_objects: bool = False):
        return self._resolve_nodes(self.connection.dependencies.ancestors(self.node), as_objects)

    def parts(self, as_objects: bool = False):
        prefix = self.table_name + "__"
        nodes = [n for n in self.connection.dependencies.children(self.node) if n.child[1].startswith(prefix)
                 and n.child[0] == self.database]
        return self._resolve_nodes(list(dict.fromkeys(e.child for e in nodes)), as_objects)

    # ---- insert ----------------------------------------------------------------------------------
    def insert1(self, row, **kwargs) -> None:
        self.insert((row,), **kwargs)

    def insert(self, rows, replace: bool = False, skip_duplicates: bool = False, ignore_extra_fields: bool = False,
               allow_direct_insert: bool | None = None, chunk_size: int | None = None) -> None:
        """Insert rows: dicts, sequences, numpy records, a DataFrame, or a query expression."""
        from .inserts import insert_rows

        insert_rows(self, rows, replace=replace, skip_duplicates=skip_duplicates,
                    ignore_extra_fields=ignore_extra_fields, allow_direct_insert=allow_direct_insert,
                    chunk_size=chunk_size)

    def validate(self, rows, *, ignore_extra_fields: bool = False):
        """Check rows as insert() would, without inserting: a ``ValidationResult`` listing every problem."""
        from .validation import validate_rows

        return validate_rows(self, rows, ignore_extra_fields=ignore_extra_fields)

    def insert_dataframe(self, frame, index_as_pk: bool | None = None, **kwargs) -> None:
        if index_as_pk is None:
            index_as_pk = any(name is not None for name in frame.index.names) and set(
                n for n in frame.index.names if n) <= set(self.primary_key)
        self.insert(frame.reset_index() if index_as_pk else frame, **kwargs)

    @property
    def staged_insert1(self):
        """``with Table.staged_insert1 as staged:`` writes objects straight into the store, then inserts the row."""
        from .storage.staged import staged_insert1

        return staged_insert1(self)

    def update1(self, row: dict) -> None:
        """Change secondary attributes of one existing row (identified by its full primary key)."""
        from .inserts import update_row

        update_row(self, row)

    # ---- delete and drop --------------------------------------------------------------------------
    def delete_quick(self, get_count: bool = False):
        """Delete the rows of this (restricted) table without cascading to other tables."""
        from .deletes import delete_rows

        count = delete_rows(self)
        return count if get_count else None

    def delete(self, transaction: bool = True, prompt: bool | None = None, part_integrity: str = "enforce",
               dry_run: bool = False):
        """Delete these rows and everything that depends on them, in one transaction."""
        from .deletes import cascade_delete

        return cascade_delete(self, transaction=transaction, prompt=prompt, part_integrity=part_integrity,
                              dry_run=dry_run)

    def drop_quick(self) -> None:
        """Drop this table only (it must have no dependent tables)."""
        if not self.is_declared:
            return
        connection = self.connection
        backend = connection.backend
        with connection.atomic():
            connection.execute_ddl(backend.drop_table_sql(self.database, self.table_name))
            if LINEAGE_TABLE in backend.list_tables(connection, self.database):
                connection.query(backend.lineage_delete_sql(self.database), (self.table_name,))
        invalidate_caches(connection, self.database)

    def drop(self, prompt: bool | None = None, part_integrity: str = "enforce") -> None:
        """Drop this table and every table that depends on it."""
        if self._where:
            raise DataJointError("A restricted table cannot be dropped.", hint="Drop the unrestricted table class.")
        from .deletes import drop_tables

        drop_tables(self, prompt=prompt, part_integrity=part_integrity)

    def provenance(self, key: dict):
        """The upstream rows, code version, worker and timing behind one row (a tree that renders in notebooks)."""
        from .introspect import provenance

        return provenance(self, key)

    def size_on_disk(self) -> int:
        return self.connection.backend.table_size(self.connection, self.database, self.table_name)


class FreeTable(Table):
    """A table addressed by name, without a user class (used for dependents and virtual access)."""

    _is_base_tier = None

    def __init__(self, connection, schema: str | None = None, table: str | None = None, *,
                 full_table_name: str | None = None):
        """``FreeTable(connection, "schema.table")``, ``FreeTable(connection, schema, table)``, or
        ``FreeTable("schema.table")`` on the process-wide connection."""
        if isinstance(connection, str):
            from .connection import conn

            connection, schema = conn(), connection
        if full_table_name is not None:
            schema = full_table_name
        if schema is None:
            raise DataJointError("FreeTable needs a table name.", hint='Write FreeTable(connection, "schema.table").')
        if table is None:
            schema, table = _split_full_name(connection, schema)
        self._free_schema = schema
        self._free_table = table
        self._connection = connection
        self._sources = (Source(table=connection.backend.table_ref(schema, table)),)
        self._heading = None

    @property
    def database(self):
        return self._free_schema

    @property
    def table_name(self):
        return self._free_table

    @property
    def full_table_name(self):
        return self.connection.backend.table_ref(self._free_schema, self._free_table)

    @property
    def tier(self):
        return tier_of(self._free_table)

    @property
    def definition(self):
        return self.describe()

    def __repr__(self):
        return f"FreeTable({self.full_table_name})\n" + super().__repr__()


def _split_full_name(connection, name: str) -> tuple[str, str]:
    parts = [p for p in re.split(r"[`\"]\.?[`\"]|^[`\"]|[`\"]$", name) if p]
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1 and "." in parts[0]:
        schema, table = parts[0].split(".", 1)
        return schema, table
    raise DataJointError(f"Cannot read the table name {name!r}.", hint="Use `schema`.`table` or schema.table.")


def tier_of(table_name: str) -> str:
    """The tier a stored table name encodes: DataJoint's prefixes and the ``master__part`` form."""
    if table_name.startswith("~"):
        return "hidden"
    for prefix, tier in (("__", "computed"), ("_", "imported"), ("#", "lookup"), ("", "manual")):
        if table_name.startswith(prefix):
            return "part" if "__" in table_name[len(prefix):] else tier
    return "manual"


def resolve_reference(fk: ForeignKeyDecl, context: dict, declaring: Table) -> ResolvedParent:
    """Find the table a ``-> Reference`` line names, by dotted lookup in the declaring context."""
    parts = fk.reference.split(".")
    if parts[0] not in context:
        raise DataJointError(f'In "{fk.line}": `{parts[0]}` is not defined where the table is declared.',
                             hint="Define or import the referenced table before this one (parts use `-> master`).")
    target: Any = context[parts[0]]
    for part in parts[1:]:
        try:
            target = getattr(target, part)
        except AttributeError:
            raise DataJointError(f'In "{fk.line}": `{fk.reference}` cannot be resolved ({part} not found).') from None
    if inspect.isclass(target) and issubclass(target, Table):
        if target.database is None:
            raise DataJointError(f'In "{fk.line}": {target.__name__} is not declared yet.',
                                 hint="Decorate the referenced table with its schema first.")
        target = target()
    if not isinstance(target, Table):
        raise DataJointError(f'In "{fk.line}": `{fk.reference}` is not a table.',
                             hint="Foreign keys reference table classes, optionally with .proj(new='old').")
    if target._where:
        raise DataJointError(f'In "{fk.line}": a foreign key cannot reference a restricted table.')
    if target.connection is not declaring.connection:
        raise DataJointError(f'In "{fk.line}": the referenced table uses another connection.')
    heading = target.heading
    return ResolvedParent(target.database, target.table_name, heading.primary_key, heading.attributes)


def _confirm(message: str) -> bool:
    """Ask yes/no on a terminal; refuse to guess when there is no terminal."""
    if not sys.stdin or not sys.stdin.isatty():
        raise DataJointError("This operation asks for confirmation, but there is no terminal to ask on.",
                             hint="Pass prompt=False, set dj.config['safemode'] = False, or use the %dj magics "
                                  "in a notebook, which confirm with a button.")
    answer = input(f"{message} [yes/No]: ").strip().lower()
    return answer in ("yes", "y")
