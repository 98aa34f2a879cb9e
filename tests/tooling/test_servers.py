"""Checks of the throw-away test servers in tests/tooling/servers.py (real servers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from .servers import Server, port_is_open, start_mariadb, start_postgres, start_s3

pytestmark = pytest.mark.timeout(120)


def _wait_closed(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_is_open(port):
            return True
        time.sleep(0.05)
    return False


def _log_contains(path: str, needle: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, encoding="utf-8", errors="replace") as f:
            if needle in f.read():
                return True
        time.sleep(0.05)
    return False


def _check_stopped(srv: Server) -> None:
    base = srv.base_dir
    srv.stop()
    srv.stop()  # idempotent
    assert _wait_closed(srv.port), f"port {srv.port} still open after stop()"
    assert not os.path.exists(base)
    assert not srv.running


def test_postgres_query_restart_stop():
    import psycopg as psycopg
    srv = start_postgres()
    try:
        assert srv.kind == "postgres" and srv.host == "127.0.0.1"
        assert srv.password not in repr(srv)
        info = srv.dsn_info()
        assert set(info) == {"host", "port", "user", "password"}

        with psycopg.connect(**info, dbname="postgres", autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert int(conn.execute("SHOW max_connections").fetchone()[0]) >= 40
            assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("15")
            # superuser-capable: databases, schemas and other roles
            conn.execute("CREATE DATABASE dj_tooling_db")
            conn.execute("CREATE ROLE dj_tooling_role LOGIN PASSWORD 'x'")
            conn.execute("CREATE SCHEMA dj_tooling_schema")
            conn.execute("CREATE TABLE dj_tooling_schema.t (x int primary key)")
            conn.execute("INSERT INTO dj_tooling_schema.t VALUES (42)")

        # the password is really checked on 127.0.0.1
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(**{**info, "password": "wrong"}, dbname="postgres").close()

        # statement log can be switched on at run time
        marker = f"dj_marker_{uuid.uuid4().hex}"
        srv.set_log_statements(True)
        with psycopg.connect(**info, dbname="postgres") as conn:
            conn.execute(f"SELECT '{marker}'")
        assert _log_contains(srv.log_path, marker)

        for mode in ("fast", "immediate"):
            srv.restart(mode=mode)
            with psycopg.connect(**info, dbname="postgres") as conn:
                assert conn.execute("SELECT x FROM dj_tooling_schema.t").fetchone() == (42,)
    finally:
        _check_stopped(srv)


def test_mariadb_query_restart_stop():
    import pymysql as pymysql
    srv = start_mariadb(log_statements=True)
    try:
        info = srv.dsn_info()

        def connect(**kw):
            return pymysql.connect(**info, max_allowed_packet=1 << 30, **kw)

        conn = connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                assert cur.fetchone() == (1,)
                cur.execute("SELECT @@character_set_server, @@max_allowed_packet, "
                            "@@max_connections, @@version")
                charset, packet, max_conn, version = cur.fetchone()
                assert charset == "utf8mb4" and packet >= 1 << 30 and max_conn >= 40
                assert "MariaDB" in version
                cur.execute("CREATE DATABASE dj_tooling_db")
                cur.execute("CREATE TABLE dj_tooling_db.t (x int primary key, s varchar(10))")
                cur.execute("INSERT INTO dj_tooling_db.t VALUES (42, %s)", ("ünï😀",))
                cur.execute("CREATE USER 'dj_tooling_user'@'%' IDENTIFIED BY 'x'")
                cur.execute("GRANT SELECT ON dj_tooling_db.* TO 'dj_tooling_user'@'%'")
            conn.commit()
        finally:
            conn.close()

        # no anonymous or password-less accounts are left
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host=srv.host, port=srv.port, user="root", password="").close()
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(**{**info, "password": "wrong"}).close()

        # general log (log_statements=True) records statements
        marker = f"dj_marker_{uuid.uuid4().hex}"
        conn = connect()
        with conn.cursor() as cur:
            cur.execute(f"SELECT '{marker}'")
        conn.close()
        assert _log_contains(srv.log_path, marker)

        for mode in ("fast", "immediate"):
            srv.restart(mode=mode)
            conn = connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT x, s FROM dj_tooling_db.t")
                    assert cur.fetchone() == (42, "ünï😀")
            finally:
                conn.close()
    finally:
        _check_stopped(srv)


def test_s3_bucket_put_get_stop():
    import boto3 as boto3
    srv = start_s3()
    try:
        info = srv.dsn_info()
        assert info["endpoint_url"] == f"http://127.0.0.1:{srv.port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=srv.endpoint_url,
            aws_access_key_id=srv.access_key,
            aws_secret_access_key=srv.secret_key,
            region_name=srv.region,
        )
        s3.create_bucket(Bucket="dj-tooling")
        payload = os.urandom(1 << 20)
        s3.put_object(Bucket="dj-tooling", Key="a/b.bin", Body=payload)
        assert s3.get_object(Bucket="dj-tooling", Key="a/b.bin")["Body"].read() == payload
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert names == ["dj-tooling"]
        with pytest.raises(Exception):
            srv.restart()
    finally:
        _check_stopped(srv)


def test_watchdog_cleans_up_after_killed_process(tmp_path):
    """A SIGKILLed test process (no atexit) must not leave a server behind."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = textwrap.dedent(
        """
        import sys, time
        from tests.tooling.servers import start_postgres
        srv = start_postgres()
        print(srv.port, srv.base_dir, flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline().split()
        assert line, "child did not start a server"
        port, base = int(line[0]), line[1]
        assert port_is_open(port)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _wait_closed(port, 20), "server still listening after its owner was killed"
    deadline = time.monotonic() + 10
    while os.path.exists(base) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(base)
