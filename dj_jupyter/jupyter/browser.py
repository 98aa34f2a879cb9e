"""The table browser widget: server-side paging, sorting and restriction of any query.

The front end asks for a page with ``{"type": "page", "page", "page_size", "sort",
"restriction"}``; the kernel runs one bounded query (:class:`~.pager.Pager`) and answers
with the rows, the column descriptions (primary key marked) and the total (exact, or
an estimate while the exact count runs off the user's connection). Blob and object
cells are lazy: ``{"type": "cell"}`` opens a preview from metadata and
``{"type": "sample"}`` loads a bounded sample of the data.
"""

from __future__ import annotations

import html
from collections import OrderedDict

import traitlets

from . import arrays
from ._widget import STATIC, DJWidget
from .pager import DEFAULT_PAGE_SIZE, Pager, format_bytes


def describe_expr(expr) -> str:
    """A short deterministic name for a query: the table's name, or the tables it reads."""
    name = getattr(expr, "full_table_name", None)
    if name and not getattr(expr, "_where", ()):
        return str(name)
    try:
        sources = [s if isinstance(s, str) else "subquery" for s in expr.support]
    except Exception:
        sources = []
    text = " * ".join(sources) if sources else "query"
    if getattr(expr, "_where", ()):
        text += " (restricted)"
    return text


class PagedSource:
    """Pages of one expression plus the cells behind them (shared by the browser and the diagram)."""

    KEEP_PAGES = 16

    def __init__(self, expr, page_size: int = DEFAULT_PAGE_SIZE, on_count=None, count_connection="side"):
        self.pager = Pager(expr, page_size, count_connection=count_connection)
        self._pages: OrderedDict[str, list[dict]] = OrderedDict()
        self._cells: OrderedDict[tuple, object] = OrderedDict()
        self._serial = 0
        self._on_count = on_count
        self.last_page = None

    @property
    def expr(self):
        return self.pager.expr

    def page(self, content: dict) -> dict:
        page = self.pager.page(content.get("page", 0), content.get("page_size"), content.get("sort"),
                               content.get("restriction", ""))
        self.last_page = page
        self._serial += 1
        page_id = f"p{self._serial}"
        self._pages[page_id] = page.keys
        while len(self._pages) > self.KEEP_PAGES:
            self._pages.popitem(last=False)
        message = page.message()
        message["page_id"] = page_id
        message["elapsed_ms"] = round(page.elapsed * 1000, 2)
        if not page.exact and self._on_count is not None:
            self.pager.count_in_background(page.restriction, self._counted)
        return message

    def _counted(self, count, restriction, error=None):
        if self._on_count is not None and count is not None:
            self._on_count(count, restriction)

    def _key(self, content: dict) -> dict:
        keys = self._pages.get(content.get("page_id"))
        if keys is None:
            raise LookupError("That page is no longer known; turn the page again.")
        row = int(content.get("row", -1))
        if not 0 <= row < len(keys):
            raise LookupError(f"Row {row} is not on that page.")
        return keys[row]

    def cell_value(self, content: dict):
        column = content.get("column")
        cache_key = (content.get("page_id"), int(content.get("row", -1)), column)
        if cache_key in self._cells:
            return self._cells[cache_key]
        value = self.pager.fetch_cell(self._key(content), column)
        self._cells[cache_key] = value
        while len(self._cells) > 8:
            self._cells.popitem(last=False)
        return value

    def cell(self, content: dict) -> dict:
        value = self.cell_value(content)
        attribute = self.expr.heading[content["column"]]
        codec = attribute.type.name + ("@" + attribute.type.store if attribute.type.store else "") \
            if attribute.is_codec else None
        return {"info": arrays.array_info(value, codec=codec, type_text=attribute.type.text)}

    def sample(self, content: dict):
        return arrays.sample_value(self.cell_value(content))

    def close(self):
        self.pager.close()


class TableBrowser(DJWidget):
    """Browse any query expression page by page: ``TableBrowser(Session & 'subject_id > 3')``."""

    _esm = STATIC / "browser.js"
    _css = STATIC / "widgets.css"

    title = traitlets.Unicode("").tag(sync=True)
    page_size = traitlets.Int(DEFAULT_PAGE_SIZE).tag(sync=True)
    initial_page = traitlets.Dict().tag(sync=True)
    count_state = traitlets.Dict().tag(sync=True)

    def __init__(self, expr, page_size: int = DEFAULT_PAGE_SIZE, title: str | None = None, *,
                 count_connection="side", **kwargs):
        source = PagedSource(expr, page_size, on_count=self._counted, count_connection=count_connection)
        self.source = source
        first = source.page({"page": 0, "page_size": page_size})
        name = title if title is not None else describe_expr(source.expr)
        super().__init__(title=name, page_size=source.pager.page_size, initial_page=first,
                         count_state={"restriction": "", "total": first["total"], "exact": first["exact"]}, **kwargs)

    @property
    def expr(self):
        return self.source.expr

    @property
    def pager(self) -> Pager:
        return self.source.pager

    def _counted(self, count, restriction):
        self.count_state = {"restriction": restriction, "total": int(count), "exact": True}

    # ---- protocol --------------------------------------------------------------------------------
    def on_page(self, content, buffers):
        return self.source.page(content)

    def on_cell(self, content, buffers):
        return self.source.cell(content)

    def on_sample(self, content, buffers):
        return self.source.sample(content)

    def on_count(self, content, buffers):
        restriction = content.get("restriction", "")
        return {"total": self.pager.exact_total(restriction), "exact": True, "restriction": restriction.strip()}

    def _on_close(self):
        self.source.close()

    # ---- twins -------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        page = self.initial_page or {}
        rows = len(page.get("rows", []))
        total = page.get("total")
        of = f" of {total:,}" if total is not None and page.get("exact") else ""
        return f"TableBrowser({self.title}: rows 1-{rows}{of}, {self.page_size} per page)" if rows else \
            f"TableBrowser({self.title}: no rows)"

    def static_html(self) -> str:
        return page_html(self.initial_page, self.title)


def page_html(page: dict, title: str = "") -> str:
    """The first page as a plain, escaped HTML table (the widget's static twin)."""
    columns = page.get("columns", [])
    head = "".join(
        f'<th style="text-align:left;{"color:#1f5fa8;text-decoration:underline" if c["in_key"] else ""}" '
        f'title="{html.escape(c["type"])}">{html.escape(c["name"])}</th>' for c in columns)
    body = []
    for row in page.get("rows", []):
        cells = []
        for value in row:
            if value is None:
                cells.append('<td style="color:#999">NULL</td>')
            elif isinstance(value, dict):
                cells.append(f"<td><code>{html.escape(str(value.get('label', '')))}</code></td>")
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    total = page.get("total")
    rows = len(page.get("rows", []))
    if total is None:
        summary = f"first {rows} rows"
    else:
        summary = f"rows 1–{rows} of {'' if page.get('exact') else '~'}{total:,}"
    caption = f"<b>{html.escape(title)}</b> — " if title else ""
    return (f'<div class="dj-browser-static"><div>{caption}{html.escape(summary)}</div>'
            f'<table style="border-collapse:collapse;font-size:12px"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


class ArrayPreview(DJWidget):
    """A lazy preview of one array value: metadata now, data on click."""

    _esm = STATIC / "array.js"
    _css = STATIC / "widgets.css"

    title = traitlets.Unicode("").tag(sync=True)
    info = traitlets.Dict().tag(sync=True)

    def __init__(self, value, title: str = "", codec: str | None = None, **kwargs):
        self.value = value
        super().__init__(title=title, info=arrays.array_info(value, codec=codec), **kwargs)

    def on_sample(self, content, buffers):
        return arrays.sample_value(self.value)

    def __repr__(self) -> str:
        return arrays.info_text(self.info, self.title)

    def static_html(self) -> str:
        return arrays.info_html(self.info, self.title)


__all__ = ["TableBrowser", "ArrayPreview", "PagedSource", "page_html", "describe_expr", "format_bytes"]
