#!/usr/bin/env bash
# Run every check nbrtc has: set up, lint (ruff, eslint), Python types (mypy), JS types
# (tsc --checkJs), JS unit tests (node --test), then pytest (tests/: unit, kernel-side,
# end-to-end, network), then the unit and kernel tests again at the oldest dependency
# versions claimed (scripts/test-floor.sh). Arguments go to pytest:
#
#   bash scripts/test.sh                 # everything but the slowest scenarios
#   NBRTC_SLOW=1 bash scripts/test.sh tests       # only those (marker `slow`)
#   bash scripts/test.sh -k harness      # lints + JS tests + only matching pytest tests
#   NBRTC_LINT=0 bash scripts/test.sh tests/e2e   # skip lints and JS tests
#   NBRTC_SETUP=0 ...                    # skip scripts/setup.sh
#   NBRTC_MYPY=0 ...                     # skip mypy (the other lints still run)
#   NBRTC_FLOOR=0 ...                    # skip the floor-versions run (scripts/test-floor.sh)
#   NBRTC_WORKERS=1 ...                  # unit and kernel tests one at a time (default 3)
#
# Every step runs even if an earlier one failed; the exit code is non-zero when any did.
# pytest's exit code 5 (no test collected) counts as a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=$PWD/.venv
export PYTHONUNBUFFERED=1

# each line says when (seconds since the start): where the 25 minutes go
say() { printf '\n[test +%ds] %s\n' "$SECONDS" "$*"; }

if [ "${NBRTC_SETUP:-1}" != 0 ]; then
  bash scripts/setup.sh
fi

# .venv-floor (the oldest dependency versions, scripts/test-floor.sh) is made while the
# linters run: pip mostly waits on disk, the linters on the CPU.
floor_setup_pid=
floor_on() { [ "${NBRTC_FLOOR:-1}" != 0 ] && [ "$1" -eq 0 ] && [ "${NBRTC_SLOW:-0}" != 1 ]; }
if floor_on $#; then
  mkdir -p test-artifacts
  bash scripts/test-floor.sh --setup-only >test-artifacts/floor-setup.log 2>&1 &
  floor_setup_pid=$!
fi

failed=()
step() {  # step NAME CMD...: run, record a failure, keep going
  local name=$1; shift
  say "$name: $*"
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    failed+=("$name (exit $rc)")
    say "$name FAILED (exit $rc)"
  fi
  return 0
}

# replay LOG RC: what a background step printed, with its exit status
replay() { cat "$1"; return "$2"; }

if [ "${NBRTC_LINT:-1}" != 0 ]; then
  py_paths=()
  for p in src tests benchmarks; do if [ -d "$p" ]; then py_paths+=("$p"); fi; done
  step "ruff check" "$VENV/bin/ruff" check "${py_paths[@]}"
  step "ruff format" "$VENV/bin/ruff" format --check "${py_paths[@]}"
  # mypy over src/nbrtc with pyproject.toml's [tool.mypy]; it prints file:line per error.
  # It runs beside the JS steps (each uses one core for ~20 s); its output follows theirs.
  mypy_pid=
  if [ "${NBRTC_MYPY:-1}" != 0 ]; then
    mkdir -p test-artifacts
    "$VENV/bin/mypy" >test-artifacts/mypy.log 2>&1 &
    mypy_pid=$!
  fi
  step "eslint" npm run --silent lint
  # tsc --checkJs over the JSDoc (tsconfig.json); tsc prints file(line,col) per error
  step "typecheck (tsc)" npm run --silent typecheck
  step "node tests" npm test --silent
  if [ -n "$mypy_pid" ]; then
    mypy_rc=0
    wait "$mypy_pid" || mypy_rc=$?
    step "mypy" replay test-artifacts/mypy.log "$mypy_rc"
  fi
fi

# Default to the whole tests/ folder unless a path (or path::test) was given.
paths=()
for a in "$@"; do
  case $a in -*) ;; *) if [ -e "${a%%::*}" ]; then paths+=("$a"); fi ;; esac
done
mkdir -p test-artifacts
# The slowest scenarios (marker `slow`) stay out of the default run, which must
# fit in 25 minutes; `make slow-tests` (NBRTC_SLOW=1) runs them. A -m given here wins.
select=(-m "not slow")
if [ "${NBRTC_SLOW:-0}" = 1 ]; then select=(-m slow); fi
# The unit and kernel-side tests run NBRTC_WORKERS at a time (pytest-xdist, each file on
# one worker process, so a module's coturn or Janus is started once): they mostly wait on
# loopback ICE and timers, and one at a time they took 8 of the 25 minutes. The browser
# and network tests then run one at a time: they share Chromium, JupyterLab, namespaces
# and the machine's two cores, and measure frame rates and deadlines.
workers=${NBRTC_WORKERS:-3}
parallel_only() {  # every path given is under tests/unit or tests/kernel (or a tests/test_*.py)
  local p
  [ $# -gt 0 ] || return 1
  for p in "$@"; do
    case $p in tests/unit* | tests/kernel* | tests/test_*.py*) ;; *) return 1 ;; esac
  done
}
xdist=(-n "$workers" --dist loadfile)
if [ "$workers" -le 1 ]; then xdist=(); fi
# --durations and the JUnit files say where the 25 minutes go (test-artifacts/).
pytest=("$VENV/bin/python" -m pytest -v "${select[@]}" --durations=25)
if [ ${#paths[@]} -gt 0 ]; then
  # the paths given, in one run: in parallel when they are all unit or kernel tests
  if parallel_only "${paths[@]}"; then pytest+=("${xdist[@]}"); fi
  step "pytest" "${pytest[@]}" --junitxml=test-artifacts/junit.xml "$@"
else
  rc_fast=0
  rc_slow=0
  say "pytest, unit and kernel ($workers at a time)"
  "${pytest[@]}" "${xdist[@]}" --junitxml=test-artifacts/junit-kernel.xml \
    tests/unit tests/kernel tests/test_*.py "$@" || rc_fast=$?
  say "pytest, browser and network (one at a time)"
  "${pytest[@]}" --junitxml=test-artifacts/junit.xml tests/e2e tests/net "$@" || rc_slow=$?
  # 5 (nothing collected) is a failure only when neither part collected a test (-k ...)
  for part in "unit and kernel:$rc_fast" "browser and network:$rc_slow"; do
    rc=${part##*:}
    if [ "$rc" -ne 0 ] && { [ "$rc" -ne 5 ] || [ "$rc_fast$rc_slow" = 55 ]; }; then
      failed+=("pytest, ${part%%:*} (exit $rc)")
      say "pytest, ${part%%:*} FAILED (exit $rc)"
    fi
  done
fi

# The oldest versions pyproject.toml claims (scripts/test-floor.sh: its own .venv-floor,
# unit and kernel-side tests at the floor of every dependency range). Only in a full run
# (no pytest arguments); NBRTC_FLOOR=0 skips it, `make floor-tests` runs it alone.
if [ -n "$floor_setup_pid" ]; then
  setup_rc=0
  wait "$floor_setup_pid" || setup_rc=$?
  cat test-artifacts/floor-setup.log
  if [ "$setup_rc" -ne 0 ]; then
    failed+=("floor versions: setting up .venv-floor (exit $setup_rc)")
    say "floor versions: setting up .venv-floor FAILED (exit $setup_rc)"
  else
    step "floor versions" bash scripts/test-floor.sh
  fi
fi

if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]}"
  exit 1
fi
say "all checks passed"
