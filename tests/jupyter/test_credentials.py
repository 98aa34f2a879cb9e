"""The database password never shows: not in outputs, not in the saved notebook, not in history."""

from __future__ import annotations

import getpass

import nbformat
import pytest

import dj_jupyter as dj
from tests.conftest import BACKENDS, connection_settings
from tests.jupyter.cells import declare_pipeline, fill

SERVER_BACKENDS = tuple(b for b in ("postgresql",) if b in BACKENDS)


@pytest.fixture(params=SERVER_BACKENDS)
def server(request, tmp_path):
    return connection_settings(request.param, tmp_path)


def _line(settings, *extra: str) -> str:
    return " ".join([f"%dj connect --backend {settings['backend']} --host {settings['host']} "
                     f"--port {settings['port']} --user {settings['user']}", *extra])


def test_no_password_in_outputs_or_the_saved_notebook(ipy, server, tmp_path, schema_name, monkeypatch):
    password = server["password"]
    ipy.secrets = (password,)
    prompts = []

    def fake_getpass(prompt="Password: ", stream=None):
        prompts.append(prompt)
        return password

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    # 1. the hidden prompt
    ran = ipy(_line(server))
    assert ran.stdout.startswith(f"Connected to {server['backend']}://{server['user']}@")
    assert prompts == [f"Password for {server['user']}@{server['host']}: "]
    # 2. .secrets/ (no prompt)
    (tmp_path / ".secrets").mkdir()
    (tmp_path / ".secrets" / "database.password").write_text(password)
    dj.config.reload()
    ipy(_line(server))
    assert len(prompts) == 1
    # 3. --prompt asks even when a password is configured
    ipy(_line(server, "--prompt"))
    assert len(prompts) == 2
    # a whole session's worth of outputs
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ipy("%dj populate SessionStats")
    ipy("%%dj\nSession * Subject & 'species = \"mouse\"'\n")
    ipy("%dj status")
    ipy("%dj jobs SessionStats")
    ipy("%dj connect")
    ipy("%config DJMagic")
    ipy("dj = __import__('dj_jupyter'); print(dj.config); print(dj.conn()); print(dj.conn().conn_info)")
    ipy("dj.config")
    ipy("dj.conn()")
    ipy("%dj describe Session")
    ipy("%dj delete Subject & {'subject_id': 1}")
    ipy("%dj populate Nope", ok=False)
    # a password on the magic line is refused without being echoed
    ran = ipy(_line(server, "--password hunter2-not-echoed"), ok=False)
    assert "hunter2-not-echoed" not in ran.text and "never go on the %dj line" in ran.text
    # a wrong password: the error names the target, never the password typed
    monkeypatch.setattr(getpass, "getpass", lambda prompt="", stream=None: "wrong-secret-typed")
    ran = ipy(_line(server, "--prompt"), ok=False)
    assert "wrong-secret-typed" not in ran.text and "Traceback" not in ran.text
    ipy.secrets = (password, "wrong-secret-typed")

    path = ipy.write_notebook(tmp_path / "session.ipynb")
    saved = path.read_text()
    assert password not in saved and "wrong-secret-typed" not in saved and "hunter2-not-echoed" not in saved.replace(
        "--password hunter2-not-echoed", "")
    notebook = nbformat.read(str(path), as_version=4)
    assert sum(len(cell.outputs) for cell in notebook.cells) > 20
    history = "\n".join(ipy.ns.get("In", []))
    assert password not in history


def test_a_session_that_cannot_prompt_explains_where_the_password_goes(ipy, server, monkeypatch):
    def no_stdin(prompt="", stream=None):
        raise EOFError("stdin is not available")

    monkeypatch.setattr(getpass, "getpass", no_stdin)
    ran = ipy(_line(server), ok=False)
    assert "No password configured" in ran.text and ".secrets/database.password" in ran.text
    assert "Traceback" not in ran.text
