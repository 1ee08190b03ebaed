"""End-to-end tests of nbrtc's streams in a real JupyterLab / Notebook 7 and Chromium.

What a person sees (the ``<video>`` plays, its pixels move or have the colour the kernel
sent, the status line says "live" or why not) and what a Python user sees (frame shapes
and dtypes, ``fps``, ``frame_count``, states, errors), plus the quickstart notebook run
top to bottom in both UIs. Browser peers and tracks are counted by ``counters.js``,
independently of nbrtc.

Chromium's fake camera is 640x480 with a moving pattern. Every test writes its own
notebook, closes what it made and removes its files.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from lab import jupyter as h
from lab.video import (
    _RED_BLUE_CAMERA_JS,
    GRID_H,
    GRID_W,
    _assert_playing,
    _cell,
    _close_all,
    _grab,
    _grab_pixels,
    _kjson,
    _live_counters_zero,
    _open,
    _remove,
    _root,
    _run,
    _state,
    _status,
    _wait_colour,
    _wait_pixels_change,
    _wait_state,
)

pytestmark = pytest.mark.e2e

QUICKSTART = h.REPO_ROOT / "notebooks" / "quickstart.ipynb"
# The README's picture is taken here. Every run writes it to test-artifacts/; with
# NBRTC_UPDATE_SCREENSHOT=1 (make screenshot) it also replaces docs/img/quickstart.png,
# so ordinary test runs leave the work tree clean.
README_IMAGE = (
    h.REPO_ROOT / "docs" / "img" / "quickstart.png"
    if os.environ.get("NBRTC_UPDATE_SCREENSHOT") == "1"
    else h.REPO_ROOT / "test-artifacts" / "quickstart.png"
)

# ------------------------------------------------------------------------------ tests


def test_camera_snapshot_fps_and_preview(page, jupyter_server, kernel_eval):
    """Camera: RGB (480, 640, 3) uint8 frames that move; fps and frame_count; a live preview."""
    name = "streams_camera.ipynb"
    _open(
        page, jupyter_server, name, ["import json, time\nimport nbrtc\ncam = nbrtc.Camera()\ncam"]
    )
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        assert root.get_attribute("data-kind") == "camera"
        assert "live" in _status(root).lower(), _status(root)

        got = _kjson(
            kernel_eval,
            "a = cam.snapshot(timeout=15)\n"
            "t0, changed = time.monotonic(), 0.0\n"
            "while changed <= 0.001 and time.monotonic() - t0 < 5:\n"
            "    time.sleep(0.02)\n"  # poll interval (bounded: 5 s)
            "    b = cam.snapshot(timeout=5)\n"
            "    d = abs(a.astype(int) - b.astype(int))\n"
            "    changed = float((d.max(axis=2) > 24).mean())\n"
            "print(json.dumps({'shape': a.shape, 'dtype': str(a.dtype), 'shape_b': b.shape,\n"
            "  'changed': changed, 'after': time.monotonic() - t0}))",
        )
        assert got["shape"] == [480, 640, 3] and got["shape_b"] == [480, 640, 3], got
        assert got["dtype"] == "uint8", got
        # The fake camera's pattern moves: a later snapshot differs in part of the picture.
        assert got["changed"] > 0.001, f"the snapshots stayed the same for 5 s: {got}"
        print(f"a later snapshot differs after {got['after']:.2f} s ({got['changed']:.3f})")

        h.wait_for(
            lambda: float(kernel_eval("cam.fps")) > 10,
            timeout=10,
            message="cam.fps > 10",
        )
        n1 = int(kernel_eval("cam.frame_count"))
        h.wait_for(
            lambda: int(kernel_eval("cam.frame_count")) >= n1 + 10,
            timeout=10,
            message="cam.frame_count grows",
        )
        assert kernel_eval("cam.state") == "'live'"

        # The preview plays in the page.
        _assert_playing(root)
        first = _grab(root)
        assert (first["width"], first["height"]) == (640, 480), first | {"pixels": "..."}
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_the_bundle_crosses_once_per_page(page, jupyter_server, kernel_eval):
    """The front-end bundle goes with the kernel's first widget only (nbrtc/_bundle.py):
    the next camera's model carries the bundle's id alone and the page runs it from its
    cache, asking nothing; a second tab, which lacks it, asks that widget once and shows
    the camera live too."""
    name = "streams_bundle.ipynb"
    path = _open(
        page,
        jupyter_server,
        name,
        [
            "import json\nimport nbrtc\nimport nbrtc._bundle as _b\n"
            "_asked = []\n_answer = _b.answer_request\n"
            "def _count(name, content, replies):\n"
            "    _asked.append(content.get('nbrtc_module'))\n"
            "    return _answer(name, content, replies)\n"
            "_b.answer_request = _count\n"
            "cam = nbrtc.Camera()\ncam",
            "cam2 = nbrtc.Camera()\ncam2",
            "cam2",
        ],
    )
    tab = None
    try:
        _run(page, 0)
        _wait_state(_root(page, 0), "live")
        _run(page, 1)
        _wait_state(_root(page, 1), "live")
        got = _kjson(
            kernel_eval,
            "print(json.dumps([len(cam._module), len(cam2._module), cam2._module_id, _asked]))",
        )
        first_len, second_len, bundle_id, asked = got
        assert first_len > 10_000 and second_len == 0, got
        assert bundle_id.startswith("widget.js:") and asked == [], got
        # Only cam2 (no text) is left for a new tab to restore: it must ask for the bundle.
        kernel_eval("cam.close()")
        tab = page.context.new_page()
        tab.on("dialog", lambda d: d.accept())
        h.open_notebook(tab, jupyter_server, path)
        _run(tab, 2)
        _wait_state(_root(tab, 2), "live", timeout=30)
        asked = _kjson(kernel_eval, "print(json.dumps(_asked))")
        assert asked == [bundle_id], asked
        # the widget's state is its newest stream's: the second tab's, live in the kernel
        # a moment after the page shows it
        h.wait_for(lambda: kernel_eval("cam2.state") == "'live'", 10, message="cam2 live")
    finally:
        if tab is not None:
            h.forget_page(tab)
            if not tab.is_closed():
                tab.close()
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_camera_frames_are_rgb(page, jupyter_server, kernel_eval):
    """A camera showing red | blue: snapshot() is RGB (red left, blue right), bgr24 and
    gray on request."""
    page.add_init_script(_RED_BLUE_CAMERA_JS)
    name = "streams_rgb.ipynb"
    _open(page, jupyter_server, name, ["import json\nimport nbrtc\ncam = nbrtc.Camera()\ncam"])
    try:
        _run(page, 0)
        _wait_state(_root(page, 0), "live")
        got = _kjson(
            kernel_eval,
            "def halves(img):\n"
            "    w = img.shape[1]\n"
            "    left = img[40:-40, w // 16 : 7 * w // 16]\n"
            "    right = img[40:-40, 9 * w // 16 : 15 * w // 16]\n"
            "    return [[float(v) for v in left.reshape(-1, left.shape[-1]).mean(0)],\n"
            "            [float(v) for v in right.reshape(-1, right.shape[-1]).mean(0)]]\n"
            "rgb = cam.snapshot(timeout=15)\n"
            "bgr = cam.snapshot(timeout=5, format='bgr24')\n"
            "gray = cam.snapshot(timeout=5, format='gray')\n"
            "print(json.dumps({'rgb': halves(rgb), 'bgr': halves(bgr), 'shape': rgb.shape,\n"
            "  'gray_shape': gray.shape, 'gray_dtype': str(gray.dtype),\n"
            "  'gray': [float(gray[40:-40, :gray.shape[1] // 2].mean()),\n"
            "           float(gray[40:-40, gray.shape[1] // 2:].mean())]}))",
        )
        print(f"red|blue camera in the kernel: {got}")

        def near(actual, expected, tol=40):
            return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))

        red, blue = (255, 0, 0), (0, 0, 255)
        assert got["shape"] == [480, 640, 3], got
        assert near(got["rgb"][0], red) and near(got["rgb"][1], blue), (
            f"snapshot() is not RGB: left {got['rgb'][0]} (want ~red), "
            f"right {got['rgb'][1]} (want ~blue)"
        )
        # format="bgr24": the same picture, channels reversed.
        assert near(got["bgr"][0], (0, 0, 255)) and near(got["bgr"][1], (255, 0, 0)), got
        assert got["gray_shape"] == [480, 640] and got["gray_dtype"] == "uint8", got
        # Luma of pure red (~76) is well above that of pure blue (~29).
        assert got["gray"][0] > got["gray"][1] + 20, got
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


# Records every size the layout gives an nbrtc <video> (ResizeObserver), with the view's
# state at that moment: window.__videoSizes = [[width, height, state], ...].
_WATCH_VIDEO_SIZES_JS = """
(() => {
  window.__videoSizes = [];
  const watch = () => {
    for (const v of document.querySelectorAll('video.nbrtc-video')) {
      if (v.__sizeObserver) continue;
      v.__sizeObserver = new ResizeObserver((entries) => {
        for (const e of entries) {
          const root = v.closest('.nbrtc-root');
          window.__videoSizes.push([Math.round(e.contentRect.width),
            Math.round(e.contentRect.height), root ? root.dataset.state : '?']);
        }
      });
      v.__sizeObserver.observe(v);
    }
  };
  new MutationObserver(watch).observe(document, {childList: true, subtree: true});
})();
"""


def test_video_view_test_pattern_moves(page, jupyter_server, kernel_eval):
    """VideoView(): the test pattern plays in the browser at 640x480 and its pixels move;
    the 640x480 box does not jump while the stream starts."""
    page.add_init_script(_WATCH_VIDEO_SIZES_JS)
    name = "streams_pattern.ipynb"
    _open(page, jupyter_server, name, ["import nbrtc\nview = nbrtc.VideoView()\nview"])
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        assert root.get_attribute("data-kind") == "view"
        _assert_playing(root)
        # The pattern's square circles and its counter and clock tick: pixels change.
        frac = _wait_pixels_change(root, min_fraction=0.005)
        print(f"pattern: {frac:.3f} of the thumbnail changed")
        h.wait_for(
            lambda: (_grab(root)["width"], _grab(root)["height"]) == (640, 480),
            timeout=15,
            message="videoWidth x videoHeight == 640x480",
        )
        h.wait_for(
            lambda: "640\u00d7480" in _status(root) and "live" in _status(root).lower(),
            timeout=5,
            message=f"status says live at 640x480 (status: {_status(root)!r})",
        )
        assert kernel_eval("view.state") == "'live'"
        # What a person sees while it starts: the black 640x480 box becomes the video in
        # place. A box that collapses (e.g. to the <video> default 300x150 until the
        # stream's size is known) makes everything below it jump twice.
        sizes = page.evaluate("window.__videoSizes")
        print(f"pattern: layout sizes of the <video> while starting: {sizes}")
        jumps = [s for s in sizes if s[0] and s[1] and (s[0], s[1]) != (640, 480)]
        assert not jumps, (
            f"the view's 640x480 box changed size while the stream started: {jumps} "
            f"(all sizes: {sizes})"
        )
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_frames_source_colour_reaches_browser(page, jupyter_server, kernel_eval):
    """sources.frames(gen, fps=30) of pure red 240x320 frames: the browser shows red."""
    name = "streams_frames.ipynb"
    cell = (
        "import numpy as np\nimport nbrtc\n"
        "def red():\n"
        "    img = np.zeros((240, 320, 3), np.uint8)\n"
        "    img[..., 0] = 255\n"
        "    while True:\n"
        "        yield img\n"
        "src = nbrtc.sources.frames(red(), fps=30)\n"
        "view = nbrtc.VideoView(src)\nview"
    )
    _open(page, jupyter_server, name, [cell])
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        _assert_playing(root)
        mean = _wait_colour(root, (255, 0, 0), tol=40)
        print(f"frames(): browser shows mean RGB {mean}")
        g = _grab(root)
        assert (g["width"], g["height"]) == (320, 240), g | {"pixels": "..."}
        n1 = int(kernel_eval("src.frames_produced"))
        h.wait_for(
            lambda: int(kernel_eval("src.frames_produced")) > n1,
            timeout=5,
            message="the generator keeps being read",
        )
        assert kernel_eval("print(repr(src.error))") == "None"
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def _make_clip(path: Path, rgb: tuple[int, int, int], seconds: float = 2.0, fps: int = 25):
    """A 320x240 mpeg4/mp4 clip of colour ``rgb`` with a white bar moving along the top."""
    import av
    import numpy as np

    w, hgt = 320, 240
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, hgt, "yuv420p"
        stream.bit_rate = 800_000
        for i in range(int(seconds * fps)):
            img = np.empty((hgt, w, 3), np.uint8)
            img[:] = rgb
            x = (i * 12) % (w - 40)
            img[:40, x : x + 40] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _bar_positions(root, seconds: float) -> list[int]:
    """Where the clip's white bar is (thumbnail column, -1 if none), sampled for ``seconds``.

    Watching the video for a while is the point here, so this samples for a fixed time.
    """

    def position() -> int | None:
        px = _grab(root)["pixels"]
        if px is None:
            return None
        row = 1  # inside the bar (top 40 of 240 rows)
        cols = [x for x in range(GRID_W) if px[(row * GRID_W + x) * 3] > 160]
        return cols[0] if cols else -1

    return [p for p in h.sample_for(position, seconds, interval=0.1) if p is not None]


def test_file_source_plays(page, jupyter_server, kernel_eval):
    """sources.file("clip.mp4", loop=True): the clip's colour shows and it keeps playing."""
    name, clip = "streams_file.ipynb", "streams_clip.mp4"
    colour = (20, 60, 220)
    _make_clip(jupyter_server.root_dir / clip, colour)
    cell = f"import nbrtc\nview = nbrtc.VideoView(nbrtc.sources.file({clip!r}, loop=True))\nview"
    _open(page, jupyter_server, name, [cell])
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        _assert_playing(root)
        # Below the moving bar (top sixth of the picture) the clip is a solid colour.
        mean = _wait_colour(root, colour, tol=40, rows=range(GRID_H // 4, GRID_H))
        print(f"file(): browser shows mean RGB {mean}")
        g = _grab(root)
        assert (g["width"], g["height"]) == (320, 240), g | {"pixels": "..."}
        # The bar moves: the clip is decoded and sent frame after frame ...
        first_pass = _bar_positions(root, seconds=1.0)
        assert len(set(first_pass)) >= 4, f"the clip does not play: bar at {first_pass}"
        # ... and, with loop=True, keeps moving after the 2 s clip ended once.
        h.wait_for(
            lambda: _grab(root)["currentTime"] > 3.0,
            timeout=10,
            message="video played past the clip's 2 s length",
        )
        looped = _bar_positions(root, seconds=2.5)
        assert len(set(looped)) >= 8, (
            "file(loop=True): the picture stops moving after the clip's first pass: "
            f"bar positions over 2.5 s after the loop {looped} "
            f"(first pass, 1 s: {first_pass})"
        )
        assert _state(root) == "live"
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name, clip)


def test_blocking_cell_does_not_stop_frames(page, jupyter_server, kernel_eval):
    """A cell that sleeps 5 s: the camera keeps streaming to Python and stays live."""
    name = "streams_blocking.ipynb"
    cells = [
        "import nbrtc\ncam = nbrtc.Camera()\ncam",
        # window: frames counted over 5 s
        "n0 = cam.frame_count\nimport time\ntime.sleep(5)\nprint(cam.frame_count - n0)",
    ]
    _open(page, jupyter_server, name, cells)
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        h.wait_for(lambda: int(kernel_eval("cam.frame_count")) > 0, 10, message="first frame")

        _run(page, 1, wait=False)
        # The sleep is the scenario: watch the page while the kernel is blocked.
        states = h.sample_for(lambda: _state(root), 5.0, interval=0.2)
        h.wait_for(
            lambda: h.cell_output_text(page, 1).strip().isdigit(),
            timeout=30,
            message="sleep cell printed a number",
        )
        arrived = int(h.cell_output_text(page, 1))
        print(f"frames during a 5 s blocking cell: {arrived}; page states {set(states)}")
        assert arrived >= 50, f"only {arrived} frames arrived during the 5 s sleep"
        assert set(states) == {"live"}, f"the view left 'live' while the cell blocked: {states}"
        n1 = int(kernel_eval("cam.frame_count"))
        h.wait_for(
            lambda: int(kernel_eval("cam.frame_count")) > n1 + 10,
            timeout=5,
            message="frames keep arriving after the cell",
        )
        assert _state(root) == "live"
        _assert_playing(root)
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def _same_cell(var: str) -> str:
    return (
        "import time\nimport nbrtc\n"
        f"{var} = nbrtc.Camera()\ndisplay({var})\n"
        "t0 = time.monotonic()\n"
        "try:\n"
        f"    {var}.snapshot(timeout=5)\n"
        "    print('RESULT no-error', f'{time.monotonic() - t0:.3f}')\n"
        "except Exception as e:\n"
        "    print('RESULT', type(e).__name__, f'{time.monotonic() - t0:.3f}')\n"
        "    print(e)"
    )


def _same_cell_result(page, index: int) -> dict:
    out = h.cell_output_text(page, index)
    lines = out.splitlines()
    at = [k for k, line in enumerate(lines) if line.startswith("RESULT ")]
    assert at, f"cell {index} printed no RESULT line: {out!r}"
    _, kind, elapsed = lines[at[0]].split()
    message = " ".join(lines[at[0] + 1 :])
    ok = kind == "NotDisplayedError" and float(elapsed) < 1.0 and "next cell" in message
    return {"ok": ok, "raised": kind, "elapsed": float(elapsed), "message": message}


def test_snapshot_in_displaying_cell_raises_at_once(page, jupyter_server, kernel_eval):
    """snapshot() in the cell that displays the camera: NotDisplayedError at once, saying
    "next cell" -- both for the kernel's very first nbrtc widget and for a later one."""
    name = "streams_samecell.ipynb"
    cells = [_same_cell("cam1"), _same_cell("cam2"), "print(cam2.snapshot(timeout=15).shape)"]
    _open(page, jupyter_server, name, cells)
    try:
        _run(page, 0, timeout=30)  # the first widget this kernel makes
        first = _same_cell_result(page, 0)
        _run(page, 1, timeout=30)  # nbrtc already in use in this kernel
        later = _same_cell_result(page, 1)
        # ... and the advice works: from the next cell the camera delivers.
        _run(page, 2, timeout=30)
        next_cell = h.cell_output_text(page, 2)
        print(f"same-cell snapshot: first widget {first}; later widget {later}")
        assert later["ok"], f"later widget: {later}"
        assert first["ok"], f"the kernel's first nbrtc widget: {first}"
        assert next_cell == "(480, 640, 3)", next_cell
        _wait_state(_root(page, 1), "live")
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


_DENY_CAMERA_JS = """
(() => {
  const deny = async function () {
    throw new DOMException("Permission denied", "NotAllowedError");
  };
  if (window.MediaDevices) MediaDevices.prototype.getUserMedia = deny;
  if (navigator.mediaDevices) {
    Object.defineProperty(navigator.mediaDevices, "getUserMedia",
      {value: deny, configurable: true});
  }
})();
"""


def test_camera_refused(page, jupyter_server, kernel_eval):
    """getUserMedia rejects with NotAllowedError: the widget and Python both say so."""
    page.add_init_script(_DENY_CAMERA_JS)
    name = "streams_refused.ipynb"
    _open(page, jupyter_server, name, ["import json\nimport nbrtc\ncam = nbrtc.Camera()\ncam"])
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "error")
        status = _status(root)
        assert "permission" in status.lower(), status
        h.wait_for(
            lambda: kernel_eval("cam.state") == "'error'",
            timeout=10,
            message="cam.state == 'error' in Python",
        )
        got = _kjson(
            kernel_eval,
            "import time\nt0 = time.monotonic()\n"
            "try:\n"
            "    cam.snapshot(timeout=2)\n"
            "    r = {'raised': None}\n"
            "except Exception as e:\n"
            "    r = {'raised': type(e).__name__,\n"
            "         'camera_error': isinstance(e, nbrtc.CameraError),\n"
            "         'name': getattr(e, 'name', None), 'msg': str(e)}\n"
            "r['elapsed'] = time.monotonic() - t0\n"
            "r['error'] = cam.error\n"
            "print(json.dumps(r))",
        )
        assert "permission" in got["error"].lower(), got
        assert got["raised"] == "CameraError" and got["camera_error"], got
        assert got["name"] == "NotAllowedError", got
        assert got["elapsed"] < 1.0, f"snapshot() waited {got['elapsed']:.2f} s before raising"
        assert h.counters(page)["peersLive"] == 0
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_bad_arguments_fail_fast(page, jupyter_server, kernel_eval):
    """Bad arguments raise at construction with a message naming the argument."""
    name = "streams_badargs.ipynb"
    cases = [
        ('nbrtc.Camera(width="big")', "ValueError", "width"),
        ("nbrtc.Camera(frame_rate=0)", "ValueError", "frame_rate"),
        ('nbrtc.Camera(device_id="")', "ValueError", "device_id"),
        ("nbrtc.VideoView(nbrtc.sources.frames(iter([]), fps=-1))", "ValueError", "fps"),
        ("nbrtc.VideoView(42)", "TypeError", "source"),
        ('nbrtc.VideoView("no_such_clip.mp4")', "FileNotFoundError", "no_such_clip.mp4"),
    ]
    cells = ["import nbrtc"] + [c for c, _, _ in cases]
    _open(page, jupyter_server, name, cells)
    try:
        _run(page, 0)
        for i, (code, exc, word) in enumerate(cases, start=1):
            t0 = time.monotonic()
            _run(page, i)
            took = time.monotonic() - t0
            out = h.cell_output_text(page, i)
            assert exc in out, f"{code}: expected {exc}, cell shows {out!r}"
            assert word in out, f"{code}: message does not name {word!r}: {out!r}"
            assert took < 5, f"{code} took {took:.1f} s to fail"
        assert page.locator(".nbrtc-root").count() == 0, "a widget was shown for bad arguments"
        got = _kjson(
            kernel_eval,
            "import json\nm = nbrtc.manager()\n"
            "print(json.dumps([len(m.streams()), sum(1 for w in m._widgets if not w._closed)]))",
        )
        assert got == [0, 0], f"bad arguments left streams/widgets behind: {got}"
    finally:
        _remove(jupyter_server, name)


# ------------------------------------------------------------------------- quickstart


def _quickstart_code_cells() -> list[tuple[int, str]]:
    nb = json.loads(QUICKSTART.read_text())
    return [
        (i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
    ]


def _run_quickstart(page, jupyter_server, kernel_eval, name: str, ui: h.UI, shot: Path | None):
    shutil.copy(QUICKSTART, jupyter_server.root_dir / name)
    h.open_notebook(page, jupyter_server, name, ui=ui)
    code = _quickstart_code_cells()
    assert len(code) >= 5, code
    close_idx = code[-1][0]
    outputs: dict[int, str] = {}
    for idx, src in code:
        if idx == close_idx:
            break
        _run(page, idx, timeout=60)
        outputs[idx] = h.cell_output_text(page, idx)
        assert "Traceback" not in outputs[idx], (
            f"quickstart cell {idx} failed:\n{src}\n---\n{outputs[idx]}"
        )
    snap = [i for i, s in code if "snapshot(" in s]
    assert snap, "the quickstart has no snapshot cell"
    assert outputs[snap[0]].startswith("(480, 640, 3) uint8"), outputs[snap[0]]

    views = page.locator(".nbrtc-root")
    h.wait_for(
        lambda: views.count() == 2 and all(_state(views.nth(k)) == "live" for k in range(2)),
        timeout=20,
        message="both quickstart views live",
    )
    kinds = sorted(views.nth(k).get_attribute("data-kind") for k in range(2))
    assert kinds == ["camera", "view"], kinds
    for k in range(2):
        _assert_playing(views.nth(k))
    streams = _kjson(
        kernel_eval, "import json\nprint(json.dumps(nbrtc.manager().streams(), default=str))"
    )
    assert sorted(s["kind"] for s in streams) == ["camera", "view"], streams
    before = h.counters(page)
    assert before["peersLive"] == 2 and before["tracksLive"] == 1, before

    if shot is not None:
        _quickstart_screenshot(page, views, code[0][0], shot)

    _run(page, close_idx, timeout=30)
    out = h.cell_output_text(page, close_idx)
    assert out == "closed closed []", out
    h.wait_for(
        lambda: _live_counters_zero(page),
        timeout=5,
        message=f"browser peers and tracks released (counters {h.counters(page)})",
    )
    return outputs


def _quickstart_screenshot(page, views, first_code_cell: int, target: Path) -> None:
    """The README picture: the first code cell, the test pattern and the camera, all live."""
    # Two 480 px videos with their cells do not fit 900 px: a taller page, no file browser.
    h.single_use(page, "the left area collapsed for the README picture")
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.evaluate(
        """() => {
          const app = window.jupyterapp;
          if (app && app.shell && app.shell.leftCollapsed === false) {
            return app.commands.execute('application:toggle-left-area');
          }
        }"""
    )
    _cell(page, first_code_cell).evaluate("(el) => el.scrollIntoView({block: 'start'})")

    def both_visible() -> bool:
        # The notebook's scrolling area (between the toolbar and the status bar).
        area = page.locator(".jp-WindowedPanel-outer").first.bounding_box()
        if area is None:
            return False
        for v in (views.nth(0), views.nth(1)):
            box = v.bounding_box()  # video and status line
            if box is None or box["y"] < area["y"]:
                return False
            if box["y"] + box["height"] > area["y"] + area["height"]:
                return False
        return True

    h.wait_for(both_visible, timeout=5, message="both quickstart videos fully on screen")
    for k in range(2):
        _grab_pixels(views.nth(k))  # both have a frame to show
        assert _state(views.nth(k)) == "live"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    page.set_viewport_size(h.VIEWPORT)


def test_quickstart_jupyterlab(page, jupyter_server, kernel_eval):
    """notebooks/quickstart.ipynb runs top to bottom in JupyterLab (and makes the README shot)."""
    name = "quickstart_lab.ipynb"
    try:
        _run_quickstart(page, jupyter_server, kernel_eval, name, "lab", README_IMAGE)
        assert README_IMAGE.stat().st_size > 20_000
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_quickstart_notebook7(page, jupyter_server, kernel_eval):
    """The same quickstart in Notebook 7; afterwards no browser peer or track is live."""
    name = "quickstart_nb7.ipynb"
    try:
        _run_quickstart(page, jupyter_server, kernel_eval, name, "notebook7", None)
        c = h.counters(page)
        assert c["peersCreated"] >= 2 and c["tracksCreated"] >= 1, c
        assert c["peersLive"] == 0 and c["tracksLive"] == 0, c
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_quickstart_run_all(page, jupyter_server, kernel_eval):
    """Run All works: the snapshot cell awaits, which lets the camera's offer in."""
    name = "quickstart_runall.ipynb"
    try:
        shutil.copy(QUICKSTART, jupyter_server.root_dir / name)
        h.open_notebook(page, jupyter_server, name)
        h.run_all(page, timeout=120)
        code = _quickstart_code_cells()
        outs = {i: h.cell_output_text(page, i) for i, _ in code}
        assert not any("Traceback" in o or "Error" in o for o in outs.values()), outs
        snap = next(i for i, s in code if "snapshot(" in s)
        assert outs[snap].startswith("(480, 640, 3) uint8"), outs[snap]
        assert outs[code[-1][0]] == "closed closed []", outs
        h.wait_for(lambda: _live_counters_zero(page), timeout=5, message="all released")
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_device_choice_and_bad_device(page, jupyter_server, kernel_eval):
    """`devices` lists the browser's cameras; device_id picks one exactly; a wrong id
    is an OverconstrainedError in words and a CameraError in Python."""
    name = "devices.ipynb"
    cells = [
        "import nbrtc, json\ncam = nbrtc.Camera()\ncam",
        "dev = [d for d in cam.devices if d['kind'] == 'videoinput']\n"
        "cam2 = nbrtc.Camera(device_id=dev[0]['deviceId'])\ncam2",
        "cam3 = nbrtc.Camera(device_id='no-such-camera')\ncam3",
    ]
    try:
        path = h.write_notebook(jupyter_server, name, cells)
        h.open_notebook(page, jupyter_server, path)
        _run(page, 0)
        h.wait_for(
            lambda: (
                kernel_eval("len([d for d in cam.devices if d['kind'] == 'videoinput'])")
                not in ("0", "")
            ),
            timeout=20,
            message="cam.devices filled after permission",
        )
        # the page reports its devices right after getUserMedia; the first frame reaches the
        # kernel a moment later (longer on a busy machine)
        timings_code = "print(json.dumps([s['timings'] for s in nbrtc.manager().streams()]))"
        h.wait_for(
            lambda: "first_frame" in (_kjson(kernel_eval, timings_code) or [{}])[0],
            timeout=10,
            message="the first frame in the kernel",
        )
        timings = _kjson(kernel_eval, timings_code)
        print("kernel-side stream timings (s from offer):", timings)
        assert timings and "first_frame" in timings[0], timings
        _run(page, 1)
        # poll between requests: a blocking wait() in a kernel request would keep the
        # browser's offer out (and rightly raises NotDisplayedError at once)
        h.wait_for(lambda: kernel_eval("cam2.state") == "'live'", 15, message="cam2 live")
        assert kernel_eval("cam2.snapshot(timeout=5).shape") == "(480, 640, 3)"
        _run(page, 2)
        roots = page.locator(".nbrtc-root")
        h.wait_for(lambda: roots.count() == 3, timeout=15, message="the third view rendered")
        roots.nth(2).scroll_into_view_if_needed()

        def diagnose() -> str:
            return json.dumps(
                {
                    "views": [
                        roots.nth(k).get_attribute("data-state") for k in range(roots.count())
                    ],
                    "router": page.evaluate("() => window.__nbrtc_router_v1.streams()"),
                    "kernel": kernel_eval("cam3.state, cam3.error"),
                    "words": roots.nth(2).locator(".nbrtc-status").inner_text(),
                    "last": kernel_eval(
                        "s = cam3._last_stream\n"
                        "print(s and (s.state, s.timings, s.browser, str(s.error)),"
                        " nbrtc.manager().errors_sent)"
                    ),
                }
            )

        try:
            h.wait_for(lambda: kernel_eval("cam3.state") == "'error'", 15, message="cam3 error")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; {diagnose()}") from None
        assert "OverconstrainedError" in kernel_eval("cam3.error")
        got = kernel_eval(
            "try:\n    cam3.snapshot(timeout=1)\nexcept nbrtc.CameraError as e:\n    print(e.name)"
        )
        assert got == "OverconstrainedError", got
        h.wait_for(lambda: h.counters(page)["tracksLive"] == 2, timeout=5, message="2 cameras")
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_changing_constraints_restarts_the_camera(page, jupyter_server, kernel_eval):
    """`cam.constraints = {...}` while live: the view restarts its stream with them."""
    name = "constraints.ipynb"
    try:
        path = h.write_notebook(jupyter_server, name, ["import nbrtc\ncam = nbrtc.Camera()\ncam"])
        h.open_notebook(page, jupyter_server, path)
        _run(page, 0)
        h.wait_for(lambda: kernel_eval("cam.state") == "'live'", 15, message="cam live")
        assert kernel_eval("cam.snapshot(timeout=5).shape") == "(480, 640, 3)"
        kernel_eval("cam.constraints = {'width': 320, 'height': 240}")
        h.wait_for(
            lambda: kernel_eval("cam.snapshot(timeout=5).shape") == "(240, 320, 3)",
            timeout=15,
            message="frames at the new size",
        )
        c = h.counters(page)
        assert c["tracksLive"] == 1 and c["peersLive"] == 1, c
        assert kernel_eval("len(nbrtc.manager().streams())") == "1"
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)
