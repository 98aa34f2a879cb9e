"""Garbage collection of stored objects that no row references: two-phase, safe under concurrent inserts.

Deletes already remove the objects they release, right after their commit. What
can still be left behind is what a crash leaves: a process that died between a
commit and the removal, or during an insert before its rollback could clean up.
``dj.gc.collect`` finds those orphans::

    report = dj.gc.collect(schema, store="main")                 # dry run: report only
    report = dj.gc.collect(schema, store="main", dry_run=False)  # mark now, remove once the grace has passed
    report = dj.gc.collect(schema, dry_run=False, grace_period=0)  # mark and sweep in one call

Only the schema's own sections of the store are scanned
(``{hash_prefix}/{schema}/`` and ``{schema_prefix}/[partitions/]{schema}/``), so
user files, ``<filepath@>`` targets and other schemas' objects are never touched.

Mark: list the stored objects, then read every reference that committed rows hold
(in these schemas and every schema the connection uses); an unreferenced object is
marked, with the time of marking kept in the store (``.dj_gc/{schema}.json``).
Sweep (``dry_run=False``): an object is removed only when it was marked at least
``grace_period`` ago, it was last written at least ``grace_period`` ago, and a
fresh reference scan made *after* listing it still finds no row pointing to it.
An insert in flight writes its objects before its row commits; as long as
transactions are shorter than the grace period, its objects are too young to be
swept, and a committed row is always seen by the fresh scan. A writer that reused
an old hash-addressed object checks after its commit that the object is still there
and restores it if a sweep raced it (see :mod:`dj_jupyter.storage.ledger`).
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from ..errors import DataJointError
from .paths import HASH_PATTERN, partition_attributes
from .stores import MANIFEST_SUFFIX, Store, get_store, modified_time, referenced_in_schemas

logger = logging.getLogger("dj_jupyter")

DEFAULT_GRACE_PERIOD = 3600.0
MARKS_FOLDER = ".dj_gc"


@dataclass
class GCReport:
    """What a collection found and did. Paths are relative to the store."""

    store: str
    schemas: list[str]
    dry_run: bool
    grace_period: float
    stored: int = 0
    stored_bytes: int = 0
    referenced: int = 0
    orphans: list[str] = field(default_factory=list)
    orphan_bytes: int = 0
    eligible: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    kept: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def orphan_count(self) -> int:
        return len(self.orphans)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __getitem__(self, key: str):
        """DataJoint-style keys (``"deleted"``, ``"bytes_freed"``, ...) as well as field names."""
        aliases = {"deleted": len(self.removed), "orphaned": len(self.orphans), "dry_run": self.dry_run,
                   "orphaned_paths": self.orphans, "scan_errors": self.errors}
        if key in aliases:
            return aliases[key]
        return getattr(self, key)

    def __str__(self) -> str:
        action = "would remove" if self.dry_run else "removed"
        count = len(self.eligible) if self.dry_run else len(self.removed)
        lines = [f"gc of store {self.store!r} for {', '.join(self.schemas)}"
                 + (" (dry run)" if self.dry_run else ""),
                 f"  stored objects : {self.stored} ({_size(self.stored_bytes)})",
                 f"  referenced     : {self.referenced}",
                 f"  orphans        : {len(self.orphans)} ({_size(self.orphan_bytes)})",
                 f"  {action:<15}: {count}" + ("" if self.dry_run else f" ({_size(self.bytes_freed)})")]
        if self.deferred:
            lines.append(f"  in grace period: {len(self.deferred)} (removed by a run after "
                         f"{self.grace_period:g} s)")
        if self.kept:
            lines.append(f"  referenced again before the sweep: {len(self.kept)}")
        if self.errors:
            lines.append(f"  errors         : {len(self.errors)}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _seconds(grace_period) -> float:
    if isinstance(grace_period, datetime.timedelta):
        return grace_period.total_seconds()
    value = float(grace_period)
    if value < 0:
        raise DataJointError("grace_period must not be negative.")
    return value


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _schema_files(store: Store, schema: str) -> dict[str, dict]:
    """Every managed file of ``schema`` in ``store``: relative path -> fsspec info."""
    files: dict[str, dict] = {}
    hash_section = "/".join(p for p in (store.hash_prefix, schema) if p)
    for path, info in store.walk_files(hash_section).items():
        if HASH_PATTERN.match(path.rsplit("/", 1)[-1]):
            files[path] = info
    partitions = partition_attributes(store.spec.get("partition_pattern"))
    if partitions:
        section = store.schema_prefix
        for path, info in store.walk_files(section).items() if section else store.walk_files("").items():
            rest = path.split("/")[len(section.split("/")) if section else 0:]
            while rest and "=" in rest[0]:
                rest = rest[1:]
            if len(rest) > 1 and rest[0] == schema:
                files[path] = info
    else:
        schema_section = "/".join(p for p in (store.schema_prefix, schema) if p)
        files.update(store.walk_files(schema_section))
    return files


def _covered(path: str, referenced: set[str]) -> bool:
    """A stored file belongs to a referenced object: it is one, lies inside one, or is one's manifest."""
    if path.endswith(MANIFEST_SUFFIX):
        path = path[: -len(MANIFEST_SUFFIX)]
    if path in referenced:
        return True
    index = path.rfind("/")
    while index > 0:
        if path[:index] in referenced:
            return True
        index = path.rfind("/", 0, index)
    return False


def _owner(path: str, files: dict) -> str:
    """The object a file belongs to: a folder object (it has a manifest) or the file itself."""
    if path.endswith(MANIFEST_SUFFIX):
        return path[: -len(MANIFEST_SUFFIX)]
    index = path.rfind("/")
    while index > 0:
        if path[:index] + MANIFEST_SUFFIX in files:
            return path[:index]
        index = path.rfind("/", 0, index)
    return path


def _marks_path(schema: str) -> str:
    return f"{MARKS_FOLDER}/{schema}.json"


def _read_marks(store: Store, schema: str) -> dict[str, str]:
    try:
        data = json.loads(store.read_bytes(_marks_path(schema)))
        return {k: v for k, v in data.get("marks", {}).items() if isinstance(v, str)}
    except Exception:
        return {}


def _write_marks(store: Store, schema: str, marks: dict[str, str]) -> None:
    payload = {"schema": schema, "updated": _now().isoformat(), "marks": marks}
    store.write_bytes(_marks_path(schema), json.dumps(payload, indent=1, sort_keys=True).encode())


def _schema_names(schemas) -> list[str]:
    names = []
    for schema in schemas:
        name = schema if isinstance(schema, str) else getattr(schema, "database", None)
        if not name:
            raise DataJointError("dj.gc.collect takes activated schemas (or schema names).")
        names.append(name)
    return names


def collect(*schemas, store: str | None = None, dry_run: bool = True, grace_period=DEFAULT_GRACE_PERIOD,
            connection=None, config=None, verbose: bool = False) -> GCReport:
    """Find (and unless ``dry_run``, remove) objects of ``schemas`` in ``store`` that no row references.

    ``grace_period`` (seconds or a ``timedelta``, default one hour) must exceed the longest
    transaction that writes objects. Returns a :class:`GCReport`.
    """
    if not schemas:
        raise DataJointError("dj.gc.collect needs at least one schema.")
    names = _schema_names(schemas)
    if connection is None:
        connection = next((s.connection for s in schemas if not isinstance(s, str)), None)
    if connection is None:
        from ..connection import conn

        connection = conn()
    if config is None:
        config = connection.config
    grace = _seconds(grace_period)
    target = get_store(store, config)
    report = GCReport(store=target.name, schemas=names, dry_run=dry_run, grace_period=grace)
    scan_schemas = set(names) | set(connection.schemas)

    # ---- mark: list first, then read the references ----------------------------------------------
    started = _now()
    target.invalidate_cache()
    files: dict[str, dict] = {}
    by_schema: dict[str, set[str]] = {}
    for name in names:
        try:
            found = _schema_files(target, name)
        except Exception as error:
            report.errors.append(f"listing {name}: {error}")
            found = {}
        files.update(found)
        by_schema[name] = set(found)
    report.stored = len(files)
    report.stored_bytes = sum(int(info.get("size") or 0) for info in files.values())
    try:
        referenced = {path for _store, path in referenced_in_schemas(connection, scan_schemas, {target.name}, config)}
    except Exception as error:
        report.errors.append(f"reading references: {error}")
        referenced = None
    if referenced is None:
        return report
    report.referenced = len(referenced)

    objects: dict[str, list[str]] = {}
    for path in files:
        if not _covered(path, referenced):
            objects.setdefault(_owner(path, files), []).append(path)
    report.orphans = sorted(objects)
    report.orphan_bytes = sum(int(files[f].get("size") or 0) for fs in objects.values() for f in fs)

    limit = started - datetime.timedelta(seconds=grace)
    eligible = []
    new_marks: dict[str, dict[str, str]] = {name: {} for name in names}
    for name in names:
        previous = _read_marks(target, name) if grace > 0 else {}
        for obj, members in objects.items():
            if not any(member in by_schema[name] for member in members):
                continue
            marked_at = previous.get(obj, started.isoformat())
            new_marks[name][obj] = marked_at
            written = [modified_time(files[m]) for m in members]
            young = any(t is None or t > limit for t in written)
            marked_late = datetime.datetime.fromisoformat(marked_at) > limit
            (report.deferred if (young or marked_late) else eligible).append(obj)
    report.eligible = sorted(eligible)
    report.deferred = sorted(report.deferred)
    if verbose:
        logger.info("%s", report)
    if dry_run:
        return report
    if report.errors:
        raise DataJointError("dj.gc.collect removed nothing: the scan was incomplete (" + "; ".join(report.errors) + ").",
                             hint="Fix the problem and run it again; a partial listing could mistake live objects "
                                  "for orphans.")

    # ---- sweep: a fresh reference scan, then remove what is still unreferenced -----------------------
    if grace > 0:
        for name in names:
            try:
                _write_marks(target, name, new_marks[name])
            except Exception as error:
                report.errors.append(f"saving marks of {name}: {error}")
    if not report.eligible:
        return report
    try:
        fresh = {path for _store, path in referenced_in_schemas(connection, scan_schemas, {target.name}, config)}
    except Exception as error:
        raise DataJointError(f"dj.gc.collect removed nothing: could not re-read references: {error}") from None
    doomed = []
    for obj in report.eligible:
        if _covered(obj, fresh) or any(_covered(m, fresh) for m in objects[obj]):
            report.kept.append(obj)
        else:
            doomed.append(obj)
    for start in range(0, len(doomed), 1000):
        chunk = doomed[start:start + 1000]
        try:
            gone = target.remove_many(chunk)
        except Exception as error:
            report.errors.append(f"removing {len(chunk)} object(s): {error}")
            continue
        for obj in gone:
            report.removed.append(obj)
            report.bytes_freed += sum(int(files[m].get("size") or 0) for m in objects[obj])
    report.removed.sort()
    if grace > 0:
        for name in names:
            remaining = {k: v for k, v in new_marks[name].items() if k not in report.removed}
            try:
                _write_marks(target, name, remaining)
            except Exception as error:
                report.errors.append(f"saving marks of {name}: {error}")
    return report


class GarbageCollector:
    """DataJoint 2.3's interface: ``GarbageCollector(*schemas, store=None).collect(dry_run=True)``."""

    def __init__(self, *schemas, store: str | None = None, config=None, grace_period=DEFAULT_GRACE_PERIOD):
        if not schemas:
            raise DataJointError("At least one schema must be provided.")
        self.schemas = schemas
        self.store = store
        self.config = config
        self.grace_period = grace_period
        get_store(store, config)  # an unknown store fails now

    def collect(self, dry_run: bool = True, verbose: bool = False) -> GCReport:
        return collect(*self.schemas, store=self.store, dry_run=dry_run, grace_period=self.grace_period,
                       config=self.config, verbose=verbose)
