"""The kernel side of the JupyterLab pipeline sidebar (``dj_jupyter.jupyter.sidebar``).

The front end's messages are sent as the labextension sends them (``{request, id}`` over
the ``dj_jupyter.pipeline`` comm); the replies and the database effects are checked on
every engine. The model must cost a fixed number of queries per schema.
"""

from __future__ import annotations

import pytest

import dj_jupyter as dj
from dj_jupyter.jupyter import sidebar


def declare(schema):
    @schema
    class Species(dj.Lookup):
        definition = """
        species : varchar(32)
        ---
        common_name : varchar(32)
        """
        contents = [("Mus musculus", "mouse"), ("Rattus norvegicus", "rat")]

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        -> Species
        """

    @schema
    class Segmentation(dj.Computed):
        definition = """
        -> Subject
        ---
        n_rois : int16
        """

        class Roi(dj.Part):
            definition = """
            -> master
            roi : int16
            """

        def make(self, key):
            if key["subject_id"] == 3:
                raise ValueError("no cells in this recording")
            self.insert1(dict(key, n_rois=2))
            self.Roi.insert([dict(key, roi=r) for r in range(2)])

    return Species, Subject, Segmentation


@pytest.fixture
def pipeline(make_schema):
    schema = make_schema()
    Species, Subject, Segmentation = declare(schema)
    Subject.insert([(1, "Mus musculus"), (2, "Rattus norvegicus"), (3, "Mus musculus")])
    Segmentation.populate(reserve_jobs=True, suppress_errors=True)
    namespace = {"schema": schema, "Species": Species, "Subject": Subject, "Segmentation": Segmentation}
    return schema, namespace


class QueryCounter:
    def __init__(self, connection, monkeypatch):
        self.count = 0
        original = connection.query

        def query(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(connection, "query", query)


def test_model_lists_tiers_counts_and_jobs_in_two_queries(pipeline, connection, monkeypatch):
    schema, namespace = pipeline
    counter = QueryCounter(connection, monkeypatch)
    reply = sidebar.handle_request({"request": "model", "id": "r7"}, namespace)
    assert counter.count == 2, "one catalog listing and one UNION ALL count per schema"
    assert reply["reply"] == "model" and reply["id"] == "r7" and reply["connected"] is True
    assert "password" not in str(reply).lower()
    [model] = [s for s in reply["schemas"] if s["name"] == schema.database]
    assert model["error"] is None
    tables = {t["name"]: t for t in model["tables"]}
    assert list(tables) == ["#species", "subject", "__segmentation", "__segmentation__roi"]
    assert {name: (t["class_name"], t["tier"], t["rows"]) for name, t in tables.items()} == {
        "#species": ("Species", "lookup", 2),
        "subject": ("Subject", "manual", 3),
        "__segmentation": ("Segmentation", "computed", 2),
        "__segmentation__roi": ("Segmentation.Roi", "part", 4),
    }
    assert tables["__segmentation__roi"]["master"] == "__segmentation"
    assert tables["__segmentation"]["jobs"] == {"pending": 0, "reserved": 0, "error": 1, "success": 2, "ignore": 0}
    assert tables["subject"]["jobs"] is None


def test_model_queries_grow_per_schema_not_per_table(pipeline, make_schema, connection, monkeypatch):
    schema, namespace = pipeline
    other = make_schema()

    @other
    class Extra(dj.Manual):
        definition = """
        extra_id : int32
        """

    counter = QueryCounter(connection, monkeypatch)
    model = sidebar.pipeline_model({**namespace, "other": other})
    names = {s["name"] for s in model["schemas"]}
    assert {schema.database, other.database} <= names
    assert counter.count == 2 * len(names)


def test_counts_pause_while_a_transaction_is_open(pipeline, connection):
    schema, namespace = pipeline
    connection.start_transaction()
    try:
        model = sidebar.schema_model(connection, schema.database)
    finally:
        connection.cancel_transaction()
    assert "transaction" in model["error"]
    assert all(t["rows"] is None for t in model["tables"])


def test_hello_unknown_and_failing_requests():
    hello = sidebar.handle_request({"request": "hello", "id": "hello"})
    assert hello == {"reply": "hello", "version": dj.__version__, "target": sidebar.TARGET, "id": "hello"}
    unknown = sidebar.handle_request({"request": "drop everything", "id": 3})
    assert unknown["reply"] == "error" and unknown["id"] == 3 and "unknown request" in unknown["error"]
    assert sidebar.handle_request("junk")["reply"] == "error"


def test_model_without_a_connection(monkeypatch):
    from dj_jupyter import connection as connection_module

    monkeypatch.setattr(connection_module, "_global", {})
    reply = sidebar.handle_request({"request": "model", "id": 1}, {})
    assert reply["connected"] is False and reply["schemas"] == []
    assert "connect" in reply["message"]


class FakeComm:
    def __init__(self):
        self.sent = []
        self.handler = None

    def send(self, data):
        self.sent.append(data)

    def on_msg(self, handler):
        self.handler = handler


class FakeManager:
    def __init__(self):
        self.targets = {}

    def register_target(self, name, callback):
        self.targets[name] = callback


def test_comm_target_answers_the_front_end(pipeline, monkeypatch):
    import comm as comm_package

    schema, namespace = pipeline
    manager = FakeManager()
    monkeypatch.setattr(comm_package, "get_comm_manager", lambda: manager)
    shell = type("Shell", (), {"kernel": object(), "user_ns": namespace})()
    assert sidebar.register_comm_target(shell) is True
    open_comm = manager.targets[sidebar.TARGET]

    channel = FakeComm()
    open_comm(channel, {"content": {"data": {"request": "hello", "id": "hello"}}})
    assert channel.sent[-1]["reply"] == "hello"
    channel.handler({"content": {"data": {"request": "model", "id": "r1"}}})
    reply = channel.sent[-1]
    assert reply["id"] == "r1" and schema.database in {s["name"] for s in reply["schemas"]}


def test_no_comm_target_outside_a_kernel():
    from IPython.core.interactiveshell import InteractiveShell

    assert sidebar.register_comm_target(InteractiveShell.instance()) is False


def test_browse_shows_the_table(pipeline, monkeypatch):
    schema, namespace = pipeline
    view = sidebar.browse(f"{schema.database}.subject", namespace)
    assert "Subject" in repr(view) or "Subject" in getattr(view, "data", "")
    monkeypatch.setattr(sidebar, "_view", lambda kind: None)
    html = sidebar.browse(f"{schema.database}.subject", namespace).data
    assert "Rattus norvegicus" in html and "3 rows" in html
    with pytest.raises(dj.DataJointError, match="not a full table name"):
        sidebar.browse("subject", namespace)
    with pytest.raises(dj.DataJointError, match="No known connection"):
        sidebar.browse("no_such_schema.subject", namespace)


def test_diagram_and_its_fallback(pipeline, monkeypatch):
    schema, namespace = pipeline
    view = sidebar.diagram(schema.database, namespace)
    assert view is not None
    monkeypatch.setattr(sidebar, "_diagram_class", lambda: None)
    listing = sidebar.diagram(schema.database, namespace).data
    assert "Segmentation.Roi" in listing and "&larr; __segmentation" in listing


def test_jobs_view_lists_errors(pipeline, monkeypatch):
    schema, namespace = pipeline
    monkeypatch.setattr(sidebar, "_view", lambda kind: None)
    html = sidebar.jobs(f"{schema.database}.__segmentation", namespace, ipython=None).data
    assert "Segmentation" in html and "no cells in this recording" in html
    every = sidebar.jobs(None, namespace, ipython=None).data
    assert "Segmentation" in every and "Subject" not in every


def test_populate_without_the_magics(pipeline):
    schema, namespace = pipeline
    Subject = namespace["Subject"]
    Subject.insert1((4, "Rattus norvegicus"))
    result = sidebar.populate("Segmentation", namespace, ipython=None)
    assert result["success_count"] == 1
    assert len(namespace["Segmentation"]()) == 3
    with pytest.raises(dj.DataJointError, match="not defined"):
        sidebar.populate("Nope", namespace, ipython=None)


def test_show_reports_datajoint_errors_briefly(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    sidebar.show("browse", "not_a_full_name")
    assert "DataJointError" in shown[0].data and "schema.table" in shown[0].data
    with pytest.raises(dj.DataJointError, match="Unknown view"):
        sidebar.show("drop", None)


def test_large_schemas_are_counted_in_chunks(pipeline, connection, monkeypatch):
    """SQLite caps compound selects at 500 branches: the count query is split past MAX_UNION."""
    schema, namespace = pipeline
    expected = sidebar.schema_model(connection, schema.database)
    monkeypatch.setattr(sidebar, "MAX_UNION", 2)
    counter = QueryCounter(connection, monkeypatch)
    assert sidebar.schema_model(connection, schema.database) == expected
    assert counter.count == 1 + 3  # the listing, then 5 branches (4 tables and 1 job table) in 3 chunks


def test_views_through_the_magics(connected, schema_name):
    """What the front end executes, run in a shell with %load_ext dj_jupyter: populate and jobs use %dj."""
    ipy = connected
    ipy(f"%dj schema {schema_name}")
    ipy("def count(self, key):\n    if key['subject_id'] == 2:\n        raise ValueError('no cells for rats')\n"
        "    self.insert1({**key, 'n_rois': 1})\n")
    ipy("%%dj manual Subject\nsubject_id : int32\n")
    ipy("%%dj computed Segmentation --make count\n-> Subject\n---\nn_rois : int16\n")
    ipy("Subject.insert([(1,), (2,), (3,)])")
    show = '__import__("dj_jupyter.jupyter.sidebar", fromlist=["show"]).show'
    ran = ipy(f'{show}("populate", "Segmentation")')
    assert "Segmentation: 2 keys made, 1 error; 2 of 3 done." in ran.stdout, ran.text
    assert "no cells for rats" in ran.text
    ran = ipy(f'{show}("jobs", "Segmentation")')
    assert "error 1" in ran.text and "success 2" in ran.text
    reply = sidebar.handle_request({"request": "model", "id": "m"}, ipy.ns)
    [model] = [s for s in reply["schemas"] if s["name"] == schema_name]
    rows = {t["class_name"]: (t["rows"], t["jobs"]) for t in model["tables"]}
    assert rows["Subject"] == (3, None)
    assert rows["Segmentation"][0] == 2 and rows["Segmentation"][1]["error"] == 1
    ran = ipy(f'{show}("browse", "{schema_name}.subject")')
    assert ran.displays, ran.text
