"""Screenshots of the LC-MS notebook running in JupyterLab, for the README.

Run from the repository root: ``python docs/notebook_screenshots.py``. It starts JupyterLab on
127.0.0.1 in a scratch folder (with copies of the notebook and its modules), runs every cell in
headless /usr/bin/chromium through Playwright, and writes docs/lcms_notebook_*.png.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
FILES = ["02_lcms_pipeline.ipynb", "lcms_pipeline.py", "lcms_synthetic.py"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_lab(base: Path) -> tuple[subprocess.Popen, str]:
    root = base / "work"
    root.mkdir()
    for name in FILES:
        shutil.copy(ROOT / "notebooks" / name, root / name)
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = _free_port()
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(base),
           "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(base / "ws")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("JupyterLab did not start")


def main() -> None:
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="dj-docs-"))
    base.chmod(0o755)
    process, url = _start_lab(base)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/lab/tree/02_lcms_pipeline.ipynb")
            page.wait_for_function("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                                   " const k = w && w.sessionContext && w.sessionContext.session &&"
                                   " w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }")
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            cells = page.locator(".jp-Notebook .jp-Cell")
            # run-all stops at the semantic-matching error (cell 28), which is the last screenshot
            cells.nth(28).locator(".jp-OutputArea").get_by_text("SemanticMatchError").first.wait_for()
            page.wait_for_timeout(4000)
            for index, name in ((6, "diagram"), (12, "populate"), (17, "array_preview"), (28, "semantic_error")):
                cell = cells.nth(index)
                cell.scroll_into_view_if_needed()
                page.wait_for_timeout(1500)
                page.screenshot(path=str(DOCS / f"lcms_notebook_{name}.png"))
                print("wrote", DOCS / f"lcms_notebook_{name}.png")
            browser.close()
    finally:
        process.terminate()
        process.wait(20)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
