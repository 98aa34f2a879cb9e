"""The live pipeline diagram widget and the delete preview.

The kernel sends the DOT of :class:`dj_jupyter.diagram.Diagram` (status overlay
included) and the browser lays it out with the bundled WebAssembly Graphviz, so no
``dot`` binary is needed. The status is re-read on a timer, after populate events
of this kernel (``dj_jupyter.jobs.events``) and after every cell that ran. Clicking
a node asks for ``{"type": "node", "id"}``: its definition, the first page of its
contents and, for auto-populated tables, its jobs. ``focus`` shows a ``+table+``
neighbourhood, ``collapse`` draws a schema as one node.
"""

from __future__ import annotations

import datetime
import html
import logging
import threading
import time

import traitlets

from ..diagram import Diagram
from ..diagram.graph import node_id
from ..diagram.render import dot_available, model_to_dot, render_svg, resolve_direction
from ..errors import DataJointError
from ..jobs import events
from ..table import FreeTable
from ._widget import STATIC, DJWidget, Poller, connection_open
from .browser import PagedSource

logger = logging.getLogger("dj_jupyter")

MIN_GAP = 1.0  # seconds between two status reads triggered by events
MAX_INTERVAL = 60.0  # seconds between status reads of a diagram whose drawing stopped changing


def _job_table_name(table_name: str) -> str:
    from ..jobs.jobtable import job_table_name

    return job_table_name(table_name)


def _with_collapsed(diagram: Diagram, schemas: set[str]) -> Diagram:
    if not schemas:
        return diagram
    result = Diagram(diagram)
    result._expanded = {n for n in result._expanded if n[0] not in schemas}
    return result


class DiagramWidget(DJWidget):
    """``DiagramWidget(dj.Diagram(schema))``: the pipeline, live, laid out in the browser."""

    _esm = STATIC / "diagram.js"
    _css = STATIC / "widgets.css"

    dot = traitlets.Unicode("").tag(sync=True)
    nodes = traitlets.List().tag(sync=True)
    edges = traitlets.List().tag(sync=True)
    schemas = traitlets.List().tag(sync=True)
    collapsed = traitlets.List().tag(sync=True)
    mode = traitlets.Unicode("diagram").tag(sync=True)
    delete_state = traitlets.Dict().tag(sync=True)
    refreshed = traitlets.Unicode("").tag(sync=True)
    interval = traitlets.Float(10.0).tag(sync=True)

    def __init__(self, diagram, *, interval: float | None = 10.0, live: bool = True, theme: str | None = None,
                 page_size: int = 10, status: bool = True, **kwargs):
        if not isinstance(diagram, Diagram):
            diagram = Diagram(diagram)
        self._base = diagram
        self._view = diagram
        self._focus = None
        self._collapsed: set[str] = set()
        self._theme = theme
        self._status_enabled = status
        self._page_size = page_size
        self._sources: dict[str, PagedSource] = {}
        self._definitions: dict[str, str] = {}
        self._specs: dict[str, object] = {}
        self._lock = threading.RLock()
        self._last_refresh = 0.0
        self._drawn = None
        state = self._compute()
        super().__init__(interval=float(interval or 0), **state, **kwargs)
        self._poller = None
        self._unsubscribe = None
        self._ipython_hook = None
        if live:
            self.start_live(interval)

    # ---- state -------------------------------------------------------------------------------------
    @property
    def diagram(self) -> Diagram:
        return self._view

    def _compute(self) -> dict:
        with self._lock:
            view = _with_collapsed(self._view_base(), self._collapsed)
            drawn = view.with_status() if self._status_enabled else view
            model = drawn.model(self._theme)
            dot = model_to_dot(model, resolve_direction(None, drawn.connection.config)).source
            self._drawn = drawn
            self._specs = {spec.id: spec for spec in model.nodes}
            nodes = []
            for spec in model.nodes:
                status = spec.status.as_dict() if spec.status is not None else None
                nodes.append({"id": spec.id, "label": spec.label, "tier": spec.tier, "schema": spec.schema,
                              "table": spec.table, "class_name": spec.class_name, "status": status,
                              "affected": spec.affected})
            edges = [[e.parent, e.child] for e in model.edges]
            self._last_refresh = time.monotonic()
            return {"dot": dot, "nodes": nodes, "edges": edges, "schemas": sorted(self._base.schemas),
                    "collapsed": sorted(self._collapsed),
                    "refreshed": "status at " + datetime.datetime.now().strftime("%H:%M:%S")}

    def _view_base(self) -> Diagram:
        return self._base if self._focus is None else self._focus

    def refresh(self) -> dict:
        """Re-read the status now and push it to the front end."""
        state = self._compute()
        with self.hold_sync():
            for name, value in state.items():
                setattr(self, name, value)
        return state

    # ---- live updates -------------------------------------------------------------------------------
    def start_live(self, interval: float | None = None) -> None:
        if interval:
            self.interval = float(interval)
        if self._poller is None and self.interval > 0:
            self._poller = Poller(self.interval, self._poll, name="dj-diagram").start()
        if self._unsubscribe is None:
            self._unsubscribe = events.subscribe(self._on_event)
        if self._ipython_hook is None:
            try:
                from IPython import get_ipython

                shell = get_ipython()
            except Exception:
                shell = None
            if shell is not None:
                self._ipython_hook = (shell, self._after_cell)
                shell.events.register("post_run_cell", self._after_cell)

    def stop_live(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._ipython_hook is not None:
            shell, hook = self._ipython_hook
            try:
                shell.events.unregister("post_run_cell", hook)
            except ValueError:
                pass
            self._ipython_hook = None

    def _poll(self) -> None:
        """Re-read the status; while the drawing does not change the interval doubles (up to MAX_INTERVAL)."""
        if self.closed or not connection_open(self._base.connection):
            return
        before = self.dot
        self.refresh()
        poller = self._poller
        if poller is not None:
            poller.interval = min(poller.interval * 2, max(MAX_INTERVAL, self.interval)) if self.dot == before \
                else self.interval

    def _on_event(self, event) -> None:
        if event.kind in ("success", "error", "finish", "start") and self._poller is not None:
            self._poller.interval = self.interval
            if time.monotonic() - self._last_refresh >= MIN_GAP or event.kind == "finish":
                self._poller.wake()

    def _after_cell(self, result=None) -> None:
        if self.closed or not connection_open(self._base.connection):
            return
        if self._poller is not None:
            self._poller.interval = self.interval
            self._poller.wake()
        elif not self.closed:
            try:
                self.refresh()
            except Exception as error:
                logger.debug("diagram refresh failed: %s", error)

    def _on_close(self) -> None:
        self.stop_live()
        for source in self._sources.values():
            source.close()

    # ---- protocol ------------------------------------------------------------------------------------
    def _node(self, identifier: str):
        spec = self._specs.get(identifier)
        if spec is None:
            raise DataJointError(f"{identifier!r} is not a node of this diagram.")
        return spec

    def _table(self, spec):
        connection = self._base.connection
        if self.mode == "delete" and self._drawn is not None:
            try:
                return self._drawn[(spec.schema, spec.table)]
            except DataJointError:
                pass
        return FreeTable(connection, spec.schema, spec.table)

    def _source(self, target: str) -> PagedSource:
        source = self._sources.get(target)
        if source is not None:
            return source
        if target.startswith("jobs:"):
            spec = self._node(target[5:])
            expr = FreeTable(self._base.connection, spec.schema, _job_table_name(spec.table))
        else:
            expr = self._table(self._node(target))

        def counted(count, restriction, target=target):
            self.push({"type": "count", "target": target, "total": int(count), "restriction": restriction})

        source = PagedSource(expr, self._page_size, on_count=counted)
        self._sources[target] = source
        return source

    def definition(self, identifier: str) -> str:
        if identifier not in self._definitions:
            spec = self._node(identifier)
            if spec.tier == "collapsed":
                self._definitions[identifier] = f"schema {spec.schema}: {spec.table_count} tables (collapsed)"
            else:
                self._definitions[identifier] = FreeTable(self._base.connection, spec.schema, spec.table).describe()
        return self._definitions[identifier]

    def on_describe(self, content, buffers):
        return {"id": content.get("id"), "definition": self.definition(content.get("id"))}

    def on_node(self, content, buffers):
        identifier = content.get("id")
        spec = self._node(identifier)
        if spec.tier == "collapsed":
            self.on_collapse({"schema": spec.schema, "collapsed": False}, [])
            return {"id": identifier, "expanded": spec.schema}
        auto = spec.tier in ("imported", "computed")
        has_jobs = False
        if auto:
            connection = self._base.connection
            has_jobs = _job_table_name(spec.table) in connection.backend.list_tables(connection, spec.schema)
        source = self._source(identifier)
        first = source.page({"page": 0, "page_size": self._page_size})
        status = spec.status.as_dict() if spec.status is not None else None
        return {"id": identifier, "label": spec.class_name or spec.label, "tier": spec.tier, "auto": auto,
                "has_jobs": has_jobs, "definition": self.definition(identifier), "status": status,
                "affected": spec.affected, "initial_page": first}

    def on_page(self, content, buffers):
        message = self._source(str(content.get("target"))).page(content)
        message["target"] = content.get("target")
        return message

    def on_cell(self, content, buffers):
        return self._source(str(content.get("target"))).cell(content)

    def on_sample(self, content, buffers):
        return self._source(str(content.get("target"))).sample(content)

    def on_refresh(self, content, buffers):
        self.refresh()
        return {"refreshed": self.refreshed}

    def on_collapse(self, content, buffers):
        schema = content.get("schema")
        if schema not in self._base.schemas:
            raise DataJointError(f"Schema {schema!r} is not in this diagram.")
        if content.get("collapsed", True):
            self._collapsed.add(schema)
        else:
            self._collapsed.discard(schema)
        self.refresh()
        return {"collapsed": sorted(self._collapsed)}

    def on_focus(self, content, buffers):
        identifier = content.get("id")
        if identifier is None:
            self._focus = None
        else:
            spec = self._node(identifier)
            if spec.tier == "collapsed":
                raise DataJointError("Expand the schema before focusing on one of its tables.")
            table = FreeTable(self._base.connection, spec.schema, spec.table)
            up, down = int(content.get("up", 1)), int(content.get("down", 1))
            around = (Diagram(table) - up) + (Diagram(table) + down)
            self._focus = self._base * around
        self.refresh()
        return {"nodes": [n["id"] for n in self.nodes]}

    # ---- twins -----------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base!r})"

    def static_html(self) -> str:
        svg = ""
        if dot_available() and self._drawn is not None:
            try:
                svg = render_svg(self._drawn, self._theme)
            except Exception:
                svg = ""
        return f'<div class="dj-diagram-static">{svg}{status_table_html(self.nodes)}</div>'


def status_table_html(nodes: list[dict]) -> str:
    rows = []
    for node in nodes:
        status = node.get("status") or {}
        progress = ""
        if status.get("total") is not None:
            progress = f"{status.get('done', 0):,}/{status['total']:,}"
        jobs = ", ".join(f"{status.get(k, 0)} {k}" for k in ("pending", "reserved", "error") if status.get(k))
        affected = node.get("affected")
        cells = [node["id"], node["tier"], "" if status.get("rows") is None else f"{status['rows']:,}", progress, jobs]
        if affected is not None:
            cells.append(f"{affected:,}")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = ["table", "tier", "rows", "done/total", "jobs"]
    if any(n.get("affected") is not None for n in nodes):
        head.append("rows to delete")
    return ('<table style="border-collapse:collapse;font-size:12px"><thead><tr>'
            + "".join(f'<th style="text-align:left;padding-right:12px">{h}</th>' for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


class DeletePreview(DiagramWidget):
    """The rows a cascading delete would remove, table by table, with Delete and Cancel buttons."""

    def __init__(self, expr, *, part_integrity: str = "enforce", **kwargs):
        import inspect

        if inspect.isclass(expr):
            expr = expr()
        self.expr = expr
        self.part_integrity = part_integrity
        self.result = None
        diagram = Diagram.cascade(expr, part_integrity=part_integrity)
        kwargs.setdefault("live", False)
        super().__init__(diagram, status=False, mode="delete", **kwargs)
        self.delete_state = self._summary("ready")

    def counts(self) -> dict[str, int]:
        """Rows a delete would remove per table (``schema.table`` ids), as shown."""
        return {n["id"]: n["affected"] or 0 for n in self.nodes if n.get("affected") is not None}

    def _summary(self, state: str, message: str = "") -> dict:
        counts = self.counts()
        total = sum(counts.values())
        tables = sum(1 for c in counts.values() if c)
        summary = (f"Delete {total:,} row{'s' if total != 1 else ''} from {tables} table{'s' if tables != 1 else ''}?"
                   if total else "Nothing to delete.")
        return {"state": state, "total": total, "tables": tables, "counts": counts, "summary": summary,
                "message": message}

    def _recount(self):
        self._base = Diagram.cascade(self.expr, part_integrity=self.part_integrity)
        self._view = self._base
        self.refresh()

    def on_delete(self, content, buffers):
        from ..deletes import cascade_delete

        if self.delete_state.get("state") in ("deleted", "cancelled"):
            raise DataJointError(f"This preview is already {self.delete_state['state']}; make a new one.")
        before = self.counts()
        now = {node_id(n): c for n, c in Diagram.cascade(self.expr, part_integrity=self.part_integrity)
               ._node_counts().items()}
        if {k: v for k, v in now.items() if v} != {k: v for k, v in before.items() if v}:
            self._recount()
            self.delete_state = self._summary("ready", "The rows changed since this preview; nothing was deleted. "
                                                       "Check the new counts and click Delete again.")
            raise DataJointError("The rows changed since this preview; nothing was deleted.",
                                 hint="Check the new counts and click Delete again.")
        self.delete_state = {**self.delete_state, "state": "deleting", "message": "Deleting…"}
        try:
            count = cascade_delete(self.expr, prompt=False, part_integrity=self.part_integrity)
        except Exception as error:
            self.delete_state = {**self._summary("error"), "message": f"Nothing was deleted: {error}"}
            raise
        self.result = count
        self._recount()
        removed = sum(before.values())
        tables = sum(1 for c in before.values() if c)
        message = f"Deleted {removed:,} row{'s' if removed != 1 else ''} from {tables} table{'s' if tables != 1 else ''}."
        self.delete_state = {**self.delete_state, "state": "deleted", "message": message, "deleted": before}
        return {"deleted": before, "root_count": count, "message": message}

    def on_cancel(self, content, buffers):
        if self.delete_state.get("state") == "deleted":
            raise DataJointError("The rows are already deleted.")
        self.delete_state = {**self.delete_state, "state": "cancelled", "message": "Cancelled: nothing was deleted."}
        return {"message": self.delete_state["message"]}

    def __repr__(self) -> str:
        counts = self.counts()
        listing = ", ".join(f"{k}: {v}" for k, v in counts.items())
        return f"DeletePreview({sum(counts.values())} rows: {listing})"
