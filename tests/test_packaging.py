"""The wheel carries the JS bundle, and the Python and JS versions agree.

Editable installs hide a missing bundle (the file is in the source tree); building a
real wheel does not.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

import nbrtc

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_versions_agree() -> None:
    pkg = json.loads((ROOT / "package.json").read_text())
    assert pkg["version"] == nbrtc.__version__


@pytest.mark.skipif(os.environ.get("NBRTC_SKIP_WHEEL") == "1", reason="NBRTC_SKIP_WHEEL=1")
def test_wheel_contains_the_bundle(tmp_path: pathlib.Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("nbrtc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nbrtc/static/widget.js" in names, names
    assert "nbrtc/static/inspector.js" in names, names  # the Inspector's own bundle
    assert "nbrtc/__init__.py" in names
