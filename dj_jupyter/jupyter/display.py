"""The display seam: what the magics, the sidebar and users call to show a pipeline.

Each function returns a widget that ``IPython.display.display`` shows (it carries an
HTML/text twin too). The magics find these through ``get_view(kind)``; every function
accepts and ignores options it does not know, so the seam can grow on either side.
"""

from __future__ import annotations

import inspect

from ..errors import DataJointError


def browse(expr, *, page_size: int = 25, limit: int | None = None, order_by=None, title: str | None = None,
           **ignored):
    """A table browser over any query expression (server-side paging, sorting and restriction)."""
    from .browser import TableBrowser

    if inspect.isclass(expr):
        expr = expr()
    if limit:
        page_size = min(int(limit), page_size) if page_size else int(limit)
    widget = TableBrowser(expr, page_size=page_size, title=title)
    if order_by:
        sort = [order_by] if isinstance(order_by, str) else list(order_by)
        pairs = []
        for item in sort:
            parts = str(item).split()
            if parts and parts[0].upper() != "KEY":
                pairs.append((parts[0], parts[1].lower() if len(parts) > 1 else "asc"))
        if pairs:
            widget.initial_page = widget.source.page({"page": 0, "page_size": widget.page_size, "sort": pairs})
    return widget


def diagram_widget(diagram, *, interval: float | None = 10.0, live: bool = True, **ignored):
    """The live pipeline diagram of a dj.Diagram, a schema, a module or a table."""
    from ..diagram import Diagram
    from .diagram import DiagramWidget

    if not isinstance(diagram, Diagram):
        diagram = Diagram(diagram)
    return DiagramWidget(diagram, interval=interval, live=live)


def progress_panel(table, *more, restrictions=(), reserve_jobs: bool = True, processes: int | None = None,
                   interval: float = 2.0, live: bool = True, **ignored):
    """A populate progress panel for auto-populated tables (or every one of a schema)."""
    from .progress import ProgressPanel

    options = {"reserve_jobs": reserve_jobs}
    if processes and processes > 1:
        options["processes"] = processes
    return ProgressPanel(table, *more, restrictions=restrictions, populate_kwargs=options, interval=interval,
                         live=live)


def delete_preview(expr, *, part_integrity: str = "enforce", **ignored):
    """What a cascading delete of ``expr`` would remove, table by table, with Delete / Cancel."""
    from .diagram import DeletePreview

    return DeletePreview(expr, part_integrity=part_integrity)


def array_preview(value, *, title: str = "", codec: str | None = None, **ignored):
    """A lazy preview of an array value or reference (metadata now, data on click)."""
    from .browser import ArrayPreview

    return ArrayPreview(value, title=title, codec=codec)


def jobs_view(target, **ignored):
    """The job tables of a table class or of every auto-populated table of a schema."""
    from ..schema import Schema
    from .progress import _auto_tables, _job_table

    if isinstance(target, Schema) or not hasattr(target, "jobs"):
        tables = _auto_tables([target])
        if len(tables) == 1:
            target = tables[0]
        else:
            return progress_panel(target, live=False)
    table = target() if inspect.isclass(target) else target
    jobs = _job_table(table)
    if jobs is None:
        raise DataJointError(f"{type(table).__name__} has no job table yet.",
                             hint="populate(reserve_jobs=True) or T.jobs.refresh() creates it.")
    return browse(jobs, title=f"jobs of {type(table).__name__}")


_VIEWS = {
    "table_browser": browse,
    "browse": browse,
    "diagram": diagram_widget,
    "progress_panel": progress_panel,
    "status": diagram_widget,
    "jobs": jobs_view,
    "delete_preview": delete_preview,
    "array_preview": array_preview,
}


def get_view(kind: str):
    """The factory for a kind of view (used by kernel_magics), or None."""
    return _VIEWS.get(kind)


__all__ = ["browse", "diagram_widget", "progress_panel", "delete_preview", "array_preview", "jobs_view", "get_view"]
