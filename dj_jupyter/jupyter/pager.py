"""Server-side paging of any query expression: one bounded query per page.

The table browser's front end asks for a page (number, size, sort, restriction);
:class:`Pager` answers with ONE ``SELECT ... ORDER BY ... LIMIT n OFFSET m`` and a
cheap estimate of the total (the backend's planner estimate when it has one). The
exact count runs later, on a side connection, so a 10-million-row table opens as
fast as a 10-row one. This module knows no widgets: the widget and the benchmark
both drive it.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataJointError

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 500
CELL_WIDTH = 200  # characters of a text cell sent to the front end
SMALL = 100_000  # results below this many rows are counted exactly before the first page is sent


@dataclass
class Column:
    name: str
    type: str
    in_key: bool
    kind: str  # "plain" | "numeric" | "blob" (in-table, not fetched) | "object" (store-backed metadata)
    comment: str = ""

    def todict(self) -> dict:
        return {"name": self.name, "type": self.type, "in_key": self.in_key, "kind": self.kind,
                "comment": self.comment}


def column_kind(attribute) -> str:
    if attribute.is_codec and attribute.type.store is not None:
        return "object"
    if attribute.is_blob:
        return "blob"
    if attribute.numeric:
        return "numeric"
    return "plain"


@dataclass
class Page:
    """One page of rows, ready to send: display cells plus the keys behind them."""

    columns: list[Column]
    rows: list[list]  # cells: str | number | None | {"lazy": ...}
    keys: list[dict]  # primary key of each row (kernel side only)
    page: int
    page_size: int
    sort: list[tuple[str, str]]
    restriction: str
    total: int | None
    exact: bool
    elapsed: float = 0.0
    raw_rows: list = field(default_factory=list, repr=False)

    def message(self) -> dict:
        return {"columns": _column_dicts(self.columns), "rows": self.rows, "page": self.page,
                "page_size": self.page_size, "offset": self.page * self.page_size,
                "sort": [list(s) for s in self.sort], "restriction": self.restriction,
                "total": self.total, "exact": self.exact}


_COLUMN_DICTS: dict[int, tuple] = {}


def _column_dicts(columns: list[Column]) -> list[dict]:
    cached = _COLUMN_DICTS.get(id(columns))
    if cached is None or cached[0] is not columns:
        cached = (columns, [c.todict() for c in columns])
        if len(_COLUMN_DICTS) > 256:
            _COLUMN_DICTS.clear()
        _COLUMN_DICTS[id(columns)] = cached
    return [dict(d) for d in cached[1]]


class Pager:
    """Pages through ``expr``; every page is one query with LIMIT/OFFSET and a total ORDER BY."""

    def __init__(self, expr, page_size: int = DEFAULT_PAGE_SIZE, *, count_connection="side"):
        import inspect

        if inspect.isclass(expr):
            expr = expr()
        self.expr = expr
        self.page_size = _page_size(page_size)
        self._count_connection = count_connection  # "side" (a second connection), "same" or a Connection
        self._side = None
        self._counts: dict[str, tuple[int, bool]] = {}  # restriction text -> (count, exact)
        self._count_threads: dict[str, threading.Thread] = {}
        self._plans: dict = {}
        self._lock = threading.Lock()
        self.columns = [Column(a.name, a.type.text, a.in_key, column_kind(a), a.comment)
                        for a in (expr.heading[n] for n in expr.heading.names)]

    # ---- the expression a request selects ----------------------------------------------------
    def restricted(self, restriction: str = ""):
        restriction = (restriction or "").strip()
        if not restriction:
            return self.expr
        try:
            return self.expr & restriction
        except DataJointError:
            raise
        except Exception as error:  # parser errors of other kinds
            raise DataJointError(f"Cannot restrict by {restriction!r}: {error}") from None

    def order_by(self, sort) -> list[str]:
        """ORDER BY items: the requested columns, then the primary key so that paging is total."""
        items = []
        for entry in sort or ():
            name, direction = (entry[0], entry[1] if len(entry) > 1 else "asc") if not isinstance(entry, str) \
                else (entry, "asc")
            if name not in self.expr.heading:
                raise DataJointError(f"Cannot sort by `{name}`: it is not a column of this query.")
            if self.expr.heading[name].is_blob:
                raise DataJointError(f"Cannot sort by the blob column `{name}`.")
            direction = "DESC" if str(direction).lower().startswith("desc") else "ASC"
            items.append(f"{name} {direction}")
        if self.expr.primary_key:
            items.append("KEY")
        return items or None

    # ---- pages ------------------------------------------------------------------------------
    def page(self, page: int = 0, page_size: int | None = None, sort=None, restriction: str = "",
             count: bool = True) -> Page:
        import time

        start = time.perf_counter()
        page_size = _page_size(page_size or self.page_size)
        page = max(int(page or 0), 0)
        sort = [(s[0], "desc" if str(s[1]).lower().startswith("desc") else "asc") if not isinstance(s, str)
                else (s, "asc") for s in (sort or [])]
        expr, sql, params, selected, decoders = self._plan(restriction, sort)
        self.last_sql = sql
        cursor = expr.connection.query(sql, params + (page_size, page * page_size))
        raw = cursor.fetchall()
        cursor.close()
        rows, keys = self._cells(selected, decoders, raw)
        total, exact = (None, False)
        if count:
            total, exact = self.total(restriction, expr)
            if total is not None and (len(raw) < page_size) and not exact:
                # the last page tells the truth: offset + rows on it
                if len(raw) or page == 0:
                    total, exact = page * page_size + len(raw), True
                    self._remember(restriction, total, True)
        return Page(self.columns, rows, keys, page, page_size, sort, (restriction or "").strip(), total, exact,
                    time.perf_counter() - start, raw)

    def _plan(self, restriction, sort):
        """The page statement of a restriction and sort (LIMIT/OFFSET as parameters), built once."""
        cache_key = ((restriction or "").strip(), tuple(tuple(s) for s in sort))
        with self._lock:
            plan = self._plans.get(cache_key)
        if plan is not None:
            return plan
        from ..query.condition import Top
        from ..query.fetch import decoder_for

        expr = self.restricted(restriction)
        fields = [c.name for c in self.columns if c.kind != "blob"]
        if not fields:
            fields = list(self.expr.primary_key) or None
        ordered = expr._restrict_top(Top(None, self.order_by(sort), 0))
        sql, params = ordered.make_sql(fields)
        selected = fields or self.expr.heading.names
        decoders = []
        for name in selected:
            attribute = self.expr.heading[name]
            decoders.append(None if column_kind(attribute) == "object" else decoder_for(expr, attribute))
        plan = (expr, expr.connection.backend.page_sql(sql), tuple(params), selected, decoders)
        with self._lock:
            self._plans[cache_key] = plan
            if len(self._plans) > 32:
                self._plans.pop(next(iter(self._plans)))
        return plan

    def _cells(self, selected, decoders, raw):
        """Display cells and primary keys of fetched rows (per-column converters chosen once)."""
        heading = self.expr.heading
        index = {name: i for i, name in enumerate(selected)}
        key_at = [(k, index[k]) for k in self.expr.primary_key if k in index]
        steps = []  # per shown column: ("const", cell) | ("object", i, attribute) | ("value", i, formatter)
        for column in self.columns:
            if column.kind == "blob":
                steps.append((0, {"lazy": "blob", "label": f"<{_codec_label(heading[column.name])}>"}, None))
            elif column.name not in index:
                steps.append((0, None, None))
            elif column.kind == "object":
                steps.append((1, index[column.name], heading[column.name]))
            else:
                steps.append((2, index[column.name], _formatter(heading[column.name])))
        rows, keys = [], []
        for record in raw:
            values = [decode(value) if (decode is not None and value is not None) else value
                      for decode, value in zip(decoders, record)]
            keys.append({k: values[i] for k, i in key_at})
            cells = []
            for kind, where, how in steps:
                if kind == 2:
                    value = values[where]
                    cells.append(None if value is None else how(value))
                elif kind == 0:
                    cells.append(dict(where) if where is not None else None)
                else:
                    cells.append(object_cell(values[where], how))
            rows.append(cells)
        return rows, keys

    # ---- counts -------------------------------------------------------------------------------
    def total(self, restriction: str = "", expr=None) -> tuple[int | None, bool]:
        """(count, exact): the exact count when known, else the planner's estimate, else None."""
        restriction = (restriction or "").strip()
        with self._lock:
            known = self._counts.get(restriction)
        if known is not None:
            return known
        expr = self.restricted(restriction) if expr is None else expr
        estimate = estimate_count(expr)
        if estimate is None or estimate < SMALL:
            # a count that stops at SMALL rows is cheap everywhere and exact for small results
            counted = bounded_count(expr, SMALL)
            if counted < SMALL:
                self._remember(restriction, counted, True)
                return counted, True
            estimate = max(estimate or 0, counted)
        with self._lock:
            self._counts.setdefault(restriction, (estimate, False))
        return estimate, False

    def exact_total(self, restriction: str = "") -> int:
        """Count exactly (on the side connection when there is one) and remember the result."""
        restriction = (restriction or "").strip()
        with self._lock:
            known = self._counts.get(restriction)
        if known is not None and known[1]:
            return known[0]
        expr = self.restricted(restriction)
        count = count_rows(expr, self._counting_connection())
        self._remember(restriction, count, True)
        return count

    def count_in_background(self, restriction: str = "", callback=None) -> threading.Thread | None:
        """Start the exact count in a thread; ``callback(count, restriction)`` when it is known."""
        restriction = (restriction or "").strip()
        with self._lock:
            known = self._counts.get(restriction)
            running = self._count_threads.get(restriction)
        if known is not None and known[1]:
            if callback is not None:
                callback(known[0], restriction)
            return None
        if running is not None and running.is_alive():
            return running

        def work():
            try:
                count = self.exact_total(restriction)
            except Exception as error:  # a background count must never raise into the kernel
                if callback is not None:
                    callback(None, restriction, error)
                return
            finally:
                self.close()  # the side connection is opened per count, not kept per browser
            if callback is not None:
                callback(count, restriction)

        thread = threading.Thread(target=work, name="dj-count", daemon=True)
        with self._lock:
            self._count_threads[restriction] = thread
        thread.start()
        return thread

    def _remember(self, restriction: str, count: int, exact: bool) -> None:
        with self._lock:
            self._counts[restriction] = (int(count), exact)

    def forget_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def _counting_connection(self):
        if self._count_connection == "same":
            return self.expr.connection
        if self._count_connection != "side":
            return self._count_connection
        if self._side is None:
            self._side = side_connection(self.expr.connection)
        return self._side

    def close(self) -> None:
        side, self._side = self._side, None
        if side is not None and side is not self.expr.connection:
            side.close()

    # ---- one cell ------------------------------------------------------------------------------
    def fetch_cell(self, key: dict, column: str):
        """The decoded value of one cell (the only place where blob/object values are fetched)."""
        if column not in self.expr.heading:
            raise DataJointError(f"`{column}` is not a column of this query.")
        return (self.expr & key).fetch1(column)


# ------------------------------------------------------------------------------------------
# counting
# ------------------------------------------------------------------------------------------
def estimate_count(expr) -> int | None:
    """The backend's cheap estimate of the rows of ``expr`` (None when it has none)."""
    backend = expr.connection.backend
    estimate = getattr(backend, "estimate_rows", None)
    if estimate is None:
        return None
    try:
        sql, params = _count_sql(expr)
        value = estimate(expr.connection, sql, params)
    except Exception:
        return None
    return None if value is None else max(int(value), 0)


def bounded_count(expr, cap: int) -> int:
    """min(len(expr), cap) in one query that reads at most ``cap`` rows."""
    backend = expr.connection.backend
    sql, params = _count_sql(expr)
    q = backend.quote
    row = expr.connection.query(f"SELECT count(*) FROM (SELECT 1 AS {q('_one')} FROM ({sql}) AS {q('_b')}"
                                f"{backend.limit_sql(int(cap), None)}) AS {q('_c')}", params).fetchone()
    return int(row[0])


def count_rows(expr, connection=None) -> int:
    """``len(expr)``, optionally on another connection to the same database."""
    if connection is None or connection is expr.connection:
        return len(expr)
    backend = expr.connection.backend
    sql, params = _count_sql(expr)
    row = connection.query(f"SELECT count(*) FROM ({sql}) AS {backend.quote('_count')}", params).fetchone()
    return int(row[0])


def _count_sql(expr):
    """The SELECT whose rows are counted (as ``len(expr)`` does: all columns where rows could merge)."""
    if expr._union is not None or expr._distinct or expr._group_by is not None or expr._top is not None:
        return expr.make_sql()
    return expr.make_sql(expr.primary_key or None)


def side_connection(connection):
    """A second connection with the same settings (for counts and polls off the user's connection)."""
    from ..connection import Connection

    settings = dict(connection.conn_info)
    settings["quiet"] = True
    try:
        return Connection(password=getattr(connection, "_password", None), **settings)
    except Exception:
        return connection


# ------------------------------------------------------------------------------------------
# cells
# ------------------------------------------------------------------------------------------
def _int_cell(value):
    if type(value) is int and -(2 ** 53) < value < 2 ** 53:
        return value
    return display_value(value)


def _float_cell(value):
    if type(value) is float and math.isfinite(value):
        return value
    return display_value(value)


def _text_cell(value):
    if type(value) is str:
        return value if len(value) <= CELL_WIDTH else value[: CELL_WIDTH - 1] + "…"
    return display_value(value)


def _formatter(attribute):
    """The cell converter of a column, chosen from its type once per page plan."""
    declared = attribute.type
    if declared.category == "core":
        if declared.name.startswith("int"):
            return _int_cell
        if declared.name.startswith("float"):
            return _float_cell
        if declared.name in ("varchar", "char", "enum"):
            return _text_cell
    return display_value


def display_value(value: Any):
    """A JSON-safe display value: numbers stay numbers, everything else becomes text."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        value = int(value)
        return value if abs(value) < 2 ** 53 else str(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (dict, list)):
        try:
            text = json.dumps(value, default=str)
        except Exception:
            text = str(value)
    else:
        text = str(value)
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def _codec_label(attribute) -> str:
    if attribute.is_codec:
        return attribute.type.name + ("@" + attribute.type.store if attribute.type.store else "")
    return attribute.type.name


def object_cell(stored, attribute) -> dict:
    """A lazy cell for a store-backed value, labelled from its stored metadata (no store I/O)."""
    label = f"<{_codec_label(attribute)}>"
    if stored is None:
        return None
    meta = stored_metadata(stored)
    parts = []
    if meta.get("shape") is not None:
        parts.append("×".join(str(s) for s in meta["shape"]) or "scalar")
    if meta.get("dtype"):
        parts.append(str(meta["dtype"]))
    if meta.get("size") is not None:
        parts.append(format_bytes(meta["size"]))
    return {"lazy": "object", "label": label + (" " + " ".join(parts) if parts else "")}


def stored_metadata(stored) -> dict:
    """The metadata dict a store-backed codec keeps in its column (JSON), or {}."""
    value = stored
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def format_bytes(size) -> str:
    try:
        size = float(size)
    except (TypeError, ValueError):
        return str(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} PB"


def _page_size(value) -> int:
    try:
        value = int(value)
    except (TypeError, ValueError):
        value = DEFAULT_PAGE_SIZE
    return min(max(value, 1), MAX_PAGE_SIZE)
