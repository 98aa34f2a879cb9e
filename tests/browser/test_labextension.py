"""The JupyterLab extension in a real JupyterLab, driven by Playwright in headless /usr/bin/chromium.

JupyterLab runs on 127.0.0.1 with an empty token in a temporary root directory. A
notebook declares a tiny SQLite pipeline in plain Python (without loading dj_jupyter's
extension), then the test:

1. opens the pipeline sidebar, which says dj_jupyter is not loaded and offers a button;
2. clicks it (``%load_ext dj_jupyter`` in the kernel) and sees the demo tables with their
   tier icons, row counts and job status;
3. types a ``%%dj`` definition cell and a query cell and checks the highlighting classes
   of their tokens, and that the
   completer offers the pipeline's tables after ``-> `` (asked from the kernel);
4. clicks a table and sees its browser in the main area, and opens the diagram;
5. populates a table and opens its jobs view through the commands;
6. inserts a ``%%dj`` cell from a tier template through the command (the toolbar
   button was checked at the start).

Screenshots of each step go to test-output/labextension/; the sidebar next to a
highlighted ``%%dj`` cell is also saved as docs/labextension.png.
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
OUTPUT = ROOT / "test-output" / "labextension"
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
EXTENSION = "dj-jupyter-labextension"
STEP = 60_000  # ms: the outer timeout of every browser step

pytestmark = [pytest.mark.timeout(480)]

PIPELINE = '''import dj_jupyter as dj

conn = dj.Connection(backend="sqlite", path="lab_demo.sqlite3", quiet=True)
schema = dj.Schema("demo", connection=conn)


@schema
class Species(dj.Lookup):
    definition = """
    species : varchar(32)
    ---
    common_name : varchar(32)
    """
    contents = [("Mus musculus", "mouse"), ("Rattus norvegicus", "rat")]


@schema
class Subject(dj.Manual):
    definition = """
    subject_id : int32
    ---
    -> Species
    """


@schema
class Segmentation(dj.Computed):
    definition = """
    -> Subject
    ---
    n_rois : int16
    """

    class Roi(dj.Part):
        definition = """
        -> master
        roi : int16
        """

    def make(self, key):
        if key["subject_id"] == 3:
            raise ValueError("no cells in this recording")
        self.insert1(dict(key, n_rois=2))
        self.Roi.insert([dict(key, roi=r) for r in range(2)])


Subject.insert([(1, "Mus musculus"), (2, "Rattus norvegicus"), (3, "Mus musculus")])
Segmentation.populate(reserve_jobs=True, suppress_errors=True)
print(len(Subject), "subjects,", len(Segmentation), "segmentations")'''

DJ_CELL = """%%dj manual Session
# recording sessions
-> Subject
session : int16        # session number
---
session_date : date
rig = "A" : varchar(8)
notes = null : json
movie : <blob@raw>"""

QUERY_CELL = """%%dj --limit 5
Segmentation * Subject & 'species = "Mus musculus"'"""


def _installed() -> bool:
    from jupyter_core.paths import jupyter_path

    return any((Path(p) / "labextensions" / EXTENSION / "package.json").exists() for p in jupyter_path())


def _requirements():
    if not Path(CHROMIUM).exists():
        pytest.fail("/usr/bin/chromium is not installed (scripts/install_system_deps.sh installs it)")
    if not _installed():
        pytest.fail(f"the {EXTENSION} labextension is not installed: run `pip install -e .` (it builds it)")


def _notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(PIPELINE)]
    nbformat.write(notebook, str(path))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab():
    """JupyterLab on 127.0.0.1 with an empty token, in a temporary root directory."""
    _requirements()
    base = Path(tempfile.mkdtemp(prefix="dj-labext-"))
    base.chmod(0o755)
    root = base / "work"
    root.mkdir()
    settings = base / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # refresh on demand only, so what the test sees changes only when it acts
    (settings / EXTENSION).mkdir()
    (settings / EXTENSION / "plugin.jupyterlab-settings").write_text(json.dumps({"refreshSeconds": 0}))
    _notebook(root / "lab_demo.ipynb")
    port = _free_port()
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_PLATFORM_DIRS="1")
    log_path = base / "lab.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail("JupyterLab exited:\n" + log_path.read_text()[-3000:])
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(0.3)
        yield url, root, settings / EXTENSION / "plugin.jupyterlab-settings"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _shot(target, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    target.screenshot(path=str(path), timeout=STEP)
    return path


def _wait_for(page, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _kernel_idle(page) -> bool:
    """The notebook's kernel is idle (the current widget may be an output panel)."""
    return page.evaluate("""() => {
        if (!window.jupyterapp) { return false; }
        const w = [...window.jupyterapp.shell.widgets('main')].find(w => w.sessionContext);
        const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
        return !!k && k.status === 'idle';
    }""")


def _command(page, command: str, args: dict | None = None) -> None:
    # `execute` returns a promise that may never settle for page.evaluate: do not return it
    page.evaluate("([c, a]) => { window.jupyterapp.commands.execute(c, a); }", [command, args or {}])


def _command_mode(page) -> None:
    """Leave the cell editor for the notebook's command mode. Escape alone is not enough: when a
    completer popup is open, the first Escape only closes the popup (and a following "b" is typed)."""
    page.evaluate("""() => {
        const notebook = window.jupyterapp.shell.currentWidget.content;
        notebook.mode = 'command';
        notebook.node.focus();
    }""")
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.mode === 'command'", timeout=STEP)


def _edit_new_cell_below(page):
    """Add a cell below the active one and put its editor in focus. Through the app's own commands rather
    than the "b" and Enter keys: a keystroke lands wherever focus is at that instant, and a completer or
    tooltip closing can still hold it."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    before = cells.count()
    _command(page, "notebook:insert-cell-below")
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length > {before}",
                           timeout=STEP)
    page.evaluate("""() => {
        const notebook = window.jupyterapp.shell.currentWidget.content;
        notebook.mode = 'edit';
        notebook.activeCell.editor.focus();
    }""")
    page.locator(".jp-Notebook .jp-Cell.jp-mod-active .cm-editor.cm-focused").wait_for(timeout=STEP)
    return cells.nth(before)


def _token_texts(cell, css_class: str) -> list[str]:
    return cell.locator(f".cm-content .{css_class}").all_inner_texts()


def test_sidebar_highlighting_and_browser(lab):
    from playwright.sync_api import sync_playwright

    url, root, _ = lab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                             timeout=STEP)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
            page.set_default_timeout(STEP)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "dj-jupyter" in m.text
                    else None)
            page.goto(f"{url}/lab/tree/lab_demo.ipynb", timeout=STEP)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                                   "window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
            _wait_for(page, lambda: _kernel_idle(page), 90, "the kernel to start")

            # ---- the extension is loaded: its plugin, the sidebar tab and the toolbar button ----------------
            assert page.evaluate(f"() => window.jupyterapp.hasPlugin('{EXTENSION}:plugin')")
            page.locator(".jp-NotebookPanel-toolbar .jp-dj-ToolbarButton").wait_for(timeout=STEP)

            # ---- declare the demo pipeline (plain Python, dj_jupyter's IPython extension not loaded) -----
            _command(page, "notebook:run-all-cells")
            outputs = page.locator(".jp-Cell").nth(0).locator(".jp-OutputArea")
            page.locator(".jp-Cell").nth(0).locator(".jp-OutputArea-output").first.wait_for(timeout=90_000)
            _wait_for(page, lambda: _kernel_idle(page), 90, "the pipeline cell to run")
            assert "3 subjects, 2 segmentations" in outputs.inner_text(), outputs.inner_text()

            # ---- 1. the sidebar: not loaded yet, with a button ------------------------------------------------
            page.locator('.lm-TabBar-tab[data-id="dj-jupyter-pipeline-sidebar"]').click(timeout=STEP)
            sidebar = page.locator("#dj-jupyter-pipeline-sidebar")
            sidebar.wait_for(state="visible", timeout=STEP)
            load = sidebar.locator(".jp-dj-Sidebar-load")
            load.wait_for(timeout=STEP)
            assert "not loaded" in sidebar.inner_text()
            _shot(page, "01_sidebar_not_loaded")

            # ---- 2. load it: the demo tables with tiers, counts and job status ---------------------------
            load.click(timeout=STEP)
            sidebar.locator('.jp-dj-Table[data-table="demo.subject"]').wait_for(timeout=STEP)
            rows = {item.get_attribute("data-table"): item for item in sidebar.locator(".jp-dj-Table").all()}
            assert set(rows) == {"demo.#species", "demo.subject", "demo.__segmentation", "demo.__segmentation__roi"}

            def counts(key):
                return rows[key].locator(".jp-dj-Table-rows").inner_text()

            assert [counts(k) for k in ("demo.#species", "demo.subject", "demo.__segmentation",
                                        "demo.__segmentation__roi")] == ["2", "3", "2", "4"]
            assert rows["demo.__segmentation"].get_attribute("data-tier") == "computed"
            assert rows["demo.__segmentation"].locator(".jp-dj-TierIcon.jp-dj-tier-computed").count() == 1
            assert rows["demo.#species"].locator(".jp-dj-tier-lookup").count() == 1
            assert rows["demo.subject"].locator(".jp-dj-tier-manual").count() == 1
            assert "jp-dj-Table-part" in rows["demo.__segmentation__roi"].get_attribute("class")
            jobs = rows["demo.__segmentation"].locator(".jp-dj-Table-jobs")
            assert jobs.inner_text() == "1 err" and "jp-dj-jobs-error" in jobs.get_attribute("class")
            assert sidebar.locator('.jp-dj-Schema[data-schema="demo"] .jp-dj-Schema-name').inner_text() == "demo"
            _shot(sidebar, "02_sidebar_tables")

            # ---- 3. type a %%dj cell: highlighting classes ---------------------------------------------------
            # fold the pipeline's code so the screenshot shows the %%dj cell next to the sidebar
            page.evaluate("""() => {
                const notebook = window.jupyterapp.shell.currentWidget.content;
                notebook.widgets[0].inputHidden = true;
                notebook.activeCellIndex = 0;
                notebook.mode = 'command';
                notebook.node.focus();
            }""")
            cell = _edit_new_cell_below(page)
            page.keyboard.type(DJ_CELL, delay=5)
            editor = cell.locator(".cm-editor.jp-dj-cell-editor")
            editor.wait_for(timeout=STEP)
            page.wait_for_function("() => document.querySelectorAll('.jp-dj-cell-editor .cm-dj-codec').length > 0",
                                   timeout=STEP)
            assert _token_texts(cell, "cm-dj-magic") == ["%%dj"]
            assert _token_texts(cell, "cm-dj-keyword") == ["manual"]
            assert _token_texts(cell, "cm-dj-table") == ["Session", "Subject"]
            assert _token_texts(cell, "cm-dj-comment") == ["# recording sessions", "# session number"]
            assert _token_texts(cell, "cm-dj-reference") == ["->"]
            assert _token_texts(cell, "cm-dj-separator") == ["---"]
            assert _token_texts(cell, "cm-dj-attribute") == ["session", "session_date", "rig", "notes", "movie"]
            assert _token_texts(cell, "cm-dj-type") == ["int16", "date", "varchar", "json"]
            assert _token_texts(cell, "cm-dj-constant") == ["null"]
            assert _token_texts(cell, "cm-dj-store") == ["@raw"]
            assert '"A"' in _token_texts(cell, "cm-dj-string")
            # the Python cell above keeps IPython's highlighting
            assert page.locator(".jp-Cell").nth(0).locator(".jp-dj-cell-editor, .cm-dj-type").count() == 0

            # a query cell: tables, operators, the restriction string
            _command_mode(page)
            query = _edit_new_cell_below(page)
            # pasted, not typed: a completer popup opened by typing could take the newline (the typed cell
            # above covers typing)
            page.keyboard.insert_text(QUERY_CELL)
            query.locator(".cm-dj-string").wait_for(timeout=STEP)
            assert _token_texts(query, "cm-dj-option") == ["--limit"]
            assert _token_texts(query, "cm-dj-table") == ["Segmentation", "Subject"]
            assert _token_texts(query, "cm-dj-operator") == ["*", "&"]
            assert _token_texts(query, "cm-dj-string") == ["'species = \"Mus musculus\"'"]
            _command_mode(page)
            page.wait_for_timeout(300)
            _shot(page, "03_highlighted_cell")
            OUTPUT.mkdir(parents=True, exist_ok=True)
            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS / "labextension.png"), timeout=STEP)

            # ---- 4. the completer asks the kernel for tables after `-> ` ------------------------------------
            _edit_new_cell_below(page)
            page.keyboard.type("%%dj computed Cells\n-> ", delay=20)
            completer = page.locator(".jp-Completer")
            try:
                completer.wait_for(state="visible", timeout=20_000)
            except Exception:
                page.keyboard.press("Tab")  # the nudge missed: Tab asks the same kernel completer
                completer.wait_for(state="visible", timeout=20_000)
            # context matches show at once; the kernel's answer joins them when it arrives
            try:
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.jp-Completer-item')].some(e => "
                    "/Subject/.test(e.textContent))", timeout=20_000)
            except Exception:
                pass
            items = completer.locator(".jp-Completer-item").all_inner_texts()
            assert any("Subject" in item for item in items), items
            assert any("Species" in item for item in items), items
            _shot(page, "04_completion")
            page.keyboard.press("Escape")
            page.keyboard.press("Escape")

            # ---- 5. click a table: its browser opens in the main area ---------------------------------------
            sidebar.locator('.jp-dj-Table[data-table="demo.subject"]').click(timeout=STEP)
            panel = page.locator(".jp-dj-OutputPanel").filter(has=page.locator(".jp-OutputArea-output")).first
            panel.wait_for(timeout=STEP)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-dj-OutputPanel .jp-OutputArea-output')]"
                ".some(e => /Rattus norvegicus/.test(e.textContent))", timeout=STEP)
            text = panel.inner_text()
            assert "Mus musculus" in text and "subject_id" in text, text[:2000]
            tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="demo.subject")
            assert tab.count() == 1
            _shot(page, "05_table_browser")

            # ---- 6. the diagram button -------------------------------------------------------------------------
            sidebar.locator('.jp-dj-Schema[data-schema="demo"] .jp-dj-Schema-diagram').click(timeout=STEP)
            page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Diagram demo").wait_for(timeout=STEP)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-dj-OutputPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]"
                ".some(e => /segmentation/i.test(e.textContent) || e.querySelector('svg'))", timeout=STEP)
            _shot(page, "06_diagram")

            # ---- 7. populate and the jobs view through the commands (as from the palette or toolbar) -------
            _command(page, "dj-jupyter:populate", {"table": "Segmentation"})
            page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Populate Segmentation").wait_for(
                timeout=STEP)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-dj-OutputPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]"
                ".some(e => /Segmentation/.test(e.textContent))", timeout=STEP)
            _wait_for(page, lambda: _kernel_idle(page), 90, "the populate to finish")
            _shot(page, "07_populate")
            _command(page, "dj-jupyter:open-jobs", {"table": "Segmentation"})
            page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Jobs Segmentation").wait_for(timeout=STEP)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-dj-OutputPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]"
                ".some(e => /no cells in this recording|error/.test(e.textContent))", timeout=STEP)
            _shot(page, "08_jobs")

            # ---- 8. a command inserts a %%dj cell from a tier template -----------------------------------
            page.locator(".jp-NotebookPanel").first.click(position={"x": 200, "y": 10}, timeout=STEP)
            before = page.locator(".jp-Notebook .jp-Cell").count()
            _command(page, "dj-jupyter:insert-table-cell", {"tier": "lookup"})
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-Notebook .jp-Cell .cm-content')]"
                ".some(e => e.textContent.startsWith('%%dj lookup Species'))", timeout=STEP)
            assert page.locator(".jp-Notebook .jp-Cell").count() >= before
            inserted = page.locator(".jp-Notebook .jp-Cell", has_text="%%dj lookup Species").first
            inserted.locator(".jp-dj-cell-editor .cm-dj-keyword", has_text="contents").wait_for(timeout=STEP)
            palette = page.evaluate("() => window.jupyterapp.commands.label('dj-jupyter:insert-table-cell', "
                                    "{tier: 'computed'})")
            assert palette == "Insert %%dj Computed Table Cell"
            _shot(page, "09_inserted_template")

            # the toolbar's DJ menu offers the same commands
            page.locator(".jp-NotebookPanel-toolbar .jp-dj-ToolbarButton").first.click(timeout=STEP)
            menu = page.locator(".lm-Menu.jp-dj-ToolbarMenu")
            menu.wait_for(state="visible", timeout=STEP)
            labels = menu.locator(".lm-Menu-itemLabel").all_inner_texts()
            assert "Insert %%dj Imported Table Cell" in labels and "Show Pipeline Diagram" in labels, labels
            assert "Populate Table Under Cursor" in labels and "Open Jobs View" in labels, labels
            _shot(page, "10_toolbar_menu")
            page.keyboard.press("Escape")

            assert not errors, errors
        finally:
            browser.close()


def test_settings_turn_features_off(lab):
    """With every feature off: no sidebar tab, no toolbar button, no palette entries, plain %%dj cells."""
    from playwright.sync_api import sync_playwright

    url, root, settings_file = lab
    saved = settings_file.read_text()
    settings_file.write_text(json.dumps({"refreshSeconds": 0, "highlighting": False, "sidebar": False,
                                         "toolbar": False, "commands": False, "autoComplete": False}))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                                 timeout=STEP)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                page.set_default_timeout(STEP)
                page.goto(f"{url}/lab/tree/lab_demo.ipynb", timeout=STEP)
                page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                                       "window.jupyterapp.shell.currentWidget.content", timeout=90_000)
                page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=STEP)
                assert page.evaluate(f"() => window.jupyterapp.hasPlugin('{EXTENSION}:plugin')")
                # settings arrive after the plugin starts: wait until the toolbar button is hidden
                page.wait_for_function(
                    "() => { const b = document.querySelector('.jp-dj-ToolbarButton');"
                    " return !b || b.offsetParent === null; }", timeout=STEP)
                page.wait_for_function(
                    "() => !document.querySelector('.lm-TabBar-tab[data-id=\"dj-jupyter-pipeline-sidebar\"]')",
                    timeout=STEP)
                assert not page.evaluate("() => window.jupyterapp.commands.isEnabled("
                                         "'dj-jupyter:insert-table-cell', {tier: 'manual'})")
                page.evaluate("""() => {
                    const notebook = window.jupyterapp.shell.currentWidget.content;
                    notebook.widgets[0].model.sharedModel.setSource('%%dj manual T\\nt_id : int32');
                }""")
                page.wait_for_function("() => document.querySelector('.jp-Cell .cm-content').textContent"
                                       ".startsWith('%%dj manual T')", timeout=STEP)
                page.wait_for_timeout(500)
                assert page.locator(".jp-Cell .cm-dj-type, .jp-Cell .cm-dj-magic").count() == 0
                _shot(page, "11_features_off")
            finally:
                browser.close()
    finally:
        settings_file.write_text(saved)
