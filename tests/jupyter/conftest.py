"""The magics through an in-process IPython shell (no kernel, no browser).

``ipy`` runs cells in ``InteractiveShell.instance()`` with the extension loaded and
returns what a notebook would keep: stdout, stderr, rich displays and the error.
On server backends every captured output is checked for the database password.
"""

from __future__ import annotations

import copy
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, connection_settings

ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAGIC_BACKENDS = tuple(b for b in ("sqlite", "postgresql") if b in BACKENDS)


@dataclass
class Ran:
    """One executed cell: what a notebook would show for it."""

    source: str
    success: bool
    error: BaseException | None
    stdout: str
    stderr: str
    displays: list[dict] = field(default_factory=list)  # mime bundles

    @property
    def text(self) -> str:
        """Everything shown, as plain text (ANSI colours removed)."""
        parts = [self.stdout, self.stderr]
        for data in self.displays:
            parts += [str(data.get("text/plain", "")), str(data.get("text/html", ""))]
        return ANSI.sub("", "\n".join(parts))

    @property
    def plain(self) -> str:
        parts = [self.stdout, self.stderr] + [str(d.get("text/plain", "")) for d in self.displays]
        return ANSI.sub("", "\n".join(parts))

    def nbformat_outputs(self) -> list:
        import nbformat

        outputs = []
        if self.stdout:
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=self.stdout))
        if self.stderr:
            outputs.append(nbformat.v4.new_output("stream", name="stderr", text=self.stderr))
        for data in self.displays:
            outputs.append(nbformat.v4.new_output("display_data", data=data))
        if self.error is not None:
            outputs.append(nbformat.v4.new_output("error", ename=type(self.error).__name__,
                                                  evalue=str(self.error), traceback=self.stdout.splitlines()))
        return outputs


class Shell:
    """Runs cells and remembers them (for writing a notebook of the session)."""

    def __init__(self, shell, secrets: tuple[str, ...] = ()):
        self.shell = shell
        self.secrets = tuple(s for s in secrets if s)
        self.history: list[Ran] = []

    @property
    def ns(self) -> dict:
        return self.shell.user_ns

    @property
    def magic(self):
        return self.shell.magics_manager.registry["DJMagic"]

    def __call__(self, source: str, *, ok: bool = True) -> Ran:
        from IPython.utils.capture import capture_output

        with capture_output(display=True) as captured:
            result = self.shell.run_cell(source, store_history=True)
        ran = Ran(source, result.success, result.error_in_exec or result.error_before_exec, captured.stdout,
                  captured.stderr, [dict(output.data) for output in captured.outputs])
        self.history.append(ran)
        for secret in self.secrets:
            assert secret not in ran.text, f"the password appeared in the output of {source!r}"
            assert secret not in repr(ran.displays)
        if ok and not ran.success:
            raise AssertionError(f"cell failed: {source!r}\n{ran.text}")
        if not ok:
            assert not ran.success, f"cell should have failed: {source!r}\n{ran.text}"
        return ran

    def write_notebook(self, path: Path) -> Path:
        import nbformat

        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        for count, ran in enumerate(self.history, start=1):
            cell = nbformat.v4.new_code_cell(ran.source, execution_count=count)
            cell.outputs = ran.nbformat_outputs()
            notebook.cells.append(cell)
        nbformat.write(notebook, str(path))
        return path


@pytest.fixture(autouse=True)
def _plain_views(monkeypatch):
    """The magics' own renderings (deterministic); the widget seam has its own tests (test_display_seam)."""
    from kernel_magics import display as views

    monkeypatch.setattr(views, "find_view", lambda kind: None)


@pytest.fixture(scope="session")
def _ipython():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("colors", "nocolor")
    shell.run_line_magic("load_ext", "dj_jupyter")
    return shell


@pytest.fixture
def ipy(_ipython, tmp_path, monkeypatch):
    """A clean notebook session working in ``tmp_path`` (SQLite files land there)."""
    import dj_jupyter as dj
    from dj_jupyter import connection as connection_module

    home = os.getcwd()
    monkeypatch.chdir(tmp_path)
    saved_runtime = copy.deepcopy(dj.config._runtime)
    _ipython.reset(new_session=False)
    magic = _ipython.magics_manager.registry["DJMagic"]
    for name in ("short_errors", "default_limit", "schema_variable", "widgets", "progress_after"):
        magic.set_trait(name, magic.trait_defaults(name))
    magic.current_schema = None
    magic.last_confirmation = None
    outside = connection_module._global.pop("connection", None)  # a connection left by other tests
    session = Shell(_ipython)
    yield session
    connection = connection_module._global.pop("connection", None)
    if connection is not None:
        for name, schema in list(connection.schemas.items()):
            if connection.backend.name != "sqlite":
                try:
                    schema.drop(prompt=False, force=True)
                except Exception as error:  # keep cleaning up
                    print(f"could not drop {name}: {error}")
        connection.close()
    if outside is not None:
        connection_module._global["connection"] = outside
    dj.config._runtime = saved_runtime
    os.chdir(home)  # reload from where the tests started, not from this test's .secrets/
    dj.config.reload()
    _ipython.reset(new_session=False)


@pytest.fixture(params=MAGIC_BACKENDS)
def magic_backend(request) -> str:
    return request.param


@pytest.fixture
def connected(ipy, magic_backend, tmp_path):
    """``%dj connect`` to the backend: the password (server backends) comes from ``.secrets/``, as a user's would."""
    import dj_jupyter as dj

    settings = connection_settings(magic_backend, tmp_path)
    password = settings.get("password")
    if password:
        secrets = tmp_path / ".secrets"
        secrets.mkdir(exist_ok=True)
        (secrets / "database.password").write_text(password + "\n")
        dj.config.reload()
        ipy.secrets = (password,)
        line = (f"%dj connect --backend {magic_backend} --host {settings['host']} --port {settings['port']} "
                f"--user {settings['user']}")
    else:
        line = "%dj connect --path pipeline.sqlite3"
    ipy(line)
    ipy.settings = settings
    ipy.backend = magic_backend
    return ipy


@pytest.fixture
def schema_name() -> str:
    return "m_" + uuid.uuid4().hex[:8]

