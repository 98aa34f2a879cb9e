"""The notebook widgets, driven by the messages their front ends send (SQLite, PostgreSQL, MariaDB).

Each test builds a widget, sends it what the browser would send (page requests,
node clicks, the stop button, Delete/Cancel) through ``handle_message`` and
checks the replies and what happened in the database.
"""

from __future__ import annotations

import re
import threading
import time
import uuid

import numpy as np
import pytest

import dj_jupyter as dj
from tests.conftest import BACKENDS, make_connection

WIDGET_BACKENDS = tuple(b for b in ("sqlite", "postgresql", "mysql") if b in BACKENDS)


@pytest.fixture(params=WIDGET_BACKENDS)
def conn(request, tmp_path):
    connection = make_connection(request.param, tmp_path)
    yield connection
    connection.close()


@pytest.fixture
def pipeline(conn):
    """Item (manual, with a blob) -> Square (computed, slow for item 7 when asked) -> Cube; Note refs Item."""
    context = {}
    schema = dj.Schema("w_" + uuid.uuid4().hex[:10], context, connection=conn)
    control = {"sleep": 0.0, "fail": set()}

    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int32
        ---
        value : float64
        name = "" : varchar(40)
        data = null : <blob>
        """

    context["Item"] = Item

    @schema
    class Square(dj.Computed):
        definition = """
        -> Item
        ---
        square : float64
        """

        def make(self, key):
            if key["item_id"] in control["fail"]:
                raise ValueError(f"item {key['item_id']} is bad")
            time.sleep(control["sleep"])
            value = (Item & key).fetch1("value")
            self.insert1(dict(key, square=value * value))

    context["Square"] = Square

    @schema
    class Cube(dj.Computed):
        definition = """
        -> Square
        ---
        cube : float64
        """

        def make(self, key):
            self.insert1(dict(key, cube=(Square & key).fetch1("square") ** 1.5))

    context["Cube"] = Cube

    @schema
    class Note(dj.Manual):
        definition = """
        note_id : int32
        ---
        -> Item
        text : varchar(100)
        """

    Item.insert([dict(item_id=i, value=float(i), name=f"<b>item {i}</b>",
                      data=np.arange(4.0 * i).reshape(-1, 2) if i else None) for i in range(57)])
    Note.insert([dict(note_id=n, item_id=n % 5, text=f"note {n}") for n in range(12)])
    ns = type("Pipeline", (), dict(schema=schema, Item=Item, Square=Square, Cube=Cube, Note=Note, control=control))
    yield ns
    schema.drop(prompt=False, force=True)


def _wait(predicate, timeout=30.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ------------------------------------------------------------------------------------------------
# table browser
# ------------------------------------------------------------------------------------------------
def test_browser_pages_sorts_and_restricts(pipeline):
    from dj_jupyter.jupyter import browse

    widget = browse(pipeline.Item, page_size=10)
    first = widget.initial_page
    assert [c["name"] for c in first["columns"]] == ["item_id", "value", "name", "data"]
    assert [c["in_key"] for c in first["columns"]] == [True, False, False, False]
    assert first["total"] == 57 and first["exact"] is True
    assert [row[0] for row in first["rows"]] == list(range(10))
    assert first["rows"][1][3] == {"lazy": "blob", "label": "<blob>"}, "blobs are not fetched with the page"

    reply = widget.handle_message({"type": "page", "page": 2, "page_size": 10, "sort": [["value", "desc"]],
                                   "restriction": "", "request_id": "r1"})
    assert reply["request_id"] == "r1" and reply["type"] == "page"
    assert [row[0] for row in reply["rows"]] == list(range(36, 26, -1))
    assert reply["offset"] == 20

    reply = widget.handle_message({"type": "page", "page": 0, "page_size": 25, "sort": [],
                                   "restriction": "item_id >= 50 AND value < 55"})
    assert reply["total"] == 5 and reply["exact"] and [row[0] for row in reply["rows"]] == [50, 51, 52, 53, 54]

    last = widget.handle_message({"type": "page", "page": 5, "page_size": 10})
    assert [row[0] for row in last["rows"]] == list(range(50, 57))

    bad = widget.handle_message({"type": "page", "page": 0, "restriction": "no_such_column = 1", "request_id": "r2"})
    assert bad["request_id"] == "r2" and "no_such_column" in bad["error"]
    injected = widget.handle_message({"type": "page", "page": 0, "restriction": "1 = 1; DROP TABLE x"})
    assert "error" in injected
    assert len(pipeline.Item) == 57
    bad_sort = widget.handle_message({"type": "page", "page": 0, "sort": [["data", "asc"]]})
    assert "blob" in bad_sort["error"]


def test_browser_values_are_escaped_and_reprs_are_deterministic(pipeline):
    from dj_jupyter.jupyter import browse

    widget = browse(pipeline.Item & "item_id < 3", page_size=5)
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "&lt;b&gt;item 1&lt;/b&gt;" in bundle["text/html"] and "<b>item" not in bundle["text/html"]
    assert not re.search(r"0x[0-9a-f]{6,}", bundle["text/plain"])
    assert bundle["text/plain"] == repr(widget)
    assert "rows 1-3 of 3" in repr(widget)
    # the value travels as text: the front end puts it in textContent
    assert widget.initial_page["rows"][1][2] == "<b>item 1</b>"


def test_browser_blob_cells_preview_lazily(pipeline):
    from dj_jupyter.jupyter import browse

    widget = browse(pipeline.Item, page_size=5)
    page = widget.handle_message({"type": "page", "page": 1, "page_size": 5})
    cell = widget.handle_message({"type": "cell", "page_id": page["page_id"], "row": 1, "column": "data"})
    info = cell["info"]
    assert info["shape"] == [12, 2] and info["dtype"] == "float64" and info["codec"] == "blob"
    assert info["loadable"] and "<svg" in info["chunk_svg"]
    reply, buffers = widget.handle_message({"type": "sample", "page_id": page["page_id"], "row": 1, "column": "data"})
    assert reply["kind"] == "image" and buffers[0].startswith(b"\x89PNG")
    stale = widget.handle_message({"type": "cell", "page_id": "p999", "row": 0, "column": "data"})
    assert "no longer known" in stale["error"]


def test_browser_opens_a_large_table_with_one_bounded_query(pipeline, monkeypatch):
    """Opening fetches one page; the exact count runs later, off the user's connection."""
    from dj_jupyter.jupyter import browse, pager

    monkeypatch.setattr(pager, "SMALL", 20)  # treat the 57-row table as large
    connection = pipeline.Item.connection
    statements = []
    original = connection.query

    def spy(sql, *args, **kwargs):
        statements.append(sql)
        arguments.append(args[0] if args else ())
        return original(sql, *args, **kwargs)

    arguments = []

    monkeypatch.setattr(connection, "query", spy)
    widget = browse(pipeline.Item, page_size=10)
    reading = [s for s in statements if s.lstrip().upper().startswith("SELECT") and '"item_id"' in s.replace("`", '"')]
    assert reading, statements
    page_queries = [s for s in reading if "count(" not in s.lower()]
    assert len(page_queries) == 1 and "LIMIT" in page_queries[0] and "ORDER BY" in page_queries[0]
    assert tuple(arguments[statements.index(page_queries[0])])[-2:] == (10, 0), "LIMIT 10 OFFSET 0"
    for statement in reading:
        assert "LIMIT" in statement, f"unbounded read: {statement}"
    assert len(widget.initial_page["rows"]) == 10
    assert _wait(lambda: widget.count_state.get("exact") and widget.count_state.get("total") == 57)
    statements.clear()
    widget.handle_message({"type": "page", "page": 3, "page_size": 10})
    assert len([s for s in statements if "count(" not in s.lower() and not s.startswith("EXPLAIN")]) == 1, \
        "a page turn is one query"
    widget.close()


# ------------------------------------------------------------------------------------------------
# diagram
# ------------------------------------------------------------------------------------------------
def test_diagram_nodes_click_page_and_jobs(pipeline):
    from dj_jupyter.jupyter import DiagramWidget

    pipeline.Square.populate(reserve_jobs=True)
    widget = DiagramWidget(dj.Diagram(pipeline.schema), live=False)
    db = pipeline.schema.database
    ids = {n["id"] for n in widget.nodes}
    assert {f"{db}.item", f"{db}.__square", f"{db}.__cube", f"{db}.note"} <= ids
    assert [f"{db}.item", f"{db}.__square"] in widget.edges
    assert f'"{db}.__square"' in widget.dot or f"{db}.__square" in widget.dot
    square = next(n for n in widget.nodes if n["id"] == f"{db}.__square")
    assert square["status"]["done"] == 57 and square["status"]["total"] == 57

    node = widget.handle_message({"type": "node", "id": f"{db}.__square", "request_id": "n1"})
    assert node["request_id"] == "n1" and node["auto"] and node["has_jobs"]
    assert "-> " in node["definition"] and "square" in node["definition"]
    assert node["initial_page"]["total"] == 57 and len(node["initial_page"]["rows"]) == 10

    page = widget.handle_message({"type": "page", "target": f"{db}.__square", "page": 1, "page_size": 10})
    assert page["target"] == f"{db}.__square" and page["rows"][0][0] == 10
    jobs = widget.handle_message({"type": "page", "target": f"jobs:{db}.__square", "page": 0, "page_size": 10})
    assert "status" in [c["name"] for c in jobs["columns"]]
    hover = widget.handle_message({"type": "describe", "id": f"{db}.item"})
    assert "item_id" in hover["definition"]
    missing = widget.handle_message({"type": "node", "id": "nope.table"})
    assert "not a node" in missing["error"]
    assert not re.search(r"0x[0-9a-f]{6,}", repr(widget))
    assert "text/html" in widget._repr_mimebundle_()


def test_diagram_focus_collapse_and_refresh(pipeline):
    from dj_jupyter.jupyter import DiagramWidget

    widget = DiagramWidget(pipeline.schema, live=False)
    db = pipeline.schema.database
    focused = widget.handle_message({"type": "focus", "id": f"{db}.__square", "up": 0, "down": 1})
    assert set(focused["nodes"]) == {f"{db}.__square", f"{db}.__cube"}
    focused = widget.handle_message({"type": "focus", "id": f"{db}.__square", "up": 1, "down": 0})
    assert set(focused["nodes"]) == {f"{db}.__square", f"{db}.item"}
    widget.handle_message({"type": "focus", "id": None})
    assert len(widget.nodes) == 4

    widget.handle_message({"type": "collapse", "schema": db, "collapsed": True})
    assert widget.collapsed == [db]
    assert [n["tier"] for n in widget.nodes] == ["collapsed"]
    expanded = widget.handle_message({"type": "node", "id": db})
    assert expanded["expanded"] == db and widget.collapsed == [] and len(widget.nodes) == 4

    item = next(n for n in widget.nodes if n["id"] == f"{db}.item")
    assert item["status"]["rows"] == 57
    pipeline.Item.insert1(dict(item_id=100, value=1.0))
    widget.handle_message({"type": "refresh"})
    item = next(n for n in widget.nodes if n["id"] == f"{db}.item")
    assert item["status"]["rows"] == 58


def test_diagram_follows_populate_events_of_this_kernel(pipeline):
    from dj_jupyter.jupyter import DiagramWidget

    widget = DiagramWidget(pipeline.schema, interval=60, live=True)  # the timer alone would be too slow
    db = pipeline.schema.database
    try:
        pipeline.Square.populate()
        assert _wait(lambda: next(n for n in widget.nodes if n["id"] == f"{db}.__square")["status"]["done"] == 57,
                     timeout=20)
    finally:
        widget.close()
    assert widget._poller is None


# ------------------------------------------------------------------------------------------------
# progress panel
# ------------------------------------------------------------------------------------------------
def test_progress_panel_background_populate_stop_and_errors(pipeline):
    from dj_jupyter.jupyter import ProgressPanel

    pipeline.control["sleep"] = 0.03
    pipeline.control["fail"] = {3}
    panel = ProgressPanel(pipeline.Square, interval=0.2)
    try:
        assert panel.rows[0]["done"] == 0 and panel.rows[0]["total"] == 57
        panel.handle_message({"type": "start"})
        assert panel.running
        assert _wait(lambda: panel.rows[0]["done"] >= 8, timeout=30)
        assert len(pipeline.Item) == 57, "the notebook stays usable while populate runs"
        panel.handle_message({"type": "stop"})
        assert panel.wait(30)
        done = len(pipeline.Square)
        assert 8 <= done < 56, "stop lets the running make finish and starts no new one"
        jobs = pipeline.Square.jobs
        assert len(jobs & {"status": "reserved"}) == 0, "no job stays reserved after a stop"
        panel.refresh()
        assert panel.rows[0]["done"] == done and panel.rows[0]["error"] == 1
        assert "Stopped" in panel.message
        error = panel.errors[0]
        assert "item 3 is bad" in error["message"] and "item_id=3" in error["key"]
        stack = panel.handle_message({"type": "stack", "index": error["index"]})
        assert "Traceback" in stack["stack"] and "ValueError" in stack["stack"]

        panel.populate()
        assert panel.wait(60)
        panel.refresh()
        row = panel.rows[0]
        assert row["done"] == 56 and row["error"] == 1 and row["reserved"] == 0
        assert "Finished" in panel.message
        assert "(1 errors)" in repr(panel) and not re.search(r"0x[0-9a-f]{6,}", repr(panel))
        html = panel._repr_mimebundle_()["text/html"]
        assert "item 3 is bad" in html and "56/57" in html
    finally:
        panel.close()


def test_progress_panel_shows_work_of_other_connections(pipeline, tmp_path):
    """Rows follow the job tables: a worker on another connection shows up on the next poll."""
    from dj_jupyter.jupyter import ProgressPanel
    from dj_jupyter.jupyter.pager import side_connection

    pipeline.Square.jobs.refresh()
    panel = ProgressPanel(pipeline.Square, live=False)
    other = side_connection(pipeline.Item.connection)
    try:
        assert other is not pipeline.Item.connection
        jobs = dj.FreeTable(other, pipeline.schema.database, "~~square")
        square = dj.FreeTable(other, pipeline.schema.database, "__square")
        backend = other.backend
        other.query(f"UPDATE {jobs.full_table_name} SET {backend.quote('status')} = {backend.placeholder} WHERE "
                    f"{backend.quote('item_id')} < {backend.placeholder}", ("reserved", 5))
        square.insert([dict(item_id=i, square=float(i * i)) for i in range(5, 9)], allow_direct_insert=True)
        panel.refresh()
        row = panel.rows[0]
        assert row["reserved"] == 5 and row["done"] == 4
    finally:
        other.close()
        panel.close()


def test_progress_panel_in_a_separate_process(pipeline):
    from dj_jupyter.jupyter import ProgressPanel

    panel = ProgressPanel(pipeline.Square, pipeline.Cube, interval=0.2, background="process")
    try:
        panel.populate()
        assert panel.wait(120)
        assert _wait(lambda: [r["done"] for r in panel.rows] == [57, 57], timeout=10)
        assert len(pipeline.Cube) == 57, "the parent's connection still works"
    finally:
        panel.close()


# ------------------------------------------------------------------------------------------------
# delete preview
# ------------------------------------------------------------------------------------------------
def test_delete_preview_counts_cancel_and_delete(pipeline):
    from dj_jupyter.deletes import build_cascade
    from dj_jupyter.jupyter import delete_preview

    pipeline.Square.populate()
    pipeline.Cube.populate()
    doomed = pipeline.Item & "item_id < 3"
    expected = {k.replace('"', "").replace("`", ""): v for k, v in build_cascade(doomed).counts().items()}
    widget = delete_preview(doomed)
    db = pipeline.schema.database
    counts = widget.counts()
    assert counts == {k: v for k, v in expected.items() if k in counts}
    assert counts[f"{db}.item"] == 3 and counts[f"{db}.__square"] == 3 and counts[f"{db}.__cube"] == 3
    assert counts[f"{db}.note"] == 8  # notes 0,1,2,5,6,7,10,11 reference items 0..2 (n % 5 < 3)
    assert widget.delete_state["summary"].startswith("Delete 17 rows from 4 tables")
    node = widget.handle_message({"type": "node", "id": f"{db}.note"})
    assert node["initial_page"]["total"] == 8, "the side panel browses the rows that would go"

    cancelled = widget.handle_message({"type": "cancel"})
    assert "nothing was deleted" in cancelled["message"].lower() and len(pipeline.Item) == 57
    again = widget.handle_message({"type": "delete"})
    assert "already cancelled" in again["error"]

    widget = delete_preview(doomed)
    pipeline.Note.insert1(dict(note_id=99, item_id=1, text="added after the preview"))
    stale = widget.handle_message({"type": "delete"})
    assert "changed since this preview" in stale["error"] and len(pipeline.Note) == 13
    assert widget.counts()[f"{db}.note"] == 9 and widget.delete_state["state"] == "ready"
    pipeline.Note.delete_quick()
    pipeline.Note.insert([dict(note_id=n, item_id=n % 5, text=f"note {n}") for n in range(12)])
    widget = delete_preview(doomed)
    result = widget.handle_message({"type": "delete", "request_id": "d1"})
    assert result["request_id"] == "d1" and result["root_count"] == 3
    assert len(pipeline.Item) == 54 and len(pipeline.Square) == 54 and len(pipeline.Note) == 4
    assert widget.delete_state["state"] == "deleted" and "Deleted 17 rows" in widget.delete_state["message"]
    assert sum(widget.counts().values()) == 0, "the preview now shows nothing left to delete"


# ------------------------------------------------------------------------------------------------
# array previews
# ------------------------------------------------------------------------------------------------
def test_array_preview_kinds_and_bounded_samples(tmp_path):
    from dj_jupyter.jupyter import array_preview
    from dj_jupyter.jupyter.arrays import SAMPLE_ELEMENTS, chunk_svg

    line = array_preview(np.sin(np.linspace(0, 20, 50_000)), title="trace")
    assert line.info["shape"] == [50000] and line.info["load_label"] == "Load line plot"
    reply = line.handle_message({"type": "sample"})
    assert reply["kind"] == "line" and len(reply["values"]) == 1000 and "envelope" in reply["note"]

    image = array_preview(np.random.default_rng(0).random((1000, 700), dtype=np.float32))
    reply, buffers = image.handle_message({"type": "sample"})
    assert reply["kind"] == "image" and max(reply["width"], reply["height"]) <= 256
    assert buffers[0][:8] == b"\x89PNG\r\n\x1a\n"

    cube = array_preview(np.ones((30, 40, 50, 2)))
    reply = cube.handle_message({"type": "sample"})
    assert reply["kind"] == "histogram" and sum(reply["counts"]) == 120000

    svg = chunk_svg((1000, 1000), (100, 250))
    assert svg.count("<line") == 9 + 3
    assert "leading axes" in chunk_svg((4, 5, 6, 7), (1, 5, 6, 7))
    assert "ArrayPreview(trace: shape=(50000,), dtype=float64" in repr(line)
    assert "<svg" in line._repr_mimebundle_()["text/html"]
    assert SAMPLE_ELEMENTS <= 1_000_000


def test_array_preview_of_zarr_and_hdf5_reads_metadata_only(tmp_path):
    from dj_jupyter.jupyter import array_preview

    import zarr as zarr
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=(4000, 3000), chunks=(1000, 500), dtype="int16")
    z[:] = 7
    preview = array_preview(z)
    assert preview.info["chunks"] == [1000, 500] and preview.info["shape"] == [4000, 3000]
    assert preview.info["chunk_svg"].count("<line") == 3 + 5
    reply, buffers = preview.handle_message({"type": "sample"})
    assert reply["kind"] == "image" and "sample of" in reply["note"]

    import h5py as h5py
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("x", data=np.arange(3 * 400 * 500).reshape(3, 400, 500), chunks=(1, 100, 100),
                         compression="gzip")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        preview = array_preview(f["x"])
        assert preview.info["chunks"] == [1, 100, 100] and preview.info["compressor"] == "gzip"
        assert preview.info["path"] == "/x" and "size_text" in preview.info
        reply = preview.handle_message({"type": "sample"})
        assert reply["kind"] == "histogram"


def test_npy_values_open_without_store_reads(conn, tmp_path):
    """<npy@> cells show shape/dtype/size from the row's metadata; data is read only on the click."""
    from tests.object_stores import store_env

    from dj_jupyter.jupyter import browse

    with store_env("local", tmp_path, None) as env:
        schema = dj.Schema("w_" + uuid.uuid4().hex[:10], {}, connection=conn)
        try:
            @schema
            class Recording(dj.Manual):
                definition = """
                rec_id : int32
                ---
                trace : <npy@>
                """

            Recording.insert([dict(rec_id=i, trace=np.arange(100.0 * (i + 1)).reshape(i + 1, 100)) for i in range(30)])
            fs = env.instrument()
            widget = browse(Recording, page_size=10)
            cell = widget.initial_page["rows"][2][1]
            assert cell["lazy"] == "object" and "3×100" in cell["label"] and "float64" in cell["label"]
            info = widget.handle_message({"type": "cell", "page_id": widget.initial_page["page_id"], "row": 2,
                                          "column": "trace"})["info"]
            assert info["shape"] == [3, 100] and info["dtype"] == "float64" and info["codec"].startswith("npy")
            assert info["path"] and info["size_text"]
            assert fs.reads == 0, "opening the browser and the preview read no object"
            reply, buffers = widget.handle_message({"type": "sample", "page_id": widget.initial_page["page_id"],
                                                    "row": 2, "column": "trace"})
            assert reply["kind"] == "image"
        finally:
            env.uninstrument()
            schema.drop(prompt=False, force=True)


# ------------------------------------------------------------------------------------------------
# the display seam and the protocol
# ------------------------------------------------------------------------------------------------
def test_display_seam(pipeline):
    from dj_jupyter.jupyter import display

    for kind in ("table_browser", "diagram", "progress_panel", "jobs", "status", "browse", "delete_preview"):
        assert callable(display.get_view(kind))
    widget = display.get_view("table_browser")(pipeline.Item, limit=5, order_by="value DESC")
    assert [row[0] for row in widget.initial_page["rows"]] == [56, 55, 54, 53, 52]
    panel = display.get_view("progress_panel")(pipeline.Square, restrictions=(), reserve_jobs=True, processes=1,
                                                live=False)
    assert panel.rows[0]["total"] == 57
    panel.close()
    assert display.get_view("nonsense") is None


def test_unknown_messages_and_threads_are_harmless(pipeline):
    from dj_jupyter.jupyter import browse

    widget = browse(pipeline.Item)
    widget.record_messages = True
    reply = widget.handle_message({"type": "launch_missiles", "request_id": "x"})
    assert "unknown message type" in reply["error"] and widget.sent[-1][0]["request_id"] == "x"
    results = []
    threads = [threading.Thread(target=lambda p=p: results.append(
        widget.handle_message({"type": "page", "page": p, "page_size": 5}))) for p in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["rows"][0][0] for r in results) == [0, 5, 10, 15, 20, 25]


# ------------------------------------------------------------------------------------------------
# the magics through the real widget layer
# ------------------------------------------------------------------------------------------------
def test_magics_show_the_widgets(connected, schema_name, monkeypatch):
    """%dj populate shows the progress panel, a query cell the table browser, %dj diagram the diagram."""
    from kernel_magics import display as views
    from tests.jupyter.cells import declare_pipeline, fill

    from dj_jupyter.jupyter.browser import TableBrowser
    from dj_jupyter.jupyter.diagram import DiagramWidget
    from dj_jupyter.jupyter.progress import ProgressPanel

    from dj_jupyter.jupyter.display import get_view

    monkeypatch.setattr(views, "find_view", get_view)  # the conftest shows plain views; here the real widgets
    declare_pipeline(connected, schema_name)
    fill(connected)
    shown = []
    import IPython.display

    original = IPython.display.display
    for module in ("magics", "populate_commands", "declarations"):  # each subcommand module displays its own results
        monkeypatch.setattr(f"kernel_magics.{module}.display",
                            lambda *objs, **kw: (shown.extend(objs), original(*objs, **kw)))
    connected("%dj populate SessionStats")
    panel = next(o for o in shown if isinstance(o, ProgressPanel))
    panel.refresh()
    assert panel.rows[0]["done"] == panel.rows[0]["total"] == 4
    connected("""%%dj
Session & 'session_date > "2024-03-01"'""")
    browser = next(o for o in shown if isinstance(o, TableBrowser))
    assert browser.initial_page["total"] == 2 and browser.initial_page["exact"]
    connected("%dj diagram")
    diagram = next(o for o in shown if isinstance(o, DiagramWidget))
    assert any(n["id"].endswith("__session_stats") for n in diagram.nodes)
    for widget in (panel, browser, diagram):
        widget.close()
