"""``import dj_jupyter`` stays free of Jupyter: compute workers install and import the core alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JUPYTER_MODULES = ("IPython", "ipywidgets", "anywidget", "ipykernel", "traitlets", "comm")

PROBE = """
import json, sys
import dj_jupyter as dj
dj.config  # settings are loaded at import
found = sorted({name.split('.')[0] for name in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"found": found, "file": dj.__file__}))
"""


def _probe(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code, json.dumps(JUPYTER_MODULES)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_does_not_load_jupyter_modules():
    report = _probe(PROBE)
    assert Path(report["file"]).resolve().is_relative_to(ROOT / "dj_jupyter")
    assert report["found"] == []


def test_core_submodules_do_not_load_jupyter_modules():
    code = PROBE.replace("import dj_jupyter as dj", "import dj_jupyter as dj\n"
                         "import dj_jupyter.schema, dj_jupyter.table, dj_jupyter.tiers, dj_jupyter.deletes, "
                         "dj_jupyter.inserts, dj_jupyter.declare.ddl, dj_jupyter.declare.describe, "
                         "dj_jupyter.backends.sqlite")
    assert _probe(code)["found"] == []


def test_probe_detects_a_jupyter_import():
    """The check itself can fail: importing IPython on purpose is seen (when IPython is installed)."""
    import importlib.util

    if importlib.util.find_spec("IPython") is None:
        return
    report = _probe(PROBE.replace("import dj_jupyter as dj", "import dj_jupyter as dj\nimport IPython"))
    assert "IPython" in report["found"]
