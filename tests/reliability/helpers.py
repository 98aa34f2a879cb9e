"""Servers, connections and stores of the reliability tests (imported by their conftest and tests).

The reliability tests restart, kill and flood their servers, so they start their own
PostgreSQL, MariaDB and moto S3 (``tests/tooling/servers.py``) instead of sharing the
session's. Every password and key is distinctive (``SECRETS``) so that
``test_zz_secrets.py`` can grep everything the run captured for them.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import uuid
from pathlib import Path

import pytest

from tests.tooling import servers

ROOT = Path(__file__).resolve().parents[2]
ENGINES = tuple(b.strip() for b in os.environ.get("DJ_TEST_BACKENDS", "sqlite,postgresql,mysql").split(",")
                if b.strip())
SERVER_ENGINES = tuple(e for e in ENGINES if e != "sqlite")

# distinctive secrets: nothing else in a run contains these strings
_TAG = secrets.token_hex(4)
SECRETS = {
    "postgresql": f"PgRel-{_TAG}-Pw_9xQ",
    "mysql": f"MyRel-{_TAG}-Pw_7kZ",
    "s3": f"S3Rel-{_TAG}-Secret_4vN",
    "readonly_postgresql": f"PgRo-{_TAG}-Pw_3mW",
    "readonly_mysql": f"MyRo-{_TAG}-Pw_5jH",
}
S3_ACCESS_KEY = f"AKREL{_TAG.upper()}"
BUCKET = "djrel"
CAPTURE_DIR: list = [None]  # set by the capture_dir fixture

# ---- servers ---------------------------------------------------------------------------------------
_servers: dict[str, servers.Server] = {}


def _set_password(server: servers.Server, engine: str, password: str) -> None:
    impl = server._impl
    if engine == "postgresql":
        impl._psql_admin(f"ALTER ROLE {servers.TEST_USER} PASSWORD '{password}'")
    else:
        impl._client(";\n".join(f"ALTER USER '{servers.TEST_USER}'@'{host}' IDENTIFIED BY '{password}'"
                                for host in ("%", "localhost")) + ";", admin=False, password=impl.password)
    impl.password = password
    server.password = password


def server(engine: str) -> servers.Server:
    """This directory's own server for ``engine`` (postgresql, mysql or s3), started on first use."""
    if engine not in _servers:
        if engine == "postgresql":
            srv = servers.start_postgres(max_connections=300)
        elif engine == "mysql":
            srv = servers.start_mariadb(max_connections=300)
        elif engine == "s3":
            srv = servers.start_s3()
        else:
            raise ValueError(engine)
        if engine != "s3":
            _set_password(srv, engine, SECRETS[engine])
        if engine == "mysql":  # every deadlock goes to the error log (diagnostics of the load tests)
            srv._impl._client("SET GLOBAL innodb_print_all_deadlocks = ON", admin=False, password=srv.password)
        _servers[engine] = srv
    return _servers[engine]


def stop_servers() -> None:
    for srv in list(_servers.values()):
        try:
            srv.stop()
        except Exception as error:  # pragma: no cover
            print(f"could not stop {srv.kind}: {error}", file=sys.stderr)
    _servers.clear()


def settings(engine: str, tmp_path: Path | None = None, *, user: str | None = None,
             password: str | None = None) -> dict:
    """Connection settings for ``engine`` (``dj.Connection(**settings)``)."""
    if engine == "sqlite":
        return {"backend": "sqlite", "path": str((tmp_path or Path.cwd()) / "pipeline.sqlite3"), "quiet": True}
    srv = server(engine)
    return {"backend": engine, "host": srv.host, "port": srv.port, "user": user or srv.user,
            "password": password if password is not None else srv.password}


def connect(engine: str, tmp_path: Path | None = None, **kwargs):
    import dj_jupyter as dj

    s = settings(engine, tmp_path, **kwargs)
    return dj.Connection(s.pop("host", None), s.pop("user", None), s.pop("password", None), s.pop("port", None),
                         **s)


def raw_connection(engine: str, user: str | None = None, password: str | None = None):
    """A plain driver connection (psycopg / PyMySQL) for independent recounts and set-up."""
    srv = server(engine)
    if engine == "postgresql":
        import psycopg

        return psycopg.connect(host=srv.host, port=srv.port, user=user or srv.user,
                               password=password or srv.password, dbname="postgres", autocommit=True,
                               sslmode="disable")
    import pymysql

    return pymysql.connect(host=srv.host, port=srv.port, user=user or srv.user, password=password or srv.password,
                           autocommit=True, charset="utf8mb4")


def worker_env(engine: str, tmp_path: Path, schema_name: str, stores: dict | None = None, **extra) -> dict:
    """Environment of a worker subprocess: DJ_* variables, as on a cluster node."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "SOAK_"))}
    env.update({"PYTHONPATH": str(ROOT), "SOAK_SCHEMA": schema_name, "DJ_BACKEND": engine,
                "DJ_IGNORE_CONFIG_FILE": "true", "DJ_SAFEMODE": "false"})
    s = settings(engine, tmp_path)
    if engine == "sqlite":
        env["DJ_SQLITE_PATH"] = s["path"]
    else:
        env.update({"DJ_HOST": s["host"], "DJ_PORT": str(s["port"]), "DJ_USER": s["user"], "DJ_PASS": s["password"]})
    if stores is not None:
        env["DJ_STORES"] = json.dumps(stores)
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ---- object stores ------------------------------------------------------------------------------------
def s3_filesystem():
    import s3fs

    srv = server("s3")
    return s3fs.S3FileSystem(key=S3_ACCESS_KEY, secret=SECRETS["s3"],
                             client_kwargs={"endpoint_url": srv.endpoint_url}, skip_instance_cache=True,
                             use_listings_cache=False)


def s3_store_spec(location: str | None = None) -> dict:
    srv = server("s3")
    fs = s3_filesystem()
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    return {"protocol": "s3", "endpoint": srv.endpoint_url, "bucket": BUCKET,
            "location": location or ("r" + uuid.uuid4().hex[:10]), "access_key": S3_ACCESS_KEY,
            "secret_key": SECRETS["s3"], "secure": False}


def store_files(spec: dict) -> set[str]:
    """Every file of a store, read directly (not through the library), relative to its location."""
    if spec["protocol"] == "s3":
        fs = s3_filesystem()
        root = f"{spec['bucket']}/{spec['location']}"
    else:
        import fsspec

        fs = fsspec.filesystem("file", skip_instance_cache=True)
        root = str(Path(spec["location"]).resolve())
    fs.invalidate_cache()
    try:
        found = fs.find(root, withdirs=False)
    except FileNotFoundError:
        return set()
    out = set()
    for path in found:
        path = fs._strip_protocol(path)
        relative = path[len(root) + 1:]
        if not relative.startswith(".dj_gc/"):
            out.add(relative)
    return out


def engines_param(*allowed):
    """pytest parametrization over the engines this run tests (DJ_TEST_BACKENDS)."""
    return pytest.mark.parametrize("engine", [e for e in allowed if e in ENGINES])


def deadlock_log(limit: int = 20000) -> str:
    """The deadlocks MariaDB wrote to its error log so far (empty for other engines)."""
    srv = _servers.get("mysql")
    if srv is None or not srv.error_log_path or not os.path.exists(srv.error_log_path):
        return ""
    text = open(srv.error_log_path, errors="replace").read()
    start = text.find("Transactions deadlock detected")
    return text[start:start + limit] if start >= 0 else ""


FIGURES = ROOT / "test-output" / "reliability" / "figures.txt"
_figures_started: list = []


def report(line: str) -> None:
    """Print a test's figures and keep them in test-output/reliability/figures.txt for the closing note."""
    print(line)
    if not _figures_started:
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        FIGURES.write_text("")
        _figures_started.append(True)
    with open(FIGURES, "a") as f:
        f.write(line.rstrip() + "\n")
