"""Passwords and keys never appear in reprs, logs, error messages, saved notebooks or job error stacks.

Runs last in tests/reliability (file order). The servers' passwords and the S3 secret key are
distinctive strings (helpers.SECRETS). This test provokes the places where secrets leak in
practice (wrong-password logins, lost connections and reconnects, failing makes that touch
connections, config files, a saved notebook, DEBUG logging of S3 traffic), then greps
everything the reliability run captured: pytest's captured stdout/stderr/log of every
reliability test so far, every file under capture_dir (worker and server-process output,
atheris and JupyterLab logs, the notebook written here), and the database and S3 servers' logs.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
import uuid
from pathlib import Path

import pytest

import dj_jupyter as dj
from dj_jupyter.errors import DataJointError
from tests.reliability import helpers

pytestmark = pytest.mark.timeout(300)


def _secrets() -> dict[str, str]:
    found = dict(helpers.SECRETS)
    found.update({f"wrong {k}": v[::-1] for k, v in helpers.SECRETS.items()})  # the wrong passwords tried below
    found["typed on the %dj line"] = "TypedOnTheLine-" + helpers.SECRETS["postgresql"][::-1][:8]
    return found


def _leaks(text: str, where: str) -> list[str]:
    return [f"{name} in {where}" for name, secret in _secrets().items() if secret and secret in text]


def test_secrets_never_leak(tmp_path, capture_dir, captured_reports, capfd, caplog, use_stores):
    secrets = _secrets()
    leaks: list[str] = []
    checked: dict[str, int] = {}
    caplog.set_level(logging.DEBUG)
    s3 = helpers.s3_store_spec()
    use_stores(s3)
    for engine in helpers.SERVER_ENGINES:
        srv = helpers.server(engine)
        # ---- wrong password: error message, repr, traceback -------------------------------------------
        with pytest.raises(DataJointError) as caught:
            helpers.connect(engine, password=secrets[engine][::-1])
        error = caught.value
        text = "\n".join([str(error), repr(error), "".join(traceback.format_exception(error)), error.hint or ""])
        assert "password" in text.lower() or "denied" in text.lower() or "authentication" in text.lower(), text
        leaks += _leaks(text, f"{engine} wrong-password error")
        checked[f"{engine} wrong-password error"] = len(text)
        # ---- a good connection: reprs, info, lost connection + reconnect ---------------------------------
        connection = helpers.connect(engine)
        shown = "\n".join([repr(connection), str(connection), json.dumps(connection.conn_info, default=str),
                           connection.target, repr(vars(connection).get("_settings"))])
        leaks += _leaks(shown, f"{engine} connection repr/conn_info")
        _kill_server_side(engine, connection)
        assert connection.query("SELECT 1").fetchone()[0] == 1  # reconnects (logged)
        # ---- a failing make: its job error stack ----------------------------------------------------------
        schema = dj.Schema("r_sec" + uuid.uuid4().hex[:6], connection=connection)
        try:
            stacks = _failing_makes(schema, engine, srv)
            for message, stack in stacks:
                leaks += _leaks(f"{message}\n{stack}", f"{engine} job error stack")
            checked[f"{engine} job error stacks"] = len(stacks)
        finally:
            schema.drop(prompt=False, force=True)
            connection.close()
    # ---- configuration: repr, save, sources, store objects ---------------------------------------------
    with dj.config.override({"database.password": secrets["postgresql"]}):
        config_text = repr(dj.config) + json.dumps(dj.config.describe_sources())
        saved = tmp_path / "datajoint.json"
        dj.config.save(saved)
        config_text += saved.read_text()
        from dj_jupyter.storage.stores import get_store

        store = get_store("main")
        config_text += repr(store) + str(store.url("x/y")) + repr(dj.config.get_store_spec("main").keys())
        store.write_bytes("probe/secret-check", b"x")  # S3 traffic with DEBUG logging on
        assert store.read_bytes("probe/secret-check") == b"x"
        store.remove("probe/secret-check")
    leaks += _leaks(config_text, "dj.config repr/save/describe_sources, Store repr/url")
    # ---- a notebook: %dj connect with the password from dj.config, saved with nbformat ------------------
    notebook = _notebook(tmp_path, capture_dir)
    leaks += _leaks(notebook.read_text(), "saved notebook")
    # ---- everything captured in this run ---------------------------------------------------------------
    out, err = capfd.readouterr()
    leaks += _leaks(out + err, "this test's stdout/stderr")
    records = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records)
    leaks += _leaks(records, "log records (DEBUG, all loggers)")
    checked["log records"] = len(caplog.records)
    for where, text in captured_reports:
        leaks += _leaks(text, f"pytest capture of {where}")
    checked["pytest captured sections"] = len(captured_reports)
    files = 0
    for path in Path(capture_dir).rglob("*"):
        if path.is_file():
            files += 1
            leaks += _leaks(path.read_bytes().decode("utf-8", "replace"), f"file {path.name}")
    checked["captured files"] = files
    for kind in ("postgresql", "mysql", "s3"):
        srv = helpers._servers.get(kind)
        if srv is None:
            continue
        for log in {srv.log_path, srv.error_log_path} - {None}:
            if os.path.exists(log):
                text = Path(log).read_bytes().decode("utf-8", "replace")
                leaks += _leaks(text, f"{kind} server log {Path(log).name}")
                checked[f"{kind} {Path(log).name} bytes"] = len(text)
    assert not leaks, "secrets leaked:\n" + "\n".join(sorted(set(leaks)))
    helpers.report(f"[secrets] {len(secrets)} distinctive secrets (server passwords, read-only passwords, S3 secret key, "
          f"the wrong passwords tried, a password typed on a %dj line) found nowhere: {checked}")


def _kill_server_side(engine: str, connection) -> None:
    raw = helpers.raw_connection(engine)
    try:
        cursor = raw.cursor()
        if engine == "postgresql":
            cursor.execute("SELECT pg_terminate_backend(%s)", (connection.connection_id,))
        else:
            cursor.execute(f"KILL {int(connection.connection_id)}")
    finally:
        raw.close()


def _failing_makes(schema, engine, srv) -> list[tuple[str, str]]:
    password = helpers.SECRETS[engine]

    @schema
    class Source(dj.Manual):
        definition = """
        source_id : int32
        """

    @schema
    class Derived(dj.Computed):
        definition = """
        -> Source
        ---
        value : float64
        """

        def make(self, key):
            if key["source_id"] == 0:  # a login to another server fails inside make()
                dj.Connection(srv.host, srv.user, password[::-1], srv.port, backend=engine)
            if key["source_id"] == 1:  # an error that shows the connection
                raise RuntimeError(f"failed on {self.connection!r} {self.connection.conn_info}")
            if key["source_id"] == 2:  # a lost connection inside the transaction
                _kill_server_side(engine, self.connection)
                self.insert1(dict(key, value=1.0))
            raise ValueError(f"config is {dj.config!r}")

    Source.insert([(i,) for i in range(4)])
    Derived.populate(reserve_jobs=True, suppress_errors=True)
    Derived.populate(reserve_jobs=True, suppress_errors=True)  # the released key 2 again
    return [(job["error_message"], job["error_stack"] or "") for job in Derived.jobs.errors.to_dicts()]


def _notebook(tmp_path, capture_dir) -> Path:
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from dj_jupyter import connection as connection_module

    engine = "postgresql" if "postgresql" in helpers.SERVER_ENGINES else helpers.SERVER_ENGINES[0]
    srv = helpers.server(engine)
    shell = InteractiveShell.instance()
    if "DJMagic" not in shell.magics_manager.registry:
        shell.run_line_magic("load_ext", "dj_jupyter")
    saved = connection_module._global.pop("connection", None)
    typed = _secrets()["typed on the %dj line"]
    cells = [
        (f"%dj connect --backend {engine} --host {srv.host} --port {srv.port} --user {srv.user}", True),
        ("import dj_jupyter as dj\ndj.conn()", True),
        ("dj.config", True),
        ("print(dj.conn().conn_info)", True),
        ("%dj schema r_nbsecret", True),
        ("%%dj manual Item\nitem : int32\n---\nnote = '' : varchar(20)\n", True),
        ("%dj query Item", True),
        (f"%dj connect --backend {engine} --host {srv.host} --password {typed}", False),
        (f"%dj connect --backend {engine} --host {srv.host} --port {srv.port} --user nobody_{uuid.uuid4().hex[:4]}",
         True),
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    try:
        with dj.config.override({"database.password": helpers.SECRETS[engine]}):
            for count, (source, keep_source) in enumerate(cells, start=1):
                with capture_output(display=True) as captured:
                    result = shell.run_cell(source, store_history=False)
                outputs = []
                if captured.stdout:
                    outputs.append(nbformat.v4.new_output("stream", name="stdout", text=captured.stdout))
                if captured.stderr:
                    outputs.append(nbformat.v4.new_output("stream", name="stderr", text=captured.stderr))
                for output in captured.outputs:
                    outputs.append(nbformat.v4.new_output("display_data", data=dict(output.data)))
                error = result.error_in_exec or result.error_before_exec
                if error is not None:  # what IPython shows for it is in the captured streams above
                    outputs.append(nbformat.v4.new_output("error", ename=type(error).__name__, evalue=str(error),
                                                          traceback=[]))
                cell = nbformat.v4.new_code_cell(source if keep_source else "%dj connect ... (typed password)",
                                                 execution_count=count)
                cell.outputs = outputs
                notebook.cells.append(cell)
        owner = helpers.connect(engine)
        try:
            if owner.backend.schema_exists(owner, "r_nbsecret"):
                dj.Schema("r_nbsecret", connection=owner).drop(prompt=False, force=True)
        finally:
            owner.close()
    finally:
        current = connection_module._global.pop("connection", None)
        if current is not None:
            current.close()
        if saved is not None:
            connection_module._global["connection"] = saved
    path = capture_dir / "secrets-notebook.ipynb"
    nbformat.write(notebook, str(path))
    return path
