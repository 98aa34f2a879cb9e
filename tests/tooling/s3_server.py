"""A throw-away S3 endpoint: moto in server mode, in a process of its own."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Optional

from .processes import (HOST, PORT_RETRIES, START_TIMEOUT, free_port, launched, make_base_dir, port_in_use,
                        register, Server, ServerError, tail, wait_until, Watchdog)


class _S3:
    def __init__(self, base_dir: Optional[str]):
        try:
            import moto.server  # noqa: F401  (only to give a clear error early)
        except ImportError as exc:
            raise ServerError(f"moto[server] is not installed: pip install 'moto[server]' ({exc})")
        self.base = make_base_dir("djtest-s3-", base_dir, None)
        self.log = os.path.join(self.base, "moto.log")
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.watchdog: Optional[Watchdog] = None
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
        for attempt in range(PORT_RETRIES):
            self.port = free_port()
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
                wait_until(self._ready, START_TIMEOUT, f"moto S3 on port {self.port}", self.log,
                            died=lambda: self.proc.poll() is not None)
                break
            except ServerError:
                self.kill_proc()
                if attempt == PORT_RETRIES - 1 or not port_in_use(tail(self.log, 20)):
                    raise
        self.watchdog = Watchdog("pid:%d" % self.proc.pid, "moto.server", signal.SIGKILL,
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
    impl = launched(_S3(base_dir))
    url = f"http://{HOST}:{impl.port}"
    srv = Server(
        kind="s3", host=HOST, port=impl.port, user=impl.access_key, password=impl.secret_key,
        base_dir=impl.base, log_path=impl.log, error_log_path=impl.log,
        endpoint_url=url, access_key=impl.access_key, secret_key=impl.secret_key,
        region="us-east-1", _impl=impl,
    )
    return register(srv)
