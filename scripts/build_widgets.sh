#!/usr/bin/env bash
# Rebuild the notebook widgets' JavaScript bundles into dj_jupyter/jupyter/static/.
# The bundles are committed, so a plain `pip install` needs no Node; run this after
# changing widgets/src/. Versions are pinned in widgets/package.json and package-lock.json
# (npm ci installs exactly those); the build is byte-for-byte reproducible and
# static/manifest.json records the sha256 of every output.
set -euo pipefail
cd "$(dirname "$0")/../widgets"
npm ci --no-audit --no-fund --loglevel=error
node build.mjs
