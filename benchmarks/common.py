"""Shared helpers for benchmarks: timing, throw-away servers, connections for both libraries."""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tooling import servers as _servers  # noqa: E402

_started: dict = {}


def server(kind: str):
    """A PostgreSQL ('postgresql') or MariaDB ('mysql') server shared by every benchmark in the run."""
    if kind not in _started:
        _started[kind] = _servers.start_postgres() if kind == "postgresql" else _servers.start_mariadb()
    return _started[kind]


def stop_servers() -> None:
    for srv in _started.values():
        srv.stop()
    _started.clear()


def ours_connection(kind: str, path: str | None = None):
    """A dj_jupyter connection to the shared server of ``kind`` (or a SQLite file)."""
    import dj_jupyter as dj

    if kind == "sqlite":
        return dj.Connection(backend="sqlite", path=path or os.path.join(tempfile.mkdtemp(), "bench.sqlite3"),
                             quiet=True)
    srv = server(kind)
    return dj.Connection(srv.host, srv.user, srv.password, srv.port, backend=kind)


def datajoint_connection(kind: str):
    """DataJoint 2.3.5 configured for the same server (imported only here)."""
    import io
    import contextlib
    import warnings

    srv = server(kind)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        import datajoint

        datajoint.config["database.backend"] = kind
        datajoint.config["database.host"] = srv.host
        datajoint.config["database.port"] = srv.port
        datajoint.config["database.user"] = srv.user
        datajoint.config["database.password"] = srv.password
        datajoint.config["database.use_tls"] = False
        datajoint.config["safemode"] = False
        return datajoint, datajoint.conn(reset=True)


def timed(function, repeat: int = 3) -> float:
    """Best of ``repeat`` wall-clock runs, in seconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def median(values) -> float:
    return statistics.median(values)
