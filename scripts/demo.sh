#!/usr/bin/env bash
# Run the nbrtc demo: set up, then open notebooks/quickstart.ipynb in JupyterLab.
# Works without a camera: the quickstart's first cell uses a synthetic source.
#
#   bash scripts/demo.sh            # http://127.0.0.1:8888/lab
#   PORT=9000 bash scripts/demo.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

if [ ! -f notebooks/quickstart.ipynb ]; then
  echo "[demo] notebooks/quickstart.ipynb is missing: nothing to demo" >&2
  exit 1
fi
args=(notebooks/quickstart.ipynb --ServerApp.ip=127.0.0.1 "--port=${PORT:-8888}")
if [ "$(id -u)" -eq 0 ]; then args+=(--allow-root); fi
if [ -n "${CI:-}" ] || [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  args+=(--no-browser)
fi
echo "[demo] jupyter lab ${args[*]}"
echo "[demo] open the http://127.0.0.1:... URL printed below (with its token) in a browser"
exec .venv/bin/jupyter lab "${args[@]}"
