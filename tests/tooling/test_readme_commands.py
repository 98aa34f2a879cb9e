"""The README's two commands: the demo serves the quickstart in JupyterLab; CI runs the test command."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [block.strip() for block in blocks]


def test_the_readme_opens_with_the_demo_and_the_test_command_and_ci_runs_the_latter():
    demo, test = readme_commands()[:2]
    assert demo == "scripts/demo.sh"
    assert test == "scripts/test.sh"
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "exec scripts/test.sh"
    for script in (ROOT / "scripts" / "demo.sh", ROOT / "scripts" / "test.sh", ROOT / ".ci" / "run"):
        assert os.access(script, os.X_OK), f"{script} is not executable"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_demo_command_serves_the_quickstart_notebook(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY" and not k.startswith("DJ_")}
    env.update(JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    process = subprocess.Popen(["scripts/demo.sh", f"--port={port}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    try:
        url = None
        deadline = time.time() + 240  # the install step comes first
        while url is None and time.time() < deadline and process.poll() is None:
            found = [m for line in list(lines)
                     for m in re.findall(rf"http://127\.0\.0\.1:{port}/lab\S*", line)]
            url = found[0] if found else None
            time.sleep(0.5)
        assert url, "JupyterLab printed no URL:\n" + "".join(lines[-40:])
        assert "/lab/tree/notebooks/01_quickstart.ipynb" in url, url
        token = re.search(r"token=(\w+)", url)
        query = f"?token={token.group(1)}" if token else ""
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
        api = f"http://127.0.0.1:{port}/api/contents/notebooks/01_quickstart.ipynb{query}"
        with urllib.request.urlopen(api, timeout=30) as response:
            notebook = json.load(response)["content"]
        sources = ["".join(cell["source"]) for cell in notebook["cells"]]
        assert any(source.startswith("%%dj") for source in sources), "the quickstart declares tables with %%dj"
        extensions = f"http://127.0.0.1:{port}/lab/api/extensions{query}"
        with urllib.request.urlopen(extensions, timeout=30) as response:
            names = {entry["name"] for entry in json.load(response)}
        assert "dj-jupyter-labextension" in names
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
