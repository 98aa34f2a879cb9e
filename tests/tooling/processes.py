"""What every throw-away test server shares: the Server handle, the registry stopped at exit, the
watchdog that cleans up after a killed test process, and process helpers."""

from __future__ import annotations

import atexit
import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

HOST = "127.0.0.1"
TEST_USER = "dj_test"
INSTALL_HINT = "run scripts/install_system_deps.sh (as root) to install the system packages"
START_TIMEOUT = 60.0
PORT_RETRIES = 3


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
        return tail(self.error_log_path, lines)

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


def launched(impl):
    """``impl`` (a server implementation) started, or stopped again, leaving nothing, if it cannot start."""
    try:
        impl.start()
    except BaseException:
        impl.stop()
        raise
    return impl


def register(srv: Server) -> Server:
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


class Watchdog:
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Optional[str], lines: int = 40) -> str:
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


def is_root() -> bool:
    return os.geteuid() == 0


def make_base_dir(prefix: str, base_dir: Optional[str], owner: Optional[str]) -> str:
    """A fresh directory that the (unprivileged) server user can enter and write."""
    if base_dir is not None:
        os.makedirs(base_dir, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=base_dir)
    os.chmod(path, 0o755)  # mkdtemp gives 0700: the postgres/mysql user could not enter it
    if owner and is_root():
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


def require_user(name: str) -> None:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ServerError(f"system user {name!r} does not exist; {INSTALL_HINT}") from None


def as_user(user: Optional[str], cmd: List[str]) -> List[str]:
    """Prefix ``cmd`` to run as ``user`` when we are root."""
    if user and is_root():
        return ["runuser", "-u", user, "--", *cmd]
    return cmd


def run(cmd: List[str], what: str, env: Optional[Dict[str, str]] = None, timeout: float = 120,
         log: Optional[str] = None, input: Optional[str] = None) -> str:
    try:
        res = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=timeout, input=input
        )
    except subprocess.TimeoutExpired:
        raise ServerError(f"{what} timed out after {timeout}s\nlog tail:\n{tail(log)}") from None
    if res.returncode != 0:
        raise ServerError(
            f"{what} failed (exit {res.returncode}): {' '.join(cmd[:6])} ...\n"
            f"stdout:\n{res.stdout[-2000:]}\nstderr:\n{res.stderr[-2000:]}\n"
            f"log tail:\n{tail(log)}"
        )
    return res.stdout


def wait_until(check: Callable[[], Optional[str]], timeout: float, what: str,
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
                              f"log tail:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise ServerError(f"{what}: not ready after {timeout:.0f}s\nlast error: {last}\n"
                              f"log tail:\n{tail(log)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def port_in_use(text: str) -> bool:
    return bool(re.search(r"address already in use|could not bind|do you already have another",
                          text, re.I))
