"""Shared fixtures: one parametrized database fixture runs behaviour tests on every engine.

Servers are real and started on loopback by ``tests/tooling/servers.py`` the
first time a test needs them. ``DJ_TEST_BACKENDS`` (comma-separated) limits the
engines, e.g. ``DJ_TEST_BACKENDS=sqlite`` for a quick local run.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tooling import servers  # noqa: E402

# pytest imports this file as the module ``conftest``; tests that write ``from tests.conftest import ...``
# must get this same module (one ``_servers`` registry), not a second copy that starts its own servers.
sys.modules.setdefault("tests.conftest", sys.modules[__name__])

ALL_BACKENDS = ("sqlite", "postgresql", "mysql")
BACKENDS = tuple(b.strip() for b in os.environ.get("DJ_TEST_BACKENDS", ",".join(ALL_BACKENDS)).split(",") if b.strip())
SERVER_BACKENDS = tuple(b for b in BACKENDS if b != "sqlite")

_servers: dict[str, servers.Server] = {}


def database_server(backend: str) -> servers.Server:
    """The session's server for ``backend`` (started on first use)."""
    if backend not in _servers:
        _servers[backend] = servers.start_postgres() if backend == "postgresql" else servers.start_mariadb()
    return _servers[backend]


def s3_server() -> servers.Server:
    if "s3" not in _servers:
        _servers["s3"] = servers.start_s3()
    return _servers["s3"]


def pytest_sessionfinish(session, exitstatus):
    for kind, server in _servers.items():
        if kind != "s3" and not server.running:  # a server that died during the run: say why
            print(f"\nThe {kind} test server stopped during the run; the end of its log:\n{server.log_tail(60)}",
                  file=sys.stderr)
        server.stop()


def connection_settings(backend: str, tmp_dir: Path | None = None) -> dict:
    """Keyword arguments for ``dj.Connection`` / ``dj.config`` on ``backend``."""
    if backend == "sqlite":
        return {"backend": "sqlite", "path": str((tmp_dir or Path.cwd()) / "pipeline.sqlite3"), "quiet": True}
    server = database_server(backend)
    return {"backend": backend, "host": server.host, "port": server.port, "user": server.user,
            "password": server.password}


def make_connection(backend: str, tmp_dir: Path | None = None):
    import dj_jupyter as dj

    settings = connection_settings(backend, tmp_dir)
    return dj.Connection(settings.pop("host", None), settings.pop("user", None), settings.pop("password", None),
                         settings.pop("port", None), **settings)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def connection(backend, tmp_path):
    """A fresh connection on the parametrized backend (SQLite in a temp file)."""
    conn = make_connection(backend, tmp_path)
    yield conn
    conn.close()


@pytest.fixture
def schema_name() -> str:
    return "t_" + uuid.uuid4().hex[:10]


@pytest.fixture
def make_schema(connection, request):
    """Factory for schemas on the fixture connection; all of them are dropped afterwards."""
    import dj_jupyter as dj

    created = []

    def factory(name: str | None = None, context: dict | None = None):
        schema = dj.Schema(name or ("t_" + uuid.uuid4().hex[:10]), context, connection=connection)
        created.append(schema)
        return schema

    yield factory
    for schema in reversed(created):
        try:
            if connection.in_transaction:
                connection.cancel_transaction()
            schema.drop(prompt=False, force=True)
        except Exception as error:  # report, but keep dropping the others
            print(f"could not drop {schema.database}: {error}", file=sys.stderr)


@pytest.fixture(autouse=True)
def _quiet_safemode():
    import dj_jupyter as dj

    with dj.config.override(safemode=False):
        yield


# ---- object stores (local folder and S3 on a moto server); DJ_TEST_STORES limits the kinds ----
from tests.object_stores import STORE_KINDS, store_env  # noqa: E402


@pytest.fixture(params=STORE_KINDS)
def object_store(request, tmp_path):
    """A fresh store configured as dj.config['stores'] = {'default': 'main', 'main': ...} for the test."""
    with store_env(request.param, tmp_path, s3_server) as env:
        yield env
