"""The comm transport in a real JupyterLab and Chromium (issue 10 section 2).

``transport="comm"`` streams with no RTCPeerConnection at all: the page's camera reaches
Python as JPEG frames over the widget's comm, the kernel's processed video and a
``VideoView``'s source come back the same way and play in the cell. Teardown leaves no
peer, no track and no comm thread. (The automatic fallback, when only the notebook's
port is open, is tested on a real blocked network in tests/net/test_comm_path.py.)
Figures are printed and written to ``test-artifacts/comm-figures.json``.
"""

from __future__ import annotations

import json
import time

import pytest

from . import _harness as h
from ._video import (
    _RED_BLUE_CAMERA_JS,
    _close_all,
    _kjson,
    _live_counters_zero,
    _open,
    _remove,
    _root,
    _run,
    _status,
    _wait_colour,
    _wait_pixels_change,
    _wait_state,
)

pytestmark = pytest.mark.e2e

FIGURES = h.ARTIFACTS_DIR / "comm-figures.json"


def _record(name: str, value: object) -> None:
    h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[name] = value
    FIGURES.write_text(json.dumps(data, indent=2) + "\n")


def _comm_threads(kernel_eval) -> list[str]:
    return _kjson(
        kernel_eval,
        "import json, threading\nprint(json.dumps(sorted(t.name for t in threading.enumerate()"
        " if t.name.startswith('nbrtc-comm'))))",
    )


def test_camera_over_the_comm_both_ways(page, jupyter_server, kernel_eval):
    """Red | blue camera over the comm: Python gets the frames (colours right), the
    status line says which path, process(invert) comes back over the comm and the cell
    shows cyan | yellow; no RTCPeerConnection is ever made; close leaves nothing."""
    page.add_init_script(_RED_BLUE_CAMERA_JS)
    name = "comm_camera.ipynb"
    cell = "import numpy as np\nimport nbrtc\ncam = nbrtc.Camera(transport='comm')\ncam"
    _open(page, jupyter_server, name, [cell])
    try:
        t0 = time.monotonic()
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        live_s = time.monotonic() - t0
        h.wait_for(lambda: "via the notebook connection" in _status(root), 5, message="path shown")
        assert kernel_eval("cam.transport").strip() == "'comm'"
        h.wait_for(lambda: int(kernel_eval("cam.frame_count")) > 20, 15, message="frames flow")
        f0 = int(kernel_eval("cam.frame_count"))
        h.sample_for(lambda: None, 3.0, interval=0.5)  # a fixed window to count frames
        fps = (int(kernel_eval("cam.frame_count")) - f0) / 3.0
        shape, left, right = _kjson(
            kernel_eval,
            "import json\nimg = cam.latest_frame\nw = img.shape[1]\n"
            "print(json.dumps([img.shape, img[:, : w * 45 // 100].reshape(-1, 3).mean(0).tolist(),"
            " img[:, w * 55 // 100 :].reshape(-1, 3).mean(0).tolist()]))",
        )
        print(f"comm camera: live {live_s:.2f} s after the cell ran, {fps:.1f} fps in Python")
        assert shape[2] == 3 and shape[0] >= 120
        assert left[0] > 180 and left[2] < 80, left  # red, JPEG or not
        assert right[2] > 180 and right[0] < 80, right
        assert fps > 5, fps

        kernel_eval("cam.process(lambda rgb: 255 - rgb)")
        mean = _wait_colour(root, (127, 255, 127), tol=35, timeout=20)  # cyan | yellow
        print(f"processed over the comm, shown in the cell: mean RGB {mean}")
        history = _kjson(
            kernel_eval,
            "import json\nprint(json.dumps([e['summary'] for e in cam.history()"
            " if e.get('event') == 'note']))",
        )
        assert any("transport none -> comm" in n for n in history), history
        counts = h.counters(page)
        assert counts["peersCreated"] == 0, counts  # not one RTCPeerConnection
        _record("camera", {"live_s": round(live_s, 2), "python_fps": round(fps, 1)})

        kernel_eval("cam.close()")
        h.wait_for(lambda: _live_counters_zero(page), 5, message="page released everything")
        h.wait_for(lambda: not _comm_threads(kernel_eval), 5, message="comm threads ended")
        streams = "import json\nprint(json.dumps(nbrtc.manager().streams()))"
        assert _kjson(kernel_eval, streams) == []
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_view_over_the_comm_plays(page, jupyter_server, kernel_eval):
    """A VideoView of the test pattern over the comm plays in the cell (pixels move)."""
    name = "comm_view.ipynb"
    cell = (
        "import nbrtc\nview = nbrtc.VideoView(nbrtc.sources.test_pattern(), transport='comm')\nview"
    )
    _open(page, jupyter_server, name, [cell])
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        _wait_pixels_change(root, 0.01, timeout=10)
        stats = _kjson(
            kernel_eval,
            "import json\ns = view._last_stream\nprint(json.dumps(s._comm_out.stats()))",
        )
        print("kernel -> page over the comm:", stats)
        assert stats["framesAcked"] > 0
        assert kernel_eval("view.transport").strip() == "'comm'"
        kernel_eval("view.close()")
        h.wait_for(lambda: _live_counters_zero(page), 5, message="page released everything")
        h.wait_for(lambda: not _comm_threads(kernel_eval), 5, message="comm threads ended")
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)
