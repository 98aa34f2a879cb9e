"""The labextension's jest suite and type check, run from pytest so one command covers them.

``labextension/src/__tests__/`` holds the jest tests of the ``%%dj`` language (tokens of
a sample definition), the cell detection and the sidebar model. ``pip install -e .``
installs the node modules while it builds the extension; if they are missing (a
checkout that skipped the build) ``jlpm install`` runs first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABEXTENSION = ROOT / "labextension"

pytestmark = [pytest.mark.timeout(900)]


def _jlpm() -> list[str]:
    if shutil.which("node") is None:
        pytest.fail("Node.js is not installed (scripts/install_system_deps.sh installs it)")
    jlpm = shutil.which("jlpm")
    if jlpm is None:
        pytest.fail("jlpm is not installed (it comes with jupyterlab / jupyter_builder: pip install -e .[test])")
    return [jlpm]


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true", "FORCE_COLOR": "0"}
    return subprocess.run(args, cwd=LABEXTENSION, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def node_modules():
    jlpm = _jlpm()
    if not (LABEXTENSION / "node_modules" / "jest").is_dir():
        result = _run([*jlpm, "install"], timeout=600)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return jlpm


def test_jest(node_modules):
    result = _run([*node_modules, "jest", "--ci"], timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = re.search(r"Tests:\s+(\d+) passed, (\d+) total", output)
    assert summary, output[-3000:]
    assert int(summary.group(1)) == int(summary.group(2)) > 40, summary.group(0)
    for suite in ("language", "detect", "model", "editor"):
        assert f"src/__tests__/{suite}.spec.ts" in output, f"the {suite} suite did not run"


def test_typescript_types(node_modules):
    """The sources and the tests type-check (the build checks the sources only)."""
    result = _run([*node_modules, "tsc", "--noEmit", "-p", "tsconfig.test.json"], timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
