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
    # the stylesheets anywidget gets as `_css` (the views inject no style of their own)
    assert "nbrtc/static/widget.css" in names, names
    assert "nbrtc/static/inspector.css" in names, names
    assert "nbrtc/__init__.py" in names
    # PEP 561 marker: without it a user's type checker ignores nbrtc's annotations
    assert "nbrtc/py.typed" in names, names


def test_widgets_carry_their_stylesheet() -> None:
    """Every widget hands anywidget its bundle's CSS as ``_css`` (text, not a path: see
    nbrtc/_bundle.py), and the page styles come only from there."""
    widget_css = (ROOT / "src" / "nbrtc" / "static" / "widget.css").read_text(encoding="utf-8")
    for cls in (nbrtc.Camera, nbrtc.Microphone, nbrtc.VideoView, nbrtc.Room):
        css = cls._css  # type: ignore[attr-defined]
        assert isinstance(css, str) and "\n" in css, cls  # text: no file watcher, no leak
        assert css.strip() == widget_css.strip(), cls
        for selector in (".nbrtc-root", ".nbrtc-room-grid", ".nbrtc-doctor-table"):
            assert selector in css, (cls, selector)
    inspector_css = nbrtc.Inspector._css  # type: ignore[attr-defined]
    assert ".nbrtc-inspector" in inspector_css and ".nbrtc-sdp-line" in inspector_css
    assert ".nbrtc-inspector" not in nbrtc.Camera._css  # type: ignore[attr-defined]
