"""The comm transport in a real JupyterLab and Chromium (issue 10 section 2).

``transport="comm"`` streams with no RTCPeerConnection at all: the page's camera reaches
Python as JPEG frames over the widget's comm, the kernel's processed video and a
``VideoView``'s source come back the same way and play in the cell. Teardown leaves no
peer, no track and no comm thread. (The automatic fallback, when only the notebook's
port is open, is tested on a real blocked network in tests/net/test_comm_path.py.)
Figures are printed and written to ``test-artifacts/comm-figures.json``.
"""

from __future__ import annotations

import time

import pytest

from lab import jupyter as h
from lab.video import (
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
        h.record_figure(
            FIGURES, "camera", {"live_s": round(live_s, 2), "python_fps": round(fps, 1)}
        )

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


# ------------------------------------------------------------------------------ sound
#: the tone of Chromium's fake microphone (--use-fake-device-for-media-stream)
_FAKE_MIC_HZ = 400

#: counts the page's AudioContexts (the comm's player and the views' meters make them)
_AUDIO_CONTEXTS_JS = """
(() => {
  const AC = window.AudioContext;
  if (!AC) return;
  const made = [];
  window.__audioContexts = { live: () => made.filter((c) => c.state !== "closed").length };
  window.AudioContext = class extends AC {
    constructor(...args) {
      super(...args);
      made.push(this);
    }
  };
})();
"""

#: the dominant frequency and the level of what an <audio>/<video> element plays
_ANALYSE_JS = """
async (el) => {
  const ctx = new AudioContext();
  try {
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    ctx.createMediaStreamSource(el.srcObject).connect(analyser);
    await new Promise((r) => setTimeout(r, 600));
    const freq = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(freq);
    let best = 0;
    for (let i = 1; i < freq.length; i++) if (freq[i] > freq[best]) best = i;
    const wave = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(wave);
    const rms = Math.sqrt(wave.reduce((s, v) => s + v * v, 0) / wave.length);
    return { hz: (best * ctx.sampleRate) / analyser.fftSize, dbfs: 20 * Math.log10(rms || 1e-9),
             tracks: el.srcObject.getAudioTracks().length };
  } finally {
    await ctx.close();
  }
}
"""

_SPECTRUM = (
    "import json\nimport numpy as np\n"
    "def _spectrum(a):\n"
    "    x = a.mean(axis=0)\n"
    "    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))\n"
    "    f = np.abs(np.fft.rfft(x * np.hanning(len(x))))\n"
    "    hz = np.fft.rfftfreq(len(x), 1 / a.sample_rate)\n"
    "    band = (hz > 100) & (hz < 4000)  # the burst envelopes of a beep sit below\n"
    "    hz = float(hz[band][int(np.argmax(f[band]))])\n"
    "    return {'rate': a.sample_rate, 'layout': a.layout, 'n': a.shape[1], 'hz': hz,\n"
    "            'dbfs': 20 * float(np.log10(rms)) if rms > 0 else -999.0,\n"
    "            'peak': float(np.abs(a).max())}\n"
)


def test_microphone_over_the_comm(page, jupyter_server, kernel_eval):
    """Chromium's fake microphone (a beep) over the comm: capture_audio() has the sound
    (level, frequency), no RTCPeerConnection is made, close leaves nothing."""
    page.add_init_script(_AUDIO_CONTEXTS_JS)
    name = "comm_mic.ipynb"
    cell = "import nbrtc\nmic = nbrtc.Microphone(transport='comm')\nmic"
    _open(page, jupyter_server, name, [cell])
    try:
        t0 = time.monotonic()
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        live_s = time.monotonic() - t0
        assert kernel_eval("mic.transport").strip() == "'comm'"
        # JupyterLab sends the widget's messages on a kernel subshell, so a blocking
        # capture in a running cell keeps receiving; a message the cell itself sends on the
        # widget's comm first made ipykernel 7 route all later page messages behind the
        # cell (the sound stopped for the whole cell, 3 runs in 6 without the send_state)
        got = _kjson(
            kernel_eval,
            _SPECTRUM
            + "mic.send_state('kind')\nprint(json.dumps(_spectrum(mic.capture_audio(1.0))))",
        )
        stats = _kjson(
            kernel_eval, "import json\nprint(json.dumps(mic._last_stream._comm_audio_in.stats()))"
        )
        print(f"comm microphone: live {live_s:.2f} s; 1 s captured: {got}; kernel: {stats}")
        assert got["n"] == got["rate"] and got["rate"] in (44100, 48000), got
        assert got["dbfs"] > -40, got  # the fake microphone beeps
        assert abs(got["hz"] - _FAKE_MIC_HZ) < 30, got
        # the same sound through latest_audio (the beep is short: mic.level, the last
        # 100 ms, may fall between two beeps)
        assert _kjson(kernel_eval, "print(json.dumps(mic.latest_audio(1.0).shape))") == [1, 48000]
        assert h.counters(page)["peersCreated"] == 0
        h.record_figure(FIGURES, "microphone", {"live_s": round(live_s, 2), **got, **stats})

        kernel_eval("mic.close()")
        h.wait_for(lambda: _live_counters_zero(page), 5, message="microphone off")
        h.wait_for(
            lambda: page.evaluate("() => window.__audioContexts.live()") == 0,
            5,
            message="every AudioContext closed",
        )
        streams = "import json\nprint(json.dumps(nbrtc.manager().streams()))"
        assert _kjson(kernel_eval, streams) == []
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)


def test_audio_view_over_the_comm_plays(page, jupyter_server, kernel_eval):
    """An AudioView of a 440 Hz tone over the comm: the page plays it (the view's meter
    moves; an AnalyserNode on the player hears 440 Hz), close leaves nothing."""
    page.add_init_script(_AUDIO_CONTEXTS_JS)
    name = "comm_tone.ipynb"
    cell = "import nbrtc\ntone = nbrtc.AudioView(nbrtc.sources.tone(440), transport='comm')\ntone"
    _open(page, jupyter_server, name, [cell])
    try:
        # connect the test's kernel client before sound flows: its ready check drains IOPub
        # until a 0.2 s gap, and 25 audio messages a second leave none (minutes, seen)
        kernel_eval("1")
        t0 = time.monotonic()
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        live_s = time.monotonic() - t0
        play = root.locator("button.nbrtc-play")
        if play.is_visible():  # autoplay was refused: do what a person does
            play.click()
        player = root.locator("audio.nbrtc-audio")
        h.wait_for(
            lambda: float(root.locator("meter.nbrtc-meter").get_attribute("data-level")) > 0.01,
            10,
            message="the view's meter moves",
        )
        heard = player.evaluate(_ANALYSE_JS)
        stats = _kjson(
            kernel_eval, "import json\nprint(json.dumps(tone._last_stream._comm_audio_out.stats()))"
        )
        print(
            f"comm tone: live {live_s:.2f} s; the page hears {heard}; kernel after "
            f"{time.monotonic() - t0:.1f} s: {stats}"
        )
        assert heard["tracks"] == 1
        assert abs(heard["hz"] - 440) < 15, heard
        assert heard["dbfs"] > -30, heard  # 0.2 amplitude: -17 dBFS
        assert stats["audioAcks"] > 0 and stats["audioChunksDropped"] == 0
        assert kernel_eval("tone.transport").strip() == "'comm'"
        assert h.counters(page)["peersCreated"] == 0
        h.record_figure(FIGURES, "tone", {"live_s": round(live_s, 2), **heard, **stats})

        kernel_eval("tone.close()")
        h.wait_for(lambda: _live_counters_zero(page), 5, message="page released everything")
        h.wait_for(
            lambda: page.evaluate("() => window.__audioContexts.live()") == 0,
            5,
            message="every AudioContext closed",
        )
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)
