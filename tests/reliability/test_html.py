"""HTML/JS payloads in names, comments, values, file names and error messages stay text everywhere.

In-process: every HTML repr (``_repr_html_`` of queries, the static HTML twins in each widget's
mimebundle, the magics' HTML, the SVG of ``dj.Diagram``) is parsed and must contain no
``<script>``/``<iframe>``/``<object>``/``<embed>`` element, no ``on*`` attribute, no
``javascript:`` URL; the DOT text the diagram widget sends is laid out with Graphviz and the
SVG checked the same way; the JSON the widgets send (state and message replies) is walked and
every string that is meant as markup is checked, the rest must be the payload as plain data.

In a browser: JupyterLab on loopback runs a notebook showing all of these views in headless
Chromium (Playwright, /usr/bin/chromium); the test clicks the diagram node, the table browser
cells and the progress panel's errors, then checks ``window.__pwned`` is undefined, no dialog
opened, and the payloads are visible as text.
"""

from __future__ import annotations

import html.parser
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

from tests.reliability import helpers
from tests.reliability.html_fixture import PAYLOADS, SETUP

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "frame", "frameset", "base", "meta", "link"}
URL_ATTRIBUTES = {"href", "src", "xlink:href", "action", "formaction", "data", "srcdoc", "background", "poster"}


class _Inert(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.tags = 0

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        if tag.lower() in DANGEROUS_TAGS:
            self.problems.append(f"<{tag}> element")
        for name, value in attrs:
            lowered = name.lower()
            if lowered.startswith("on"):
                self.problems.append(f"{tag} {name}= event handler")
            if lowered in URL_ATTRIBUTES and value and value.strip().lower().replace("\x00", "").startswith(
                    ("javascript:", "vbscript:", "data:text/html")):
                self.problems.append(f"{tag} {name}={value[:40]!r}")
            if lowered == "style" and value and ("javascript:" in value.lower() or "expression(" in value.lower()):
                self.problems.append(f"{tag} style with script")

    handle_startendtag = handle_starttag


def assert_inert(markup: str, where: str) -> int:
    parser = _Inert()
    parser.feed(markup)
    parser.close()
    assert not parser.problems, f"{where}: active content {parser.problems[:5]}"
    return parser.tags


def _json_strings(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_strings(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _json_strings(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


MARKUP_KEYS = ("html", "svg", "markup")


def check_json(message, where: str) -> dict:
    """Markup fields are inert HTML; DOT is laid out and checked; everything else is data (never parsed)."""
    counts = {"strings": 0, "markup": 0, "payload_as_data": 0}
    for path, text in _json_strings(json.loads(json.dumps(message, default=str))):
        counts["strings"] += 1
        leaf = path.rsplit(".", 1)[-1].split("[")[0].lower()
        if leaf in MARKUP_KEYS:
            assert_inert(text, f"{where}{path}")
            counts["markup"] += 1
        elif leaf == "dot":
            _check_dot(text, f"{where}{path}")
            counts["markup"] += 1
        elif any(p in text for p in PAYLOADS) or "__pwned" in text:
            counts["payload_as_data"] += 1
    return counts


def _check_dot(dot: str, where: str) -> None:
    import graphviz

    if shutil.which("dot") is None:
        return
    svg = graphviz.Source(dot).pipe(format="svg").decode()
    assert_inert(svg, f"{where} (DOT laid out by Graphviz)")


@pytest.fixture
def hostile(tmp_path, use_stores):
    import dj_jupyter as dj

    use_stores({"protocol": "file", "location": str(tmp_path / "store")}, download_path=str(tmp_path / "dl"))
    namespace: dict = {}
    exec(SETUP, namespace)  # noqa: S102 - the fixture's own code
    connection = dj.Connection(backend="sqlite", path=str(tmp_path / "hostile.sqlite3"), quiet=True)
    files = tmp_path / "files"
    files.mkdir()
    schema, Subject, Doc, Score = namespace["build_hostile"](connection, str(files))
    yield schema, Subject, Doc, Score
    connection.close()


def test_html_reprs_and_widget_messages_are_inert(hostile):
    import dj_jupyter as dj
    from dj_jupyter.jupyter import array_preview, browse, delete_preview, diagram_widget, progress_panel

    schema, Subject, Doc, Score = hostile
    checked = {}
    # query previews
    for label, expr in {"table": Subject(), "join": Subject * Doc, "proj": Subject.proj(n="name"),
                        "aggr": Subject.aggr(Score, n="count(*)"), "computed": Score(),
                        "restricted": Subject & {"name": PAYLOADS[0]}, "jobs": Score.jobs}.items():
        markup = expr._repr_html_()
        assert_inert(markup, f"{label}._repr_html_")
        assert "&lt;script&gt;" in markup or label in ("aggr", "computed"), label
        checked[f"repr_html {label}"] = len(markup)
    # dj.Diagram: DOT, SVG, Mermaid
    diagram = dj.Diagram(schema)
    dot = diagram.make_dot().source if hasattr(diagram.make_dot(), "source") else str(diagram.make_dot())
    _check_dot(dot, "dj.Diagram.make_dot")
    for name in ("_repr_svg_", "svg_string"):
        method = getattr(diagram, name, None)
        if method is not None:
            try:
                svg = method()
            except Exception as error:  # noqa: BLE001 - e.g. no Graphviz: the DOT check above covers it
                svg = ""
                print(f"{name}: {error}")
            if svg:
                assert_inert(svg if isinstance(svg, str) else svg.decode(), f"dj.Diagram.{name}")
                checked[f"diagram {name}"] = len(svg)
    bundle = diagram._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    for mime, value in data.items():
        if mime in ("text/html", "image/svg+xml"):
            assert_inert(value if isinstance(value, str) else value.decode(), f"dj.Diagram {mime}")
    # widgets: static twins, synced state, message replies
    widgets = {
        "browser": browse(Subject * Doc, page_size=20),
        "diagram": diagram_widget(schema, live=False),
        "progress": progress_panel(Score, live=False),
        "delete_preview": delete_preview(Subject & "subject_id < 3"),
        "array": array_preview((Doc & {"subject_id": 0}).fetch1("trace"), title=PAYLOADS[1]),
    }
    payload_counts = {}
    for name, widget in widgets.items():
        widget.record_messages = True
        bundle = widget._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        for mime in ("text/html", "image/svg+xml"):
            if mime in data:
                assert_inert(data[mime], f"{name} {mime}")
        state = {k: getattr(widget, k) for k in widget.keys if not k.startswith("_")}
        counts = check_json(state, f"{name} state")
        requests = {
            "browser": [{"type": "page", "page": 0, "page_size": 20}, {"type": "cell", "row": 0, "column": "name"},
                        {"type": "count"}],
            "diagram": [{"type": "node", "id": f"{schema.database}.subject"},
                        {"type": "node", "id": f"{schema.database}.__score"},
                        {"type": "describe", "id": f"{schema.database}.__score"}],
            "progress": [{"type": "refresh"}] + [{"type": "stack", "index": e["index"]}
                                                 for e in widget.errors[:3]] if name == "progress" else [],
            "delete_preview": [{"type": "node", "id": f"{schema.database}.subject"}],
            "array": [{"type": "sample"}],
        }[name]
        for request in requests:
            reply = widget.handle_message(request, [])
            if isinstance(reply, tuple):
                reply = reply[0]
            if reply is not None:
                more = check_json(reply, f"{name} reply {request['type']}")
                counts = {k: counts[k] + more[k] for k in counts}
        payload_counts[name] = counts
        if name == "progress":
            assert widget.errors and any("__pwned" in e.get("message", "") for e in widget.errors), widget.errors
        widget.close()
    # the magics' plain HTML views
    magic_html = _magic_outputs(schema)
    for source, markup in magic_html:
        assert_inert(markup, f"magic {source}")
    helpers.report(f"[html] {len(PAYLOADS)} payloads (script, img onerror, javascript: URL, svg onload, table break-out, link, "
          f"attribute break-out, iframe srcdoc, style url, details ontoggle) in a table comment, attribute comments, "
          f"values, attachment file names and make() error messages: {len(checked)} HTML/SVG reprs inert "
          f"({sorted(checked)}); widgets (static twin + synced state + replies): {payload_counts}; "
          f"{len(magic_html)} magic HTML outputs inert")


def _magic_outputs(schema) -> list[tuple[str, str]]:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from dj_jupyter import connection as connection_module

    shell = InteractiveShell.instance()
    if "DJMagic" not in shell.magics_manager.registry:
        shell.run_line_magic("load_ext", "dj_jupyter")
    magic = shell.magics_manager.registry["DJMagic"]
    saved_widgets = magic.widgets
    magic.widgets = False  # the plain HTML views (the widgets are checked above)
    saved = connection_module._global.get("connection")
    connection_module._global["connection"] = schema.connection
    outputs = []
    try:
        shell.run_cell(f"%dj schema {schema.database} --spawn")
        for source in ("%dj query Subject", "%dj query Subject * Doc", "%dj describe Subject", "%dj jobs Score",
                       "%dj status", "%dj diagram"):
            with capture_output(display=True) as captured:
                shell.run_cell(source)
            for output in captured.outputs:
                for mime in ("text/html", "image/svg+xml"):
                    if mime in output.data:
                        outputs.append((source, output.data[mime]))
    finally:
        magic.widgets = saved_widgets
        if saved is not None:
            connection_module._global["connection"] = saved
        else:
            connection_module._global.pop("connection", None)
    return outputs


# ---- the browser ---------------------------------------------------------------------------------------------
NOTEBOOK_CELLS = [
    SETUP + '''
import tempfile, os
dj.config["stores"] = {"default": "main", "main": {"protocol": "file", "location": os.path.abspath("store")}}
dj.config["download_path"] = os.path.abspath("dl")
dj.config["database.backend"] = "sqlite"
dj.config["database.path"] = os.path.abspath("hostile.sqlite3")
connection = dj.conn(reset=True)  # the %dj magics below use the same connection
os.makedirs("files", exist_ok=True)
schema, Subject, Doc, Score = build_hostile(connection, os.path.abspath("files"))
print("ready", len(Subject), len(Score.jobs.errors))''',
    "Subject * Doc",
    "from dj_jupyter.jupyter import browse, diagram_widget, progress_panel, delete_preview, array_preview\n"
    "browse(Subject * Doc, page_size=20)",
    "diagram_widget(schema, interval=2)",
    "progress_panel(Score, interval=1)",
    "delete_preview(Subject & 'subject_id < 3')",
    "array_preview((Doc & {'subject_id': 0}).fetch1('trace'), title=PAYLOADS[1])",
    "%load_ext dj_jupyter\n%dj schema hostile --spawn",
    "%dj query Subject",
    "%dj describe Subject",
    "dj.Diagram(schema)",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(capture_dir):
    if not Path(CHROMIUM).exists():
        pytest.fail("/usr/bin/chromium is not installed (scripts/install_system_deps.sh installs it)")
    import nbformat

    base = Path(tempfile.mkdtemp(prefix="djrel-lab-"))
    base.chmod(0o755)
    root = base / "work"
    root.mkdir()
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                          "checkForUpdates": False}))
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    nbformat.write(notebook, str(root / "hostile.ipynb"))
    port = _free_port()
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), PYTHONPATH=str(helpers.ROOT),
               JUPYTER_PLATFORM_DIRS="1")
    env = {k: v for k, v in env.items() if not k.startswith("DJ_")}
    log = open(capture_dir / "jupyterlab-html.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except Exception:  # noqa: BLE001
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("JupyterLab did not start:\n" + (capture_dir / "jupyterlab-html.log").read_text()[-3000:])
            time.sleep(0.3)
    yield url, root
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    shutil.rmtree(base, ignore_errors=True)


def _kernel_idle(page) -> bool:
    return page.evaluate("""() => {
        const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return !!k && k.status === 'idle';
    }""")


def _wait(page, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(300)
def test_no_script_runs_in_jupyterlab(lab, capture_dir):
    from playwright.sync_api import sync_playwright

    url, root = lab
    dialogs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(f"{url}/lab/tree/hostile.ipynb")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                                   "window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
            _wait(page, lambda: _kernel_idle(page), 90, "the kernel")
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            page.wait_for_selector(".dj-diagram-widget svg g[data-node]", timeout=120_000)
            _wait(page, lambda: page.locator(".jp-Cell").nth(len(NOTEBOOK_CELLS) - 1)
                  .locator(".jp-OutputArea-output").count() > 0, 120, "all cells")
            _wait(page, lambda: _kernel_idle(page), 120, "the cells to finish")
            errors_in_cells = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            # interact: the diagram node (definition with the hostile comments), a table browser cell,
            # the progress panel's error list and its stack
            diagram = page.locator(".dj-diagram-widget:not(:has(.dj-delete-bar))").first
            diagram.locator('g[data-node="hostile.subject"]').click()
            diagram.locator(".dj-side .dj-table tbody tr").first.wait_for()
            diagram.locator('g[data-node="hostile.__score"]').click()
            page.wait_for_timeout(1000)
            for tab in diagram.locator(".dj-side button").all()[:6]:
                try:
                    tab.click(timeout=2000)
                    page.wait_for_timeout(300)
                except Exception:  # noqa: BLE001 - not every button is clickable in every state
                    pass
            table_browser = page.locator(".dj-widget:has(> .dj-browser)").first
            for cell in table_browser.locator("td").all()[:12]:
                try:
                    cell.click(timeout=1000)
                except Exception:  # noqa: BLE001
                    pass
            panel = page.locator(".dj-widget:has(> .dj-progress)").first
            panel.scroll_into_view_if_needed()
            for item in panel.locator("li, .dj-error, .dj-errors *").all()[:6]:
                try:
                    item.click(timeout=1000)
                    page.wait_for_timeout(300)
                except Exception:  # noqa: BLE001
                    pass
            for node in page.locator("g[data-node]").all()[:6]:
                try:
                    node.hover(timeout=1000)
                except Exception:  # noqa: BLE001
                    pass
            page.wait_for_timeout(1500)
            pwned = page.evaluate("() => window.__pwned === undefined ? null : String(window.__pwned)")
            frames_pwned = [f.evaluate("() => window.__pwned === undefined ? null : String(window.__pwned)")
                            for f in page.frames]
            text = page.evaluate("() => document.body.innerText")
            visible = sum(1 for p in PAYLOADS if p[:25] in text)
            scripts = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea script, .dj-widget script, "
                                    ".jp-OutputArea [onerror], .jp-OutputArea [onload], .jp-OutputArea iframe, "
                                    ".jp-OutputArea [ontoggle], .jp-OutputArea [onmouseover]')].length")
            stderr_outputs = errors_in_cells.count()
            page.screenshot(path=str(capture_dir / "html-browser.png"), full_page=False)
        finally:
            browser.close()
    assert pwned is None and not any(frames_pwned), f"a payload ran: window.__pwned = {pwned} {frames_pwned}"
    assert not dialogs, f"a dialog opened: {dialogs}"
    assert scripts == 0
    assert visible >= 5, "the payloads should be visible as text"
    helpers.report(f"[html browser] JupyterLab + Chromium: {len(NOTEBOOK_CELLS)} cells (repr, table browser, diagram widget, "
          f"progress panel with payload errors, delete preview, array preview, %dj query/describe, dj.Diagram) ran; "
          f"clicked the diagram nodes, side-panel tabs, table cells and error list; window.__pwned undefined in "
          f"{len(frames_pwned)} frames, 0 dialogs, 0 script/handler elements in outputs, {visible}/{len(PAYLOADS)} "
          f"payloads visible as text; stderr outputs in cells: {stderr_outputs}")
