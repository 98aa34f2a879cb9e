#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages, the project with its
# test extras, then pytest (unit, three database engines, notebooks, browser).
# Extra arguments go to pytest, e.g. scripts/test.sh -k cascade.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_system_deps.sh
python -m pip install --quiet --disable-pip-version-check -e ".[test]"

export PYTHONDONTWRITEBYTECODE=1
exec python -m pytest tests notebooks -q -p no:cacheprovider \
    --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg "$@"
