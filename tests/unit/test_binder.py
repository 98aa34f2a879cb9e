"""The Binder configuration installs this package and works on a fresh machine."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_binder_installs_this_package_with_declared_extras():
    post_build = (BINDER / "postBuild").read_text()
    installs = re.findall(r"pip install[^\n]*?\"\.\[([a-z,]+)\]\"", post_build)
    assert installs, "postBuild must install the package from the repository"
    extras = _project()["optional-dependencies"]
    for group in installs:
        for extra in group.split(","):
            assert extra in extras, f"postBuild asks for extra {extra!r}, which pyproject.toml does not define"
    assert "jupyterlab" in " ".join(extras["jupyter"]), "the Binder extra must bring JupyterLab"


def test_binder_python_is_allowed_by_the_package():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    version = runtime.removeprefix("python-")
    assert version in SpecifierSet(_project()["requires-python"])


def test_binder_pins_agree_with_the_package():
    requirements = BINDER / "requirements.txt"
    declared = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower(): d for d in _project()["dependencies"]}
    if requirements.exists():
        for line in requirements.read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line or "==" not in line:
                continue
            name, version = line.split("==")
            if name.lower() in declared:
                spec = declared[name.lower()][len(name):]
                assert version in SpecifierSet(spec), f"binder pins {line}, the package needs {spec}"
    assert "graphviz" in (BINDER / "apt.txt").read_text().split()


def test_post_build_is_executable():
    mode = (BINDER / "postBuild").stat().st_mode
    assert mode & stat.S_IXUSR, "binder/postBuild must be executable"


@pytest.mark.timeout(1500)
def test_post_build_runs_in_a_fresh_virtual_environment(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([str(BINDER / "postBuild")], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=1400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import dj_jupyter, kernel_magics, anywidget; print(dj_jupyter.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr
    assert str(venv) in check.stdout  # the package came from the fresh environment, not this one
