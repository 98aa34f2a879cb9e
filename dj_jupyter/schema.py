"""Schemas: activation, the class decorator that declares tables, and virtual schemas."""

from __future__ import annotations

import inspect
import logging
import types

from .connection import conn as global_connection
from .errors import DataJointError
from .table import FreeTable, Table, invalidate_caches, schema_lineages, tier_of, to_camel_case, write_lineage
from .tiers import TIERS, Lookup, Part

logger = logging.getLogger("dj_jupyter")


def _caller_context(depth: int = 2) -> dict:
    frame = inspect.currentframe()
    for _ in range(depth):
        frame = frame.f_back
    context = dict(frame.f_globals)
    context.update(frame.f_locals)
    return context


class Schema:
    """A database schema whose tables are declared by decorating classes: ``@schema``."""

    def __init__(self, schema_name: str | None = None, context: dict | None = None, *, connection=None,
                 create_schema: bool = True, create_tables: bool | None = None, add_objects: dict | None = None):
        self.database: str | None = None
        self.context = context
        self.create_schema = create_schema
        self.create_tables = create_tables
        self.add_objects = add_objects
        self._connection = connection
        self._pending: list[tuple[type, dict]] = []
        if schema_name is not None:
            self.activate(schema_name, connection=connection, create_schema=create_schema,
                          create_tables=create_tables, add_objects=add_objects)

    # ---- activation ---------------------------------------------------------------------------
    def activate(self, schema_name: str | None = None, *, connection=None, create_schema: bool | None = None,
                 create_tables: bool | None = None, add_objects: dict | None = None) -> None:
        if schema_name is None:
            if self.database is None:
                raise DataJointError("Give the schema a name to activate it: schema.activate('name').")
            return
        if self.database is not None and self.database != schema_name:
            raise DataJointError(f"This schema is already activated as {self.database}.",
                                 hint="Create a new dj.Schema for another database schema.")
        connection = connection or self._connection or global_connection()
        connection.backend.check_schema_name(schema_name)
        self._connection = connection
        if create_schema is not None:
            self.create_schema = create_schema
        if create_tables is not None:
            self.create_tables = create_tables
        if add_objects:
            self.add_objects = add_objects
        exists = connection.backend.schema_exists(connection, schema_name)
        if not exists:
            if not self.create_schema:
                raise DataJointError(f"Schema `{schema_name}` does not exist and create_schema=False.",
                                     hint="Create it with dj.Schema(name) or check the name.")
            try:
                connection.execute_ddl(connection.backend.create_schema_sql(schema_name))
            except Exception:  # noqa: BLE001 - another process created it at the same moment (workers starting)
                if not connection.backend.schema_exists(connection, schema_name):
                    raise
        self.database = schema_name
        connection.register(self)
        pending, self._pending = self._pending, []
        for cls, context in pending:
            self._decorate_master(cls, context)

    def is_activated(self) -> bool:
        return self.database is not None

    @property
    def connection(self):
        return self._connection

    @property
    def exists(self) -> bool:
        return self.database is not None and self.connection.backend.schema_exists(self.connection, self.database)

    def _creates_tables(self) -> bool:
        return self.connection.config["database.create_tables"] if self.create_tables is None else self.create_tables

    # ---- decoration -----------------------------------------------------------------------------
    def __call__(self, cls: type, *, context: dict | None = None) -> type:
        if not (inspect.isclass(cls) and issubclass(cls, Table)):
            raise DataJointError(f"@schema decorates table classes; {cls!r} is not one.",
                                 hint="Subclass dj.Manual, dj.Lookup, dj.Imported or dj.Computed.")
        if issubclass(cls, Part):
            raise DataJointError("Do not decorate Part tables; nest them in their master class.")
        context = context if context is not None else (self.context if self.context is not None else _caller_context())
        if self.add_objects:
            context = {**context, **self.add_objects}
        if self.is_activated():
            self._decorate_master(cls, context)
        else:
            self._pending.append((cls, context))
        return cls

    def _decorate_master(self, cls: type, context: dict) -> None:
        self._decorate_table(cls, {**context, cls.__name__: cls, "self": cls})
        for name, member in list(vars(cls).items()):
            if inspect.isclass(member) and issubclass(member, Part):
                member._master = cls
                self._decorate_table(member, {**context, cls.__name__: cls, "master": cls, "self": member})

    def _decorate_table(self, table_class: type, context: dict) -> None:
        table_class.database = self.database
        table_class._connection = self.connection
        table_class.declaration_context = context
        instance = table_class()
        if not instance.is_declared:
            if not self._creates_tables():
                raise DataJointError(f"Table {table_class.__name__} is not declared and create_tables is off.",
                                     hint="Declare it on a schema with create_tables=True.")
            _declare_racing(instance, context)
        elif self._lineage_missing(instance):
            self._refresh_lineage(instance, context)
        if issubclass(table_class, Lookup) and table_class.contents is not None:
            contents = list(table_class.contents)
            if contents:
                with self.connection.atomic():
                    instance.insert(contents, skip_duplicates=True)

    def _lineage_missing(self, instance: Table) -> bool:
        from .table import table_lineages

        lineages, available = table_lineages(self.connection, self.database, instance.table_name)
        return available and not lineages and bool(instance.heading.primary_key)

    def _refresh_lineage(self, instance: Table, context: dict) -> None:
        from .declare.ddl import build_declaration
        from .table import resolve_reference

        try:
            declaration = build_declaration(self.database, instance.table_name, instance.definition,
                                            lambda fk: resolve_reference(fk, context, instance))
        except (DataJointError, NotImplementedError):
            return
        write_lineage(self.connection, self.database, instance.table_name, declaration.lineage)

    # ---- listing ---------------------------------------------------------------------------------
    def list_tables(self) -> list[str]:
        """Table names of this schema in dependency order (hidden tables excluded)."""
        self._check_active()
        deps = self.connection.dependencies
        deps.load(force=True, schemas=set(self.connection.schemas) | {self.database})
        names = [t for t in self.connection.backend.list_tables(self.connection, self.database) if not t.startswith("~")]
        order = deps.topological((self.database, t) for t in names)
        return [t for _, t in order]

    def __iter__(self):
        return iter(self.list_tables())

    def __contains__(self, table_name: str) -> bool:
        return table_name in self.list_tables()

    def get_table(self, name: str) -> FreeTable:
        """A table of this schema by table name or class name."""
        names = self.list_tables()
        if name in names:
            return FreeTable(self.connection, self.database, name)
        for table in names:
            if to_camel_case(_strip_tier(table)) == name:
                return FreeTable(self.connection, self.database, table)
        raise DataJointError(f"Schema {self.database} has no table {name}.")

    def __getitem__(self, name: str) -> FreeTable:
        return self.get_table(name)

    # ---- drop -----------------------------------------------------------------------------------------
    def drop(self, prompt: bool | None = None, force: bool = False) -> None:
        """Drop the schema and all its tables."""
        if not self.exists:
            logger.info("Schema %s does not exist; nothing to drop.", self.database)
            return
        prompt = self.connection.config["safemode"] if prompt is None else prompt
        if prompt and not force:
            from .table import _confirm

            if not _confirm(f"Drop the schema `{self.database}` and all its tables?"):
                return
        connection = self.connection
        backend = connection.backend
        tables = self.list_tables()
        with connection.atomic() if backend.supports_transactional_ddl else _NoTransaction():
            for table in reversed(tables):
                FreeTable(connection, self.database, table).drop_quick()
            connection.execute_ddl(backend.drop_schema_sql(self.database))
        connection.schemas.pop(self.database, None)
        invalidate_caches(connection, self.database)

    # ---- lineage ------------------------------------------------------------------------------------
    @property
    def lineage(self) -> dict[str, str]:
        """``'schema.table.attribute'`` -> the attribute it comes from, as the ``~lineage`` table records it."""
        self._check_active()
        lineages, _ = schema_lineages(self.connection, self.database)
        return {f"{self.database}.{table}.{attribute}": origin
                for table, attributes in lineages.items() for attribute, origin in attributes.items()}

    @property
    def lineage_table_exists(self) -> bool:
        self._check_active()
        return schema_lineages(self.connection, self.database)[1]

    def rebuild_lineage(self) -> None:
        """Recompute the ``~lineage`` table of this schema from its foreign keys."""
        self._check_active()
        connection = self.connection
        deps = connection.dependencies
        deps.load(force=True, schemas=set(connection.schemas) | {self.database})
        from .table import table_lineages

        resolved: dict[tuple[str, str, str], str] = {}

        def origin(node, column):
            if (node[0], node[1], column) in resolved:
                return resolved[(node[0], node[1], column)]
            for edge in deps.parents(node):
                mapping = dict(edge.columns)
                if column in mapping:
                    parent_column = mapping[column]
                    if edge.parent[0] == self.database:
                        result = origin(edge.parent, parent_column)
                    else:
                        lineages, _ = table_lineages(connection, *edge.parent)
                        result = lineages.get(parent_column) or f"{edge.parent[0]}.{edge.parent[1]}.{parent_column}"
                    break
            else:
                result = f"{node[0]}.{node[1]}.{column}" if column in deps.primary_keys.get(node, []) else None
            resolved[(node[0], node[1], column)] = result
            return result

        for table in self.list_tables():
            node = (self.database, table)
            columns = set(deps.primary_keys.get(node, []))
            for edge in deps.parents(node):
                columns |= {c for c, _ in edge.columns}
            lineage = {c: origin(node, c) for c in columns if not c.startswith("_")}
            write_lineage(connection, self.database, table, {k: v for k, v in lineage.items() if v})

    # ---- code generation ---------------------------------------------------------------------------
    def make_classes(self, into: dict | None = None) -> None:
        """Create classes for the tables that have none in ``into``: the schema's context, else the
        caller's namespace. Parts are attached to their masters."""
        self._check_active()
        if into is None:
            into = self.context if self.context is not None else inspect.currentframe().f_back.f_locals
        self._add_missing_classes(into)

    def spawn_missing_classes(self, context: dict | None = None) -> None:
        """DataJoint 0.x's name for ``make_classes`` (the caller's module namespace by default)."""
        self._check_active()
        self._add_missing_classes(context if context is not None else inspect.currentframe().f_back.f_globals)

    def _add_missing_classes(self, into: dict) -> None:
        bound = {(value.database, value.table_name) for value in list(into.values())
                 if isinstance(value, type) and issubclass(value, Table) and getattr(value, "database", None)}
        for name, cls in classes_from_database(self).items():
            if name not in into and (self.database, cls.table_name) not in bound:
                into[name] = cls

    @property
    def jobs(self) -> list:
        """The job tables of this schema's auto-populated tables."""
        from .jobs.jobtable import schema_job_tables

        return schema_job_tables(self)

    def progress(self, *restrictions, display: bool = False):
        from .jobs.populate import schema_progress

        return schema_progress(self, *restrictions, display=display)

    def _check_active(self):
        if self.database is None:
            raise DataJointError("The schema is not activated.", hint="Call schema.activate('name') first.")

    def __repr__(self) -> str:
        if self.database is None:
            return "Schema (not activated)"
        return f"Schema `{self.database}` on {self.connection.target}"


class _NoTransaction:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _strip_tier(table_name: str) -> str:
    return table_name.lstrip("#_")


def classes_from_database(schema: Schema) -> dict[str, type]:
    """Classes for every table of an activated schema, built from the database alone."""
    names = schema.list_tables()
    classes: dict[str, type] = {}
    masters: dict[str, type] = {}
    for table in names:
        tier = tier_of(table)
        if tier in ("part", "hidden"):
            continue
        base = TIERS[tier]
        class_name = to_camel_case(_strip_tier(table))
        cls = type(class_name, (base,), {"__module__": f"virtual.{schema.database}"})
        _bind(cls, schema, table)
        classes[class_name] = cls
        masters[table] = cls
    for table in names:
        if tier_of(table) != "part":
            continue
        master_name, part_name = table.rsplit("__", 1)
        master = masters.get(master_name)
        if master is None:
            continue
        part = type(to_camel_case(part_name), (Part,), {"__module__": f"virtual.{schema.database}"})
        part._master = master
        _bind(part, schema, table)
        setattr(master, part.__name__, part)
    return classes


def _bind(cls: type, schema: Schema, table: str) -> None:
    cls.database = schema.database
    cls._connection = schema.connection
    cls._virtual_table_name = table
    cls.definition = property(lambda self: self.describe())
    cls.declaration_context = {}


class VirtualModule(types.ModuleType):
    """A module whose attributes are classes for the tables of an existing schema."""

    def __init__(self, module_name: str, schema_name: str, *, create_schema: bool = False,
                 create_tables: bool = False, connection=None, add_objects: dict | None = None):
        super().__init__(module_name)
        schema = Schema(schema_name, create_schema=create_schema, create_tables=create_tables, connection=connection)
        if add_objects:
            self.__dict__.update(add_objects)
        self.__dict__["schema"] = schema
        for name, cls in classes_from_database(schema).items():
            self.__dict__[name] = cls

    def __repr__(self) -> str:
        return f"<virtual module of schema {self.schema.database}>"


def virtual_schema(schema_name: str, *, connection=None, create_schema: bool = False, create_tables: bool = False,
                   add_objects: dict | None = None) -> VirtualModule:
    """Classes for an existing schema, rebuilt from the database alone."""
    return VirtualModule(schema_name, schema_name, create_schema=create_schema, create_tables=create_tables,
                         connection=connection, add_objects=add_objects)


def list_schemas(connection=None) -> list[str]:
    connection = connection or global_connection()
    return connection.backend.list_schemas(connection)


def _declare_racing(instance, context, attempts: int = 3) -> None:
    """Declare a table. Processes that start together (cluster workers importing one pipeline module) race to
    declare the same tables: a loser finds the table declared by the winner and uses it."""
    import time

    from .table import invalidate_caches

    for attempt in range(attempts):
        try:
            instance.declare(context)
            return
        except Exception:  # noqa: BLE001 - "already exists" comes in every backend's and driver's words
            connection = instance.connection
            if connection.in_transaction:
                raise
            invalidate_caches(connection, instance.database)
            if instance.is_declared:
                return
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
