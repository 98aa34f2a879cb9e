"""Per-table job tables ``~~name``: DataJoint 2.3's columns and statuses, atomic reservation.

A job row's primary key is the target table's foreign-key-derived primary key.
Reservation is one conditional UPDATE whose row count decides who won, so any
number of workers on any number of machines can share one database.
"""

from __future__ import annotations

import datetime
import getpass
import logging
import os
import platform
import time
import traceback

from ..codecs.blob_format import pack
from ..declare.types import classify
from ..errors import DataJointError, DuplicateError, LostConnectionError
from ..query.condition import Fragment, Not
from ..table import FreeTable, invalidate_caches
from .version import code_version

logger = logging.getLogger("dj_jupyter")

STATUSES = ("pending", "reserved", "success", "error", "ignore")
ERROR_MESSAGE_LENGTH = 2047
TRUNCATED = "...truncated"


def job_table_name(target_table_name: str) -> str:
    return "~~" + target_table_name.lstrip("_")


def _server_now(connection) -> datetime.datetime:
    value = connection.query(f"SELECT {connection.backend.now_sql(3)}").fetchone()[0]
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value


def _user(connection) -> str:
    return connection.conn_info.get("user") or getpass.getuser()


class JobTable(FreeTable):
    """The job queue of one auto-populated table."""

    def __init__(self, target_table):
        self._target = target_table
        super().__init__(target_table.connection, target_table.database, job_table_name(target_table.table_name))
        if not self.is_declared:
            self.declare()

    @property
    def target(self):
        return self._target

    @property
    def tier(self):
        return "job"

    # ---- declaration --------------------------------------------------------------------------
    def key_attributes(self) -> list[tuple[str, str]]:
        """(name, declared type) of the target's primary-key attributes that come from foreign keys."""
        target = self._target
        heading = target.heading
        inherited = set()
        for edge in target.connection.dependencies.parents((target.database, target.table_name), primary=True):
            inherited |= {child for child, _ in edge.columns}
        attributes = []
        for name in heading.primary_key:
            if name in inherited:
                attributes.append((name, heading[name].type.text))
            else:
                logger.warning("Job table of %s ignores the non-foreign-key key attribute %s.", target.table_name, name)
        if not attributes:
            raise DataJointError(f"{type(target).__name__} has no foreign-key primary key, so it cannot have jobs.",
                                 hint="Auto-populated tables take their primary key from upstream tables.")
        return attributes

    @property
    def definition(self) -> str:
        keys = "\n".join(f"{name} : {kind}" for name, kind in self.key_attributes())
        return f"""# job queue of {self._target.table_name}
{keys}
---
status : enum('pending', 'reserved', 'success', 'error', 'ignore')
priority : int8
created_time = CURRENT_TIMESTAMP(3) : datetime(3)
scheduled_time = CURRENT_TIMESTAMP(3) : datetime(3)
reserved_time = null : datetime(3)
completed_time = null : datetime(3)
duration = null : float64
error_message = "" : varchar({ERROR_MESSAGE_LENGTH})
error_stack = null : <blob>
user = "" : varchar(255)
host = "" : varchar(255)
pid = 0 : int32
connection_id = 0 : int64
version = "" : varchar(64)
index(status, priority, scheduled_time)
"""

    def declare(self, context=None) -> None:
        from ..declare.ddl import build_declaration

        connection = self.connection
        declaration = build_declaration(self.database, self.table_name, self.definition, lambda fk: None)
        try:
            connection.execute_ddl(connection.backend.create_table_sql(declaration.ddl))
        except Exception:  # noqa: BLE001 - SQLite reports "already exists" as a bare sqlite3 error
            # workers starting together all see no job table; the losers of the race use the winner's
            if connection.in_transaction or not self._declared_by_another_worker():
                raise
        invalidate_caches(connection, self.database)
        self._heading = None

    def _declared_by_another_worker(self, wait_seconds: float = 5.0) -> bool:
        """After a failed CREATE, wait briefly for a concurrent worker's declaration to become visible."""
        deadline = time.monotonic() + wait_seconds
        while not self.is_declared:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    # ---- views ------------------------------------------------------------------------------------
    def _status(self, status: str):
        return self & {"status": status}

    @property
    def pending(self):
        return self._status("pending")

    @property
    def reserved(self):
        return self._status("reserved")

    @property
    def errors(self):
        return self._status("error")

    @property
    def ignored(self):
        return self._status("ignore")

    @property
    def completed(self):
        return self._status("success")

    def _key(self, key: dict) -> dict:
        return {name: key[name] for name in self.primary_key}

    # ---- queue maintenance ---------------------------------------------------------------------
    def refresh(self, *restrictions, delay: float = 0, priority: int | None = None,
                stale_timeout: float | None = None, orphan_timeout: float | None = None) -> dict:
        """Add jobs for new keys, re-pend lost work, and drop jobs whose keys vanished."""
        target = self._target
        priority = self.connection.config["jobs.default_priority"] if priority is None else priority
        stale_timeout = self.connection.config["jobs.stale_timeout"] if stale_timeout is None else stale_timeout
        result = {"added": 0, "removed": 0, "orphaned": 0, "re_pended": 0}
        now = _server_now(self.connection)
        key_source = target.key_source
        todo = key_source
        for restriction in restrictions:
            todo = todo & restriction
        new_keys = (todo - target.proj()).restrict(Not(self), semantic_check=False).proj().keys()
        if new_keys:
            scheduled = now + datetime.timedelta(seconds=delay)
            rows = [{**key, "status": "pending", "priority": priority, "scheduled_time": scheduled,
                     "created_time": now} for key in new_keys]
            self.insert(rows, skip_duplicates=True, ignore_extra_fields=True)
            result["added"] = len(rows)
        gone = self.completed.restrict(Not(target.proj()), semantic_check=False)
        repend = gone.restrict(key_source, semantic_check=False).keys()
        if repend:
            with self.connection.atomic():
                for key in repend:
                    self._set(key, status="pending", priority=priority, scheduled_time=now, reserved_time=None,
                              completed_time=None)
            result["re_pended"] = len(repend)
        vanished = self.restrict(Not(key_source.proj()), semantic_check=False)
        result["removed"] += (vanished & 'status in ("success", "error")').restrict(
            Not(target.proj()), semantic_check=False).delete_quick(get_count=True)
        if stale_timeout and stale_timeout > 0:
            cutoff = now - datetime.timedelta(seconds=stale_timeout)
            stale = (vanished & 'status != "ignore"') & self._older("created_time", cutoff)
            result["removed"] += stale.delete_quick(get_count=True)
        result["orphaned"] = self.release_orphans(orphan_timeout, now=now)
        return result

    def _older(self, column: str, cutoff: datetime.datetime) -> Fragment:
        """A restriction: ``column`` earlier than ``cutoff`` (a bound parameter, not text)."""
        backend = self.connection.backend
        encode = backend.encoder(self.heading[column].type)
        return Fragment(f"{backend.quote(column)} < {backend.placeholder}", (encode(cutoff),), {column})

    def release_orphans(self, orphan_timeout: float | None = None, now=None) -> int:
        """Return reservations of dead workers (or older than ``orphan_timeout`` s) to pending."""
        now = now or _server_now(self.connection)
        reserved = self.reserved.to_dicts()
        if not reserved:
            return 0
        live = self.connection.backend.live_connection_ids(self.connection)
        host = platform.node()
        orphans = []
        for job in reserved:
            dead = False
            if live is not None and job["connection_id"]:
                dead = job["connection_id"] not in live
            if not dead and job["host"] == host and job["pid"]:
                # connection ids are reused (MariaDB counts from 1 again after a restart): a dead
                # worker process on this host is dead whatever connection holds its old id now
                dead = not _pid_alive(job["pid"])
            if not dead and orphan_timeout and job["reserved_time"] is not None:
                dead = job["reserved_time"] < now - datetime.timedelta(seconds=orphan_timeout)
            if dead:
                orphans.append(self._key(job))
        if orphans:
            with self.connection.atomic():
                for key in orphans:
                    self._set(key, status="pending", reserved_time=None, host="", pid=0, connection_id=0)
        return len(orphans)

    # ---- transitions ---------------------------------------------------------------------------
    def _encoder(self, name: str):
        """Python value -> driver value for one column, cached (the job table's types never change)."""
        cache = self.__dict__.setdefault("_encoders", {})
        encoder = cache.get(name)
        if encoder is None:
            backend = self.connection.backend
            attribute = self.heading[name]
            if attribute.is_codec:  # error_stack: a <blob>
                as_bytes = backend.encoder(classify("bytes"))
                encoder = lambda value: None if value is None else as_bytes(pack(value))  # noqa: E731
            else:
                convert = backend.encoder(attribute.type)
                encoder = lambda value: None if value is None else convert(value)  # noqa: E731
            cache[name] = encoder
        return encoder

    def _update_sql(self, names: tuple) -> str:
        """Cached SQL: an UPDATE of ``names`` by key."""
        cache = self.__dict__.setdefault("_statements", {})
        statement = cache.get(("update", names))
        if statement is None:
            backend = self.connection.backend
            p = backend.placeholder
            statement = cache[("update", names)] = (
                f"UPDATE {self.full_table_name} SET " + ", ".join(f"{backend.quote(n)} = {p}" for n in names)
                + " WHERE " + " AND ".join(f"{backend.quote(k)} = {p}" for k in self.primary_key))
        return statement

    def _key_values(self, key: dict) -> list:
        return [self._encoder(name)(key[name]) for name in self.primary_key]

    def _set(self, key: dict, **values) -> int:
        names = tuple(values)
        encoded = [self._encoder(name)(values[name]) for name in names]
        return self.connection.query(self._update_sql(names), tuple(encoded) + tuple(self._key_values(key))
                                     ).rowcount

    def release(self, key: dict) -> int:
        """Return this process's reservation of ``key`` to pending (it lost the database connection while
        making it). A reservation another worker took over meanwhile is left alone."""
        backend = self.connection.backend
        p = backend.placeholder
        heading = self.heading
        key = self._key(key)
        q = backend.quote
        conditions = " AND ".join(f"{q(k)} = {p}" for k in key)
        key_values = [backend.encoder(heading[k].type)(v) for k, v in key.items()]
        sql = (f"UPDATE {self.full_table_name} SET {q('status')} = {p}, {q('reserved_time')} = NULL, "
               f"{q('host')} = {p}, {q('pid')} = {p}, {q('connection_id')} = {p} "
               f"WHERE {conditions} AND {q('status')} = {p} AND {q('host')} = {p} AND {q('pid')} = {p}")
        args = ("pending", "", 0, 0, *key_values, "reserved", platform.node(), os.getpid())
        return self.connection.query(sql, args).rowcount

    def release_all(self, keys: list[dict]) -> None:
        """``release`` each key, as far as possible: what cannot be handed back now (no connection, a lock
        conflict) stays reserved until ``refresh`` returns the reservations of dead connections."""
        for key in keys:
            try:
                self.release(key)
            except LostConnectionError:
                logger.warning("Could not release %d reserved job(s): the connection is lost; refresh() will.",
                               len(keys))
                return
            except DataJointError as error:
                logger.warning("Could not release the reserved job %s: %s", self._key(key), error)

    def reserve(self, key: dict) -> bool:
        """Atomically claim a pending job whose time has come; True if this worker got it."""
        args = (*self._reserve_args(), *self._key_values(key), "pending")
        return self.connection.query(self._reserve_sql(), args).rowcount == 1

    def _reserve_sql(self) -> str:
        cache = self.__dict__.setdefault("_statements", {})
        sql = cache.get("reserve")
        if sql is None:
            backend = self.connection.backend
            p, q, now = backend.placeholder, backend.quote, backend.now_sql(3)
            conditions = " AND ".join(f"{q(k)} = {p}" for k in self.primary_key)
            sql = cache["reserve"] = (
                f"UPDATE {self.full_table_name} SET {q('status')} = {p}, {q('host')} = {p}, {q('pid')} = {p}, "
                f"{q('connection_id')} = {p}, {q('user')} = {p}, {q('version')} = {p}, {q('reserved_time')} = {now} "
                f"WHERE {conditions} AND {q('status')} = {p} AND {q('scheduled_time')} <= {now}")
        return sql

    def _reserve_args(self) -> tuple:
        return ("reserved", platform.node(), os.getpid(), self.connection.connection_id, _user(self.connection),
                code_version(self._target))

    def complete(self, key: dict, duration: float | None = None, *, started: datetime.datetime | None = None,
                 version: str | None = None, reserved: bool = True) -> None:
        """Mark success (kept for provenance when ``jobs.keep_completed``), or remove the job.

        ``reserved=False`` (direct populate) writes the record whether or not a job row exists.
        """
        for sql, params in self.success_statements([(key, started, duration)], reserved=reserved, version=version):
            self.connection.query(sql, params)

    def success_statements(self, made: list[tuple[dict, datetime.datetime | None, float | None]], *,
                           reserved: bool, version: str | None = None) -> list[tuple[str, tuple]]:
        """The statements that record the keys ``made`` (key, start, duration), for the caller to run
        together with its COMMIT: one multi-row statement per shape, the values every key shares encoded once.

        ``reserved``: the keys' job rows exist (their priority is kept); otherwise rows are written
        whether or not they exist. Without ``jobs.keep_completed`` a reserved success removes its job.
        """
        if not made:
            return []
        if not self.connection.config["jobs.keep_completed"]:
            return self._delete_statements([key for key, _, _ in made]) if reserved else []
        shared = self._success_values(None, None, version)
        del shared["duration"], shared["completed_time"]
        shared["priority"] = self.connection.config["jobs.default_priority"]
        shared_names = tuple(shared)
        shared_encoded = tuple(self._encoder(name)(shared[name]) for name in shared_names)
        encode_time, encode_duration = self._encoder("completed_time"), self._encoder("duration")
        now = datetime.datetime.now()
        shapes: dict[bool, list[tuple]] = {}
        for key, started, duration in made:
            row = (*self._key_values(key), *shared_encoded, encode_time(now), encode_duration(duration))
            if started is not None:
                row += (encode_time(started),)
            shapes.setdefault(started is not None, []).append(row)
        kept = ("priority",) if reserved else ()
        statements = []
        for with_start, rows in shapes.items():
            names = shared_names + ("completed_time", "duration") + (("reserved_time",) if with_start else ())
            for first in range(0, len(rows), self._ROWS_PER_STATEMENT):
                chunk = rows[first:first + self._ROWS_PER_STATEMENT]
                statements.append((self._upsert_rows_sql(names, kept, len(chunk)),
                                   tuple(value for row in chunk for value in row)))
        return statements

    _ROWS_PER_STATEMENT = 500  # within every backend's limit on parameters per statement

    def _upsert_rows_sql(self, names: tuple, kept: tuple, rows: int) -> str:
        """INSERT of ``rows`` rows (key, then ``names``); on an existing key, every name but ``kept`` is updated."""
        cache = self.__dict__.setdefault("_statements", {})
        sql = cache.get(("upsert_rows", names, kept, rows))
        if sql is None:
            backend = self.connection.backend
            key = list(self.primary_key)
            columns = key + list(names)
            row = "(" + ", ".join(backend.placeholder for _ in columns) + ")"
            sql = cache[("upsert_rows", names, kept, rows)] = (
                f"INSERT INTO {self.full_table_name} ({', '.join(backend.quote(c) for c in columns)}) VALUES "
                + ", ".join(row for _ in range(rows))
                + backend.conflict_clause(key + [n for n in names if n not in kept], key, "replace"))
        return sql

    def _delete_statements(self, keys: list[dict]) -> list[tuple[str, tuple]]:
        backend = self.connection.backend
        one = "(" + " AND ".join(f"{backend.quote(k)} = {backend.placeholder}" for k in self.primary_key) + ")"
        return [(f"DELETE FROM {self.full_table_name} WHERE " + " OR ".join(one for _ in chunk),
                 tuple(value for key in chunk for value in self._key_values(key)))
                for chunk in (keys[first:first + self._ROWS_PER_STATEMENT]
                              for first in range(0, len(keys), self._ROWS_PER_STATEMENT))]

    def reserve_many(self, keys: list[dict]) -> list[bool]:
        """``reserve`` for several keys in one round trip where the backend can."""
        if len(keys) == 1:
            return [self.reserve(keys[0])]
        common = self._reserve_args()
        try:
            cursors = self.connection.batch([(self._reserve_sql(), (*common, *self._key_values(key), "pending"))
                                             for key in keys])
        except DataJointError:
            # a statement lost a lock conflict (or the connection): on MariaDB the ones before it reserved
            # their keys already, and nobody would make them. Hand every key of the batch back.
            self.release_all(keys)
            raise
        return [cursor.rowcount == 1 for cursor in cursors]

    def _success_values(self, duration, started, version) -> dict:
        values = dict(status="success", completed_time=datetime.datetime.now(), duration=duration,
                      error_message="", error_stack=None, host=platform.node(), pid=os.getpid(),
                      connection_id=self.connection.connection_id, user=_user(self.connection),
                      version=code_version(self._target) if version is None else version)
        if started is not None:
            values["reserved_time"] = started
        return values

    def error(self, key: dict, error_message: str, error_stack: str | None = None) -> None:
        if len(error_message) > ERROR_MESSAGE_LENGTH:
            error_message = error_message[:ERROR_MESSAGE_LENGTH - len(TRUNCATED)] + TRUNCATED
        values = dict(status="error", completed_time=datetime.datetime.now(), error_message=error_message,
                      error_stack=error_stack, host=platform.node(), pid=os.getpid(),
                      connection_id=self.connection.connection_id, user=_user(self.connection),
                      version=code_version(self._target))
        if not self._set(key, **values):
            try:
                self.insert1({**self._key(key), "priority": self.connection.config["jobs.default_priority"], **values})
            except DuplicateError:
                self._set(key, **values)

    def ignore(self, key: dict) -> None:
        """Skip this key in future populates."""
        if not self._set(key, status="ignore"):
            self.insert1({**self._key(key), "status": "ignore",
                          "priority": self.connection.config["jobs.default_priority"]})

    def progress(self) -> dict:
        counts = {status: 0 for status in STATUSES}
        backend = self.connection.backend
        rows = self.connection.query(f"SELECT {backend.quote('status')}, COUNT(*) FROM {self.full_table_name} "
                                     f"GROUP BY {backend.quote('status')}").fetchall()
        for status, count in rows:
            counts[status] = int(count)
        counts["total"] = sum(counts[s] for s in STATUSES)
        return counts

    def delete(self, *args, **kwargs):
        """Job rows have no dependents: delete without cascade or prompt."""
        return self.delete_quick(get_count=True)

    def drop(self, *args, **kwargs):
        self.drop_quick()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def format_error(error: BaseException) -> tuple[str, str]:
    message = error.__class__.__name__ + (f": {error}" if str(error) else "")
    return message, "".join(traceback.format_exception(type(error), error, error.__traceback__))


def schema_job_tables(schema) -> list[JobTable]:
    from ..table import tier_of

    tables = []
    for name in schema.list_tables():
        if tier_of(name) in ("imported", "computed"):
            target = FreeTable(schema.connection, schema.database, name)
            job_name = job_table_name(name)
            if job_name in schema.connection.backend.list_tables(schema.connection, schema.database):
                tables.append(_ExistingJobTable(target))
    return tables


class _ExistingJobTable(JobTable):
    def __init__(self, target):
        self._target = target
        FreeTable.__init__(self, target.connection, target.database, job_table_name(target.table_name))
