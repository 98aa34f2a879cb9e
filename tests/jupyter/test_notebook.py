"""notebooks/magics_demo.ipynb keeps its pipeline in magics (nbval itself runs it: scripts/test.sh).

After changing what the magics print, store new outputs from a scratch folder (the notebook makes its
own temporary working directory; widget state is left out to keep the file small)::

    cp notebooks/magics_demo.ipynb /tmp/x/ && cd /tmp/x && jupyter nbconvert --to notebook --execute \
        --inplace --ExecutePreprocessor.store_widget_state=False magics_demo.ipynb

Cells whose output is a widget from dj_jupyter.jupyter carry the ``nbval-ignore-output`` tag: they must
run, but their text twins belong to the widget layer and may change with it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "magics_demo.ipynb"


def test_the_notebook_uses_only_magics_for_its_pipeline():
    import nbformat

    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert not any("dj.Schema(" in source or "@schema" in source or ".populate(" in source for source in code)
    assert sum(source.startswith("%%dj ") and source.split()[1] in ("manual", "lookup", "computed")
               for source in code) >= 4
    outputs = NOTEBOOK.read_text()
    assert "/tmp/" not in outputs and "dj-magics-demo-" not in outputs.replace('prefix=\\"dj-magics-demo-\\"', "")
    assert "application/vnd.jupyter.widget-state+json" not in outputs  # no widget state bloat
