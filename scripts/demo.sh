#!/usr/bin/env bash
# Install the project and open JupyterLab on the quickstart notebook (SQLite default, no server needed).
# JupyterLab prints the URL to open; extra arguments go to `jupyter lab`, e.g. --port 8890.
set -euo pipefail
cd "$(dirname "$0")/.."

# installing builds the JupyterLab extension, which needs Node.js (and Graphviz renders static diagrams)
scripts/install_system_deps.sh nodejs graphviz
python -m pip install --quiet --disable-pip-version-check -e ".[jupyter]"
extra=(--ip=127.0.0.1)
if [ "$(id -u)" -eq 0 ]; then
    extra+=(--allow-root)
fi
if [ -z "${DISPLAY:-}" ]; then
    extra+=(--no-browser)
fi
# the URL JupyterLab prints (and the browser opens) is the quickstart notebook itself
exec jupyter lab --LabApp.default_url=/lab/tree/notebooks/01_quickstart.ipynb "${extra[@]}" "$@"
