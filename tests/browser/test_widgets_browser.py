"""The widgets in a real JupyterLab, driven by Playwright in headless /usr/bin/chromium.

JupyterLab runs on loopback with a PATH that has no Graphviz ``dot`` (the notebook
prints and checks it), opens a demo notebook, runs all cells, and the test checks:
the diagram was laid out in the browser by the bundled WebAssembly Graphviz, a node
click opens the side panel with a table browser page, the page turns forward, the
array preview loads a thumbnail, and a populate started from the progress panel
reaches 100%. Every step is a screenshot in test-output/; with DJ_WIDGET_DOCS=1 the
screenshots for the README are written to docs/ too.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "widgets_browser"
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [pytest.mark.timeout(420)]

DEMO_CELLS = [
    '''import shutil
import time
import numpy as np
import dj_jupyter as dj
from dj_jupyter.diagram.render import dot_available
from dj_jupyter.jupyter import array_preview, browse, diagram_widget, progress_panel

print("dot on PATH:", shutil.which("dot"), "| Graphviz binary available:", dot_available())
conn = dj.Connection(backend="sqlite", path="demo.sqlite3", quiet=True)
schema = dj.Schema("demo", connection=conn)''',
    '''@schema
class Subject(dj.Manual):
    definition = """
    subject_id : int32
    ---
    species = "mouse" : varchar(32)
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session : int16
    ---
    session_date : date
    notes = "" : varchar(200)
    """


@schema
class Recording(dj.Manual):
    definition = """
    -> Session
    ---
    trace : <blob>
    image : <blob>
    """


@schema
class Stats(dj.Computed):
    definition = """
    -> Recording
    ---
    mean : float64
    peak : float64
    """

    def make(self, key):
        trace = (Recording & key).fetch1("trace")
        time.sleep(0.05)
        self.insert1(dict(key, mean=float(trace.mean()), peak=float(trace.max())))


rng = np.random.default_rng(1)
Subject.insert([(s, "mouse" if s % 2 else "rat") for s in range(1, 7)])
Session.insert([dict(subject_id=s, session=k, session_date=f"2024-05-{k:02d}", notes=f"<i>session {k}</i>")
                for s in range(1, 7) for k in range(1, 11)])
yy, xx = np.mgrid[0:96, 0:128]
Recording.insert([dict(key, trace=np.cumsum(rng.normal(size=2000)),
                       image=np.sin(xx / (4 + key["session"])) * np.cos(yy / 7) + rng.normal(0, .1, (96, 128)))
                  for key in Session.keys()])
print(len(Session), "sessions")''',
    '''diagram = diagram_widget(schema, interval=2)
diagram''',
    '''browser = browse(Session * Recording, page_size=10, title="Session * Recording")
browser''',
    '''try:  # a chunked zarr array shows its chunk grid; a fetched <blob> array works the same way
    import zarr
    movie = zarr.open_array("movie.zarr", mode="w", shape=(40, 960, 1280), chunks=(10, 240, 320), dtype="float32")
    frame = np.sin(np.mgrid[0:960, 0:1280][1] / 40) * np.cos(np.mgrid[0:960, 0:1280][0] / 55)
    movie[:] = np.stack([frame * np.cos(t / 6) for t in range(40)]).astype("float32")
    value, title = movie[7], "frame 7 of movie.zarr"
    value = zarr.open_array("frame.zarr", mode="w", shape=value.shape, chunks=(240, 320), dtype="float32")
    value[:] = movie[7]
except ImportError:
    value, title = (Recording & {"subject_id": 2, "session": 3}).fetch1("image"), "Recording.image"
array_preview(value, title=title)''',
    '''panel = progress_panel(Stats, interval=0.5)
panel''',
    '''from dj_jupyter.jupyter import delete_preview
delete_preview(Session & {"subject_id": 6})''',
]


def _notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in DEMO_CELLS]
    nbformat.write(notebook, str(path))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _requirements():
    if not Path(CHROMIUM).exists():
        pytest.fail("/usr/bin/chromium is not installed (scripts/install_system_deps.sh installs it)")


@pytest.fixture
def lab():
    """JupyterLab on 127.0.0.1 with no Graphviz on the PATH of the server and its kernels."""
    _requirements()
    base = Path(tempfile.mkdtemp(prefix="dj-lab-"))
    base.chmod(0o755)
    root = base / "work"
    root.mkdir()
    settings = base / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    empty_bin = base / "bin"
    empty_bin.mkdir()
    _notebook(root / "widgets_demo.ipynb")
    port = _free_port()
    env = dict(os.environ)
    env.update(PATH=f"{empty_bin}:{Path(sys.executable).parent}", JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), PYTHONPATH=str(ROOT), JUPYTER_PLATFORM_DIRS="1")
    assert shutil.which("dot", path=env["PATH"]) is None
    log = open(base / "lab.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except Exception:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("JupyterLab did not start:\n" + (base / "lab.log").read_text()[-3000:])
    if process.poll() is not None:
        pytest.fail("JupyterLab exited:\n" + (base / "lab.log").read_text()[-3000:])
    yield url, root
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    shutil.rmtree(base, ignore_errors=True)


def _shot(locator_or_page, name: str, docs_name: str | None = None) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    locator_or_page.screenshot(path=str(path))
    if docs_name and os.environ.get("DJ_WIDGET_DOCS"):
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS / docs_name)


def _kernel_idle(page) -> bool:
    return page.evaluate("""() => {
        const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return !!k && k.status === 'idle';
    }""")


def _wait_for(page, predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"timed out waiting for {what}")


def test_widgets_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    url, root = lab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100}, device_scale_factor=1)
            page.set_default_timeout(60_000)
            page.goto(f"{url}/lab/tree/widgets_demo.ipynb")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                                   "window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
            _wait_for(page, lambda: _kernel_idle(page), 90, "the kernel to start")
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            _shot(page, "00_notebook_running")

            # ---- 1. the diagram, laid out by WebAssembly Graphviz with no dot on PATH --------------------
            diagram = page.locator(".dj-diagram-widget:not(:has(.dj-delete-bar))").first
            page.wait_for_selector('.dj-diagram-widget svg[data-renderer="viz-js-wasm"] g[data-node]', timeout=120_000)
            diagram.locator('svg[data-renderer="viz-js-wasm"] g[data-node]').first.wait_for()
            first_output = page.locator(".jp-Cell").nth(0).locator(".jp-OutputArea-output").first.inner_text()
            assert "dot on PATH: None" in first_output and "available: False" in first_output, first_output
            nodes = diagram.locator("g[data-node]")
            assert nodes.count() == 4
            assert diagram.locator('g[data-node="demo.__stats"]').count() == 1
            _wait_for(page, lambda: _kernel_idle(page), 120, "all cells to run")
            diagram.scroll_into_view_if_needed()
            _shot(diagram, "01_diagram")

            # ---- 2. click a node: the side panel shows a page of the table ----------------------------------
            diagram.locator('g[data-node="demo.session"]').click()
            side_rows = diagram.locator(".dj-side .dj-table tbody tr")
            side_rows.first.wait_for()
            assert side_rows.count() == 10
            label = diagram.locator(".dj-side .dj-range")
            assert label.inner_text() == "Rows 1–10 of 60"
            assert "<i>session" in diagram.locator(".dj-side .dj-table tbody").inner_text(), "values are escaped text"
            _shot(diagram, "02_node_clicked")

            # ---- 3. page forward -------------------------------------------------------------------------------
            diagram.locator(".dj-side .dj-next").click()
            page.wait_for_function("() => document.querySelector('.dj-side .dj-range').textContent === "
                                   "'Rows 11–20 of 60'")
            page.wait_for_function("() => (document.querySelector('.dj-side .dj-table tbody tr td') || {})"
                                   ".textContent === '2'", timeout=10_000)  # page 2 starts at subject 2
            _shot(diagram, "03_page_forward")

            # collapse the schema to one node and expand it again (a click on the collapsed node)
            diagram.locator('input.dj-collapse[data-schema="demo"]').check()
            page.wait_for_function("() => document.querySelectorAll('.dj-diagram-widget')[0]"
                                   ".querySelectorAll('g[data-node]').length === 1")
            diagram.locator('g[data-node="demo"]').click()
            page.wait_for_function("() => document.querySelectorAll('.dj-diagram-widget')[0]"
                                   ".querySelectorAll('g[data-node]').length === 4")

            # the stand-alone table browser pages too
            table_browser = page.locator(".dj-widget:has(> .dj-browser)").first
            table_browser.scroll_into_view_if_needed()
            table_browser.locator(".dj-next").click()
            page.wait_for_function("() => [...document.querySelectorAll('.dj-range')].some("
                                   "e => e.textContent === 'Rows 11–20 of 60' && !e.closest('.dj-side'))")
            table_browser.locator("th", has_text="session_date").click()
            page.wait_for_function("() => [...document.querySelectorAll('.dj-range')].some("
                                   "e => e.textContent === 'Rows 1–10 of 60' && !e.closest('.dj-side'))")
            table_browser.locator(".dj-lazy").first.click()
            table_browser.locator(".dj-detail .dj-meta").wait_for()
            table_browser.locator(".dj-detail .dj-load").click()
            table_browser.locator(".dj-detail svg.dj-chart polyline").first.wait_for()
            _shot(table_browser, "04_table_browser", "widgets_table_browser.png")

            # ---- 4. the array preview loads data only on click ----------------------------------------------
            array = page.locator(".dj-widget:has(> .dj-array)").first
            array.scroll_into_view_if_needed()
            assert array.locator("img.dj-thumb").count() == 0
            array.locator(".dj-load").click()
            array.locator("img.dj-thumb").wait_for()
            page.wait_for_function("() => { const i = document.querySelector('.dj-widget > .dj-array img.dj-thumb');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
            _shot(array, "05_array_preview", "widgets_array_preview.png")

            # ---- 5. start a populate from the panel and watch it reach 100% --------------------------------
            panel = page.locator(".dj-widget:has(> .dj-progress)").first
            panel.scroll_into_view_if_needed()
            assert panel.locator(".dj-bar-text").first.inner_text() == "0%"
            panel.locator(".dj-start").click()
            page.wait_for_function("() => { const t = document.querySelector('.dj-progress .dj-bar-text');"
                                   " return t && t.textContent !== '0%'; }", timeout=60_000)
            _shot(panel, "06_populate_running")
            page.wait_for_function("() => { const t = document.querySelector('.dj-progress .dj-bar-text');"
                                   " return t && t.textContent === '100%'; }", timeout=120_000)
            assert "60/60" in panel.inner_text()
            page.wait_for_function("() => (document.querySelector('.dj-progress .dj-progress-state') || {})"
                                   ".textContent && document.querySelector('.dj-progress .dj-progress-state')"
                                   ".textContent.startsWith('Finished')", timeout=60_000)
            _shot(panel, "07_populate_done", "widgets_progress.png")

            # the diagram followed the populate (events of this kernel)
            page.wait_for_function("() => { const g = document.querySelector('.dj-diagram-widget "
                                   "g[data-node=\"demo.__stats\"]'); return g && g.textContent.includes('60/60'); }",
                                   timeout=60_000)
            diagram.scroll_into_view_if_needed()
            _shot(diagram, "08_diagram_after_populate")
            diagram.locator('g[data-node="demo.__stats"]').click()
            page.wait_for_function("() => (document.querySelector('.dj-side .dj-side-title') || {}).textContent "
                                   "=== 'Stats'")
            diagram.locator(".dj-side .dj-tab-jobs").click()
            page.mouse.move(5, 5)
            diagram.locator(".dj-side .dj-jobs-summary").wait_for()
            _shot(diagram, "09_computed_table_jobs", "widgets_diagram.png")

            # ---- 6. the delete preview: counts per table, a stale preview refuses, then Delete ---------------
            preview = page.locator(".dj-diagram-widget:has(.dj-delete-bar)").first
            preview.scroll_into_view_if_needed()
            preview.locator('svg[data-renderer="viz-js-wasm"] g[data-node="demo.session"]').wait_for()
            assert preview.locator(".dj-delete-summary").inner_text() == "Delete 20 rows from 2 tables?"
            preview.locator(".dj-delete").click()  # Stats was populated after the preview was made
            page.wait_for_function("() => (document.querySelector('.dj-delete-result') || {}).textContent"
                                   "?.includes('changed since this preview')", timeout=30_000)
            page.wait_for_function("() => document.querySelector('.dj-delete-summary').textContent === "
                                   "'Delete 30 rows from 3 tables?'", timeout=30_000)
            _shot(preview, "10_delete_preview", "widgets_delete_preview.png")
            preview.locator(".dj-delete").click()
            page.wait_for_function("() => (document.querySelector('.dj-delete-result') || {}).textContent === "
                                   "'Deleted 30 rows from 3 tables.'", timeout=30_000)
            _shot(preview, "11_deleted")
        finally:
            browser.close()
    assert (root / "demo.sqlite3").exists()
