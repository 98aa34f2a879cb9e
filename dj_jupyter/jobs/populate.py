"""populate(): compute exactly what is missing, once, with every failure recorded.

Each key commits whole or not at all: its master row, its part rows, its objects
and its job record. A plain make() lets a run of keys share one transaction, with
a savepoint per key (direct and with reserved jobs); the three-part make and
worker processes give each key a transaction of its own. The three-part form
fetches and computes outside any transaction, then re-fetches inside one and
refuses to commit if the upstream data changed in between.
"""

from __future__ import annotations

import datetime
import hashlib
import inspect
import logging
import multiprocessing
import os
import platform
import random
import threading
import time
from typing import Any

import numpy as np

from ..errors import DataJointError, LostConnectionError, StaleDataError, TransactionConflictError
from . import events
from .autopopulate import AutoPopulate, allow_inserts
from .jobtable import format_error
from .version import code_version

logger = logging.getLogger("dj_jupyter")

_stop_requests: set[str] = set()
_stop_lock = threading.Lock()


def request_stop(table) -> None:
    """Ask running populates of ``table`` in this process to stop after the current key."""
    with _stop_lock:
        _stop_requests.add(table.full_table_name)


def _should_stop(table) -> bool:
    with _stop_lock:
        return table.full_table_name in _stop_requests


def _clear_stop(table) -> None:
    with _stop_lock:
        _stop_requests.discard(table.full_table_name)


# ------------------------------------------------------------------------------------------
# fingerprints of fetched data (three-part make)
# ------------------------------------------------------------------------------------------
def fingerprint(value: Any) -> str:
    """A stable hash of nested Python/numpy data, used to detect changed upstream data."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest, value) -> None:
    if isinstance(value, np.ndarray):
        digest.update(b"nd" + str(value.dtype).encode() + str(value.shape).encode())
        if value.dtype.hasobject:
            for item in value.ravel(order="C"):
                _feed(digest, item)
        else:
            digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        digest.update(b"d%d" % len(value))
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(b"l%d" % len(value))
        for item in value:
            _feed(digest, item)
    elif hasattr(value, "to_dict") and hasattr(value, "columns"):
        _feed(digest, value.to_dict("list"))
    else:
        digest.update(type(value).__name__.encode() + b":" + repr(value).encode())


# ------------------------------------------------------------------------------------------
# one key
# ------------------------------------------------------------------------------------------
def _is_tripartite(table) -> bool:
    make = type(table).make
    return make is AutoPopulate.make and all(hasattr(table, name) for name in ("make_fetch", "make_compute",
                                                                              "make_insert"))


def run_tripartite(table, key: dict, make_kwargs: dict | None = None) -> None:
    """The three-part make outside populate (e.g. a user calling ``make`` directly)."""
    fetched = table.make_fetch(dict(key), **(make_kwargs or {}))
    computed = table.make_compute(dict(key), *_as_tuple(fetched))
    table.make_insert(dict(key), *_as_tuple(computed))


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def _make_one(table, key: dict, jobs, suppress_errors: bool, return_exception_objects: bool,
              make_kwargs: dict | None, recorder=None):
    """Make one key. Returns True (made), False (skipped) or (key, error) when errors are suppressed.

    ``jobs`` is the job table when reserving; ``recorder`` is the job table that keeps
    provenance of successes (the same table, or one used only for records in direct mode).
    """
    recorder = jobs if jobs is not None else recorder
    connection = table.connection
    name = table.full_table_name
    if jobs is not None:
        if not jobs.reserve(key):
            return False
        events.emit(events.JobEvent("reserve", name, dict(key), host=platform.node(), pid=os.getpid()))
    started = datetime.datetime.now()
    clock = time.perf_counter()
    tripartite = _is_tripartite(table)
    table._upstream_key = dict(key)
    try:
        with allow_inserts(table):
            if tripartite:
                fetched = _as_tuple(table.make_fetch(dict(key), **(make_kwargs or {})))
                before = fingerprint(fetched)
                computed = _as_tuple(table.make_compute(dict(key), *fetched))

                def insert_block():
                    _begin_unless_done(table, key)
                    try:
                        again = _as_tuple(table.make_fetch(dict(key), **(make_kwargs or {})))
                        if fingerprint(again) != before:
                            raise StaleDataError(
                                f"The upstream data of {dict(key)} changed while {type(table).__name__} was "
                                "computing; nothing was inserted.",
                                hint="Populate again to compute from the current data.")
                        table.make_insert(dict(key), *computed)
                        connection.commit_transaction(_success_statements(
                            table, recorder, jobs is not None, key, started, time.perf_counter() - clock))
                    except BaseException:
                        if connection.in_transaction:
                            connection.cancel_transaction()
                        raise

                _retry_conflicts(insert_block, key)
            else:
                def make_block():
                    _begin_unless_done(table, key)
                    try:
                        table.make(dict(key), **(make_kwargs or {}))
                        connection.commit_transaction(_success_statements(
                            table, recorder, jobs is not None, key, started, time.perf_counter() - clock))
                    except BaseException:
                        if connection.in_transaction:
                            connection.cancel_transaction()
                        raise

                _retry_conflicts(make_block, key)
    except _AlreadyDone:
        if jobs is not None:
            jobs.complete(key, reserved=True, started=started)
        events.emit(events.JobEvent("skip", name, dict(key)))
        return False
    except (KeyboardInterrupt, SystemExit, Exception) as error:
        message, stack = format_error(error)
        if jobs is not None and isinstance(error, LostConnectionError):
            _release_after_lost_connection(jobs, key)
        elif jobs is not None:
            try:
                _retry_conflicts(lambda: jobs.error(key, message, stack), key)
            except LostConnectionError:
                logger.warning("Could not record the error of %s: the connection is lost.", key)
        events.emit(events.JobEvent("error", name, dict(key), time.perf_counter() - clock, message,
                                    host=platform.node(), pid=os.getpid()))
        if not suppress_errors or isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        logger.error("Error making %s -> %s: %s", dict(key), type(table).__name__, message)
        return dict(key), (error if return_exception_objects else message)
    finally:
        table._upstream_key = None
        table._upstream = None
    events.emit(events.JobEvent("success", name, dict(key), time.perf_counter() - clock, host=platform.node(),
                                pid=os.getpid()))
    return True


def _release_after_lost_connection(jobs, key, attempts: int = 8) -> None:
    """A lost connection is no fault of make(): hand the key back to the queue instead of recording an error,
    waiting a little for a restarting server. If its COMMIT went through after all, the next attempt finds the
    row and marks the job done; if the server stays away, ``release_orphans`` frees the reservation later."""
    for attempt in range(attempts):
        try:
            jobs.release(key)
            return
        except LostConnectionError:
            time.sleep(min(0.25 * 2 ** attempt, 4.0))
        except DataJointError as error:
            logger.warning("Could not release the job of %s after a lost connection: %s", key, error)
            return
    logger.warning("Could not release the job of %s: the database is unreachable; release_orphans will.", key)


class _AlreadyDone(Exception):
    """The key was made by someone else before this transaction started."""


TRANSACTION_ATTEMPTS = 5


def _retry_conflicts(block, key) -> None:
    """Run a make's transaction again when the database rolled it back for a deadlock or a serialization
    failure (concurrent workers, inserts and deletes): such a failure says nothing about the computation."""
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            return block()
        except TransactionConflictError as error:
            if attempt == TRANSACTION_ATTEMPTS:
                raise
            logger.info("Transaction of %s rolled back by the database (%s); attempt %d of %d.", dict(key),
                        str(error).splitlines()[0], attempt + 1, TRANSACTION_ATTEMPTS)
            time.sleep(random.uniform(0.02, 0.1) * 2 ** attempt)


def _key_condition(table, key: dict) -> tuple[str, tuple]:
    """``a = %s AND b = %s`` for the key's rows and its encoded values, built once per table and key shape.

    The key may cover only part of the primary key (a table that adds dimensions of its own).
    """
    names = tuple(name for name in table.primary_key if name in key)
    cache = table.__dict__.setdefault("_key_conditions", {})
    condition = cache.get(names)
    if condition is None:
        backend = table.connection.backend
        encoders = [backend.encoder(table.heading[name].type) for name in names]
        where = " AND ".join(f"{backend.quote(n)} = {backend.placeholder}" for n in names) or "1 = 1"
        condition = cache[names] = (where, encoders)
    where, encoders = condition
    return where, tuple(encoder(key[name]) for name, encoder in zip(names, encoders))


def _exists_statement(table, key: dict) -> tuple[str, tuple]:
    where, values = _key_condition(table, key)
    return f"SELECT 1 FROM {table.full_table_name} WHERE {where} LIMIT 1", values


def _done_in_batch_statement(table, keys: list[dict]) -> tuple[str, tuple]:
    """One query that returns the positions in ``keys`` of the keys whose rows exist."""
    position_name = table.connection.backend.quote("dj_position")
    branches, args = [], []
    for position, key in enumerate(keys):
        where, values = _key_condition(table, key)
        branches.append(f"SELECT {position} AS {position_name} FROM {table.full_table_name} WHERE {where}")
        args.extend(values)
    return " UNION ALL ".join(branches), tuple(args)


def _begin_unless_done(table, key: dict) -> None:
    """BEGIN and check the key in one round trip; raise _AlreadyDone (after rolling back) if its row exists."""
    connection = table.connection
    cursor, = connection.start_transaction([_exists_statement(table, key)])
    if cursor.fetchone() is not None:
        connection.cancel_transaction()
        raise _AlreadyDone()


def _success_statements(table, recorder, reserved: bool, key, started, duration) -> list:
    """Provenance of the row, committed in the same transaction (and round trip) as the COMMIT."""
    statements = []
    if recorder is not None:
        statements += recorder.success_statements([(key, started, duration)], reserved=reserved)
    if _has_job_metadata(table):
        backend = table.connection.backend
        p = backend.placeholder
        heading = table.heading
        restriction = {k: key[k] for k in table.primary_key if k in key}
        conditions = " AND ".join(f"{backend.quote(k)} = {p}" for k in restriction)
        key_values = [backend.encoder(heading[k].type)(v) for k, v in restriction.items()]
        encode_time = backend.encoder(_datetime_type())
        statements.append((
            f"UPDATE {table.full_table_name} SET {backend.quote('_job_start_time')} = {p}, "
            f"{backend.quote('_job_duration')} = {p}, {backend.quote('_job_version')} = {p} WHERE {conditions}",
            (encode_time(started), float(duration), code_version(table)[:64], *key_values)))
    return statements


def _datetime_type():
    from ..declare.types import classify

    return classify("datetime(3)")


def _has_job_metadata(table) -> bool:
    from ..table import load_heading

    return "_job_start_time" in load_heading(table.connection, table.database, table.table_name, include_hidden=True)


# ------------------------------------------------------------------------------------------
# batches: runs of keys share a transaction, one savepoint per key
# ------------------------------------------------------------------------------------------
BATCH_KEYS = 50  # savepoints per transaction stay within PostgreSQL's cache of 64 subtransactions
BATCH_SECONDS = 0.2  # a batch commits at least this often, so its locks (and reservations) are held briefly


class _BatchAborted(Exception):
    """The shared transaction failed as a whole (lost connection, deadlock, failed COMMIT): nothing committed."""


def _batchable(table) -> bool:
    """A plain make() can share a transaction; the three-part make keeps its computation outside any."""
    return not _is_tripartite(table)


def _make_batch(table, keys: list[dict], jobs, suppress_errors: bool, return_exception_objects: bool,
                make_kwargs: dict | None, recorder) -> list:
    """Make a prefix of ``keys`` in one transaction and return their statuses (as ``_make_one`` does).

    Each key gets a savepoint, so a failing make() undoes only its own rows and objects; the rows of the
    others, their job records and the COMMIT go together. The savepoint travels with make()'s first
    statement, so a key costs the round trips of its make() alone, while every key still commits whole
    or not at all. With ``jobs``, the keys are reserved by this worker already and their errors are
    recorded in the same transaction. Raises ``_BatchAborted`` when the transaction itself failed; the
    caller then makes the keys one transaction each.
    """
    connection = table.connection
    name = table.full_table_name
    try:
        cursor, = connection.start_transaction([_done_in_batch_statement(table, keys)])
        done = {row[0] for row in cursor.fetchall()}
    except (LostConnectionError, TransactionConflictError) as error:
        raise _BatchAborted() from error
    statuses, made, emitted = [], [], []
    opened = time.perf_counter()
    try:
        for position, key in enumerate(keys):
            if position and (time.perf_counter() - opened > BATCH_SECONDS or _should_stop(table)):
                break
            if position in done:  # made by another worker meanwhile
                statuses.append(False)
                if jobs is not None:
                    made.append((key, None, None))
                emitted.append(events.JobEvent("skip", name, dict(key)))
                continue
            mark = connection.savepoint()
            started = datetime.datetime.now()
            clock = time.perf_counter()
            table._upstream_key = dict(key)
            try:
                with allow_inserts(table):
                    table.make(dict(key), **(make_kwargs or {}))
            except (LostConnectionError, TransactionConflictError):
                raise
            except (KeyboardInterrupt, SystemExit, Exception) as error:
                connection.rollback_to_savepoint(mark)
                message, stack = format_error(error)
                if jobs is not None:
                    jobs.error(key, message, stack)
                emitted.append(events.JobEvent("error", name, dict(key), time.perf_counter() - clock, message,
                                               host=platform.node(), pid=os.getpid()))
                if not suppress_errors or isinstance(error, (KeyboardInterrupt, SystemExit)):
                    connection.commit_transaction(_batch_records(table, jobs, recorder, made))  # earlier keys stay
                    _emit_all(emitted)
                    raise
                logger.error("Error making %s -> %s: %s", dict(key), type(table).__name__, message)
                statuses.append((dict(key), error if return_exception_objects else message))
                continue
            finally:
                table._upstream_key = None
                table._upstream = None
            duration = time.perf_counter() - clock
            made.append((key, started, duration))
            statuses.append(True)
            emitted.append(events.JobEvent("success", name, dict(key), duration, host=platform.node(),
                                           pid=os.getpid()))
        connection.commit_transaction(_batch_records(table, jobs, recorder, made))
    except (LostConnectionError, TransactionConflictError) as error:
        if connection.in_transaction:
            connection.cancel_transaction()
        raise _BatchAborted() from error
    except BaseException:
        if connection.in_transaction:
            connection.cancel_transaction()
        raise
    _emit_all(emitted)
    return statuses


def _batch_records(table, jobs, recorder, made: list) -> list:
    """The job records and row metadata of the keys a batch made, to be sent with its COMMIT."""
    statements = []
    if jobs is not None:
        statements += jobs.success_statements(made, reserved=True)
    elif recorder is not None:
        statements += recorder.success_statements(made, reserved=False)
    if _has_job_metadata(table):
        for key, started, duration in made:
            if started is not None:
                statements += _success_statements(table, None, False, key, started, duration)
    return statements


def _emit_all(emitted: list) -> None:
    for event in emitted:
        events.emit(event)


def _populate_in_batches(table, keys: list, jobs, suppress_errors: bool, return_exception_objects: bool,
                         make_kwargs: dict | None, recorder, progress_bar) -> tuple[int, list]:
    """Make ``keys`` in shared transactions. With ``jobs``, reserve ahead only as many keys as one
    transaction is expected to make (one at first; more when makes turn out quick), so other
    workers still find work and a crash leaves few reservations for ``refresh`` to release."""
    successes, errors = 0, []
    pending = list(keys)
    queue: list[dict] = []  # keys this worker may make now (reserved by it, with jobs)
    size = 1 if jobs is not None else BATCH_KEYS
    try:
        while (queue or pending) and not _should_stop(table):
            if jobs is None:
                taken = size - len(queue)
                queue, pending = queue + pending[:taken], pending[taken:]
            else:
                _reserve_ahead(table, jobs, queue, pending, size)
                if not queue:
                    break
            clock = time.perf_counter()
            try:
                statuses = _make_batch(table, queue, jobs, suppress_errors, return_exception_objects, make_kwargs,
                                       recorder)
            except _BatchAborted as aborted:
                logger.info("A shared populate transaction failed (%s); making its keys one at a time.",
                            aborted.__cause__)
                if jobs is not None:
                    # after a lost connection the reservations may have been released as orphans and taken by
                    # another worker: hand them back and claim each key anew before making it
                    for key in queue:
                        _release_after_lost_connection(jobs, key)
                statuses = []
                for key in queue:
                    if _should_stop(table):
                        break
                    statuses.append(_make_one(table, key, jobs, suppress_errors, return_exception_objects,
                                              make_kwargs, recorder))
            if statuses and jobs is not None:
                per_key = (time.perf_counter() - clock) / len(statuses)
                size = max(1, min(BATCH_KEYS, int(BATCH_SECONDS / 2 / max(per_key, 1e-4))))
            for status in statuses:
                successes, errors = _tally(status, successes, errors)
            progress_bar(len(statuses))
            queue = queue[len(statuses):]
    finally:
        if jobs is not None:
            jobs.release_all(queue)
    return successes, errors


def _reserve_ahead(table, jobs, queue: list, pending: list, size: int) -> None:
    """Reserve keys from ``pending`` (in order) until ``queue`` holds ``size`` of them or none are left."""
    name = table.full_table_name
    while len(queue) < size and pending:
        wanted = pending[:size - len(queue)]
        del pending[:len(wanted)]
        try:
            outcomes = jobs.reserve_many(wanted)
        except TransactionConflictError:  # another worker's transaction held a lock; claim them one by one
            outcomes = [jobs.reserve(key) for key in wanted]
        for key, reserved in zip(wanted, outcomes):
            if reserved:
                queue.append(key)
                events.emit(events.JobEvent("reserve", name, dict(key), host=platform.node(), pid=os.getpid()))


# ------------------------------------------------------------------------------------------
# populate
# ------------------------------------------------------------------------------------------
def keys_to_do(table, restrictions: tuple):
    if table._where:
        raise DataJointError("populate() cannot be called on a restricted table.",
                             hint="Pass the restrictions to populate() instead: T.populate(restriction).")
    todo = table.key_source
    if inspect.isclass(todo):
        todo = todo()
    missing = [name for name in todo.primary_key if name not in table.heading]
    if missing:
        raise DataJointError(f"key_source has {', '.join(missing)} in its primary key, which "
                             f"{type(table).__name__} lacks.", hint="key_source must be keyed like the table.")
    for restriction in restrictions:
        todo = todo & restriction
    return todo.proj()


def populate(table, *restrictions, suppress_errors: bool = False, return_exception_objects: bool = False,
             reserve_jobs: bool = False, max_calls: int | None = None, display_progress: bool = False,
             processes: int = 1, make_kwargs: dict | None = None, priority: int | None = None,
             refresh: bool | None = None) -> dict:
    connection = table.connection
    if connection.in_transaction:
        raise DataJointError("populate() cannot run inside a transaction.", hint="Commit or roll back first.")
    _clear_stop(table)
    jobs = table.jobs if reserve_jobs else None
    recorder = _recorder(table, jobs)
    if reserve_jobs:
        if refresh is None:
            refresh = connection.config["jobs.auto_refresh"]
        if refresh:
            jobs.refresh(*restrictions, priority=priority, delay=-1)
        else:
            jobs.release_orphans()
        pending = jobs.pending
        if restrictions:
            pending = pending.restrict(keys_to_do(table, restrictions), semantic_check=False)
        if priority is not None:
            pending = pending & f"priority <= {int(priority)}"
        keys = [{k: row[k] for k in jobs.primary_key} for row in
                pending.proj("priority", "scheduled_time").to_dicts(order_by=["priority", "scheduled_time"],
                                                                    limit=max_calls)]
    else:
        keys = (keys_to_do(table, restrictions) - table.proj()).keys(limit=max_calls)
    name = table.full_table_name
    events.emit(events.JobEvent("start", name, total=len(keys), host=platform.node(), pid=os.getpid()))
    successes = 0
    errors: list = []
    processes = max(1, min(processes or 1, len(keys)))
    progress_bar = _progress_bar(display_progress, len(keys), type(table).__name__)
    try:
        if processes == 1 and _batchable(table):
            successes, errors = _populate_in_batches(table, keys, jobs, suppress_errors, return_exception_objects,
                                                     make_kwargs, recorder, progress_bar)
        elif processes == 1:
            for key in keys:
                if _should_stop(table):
                    break
                status = _make_one(table, key, jobs, suppress_errors, return_exception_objects, make_kwargs,
                                   recorder)
                successes, errors = _tally(status, successes, errors)
                progress_bar(1)
        else:
            successes, errors = _populate_parallel(table, keys, reserve_jobs, processes, suppress_errors,
                                                   return_exception_objects, make_kwargs, progress_bar)
    finally:
        events.emit(events.JobEvent("finish", name, host=platform.node(), pid=os.getpid()))
        progress_bar(0, close=True)
        _clear_stop(table)
    return {"success_count": successes, "error_list": errors}


def _tally(status, successes, errors):
    if status is True:
        successes += 1
    elif isinstance(status, tuple):
        errors.append(status)
    return successes, errors


def _progress_bar(enabled: bool, total: int, label: str):
    if not enabled:
        return lambda step, close=False: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        done = {"n": 0}

        def text(step, close=False):
            done["n"] += step
            if step or close:
                print(f"\r{label}: {done['n']}/{total}", end="\n" if close else "", flush=True)

        return text
    bar = tqdm(total=total, desc=label)

    def update(step, close=False):
        if step:
            bar.update(step)
        if close:
            bar.close()

    return update


# ---- several processes on one machine ------------------------------------------------------
_worker_state: dict = {}


def _worker_init(table, reserve_jobs, suppress_errors, return_exception_objects, make_kwargs):
    events.forget_observers()  # observers belong to the parent (e.g. a notebook widget)
    table.connection.connect()
    _worker_state.update(table=table, reserve_jobs=reserve_jobs, suppress_errors=suppress_errors,
                         return_exception_objects=return_exception_objects, make_kwargs=make_kwargs)


def _recorder(table, jobs):
    """The job table that records successes: the reserving one, else the table's own when
    ``jobs.keep_completed`` asks for records of direct populates too."""
    if jobs is not None:
        return jobs
    return table.jobs if table.connection.config["jobs.keep_completed"] else None


def _worker_make(key):
    state = _worker_state
    table = state["table"]
    jobs = table.jobs if state["reserve_jobs"] else None
    recorder = _recorder(table, jobs)
    try:
        return _make_one(table, key, jobs, state["suppress_errors"], state["return_exception_objects"],
                         state["make_kwargs"], recorder)
    except Exception as error:
        message, _ = format_error(error)
        return ("raise", dict(key), message)


def _populate_parallel(table, keys, reserve_jobs, processes, suppress_errors, return_exception_objects, make_kwargs,
                       progress_bar):
    connection = table.connection
    connection.close()
    context = multiprocessing.get_context("fork")
    successes, errors = 0, []
    first_error = None
    try:
        with context.Pool(processes, _worker_init,
                          (table, reserve_jobs, suppress_errors, return_exception_objects, make_kwargs)) as pool:
            for status in pool.imap_unordered(_worker_make, keys, chunksize=1):
                if isinstance(status, tuple) and len(status) == 3 and status[0] == "raise":
                    first_error = first_error or status
                    continue
                successes, errors = _tally(status, successes, errors)
                if status is True:
                    events.emit(events.JobEvent("success", table.full_table_name, None))
                elif isinstance(status, tuple):
                    events.emit(events.JobEvent("error", table.full_table_name, status[0], message=str(status[1])))
                progress_bar(1)
                if _should_stop(table):
                    pool.terminate()
                    break
    finally:
        connection.connect()
    if first_error is not None:
        raise DataJointError(f"make() failed for {first_error[1]} in a worker process: {first_error[2]}",
                             hint="Pass suppress_errors=True to collect errors and continue.")
    return successes, errors


# ------------------------------------------------------------------------------------------
# progress
# ------------------------------------------------------------------------------------------
def progress(table, *restrictions, display: bool = False) -> tuple[int, int]:
    """(remaining, total) keys of key_source, in one query."""
    todo = keys_to_do(table, restrictions)
    remaining, total = _progress_counts(table, todo)
    if display:
        done = total - remaining
        logger.info("%-20s Completed %d of %d (%2.1f%%)", type(table).__name__, done, total,
                    100.0 * done / total if total else 100.0)
        print(f"{type(table).__name__:<20} Completed {done} of {total} ({100.0 * done / total if total else 100.0:.1f}%)")
    return remaining, total


def _progress_counts(table, todo) -> tuple[int, int]:
    backend = table.connection.backend
    key = [name for name in todo.primary_key if name in table.heading]
    todo_sql, todo_params = todo.make_sql()
    target_sql, target_params = table.proj().make_sql(key)
    q = backend.quote
    join = " AND ".join(f"{q('_k')}.{q(n)} = {q('_t')}.{q(n)}" for n in key)
    sql = (f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN {q('_t')}.{q(key[0])} IS NULL THEN 1 ELSE 0 END), 0) "
           f"FROM ({todo_sql}) AS {q('_k')} LEFT JOIN (SELECT DISTINCT * FROM ({target_sql}) AS {q('_d')}) AS {q('_t')} "
           f"ON {join}")
    total, remaining = table.connection.query(sql, todo_params + target_params).fetchone()
    return int(remaining), int(total)


def schema_progress(schema, *restrictions, display: bool = False) -> dict:
    """Progress of every auto-populated table of a schema: {class name: counts}."""
    from ..schema import classes_from_database
    from ..table import tier_of, to_camel_case

    result = {}
    classes = {}
    for name, cls in classes_from_database(schema).items():
        classes[cls.table_name] = cls
    for table_name in schema.list_tables():
        if tier_of(table_name) not in ("imported", "computed"):
            continue
        table = classes[table_name]()
        remaining, total = progress(table, *restrictions)
        jobs = table.jobs.progress()
        result[to_camel_case(table_name.lstrip("_"))] = {"total": total, "done": total - remaining,
                                                         "remaining": remaining, **{k: v for k, v in jobs.items()
                                                                                    if k != "total"}}
    if display:
        for name, counts in result.items():
            print(f"{name:<24} {counts['done']:>8}/{counts['total']:<8} pending {counts['pending']:<6} "
                  f"reserved {counts['reserved']:<6} error {counts['error']}")
    return result
