"""A throw-away PostgreSQL server (run as the postgres user when root) for tests."""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import signal
import subprocess
from typing import List, Optional

from .processes import (HOST, INSTALL_HINT, PORT_RETRIES, START_TIMEOUT, TEST_USER, as_user, free_port,
                        is_root, launched, make_base_dir, port_in_use, port_is_open, register, require_user,
                        run, Server, ServerError, tail, wait_until, Watchdog)


def find_postgres_bindir() -> str:
    cands: List[str] = []
    env = os.environ.get("DJ_TEST_PG_BINDIR")
    if env:
        cands.append(env)

    def version_key(p: str) -> float:
        m = re.search(r"/postgresql/([\d.]+)/bin", p)
        return float(m.group(1)) if m else 0.0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    # the project targets PostgreSQL 15: prefer it when several are installed
    found.sort(key=lambda p: version_key(p) != 15.0)
    cands.extend(found)
    cands.extend(sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True))
    which = shutil.which("pg_ctl")
    if which:
        cands.append(os.path.dirname(os.path.realpath(which)))
    for d in cands:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "psql")):
            return d
    raise ServerError(f"PostgreSQL binaries (initdb, pg_ctl, psql) not found; {INSTALL_HINT}")


class _Postgres:
    OS_USER = "postgres"

    def __init__(self, base_dir: Optional[str], log_statements: bool, max_connections: int):
        self.bindir = find_postgres_bindir()
        self.os_user = self.OS_USER if is_root() else None
        if self.os_user:
            require_user(self.os_user)
        self.password = secrets.token_hex(16)
        self.base = make_base_dir("djtest-pg-", base_dir, self.os_user)
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "server.log")
        self.sockdir = self.base
        self.extra_dirs: List[str] = []
        if len(self.sockdir) > 80:  # unix socket paths are limited to ~107 bytes
            self.sockdir = make_base_dir("djpg-", None, self.os_user)
            self.extra_dirs.append(self.sockdir)
        self.port = 0
        self.max_connections = max_connections
        self.log_statements = log_statements
        self.watchdog: Optional[Watchdog] = None
        self._stopped = False

    def _bin(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    def _psql_admin(self, sql: str) -> str:
        return run(
            [self._bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.sockdir, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
             "-c", sql],
            "psql (admin)", log=self.log,
            env={**os.environ, "PGCONNECT_TIMEOUT": "5", "PGAPPNAME": "dj_test_tooling"},
        )

    def _tcp_query(self, sql: str = "SELECT 1") -> Optional[str]:
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "2",
               "PGSSLMODE": "disable", "PGAPPNAME": "dj_test_tooling"}
        res = subprocess.run(
            [self._bin("psql"), "-X", "-q", "-A", "-t", "-w", "-h", HOST, "-p", str(self.port),
             "-U", TEST_USER, "-d", "postgres", "-c", sql],
            capture_output=True, text=True, env=env, timeout=15,
        )
        if res.returncode == 0:
            return None
        return (res.stderr or res.stdout).strip() or f"psql exit {res.returncode}"

    def init(self) -> None:
        os.makedirs(self.data, mode=0o700)
        if self.os_user:
            shutil.chown(self.data, user=self.os_user, group=self.os_user)
        run(
            as_user(self.os_user, [
                self._bin("initdb"), "-D", self.data, "-U", "postgres", "-E", "UTF8",
                "--locale=C.UTF-8", "--no-sync", "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]),
            "initdb",
        )
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write(
                "# written by tests/tooling/servers.py\n"
                "local all all trust\n"
                f"host  all all {HOST}/32 scram-sha-256\n"
            )

    def write_conf(self) -> None:
        # Appended settings win over earlier ones; the port changes on a retry.
        path = os.path.join(self.data, "postgresql.conf")
        with open(path, "a") as f:
            f.write(
                "\n# --- tests/tooling/servers.py ---\n"
                f"listen_addresses = '{HOST}'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.sockdir}'\n"
                f"max_connections = {self.max_connections}\n"
                "password_encryption = 'scram-sha-256'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "timezone = 'UTC'\nlog_timezone = 'UTC'\n"
                "logging_collector = off\nlog_destination = 'stderr'\n"
                "log_line_prefix = '%m [%p] %q%u@%d '\n"
                f"log_statement = '{'all' if self.log_statements else 'none'}'\n"
            )

    def pg_ctl_start(self) -> None:
        cmd = as_user(self.os_user, [
            self._bin("pg_ctl"), "start", "-D", self.data, "-l", self.log, "-w",
            "-t", str(int(START_TIMEOUT)), "-s",
        ])
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT + 10,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        if res.returncode != 0:
            text = res.stdout + res.stderr + tail(self.log, 60)
            err = ServerError(
                f"PostgreSQL did not start on port {self.port}:\n{res.stderr.strip()}\n"
                f"log tail ({self.log}):\n{tail(self.log)}"
            )
            err.port_in_use = port_in_use(text)  # type: ignore[attr-defined]
            raise err

    def pg_ctl_stop(self, mode: str) -> None:
        run(
            as_user(self.os_user, [self._bin("pg_ctl"), "stop", "-D", self.data, "-m", mode,
                                    "-w", "-t", "60", "-s"]),
            "pg_ctl stop", log=self.log,
        )

    def wait_ready(self) -> None:
        wait_until(self._tcp_query, START_TIMEOUT, f"PostgreSQL on port {self.port}", self.log)

    def start(self) -> None:
        self.init()
        for attempt in range(PORT_RETRIES):
            self.port = free_port()
            self.write_conf()
            try:
                self.pg_ctl_start()
                break
            except ServerError as exc:
                if not getattr(exc, "port_in_use", False) or attempt == PORT_RETRIES - 1:
                    raise
        self.watchdog = Watchdog(
            "file:" + os.path.join(self.data, "postmaster.pid"), self.data, signal.SIGQUIT,
            [self.base, *self.extra_dirs],
        )
        pw = self.password.replace("'", "''")
        self._psql_admin(
            f"CREATE ROLE {TEST_USER} LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION "
            f"BYPASSRLS PASSWORD '{pw}'"
        )
        self.wait_ready()

    def running(self) -> bool:
        return not self._stopped and port_is_open(self.port)

    def restart(self, mode: str) -> None:
        self.pg_ctl_stop(mode)
        self.pg_ctl_start()
        self.wait_ready()

    def set_log_statements(self, on: bool) -> None:
        value = "all" if on else "none"
        self._psql_admin(f"ALTER SYSTEM SET log_statement = '{value}'")
        self._psql_admin("SELECT pg_reload_conf()")
        # the reload is asynchronous: wait until new sessions see it
        def check() -> Optional[str]:
            got = self._psql_admin("SHOW log_statement").strip()
            return None if got == value else f"log_statement is {got!r}"
        wait_until(check, 10, "log_statement reload", self.log)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            if os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self.pg_ctl_stop("immediate")
        finally:
            for d in (self.base, *self.extra_dirs):
                shutil.rmtree(d, ignore_errors=True)
            if self.watchdog:
                self.watchdog.dismiss()


def start_postgres(base_dir: Optional[str] = None, log_statements: bool = False,
                   max_connections: int = 200) -> Server:
    """Start a fresh PostgreSQL server; returns a :class:`Server` for user ``dj_test``."""
    impl = launched(_Postgres(base_dir, log_statements, max_connections))
    srv = Server(
        kind="postgres", host=HOST, port=impl.port, user=TEST_USER, password=impl.password,
        base_dir=impl.base, log_path=impl.log, error_log_path=impl.log, data_dir=impl.data,
        log_statements=log_statements, _impl=impl,
    )
    return register(srv)
