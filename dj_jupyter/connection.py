"""Connections: one backend per connection, transactions, reconnect.

``dj.conn()`` returns the process-wide connection built from ``dj.config``.
Passwords are kept in a private attribute and never appear in a repr, a log
line or an error message.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import result_cache
from .backends import get_backend
from .backends.base import FetchedResult
from .errors import DataJointError, LostConnectionError
from .settings import check_thread_safe, config as global_config

logger = logging.getLogger("dj_jupyter")


def _settings_from_config(config, host=None, user=None, password=None, backend=None, port=None, **extra) -> dict:
    backend = backend or config["database.backend"]
    settings = {
        "backend": backend,
        "host": host if host is not None else config["database.host"],
        "user": user if user is not None else config["database.user"],
        "password": password if password is not None else config["database.password"],
        "port": port,
        "name": config["database.name"],
        "path": config["database.path"],
        "use_tls": config["database.use_tls"],
        "charset": config["connection.charset"],
    }
    if settings["port"] is None:
        with config.override({"database.backend": backend}):
            settings["port"] = config["database.port"]
    if settings["host"] and ":" in str(settings["host"]) and backend != "sqlite":
        host_part, port_part = str(settings["host"]).rsplit(":", 1)
        if port_part.isdigit():
            settings["host"], settings["port"] = host_part, int(port_part)
    settings.update(extra)
    return settings


class Connection:
    """A database connection with DataJoint's transaction semantics."""

    def __init__(self, host=None, user=None, password=None, port=None, use_tls=None, *, backend=None,
                 config_override=None, **extra):
        #: the settings this connection and everything bound to it read: ``dj.config`` unless overridden
        self.config = config_override if config_override is not None else global_config
        if use_tls is not None:
            extra["use_tls"] = use_tls
        settings = _settings_from_config(self.config, host, user, password, backend, port, **extra)
        self.backend = get_backend(settings["backend"])
        self._password = settings.pop("password")
        self._settings = settings
        self._lock = threading.RLock()
        self._in_transaction = False
        self._savepoint_pending = False
        self._on_commit: list = []
        self._on_rollback: list = []
        self._raw = None
        self._query_cache: str | None = None
        self._connection_id = None
        self.schemas: dict[str, Any] = {}
        self._heading_cache: dict[tuple[str, str], Any] = {}
        self._insert_plans: dict[tuple[str, str], Any] = {}  # inserts.py: per-table derived statements
        self._dependencies = None
        self.connect()

    # ---- identity -------------------------------------------------------------------
    @property
    def adapter(self):
        """DataJoint 2.3 name for the backend object."""
        return self.backend

    @property
    def conn_info(self) -> dict:
        """Connection settings without the password."""
        return dict(self._settings)

    @property
    def target(self) -> str:
        return self.backend.describe_target(self._settings)

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "disconnected"
        return f"DataJoint connection ({state}) {self.target}"

    @property
    def connection_id(self) -> int:
        """The server's id of this session (cached until the next reconnect)."""
        if self._connection_id is None:
            self._connection_id = self.backend.connection_id(self)
        return self._connection_id

    @property
    def dependencies(self):
        if self._dependencies is None:
            from .dependencies import Dependencies

            self._dependencies = Dependencies(self)
        return self._dependencies

    # ---- life cycle -------------------------------------------------------------------
    def connect(self) -> None:
        try:
            self._raw = self.backend.connect({**self._settings, "password": self._password})
        except DataJointError:
            raise
        except Exception as error:
            message = str(error)
            if self._password:
                message = message.replace(str(self._password), "*****")
            raise LostConnectionError(f"Cannot connect to {self.target}: {message}",
                                      hint="Check host, port, user and password in dj.config or DJ_* variables.") from None
        self._in_transaction = False
        self._savepoint_pending = False
        self._connection_id = None

    def close(self) -> None:
        """Close the driver connection (waits for a query running in another thread to finish)."""
        with self._lock:
            if self._raw is not None:
                try:
                    self._raw.close()
                except Exception:
                    pass
            self._raw = None

    @property
    def is_connected(self) -> bool:
        return self._raw is not None and self.backend.ping(self._raw)

    def ping(self) -> bool:
        return self.is_connected

    def register(self, schema) -> None:
        """Make an activated schema's tables part of this connection's dependency graph."""
        self.schemas[schema.database] = schema
        self.dependencies.invalidate()

    def get_user(self) -> str:
        """The account this connection is logged in as (``user@host`` on MySQL)."""
        return self.backend.current_user(self)

    def set_query_cache(self, query_cache: str | None = None) -> None:
        """Answer SELECT queries from files in ``config['query_cache']`` (filled on first use), keyed by
        ``query_cache`` and the query: analyses re-run offline or against a frozen state. While it is on,
        nothing may write. ``None`` turns it off."""
        self._query_cache = query_cache

    def purge_query_cache(self) -> None:
        """Forget cached headings and delete the cached query results in ``config['query_cache']``."""
        self._heading_cache.clear()
        self._insert_plans.clear()
        folder = self.config.get("query_cache")
        if folder and Path(folder).is_dir():
            for path in Path(folder).iterdir():
                if path.is_file():
                    path.unlink()

    # ---- queries ------------------------------------------------------------------------
    def query(self, query: str, args: Any = (), *, as_dict: bool = False, suppress_warnings: bool = True,
              reconnect: bool | None = None):
        """Run SQL with parameters (``backend.placeholder`` markers) and return the cursor (rows as dicts
        with ``as_dict``)."""
        if self._query_cache is not None:
            return self._cached_query(query, args, as_dict)
        cursor = self._run_query(query, args, reconnect)
        return FetchedResult.of(cursor).with_dicts() if as_dict else cursor

    def _cached_query(self, sql: str, args: Any, as_dict: bool) -> FetchedResult:
        result_cache.check_reading(sql)
        path = result_cache.cache_file(self.config["query_cache"], self._query_cache, sql, args)
        result = result_cache.read(path)
        if result is None:
            result = FetchedResult.of(self._run_query(sql, args, None))
            result_cache.write(path, result)
        return result.with_dicts() if as_dict else result

    def _refuse_writes_while_caching(self) -> None:
        if self._query_cache is not None:
            raise DataJointError("Nothing can be written while query caching is on.",
                                 hint="Call connection.set_query_cache(None) first.")

    def _run_query(self, sql: str, args: Any, reconnect: bool | None):
        with self._lock:
            self._ensure_open()
            try:
                return self._execute(sql, args)
            except Exception as error:
                if reconnect is None:
                    reconnect = self.config["database.reconnect"]
                if self._in_transaction or not reconnect or not self.backend.is_connection_error(error):
                    self._raise_failure(error, sql)
                logger.warning("Lost the connection to %s; reconnecting.", self.target)
                self.close()
                self.connect()
                try:
                    return self._execute(sql, args)
                except Exception as retry_error:
                    raise self.backend.translate_error(retry_error) from None

    def batch(self, statements: list[tuple[str, Any]]) -> list:
        """Run several statements in one round trip where the backend can; returns their cursors."""
        self._refuse_writes_while_caching()
        with self._lock:
            self._ensure_open()
            savepoint = [(f"SAVEPOINT {self._SAVEPOINT}", None)] if self._savepoint_pending else []
            self._savepoint_pending = False
            try:
                return self.backend.run_batch(self._raw, savepoint + list(statements))[len(savepoint):]
            except Exception as error:
                self._raise_failure(error, statements[-1][0] if statements else "")

    def _ensure_open(self) -> None:
        if self._raw is None:
            if self._in_transaction:
                raise LostConnectionError("The connection was closed inside a transaction.")
            self.connect()

    def _raise_failure(self, error: Exception, sql: str):
        """Raise the library's error for a failed statement; a lost connection ends an open transaction."""
        if not self.backend.is_connection_error(error):
            raise self.backend.translate_error(error) from None
        if self._in_transaction:
            self._in_transaction = False
            self._lock.release()  # the hold start_transaction took; cancel_transaction no longer sees it
            self.close()
            if sql == "COMMIT":
                # In doubt: the server may have committed. Drop the transaction's callbacks: its rollback
                # hooks would remove objects that committed rows may reference, and its commit hooks must
                # not fire at the next commit of this connection. dj.gc removes what no row references.
                self._on_commit, self._on_rollback = [], []
                logger.warning("The connection broke during COMMIT; the transaction may or may not have been "
                               "committed. Its stored objects are kept (dj.gc removes them if unreferenced).")
                raise LostConnectionError(
                    "The database connection was lost during COMMIT; the transaction may or may not "
                    "have been committed.", hint="Check whether its rows exist before running it again.") from None
            self._finish(committed=False)  # the server rolled it back: undo its stored objects too
            raise LostConnectionError(
                "The database connection was lost inside a transaction; the transaction was rolled back.",
                hint="Nothing of the transaction was committed. Run the operation again.") from None
        raise LostConnectionError(f"The database connection to {self.target} was lost.") from None

    def _execute(self, sql: str, args: Any):
        if self._savepoint_pending:
            self._savepoint_pending = False
            if not isinstance(args, dict):
                return self.backend.run_batch(self._raw, [(f"SAVEPOINT {self._SAVEPOINT}", None), (sql, args)])[-1]
            self._raw.cursor().execute(f"SAVEPOINT {self._SAVEPOINT}")
        return self.backend.execute(self._raw, sql, args)

    def bulk_insert(self, table_ref: str, columns, rows: list) -> bool:
        """Insert many rows through the backend's bulk path (e.g. COPY); False when it has none for them."""
        if not self.backend.bulk_insert_worthwhile(len(rows)):
            return False
        return self._run_many(lambda cursor: self.backend.bulk_insert(cursor, table_ref, columns, rows)) is not None

    def executemany(self, sql: str, rows: list) -> int:
        return self._run_many(lambda cursor: (cursor.executemany(sql, rows), cursor.rowcount)[1])

    def _run_many(self, action):
        self._refuse_writes_while_caching()
        with self._lock:
            if self._raw is None:
                self.connect()
            try:
                if self._savepoint_pending:
                    self._savepoint_pending = False
                    self._raw.cursor().execute(f"SAVEPOINT {self._SAVEPOINT}")
                return action(self._raw.cursor())
            except Exception as error:
                if self.backend.is_connection_error(error):
                    in_transaction = self._in_transaction
                    self._in_transaction = False
                    if in_transaction:
                        self._lock.release()  # the hold start_transaction took
                    self.close()
                    if in_transaction:
                        self._finish(committed=False)  # the server rolled it back: undo its stored objects too
                    raise LostConnectionError(
                        "The database connection was lost during an insert"
                        + ("; the transaction was rolled back." if in_transaction else "."),
                        hint="Nothing of the failed statement was committed. Run the operation again.") from None
                raise self.backend.translate_error(error) from None

    def execute_ddl(self, statements: list[str] | str) -> None:
        """Run DDL (no parameters: text is passed to the server as is)."""
        if isinstance(statements, str):
            statements = [statements]
        for statement in statements:
            self.query(statement, None)

    # ---- transactions ----------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def start_transaction(self, statements: list[tuple[str, Any]] = ()) -> list:
        """BEGIN, followed by ``statements`` in the same round trip; returns their cursors."""
        self._refuse_writes_while_caching()
        if self._in_transaction:
            raise DataJointError("Nested transactions are not supported.",
                                 hint="Finish the open transaction before starting another.")
        self._lock.acquire()
        try:
            if statements:
                with self._lock:
                    self._ensure_open()
                    try:
                        cursors = self.backend.run_batch(self._raw, [(self.backend.begin_sql(), None), *statements])
                    except Exception as error:
                        self._rollback_quietly()
                        self._raise_failure(error, "")
                self._in_transaction = True
                return cursors[1:]
            self.query(self.backend.begin_sql(), None)
        except Exception:
            self._lock.release()
            raise
        self._in_transaction = True
        return []

    _SAVEPOINT = "dj_savepoint"

    def savepoint(self) -> tuple[int, int]:
        """Mark a point inside the open transaction that ``rollback_to_savepoint`` returns to.

        Populate gives each key of a shared transaction its own savepoint, so a failing make()
        undoes only its own rows and stored objects.
        """
        if not self._in_transaction:
            raise DataJointError("A savepoint needs an open transaction.", hint="Start a transaction first.")
        self._savepoint_pending = True  # sent together with the next statement, saving a round trip
        return len(self._on_commit), len(self._on_rollback)

    def rollback_to_savepoint(self, mark: tuple[int, int]) -> None:
        """Undo everything since ``savepoint()``: its statements, and (by their rollback hooks) its objects."""
        if self._savepoint_pending:  # nothing reached the server since the mark
            self._savepoint_pending = False
        else:
            self.query(f"ROLLBACK TO SAVEPOINT {self._SAVEPOINT}", None)
        commits, rollbacks = mark
        undo = self._on_rollback[rollbacks:]
        del self._on_commit[commits:], self._on_rollback[rollbacks:]
        for callback in reversed(undo):
            try:
                callback()
            except Exception as error:
                logger.warning("A post-rollback action failed: %s", error)

    def _rollback_quietly(self) -> None:
        try:
            if self._raw is not None:
                self._raw.cursor().execute("ROLLBACK")
        except Exception:
            pass

    def on_commit(self, callback) -> None:
        """Run ``callback`` after the open transaction commits (now, if none is open)."""
        if self._in_transaction:
            self._on_commit.append(callback)
        else:
            callback()

    def on_rollback(self, callback) -> None:
        """Run ``callback`` if the open transaction rolls back."""
        if self._in_transaction:
            self._on_rollback.append(callback)

    def _finish(self, committed: bool) -> None:
        callbacks = self._on_commit if committed else list(reversed(self._on_rollback))
        self._on_commit, self._on_rollback = [], []
        for callback in callbacks:
            try:
                callback()
            except Exception as error:
                logger.warning("A post-transaction action failed: %s", error)

    def cancel_transaction(self) -> None:
        self._savepoint_pending = False
        try:
            if self._raw is not None:
                try:
                    self._raw.cursor().execute("ROLLBACK")
                except Exception as error:
                    if not self.backend.is_connection_error(error):
                        raise self.backend.translate_error(error) from None
                    self.close()
        finally:
            if self._in_transaction:
                self._in_transaction = False
                self._lock.release()
            self._finish(committed=False)

    def commit_transaction(self, statements: list[tuple[str, Any]] = ()) -> None:
        """Run ``statements`` (if any) and COMMIT, in one round trip where the backend can."""
        self._savepoint_pending = False
        if statements:
            try:
                self.batch([*statements, ("COMMIT", None)])
            except LostConnectionError:
                raise
            except Exception:
                if self._in_transaction:
                    self.cancel_transaction()
                raise
            self._in_transaction = False
            self._lock.release()
            self._finish(committed=True)
            return
        try:
            self.query("COMMIT", None)
        except LostConnectionError:  # in doubt (see _raise_failure): its callbacks were dropped
            if self._in_transaction:
                self._in_transaction = False
                self._lock.release()
            raise
        except Exception:
            if self._in_transaction:
                self._in_transaction = False
                self._lock.release()
            self._finish(committed=False)
            raise
        self._in_transaction = False
        self._lock.release()
        self._finish(committed=True)

    @property
    @contextmanager
    def transaction(self) -> Iterator["Connection"]:
        """``with conn.transaction:`` commits on success and rolls back on an exception."""
        self.start_transaction()
        try:
            yield self
        except BaseException:
            self.cancel_transaction()
            raise
        else:
            self.commit_transaction()

    @contextmanager
    def atomic(self) -> Iterator["Connection"]:
        """A transaction if none is open, otherwise part of the open one."""
        if self._in_transaction:
            yield self
        else:
            with self.transaction:
                yield self


_global: dict[str, Connection] = {}


def conn(host=None, user=None, password=None, *, reset: bool = False, backend=None, port=None, **extra) -> Connection:
    """The process-wide connection built from ``dj.config`` (created on first use)."""
    check_thread_safe()
    existing = _global.get("connection")
    if existing is not None and not reset and host is None and user is None and password is None \
            and backend is None and port is None and not extra:
        return existing
    if existing is not None:
        existing.close()
    connection = Connection(host, user, password, port, backend=backend, **extra)
    _global["connection"] = connection
    return connection


def current() -> Connection | None:
    """The process-wide connection if one was made, without creating it."""
    return _global.get("connection")


def list_schemas(connection: Connection | None = None) -> list[str]:
    """Names of the schemas in the database, without the system ones."""
    connection = connection or conn()
    return connection.backend.list_schemas(connection)
