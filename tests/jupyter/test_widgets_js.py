"""The widgets' JavaScript: unit tests of the pure logic (``node --test``) and the bundle build.

The logic tests need Node only. The build check installs the pinned packages
(``npm ci`` from widgets/package-lock.json), rebuilds into a temporary folder and
compares with the bundles committed in dj_jupyter/jupyter/static/: they must be
byte-identical, so the shipped JavaScript is exactly what the sources make.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WIDGETS = ROOT / "widgets"
STATIC = ROOT / "dj_jupyter" / "jupyter" / "static"

node = shutil.which("node")
npm = shutil.which("npm")
pytestmark = pytest.mark.skipif(node is None, reason="Node.js is not installed")


def test_widget_logic_unit_tests():
    result = subprocess.run([node, "--test", "test/"], cwd=WIDGETS, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"# pass (\d+)", output)
    failed = re.search(r"# fail (\d+)", output)
    assert passed and int(passed.group(1)) >= 9 and failed and failed.group(1) == "0", output


def test_committed_bundles_are_what_the_sources_build(tmp_path):
    assert npm is not None, "npm is not installed (scripts/install_system_deps.sh installs nodejs)"
    if not (WIDGETS / "node_modules" / "esbuild").exists():
        install = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WIDGETS,
                                 capture_output=True, text=True, timeout=600)
        assert install.returncode == 0, f"npm ci failed: {install.stderr[-500:]}"
    env = dict(os.environ, DJ_WIDGETS_OUT=str(tmp_path))
    build = subprocess.run([node, "build.mjs"], cwd=WIDGETS, capture_output=True, text=True, timeout=300, env=env)
    assert build.returncode == 0, build.stderr
    built = json.loads((tmp_path / "manifest.json").read_text())
    committed = json.loads((STATIC / "manifest.json").read_text())
    assert built == committed, "the bundles in dj_jupyter/jupyter/static/ are stale: run scripts/build_widgets.sh"
    diagram = (STATIC / "diagram.js").read_text()
    assert "WebAssembly" in diagram and "https://cdn" not in diagram and "unpkg.com" not in diagram


def test_bundles_load_nothing_from_the_network():
    for name in ("diagram.js", "browser.js", "array.js", "progress.js"):
        text = (STATIC / name).read_text()
        assert not re.search(r"import\s*\(?\s*['\"]https?://", text), f"{name} imports from the network"
        assert "export" in text and "render" in text
