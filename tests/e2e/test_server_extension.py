"""The JupyterLab the e2e tests use loads ``nbrtc_server`` (kernel WebSockets without
Nagle's delay) from the config file the install put in the environment: no setup step of
the user's, no flag. What the extension does is tested in tests/test_server_extension.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_lab_loads_the_server_extension(jupyter_server) -> None:
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(jupyter_server.config_dir),
        JUPYTER_RUNTIME_DIR=str(jupyter_server.runtime_dir),
        JUPYTER_PLATFORM_DIRS="1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listing = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert re.search(r"nbrtc_server\s+enabled", listing), listing
    assert re.search(r"nbrtc_server\s+OK", listing), listing
    # the running server loaded it (its log is this session's servers')
    log = jupyter_server.log_path.read_text(errors="replace")
    assert "nbrtc: kernel WebSockets send without Nagle's delay" in log
