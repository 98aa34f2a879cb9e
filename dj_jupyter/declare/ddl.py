"""From a parsed definition and its resolved parents to backend-neutral table DDL.

Foreign keys are resolved here: each ``-> Parent`` contributes the parent's
primary-key attributes (renamed where ``.proj()`` says so), a constraint, and
the lineage of each inherited attribute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from ..backends.base import ColumnDDL, ForeignKeyInfo, TableDDL
from ..errors import DataJointError
from .parser import AttributeDecl, Default, ForeignKeyDecl, TableSpec, parse_definition
from .types import classify

logger = logging.getLogger("dj_jupyter")

SINGLETON = AttributeDecl("_singleton", classify("bool"), True, False, Default(value=True), "singleton primary key")
JOB_METADATA = (
    AttributeDecl("_job_start_time", classify("datetime(3)"), False, True, Default(constant="NULL"), "when computation began"),
    AttributeDecl("_job_duration", classify("float32"), False, True, Default(constant="NULL"), "computation duration in seconds"),
    AttributeDecl("_job_version", classify("varchar(64)"), False, False, Default(value=""), "code version"),
)


@dataclass
class ResolvedParent:
    """What a foreign key needs to know about the referenced table."""

    schema: str
    table: str
    primary_key: list[str]
    attributes: dict[str, Any]  # name -> heading Attribute
    is_part_of: str | None = None


@dataclass
class Declaration:
    ddl: TableDDL
    lineage: dict[str, str] = field(default_factory=dict)
    stores: list[str] = field(default_factory=list)
    parents: list[tuple[ResolvedParent, ForeignKeyDecl]] = field(default_factory=list)
    native_key: list[str] = field(default_factory=list)


def column_comment(declared, comment: str) -> str:
    """DataJoint's column comment: ``:type:comment`` for core types and codecs, the comment otherwise."""
    if declared.category in ("core", "codec"):
        return f":{declared.text}:{comment}"
    return comment


def storage_type(declared):
    """The type a column is stored as: codecs resolve through their dtype chain."""
    if declared.category != "codec":
        return declared, None
    from ..codecs.base import resolve

    _chain, storage, store = resolve(declared)
    return storage, store


def build_declaration(schema: str, table: str, definition: str | TableSpec,
                      resolve_parent: Callable[[ForeignKeyDecl], ResolvedParent], *,
                      hidden: tuple[AttributeDecl, ...] = ()) -> Declaration:
    spec = parse_definition(definition) if isinstance(definition, str) else definition
    columns: dict[str, ColumnDDL] = {}
    primary_key: list[str] = []
    lineage: dict[str, str] = {}
    foreign_keys: list[ForeignKeyInfo] = []
    indexes: list[tuple[tuple[str, ...], bool]] = []
    stores: list[str] = []
    parents: list[tuple[ResolvedParent, ForeignKeyDecl]] = []
    native_key: list[str] = []

    def add_column(name: str, column: ColumnDDL, in_key: bool, origin: str | None, line: str):
        if name in columns:
            if origin is not None and lineage.get(name) not in (None, origin):
                raise DataJointError(
                    f'In "{line}": attribute `{name}` is already defined with a different origin '
                    f"({lineage[name]}, here {origin}).",
                    hint=f"Rename it in the reference, e.g. -> Table.proj({name}_2='{name}').")
            return
        columns[name] = column
        if in_key:
            primary_key.append(name)
        if origin is not None:
            lineage[name] = origin

    for item in spec.items:
        if isinstance(item, AttributeDecl):
            declared_storage, store = storage_type(item.type)
            if item.type.category == "codec" and store is not None:
                stores.append(store)
            if item.type.category == "native":
                logger.warning("Native type `%s` of attribute `%s`: prefer a core type for portability.",
                               item.type.text, item.name)
            column = ColumnDDL(item.name, declared_storage, item.nullable, item.default,
                               column_comment(item.type, item.comment))
            if item.name in columns:
                raise DataJointError(f'In "{item.line}": attribute `{item.name}` is already defined by a foreign key.',
                                     hint="Remove the line or rename the attribute.")
            add_column(item.name, column, item.in_key, f"{schema}.{table}.{item.name}" if item.in_key else None,
                       item.line)
            if item.in_key:
                native_key.append(item.name)
            continue
        parent = resolve_parent(item)
        parents.append((parent, item))
        renames = dict(item.renames)  # new -> parent attribute
        reverse = {old: new for new, old in renames.items()}
        for old in renames.values():
            if old not in parent.primary_key:
                raise DataJointError(f'In "{item.line}": `{old}` is not in the primary key of the referenced table.',
                                     hint=f"Rename one of: {', '.join(parent.primary_key)}.")
        pairs = []
        for parent_name in parent.primary_key:
            child_name = reverse.get(parent_name, parent_name)
            attribute = parent.attributes[parent_name]
            origin = attribute.lineage or f"{parent.schema}.{parent.table}.{parent_name}"
            declared_storage, _store = storage_type(attribute.type)
            column = ColumnDDL(child_name, declared_storage, item.nullable, None,
                               column_comment(attribute.type, attribute.comment),
                               # a named type (PostgreSQL enum) lives where the attribute was first declared
                               type_schema=origin.split(".", 1)[0])
            add_column(child_name, column, item.in_key, origin, item.line)
            pairs.append((child_name, parent_name))
        foreign_keys.append(ForeignKeyInfo((schema, table), (parent.schema, parent.table), tuple(pairs)))
        if item.unique:
            indexes.append((tuple(c for c, _ in pairs), True))

    for index in spec.indexes:
        for name in index.attributes:
            if name not in columns:
                raise DataJointError(f'In "{index.line}": `{name}` is not an attribute of this table.',
                                     hint=f"Index one of: {', '.join(columns)}.")
        indexes.append((index.attributes, index.unique))

    if not primary_key:
        add_column(SINGLETON.name, ColumnDDL(SINGLETON.name, SINGLETON.type, False, SINGLETON.default,
                                             column_comment(SINGLETON.type, SINGLETON.comment)), True, None, "")
    for item in hidden:
        columns[item.name] = ColumnDDL(item.name, item.type, item.nullable, item.default,
                                       column_comment(item.type, item.comment))

    ordered = [columns[n] for n in primary_key] + [c for n, c in columns.items() if n not in primary_key]
    ddl = TableDDL(schema, table, spec.comment, ordered, primary_key, foreign_keys, _dedupe(indexes))
    return Declaration(ddl, lineage, stores, parents, native_key)


def _dedupe(indexes):
    seen = []
    for index in indexes:
        if index not in seen:
            seen.append(index)
    return seen
