"""Export a pipeline subset to Parquet with its provenance, and import it into any backend.

``export(Subject & key, path)`` writes the subject, everything derived from it,
and the upstream rows those reference (so the subset re-imports on its own), one
Parquet file per table with the primary key first, plus ``manifest.json`` with
the definitions, the restriction, row counts, checksums and the provenance of
every exported computed row. ``import_export(path)`` declares the tables on a
connection (any backend) and inserts the rows.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .errors import DataJointError

FORMAT_VERSION = 1


def _arrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise DataJointError("Export needs pyarrow.", hint="pip install 'dj-jupyter[export]'") from None
    return pyarrow


# --------------------------------------------------------------------------------------------
# which rows
# --------------------------------------------------------------------------------------------
def _with_referenced_ancestors(connection, selected: dict, keep: set) -> dict:
    """Add every ancestor of the selected tables, restricted to the rows the selection references.

    ``keep``: selected tables whose restriction already is final (the seed of a cascade).
    """
    from .query.expression import U
    from .table import FreeTable

    dependencies = connection.dependencies
    ancestors = set()
    for node in list(selected):
        ancestors |= set(dependencies.ancestors(node))
    for node in reversed(dependencies.topological(ancestors | set(selected))):
        if node in keep:
            continue
        sources = []
        for edge in dependencies.children(node):
            child = selected.get(edge.child)
            if child is None:
                continue
            renames = {parent: child_col for child_col, parent in edge.columns if child_col != parent}
            sources.append(U(*[parent for _, parent in edge.columns]) & (child.proj(**renames) if renames else child))
        if sources:
            restricted = FreeTable(connection, *node).restrict(sources, semantic_check=False)
            if node in selected:
                restricted = FreeTable(connection, *node).restrict([selected[node], restricted], semantic_check=False)
            selected[node] = restricted
    order = dependencies.topological(selected)
    return {node: selected[node] for node in order}


def _subset(target) -> tuple[Any, dict, dict]:
    """(connection, restricted expression of every exported table, how the subset was chosen).

    A table: it and everything derived from it (delete-cascade semantics). A diagram: its tables,
    restricted as ``Diagram.restrict`` propagated them (only the reached tables when it was restricted).
    Either way the referenced rows of every ancestor come along, so the export imports on its own.
    """
    from .deletes import build_cascade
    from .diagram import Diagram
    from .table import Table

    if isinstance(target, type) and issubclass(target, Table):
        target = target()
    if isinstance(target, Diagram):
        connection = target._connection
        restrictions = target._restrictions
        nodes = [node for node in target._show if not restrictions or node in restrictions]
        selected = {node: target._table(node) for node in nodes}
        seeds = [node for node in restrictions  # restricted tables whose restriction did not come from a parent
                 if not any(edge.parent in restrictions for edge in connection.dependencies.parents(node))]
        chosen = {"root": sorted(f"{schema}.{table}" for schema, table in seeds) or "diagram",
                  "restriction": {f"{schema}.{table}": [f.sql for f in expr._where]
                                  for (schema, table), expr in restrictions.items()},
                  "restriction_values": {f"{schema}.{table}": [[_plain(v) for v in f.params] for f in expr._where]
                                         for (schema, table), expr in restrictions.items()}}
        return connection, _with_referenced_ancestors(connection, selected, keep=set(selected)), chosen
    if not isinstance(target, Table):
        raise DataJointError("export() takes a table, a restricted table or a diagram, e.g. "
                             "dj.export(Subject & key, path) or dj.export(dj.Diagram(schema).restrict(Subject & key), "
                             "path).")
    connection = target.connection
    cascade = build_cascade(target, part_integrity="ignore")
    chosen = {"root": f"{target.database}.{target.table_name}",
              "restriction": [fragment.sql for fragment in target._where],
              "restriction_values": [[_plain(v) for v in fragment.params] for fragment in target._where]}
    subset = _with_referenced_ancestors(connection, dict(cascade.restrictions), keep=set(cascade.restrictions))
    return connection, subset, chosen


# --------------------------------------------------------------------------------------------
# values to Arrow
# --------------------------------------------------------------------------------------------
def _arrow_type(attribute, pa):
    declared = attribute.type
    name = declared.name
    if declared.category == "core":
        simple = {"int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
                  "float32": pa.float32(), "float64": pa.float64(), "bool": pa.bool_(), "date": pa.date32(),
                  "json": pa.string(), "uuid": pa.string(), "bytes": pa.binary(), "char": pa.string(),
                  "varchar": pa.string(), "enum": pa.string()}
        if name in simple:
            return simple[name]
        if name == "decimal":
            return pa.decimal128(*declared.params)
        if name == "datetime":
            return pa.timestamp("us")
    return None


def _column(values: list, attribute, pa):
    """An Arrow array for one column, and how it was encoded (recorded in the manifest)."""
    kind = _arrow_type(attribute, pa)
    if kind is not None:
        if attribute.type.name == "json":
            values = [None if v is None else json.dumps(v, sort_keys=True, default=str) for v in values]
        elif attribute.type.name == "uuid":
            values = [None if v is None else str(v) for v in values]
        return pa.array(values, type=kind), "value"
    name = attribute.type.name if attribute.is_codec else ""
    if name in ("blob", "npy"):
        return _array_column([_loaded(v) for v in values], pa)
    if name == "attach":
        return pa.array([None if v is None else _read_attachment(v) for v in values], type=pa.binary()), "attachment"
    if name == "hash":
        return pa.array([None if v is None else bytes(v) for v in values], type=pa.binary()), "bytes"
    if name in ("object", "filepath"):
        return pa.array([None if v is None else _object_text(v) for v in values], type=pa.string()), "reference"
    return pa.array([None if v is None else _pack(v) for v in values], type=pa.binary()), "blob"


def _loaded(value):
    """The array behind a lazy reference (``<npy@>``), or the value itself."""
    return value.load() if hasattr(value, "load") and hasattr(value, "shape") else value


def _pack(value) -> bytes:
    from .codecs.blob_format import pack

    return pack(value)


def _array_column(values: list, pa):
    """Numeric arrays of one shape as an Arrow tensor column, of one dtype as lists, anything else as blobs."""
    arrays = [v for v in values if v is not None]
    numeric = arrays and all(isinstance(v, np.ndarray) and v.dtype.kind in "iufb" for v in arrays)
    if numeric and len(arrays) == len(values):
        dtypes = {v.dtype for v in arrays}
        shapes = {v.shape for v in arrays}
        if len(dtypes) == 1 and len(shapes) == 1 and arrays[0].ndim >= 1:
            shape = arrays[0].shape
            value_type = pa.from_numpy_dtype(arrays[0].dtype)
            storage = pa.FixedSizeListArray.from_arrays(
                pa.array(np.concatenate([v.ravel(order="C") for v in arrays]), type=value_type), int(np.prod(shape)))
            return pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(value_type, list(shape)), storage), "tensor"
        if len(dtypes) == 1 and all(v.ndim == 1 for v in arrays):
            return pa.array([v.tolist() for v in arrays], type=pa.list_(pa.from_numpy_dtype(next(iter(dtypes))))), \
                "list"
    return pa.array([None if v is None else _pack(v) for v in values], type=pa.binary()), "blob"


def _read_attachment(value) -> bytes:
    path = Path(value)
    return path.name.encode() + b"\0" + path.read_bytes()


def _object_text(value) -> str:
    for attribute in ("path", "fullpath"):
        if hasattr(value, attribute):
            return str(getattr(value, attribute))
    if isinstance(value, dict) and "path" in value:
        return str(value["path"])
    return str(value)


def value_checksum(value) -> str:
    """A content checksum of a fetched value (arrays by bytes and shape), equal across backends and stores."""
    digest = hashlib.sha256()
    value = _loaded(value)
    if isinstance(value, np.ndarray):
        digest.update(str(value.dtype).encode() + str(value.shape).encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (bytes, bytearray, memoryview)):
        digest.update(bytes(value))
    elif hasattr(value, "read") and callable(value.read):
        digest.update(value.read())
    else:
        digest.update(repr(value).encode())
    return digest.hexdigest()


def _checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(value):
    if isinstance(value, (datetime.date, datetime.datetime, uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def export(target, path, format: str = "parquet", *, copy_objects: bool = False) -> dict:
    """Write ``target`` (a restricted table and everything derived from it, or a diagram) to ``path``."""
    from .table import load_heading, tier_of
    from .jobs.jobtable import job_table_name

    if format != "parquet":
        raise DataJointError(f"Unsupported export format {format!r}.", hint="Use format='parquet'.")
    pa = _arrow()
    import pyarrow.parquet as pq

    connection, subset, chosen = _subset(target)
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    manifest = {"format_version": FORMAT_VERSION, "created": datetime.datetime.now().isoformat(timespec="seconds"),
                "backend": connection.backend.name, **chosen, "tables": [], "provenance": {}}
    for node, restricted in subset.items():
        schema, table_name = node
        heading = load_heading(connection, schema, table_name)
        rows = restricted.to_dicts(order_by="KEY") if heading.primary_key else restricted.to_dicts()
        names = heading.primary_key + heading.secondary_attributes
        arrays, fields, encodings = [], [], {}
        for name in names:
            array, encoding = _column([row[name] for row in rows], heading[name], pa)
            encodings[name] = encoding
            arrays.append(array)
            fields.append(pa.field(name, array.type, metadata={"dj_type": heading[name].type.text,
                                                               "dj_encoding": encoding}))
        file = Path(schema) / f"{table_name.replace('#', '%23')}.parquet"
        (root / schema).mkdir(exist_ok=True)
        pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), root / file)
        manifest["tables"].append({
            "name": f"{schema}.{table_name}", "schema": schema, "table_name": table_name, "tier": tier_of(table_name),
            "definition": restricted.describe() if hasattr(restricted, "describe") else "",
            "file": str(file), "rows": len(rows), "sha256": _checksum(root / file),
            "columns": names, "encodings": encodings,
            "object_checksums": {name: [value_checksum(row[name]) if row[name] is not None else None
                                        for row in rows] for name in names if heading[name].is_codec},
        })
        if tier_of(table_name) in ("imported", "computed"):
            job_name = job_table_name(table_name)
            if job_name in connection.backend.list_tables(connection, schema):
                from .table import FreeTable

                jobs = FreeTable(connection, schema, job_name)
                records = (jobs & {"status": "success"}).restrict(restricted.proj(), semantic_check=False).to_dicts()
                manifest["provenance"][f"{schema}.{table_name}"] = [
                    {"key": {k: _plain(r[k]) for k in jobs.primary_key}, "version": r["version"], "host": r["host"],
                     "user": r["user"], "pid": r["pid"], "started": _plain(r["reserved_time"]),
                     "completed": _plain(r["completed_time"]), "duration": r["duration"]} for r in records]
        if copy_objects:
            _copy_objects(restricted, heading, root)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
    return manifest


def _copy_objects(restricted, heading, root: Path) -> None:
    """Copy the objects the rows reference to ``root/objects/<store>/<path>`` (folders file by file)."""
    from .storage.references import collect_references
    from .storage.stores import get_store

    for store_name, object_path in collect_references(restricted, None):
        store = get_store(store_name, restricted.connection.config)
        base = root / "objects" / (store_name or "default")
        files = store.walk_files(object_path) if store.isdir(object_path) else {object_path: None}
        for relative in files:
            target = base / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.read_bytes(relative))


# --------------------------------------------------------------------------------------------
# import
# --------------------------------------------------------------------------------------------
def _values(column, encoding: str, attribute_type: str, root: Path) -> list:
    from .codecs.blob_format import unpack

    if encoding == "tensor":
        shape = list(column.type.shape)
        flat = column.storage.flatten().to_numpy(zero_copy_only=False)
        size = int(np.prod(shape))
        return [flat[i * size:(i + 1) * size].reshape(shape).copy() for i in range(len(column))]
    values = column.to_pylist()
    if encoding == "list":
        return [None if v is None else np.asarray(v) for v in values]
    if encoding == "blob":
        return [None if v is None else unpack(v) for v in values]
    if encoding == "attachment":
        return [None if v is None else _attachment_file(v, root) for v in values]
    if encoding == "reference":
        return [None if v is None else _copied_object(root, v) for v in values]
    if attribute_type == "json":
        return [None if v is None else json.loads(v) for v in values]
    return values


def _copied_object(root: Path, path: str):
    """The local copy of an exported object (``export(..., copy_objects=True)``), else its store path."""
    for store_folder in sorted((root / "objects").glob("*")):
        candidate = store_folder / path
        if candidate.exists():
            return str(candidate)
    return path


def _attachment_file(packed: bytes, root: Path) -> str:
    """Write an exported attachment back to a file (inserting an <attach> takes a path)."""
    name, _, content = packed.partition(b"\0")
    folder = root / "attachments" / hashlib.sha256(packed).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(name.decode()).name
    target.write_bytes(content)
    return str(target)


def import_export(path, *, connection=None, schema_map: dict | None = None) -> dict:
    """Declare the exported tables on ``connection`` (any backend) and insert their rows."""
    import pyarrow.parquet as pq

    from .connection import conn as default_connection
    from .schema import Schema
    from .tiers import TIERS, Part
    from .table import to_camel_case

    _arrow()
    root = Path(path)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise DataJointError(f"{root} holds no manifest.json.", hint="Pass the folder dj.export() wrote.")
    manifest = json.loads(manifest_path.read_text())
    connection = connection or default_connection()
    schema_map = schema_map or {}
    schemas: dict[str, Schema] = {}
    namespaces: dict[str, SimpleNamespace] = {}
    classes: dict[str, type] = {}
    for entry in manifest["tables"]:
        if _checksum(root / entry["file"]) != entry["sha256"]:
            raise DataJointError(f"{entry['file']} does not match its checksum; the export is damaged.")
    for entry in manifest["tables"]:
        source_schema = entry["schema"]
        target_schema = schema_map.get(source_schema, source_schema)
        if target_schema not in schemas:
            schemas[target_schema] = Schema(target_schema, connection=connection)
            namespaces[source_schema] = SimpleNamespace()
        tier = entry["tier"]
        name_parts = entry["table_name"].lstrip("#_").split("__")
        class_name = to_camel_case(name_parts[-1])
        context = dict(namespaces)
        context.update({c.__name__: c for key, c in classes.items()
                        if key.split(".", 1)[0] == source_schema and not issubclass(c, Part)})
        if tier == "part":
            master = classes[entry["name"].rsplit("__", 1)[0]]
            cls = type(class_name, (Part,), {"definition": entry["definition"]})
            cls._master = master
            setattr(master, class_name, cls)
            schemas[target_schema]._decorate_table(cls, {**context, "master": master})
        else:
            cls = type(class_name, (TIERS[tier],), {"definition": entry["definition"]})
            schemas[target_schema](cls, context=context)
        classes[entry["name"]] = cls
        setattr(namespaces[source_schema], ".".join(to_camel_case(p) for p in name_parts), cls)
        setattr(namespaces[source_schema], class_name, cls)
        table = pq.read_table(root / entry["file"])
        rows_columns = {}
        for field in table.schema:
            encoding = entry["encodings"].get(field.name, "value")
            dj_type = (field.metadata or {}).get(b"dj_type", b"").decode()
            rows_columns[field.name] = _values(table.column(field.name).combine_chunks(), encoding, dj_type, root)
        rows = [dict(zip(rows_columns, values)) for values in zip(*rows_columns.values())] if rows_columns else []
        cls().insert(rows, skip_duplicates=True, allow_direct_insert=True)
    return {"tables": [entry["name"] for entry in manifest["tables"]],
            "rows": {entry["name"]: entry["rows"] for entry in manifest["tables"]}}
