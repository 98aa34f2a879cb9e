"""A read-only database account (SELECT only) browses everything and gets AccessError for every write.

On PostgreSQL and MariaDB the owner declares and fills a small pipeline (with a job table and
stored objects); a second account gets SELECT on that schema and nothing else. Through that
account: virtual schema, previews (repr, HTML), fetches, joins, aggregation, describe, the
table browser widget's messages, the diagram with its status and the progress panel's read,
and the %dj magics all work; insert, insert1, update1, populate (direct and reserved),
delete, delete_quick, drop and the magics' populate/delete raise AccessError (a
DataJointError) with a clear message, never another exception or a raw driver traceback.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter.errors import AccessError, DataJointError
from tests.reliability import helpers

pytestmark = pytest.mark.timeout(300)


def _grant_read_only(engine: str, schema: str, user: str, password: str) -> None:
    raw = helpers.raw_connection(engine)
    try:
        cursor = raw.cursor()
        if engine == "postgresql":
            cursor.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
            cursor.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {user}')
            cursor.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {user}')
        else:
            for host in ("%", "localhost"):
                cursor.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
                cursor.execute(f"GRANT SELECT ON `{schema}`.* TO '{user}'@'{host}'")
    finally:
        raw.close()


def _drop_user(engine: str, user: str, schema: str) -> None:
    raw = helpers.raw_connection(engine)
    try:
        cursor = raw.cursor()
        if engine == "postgresql":
            cursor.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {user}')
            cursor.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM {user}')
            cursor.execute(f"DROP ROLE {user}")
        else:
            for host in ("%", "localhost"):
                cursor.execute(f"DROP USER '{user}'@'{host}'")
    except Exception as error:  # noqa: BLE001 - cleanup
        print(f"could not drop {user}: {error}")
    finally:
        raw.close()


@helpers.engines_param("postgresql", "mysql")
def test_read_only_account(engine, tmp_path, use_stores):
    use_stores({"protocol": "file", "location": str(tmp_path / "store")})
    owner = helpers.connect(engine)
    name = "r_ro" + uuid.uuid4().hex[:8]
    schema = dj.Schema(name, connection=owner)
    user = "ro_" + uuid.uuid4().hex[:6]
    password = helpers.SECRETS[f"readonly_{engine}"]
    reader = None
    try:
        @schema
        class Subject(dj.Manual):
            definition = """
            subject_id : int32
            ---
            species : varchar(32)
            """

        @schema
        class Session(dj.Manual):
            definition = """
            -> Subject
            session : int16
            ---
            trace : <npy@>
            """

        @schema
        class Stats(dj.Computed):
            definition = """
            -> Session
            ---
            mean : float64
            """

            def make(self, key):
                self.insert1(dict(key, mean=float((Session & key).fetch1("trace").load().mean())))

        Subject.insert([(1, "mouse"), (2, "rat")])
        Session.insert([(s, k, np.arange(4.0) * k) for s in (1, 2) for k in range(3)])
        Stats.populate({"subject_id": 1}, reserve_jobs=True)  # declares the job table; keys of subject 2 remain
        _grant_read_only(engine, name, user, password)
        reader = helpers.connect(engine, user=user, password=password)

        # ---- reading: everything works -----------------------------------------------------------------
        module = dj.virtual_schema(name, connection=reader)
        reads = {}
        reads["len"] = (len(module.Subject), len(module.Session), len(module.Stats))
        reads["repr"] = len(repr(module.Session)) > 0 and len(module.Session()._repr_html_()) > 0
        reads["join+restrict"] = len(module.Session * module.Subject & 'species = "mouse"')
        reads["aggr"] = module.Subject.aggr(module.Session, n="count(*)").to_dicts()
        reads["fetch object"] = float((module.Session & {"subject_id": 2, "session": 2}).fetch1("trace").load().sum())
        reads["describe"] = "-> " in module.Session.describe()
        reads["progress"] = module.Stats.progress()
        reads["jobs"] = module.Stats.jobs.progress()
        from dj_jupyter.jupyter import browse, diagram_widget, progress_panel

        browser = browse(module.Session * module.Subject, page_size=5)
        page = browser.handle_message({"type": "page", "page": 1, "page_size": 2}, [])
        count = browser.handle_message({"type": "count"}, [])
        assert "error" not in page and "error" not in count, (page, count)
        reads["browser"] = (len(page["rows"]), browser._repr_mimebundle_() is not None)
        browser.close()
        diagram = diagram_widget(dj.Diagram(module.schema), live=False)
        node = diagram.handle_message({"type": "node", "id": f"{name}.__stats"}, [])
        assert "error" not in node, node
        statuses = {n["id"]: n["status"] for n in diagram.nodes}
        reads["diagram status"] = statuses[f"{name}.__stats"]
        diagram.close()
        panel = progress_panel(module.Stats, live=False)
        reads["progress panel"] = [(r["done"], r["total"]) for r in panel.rows]
        panel.close()
        assert reads["len"] == (2, 6, 3) and reads["progress"] == (3, 6)

        # ---- writing: AccessError, clear message ------------------------------------------------------
        denied = {}

        def expect_denied(label, action):
            with pytest.raises(DataJointError) as caught:
                action()
            error = caught.value
            assert isinstance(error, AccessError), f"{label}: {type(error).__name__}: {error}"
            text = str(error)
            assert "denied" in text.lower() or "permission" in text.lower() or "privilege" in text.lower(), text
            assert password not in text
            denied[label] = text.splitlines()[0][:90]

        expect_denied("insert1", lambda: module.Subject.insert1((3, "bat")))
        expect_denied("insert", lambda: module.Subject.insert([(4, "cat"), (5, "dog")]))
        expect_denied("update1", lambda: module.Subject.update1({"subject_id": 1, "species": "vole"}))
        expect_denied("delete", lambda: (module.Subject & {"subject_id": 2}).delete(prompt=False))
        expect_denied("delete_quick", lambda: (module.Session & {"subject_id": 2}).delete_quick())
        expect_denied("drop", lambda: module.Stats.drop(prompt=False) if _drop_takes_prompt() else
                      module.Stats.drop())
        reader_stats = _stats_class(module, Session_name="session", schema_name=name, connection=reader)
        expect_denied("populate", lambda: reader_stats.populate())
        expect_denied("populate reserve_jobs", lambda: reader_stats.populate(reserve_jobs=True))
        suppressed = reader_stats.populate(suppress_errors=True)
        assert suppressed["success_count"] == 0 and all("denied" in str(m).lower() or "permission" in str(m).lower()
                                                         for _, m in suppressed["error_list"]), suppressed
        magic = _magic_session(reader, name, reader_stats)
        # nothing changed
        assert (len(Subject()), len(Session()), len(Stats())) == (2, 6, 3)
        helpers.report(f"[read-only {engine}] account {user} with SELECT only: reads {reads}; denied with AccessError: "
              f"{len(denied)} writes {denied}; populate(suppress_errors) -> {len(suppressed['error_list'])} errors "
              f"naming the privilege; magics {magic}; the data is unchanged")
    finally:
        if reader is not None:
            reader.close()
        _drop_user(engine, user, name)
        schema.drop(prompt=False, force=True)
        owner.close()


def _drop_takes_prompt() -> bool:
    import inspect

    return "prompt" in inspect.signature(dj.Table.drop).parameters


def _stats_class(module, Session_name, schema_name, connection):
    """The Stats computed table with its make(), bound to the read-only connection (as a notebook would)."""
    schema = dj.Schema(schema_name, connection=connection, create_schema=False, create_tables=False)
    Session = module.Session

    @schema
    class Stats(dj.Computed):
        definition = """
        -> Session
        ---
        mean : float64
        """

        def make(self, key):
            self.insert1(dict(key, mean=float((Session & key).fetch1("trace").load().mean())))

    return Stats


def _magic_session(connection, schema_name, stats) -> dict:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from dj_jupyter import connection as connection_module

    shell = InteractiveShell.instance()
    if "DJMagic" not in shell.magics_manager.registry:
        shell.run_line_magic("load_ext", "dj_jupyter")
    saved = connection_module._global.get("connection")
    connection_module._global["connection"] = connection
    results = {}
    try:
        for stale in ("Subject", "Session", "Stats", "ro_schema"):
            shell.user_ns.pop(stale, None)
        shell.run_cell(f"%dj schema {schema_name} --spawn --as ro_schema")
        shell.user_ns["Stats"] = stats  # the notebook's own class, with its make()
        for source, should_work in (("%dj query Session * Subject", True), ("%dj describe Session", True),
                                    ("%dj status ro_schema", True), ("%dj jobs Stats", True),
                                    ("%dj populate Stats", False), ("%dj delete Subject & 'subject_id = 2' --confirm",
                                                                     False)):
            with capture_output(display=True) as captured:
                result = shell.run_cell(source)
            error = result.error_in_exec or result.error_before_exec
            text = captured.stdout + captured.stderr
            if should_work:
                assert error is None, f"{source}: {type(error).__name__}: {error}"
                results[source] = "ok"
            else:
                assert isinstance(error, DataJointError), f"{source}: {type(error).__name__}: {error}"
                assert "Traceback" not in text, text
                results[source] = type(error).__name__
    finally:
        if saved is not None:
            connection_module._global["connection"] = saved
        else:
            connection_module._global.pop("connection", None)
    return results
