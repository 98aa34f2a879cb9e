"""What the magics show, and the seam through which widgets take over.

The seam
--------
The widget layer lives in ``dj_jupyter.jupyter.display``. The magics look there for
a *view factory* by kind; when the module, the factory or its dependencies are
missing, they show a plain rendering instead (HTML with a text twin), so every
output is meaningful in nbconvert, on GitHub and under nbval.

The module may define ``get_view(kind) -> callable | None``; otherwise a module-level
callable named after the kind is used. Kinds and the calls the magics make::

    table_browser(expr, *, limit, order_by)           # a query cell's result
    progress_panel(table, *, restrictions, reserve_jobs, processes)
                                                       # shown before populate runs; it follows
                                                       # dj_jupyter.jobs.events and the job tables itself
    diagram(target)                                    # a dj.Schema or a table class
    jobs(target)                                       # a table class or a dj.Schema
    status(schema)                                     # a dj.Schema
    delete_preview(expr, *, part_integrity)            # counts per table with Delete / Cancel buttons;
                                                       # the widget deletes only when its button is clicked

A factory returns something ``IPython.display.display`` can show (a widget that also
carries a plain text/HTML twin), or ``None`` to decline, in which case the magics
fall back to their own rendering. Factories must not print.
"""

from __future__ import annotations

import html
import importlib
import logging

logger = logging.getLogger("dj_jupyter")

SEAM_MODULE = "dj_jupyter.jupyter.display"
VIEW_KINDS = ("table_browser", "progress_panel", "diagram", "jobs", "status", "delete_preview")

_broken_seam_reported = False


def find_view(kind: str):
    """The widget layer's factory for ``kind``, or None when widgets are not available."""
    global _broken_seam_reported
    if kind not in VIEW_KINDS:
        raise ValueError(f"unknown view kind {kind!r}")
    try:
        module = importlib.import_module(SEAM_MODULE)
    except ImportError:
        return None
    except Exception as error:  # a broken widget layer must not break the magics
        if not _broken_seam_reported:
            logger.warning("The widget layer (%s) failed to import: %s; showing plain views.", SEAM_MODULE, error)
            _broken_seam_reported = True
        return None
    lookup = getattr(module, "get_view", None)
    factory = lookup(kind) if callable(lookup) else getattr(module, kind, None)
    return factory if callable(factory) else None


def ipywidgets_module():
    """``ipywidgets`` if it can be imported, else None (confirmation falls back to --confirm)."""
    try:
        import ipywidgets
    except Exception:
        return None
    return ipywidgets


# ---------------------------------------------------------------------------------------------
# plain renderings: every one has an HTML and a text form
# ---------------------------------------------------------------------------------------------
class Rendered:
    """A rich output with a text twin; ``display(Rendered(...))`` shows the best form available."""

    def __init__(self, text: str, html_text: str | None = None):
        self.text = text
        self.html = html_text

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/plain": self.text}
        if self.html is not None:
            data["text/html"] = self.html
        return data

    def __repr__(self) -> str:
        return self.text


STYLE = ("<style>.dj-magic{border-collapse:collapse;font-size:12px;margin:2px 0}"
         ".dj-magic th,.dj-magic td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}"
         ".dj-magic td.num{text-align:right}.dj-magic tr.dj-error td{color:#b00020}"
         ".dj-note{font-size:12px;margin:2px 0}.dj-warn{color:#b00020;font-weight:bold}</style>")


def table(headers: list[str], rows: list[list[object]], *, title: str | None = None, note: str | None = None,
          numeric: set[int] | None = None, error_rows: set[int] | None = None) -> Rendered:
    """A small table as HTML and as aligned text."""
    numeric = numeric or set()
    error_rows = error_rows or set()
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join((v.rjust(w) if i in numeric else v.ljust(w)) for i, (v, w) in
                               enumerate(zip(row, widths))).rstrip())
    if note:
        lines.append(note)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        f'<tr{" class=dj-error" if n in error_rows else ""}>' +
        "".join(f'<td{" class=num" if i in numeric else ""}>{html.escape(v)}</td>' for i, v in enumerate(row)) +
        "</tr>" for n, row in enumerate(cells))
    parts = [STYLE]
    if title:
        parts.append(f'<p class="dj-note"><b>{html.escape(title)}</b></p>')
    parts.append(f'<table class="dj-magic"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    if note:
        parts.append(f'<p class="dj-note">{html.escape(note)}</p>')
    return Rendered("\n".join(lines), "".join(parts))


def diff_view(title: str, lines: list[tuple[str, str]], note: str | None = None, warning: str | None = None
              ) -> Rendered:
    """Definition changes: (marker, line) with marker '+', '-' or '~'."""
    colors = {"+": "#1b7f3b", "-": "#b00020", "~": "#8a6d00"}
    text = [title] + [f"  {marker} {line}" for marker, line in lines]
    rows = "".join(f'<div style="color:{colors.get(marker, "inherit")}"><code>{html.escape(marker)} '
                   f'{html.escape(line)}</code></div>' for marker, line in lines)
    parts = [STYLE, f'<p class="dj-note"><b>{html.escape(title)}</b></p>', rows]
    if warning:
        text.append(warning)
        parts.append(f'<p class="dj-note dj-warn">{html.escape(warning)}</p>')
    if note:
        text.append(note)
        parts.append(f'<p class="dj-note">{html.escape(note)}</p>')
    return Rendered("\n".join(text), "".join(parts))
