"""The populate progress panel: rows follow the job tables, populate runs in the background.

Each row is one auto-populated table: done/total of its key_source, the counts of
its job table by status, a rate and an ETA (from the history of ``done``), and the
errors with their messages (a click fetches the stack). The rows are re-read from
the database on a timer, so work done by other processes and other machines shows
too; this kernel's populate events (``dj_jupyter.jobs.events``) only make the update
immediate. ``populate()`` runs in a thread (or a forked process) so the notebook
stays usable; ``stop()`` lets the running make() finish, then releases reservations.
"""

from __future__ import annotations

import collections
import inspect
import logging
import multiprocessing
import os
import platform
import threading
import time

import traitlets

from ..errors import DataJointError
from ..jobs import events
from ..jobs import populate as populate_module
from ._widget import STATIC, DJWidget, Poller, connection_open

logger = logging.getLogger("dj_jupyter")

MAX_ERRORS = 50
SAMPLES = 120
MAX_INTERVAL = 30.0  # seconds between polls of an idle panel


def _auto_tables(targets) -> list:
    """Instances of the auto-populated tables named by classes, instances or schemas."""
    from ..jobs.autopopulate import AutoPopulate
    from ..schema import Schema, classes_from_database
    from ..table import tier_of

    tables = []
    for target in targets:
        if isinstance(target, Schema):
            classes = {cls.table_name: cls for cls in classes_from_database(target).values()}
            context = target.context or {}
            for value in list(context.values()):
                if inspect.isclass(value) and issubclass(value, AutoPopulate) and \
                        getattr(value, "database", None) == target.database:
                    classes[value.table_name] = value
            for name in target.list_tables():
                if tier_of(name) in ("imported", "computed") and name in classes:
                    tables.append(classes[name]())
            continue
        if inspect.isclass(target):
            target = target()
        if not isinstance(target, AutoPopulate):
            raise DataJointError(f"{type(target).__name__} is not an auto-populated table.",
                                 hint="Give Imported or Computed tables (or a schema).")
        tables.append(target)
    return tables


def _job_table(table):
    """The table's job table if it exists (never declares one)."""
    from ..jobs.jobtable import _ExistingJobTable, job_table_name

    connection = table.connection
    if job_table_name(table.table_name) in connection.backend.list_tables(connection, table.database):
        return _ExistingJobTable(table)
    return None


def _key_text(key: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in key.items())


class ProgressPanel(DJWidget):
    """``ProgressPanel(Square, Cube)``: live populate progress of some tables (or of a schema)."""

    _esm = STATIC / "progress.js"
    _css = STATIC / "widgets.css"

    title = traitlets.Unicode("Populate").tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    errors = traitlets.List().tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)
    stopping = traitlets.Bool(False).tag(sync=True)
    can_start = traitlets.Bool(True).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, *tables, restrictions=(), interval: float = 2.0, live: bool = True,
                 populate_kwargs: dict | None = None, background: str = "thread", **kwargs):
        if not tables:
            raise DataJointError("ProgressPanel needs at least one auto-populated table or a schema.")
        self.tables = _auto_tables(tables)
        self.restrictions = tuple(restrictions) if isinstance(restrictions, (list, tuple)) else (restrictions,)
        self.populate_kwargs = dict(populate_kwargs or {})
        self.background = background
        self.interval = interval
        self.results: dict[str, dict] = {}
        self._samples = {t.full_table_name: collections.deque(maxlen=SAMPLES) for t in self.tables}
        self._error_keys: dict[str, tuple] = {}
        self._event_errors: list[dict] = []
        self._running_tables: set[str] = set()
        self._worker = None
        self._process = None
        self._stop_event = None
        self._lock = threading.RLock()
        self._clock = time.monotonic()
        names = ", ".join(type(t).__name__ for t in self.tables)
        super().__init__(title=f"Populate {names}", **kwargs)
        self.refresh()
        self._poller = Poller(interval, self._poll, name="dj-progress").start() if live else None
        self._unsubscribe = events.subscribe(self._on_event)

    # ---- reading the job tables -----------------------------------------------------------------------
    def read(self) -> tuple[list[dict], list[dict]]:
        rows, errors = [], []
        now = time.monotonic() - self._clock
        for table in self.tables:
            name = table.full_table_name
            remaining, total = table.progress(*self.restrictions)
            done = total - remaining
            counts = {"pending": 0, "reserved": 0, "success": 0, "error": 0, "ignore": 0}
            jobs = _job_table(table)
            if jobs is not None:
                counts.update({k: v for k, v in jobs.progress().items() if k in counts})
                for job in (jobs & {"status": "error"}).to_dicts(order_by="KEY", limit=MAX_ERRORS):
                    key = {k: job[k] for k in jobs.primary_key}
                    index = f"{name}|{len(errors)}"
                    self._error_keys[index] = (table, key)
                    errors.append({"table": name, "name": type(table).__name__, "index": index,
                                   "key": _key_text(key), "message": job["error_message"]})
            samples = self._samples[name]
            if not samples or samples[-1][1] != done or now - samples[-1][0] > 5:
                samples.append((round(now, 3), done))
            rows.append({"table": name, "name": type(table).__name__, "done": done, "total": total,
                         "remaining": remaining, **counts, "running": name in self._running_tables,
                         "samples": [list(s) for s in samples]})
        with self._lock:
            for error in self._event_errors:
                if not any(e["table"] == error["table"] and e["key"] == error["key"] for e in errors):
                    errors.append(error)
        return rows, errors

    def refresh(self) -> list[dict]:
        rows, errors = self.read()
        with self.hold_sync():
            self.rows = rows
            self.errors = errors
            self.running = self.is_running
            if not self.running:
                self.stopping = False
        return rows

    def _poll(self) -> None:
        """Poll the job tables; while nothing changes the interval doubles (up to MAX_INTERVAL)."""
        if self.closed or not connection_open(self.tables[0].connection):
            return
        before = [(r["done"], r["total"], r["pending"], r["reserved"], r["error"]) for r in self.rows]
        self.refresh()
        after = [(r["done"], r["total"], r["pending"], r["reserved"], r["error"]) for r in self.rows]
        poller = self._poller
        if poller is not None:
            if before == after and not self.is_running:
                poller.interval = min(poller.interval * 2, max(MAX_INTERVAL, self.interval))
            else:
                poller.interval = self.interval

    def _on_event(self, event) -> None:
        names = {t.full_table_name for t in self.tables}
        if event.table not in names:
            return
        if event.kind == "error" and event.key is not None:
            table = next(t for t in self.tables if t.full_table_name == event.table)
            with self._lock:
                self._event_errors.append({"table": event.table, "name": type(table).__name__,
                                           "index": f"event|{len(self._event_errors)}", "key": _key_text(event.key),
                                           "message": event.message})
                del self._event_errors[:-MAX_ERRORS]
        if self._poller is not None:
            self._poller.interval = self.interval
            self._poller.wake()

    # ---- populate in the background -------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        worker = self._worker  # a populate thread, or the thread that waits for the populate process
        return worker is not None and worker.is_alive()

    def populate(self, background: str | bool | None = None, **kwargs):
        """Populate every table of the panel, in order. ``background`` = "thread", "process" or False."""
        if self.is_running:
            raise DataJointError("A populate started by this panel is still running.", hint="Stop it first.")
        options = {"reserve_jobs": True, "suppress_errors": True, **self.populate_kwargs, **kwargs}
        mode = self.background if background is None or background is True else background
        self.message = ""
        self.stopping = False
        if not mode:
            self._run(options)
            return self.results
        if mode == "process":
            self._start_process(options)
        else:
            self._worker = threading.Thread(target=self._run, args=(options,), name="dj-populate", daemon=True)
            self._worker.start()
        self.running = True
        if self._poller is not None:
            self._poller.interval = self.interval
            self._poller.wake()
        return None

    start = populate

    def _run(self, options: dict) -> None:
        try:
            for table in self.tables:
                if self.stopping:
                    break
                name = table.full_table_name
                self._running_tables.add(name)
                try:
                    self.results[name] = table.populate(*self.restrictions, **options)
                except Exception as error:
                    self.results[name] = {"error": str(error)}
                    self.message = f"{type(table).__name__}: {error}"
                    logger.warning("populate of %s failed: %s", name, error)
                finally:
                    self._running_tables.discard(name)
        finally:
            self._finish()

    def _finish(self) -> None:
        if self.stopping:
            released = self.release()
            self.message = "Stopped" + (f"; released {released} reserved job{'s' if released != 1 else ''}"
                                        if released else "") + "."
        elif not self.message:
            made = sum(r.get("success_count", 0) for r in self.results.values() if isinstance(r, dict))
            failed = sum(len(r.get("error_list", [])) for r in self.results.values() if isinstance(r, dict))
            self.message = f"Finished: {made} made" + (f", {failed} failed" if failed else "") + "."
        self._worker = None
        self.refresh()

    def _start_process(self, options: dict) -> None:
        connection = self.tables[0].connection
        if connection.in_transaction:
            raise DataJointError("Cannot start a background process inside a transaction.")
        context = multiprocessing.get_context("fork")
        self._stop_event = context.Event()
        # Hold the connection through the fork: the panel's poller thread must not be mid-query (holding the
        # lock, using the socket) at the instant the child is copied. The child must not share the socket.
        with connection._lock:
            connection.close()
            try:
                self._process = context.Process(target=_child_populate,
                                                args=(self.tables, self.restrictions, options, self._stop_event),
                                                daemon=True, name="dj-populate")
                self._process.start()
            finally:
                connection.connect()
        # only this thread joins the child: a second concurrent join cannot reap it and would report it alive
        self._worker = threading.Thread(target=self._wait_process, name="dj-populate-wait", daemon=True)
        self._worker.start()

    def _wait_process(self) -> None:
        self._process.join()
        self._finish()
        self._process = None

    def stop(self) -> None:
        """Let the running make() finish, start no new one, then release reserved jobs."""
        self.stopping = True
        for table in self.tables:
            populate_module.request_stop(table)
        if self._stop_event is not None:
            self._stop_event.set()
        self.message = "Stopping after the running make()…"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background populate; True when it has finished."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return not self.is_running

    def release(self) -> int:
        """Return jobs reserved by this process or by dead workers to pending."""
        released = 0
        host, pid = platform.node(), os.getpid()
        child = self._process.pid if self._process is not None else None
        for table in self.tables:
            jobs = _job_table(table)
            if jobs is None:
                continue
            for job in jobs.reserved.to_dicts():
                if job["host"] == host and job["pid"] in (pid, child):
                    key = {k: job[k] for k in jobs.primary_key}
                    released += jobs._set(key, status="pending", reserved_time=None, host="", pid=0, connection_id=0)
            released += jobs.release_orphans()
        return released

    # ---- protocol ---------------------------------------------------------------------------------------
    def on_start(self, content, buffers):
        self.populate()
        return {"running": True}

    def on_stop(self, content, buffers):
        self.stop()
        return {"stopping": True}

    def on_refresh(self, content, buffers):
        self.refresh()
        return {"rows": len(self.rows)}

    def on_stack(self, content, buffers):
        index = content.get("index", "")
        if index.startswith("event|"):
            return {"stack": "(this error was not recorded in a job table: populate with reserve_jobs=True "
                             "keeps the stack)"}
        found = self._error_keys.get(index)
        if found is None:
            raise DataJointError("That error is no longer listed; refresh the panel.")
        table, key = found
        jobs = _job_table(table)
        stack = (jobs & key).fetch1("error_stack") if jobs is not None else None
        return {"stack": stack if isinstance(stack, str) else ("" if stack is None else str(stack))}

    def _on_close(self) -> None:
        if self._poller is not None:
            self._poller.stop()
        self._unsubscribe()

    # ---- twins -------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        parts = [f"{r['name']} {r['done']}/{r['total']}" + (f" ({r['error']} errors)" if r["error"] else "")
                 for r in self.rows]
        return "ProgressPanel(" + ", ".join(parts) + ")"

    def static_html(self) -> str:
        import html

        lines = []
        for row in self.rows:
            total = row["total"] or 0
            percent = 100.0 * row["done"] / total if total else 100.0
            colour = "#e53935" if row["error"] else ("#43a047" if row["done"] >= total else "#1e88e5")
            bar = (f'<div style="width:160px;height:12px;background:#e6e6e6;display:inline-block;vertical-align:middle">'
                   f'<div style="width:{percent:.1f}%;height:12px;background:{colour}"></div></div>')
            lines.append(f"<tr><td>{html.escape(row['name'])}</td><td>{bar}</td>"
                         f"<td>{row['done']:,}/{total:,}</td><td>{row['pending']}</td><td>{row['reserved']}</td>"
                         f"<td>{row['error']}</td></tr>")
        errors = "".join(f"<li>{html.escape(e['name'])} {html.escape(e['key'])}: {html.escape(e['message'])}</li>"
                         for e in self.errors)
        return ('<div class="dj-progress-static"><table style="font-size:12px"><thead><tr><th>table</th><th>progress'
                '</th><th>done/total</th><th>pending</th><th>reserved</th><th>error</th></tr></thead><tbody>'
                + "".join(lines) + "</tbody></table>" + (f"<ul>{errors}</ul>" if errors else "") + "</div>")


def _child_populate(tables, restrictions, options, stop_event) -> None:
    """A forked process: reconnect, watch the stop flag, populate."""
    events.forget_observers()
    connection = tables[0].connection
    connection._raw = None  # the parent's socket was closed before the fork; never touch it
    connection._lock = threading.RLock()  # the copied lock is owned by the parent's forking thread
    connection.connect()

    def watch():
        stop_event.wait()
        for table in tables:
            populate_module.request_stop(table)

    threading.Thread(target=watch, daemon=True).start()
    for table in tables:
        if stop_event.is_set():
            break
        try:
            table.populate(*restrictions, **options)
        except Exception as error:
            logger.warning("populate of %s failed in the background process: %s", table.full_table_name, error)
    os._exit(0)
