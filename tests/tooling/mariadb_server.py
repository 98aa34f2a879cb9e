"""A throw-away MariaDB server (run as the mysql user when root) for tests."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from typing import Dict, List, Optional

from .processes import (HOST, INSTALL_HINT, PORT_RETRIES, START_TIMEOUT, TEST_USER, free_port, is_root,
                        launched, make_base_dir, port_in_use, register, require_user, run, Server,
                        ServerError, tail, wait_until, Watchdog)


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
        self.os_user = self.OS_USER if is_root() else None
        if self.os_user:
            require_user(self.os_user)
        self.password = secrets.token_hex(16)
        self.base = make_base_dir("djtest-maria-", base_dir, self.os_user)
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "general.log")
        self.error_log = os.path.join(self.base, "error.log")
        self.pidfile = os.path.join(self.base, "mariadbd.pid")
        self.extra_dirs: List[str] = []
        sockdir = self.base
        if len(sockdir) > 80:
            sockdir = make_base_dir("djmaria-", None, self.os_user)
            self.extra_dirs.append(sockdir)
        self.socket = os.path.join(sockdir, "mariadbd.sock")
        self.port = 0
        self.max_connections = max_connections
        self.log_statements = log_statements
        self.proc: Optional[subprocess.Popen] = None
        self.watchdog: Optional[Watchdog] = None
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
        run(cmd, "mariadb-install-db")

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
                              f"log tail:\n{tail(self.error_log)}")
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
        for attempt in range(PORT_RETRIES):
            self.port = free_port()
            self.launch()

            def admin_ready() -> Optional[str]:
                res = self._client("SELECT 1", admin=True, check=False)
                return None if res.returncode == 0 else (res.stderr.strip() or "not ready")

            try:
                wait_until(admin_ready, START_TIMEOUT, f"MariaDB on port {self.port}",
                            self.error_log, died=self._died)
                break
            except ServerError:
                self.kill_proc(signal.SIGKILL)
                if attempt == PORT_RETRIES - 1 or not port_in_use(tail(self.error_log, 20)):
                    raise
        self.watchdog = Watchdog("pid:%d" % self.proc.pid, self.data, signal.SIGKILL,
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
        wait_until(self._tcp_query, START_TIMEOUT, f"MariaDB on port {self.port}",
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
        self.watchdog = Watchdog("pid:%d" % self.proc.pid, self.data, signal.SIGKILL,
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
    impl = launched(_MariaDB(base_dir, log_statements, max_connections))
    srv = Server(
        kind="mariadb", host=HOST, port=impl.port, user=TEST_USER, password=impl.password,
        base_dir=impl.base, log_path=impl.log, error_log_path=impl.error_log,
        data_dir=impl.data, log_statements=log_statements, _impl=impl,
    )
    return register(srv)
