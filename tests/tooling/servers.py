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

import atexit
import dataclasses
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Optional

__all__ = [
    "Server",
    "ServerError",
    "start_postgres",
    "start_mariadb",
    "start_s3",
    "stop_all",
]

HOST = "127.0.0.1"
TEST_USER = "dj_test"
INSTALL_HINT = "run scripts/install_system_deps.sh (as root) to install the system packages"
START_TIMEOUT = 60.0
_PORT_RETRIES = 3


class ServerError(RuntimeError):
    """A test server could not be found, started, or stopped."""


# --------------------------------------------------------------------------- #
# Public dataclass
# --------------------------------------------------------------------------- #


@dataclasses.dataclass(eq=False)
class Server:
    """A running test server. Passwords are kept out of ``repr``."""

    kind: str  # "postgres" | "mariadb" | "s3"
    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    base_dir: str = ""
    log_path: Optional[str] = None  # where statements are logged (PG server log / MariaDB general log)
    error_log_path: Optional[str] = None  # server error/diagnostic log
    data_dir: Optional[str] = None
    log_statements: bool = False
    endpoint_url: Optional[str] = None  # s3 only
    access_key: Optional[str] = None  # s3 only
    secret_key: Optional[str] = dataclasses.field(default=None, repr=False)  # s3 only
    region: Optional[str] = None  # s3 only
    _impl: Any = dataclasses.field(default=None, repr=False)

    # -- information ------------------------------------------------------- #
    def dsn_info(self) -> Dict[str, Any]:
        """Connection keywords: host, port, user, password (+ S3 fields for s3)."""
        info: Dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
        }
        if self.kind == "s3":
            info.update(
                endpoint_url=self.endpoint_url,
                access_key=self.access_key,
                secret_key=self.secret_key,
                region=self.region,
            )
        return info

    @property
    def running(self) -> bool:
        return self._impl is not None and self._impl.running()

    # -- control ----------------------------------------------------------- #
    def stop(self) -> None:
        """Kill the server and remove its directory. Idempotent."""
        if self._impl is not None:
            self._impl.stop()
            _REGISTRY.discard(self)

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port and data dir.

        ``mode="fast"`` shuts down cleanly; ``mode="immediate"`` kills the
        server (crash-like: PostgreSQL then runs recovery, MariaDB gets SIGKILL).
        """
        if self.kind == "s3":
            raise ServerError("restart() is only supported for database servers")
        if mode not in ("fast", "immediate"):
            raise ValueError("mode must be 'fast' or 'immediate'")
        self._impl.restart(mode)

    def set_log_statements(self, on: bool) -> None:
        """Turn statement logging on or off at run time (takes effect for new sessions)."""
        if self.kind == "s3":
            raise ServerError("statement logging is only available for database servers")
        self._impl.set_log_statements(on)
        self.log_statements = on

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.error_log_path, lines)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------- #
# Registry, atexit and the watchdog
# --------------------------------------------------------------------------- #

_REGISTRY: "set[Server]" = set()
_REGISTRY_LOCK = threading.Lock()


def stop_all() -> None:
    """Stop every server started by this process."""
    with _REGISTRY_LOCK:
        servers = list(_REGISTRY)
    for srv in servers:
        try:
            srv.stop()
        except Exception as exc:  # pragma: no cover - best effort at exit
            print(f"tests.tooling.servers: could not stop {srv.kind}: {exc}", file=sys.stderr)


atexit.register(stop_all)


def _register(srv: Server) -> Server:
    with _REGISTRY_LOCK:
        _REGISTRY.add(srv)
    return srv


# Runs in its own session; blocks on stdin. When the test process closes the
# pipe without writing "done" (it died), kill the server and remove its dirs.
_WATCHDOG_CODE = r"""
import os, sys, signal, time, shutil
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
pidspec, marker, sig, dirs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
try:
    msg = sys.stdin.buffer.read()
except Exception:
    msg = b""
if msg.strip() == b"done":
    sys.exit(0)

def server_pid():
    if pidspec.startswith("pid:"):
        return int(pidspec[4:])
    try:
        with open(pidspec[5:]) as f:
            return int(f.readline().strip())
    except Exception:
        return None

def alive_and_ours(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return marker.encode() in f.read()
    except Exception:
        return False

pid = server_pid()
if pid and alive_and_ours(pid):
    try:
        os.kill(pid, sig)
    except Exception:
        pass
    deadline = time.time() + 10
    while time.time() < deadline and alive_and_ours(pid):
        time.sleep(0.05)
    if alive_and_ours(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except Exception:
            pass
        time.sleep(0.2)
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
"""


class _Watchdog:
    def __init__(self, pidspec: str, marker: str, sig: int, dirs: List[str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG_CODE, pidspec, marker, str(int(sig)), *dirs],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )

    def dismiss(self) -> None:
        """Normal shutdown: tell the watchdog to exit without touching anything."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.write(b"done\n")
            self.proc.stdin.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Optional[str], lines: int = 40) -> str:
    if not path or not os.path.exists(path):
        return "(no log file)"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read log: {exc})"
    return "\n".join(data.splitlines()[-lines:])


def _is_root() -> bool:
    return os.geteuid() == 0


def _make_base_dir(prefix: str, base_dir: Optional[str], owner: Optional[str]) -> str:
    """A fresh directory that the (unprivileged) server user can enter and write."""
    if base_dir is not None:
        os.makedirs(base_dir, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=base_dir)
    os.chmod(path, 0o755)  # mkdtemp gives 0700: the postgres/mysql user could not enter it
    if owner and _is_root():
        shutil.chown(path, user=owner, group=owner)
        # every ancestor must be traversable by the server user
        probe = subprocess.run(
            ["runuser", "-u", owner, "--", "test", "-w", path],
            capture_output=True,
        )
        if probe.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            raise ServerError(
                f"user {owner!r} cannot enter {path}: make every parent directory mode 0755 "
                f"(tempfile.mkdtemp directories are 0700)"
            )
    return path


def _require_user(name: str) -> None:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ServerError(f"system user {name!r} does not exist; {INSTALL_HINT}") from None


def _as_user(user: Optional[str], cmd: List[str]) -> List[str]:
    """Prefix ``cmd`` to run as ``user`` when we are root."""
    if user and _is_root():
        return ["runuser", "-u", user, "--", *cmd]
    return cmd


def _run(cmd: List[str], what: str, env: Optional[Dict[str, str]] = None, timeout: float = 120,
         log: Optional[str] = None, input: Optional[str] = None) -> str:
    try:
        res = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=timeout, input=input
        )
    except subprocess.TimeoutExpired:
        raise ServerError(f"{what} timed out after {timeout}s\nlog tail:\n{_tail(log)}") from None
    if res.returncode != 0:
        raise ServerError(
            f"{what} failed (exit {res.returncode}): {' '.join(cmd[:6])} ...\n"
            f"stdout:\n{res.stdout[-2000:]}\nstderr:\n{res.stderr[-2000:]}\n"
            f"log tail:\n{_tail(log)}"
        )
    return res.stdout


def _wait_until(check: Callable[[], Optional[str]], timeout: float, what: str,
                log: Optional[str], died: Callable[[], bool] = lambda: False) -> None:
    """Poll ``check`` (returns None on success, else an error string)."""
    deadline = time.monotonic() + timeout
    last = "never tried"
    delay = 0.02
    while True:
        err = check()
        if err is None:
            return
        last = err
        if died():
            raise ServerError(f"{what}: server process exited\nlast error: {last}\n"
                              f"log tail:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise ServerError(f"{what}: not ready after {timeout:.0f}s\nlast error: {last}\n"
                              f"log tail:\n{_tail(log)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def _port_in_use(text: str) -> bool:
    return bool(re.search(r"address already in use|could not bind|do you already have another",
                          text, re.I))


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #


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
        self.os_user = self.OS_USER if _is_root() else None
        if self.os_user:
            _require_user(self.os_user)
        self.password = secrets.token_hex(16)
        self.base = _make_base_dir("djtest-pg-", base_dir, self.os_user)
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "server.log")
        self.sockdir = self.base
        self.extra_dirs: List[str] = []
        if len(self.sockdir) > 80:  # unix socket paths are limited to ~107 bytes
            self.sockdir = _make_base_dir("djpg-", None, self.os_user)
            self.extra_dirs.append(self.sockdir)
        self.port = 0
        self.max_connections = max_connections
        self.log_statements = log_statements
        self.watchdog: Optional[_Watchdog] = None
        self._stopped = False

    def _bin(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    def _psql_admin(self, sql: str) -> str:
        return _run(
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
        _run(
            _as_user(self.os_user, [
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
        cmd = _as_user(self.os_user, [
            self._bin("pg_ctl"), "start", "-D", self.data, "-l", self.log, "-w",
            "-t", str(int(START_TIMEOUT)), "-s",
        ])
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT + 10,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        if res.returncode != 0:
            text = res.stdout + res.stderr + _tail(self.log, 60)
            err = ServerError(
                f"PostgreSQL did not start on port {self.port}:\n{res.stderr.strip()}\n"
                f"log tail ({self.log}):\n{_tail(self.log)}"
            )
            err.port_in_use = _port_in_use(text)  # type: ignore[attr-defined]
            raise err

    def pg_ctl_stop(self, mode: str) -> None:
        _run(
            _as_user(self.os_user, [self._bin("pg_ctl"), "stop", "-D", self.data, "-m", mode,
                                    "-w", "-t", "60", "-s"]),
            "pg_ctl stop", log=self.log,
        )

    def wait_ready(self) -> None:
        _wait_until(self._tcp_query, START_TIMEOUT, f"PostgreSQL on port {self.port}", self.log)

    def start(self) -> None:
        self.init()
        for attempt in range(_PORT_RETRIES):
            self.port = _free_port()
            self.write_conf()
            try:
                self.pg_ctl_start()
                break
            except ServerError as exc:
                if not getattr(exc, "port_in_use", False) or attempt == _PORT_RETRIES - 1:
                    raise
        self.watchdog = _Watchdog(
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
        _wait_until(check, 10, "log_statement reload", self.log)

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
    impl = _Postgres(base_dir, log_statements, max_connections)
    try:
        impl.start()
    except BaseException:
        impl.stop()
        raise
    srv = Server(
        kind="postgres", host=HOST, port=impl.port, user=TEST_USER, password=impl.password,
        base_dir=impl.base, log_path=impl.log, error_log_path=impl.log, data_dir=impl.data,
        log_statements=log_statements, _impl=impl,
    )
    return _register(srv)


# --------------------------------------------------------------------------- #
# MariaDB
# --------------------------------------------------------------------------- #


def find_mariadb_binaries() -> Dict[str, str]:
    dirs: List[str] = []
    env = os.environ.get("DJ_TEST_MARIADB_BINDIR")
    if env:
        dirs.append(env)
    dirs += ["/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"]
    dirs += os.environ.get("PATH", "").split(os.pathsep)

    def find(*names: str) -> Optional[str]:
        for d in dirs:
            for n in names:
                p = os.path.join(d, n)
                if d and os.path.isfile(p) and os.access(p, os.X_OK):
                    return p
        return None

    out = {
        "server": find("mariadbd", "mysqld"),
        "install_db": find("mariadb-install-db", "mysql_install_db"),
        "client": find("mariadb", "mysql"),
    }
    missing = [k for k, v in out.items() if not v]
    if missing:
        raise ServerError(
            f"MariaDB binaries not found ({', '.join(missing)}; need mariadbd, "
            f"mariadb-install-db, mariadb); {INSTALL_HINT}"
        )
    return out  # type: ignore[return-value]


class _MariaDB:
    OS_USER = "mysql"

    def __init__(self, base_dir: Optional[str], log_statements: bool, max_connections: int):
        self.bins = find_mariadb_binaries()
        self.os_user = self.OS_USER if _is_root() else None
        if self.os_user:
            _require_user(self.os_user)
        self.password = secrets.token_hex(16)
        self.base = _make_base_dir("djtest-maria-", base_dir, self.os_user)
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "general.log")
        self.error_log = os.path.join(self.base, "error.log")
        self.pidfile = os.path.join(self.base, "mariadbd.pid")
        self.extra_dirs: List[str] = []
        sockdir = self.base
        if len(sockdir) > 80:
            sockdir = _make_base_dir("djmaria-", None, self.os_user)
            self.extra_dirs.append(sockdir)
        self.socket = os.path.join(sockdir, "mariadbd.sock")
        self.port = 0
        self.max_connections = max_connections
        self.log_statements = log_statements
        self.proc: Optional[subprocess.Popen] = None
        self.watchdog: Optional[_Watchdog] = None
        self._stopped = False

    def init(self) -> None:
        cmd = [self.bins["install_db"], "--no-defaults", f"--datadir={self.data}",
               "--auth-root-authentication-method=normal", "--skip-test-db",
               "--skip-name-resolve"]
        if self.os_user:
            cmd.append(f"--user={self.os_user}")
        os.makedirs(self.data, mode=0o750)
        if self.os_user:
            shutil.chown(self.data, user=self.os_user, group=self.os_user)
        _run(cmd, "mariadb-install-db")

    def server_cmd(self) -> List[str]:
        cmd = [
            self.bins["server"], "--no-defaults",
            f"--datadir={self.data}", f"--port={self.port}", f"--bind-address={HOST}",
            f"--socket={self.socket}", f"--pid-file={self.pidfile}",
            f"--log-error={self.error_log}",
            f"--general-log-file={self.log}", f"--general-log={'ON' if self.log_statements else 'OFF'}",
            "--log-output=FILE",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
            "--max-allowed-packet=1G", f"--max-connections={self.max_connections}",
            "--skip-name-resolve", "--default-time-zone=+00:00",
            "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
            "--skip-log-bin", "--skip-external-locking",
        ]
        if self.os_user:
            cmd.append(f"--user={self.os_user}")
        return cmd

    def _client(self, sql: str, *, admin: bool, password: Optional[str] = None,
                check: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.bins["client"], "--no-defaults", "-N", "-B", "--connect-timeout=2"]
        if admin:
            cmd += ["--protocol=SOCKET", f"--socket={self.socket}", "-u", "root"]
        else:
            cmd += ["--protocol=TCP", "-h", HOST, "-P", str(self.port), "-u", TEST_USER]
        env = {k: v for k, v in os.environ.items() if k != "MYSQL_PWD"}
        if password:
            env["MYSQL_PWD"] = password  # keeps the password off the command line
        res = subprocess.run(cmd + ["-e", sql], capture_output=True, text=True, env=env,
                             timeout=30)
        if check and res.returncode != 0:
            raise ServerError(f"mariadb client failed: {res.stderr.strip()}\n"
                              f"log tail:\n{_tail(self.error_log)}")
        return res

    def _tcp_query(self) -> Optional[str]:
        res = self._client("SELECT 1", admin=False, password=self.password, check=False)
        if res.returncode == 0 and res.stdout.strip() == "1":
            return None
        return res.stderr.strip() or f"exit {res.returncode}"

    def _died(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def launch(self) -> None:
        logf = open(os.path.join(self.base, "mariadbd.stdout"), "ab")
        try:
            self.proc = subprocess.Popen(
                self.server_cmd(), stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                start_new_session=True, close_fds=True,
            )
        finally:
            logf.close()

    def start(self) -> None:
        self.init()
        for attempt in range(_PORT_RETRIES):
            self.port = _free_port()
            self.launch()

            def admin_ready() -> Optional[str]:
                res = self._client("SELECT 1", admin=True, check=False)
                return None if res.returncode == 0 else (res.stderr.strip() or "not ready")

            try:
                _wait_until(admin_ready, START_TIMEOUT, f"MariaDB on port {self.port}",
                            self.error_log, died=self._died)
                break
            except ServerError:
                self.kill_proc(signal.SIGKILL)
                if attempt == _PORT_RETRIES - 1 or not _port_in_use(_tail(self.error_log, 20)):
                    raise
        self.watchdog = _Watchdog("pid:%d" % self.proc.pid, self.data, signal.SIGKILL,
                                  [self.base, *self.extra_dirs])
        # Drop the anonymous and non-local root accounts mariadb-install-db creates
        # (all with empty passwords), lock root with the password, add the test user.
        drops = self._client(
            "SELECT CONCAT(QUOTE(User),'@',QUOTE(Host)) FROM mysql.user "
            "WHERE User='' OR (User='root' AND Host<>'localhost')", admin=True,
        ).stdout.split()
        pw = self.password
        sql = []
        if drops:
            sql.append("DROP USER " + ", ".join(drops))
        for host in ("%", "localhost"):
            sql.append(f"CREATE USER '{TEST_USER}'@'{host}' IDENTIFIED BY '{pw}'")
            sql.append(f"GRANT ALL PRIVILEGES ON *.* TO '{TEST_USER}'@'{host}' WITH GRANT OPTION")
        sql.append(f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{pw}'")
        sql.append("FLUSH PRIVILEGES")
        self._client(";\n".join(sql) + ";", admin=True)
        self.wait_ready()

    def wait_ready(self) -> None:
        _wait_until(self._tcp_query, START_TIMEOUT, f"MariaDB on port {self.port}",
                    self.error_log, died=self._died)

    def kill_proc(self, sig: int) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def running(self) -> bool:
        return not self._stopped and not self._died()

    def restart(self, mode: str) -> None:
        self.kill_proc(signal.SIGTERM if mode == "fast" else signal.SIGKILL)
        self.launch()
        if self.watchdog:  # the server pid changed
            self.watchdog.dismiss()
        self.watchdog = _Watchdog("pid:%d" % self.proc.pid, self.data, signal.SIGKILL,
                                  [self.base, *self.extra_dirs])
        self.wait_ready()

    def set_log_statements(self, on: bool) -> None:
        self._client(f"SET GLOBAL general_log = {'ON' if on else 'OFF'}", admin=False,
                     password=self.password)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self.kill_proc(signal.SIGKILL)
        finally:
            for d in (self.base, *self.extra_dirs):
                shutil.rmtree(d, ignore_errors=True)
            if self.watchdog:
                self.watchdog.dismiss()


def start_mariadb(base_dir: Optional[str] = None, log_statements: bool = False,
                  max_connections: int = 200) -> Server:
    """Start a fresh MariaDB server; returns a :class:`Server` for user ``dj_test``."""
    impl = _MariaDB(base_dir, log_statements, max_connections)
    try:
        impl.start()
    except BaseException:
        impl.stop()
        raise
    srv = Server(
        kind="mariadb", host=HOST, port=impl.port, user=TEST_USER, password=impl.password,
        base_dir=impl.base, log_path=impl.log, error_log_path=impl.error_log,
        data_dir=impl.data, log_statements=log_statements, _impl=impl,
    )
    return _register(srv)


# --------------------------------------------------------------------------- #
# S3 (moto server mode)
# --------------------------------------------------------------------------- #


class _S3:
    def __init__(self, base_dir: Optional[str]):
        try:
            import moto.server  # noqa: F401  (only to give a clear error early)
        except ImportError as exc:
            raise ServerError(f"moto[server] is not installed: pip install 'moto[server]' ({exc})")
        self.base = _make_base_dir("djtest-s3-", base_dir, None)
        self.log = os.path.join(self.base, "moto.log")
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.watchdog: Optional[_Watchdog] = None
        self.access_key = "djtest" + secrets.token_hex(4)
        self.secret_key = secrets.token_hex(16)
        self._stopped = False

    def _ready(self) -> Optional[str]:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/", timeout=2) as resp:
                return None if resp.status == 200 else f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            return str(exc)

    def start(self) -> None:
        for attempt in range(_PORT_RETRIES):
            self.port = _free_port()
            logf = open(self.log, "ab")
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                    stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                    start_new_session=True, close_fds=True,
                    env={**os.environ, "MOTO_CALL_RESET_API": "false"},
                )
            finally:
                logf.close()
            try:
                _wait_until(self._ready, START_TIMEOUT, f"moto S3 on port {self.port}", self.log,
                            died=lambda: self.proc.poll() is not None)
                break
            except ServerError:
                self.kill_proc()
                if attempt == _PORT_RETRIES - 1 or not _port_in_use(_tail(self.log, 20)):
                    raise
        self.watchdog = _Watchdog("pid:%d" % self.proc.pid, "moto.server", signal.SIGKILL,
                                  [self.base])

    def kill_proc(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def running(self) -> bool:
        return not self._stopped and self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self.kill_proc()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            if self.watchdog:
                self.watchdog.dismiss()


def start_s3(base_dir: Optional[str] = None) -> Server:
    """Start a moto S3 server (separate process) on 127.0.0.1 and a free port."""
    impl = _S3(base_dir)
    try:
        impl.start()
    except BaseException:
        impl.stop()
        raise
    url = f"http://{HOST}:{impl.port}"
    srv = Server(
        kind="s3", host=HOST, port=impl.port, user=impl.access_key, password=impl.secret_key,
        base_dir=impl.base, log_path=impl.log, error_log_path=impl.log,
        endpoint_url=url, access_key=impl.access_key, secret_key=impl.secret_key,
        region="us-east-1", _impl=impl,
    )
    return _register(srv)


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
