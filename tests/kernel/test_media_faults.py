"""Sources and user functions that misbehave: nothing stalls the media loop, no stream
harms another, every failure is reported in words, and the kernel's loop never dies.

Real parts only: a real TCP server on 127.0.0.1 that accepts and never answers (what a
hung camera or web server looks like to FFmpeg), aiortc's real encoders, a real
``FakeBrowser`` peer receiving the kernel's video. Measurements are printed with
``[media-fault]`` (``pytest -s`` shows them).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import av
import numpy as np
import pytest

import nbrtc
from nbrtc import sources

from ._browser import LoopProbe, live, make, wait_for

#: the open deadline the stalled-source test gives ``sources.file`` (default is 10 s)
TIMEOUT = 2.0


def threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def report(what: str, value: float, unit: str = "s") -> None:
    print(f"[media-fault] {what}: {value:.3f} {unit}")


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():  # bounded by close()
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)  # held open
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        """What the server says on a new connection: nothing, never."""

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self.connections:
            conn.close()
        self.sock.close()


class StallingServer(SilentServer):
    """Answers the first HTTP request with a 200 and the first ``part`` of ``body``
    (no Content-Length: a live stream), then sends nothing more, connection held open."""

    def __init__(self, body: bytes, part: float) -> None:
        self.body, self.part = body, part
        super().__init__()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            conn.recv(4096)  # the request
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/webm\r\n\r\n")
            conn.sendall(self.body[: int(len(self.body) * self.part)])
        except OSError:
            pass


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()  # torn down before the widgets: a stuck open (old code) returns


class Watch:
    """Samples, from the test thread, another stream's frame count and the probe."""

    def __init__(self, counter: Callable[[], int], probe: LoopProbe) -> None:
        self.counter = counter
        self.probe = probe
        self.worst_frame_gap = 0.0
        self.worst_loop_silence = 0.0
        self._count = counter()
        self._changed = time.monotonic()

    def until(self, predicate: Callable[[], Any], seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # bounded
            now = time.monotonic()
            count = self.counter()
            if count != self._count:
                self._count, self._changed = count, now
            self.worst_frame_gap = max(self.worst_frame_gap, now - self._changed)
            self.worst_loop_silence = max(self.worst_loop_silence, now - self.probe.last)
            if predicate():
                return True
            time.sleep(0.02)  # poll interval (bounded by `end`)
        return False


# --- a source that never answers -------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_stalled_url_harms_no_other_stream(browser, widgets, no_leaks, silent_server, scheme):
    """``sources.file(url)`` whose server accepts the connection and never answers,
    shown in a VideoView while a test-pattern view plays. The other view's frames keep
    arriving throughout (no gap over 0.5 s; the media loop is never late by more than
    0.25 s), and the stalled view's ``error`` says in words, within the timeout, that
    the URL did not answer, without the password or token the URL held. FFmpeg's thread
    gives up by itself soon after (PyAV's timeout), so nothing is left behind."""
    other, other_sid = live(browser, widgets, nbrtc.VideoView(sources.test_pattern(160, 120)))
    wait_for(lambda: browser.frame_counts[other_sid] > 5, 10, what="the other view plays")

    url = f"{scheme}://viewer:hunter2@127.0.0.1:{silent_server.port}/x.mp4?token=s3cret"
    src = sources.file(url, timeout=TIMEOUT)
    assert "hunter2" not in repr(src) and "s3cret" not in repr(src), repr(src)
    with LoopProbe() as probe:
        stalled = make(widgets, browser, nbrtc.VideoView(src))
        watch = Watch(lambda: browser.frame_counts[other_sid], probe)
        t0 = time.monotonic()
        browser.start(stalled)
        reported = watch.until(lambda: stalled.error, TIMEOUT + 4)
        took = time.monotonic() - t0
        watch.until(lambda: False, 1.0)  # and a second after the report
    report(f"{scheme}: start -> error in words", took)
    report(f"{scheme}: worst gap between the other view's frames", watch.worst_frame_gap)
    report(f"{scheme}: worst media-loop silence (test thread)", watch.worst_loop_silence)
    report(f"{scheme}: worst media-loop lateness (probe)", probe.worst)
    assert silent_server.connections, "the fault is real: FFmpeg connected and got nothing"
    assert watch.worst_frame_gap < 0.5, "the other stream must not stall"
    assert watch.worst_loop_silence < 0.25 and probe.worst < 0.25, "the media loop stalled"
    assert reported, f"no error in words within {TIMEOUT + 4} s (view.error={stalled.error!r})"
    expected = (
        f"could not open {scheme}://127.0.0.1:{silent_server.port}/x.mp4: no answer within "
        f"{TIMEOUT:g} s"
    )
    assert stalled.error.startswith(expected), stalled.error
    assert "other streams are unaffected" in stalled.error
    assert src.error == stalled.error
    assert "hunter2" not in stalled.error and "s3cret" not in stalled.error
    assert TIMEOUT - 0.2 < took < TIMEOUT + 2, took
    assert other.state == "live" and not src.running
    t1 = time.monotonic()
    wait_for(lambda: not threads("nbrtc-source-open"), 5, what="FFmpeg's open gives up")
    report(f"{scheme}: report -> open thread gone", time.monotonic() - t1)


def test_url_that_stalls_mid_stream_is_reported(browser, widgets, no_leaks, tmp_path):
    """A live HTTP stream (a WebM clip, no Content-Length) whose server sends the first
    half and then nothing, connection held open: the view shows the first frames, then
    says in words that no data came for the timeout, and the decoder thread ends."""
    clip = tmp_path / "clip.webm"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libvpx", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(120):
            img = np.full((120, 160, 3), (i * 2) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    server = StallingServer(clip.read_bytes(), 0.5)
    try:
        src = sources.file(f"http://127.0.0.1:{server.port}/live.webm", timeout=TIMEOUT)
        view, sid = live(browser, widgets, nbrtc.VideoView(src))
        wait_for(lambda: browser.frame_counts[sid] > 5, 10, what="the first half plays")
        t0 = time.monotonic()
        wait_for(lambda: view.error, TIMEOUT + 4, what="the stall in words")
        report("mid-stream stall: first frames -> error in words", time.monotonic() - t0)
        print("view.error:", view.error)
        assert view.error.startswith(f"http://127.0.0.1:{server.port}/live.webm: no "), view.error
        assert f"for {TIMEOUT:g} s after" in view.error and "stopped sending" in view.error
        assert view.state == "live" and not src.running
        wait_for(lambda: not threads("media-player"), 5, what="the decoder thread ends")
    finally:
        server.close()


def test_open_ended_by_ffmpegs_own_timeout_is_the_same_silence(
    browser, widgets, no_leaks, monkeypatch
):
    """FFmpeg's interrupt callback has the same timeout as the kernel's wait for the open,
    and under load it can end the open first, with ``av.ExitError`` ("Immediate exit
    requested"). The view says what the kernel's own deadline says: no answer within the
    timeout (seen in a rehearsal: the words were FFmpeg's)."""
    import av

    from nbrtc._media import file_track

    def open_ended_by_ffmpeg(self):
        raise av.ExitError(-0x20544958, "Immediate exit requested", self._path)

    monkeypatch.setattr(file_track.FileTrack, "_open", open_ended_by_ffmpeg)
    view = make(widgets, browser, nbrtc.VideoView(sources.file("http://u:pw@127.0.0.1:9/x.mp4")))
    browser.start(view)
    wait_for(lambda: view.error, 5, what="the silence in words")
    assert view.error.startswith(
        "could not open http://127.0.0.1:9/x.mp4: no answer within 10 s"
    ), view.error
    assert "pw" not in view.error and "Immediate exit" not in view.error, view.error


def test_open_that_ffmpeg_cannot_interrupt_is_abandoned(browser, widgets, no_leaks, tmp_path):
    """``file://`` to a named pipe nobody writes to: the open blocks inside the OS, where
    FFmpeg's own timeout cannot reach it. The kernel's deadline still reports it in
    words on time, and the stuck daemon thread is released once the pipe gets a writer
    (here: at the end of the test)."""
    fifo = tmp_path / "camera.pipe"
    os.mkfifo(fifo)
    src = sources.file(f"file://{fifo}", timeout=1.0)
    _other, other_sid = live(browser, widgets, nbrtc.VideoView(sources.test_pattern(160, 120)))
    try:
        with LoopProbe() as probe:
            view = make(widgets, browser, nbrtc.VideoView(src))
            watch = Watch(lambda: browser.frame_counts[other_sid], probe)
            t0 = time.monotonic()
            browser.start(view)
            assert watch.until(lambda: view.error, 5), "no error in words within 5 s"
            took = time.monotonic() - t0
        report("named pipe: start -> error in words", took)
        assert view.error.startswith("could not open file://"), view.error
        assert "no answer within 1 s" in view.error, view.error
        assert watch.worst_frame_gap < 0.5 and watch.worst_loop_silence < 0.25
        assert threads("nbrtc-source-open"), "the open is still stuck in the OS"
        assert all(t.daemon for t in threads("nbrtc-source-open"))
    finally:
        # a writer releases the stuck open; closing it at once ends the "file"
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if threads("nbrtc-source-open") else -1
        if fd >= 0:
            os.close(fd)
    wait_for(lambda: not threads("nbrtc-source-open"), 5, what="the stuck open returns")


def test_file_timeout_argument_is_validated():
    for bad in (0, -1, float("nan"), float("inf"), 601, "10", True):
        with pytest.raises(ValueError, match="timeout must be a number of seconds"):
            sources.file("rtsp://127.0.0.1:9/x", timeout=bad)
    assert sources.file("rtsp://127.0.0.1:9/x", timeout=0.5).timeout == 0.5
    assert sources.file("rtsp://127.0.0.1:9/x").timeout == sources.OPEN_TIMEOUT == 10.0


def test_refused_url_is_reported_in_words(browser, widgets, no_leaks):
    """A URL nobody listens on (connection refused at once) is reported in words in the
    view's ``error``, rather than only in a log."""
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nothing listens there now
    src = sources.file(f"http://127.0.0.1:{port}/clip.mp4", timeout=TIMEOUT)
    view = make(widgets, browser, nbrtc.VideoView(src))
    browser.start(view)
    wait_for(lambda: view.error, TIMEOUT + 3, what="the refusal in words")
    assert view.error.startswith(f"could not open http://127.0.0.1:{port}/clip.mp4: "), view.error
    assert "refused" in view.error.lower(), view.error


# --- user code that hangs or exits --------------------------------------------------------
def test_frames_function_that_hangs_is_reported(browser, widgets, no_leaks, monkeypatch):
    """A ``frames`` function that blocks for a while: the view says so in words after
    SLOW_FRAME_SECONDS, the function's thread is a daemon (a call that never returns
    cannot hold the kernel's exit), and the video resumes when it returns."""
    monkeypatch.setattr(sources, "SLOW_FRAME_SECONDS", 0.5)
    release = threading.Event()
    calls = 0

    def fn() -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 10:
            release.wait(10)
        return np.full((120, 160, 3), calls % 256, np.uint8)

    view, sid = live(browser, widgets, nbrtc.VideoView(sources.frames(fn, fps=30)))
    wait_for(lambda: view.error, 5, what="the stuck function reported")
    assert "has not returned a frame for 0.5 s" in view.error, view.error
    stuck = threads("nbrtc-frames")
    assert stuck and all(t.daemon for t in stuck), [(t.name, t.daemon) for t in stuck]
    n = browser.frame_counts[sid]
    release.set()
    wait_for(lambda: browser.frame_counts[sid] > n + 10, 5, what="the video resumes")


def test_user_code_calling_sys_exit_does_not_end_the_media_loop(browser, widgets, no_leaks):
    """``sys.exit()`` inside a ``frames`` function and inside a ``process`` function:
    each is reported in words; the media loop (every stream's home) keeps running, a
    third stream keeps playing, and processing recovers when the function is fixed."""
    other, other_sid = live(browser, widgets, nbrtc.VideoView(sources.test_pattern(160, 120)))
    src = sources.frames(lambda: sys.exit(3), fps=30)
    view = make(widgets, browser, nbrtc.VideoView(src))
    browser.start(view)
    wait_for(lambda: view.error, 5, what="frames(): the exit in words")
    assert "SystemExit" in view.error, view.error
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    cam.process(lambda rgb: sys.exit(4))
    wait_for(lambda: cam.process_error, 5, what="process(): the exit in words")
    assert "SystemExit" in cam.process_error, cam.process_error
    assert nbrtc.manager().media.running(), "the media loop survived"
    n = browser.frame_counts[other_sid]
    wait_for(lambda: browser.frame_counts[other_sid] > n + 10, 5, what="the other view plays")
    cam.process(lambda rgb: 255 - rgb)
    m = browser.frame_counts[sid]
    wait_for(lambda: browser.frame_counts[sid] > m + 10, 5, what="processed frames again")
    assert other.state == view.state == cam.state == "live"


def test_hung_user_function_does_not_hold_the_kernel_exit():
    """A real Python process whose ``process`` function never returns, with a frame in
    it, then the end of the program: the process exits at once (the function's worker is
    a daemon thread) instead of waiting forever for the call to return."""
    code = (
        "import threading, time, av, numpy as np\n"
        "from nbrtc._media.process import Processor\n"
        "p = Processor(lambda processing, error: None)\n"
        "p.set(lambda rgb: threading.Event().wait(), 'rgb24')\n"
        "frame = av.VideoFrame.from_ndarray(np.zeros((8, 8, 3), np.uint8), format='rgb24')\n"
        "job = p._submit(frame)\n"
        "deadline = time.monotonic() + 5\n"
        "while not job.running() and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"  # poll interval (bounded by the cell's deadline)
        "assert job.running() and not job.done(), 'the function is stuck'\n"
        "print('stuck; exiting', flush=True)\n"
    )
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()  # by its PID
        out, err = proc.communicate()
    took = time.monotonic() - t0
    report("hung process(): program end -> process exit (incl. start-up)", took)
    assert "stuck; exiting" in out, (out, err)
    assert proc.returncode == 0 and took < 10, (proc.returncode, took, err[-500:])


# --- a processing result the encoder cannot take ---------------------------------------------
def test_oversized_process_result_is_reported_and_the_sender_survives(browser, widgets, no_leaks):
    """``process(fn)`` whose ``fn`` returns a 16x20000 image (libvpx cannot open an
    encoder wider than 16383 pixels; that used to end the sender for good, silently).
    Now the result is rejected before the encoder in words (``process_error``), that
    frame goes out unprocessed, and once a good function is set the browser receives
    its processed frames: the stream stays live throughout."""
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    calls = 0

    def huge(rgb: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        return np.zeros((16, 20000, 3), np.uint8)

    cam.process(huge)
    wait_for(lambda: calls >= 5, 5, what="the function ran a few times")
    wait_for(lambda: cam.process_error, 3, what="the reason in process_error")
    error = cam.process_error
    print("process_error:", error)
    assert "(16, 20000, 3)" in error and "4096" in error, error
    n = browser.frame_counts[sid]
    wait_for(lambda: browser.frame_counts[sid] > n + 10, 5, what="unprocessed frames go out")

    def invert(rgb: np.ndarray) -> np.ndarray:
        return 255 - rgb

    cam.process(invert)
    n = browser.frame_counts[sid]
    wait_for(lambda: browser.frame_counts[sid] > n + 10, 5, what="processed frames again")
    # the fake camera's red bar covers the left part; inverted, red (255) becomes ~0
    wait_for(lambda: browser.frames[sid][-1][:, :8, 0].mean() < 60, 5, what="inverted frames")
    assert cam.state == "live" and cam.process_error == ""
    assert cam.process_stats()["errors"] >= 5


def _encodable(frame: Any) -> None:
    """Encode ``frame`` with both encoders aiortc negotiates (raises if either fails)."""
    from aiortc.codecs.h264 import H264Encoder
    from aiortc.codecs.vpx import Vp8Encoder

    frame.pts, frame.time_base = 0, sources._TIME_BASE
    for encoder in (Vp8Encoder(), H264Encoder()):
        encoder.encode(frame)


def test_process_output_limits_match_the_encoders():
    """Every size ``process`` accepts opens both of aiortc's encoders (the corners of the
    limits are encoded for real); every size it rejects is refused in words."""
    from nbrtc._media.process import MAX_PIXELS, MAX_SIDE, BadOutput, _to_output

    assert (MAX_SIDE, MAX_PIXELS) == (4096, 4096 * 2160)
    for shape in [(2, 2, 3), (3, 3), (2, 4096, 3), (4096, 2), (2160, 4096, 3), (4096, 2160)]:
        out = _to_output(np.zeros(shape, np.uint8), "rgb24")
        assert (out.height, out.width) == (shape[0] // 2 * 2, shape[1] // 2 * 2)
        _encodable(out)
    rejected = {
        (16, 20000, 3): "4096 pixels per side",
        (20000, 16): "4096 pixels per side",
        (4098, 2, 3): "4096 pixels per side",
        (2162, 4096, 3): "8,847,360 pixels in all",
        (1, 100, 3): "smallest image nbrtc sends is 2x2",
        (0, 0, 3): "smallest image nbrtc sends is 2x2",
        (120, 160, 4): "return (H, W, 3) colour or (H, W) gray",
    }
    for shape, words in rejected.items():
        with pytest.raises(BadOutput, match=re.escape(words)):
            _to_output(np.zeros(shape, np.uint8), "rgb24")
    wide = av.VideoFrame(20000, 16, "yuv420p")
    with pytest.raises(BadOutput, match=re.escape("av.VideoFrame of 20000x16")):
        _to_output(wide, "av")
    odd = _to_output(av.VideoFrame(321, 241, "rgb24"), "av")
    assert (odd.width, odd.height, odd.format.name) == (320, 240, "yuv420p")
    _encodable(odd)
