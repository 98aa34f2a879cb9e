"""Throw-away PostgreSQL, MariaDB and S3 (moto) servers for tests.

Each server runs on 127.0.0.1 on a free port chosen at run time, in a fresh
temporary directory, and is reachable with a password-protected test account::

    from tests.tooling.servers import start_postgres
    pg = start_postgres()
    psycopg.connect(**pg.dsn_info(), dbname="postgres")
    pg.restart()
    pg.stop()

Nothing leaks: every server is stopped at interpreter exit (atexit), and a small
watchdog process per server kills it and removes its directory if the test
process dies without running atexit (SIGKILL, ``os._exit``, ...).

Smoke check: ``python -m tests.tooling.servers``.

The system packages come from ``scripts/install_system_deps.sh``. Binary
locations can be overridden with ``DJ_TEST_PG_BINDIR`` (directory holding
``initdb``/``pg_ctl``/``psql``) and ``DJ_TEST_MARIADB_BINDIR`` (directory holding
``mariadbd``; the client tools are looked up there and on PATH).
"""

from __future__ import annotations

import sys
import time
from typing import List

from .mariadb_server import find_mariadb_binaries, start_mariadb
from .postgres_server import find_postgres_bindir, start_postgres
from .processes import HOST, TEST_USER, Server, ServerError, port_is_open, stop_all
from .s3_server import start_s3

__all__ = [
    "HOST",
    "TEST_USER",
    "Server",
    "ServerError",
    "find_mariadb_binaries",
    "find_postgres_bindir",
    "port_is_open",
    "start_postgres",
    "start_mariadb",
    "start_s3",
    "stop_all",
]


# --------------------------------------------------------------------------- #
# Smoke check
# --------------------------------------------------------------------------- #


def main() -> int:
    started: List[Server] = []
    try:
        for name, fn in (("postgres", start_postgres), ("mariadb", start_mariadb),
                         ("s3", start_s3)):
            t0 = time.monotonic()
            srv = fn()
            started.append(srv)
            print(f"{name:8s} up on {srv.host}:{srv.port} as {srv.user} "
                  f"in {time.monotonic() - t0:.2f}s", flush=True)
    finally:
        t0 = time.monotonic()
        for srv in started:
            srv.stop()
        print(f"stopped {len(started)} server(s) in {time.monotonic() - t0:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
