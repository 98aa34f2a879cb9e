"""Pipelines that explain themselves: a machine-readable description and row provenance.

``describe_pipeline`` returns plain JSON-serializable data (validated by the JSON
Schema shipped in ``dj_jupyter/resources/pipeline.schema.json``) so that people
and automated agents can reason about a pipeline without reading its code.
``provenance`` walks from a computed row up through its key source to the
manual and lookup rows it came from, with the job record of every computed step.
"""

from __future__ import annotations

import datetime
import decimal
import html
import inspect
import json
import types
import uuid
from pathlib import Path

from .errors import DataJointError

SCHEMA_PATH = Path(__file__).with_name("resources") / "pipeline.schema.json"
FORMAT_VERSION = 1


def _schemas_of(target) -> list:
    """The Schema objects a describe call is about: a schema, a module, a table class, or a list of those."""
    from .schema import Schema
    from .table import Table

    if isinstance(target, Schema):
        return [target]
    if isinstance(target, (list, tuple, set)):
        result = []
        for item in target:
            for schema in _schemas_of(item):
                if schema.database not in {s.database for s in result}:
                    result.append(schema)
        return result
    if inspect.isclass(target) and issubclass(target, Table):
        connection = target.connection
        schema = connection.schemas.get(target.database)
        if schema is None:
            schema = Schema(target.database, connection=connection, create_schema=False)
        return [schema]
    if isinstance(target, types.ModuleType):
        found = []
        for value in vars(target).values():
            if isinstance(value, Schema) and value.is_activated():
                found.append(value)
            elif inspect.isclass(value) and issubclass(value, Table) and getattr(value, "database", None):
                found.extend(_schemas_of(value))
        unique = {}
        for schema in found:
            unique.setdefault(schema.database, schema)
        if not unique:
            raise DataJointError(f"Module {target.__name__} holds no activated schema or table.")
        return list(unique.values())
    if isinstance(target, str):
        import importlib

        return _schemas_of(importlib.import_module(target))
    raise DataJointError(f"Cannot describe a {type(target).__name__}.",
                         hint="Pass a dj.Schema, a pipeline module, a table class, or a list of them.")


def _json_value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime.date, datetime.datetime, uuid.UUID, decimal.Decimal)):
        return str(value)
    if hasattr(value, "constant") and hasattr(value, "value"):
        return value.constant if value.constant else _json_value(value.value)
    return str(value)


def describe_pipeline(target, *, include_counts: bool = True) -> dict:
    """A JSON-serializable description of one or more schemas (see the shipped JSON Schema)."""
    from .jobs.jobtable import STATUSES, job_table_name
    from .table import FreeTable, load_heading, tier_of, to_camel_case

    schemas = _schemas_of(target)
    connection = schemas[0].connection
    dependencies = connection.dependencies
    dependencies.load(force=True, schemas={s.database for s in schemas} | set(connection.schemas))
    names = {s.database: [t for t in s.list_tables()] for s in schemas}
    nodes = [(schema, table) for schema, tables in names.items() for table in tables]
    order = dependencies.topological(nodes)
    tables = []
    for schema_name, table_name in order:
        node = (schema_name, table_name)
        table = FreeTable(connection, schema_name, table_name)
        heading = load_heading(connection, schema_name, table_name)
        tier = tier_of(table_name)
        parents = dependencies.parents(node)
        inherited = {child for edge in parents for child, _ in edge.columns}
        attributes = [{
            "name": a.name,
            "type": a.type.text,
            "category": a.type.category,
            "primary_key": a.in_key,
            "nullable": a.nullable,
            "default": _json_value(a.default),
            "comment": a.comment,
            "lineage": a.lineage,
            "inherited": a.name in inherited,
        } for a in heading._attributes]
        foreign_keys = [{
            "parent": f"{edge.parent[0]}.{edge.parent[1]}",
            "kind": "identity" if edge.primary else "reference",
            "attributes": [child for child, _ in edge.columns],
            "renames": {child: parent for child, parent in edge.columns if child != parent},
        } for edge in parents]
        master = table_name.rsplit("__", 1)[0] if tier == "part" else None
        entry = {
            "name": f"{schema_name}.{table_name}",
            "schema": schema_name,
            "table_name": table_name,
            "class_name": ".".join(to_camel_case(p) for p in table_name.lstrip("#_").split("__")),
            "tier": tier,
            "comment": heading.table_comment,
            "definition": table.describe(),
            "primary_key": heading.primary_key,
            "attributes": attributes,
            "foreign_keys": foreign_keys,
            "parts": [f"{e.child[0]}.{e.child[1]}" for e in dependencies.children(node)
                      if e.child[0] == schema_name and e.child[1].startswith(table_name + "__")],
            "master": f"{schema_name}.{master}" if master else None,
            "new_dimensions": [name for name in heading.primary_key if name not in inherited],
        }
        if include_counts:
            entry["rows"] = len(table)
        if tier in ("imported", "computed"):
            key_parents = [e for e in parents if e.primary]
            entry["key_source"] = {
                "parents": [f"{e.parent[0]}.{e.parent[1]}" for e in key_parents],
                "primary_key": [name for name in heading.primary_key if name in inherited],
            }
            jobs = {status: 0 for status in STATUSES}
            job_name = job_table_name(table_name)
            if include_counts and job_name in connection.backend.list_tables(connection, schema_name):
                jobs.update(_job_counts(connection, schema_name, job_name))
            entry["jobs"] = jobs
        tables.append(entry)
    dimensions = [t["name"] for t in tables if t["new_dimensions"]]
    return {
        "format_version": FORMAT_VERSION,
        "backend": connection.backend.name,
        "schemas": [{"name": s.database, "tables": [f"{s.database}.{t}" for t in names[s.database]]} for s in schemas],
        "tables": tables,
        "dependency_order": [t["name"] for t in tables],
        "dimensions": dimensions,
    }


def _job_counts(connection, schema: str, job_name: str) -> dict:
    backend = connection.backend
    quote = backend.quote
    rows = connection.query(f"SELECT {quote('status')}, COUNT(*) FROM {backend.table_ref(schema, job_name)} "
                            f"GROUP BY {quote('status')}").fetchall()
    return {status: int(count) for status, count in rows}


def pipeline_json_schema() -> dict:
    """The JSON Schema that ``describe_pipeline`` output validates against."""
    return json.loads(SCHEMA_PATH.read_text())


# --------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------
class ProvenanceNode:
    """One row in a provenance tree: where it came from and which job made it."""

    def __init__(self, table: str, tier: str, key: dict, job: dict | None, upstream: list["ProvenanceNode"]):
        self.table = table
        self.tier = tier
        self.key = key
        self.job = job
        self.upstream = upstream

    def to_dict(self) -> dict:
        return {"table": self.table, "tier": self.tier, "key": {k: _json_value(v) for k, v in self.key.items()},
                "job": {k: _json_value(v) for k, v in self.job.items()} if self.job else None,
                "upstream": [node.to_dict() for node in self.upstream]}

    def walk(self):
        yield self
        for node in self.upstream:
            yield from node.walk()

    def _label(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        text = f"{self.table} ({self.tier}) {key}"
        if self.job:
            text += (f" — version {self.job.get('version') or '?'}, {self.job.get('host')}:{self.job.get('pid')}, "
                     f"started {self.job.get('started')}, {self.job.get('duration')} s")
        return text

    def __repr__(self) -> str:
        lines = []

        def add(node, depth):
            lines.append("  " * depth + ("└─ " if depth else "") + node._label())
            for child in node.upstream:
                add(child, depth + 1)

        add(self, 0)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        def render(node) -> str:
            children = "".join(render(child) for child in node.upstream)
            inner = f"<ul>{children}</ul>" if children else ""
            return f"<li><code>{html.escape(node._label())}</code>{inner}</li>"

        return f'<ul class="dj-provenance">{render(self)}</ul>'


def provenance(table, key: dict) -> ProvenanceNode:
    """The upstream rows, code version, worker and timing behind one row of a computed table."""
    from .jobs.jobtable import job_table_name
    from .table import FreeTable, tier_of

    connection = table.connection
    dependencies = connection.dependencies
    restricted = table & key
    rows = restricted.keys()
    if len(rows) != 1:
        raise DataJointError(f"provenance() needs the key of exactly one row of {table.table_name}; "
                             f"{len(rows)} rows match {key}.", hint="Give the full primary key.")

    def node_for(schema: str, name: str, row_key: dict, seen: frozenset) -> ProvenanceNode:
        tier = tier_of(name)
        job = None
        if tier in ("imported", "computed", "part"):
            owner = name if tier != "part" else name.rsplit("__", 1)[0]
            job_name = job_table_name(owner)
            if job_name in connection.backend.list_tables(connection, schema):
                job_table = FreeTable(connection, schema, job_name)
                job_key = {k: v for k, v in row_key.items() if k in job_table.heading}
                records = (job_table & job_key & {"status": "success"}).to_dicts()
                if records:
                    record = records[0]
                    job = {"version": record["version"], "host": record["host"], "user": record["user"],
                           "pid": record["pid"], "started": record["reserved_time"],
                           "completed": record["completed_time"], "duration": record["duration"]}
        upstream = []
        if tier in ("imported", "computed", "part") and (schema, name) not in seen:
            for edge in dependencies.parents((schema, name), primary=True if tier != "part" else None):
                parent_key = {parent: row_key[child] for child, parent in edge.columns if child in row_key}
                if len(parent_key) != len(edge.columns):
                    continue
                parent_rows = (FreeTable(connection, *edge.parent) & parent_key).keys()
                for parent_row in parent_rows:
                    upstream.append(node_for(edge.parent[0], edge.parent[1], parent_row, seen | {(schema, name)}))
        return ProvenanceNode(f"{schema}.{name}", tier, row_key, job, upstream)

    return node_for(table.database, table.table_name, rows[0], frozenset())
