#!/usr/bin/env bash
# The oldest versions nbrtc claims, tested: a separate virtual environment (.venv-floor)
# with the lowest Python that `requires-python` allows and every runtime dependency at the
# floor of its range in pyproject.toml (`anywidget>=0.9` -> `anywidget==0.9`...), then the
# unit and kernel-side tests (tests/unit, tests/kernel: real aiortc peers on loopback, no
# browser; the selection is below). The pins are read from pyproject.toml each run, so a
# raised floor is tested the moment it is declared.
#
#   bash scripts/test-floor.sh                    # set up (quick when nothing changed), test
#   NBRTC_FLOOR_ALL=1 bash scripts/test-floor.sh  # every unit and kernel test
#   bash scripts/test-floor.sh tests/kernel/test_media.py -k snapshot   # pytest arguments
#   bash scripts/test-floor.sh --setup-only       # only make .venv-floor (scripts/test.sh
#                                                 # does it while the linters run)
#
# Env: NBRTC_FLOOR_PYTHON (default: pythonX.Y for the floor X.Y of requires-python).
# Needs scripts/setup.sh to have run (its .venv reads pyproject.toml; Node is not needed:
# the tests use the bundles already built in src/nbrtc/static).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
FLOOR=$ROOT/.venv-floor
STAMP=$FLOOR/.nbrtc-floor-stamp
export PYTHONUNBUFFERED=1

say() { printf '\n[floor] %s\n' "$*"; }

# "<python X.Y> <pin> <pin>...": the floors, from pyproject.toml (tomllib: Python 3.11+)
read -r -a plan < <("$ROOT/.venv/bin/python" - <<'EOF'
import re
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
python = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"].strip())
if python is None:
    raise SystemExit(f"requires-python {project['requires-python']!r} has no '>=X.Y' floor")
pins = []
for req in project["dependencies"]:
    # a marker (`; sys_platform != 'win32'`) is left out of the pin: the floor runs here
    m = re.fullmatch(
        r"([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([^,;\s]+)\s*(,[^;]*)?(;.*)?", req.strip()
    )
    if m is None:
        raise SystemExit(f"dependency {req!r} has no '>=' floor to test")
    pins.append(f"{m.group(1)}=={m.group(2)}")
print(python.group(1), *pins)
EOF
)
python_version=${plan[0]}
pins=("${plan[@]:1}")
PYTHON=${NBRTC_FLOOR_PYTHON:-python$python_version}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  say "no $PYTHON on PATH: the floor of requires-python (>=$python_version) cannot be tested" >&2
  say "install Python $python_version or set NBRTC_FLOOR_PYTHON" >&2
  exit 1
fi
have_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$have_version" != "$python_version" ]; then
  say "$PYTHON is Python $have_version, not the floor $python_version" >&2
  exit 1
fi

# the test tools (any version: they are not nbrtc's claim); pytest-xdist runs the tests
# NBRTC_WORKERS at a time, as scripts/test.sh runs the main unit and kernel tests
tools=("pytest>=8" "pytest-timeout>=2.3" "pytest-xdist>=3.5" "hypothesis>=6.100")
want=$(printf '%s\n' "$("$PYTHON" --version 2>&1)" "${pins[@]}" "${tools[@]}" | sha256sum \
  | cut -d' ' -f1)
if [ ! -x "$FLOOR/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
  say "creating .venv-floor: $("$PYTHON" --version 2>&1), ${pins[*]}"
  rm -rf "$FLOOR"
  "$PYTHON" -m venv "$FLOOR"
  "$FLOOR/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  # the floors exactly, and the test tools
  "$FLOOR/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
    "${pins[@]}" "${tools[@]}"
  echo "$want" >"$STAMP"
else
  say ".venv-floor up to date ($("$FLOOR/bin/python" --version 2>&1), ${pins[*]})"
fi
# what pip resolved must be the floors (a wheel missing for this Python would have made
# pip fail above, never pick another version silently; this says it in the log)
"$FLOOR/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
  | grep -iE "^($(printf '%s|' "${pins[@]%%==*}" | sed 's/|$//')) " || true

if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi

# Which tests. `make test` (CI) runs the kernel tests whose subject touches a dependency
# that is far from its newest version at the floor: widgets and traits (anywidget 0.9,
# traitlets, ipywidgets 8.0, IPython 8), frames, sound and recordings (numpy 1.24). Left
# to the full floor run (NBRTC_FLOOR_ALL=1, `make floor-tests`), so the 25-minute budget
# holds: the fuzz families and hostile-page tests (nbrtc's own validation), network
# impairment, reconnection, TURN and the doctor (aiortc and aioice are pinned to one minor
# version: the floor is what the main run has), and the decoder/disk fault suites (av's
# floor is one minor below the newest). Arguments replace the selection.
tests=(tests/unit tests/kernel)
if [ $# -eq 0 ] && [ "${NBRTC_FLOOR_ALL:-0}" != 1 ]; then
  tests=(tests/unit)
  for t in public_api colab loopback room teaching stats media recorder comm_audio \
    comm_transport device_picker; do
    tests+=("tests/kernel/test_$t.py")
  done
fi

mkdir -p test-artifacts
say "pytest at the floors: ${tests[*]}"
# nbrtc from the source tree (no install: the floors must not be upgraded by its deps)
workers=${NBRTC_WORKERS:-3}
xdist=(-n "$workers" --dist loadfile)
if [ "$workers" -le 1 ]; then xdist=(); fi
PYTHONPATH=$ROOT/src exec "$FLOOR/bin/python" -m pytest "${tests[@]}" -q "${xdist[@]}" \
  -m "not slow" -p no:cacheprovider -p no:warnings \
  --junitxml=test-artifacts/junit-floor.xml "$@"
