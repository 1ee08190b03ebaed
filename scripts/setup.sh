#!/usr/bin/env bash
# Set up everything nbrtc needs to run its demo and its tests, from a fresh Debian 12
# machine (root, python3 3.10+, package registries only) or an existing checkout.
#
#   * Debian chromium (apt) if /usr/bin/chromium is missing; nodejs+npm (apt) if `node` is;
#     iproute2, nftables, coturn and libnss3-tools (apt) if `ip`, `nft`, `turnserver` or
#     `certutil` is (for tests/net); janus (apt) if `janus` is (tests marked `janus`).
#     coturn's and janus's packages ship a service; installing them here leaves no
#     turnserver or janus running that was not running before (the tests start their own
#     in a network namespace).
#   * .venv with `pip install -e ".[test]"` (builds js/ through hatch-jupyter-builder).
#   * node_modules from package-lock.json (`npm ci`), or `npm install` without a lock.
#   * the JS bundle src/nbrtc/static/widget.js rebuilt when js/ is newer.
#
# Idempotent, and quick when nothing changed: each step checks a stamp first.
# Env: NBRTC_PYTHON (default python3) to make the venv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=$ROOT/.venv
BUNDLE=src/nbrtc/static/widget.js
PIP_STAMP=$VENV/.nbrtc-pip-stamp
NPM_STAMP=node_modules/.nbrtc-npm-stamp
PYTHON=${NBRTC_PYTHON:-python3}

say() { printf '[setup] %s\n' "$*"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
# true when any file under the given paths is newer than $1 (or $1 is missing)
newer_than() {
  local ref=$1; shift
  [ -e "$ref" ] || return 0
  [ -n "$(find "$@" -type f -newer "$ref" -print -quit 2>/dev/null)" ]
}

# --- system packages (apt) -------------------------------------------------------------
apt_packages=()
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs npm)
# tests/net: network namespaces (ip), firewall scenarios (nft), a TURN server (coturn)
command -v ip >/dev/null 2>&1 || apt_packages+=(iproute2)
command -v nft >/dev/null 2>&1 || apt_packages+=(nftables)
command -v turnserver >/dev/null 2>&1 || apt_packages+=(coturn)
# tests/net turns: Chromium trusts a private CA through an NSS database (certutil)
command -v certutil >/dev/null 2>&1 || apt_packages+=(libnss3-tools)
# issue 13: a real media server (Janus Gateway 1.1: videoroom, streaming) for tests/lab/janus.py
command -v janus >/dev/null 2>&1 || apt_packages+=(janus)
if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "need ${apt_packages[*]} from apt but not root: run as root or install them" >&2
    exit 1
  fi
  say "apt-get install ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  turn_before=$(pgrep -x turnserver 2>/dev/null || true)
  janus_before=$(pgrep -x janus 2>/dev/null || true)
  apt-get install -y -q --no-install-recommends "${apt_packages[@]}"
  # Debian's coturn and janus may start their system services on install: stop only a
  # server that the install started (none was running before it), through the service
  # manager.
  stop_started_service() { # $1 process name, $2 service name, $3 pids before the install
    local after
    after=$(pgrep -x "$1" 2>/dev/null || true)
    if [ -z "$3" ] && [ -n "$after" ]; then
      say "the $2 package started its service (pid $after): stopping it"
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl stop "$2" || true
      else
        service "$2" stop || true
      fi
    fi
  }
  stop_started_service turnserver coturn "$turn_before"
  stop_started_service janus janus "$janus_before"
else
  say "chromium, node, ip, nft, turnserver and janus present ($(/usr/bin/chromium --version 2>/dev/null | head -n1 || echo chromium); node $(node --version))"
fi

# --- Python virtual environment ----------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating .venv with $PYTHON ($($PYTHON --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi

# Our package.json says "type": "module" (js/ is ES modules); Node applies the nearest
# package.json to every .js file below it, .venv included, which breaks JupyterLab's own
# CommonJS helper scripts there (node-version-check.js, yarn.js). This marker stops it.
[ -f "$VENV/package.json" ] || echo '{"type": "commonjs"}' > "$VENV/package.json"

# --- node_modules --------------------------------------------------------------------------
if [ -f package.json ]; then
  npm_inputs=(package.json)
  [ -f package-lock.json ] && npm_inputs+=(package-lock.json)
  if [ ! -d node_modules ] || newer_than "$NPM_STAMP" "${npm_inputs[@]}"; then
    if [ -f package-lock.json ]; then
      say "npm ci"
      # File times say nothing about lock freshness in a fresh clone, so try the lock
      # first and fall back when it no longer matches package.json.
      if ! npm ci --no-audit --no-fund; then
        say "npm ci failed (package-lock.json out of date?); running npm install" >&2
        npm install --no-audit --no-fund
      fi
    else
      say "npm install (no package-lock.json)"
      npm install --no-audit --no-fund
    fi
    touch "$NPM_STAMP"
  else
    say "node_modules up to date"
  fi
fi

# --- the package (editable) and its test dependencies -----------------------------------
want=$(hash_of pyproject.toml)
have=$(cat "$PIP_STAMP" 2>/dev/null || true)
if [ "$want" != "$have" ] || [ ! -f "$BUNDLE" ]; then
  say "pip install -e .[test] (builds the JS bundle)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -e ".[test]"
  echo "$want" >"$PIP_STAMP"
  [ -d node_modules ] && touch "$NPM_STAMP"  # the build ran npm install itself
else
  say "python package up to date (pyproject.toml unchanged, $BUNDLE present)"
fi

# --- the JS bundle -----------------------------------------------------------------------
js_sources=()
for p in js package.json; do if [ -e "$p" ]; then js_sources+=("$p"); fi; done
if [ ${#js_sources[@]} -gt 0 ] && newer_than "$BUNDLE" "${js_sources[@]}"; then
  say "npm run build (js/ is newer than $BUNDLE)"
  npm run build
else
  say "JS bundle up to date"
fi

say "done"
