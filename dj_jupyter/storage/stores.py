"""Object stores opened through fsspec, and the reference bookkeeping that keeps them tidy.

A :class:`Store` is one entry of ``dj.config['stores']``: an fsspec filesystem and
a root folder inside it. Every operation takes a path relative to that root and
checks it with :func:`~dj_jupyter.storage.paths.clean_path`, so no value read
from the database or given by a user can reach outside the store. The library
treats every protocol alike: the only per-protocol code is the translation of
DataJoint's configuration keys into fsspec's constructor arguments.

All writes go through :meth:`Store.open_write` (``fs.open(path, "wb")``) and all
payload reads through :meth:`Store.open_read` / :meth:`Store.read_bytes`
(``fs.open(path, "rb")`` / ``fs.cat_file``), so an fsspec wrapper sees every
payload byte that moves.

:func:`references_of` lists the objects rows point to; :func:`remove_if_unreferenced`
removes objects that no row of any table that could point to them still does.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import posixpath
import threading
from typing import Any, Iterable, Iterator

from ..errors import DataJointError, MissingExternalFile
from .paths import UnsafePathError, clean_path
from .spec import resolve_store_name, store_spec

logger = logging.getLogger("dj_jupyter")

MANIFEST_SUFFIX = ".manifest.json"
_COPY_CHUNK = 64 * 1024 * 1024


def _config(config=None):
    if config is not None:
        return config
    from ..settings import config as global_config

    return global_config


def _fsspec_arguments(spec: dict) -> tuple[str, dict, str]:
    """(fsspec protocol, constructor arguments, root inside the filesystem) for a store spec."""
    protocol = spec["protocol"]
    location = str(spec.get("location") or "").strip("/") if protocol != "file" else str(spec.get("location") or "")
    if protocol == "file":
        root = os.path.abspath(os.path.expanduser(location or "."))
        return "file", {"auto_mkdir": True}, root.replace(os.sep, "/").rstrip("/") or "/"
    if protocol == "s3":
        endpoint = str(spec["endpoint"])
        if not endpoint.startswith(("http://", "https://")):
            endpoint = ("https://" if spec.get("secure", True) else "http://") + endpoint
        client_kwargs: dict[str, Any] = {"endpoint_url": endpoint}
        if spec.get("region"):
            client_kwargs["region_name"] = spec["region"]
        options: dict[str, Any] = {"key": spec.get("access_key") or None, "secret": spec.get("secret_key") or None,
                                   "client_kwargs": client_kwargs, "use_listings_cache": False}
        if spec.get("proxy_server"):
            options["config_kwargs"] = {"proxies": {"http": spec["proxy_server"], "https": spec["proxy_server"]}}
        return "s3", options, "/".join(p for p in (spec["bucket"], location) if p)
    if protocol == "gcs":
        options = {"token": spec.get("token"), "project": spec.get("project")}
        return "gcs", {k: v for k, v in options.items() if v is not None}, "/".join(
            p for p in (spec["bucket"], location) if p)
    if protocol == "azure":
        options = {"account_name": spec.get("account_name"), "account_key": spec.get("account_key"),
                   "connection_string": spec.get("connection_string")}
        return "abfs", {k: v for k, v in options.items() if v is not None}, "/".join(
            p for p in (spec["container"], location) if p)
    return protocol, dict(spec.get("storage_options") or {}), location


def modified_time(info: dict) -> datetime.datetime | None:
    """Last-modified time (UTC) from an fsspec ``info`` dict, whatever key the filesystem uses."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created", "ctime"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(float(value), tz=datetime.timezone.utc)
        if isinstance(value, datetime.datetime):
            return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        if isinstance(value, str):
            try:
                parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
    return None


class Store:
    """One configured object store: an fsspec filesystem and a root folder in it."""

    def __init__(self, name: str, spec: dict):
        self.name = name
        self.spec = spec
        self.protocol = spec["protocol"]
        self.fs_protocol, self._fs_options, self.root = _fsspec_arguments(spec)
        self._fs = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({self.name!r}, {self.protocol}://{self.root})"

    # ---- layout ---------------------------------------------------------------------------------
    @property
    def hash_prefix(self) -> str:
        return (self.spec.get("hash_prefix") or "").strip("/")

    @property
    def schema_prefix(self) -> str:
        return (self.spec.get("schema_prefix") or "").strip("/")

    @property
    def verify_hash(self) -> bool:
        return bool(self.spec.get("verify_hash", True))

    # ---- the filesystem ---------------------------------------------------------------------------
    @property
    def fs(self):
        """The fsspec filesystem (created on first use, without any I/O)."""
        if self._fs is None:
            with self._lock:
                if self._fs is None:
                    import fsspec

                    try:
                        self._fs = fsspec.filesystem(self.fs_protocol, **self._fs_options)
                    except ImportError as error:
                        raise DataJointError(f"Store {self.name!r} needs an fsspec implementation for "
                                             f"{self.fs_protocol!r}: {error}",
                                             hint="pip install s3fs (S3), gcsfs (GCS) or adlfs (Azure).") from None
        return self._fs

    @fs.setter
    def fs(self, filesystem) -> None:
        """Replace the filesystem (tests wrap it to count or fail operations)."""
        self._fs = filesystem

    def full_path(self, path: str) -> str:
        """The filesystem path of a store-relative ``path`` (checked to stay inside the store)."""
        relative = clean_path(path)
        return f"{self.root}/{relative}" if self.root not in ("", "/") else (
            "/" + relative if self.root == "/" else relative)

    def relative(self, full: str) -> str:
        """The store-relative path of a filesystem path returned by a listing."""
        full = self.fs._strip_protocol(full).rstrip("/")
        root = self.root.rstrip("/")
        if root and full.startswith(root + "/"):
            return full[len(root) + 1:]
        if not root:
            return full
        raise UnsafePathError(f"{full} is not inside store {self.name!r}.")

    def url(self, path: str) -> str:
        return self.fs.unstrip_protocol(self.full_path(path))

    # ---- writes ---------------------------------------------------------------------------------------
    def open_write(self, path: str):
        """A binary file open for writing at ``path`` (folders are created as needed)."""
        return self.fs.open(self.full_path(path), "wb")

    def write_bytes(self, path: str, data) -> int:
        """Write ``data`` (bytes, memoryview or a sequence of buffers) to ``path``; returns the size."""
        buffers = data if isinstance(data, (list, tuple)) else (data,)
        size = 0
        with self.open_write(path) as f:
            for buffer in buffers:
                view = memoryview(buffer).cast("B") if not isinstance(buffer, bytes) else buffer
                f.write(view)
                size += len(view)
        return size

    @property
    def writes_concurrently(self) -> bool:
        """Whether the filesystem takes many writes at once (fsspec's asynchronous implementations)."""
        return bool(getattr(self.fs, "async_impl", False))

    def write_many(self, objects: dict) -> None:
        """Write ``{path: bytes}``: concurrently where the filesystem supports it (``fs.pipe``)."""
        if not objects:
            return
        if len(objects) == 1 or not self.writes_concurrently:
            for path, data in objects.items():
                self.write_bytes(path, data)
            return
        self.fs.pipe({self.full_path(path): data for path, data in objects.items()})

    def write_file(self, path: str, local_path) -> int:
        """Copy a local file into the store."""
        size = 0
        with open(local_path, "rb") as source, self.open_write(path) as target:
            while True:
                chunk = source.read(_COPY_CHUNK)
                if not chunk:
                    break
                target.write(chunk)
                size += len(chunk)
        return size

    def write_folder(self, path: str, local_folder) -> dict:
        """Copy a local folder into the store and write DataJoint's ``{path}.manifest.json`` beside it."""
        files = []
        total = 0
        local_folder = os.fspath(local_folder)
        for root, dirs, names in os.walk(local_folder):
            dirs.sort()
            for name in sorted(names):
                source = os.path.join(root, name)
                if os.path.islink(source) and not os.path.isfile(source):
                    continue
                relative = os.path.relpath(source, local_folder).replace(os.sep, "/")
                size = self.write_file(f"{path}/{relative}", source)
                files.append({"path": relative, "size": size})
                total += size
        manifest = {"files": files, "total_size": total, "item_count": len(files),
                    "created": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        self.write_bytes(path + MANIFEST_SUFFIX, json.dumps(manifest, indent=2).encode())
        return manifest

    # ---- reads ------------------------------------------------------------------------------------------
    def open_read(self, path: str, mode: str = "rb"):
        try:
            return self.fs.open(self.full_path(path), mode)
        except FileNotFoundError:
            raise MissingExternalFile(f"Object {path} is missing from store {self.name!r}.") from None

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.fs.cat_file(self.full_path(path))
        except FileNotFoundError:
            raise MissingExternalFile(f"Object {path} is missing from store {self.name!r}.",
                                      hint="It was removed outside DataJoint, or the store configuration "
                                           "points elsewhere.") from None

    def exists(self, path: str) -> bool:
        return self.fs.exists(self.full_path(path))

    def exists_many(self, paths: list[str]) -> list[bool]:
        """Whether each path exists; concurrent requests on asynchronous filesystems (S3, GCS, ...)."""
        fulls = [self.full_path(p) for p in paths]
        fs = self.fs
        if len(fulls) > 1 and getattr(fs, "async_impl", False) and hasattr(fs, "_exists"):
            import asyncio

            from fsspec.asyn import sync

            async def check(batch):
                return await asyncio.gather(*(fs._exists(p) for p in batch))

            result: list[bool] = []
            for start in range(0, len(fulls), 64):
                result.extend(sync(fs.loop, check, fulls[start:start + 64]))
            return [bool(r) for r in result]
        return [fs.exists(p) for p in fulls]

    def info(self, path: str) -> dict:
        return self.fs.info(self.full_path(path))

    def size(self, path: str) -> int | None:
        try:
            return self.fs.size(self.full_path(path))
        except FileNotFoundError:
            return None

    def isdir(self, path: str) -> bool:
        return self.fs.isdir(self.full_path(path))

    def fsmap(self, path: str, create: bool = False):
        import fsspec

        return fsspec.FSMap(self.full_path(path), self.fs, check=False, create=create)

    def walk_files(self, path: str = "") -> dict[str, dict]:
        """Every file under ``path`` (store-relative): relative path -> fsspec info."""
        base = self.full_path(path) if path else self.root
        try:
            found = self.fs.find(base, detail=True, withdirs=False)
        except FileNotFoundError:
            return {}
        result = {}
        for full, info in found.items():
            if info.get("type") == "directory":
                continue
            try:
                result[self.relative(full)] = info
            except UnsafePathError:
                continue
        return result

    # ---- DataJoint 2.3's StorageBackend names, for codecs written against it --------------------------
    def put_buffer(self, buffer, remote_path: str) -> None:
        self.write_bytes(str(remote_path), buffer)

    def get_buffer(self, remote_path: str) -> bytes:
        return self.read_bytes(str(remote_path))

    def put_file(self, local_path, remote_path: str, metadata=None) -> None:
        self.write_file(str(remote_path), local_path)

    def get_fsmap(self, remote_path: str):
        return self.fsmap(str(remote_path))

    def open(self, remote_path: str, mode: str = "rb"):
        return self.open_write(str(remote_path)) if "w" in mode else self.open_read(str(remote_path), mode)

    def _full_path(self, path) -> str:
        return self.full_path(str(path))

    def invalidate_cache(self) -> None:
        try:
            self.fs.invalidate_cache()
        except Exception:  # not every filesystem caches
            pass

    # ---- removal ------------------------------------------------------------------------------------------
    def remove(self, path: str) -> bool:
        """Remove a file or a folder object (and its manifest). Returns whether anything was removed."""
        return bool(self.remove_many([path]))

    def remove_many(self, paths: list[str]) -> list[str]:
        """Remove file and folder objects; returns the paths that existed and were removed.

        Only literal operations are used (``info``, ``find``, ``rm_file``): a path containing
        glob characters never matches anything but itself. On asynchronous filesystems the
        requests run concurrently.
        """
        fulls = {self.full_path(p): p for p in dict.fromkeys(paths)}
        infos = self._gather("_info", list(fulls), "info", missing_ok=True)
        files: list[str] = []
        folders: list[str] = []
        removed: list[str] = []
        for full, info in zip(fulls, infos):
            if info is None:
                continue
            removed.append(fulls[full])
            if info.get("type") == "directory":
                folders.append(full)
            else:
                files.append(full)
        for folder in folders:
            try:
                inside = self.fs.find(folder, withdirs=False)
            except FileNotFoundError:
                inside = []
            files.extend(self.fs._strip_protocol(f) for f in inside)
            files.append(folder + MANIFEST_SUFFIX)
        self._gather("_rm_file", files, "rm_file", missing_ok=True)
        if not self.writes_concurrently:  # filesystems with real folders: remove the ones left empty
            for folder in folders:
                self._prune(folder)
            for parent in sorted({posixpath.dirname(f) for f in files}, key=len, reverse=True):
                self._prune(parent)
        return removed

    def _gather(self, async_name: str, fulls: list[str], sync_name: str, missing_ok: bool = False) -> list:
        """Call a filesystem method on many paths: concurrently when the filesystem is asynchronous."""
        fs = self.fs
        if not fulls:
            return []
        if len(fulls) > 1 and getattr(fs, "async_impl", False) and hasattr(fs, async_name):
            import asyncio

            from fsspec.asyn import sync

            method = getattr(fs, async_name)

            async def one(path):
                try:
                    return await method(path)
                except FileNotFoundError:
                    if not missing_ok:
                        raise
                    return None

            async def batch(items):
                return await asyncio.gather(*(one(p) for p in items))

            result: list = []
            for start in range(0, len(fulls), 64):
                result.extend(sync(fs.loop, batch, fulls[start:start + 64]))
            return result
        method = getattr(fs, sync_name)
        result = []
        for path in fulls:
            try:
                result.append(method(path))
            except FileNotFoundError:
                if not missing_ok:
                    raise
                result.append(None)
        return result

    def _prune(self, folder: str) -> None:
        """Remove empty folders left behind, keeping the section and schema folders."""
        root = self.root.rstrip("/")
        keep_depth = root.count("/") + 2  # {root}/{section}/{schema} stay
        while folder.startswith(root + "/") and folder.count("/") > keep_depth:
            try:
                if self.fs.ls(folder, detail=False):
                    return
                self.fs.rmdir(folder)
            except Exception:
                return
            folder = posixpath.dirname(folder)


# ---------------------------------------------------------------------------------------------------------
# the store registry
# ---------------------------------------------------------------------------------------------------------
_stores: dict[tuple[str, str], Store] = {}
_registry_lock = threading.Lock()


def get_store(name: str | None = None, config=None, *, use_filepath_default: bool = False) -> Store:
    """The :class:`Store` for ``name`` (``None`` or ``""``: the default store)."""
    config = _config(config)
    spec = store_spec(config, name, use_filepath_default=use_filepath_default)
    key = (spec["name"], json.dumps(spec, sort_keys=True, default=str))
    with _registry_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = Store(spec["name"], spec)
    return store


def store_name_of(name: str | None, config=None, *, use_filepath_default: bool = False) -> str:
    return resolve_store_name(_config(config), name, use_filepath_default=use_filepath_default)


def clear_store_cache() -> None:
    with _registry_lock:
        _stores.clear()


# ---------------------------------------------------------------------------------------------------------
# references held by rows
# ---------------------------------------------------------------------------------------------------------
class _AnyStoredReference:
    """Reads the standard ``{"path", "store"}`` metadata of a codec this process does not know."""

    name = "unknown"

    def referenced_paths(self, stored):
        from ..codecs.base import Codec

        return Codec.referenced_paths(self, stored)


def _store_columns(heading, attributes=None):
    """(attribute, codec that wrote the stored value) for every attribute that may hold store references."""
    from ..codecs.base import resolve

    names = heading.names if attributes is None else [a for a in attributes if a in heading]
    result = []
    for name in names:
        attribute = heading[name]
        if not attribute.is_codec:
            continue
        try:
            chain, _storage, store = resolve(attribute.type)
        except DataJointError:  # a codec not installed here: its metadata may still name objects
            result.append((attribute, _AnyStoredReference()))
            continue
        if store is not None:
            result.append((attribute, chain[-1]))
    return result


def _decoded_json(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _pairs(codec, stored, config) -> Iterator[tuple[str, str]]:
    try:
        pairs = codec.referenced_paths(stored)
    except Exception as error:  # a broken user codec must not break deletes
        logger.warning("referenced_paths of codec <%s> failed: %s", codec.name, error)
        return
    for path, store in pairs or ():
        try:
            name = store_name_of(store, config)
        except DataJointError:
            continue
        yield name, path


def references_of(expr, attributes) -> list[tuple[str, str]]:
    """(store, path) of the objects the rows of ``expr`` reference through store-backed ``attributes``."""
    config = expr.connection.config
    columns = _store_columns(expr.heading, [a.name if hasattr(a, "name") else a for a in attributes])
    if not columns:
        return []
    names = [attribute.name for attribute, _ in columns]
    cursor = expr.cursor(fields=names)
    rows = cursor.fetchall()
    cursor.close()
    found: dict[tuple[str, str], None] = {}
    for i, (attribute, codec) in enumerate(columns):
        for row in rows:
            value = row[i]
            if value is None:
                continue
            for pair in _pairs(codec, _decoded_json(value), config):
                found[pair] = None
    return list(found)


def _schema_of_path(store: Store, path: str) -> str | None:
    """The schema a managed path belongs to, from DataJoint's layouts (None for other paths)."""
    parts = path.split("/")
    for prefix in (store.hash_prefix, store.schema_prefix):
        prefix_parts = prefix.split("/") if prefix else []
        if parts[:len(prefix_parts)] != prefix_parts:
            continue
        rest = parts[len(prefix_parts):]
        if prefix == store.schema_prefix:
            while rest and "=" in rest[0]:  # partition folders precede the schema
                rest = rest[1:]
        if rest:
            return rest[0]
    return None


def referenced_in_schemas(connection, schemas: Iterable[str], stores: set[str] | None = None,
                          config=None) -> set[tuple[str, str]]:
    """Every (store, path) referenced by a row of any table in ``schemas``."""
    from ..table import FreeTable, load_heading

    config = config if config is not None else connection.config
    backend = connection.backend
    found: set[tuple[str, str]] = set()
    for schema in sorted(set(schemas)):
        try:
            if not backend.schema_exists(connection, schema):
                continue
            tables = [t for t in backend.list_tables(connection, schema) if not t.startswith("~")]
        except Exception as error:
            raise DataJointError(f"Cannot list the tables of schema {schema}: {error}") from None
        for table in tables:
            try:
                heading = load_heading(connection, schema, table)
            except Exception as error:
                raise DataJointError(f"Cannot read the heading of {schema}.{table}: {error}") from None
            columns = _store_columns(heading)
            if not columns:
                continue
            expr = FreeTable(connection, schema, table)
            names = [attribute.name for attribute, _ in columns]
            cursor = expr.cursor(fields=names)
            while True:
                batch = cursor.fetchmany(5000)
                if not batch:
                    break
                for i, (attribute, codec) in enumerate(columns):
                    for row in batch:
                        if row[i] is None:
                            continue
                        for name, path in _pairs(codec, _decoded_json(row[i]), config):
                            if stores is None or name in stores:
                                found.add((name, path))
            cursor.close()
    return found


def candidate_schemas(connection, stores_and_paths: Iterable[tuple[Store, str]]) -> set[str]:
    """Schemas whose tables could reference the given objects: their own and every schema in use."""
    schemas = set(connection.schemas)
    for store, path in stores_and_paths:
        schema = _schema_of_path(store, path)
        if schema:
            schemas.add(schema)
    return schemas


def remove_if_unreferenced(connection, references) -> list[tuple[str, str]]:
    """Remove the objects in ``references`` ((store, path) pairs) that no committed row references.

    Runs after the commit of a delete (or the rollback of an insert). Returns the
    removed pairs. Failures are logged: what stays behind is found by ``dj.gc``.
    """
    if not references:
        return []
    config = connection.config
    resolved = []
    for store, path in dict.fromkeys((s if isinstance(s, str) else s.name, p) for s, p in references):
        try:
            resolved.append((get_store(store, config), path))
        except DataJointError as error:
            logger.warning("Cannot remove %s: %s", path, error)
    if not resolved:
        return []
    try:
        referenced = referenced_in_schemas(connection, candidate_schemas(connection, resolved),
                                           {s.name for s, _ in resolved}, config)
    except Exception as error:
        logger.warning("Objects released by a delete stay in the store (dj.gc removes them later): "
                       "could not check references: %s", error)
        return []
    by_store: dict[str, tuple[Store, list[str]]] = {}
    for store, path in resolved:
        if (store.name, path) in referenced:
            continue
        try:
            store.full_path(path)
        except UnsafePathError as error:
            logger.warning("Refusing to remove %r from store %s: %s", path, store.name, error)
            continue
        by_store.setdefault(store.name, (store, []))[1].append(path)
    removed = []
    for store, paths in by_store.values():
        try:
            removed.extend((store.name, p) for p in store.remove_many(paths))
        except Exception as error:
            logger.warning("Could not remove %d object(s) from store %s (dj.gc removes them later): %s",
                           len(paths), store.name, error)
    return removed
