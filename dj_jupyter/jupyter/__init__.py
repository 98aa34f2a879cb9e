"""Notebook widgets of dj_jupyter (the only package that knows Jupyter).

``browse(expr)``, ``diagram_widget(diagram)``, ``progress_panel(table)``,
``delete_preview(expr)`` and ``array_preview(value)`` return anywidgets whose
JavaScript is bundled in ``static/`` (WebAssembly Graphviz included: no CDN, no
``dot`` binary). Import cost is paid only when a widget is made.
"""

from .display import array_preview, browse, delete_preview, diagram_widget, get_view, jobs_view, progress_panel


def __getattr__(name):
    if name in ("TableBrowser", "ArrayPreview", "PagedSource"):
        from . import browser

        return getattr(browser, name)
    if name in ("DiagramWidget", "DeletePreview"):
        from . import diagram

        return getattr(diagram, name)
    if name == "ProgressPanel":
        from .progress import ProgressPanel

        return ProgressPanel
    if name == "Pager":
        from .pager import Pager

        return Pager
    raise AttributeError(name)


__all__ = ["browse", "diagram_widget", "progress_panel", "delete_preview", "array_preview", "jobs_view", "get_view",
           "TableBrowser", "ArrayPreview", "DiagramWidget", "DeletePreview", "ProgressPanel", "Pager"]
