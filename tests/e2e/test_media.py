"""End-to-end tests of media in Python, in a real JupyterLab and Chromium.

Live processing whose result the browser shows (pixels checked), swap and error recovery,
recordings PyAV confirms, data channels both ways, microphone audio, kernel sound in the
browser, a grid of 16 feeds, screen sharing, the analyst notebook top to bottom, and
teardown of every new resource (processing threads, recorders, channels). Figures the
issue asks for (processing round trip, delivery rate) are printed and written to
``test-artifacts/media-figures.json``.
"""

from __future__ import annotations

import json
import statistics
import time

import pytest

from lab import jupyter as h
from lab.video import (
    _RED_BLUE_CAMERA_JS,
    READ_STAMPS_JS,
    SENT_FRAMES_JS,
    STAMP_CAMERA_JS,
    _close_all,
    _kjson,
    _live_counters_zero,
    _open,
    _remove,
    _root,
    _run,
    _wait_colour,
    _wait_state,
)

pytestmark = pytest.mark.e2e

FIGURES = h.ARTIFACTS_DIR / "media-figures.json"


def _showing(root) -> str | None:
    return root.get_attribute("data-showing")


def _kernel_threads(kernel_eval) -> list[str]:
    return _kjson(
        kernel_eval,
        "import json, threading\nprint(json.dumps(sorted(t.name for t in threading.enumerate())))",
    )


def _kernel_clean(kernel_eval) -> dict:
    return _kjson(
        kernel_eval,
        "import json, nbrtc\nprint(json.dumps(nbrtc.manager().resources()))",
    )


# --------------------------------------------------------------------------- processing
def test_process_is_visible_swappable_and_recovers(page, jupyter_server, kernel_eval):
    """Red | blue camera: process(invert) turns the browser's picture cyan | yellow; a
    raising function keeps the stream live, shows its error and passes frames through;
    swapping fixes it; process(None) goes back to the camera preview."""
    page.add_init_script(_RED_BLUE_CAMERA_JS)
    name = "media_process.ipynb"
    _open(
        page, jupyter_server, name, ["import numpy as np\nimport nbrtc\ncam = nbrtc.Camera()\ncam"]
    )
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        assert _showing(root) == "camera"
        _wait_colour(root, (127, 0, 127), tol=30)  # red | blue, averaged

        # a function that only looks: Chromium gets its camera's own VP8 frames back
        forwarded = "cam.process_stats()['forwarded']"
        kernel_eval("cam.process(lambda rgb: None)")
        h.wait_for(lambda: _showing(root) == "processed", 15, message="processed video shown")
        h.wait_for(lambda: int(kernel_eval(forwarded)) > 30, 15, message="frames forwarded")
        _wait_colour(root, (127, 0, 127), tol=30)

        kernel_eval("cam.process(lambda rgb: 255 - rgb)")
        mean = _wait_colour(root, (127, 255, 127), tol=30)  # cyan | yellow
        print(f"inverted picture in the browser: mean RGB {mean}")

        kernel_eval("def broken(rgb):\n    raise ValueError('bad lens')\ncam.process(broken)")
        notice = root.locator(".nbrtc-notice")
        h.wait_for(lambda: "bad lens" in notice.inner_text(), 10, message="error shown")
        assert notice.is_visible()
        assert root.get_attribute("data-state") == "live"
        _wait_colour(root, (127, 0, 127), tol=30)  # frames pass through unprocessed
        assert "ValueError: bad lens" in kernel_eval("cam.process_error")

        kernel_eval("cam.process(lambda rgb: np.zeros_like(rgb))")
        _wait_colour(root, (0, 0, 0), tol=20)
        h.wait_for(lambda: not notice.is_visible(), 5, message="error notice cleared")

        # looking only again: forwarding resumes on a keyframe the kernel asks Chromium for
        n = int(kernel_eval(forwarded))
        kernel_eval("cam.process(lambda rgb: rgb)")
        h.wait_for(lambda: int(kernel_eval(forwarded)) > n + 30, 15, message="forwarded again")
        _wait_colour(root, (127, 0, 127), tol=30)

        kernel_eval("cam.process(None)")
        h.wait_for(lambda: _showing(root) == "camera", 5, message="back to the camera")
        _wait_colour(root, (127, 0, 127), tol=30)
        stats = _kjson(kernel_eval, "import json\nprint(json.dumps(cam.process_stats()))")
        print("process stats:", stats)
        assert stats["frames"] > 0 and stats["errors"] > 0 and stats["active"] is False
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_processing_round_trip_and_delivery(page, jupyter_server, kernel_eval):
    """Figures: frames delivered to Python at 640x480 against the frames the browser sent,
    and the camera -> process(fn) -> browser round trip (median, p95) for an identity fn."""
    page.add_init_script(STAMP_CAMERA_JS)
    name = "media_latency.ipynb"
    cell = "import nbrtc\ncam = nbrtc.Camera(width=640, height=480, frame_rate=30)\ncam"
    _open(page, jupyter_server, name, [cell])
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        h.wait_for(lambda: int(kernel_eval("cam.frame_count")) > 30, 15, message="frames flow")

        sent0, got0 = page.evaluate(SENT_FRAMES_JS), int(kernel_eval("cam.frame_count"))
        t0 = time.monotonic()
        h.sample_for(lambda: None, 5.0, interval=0.5)  # measuring over a fixed window
        sent1, got1 = page.evaluate(SENT_FRAMES_JS), int(kernel_eval("cam.frame_count"))
        span = time.monotonic() - t0
        delivery = {
            "browser_sent_fps": round((sent1 - sent0) / span, 1),
            "python_received_fps": round((got1 - got0) / span, 1),
            "ratio": round((got1 - got0) / max(1, sent1 - sent0), 3),
            "size": kernel_eval("cam.latest_frame.shape"),
        }
        print("delivery to Python:", delivery)
        h.record_figure(FIGURES, "delivery_640x480", delivery)
        assert delivery["ratio"] >= 0.9, delivery

        kernel_eval("cam.process(lambda rgb: rgb)")
        h.wait_for(lambda: _showing(root) == "processed", 15, message="processed video shown")
        h.sample_for(lambda: None, 1.0, interval=0.5)  # let the return path settle
        video = root.locator("video.nbrtc-video").element_handle()
        samples = [s for s in page.evaluate(READ_STAMPS_JS, [video, 6000]) if s < 5000]
        assert len(samples) > 60, f"too few decoded frames: {len(samples)}"
        samples.sort()
        figure = {
            "median_ms": statistics.median(samples),
            "p95_ms": samples[int(0.95 * (len(samples) - 1))],
            "min_ms": samples[0],
            "frames": len(samples),
            "process_ms": kernel_eval("cam.process_ms"),
            "forwarded": int(kernel_eval("cam.process_stats()['forwarded']")),
        }
        print("processing round trip camera -> fn -> browser:", figure)
        h.record_figure(FIGURES, "process_round_trip", figure)
        assert figure["median_ms"] < 500, figure
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_kernel_video_plays_with_the_jitter_buffer_target(page, jupyter_server, kernel_eval):
    """A view's video gets the page's jitter buffer target from ``jitter_buffer_ms``: the
    browser's own by default (nbrtc.config's 0), a change from Python reaches the live
    receiver at once, 0 gives the browser's own back, frames are shown throughout."""
    name = "media_jitter_buffer.ipynb"
    cell = "import nbrtc\nview = nbrtc.VideoView(nbrtc.sources.test_pattern(320, 240, 30))\nview"
    _open(page, jupyter_server, name, [cell])

    def targets() -> list:
        got = page.evaluate("() => window.__counters.receivers()")
        return [r["jitterBufferTarget"] for r in got if r["kind"] == "video"]

    def presented() -> int:
        return int(
            _root(page, 0)
            .locator("video.nbrtc-video")
            .evaluate(
                "(v) => { const q = v.getVideoPlaybackQuality();"
                " return q.totalVideoFrames - q.droppedVideoFrames; }"
            )
        )

    try:
        _run(page, 0)
        _wait_state(_root(page, 0), "live")
        assert kernel_eval("view.jitter_buffer_ms") == "0"
        h.wait_for(lambda: targets() == [None], 10, message=f"the browser's own: {targets()}")
        for value, expected in ((60, 60), (0, None), (150, 150)):
            kernel_eval(f"view.jitter_buffer_ms = {value}")
            h.wait_for(lambda e=expected: targets() == [e], 10, message=f"{value}: {targets()}")
            n = presented()
            h.wait_for(lambda n=n: presented() > n + 15, 10, message=f"frames shown at {value}")
        # a bad value is refused in Python and the page keeps what it had
        said = kernel_eval(
            "try:\n    view.jitter_buffer_ms = 9000\nexcept ValueError as e:\n    print(e)"
        )
        assert "between 0" in said and "4000" in said, said
        assert targets() == [150]
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


# ---------------------------------------------------------------------------- recording
def test_recordings_are_playable(page, jupyter_server, kernel_eval):
    """record() to mp4 and webm: PyAV decodes exactly the frames the recorder wrote, the
    duration is what was asked, and rec.video() plays inline in the page."""
    name = "media_record.ipynb"
    cells = [
        "import nbrtc\ncam = nbrtc.Camera(audio=True)\ncam",
        "rec = cam.record('e2e_take.webm', seconds=2)\nawait rec.wait_async(timeout=20)\n"
        "rec.video()",
    ]
    _open(page, jupyter_server, name, cells)
    root_dir = jupyter_server.root_dir
    try:
        _run(page, 0)
        _wait_state(_root(page, 0), "live")
        got = _kjson(
            kernel_eval,
            "import json, av\n"
            "r = cam.record('e2e_take.mp4', seconds=2).wait(timeout=20)\n"
            "with av.open(str(r.path)) as c:\n"
            "    n = sum(1 for _ in c.decode(video=0))\n"
            "    has_audio = bool(c.streams.audio)\n"
            "    dur = float(c.duration) / av.time_base\n"
            "print(json.dumps({'decoded': n, 'frames': r.frames, 'received': r.received,\n"
            "  'dropped': r.dropped, 'duration': dur, 'audio': has_audio, 'repr': repr(r)}))",
        )
        print("mp4 recording:", got)
        assert got["decoded"] == got["frames"] == got["received"] and got["dropped"] == 0, got
        # Chromium's fake camera sends 20 fps: ~40 frames in 2 s, a few less on a busy machine
        assert got["frames"] >= 34, got
        assert 1.7 < got["duration"] < 2.4 and got["audio"], got

        _run(page, 1, timeout=40)
        player = page.locator(h.CELLS).nth(1).locator("video")
        h.wait_for(lambda: player.count() == 1, 10, message="inline player")
        info = player.evaluate(
            "v => new Promise(r => { const done = () => r({d: v.duration, rs: v.readyState, "
            "err: v.error && v.error.code}); if (v.readyState >= 1) done(); "
            "else { v.onloadedmetadata = done; v.onerror = done; } })"
        )
        print("inline webm player:", info)
        assert info["err"] is None and 1.6 < info["d"] < 2.5, info
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)
        for f in ("e2e_take.mp4", "e2e_take.webm"):
            (root_dir / f).unlink(missing_ok=True)


# ------------------------------------------------------------------------ data channels
def test_data_channel_round_trip(page, jupyter_server, kernel_eval):
    """cam.channel("chat"): Python -> the widget's panel; the panel's input -> Python; the
    page-script API (root.nbrtc.send and nbrtc-message events) both ways."""
    name = "media_channel.ipynb"
    cells = ["import nbrtc\nview = nbrtc.VideoView(nbrtc.sources.test_pattern(320, 240))\nview"]
    _open(page, jupyter_server, name, cells)
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        kernel_eval("ch = view.channel('chat')\ngot = []\nch.on_message(got.append)")
        box = root.locator('.nbrtc-channel[data-label="chat"]')
        h.wait_for(lambda: box.get_attribute("data-state") == "open", 10, message="channel open")

        page.evaluate(
            "() => { window.__seen = []; document.addEventListener('nbrtc-message', "
            "(e) => window.__seen.push(e.detail.data)); }"
        )
        kernel_eval("ch.send({'hello': 1})")
        incoming = box.locator('.nbrtc-msg[data-dir="in"]')
        h.wait_for(lambda: incoming.count() >= 1, 10, message="message shown in the panel")
        assert "hello" in incoming.first.inner_text()
        h.wait_for(lambda: page.evaluate("window.__seen.length") >= 1, 5, message="page event")

        field = box.locator("input.nbrtc-channel-input")
        field.fill("typed in the page")
        field.press("Enter")
        assert json.loads(kernel_eval("import json\nprint(json.dumps(ch.recv(timeout=10)))")) == (
            "typed in the page"
        )
        assert page.evaluate(
            "document.querySelector('.nbrtc-root').nbrtc.send('chat', '{\"n\": 7}')"
        )
        assert json.loads(kernel_eval("print(json.dumps(ch.recv(timeout=10)))")) == {"n": 7}
        h.wait_for(lambda: int(kernel_eval("len(got)")) == 2, 5, message="on_message callback")

        kernel_eval("view.close()")
        assert kernel_eval("ch.closed") == "True"
        h.wait_for(lambda: _live_counters_zero(page), 5, message="peer closed with channels")
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


# -------------------------------------------------------------------------------- audio
def test_microphone_and_kernel_sound(page, jupyter_server, kernel_eval):
    """The fake microphone's beeps arrive in Python as numpy; a kernel tone plays in the
    page (audio samples received, the player running)."""
    name = "media_audio.ipynb"
    cells = [
        "import json\nimport numpy as np\nimport nbrtc\nmic = nbrtc.Microphone()\nmic",
        "tone = nbrtc.AudioView(nbrtc.sources.tone(440))\ntone",
    ]
    _open(page, jupyter_server, name, cells)
    try:
        _run(page, 0)
        _wait_state(_root(page, 0), "live")
        got = _kjson(
            kernel_eval,
            "a = mic.capture_audio(2.0)\n"
            "print(json.dumps({'shape': a.shape, 'rate': a.sample_rate, 'layout': a.layout,\n"
            "  'peak': float(np.abs(a).max()), 'dtype': str(a.dtype)}))",
        )
        print("microphone in Python:", got)
        assert got["rate"] == 48000 and got["shape"][1] == 96000, got
        assert got["dtype"] == "float32" and got["peak"] > 0.05, f"the fake mic beeps: {got}"

        _run(page, 1)
        root = _root(page, 1)
        _wait_state(root, "live")
        play = root.locator("button.nbrtc-play")
        if play.is_visible():  # autoplay was refused: do what a person does
            play.click()
        player = root.locator("audio.nbrtc-audio")

        def received() -> float:
            stats = page.evaluate("async () => await window.__counters.stats()")
            return sum(
                r.get("totalSamplesReceived", 0)
                for r in stats
                if r.get("type") == "inbound-rtp" and r.get("kind") == "audio"
            )

        h.wait_for(lambda: received() > 48000, 15, message="1 s of kernel audio received")
        t0 = player.evaluate("a => a.currentTime")
        h.wait_for(
            lambda: player.evaluate("a => !a.paused && a.currentTime") > t0 + 0.5,
            10,
            message="the player runs",
        )
        kernel_eval("mic.close(); tone.close()")
        h.wait_for(lambda: _live_counters_zero(page), 5, message="microphone off, peers closed")
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


# ---------------------------------------------------------------------------- many feeds
_PLAYBACK_JS = """
() => [...document.querySelectorAll('.nbrtc-root video.nbrtc-video')]
  .map((v) => v.getVideoPlaybackQuality().totalVideoFrames)
"""


def _grid_states(page, n: int):
    """Wait for the first cell's ``n`` views; a function reading their ``data-state``."""
    roots = page.locator(h.CELLS).nth(0).locator(".nbrtc-root")
    h.wait_for(lambda: roots.count() == n, 20, message=f"{n} views")
    return lambda: [roots.nth(i).get_attribute("data-state") for i in range(n)]


def test_grid_of_sixteen_feeds(page, jupyter_server, kernel_eval):
    """Grid of 16 VideoViews (320x240, 15 fps each): one page router, all live, every feed
    renders frames; closing the grid closes all 16."""
    name = "media_grid.ipynb"
    cell = (
        "import nbrtc\n"
        "feeds = [nbrtc.VideoView(nbrtc.sources.test_pattern(320, 240, fps=15))\n"
        "         for _ in range(16)]\n"
        "grid = nbrtc.Grid(feeds, columns=4)\ngrid"
    )
    _open(page, jupyter_server, name, [cell])
    try:
        _run(page, 0, timeout=90)
        states = _grid_states(page, 16)
        try:
            h.wait_for(lambda: set(states()) == {"live"}, 60, message="all 16 live")
        except TimeoutError:
            streams = kernel_eval(
                "[(s['state'], s['timings'], s['error']) for s in nbrtc.manager().streams()]"
            )
            raise AssertionError(f"not all live: {states()}; kernel: {streams}") from None
        assert page.evaluate("globalThis.__nbrtc_router_v1.streams().length") == 16
        first = page.evaluate(_PLAYBACK_JS)
        t0 = time.monotonic()
        h.sample_for(lambda: None, 5.0, interval=0.5)  # count frames over a fixed window
        last = page.evaluate(_PLAYBACK_JS)
        span = time.monotonic() - t0
        rates = [round((b - a) / span, 1) for a, b in zip(first, last, strict=True)]
        print("16 feeds, rendered fps each:", rates)
        h.record_figure(FIGURES, "grid16_rendered_fps", {"per_feed": rates, "target_fps": 15})
        # every feed renders, and none starves: the absolute rate is the machine's (it
        # moved between 9-10 and 5 fps on this 2-core box within one day, for the same
        # code); the benchmarks measure it
        median = sorted(rates)[len(rates) // 2]
        assert len(rates) == 16 and min(rates) > 2 and min(rates) >= 0.5 * median, rates

        kernel_eval("grid.close()")
        h.wait_for(lambda: _live_counters_zero(page), 10, message="16 peers closed")
        assert (
            _kjson(kernel_eval, "import json\nprint(json.dumps(nbrtc.manager().streams()))") == []
        )
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_grid_of_cameras_answers_the_kernels_offers(page, jupyter_server, kernel_eval):
    """A Grid of three Cameras: the grid's display hook makes the kernel's offer for each
    camera (nbrtc.config.kernel_offer, on by default), every view answers its own, all go
    live with frames in Python, and no offer is left waiting; closing the grid stops every
    camera track and peer."""
    name = "media_grid_cams.ipynb"
    cell = (
        "import nbrtc\n"
        "cams = [nbrtc.Camera(width=320, height=240) for _ in range(3)]\n"
        "grid = nbrtc.Grid(cams, columns=3)\ngrid"
    )
    _open(page, jupyter_server, name, [cell])
    # the page's note that a view adopted the answer prepared as its offer arrived
    # (peer/early-answer.js), instead of making a pc of its own
    early: list[str] = []

    def note(msg) -> None:
        if "answering on the early answer's pc" in msg.text:
            early.append(msg.text)

    page.on("console", note)
    try:
        _run(page, 0, timeout=60)
        states = _grid_states(page, 3)
        h.wait_for(lambda: set(states()) == {"live"}, 30, message="all 3 live")
        assert len(early) == 3, early
        assert h.counters(page)["peersCreated"] == 3, "one pc per camera, the early answer's"

        got = _kjson(
            kernel_eval,
            "import json\nprint(json.dumps({'ids': [[s['id'] for s in c.streams] for c in cams],"
            " 'shapes': [list(c.snapshot(timeout=5).shape) for c in cams],"
            " 'offerers': [c.sdp.offerer for c in cams],"
            " 'waiting': len(nbrtc.manager().offers)}))",
        )
        assert got["shapes"] == [[240, 320, 3]] * 3, got
        # one stream per camera, each under the id of the kernel's own offer
        assert [len(ids) for ids in got["ids"]] == [1, 1, 1], got
        assert all(ids[0].startswith("k") for ids in got["ids"]), got
        assert got["offerers"] == ["kernel"] * 3 and got["waiting"] == 0, got
        kernel_eval("grid.close()")
        h.wait_for(lambda: _live_counters_zero(page), 10, message="3 peers and tracks closed")
    finally:
        page.remove_listener("console", note)
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


# ------------------------------------------------------------------------------- screen
def test_screen_share(page, jupyter_server, kernel_eval):
    """ScreenShare: the shared screen reaches Python like a camera; stopping the share in
    the browser ends the stream (the widget is back to 'new')."""
    name = "media_screen.ipynb"
    _open(page, jupyter_server, name, ["import nbrtc\nscreen = nbrtc.ScreenShare()\nscreen"])
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        assert root.get_attribute("data-kind") == "screen"
        shape = kernel_eval("screen.snapshot(timeout=15).shape")
        print("screen frame:", shape)
        assert shape.startswith("(") and shape.endswith(", 3)"), shape

        assert page.evaluate("window.__counters.endTracks('video')") == 1
        h.wait_for(lambda: kernel_eval("screen.state") == "'new'", 10, message="share ended")
        assert (
            _kjson(kernel_eval, "import json\nprint(json.dumps(nbrtc.manager().streams()))") == []
        )
        h.wait_for(lambda: _live_counters_zero(page), 5, message="nothing left in the page")
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


# ----------------------------------------------------------------------------- teardown
def test_new_resources_end_with_their_widget(page, jupyter_server, kernel_eval):
    """Processing thread, recorder and channel of a camera: re-running its cell ends them
    all (the recording finalized and playable); a kernel shutdown finalizes a recording
    that had no end."""
    name = "media_teardown.ipynb"
    cell = (
        "import nbrtc\ncam = nbrtc.Camera()\ncam.process(lambda rgb: 255 - rgb)\n"
        "ch = cam.channel('c')\ncam"
    )
    _open(page, jupyter_server, name, [cell])
    root_dir = jupyter_server.root_dir
    try:
        _run(page, 0)
        _wait_state(_root(page, 0), "live")
        kernel_eval("rec = cam.record('td_first.mp4')\nold = (cam, rec, ch)")
        h.wait_for(lambda: int(kernel_eval("rec.frames")) > 10, 15, message="recording")
        names = _kernel_threads(kernel_eval)
        assert any(n.startswith("nbrtc-process") for n in names), names
        assert "nbrtc-recorder" in names, names

        _run(page, 0)  # the cell runs again: the old camera and all it had end first
        _wait_state(_root(page, 0), "live")
        got = _kjson(
            kernel_eval,
            "import json, av, threading\n"
            "c, r, k = old\nr.wait(timeout=10)\n"
            "with av.open(str(r.path)) as f:\n    n = sum(1 for _ in f.decode(video=0))\n"
            "print(json.dumps({'state': c.state, 'done': r.done, 'decoded': n,\n"
            "  'frames': r.frames, 'channel_closed': k.closed,\n"
            "  'recorders': [t.name for t in threading.enumerate()\n"
            "                if t.name == 'nbrtc-recorder']}))",
        )
        print("after re-run:", got)
        assert got["state"] == "closed" and got["done"] and got["channel_closed"], got
        assert got["decoded"] == got["frames"] > 10 and got["recorders"] == [], got

        # exactly one processing thread: the new camera's (started by its first frame)
        def procs() -> list[str]:
            return [n for n in _kernel_threads(kernel_eval) if n.startswith("nbrtc-process")]

        h.wait_for(lambda: len(procs()) == 1, 10, message="one processing thread")
        h.assert_holds(lambda: len(procs()) == 1, 1.0, message="and only one")

        kernel_eval("rec2 = cam.record('td_shutdown.mp4')")
        h.wait_for(lambda: int(kernel_eval("rec2.frames")) > 10, 15, message="second recording")
        h.shutdown_kernel(page, via="api")
        h.wait_for(lambda: _live_counters_zero(page), 5, message="page released everything")
        import av

        with av.open(str(root_dir / "td_shutdown.mp4")) as f:
            frames = sum(1 for _ in f.decode(video=0))
        print("recording finalized at kernel shutdown:", frames, "frames")
        assert frames > 10
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)
        for f in ("td_first.mp4", "td_shutdown.mp4"):
            (root_dir / f).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- notebook
def _cells_summary(page) -> list[tuple[str, str]]:
    """(prompt, first output text) of every cell: where a notebook run stopped."""
    cells = page.locator(h.CELLS)
    out = []
    for i in range(cells.count()):
        cell = cells.nth(i)
        prompt = cell.locator(".jp-InputPrompt")
        texts = cell.locator(".jp-OutputArea-output")
        out.append(
            (
                prompt.first.inner_text() if prompt.count() else "",
                texts.first.inner_text()[:200] if texts.count() else "",
            )
        )
    return out


def test_analyst_notebook_runs_top_to_bottom(page, jupyter_server, kernel_eval):
    """notebooks/analyst-camera.ipynb with Run All: no error output, the processed preview
    shows, the recording plays inline, and everything is released at the end."""
    import shutil

    src = h.REPO_ROOT / "notebooks" / "analyst-camera.ipynb"
    name = "analyst_copy.ipynb"
    shutil.copy(src, jupyter_server.root_dir / name)
    root_dir = jupyter_server.root_dir
    try:
        h.open_notebook(page, jupyter_server, name)
        try:
            h.run_all(page, timeout=120)
        except TimeoutError:
            raise AssertionError(f"Run All did not finish: {_cells_summary(page)}") from None
        errors = page.locator(h.CELLS).locator(".jp-OutputArea-output[data-mime-type*='error']")
        texts = [errors.nth(i).inner_text()[:400] for i in range(errors.count())]
        assert not texts, texts
        outputs = page.locator(h.CELLS).locator(".jp-OutputArea-output")
        all_text = "\n".join(outputs.nth(i).inner_text() for i in range(outputs.count()))
        assert "'frames':" in all_text and "frames in" in all_text, all_text[-2000:]
        player = page.locator(h.CELLS).locator("video:not(.nbrtc-local):not(.nbrtc-remote)")
        h.wait_for(lambda: player.count() >= 1, 10, message="the recording's player")
        dur = player.first.evaluate(
            "v => new Promise(r => v.readyState >= 1 ? r(v.duration) : "
            "(v.onloadedmetadata = () => r(v.duration)))"
        )
        assert 2.5 < dur < 3.6, dur
        h.wait_for(lambda: _live_counters_zero(page), 10, message="camera closed at the end")
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)
        (root_dir / "analyst-take.webm").unlink(missing_ok=True)
