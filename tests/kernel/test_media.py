"""Media in Python against a real aiortc peer: frame loops, processing, audio, channels."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import threading
import time

import av
import numpy as np
import pytest

import nbrtc
from nbrtc import sources

from ._browser import FakeBrowser, assert_holds, wait_for


def make(widgets: list, browser: FakeBrowser, widget):  # type: ignore[no-untyped-def]
    widgets.append(widget)
    browser.attach(widget)
    return widget


def live_camera(browser: FakeBrowser, widgets: list, **kwargs) -> tuple[nbrtc.Camera, str]:  # type: ignore[no-untyped-def]
    cam = make(widgets, browser, nbrtc.Camera(**kwargs))
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    return cam, sid


def frame_number(img: np.ndarray) -> int:
    """CountingTrack paints frame n with value (n * 8) % 256 outside its red bar; VP8
    blurs it by a few levels, so read it back in steps of 8 (mod 32)."""
    return round(float(img[:, -1, 1].mean()) / 8) % 32


# --- frame delivery ----------------------------------------------------------------------------
def test_frames_iterator_newest_frame_wins(browser, widgets, no_leaks):
    cam, _ = live_camera(browser, widgets)
    it = cam.frames(max_frames=10)
    got = []
    for img in it:
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        got.append(frame_number(img))
        n0 = cam.frame_count  # a slow consumer: 3 frames arrive per iteration
        wait_for(lambda n0=n0: cam.frame_count >= n0 + 3, 5, what="3 frames while busy")
    assert len(got) == 10
    assert it.dropped >= 10, f"a slow reader skips frames, dropped={it.dropped}"
    # newest-frame-wins: consecutive frames we saw are several camera frames apart
    steps = [(b - a) % 32 for a, b in itertools.pairwise(got)]
    assert np.median(steps) >= 2, steps  # frames in between were skipped
    assert cam.dropped >= it.dropped


def test_frames_queue_keeps_every_frame(browser, widgets, no_leaks):
    cam, _ = live_camera(browser, widgets)
    with cam.frames(max_frames=20, queue=50) as it:
        got = [frame_number(img) for img in it]
    steps = {(b - a) % 32 for a, b in itertools.pairwise(got)}
    assert steps == {1}, f"consecutive frames, nothing skipped: {got}"
    assert it.dropped == 0


def test_stalled_consumer_keeps_memory_bounded(browser, widgets, no_leaks):
    cam, _ = live_camera(browser, widgets)
    it = cam.frames(queue=5)
    start = cam.frame_count
    wait_for(lambda: cam.frame_count >= start + 30, 10, what="30 frames while nobody reads")
    assert len(it._queue._items) == 5, "a stalled queue holds at most its size"
    assert it.dropped >= 20
    fresh = next(it)  # the oldest kept frame is at most 5 frames old
    assert (frame_number(cam.snapshot()) - frame_number(fresh)) % 32 <= 6
    it.close()


def test_formats_and_resize(browser, widgets, no_leaks):
    cam, _ = live_camera(browser, widgets)
    [gray] = list(cam.frames(1, format="gray"))
    assert gray.shape == (240, 320)
    [small] = list(cam.frames(1, format="bgr24", size=(160, 120)))
    assert small.shape == (120, 160, 3)
    [raw] = list(cam.frames(1, format="av"))
    assert isinstance(raw, av.VideoFrame) and raw.width == 320
    with pytest.raises(ValueError, match="format="):
        cam.frames(format="yuv")
    with pytest.raises(ValueError, match="size"):
        cam.frames(size=(0, 10))
    with pytest.raises(ValueError, match="max_frames"):
        cam.frames(max_frames=-1)


def test_capture_returns_consecutive_frames(browser, widgets, no_leaks):
    cam, _ = live_camera(browser, widgets)
    clip = cam.capture(12)
    assert clip.shape == (12, 240, 320, 3) and clip.dtype == np.uint8
    nums = [frame_number(f) for f in clip]
    assert {(b - a) % 32 for a, b in itertools.pairwise(nums)} == {1}, nums


def test_aframes_and_acapture(browser, widgets, no_leaks):
    cam, _ = live_camera(browser, widgets)

    async def main() -> tuple[int, tuple[int, ...]]:
        n = 0
        async for img in cam.frames_async(max_frames=5, size=(64, 48)):
            assert img.shape == (48, 64, 3)
            n += 1
        clip = await cam.capture_async(3, format="gray")
        return n, clip.shape

    assert asyncio.run(main()) == (5, (3, 240, 320))


def test_iteration_ends_when_camera_closes(browser, widgets, no_leaks):
    cam, _ = live_camera(browser, widgets)
    it = cam.frames()
    next(it)
    closed_at: list[float] = []

    def close() -> None:
        closed_at.append(time.monotonic())
        cam.close()

    threading.Timer(0.3, close).start()
    list(it)  # ends quietly, no exception
    ended = time.monotonic()
    assert closed_at and ended - closed_at[0] < 2.0, "the loop ends soon after close()"
    # close() runs on the timer's thread: the loop can end (the widget is closed) a moment
    # before that thread publishes state "closed"
    wait_for(lambda: cam.state == "closed", 2, what="state closed")


# --- processing ------------------------------------------------------------------------------
def test_process_sends_processed_video_back(browser, widgets, no_leaks):
    cam, sid = live_camera(browser, widgets)
    assert cam.processing is False
    assert_holds(lambda: browser.frame_counts[sid] == 0, 0.5, "nothing sent back unprocessed")

    def invert(rgb: np.ndarray) -> np.ndarray:
        assert threading.current_thread().name.startswith("nbrtc-process")
        return 255 - rgb

    cam.process(invert)
    assert cam.processing is True
    wait_for(lambda: browser.frame_counts[sid] >= 10, 10, what="processed frames in the browser")
    back = browser.frames[sid][-1]
    # the fake camera's red bar covers the left part; inverted, red (255) becomes ~0
    left = back[:, :8].astype(int)
    assert back.shape == (240, 320, 3)
    assert left[..., 0].mean() < 60, "the browser receives the inverted image"
    assert cam.process_ms is not None and cam.process_ms < 50
    stats = cam.process_stats()
    assert stats["frames"] >= 10 and stats["errors"] == 0


def test_process_sends_unchanged_frames_as_the_camera_encoded_them(browser, widgets, no_leaks):
    """A function that only looks has the camera's own VP8 frames sent back (counted in
    ``forwarded``; nothing is encoded again); one that changes the picture has its results
    encoded (the first as a keyframe: the page's decoder shows them at once); looking only
    again, forwarding resumes on the camera's next keyframe (the kernel asks for one)."""
    cam, sid = live_camera(browser, widgets)
    seen: list[int] = []
    cam.process(lambda rgb: seen.append(1))  # looks only (returns None)
    wait_for(lambda: browser.frame_counts[sid] >= 20, 10, what="frames back")
    stats = cam.process_stats()
    assert stats["forwarded"] >= 15 and stats["forwarded"] <= stats["frames"], stats
    back = browser.frames[sid][-1]
    assert back.shape == (240, 320, 3) and back[:, :8, 0].mean() > 150, "the camera's picture"

    cam.process(lambda rgb: 255 - rgb)
    wait_for(
        lambda: browser.frames[sid][-1][:, :8, 0].mean() < 60, 10, what="inverted frames shown"
    )
    n = cam.process_stats()["forwarded"]
    m = browser.frame_counts[sid]
    wait_for(lambda: browser.frame_counts[sid] >= m + 10, 10, what="more inverted frames")
    assert cam.process_stats()["forwarded"] == n, "changed pictures are encoded"

    cam.process(lambda rgb: rgb)
    wait_for(lambda: cam.process_stats()["forwarded"] >= n + 15, 10, what="forwarding again")
    wait_for(lambda: browser.frames[sid][-1][:, :8, 0].mean() > 150, 5, what="the camera's picture")


def test_process_swap_error_and_recovery(browser, widgets, no_leaks):
    cam, sid = live_camera(browser, widgets)
    cam.process(lambda rgb: np.zeros_like(rgb))
    wait_for(lambda: browser.frame_counts[sid] >= 5, 10, what="black frames")
    wait_for(lambda: browser.frames[sid][-1].mean() < 10, 5, what="black in the browser")

    def broken(rgb: np.ndarray) -> np.ndarray:
        raise RuntimeError("boom")

    cam.process(broken)
    wait_for(lambda: cam.process_error, 5, what="the error kept")
    assert "RuntimeError: boom" in cam.process_error
    assert cam.state == "live", "a raising function does not end the stream"
    n = browser.frame_counts[sid]
    wait_for(lambda: browser.frame_counts[sid] >= n + 10, 10, what="frames pass through")
    assert browser.frames[sid][-1].mean() > 10, "unprocessed (not black) while fn is broken"

    cam.process(lambda rgb: rgb[::2, ::2].copy())  # fixed, and a different size
    assert cam.process_error == ""
    wait_for(lambda: browser.frames[sid][-1].shape == (120, 160, 3), 10, what="half size")

    cam.process(lambda rgb: rgb.astype(np.float32))  # a wrong return type is an error too
    wait_for(lambda: "float32" in cam.process_error, 5, what="dtype error explained")

    cam.process(None)
    assert cam.processing is False
    # the frame in flight is done once the processing thread has exited
    wait_for(
        lambda: not any(t.name.startswith("nbrtc-process") for t in threading.enumerate()),
        5,
        what="the processing thread finishes its last frame",
    )
    n = browser.frame_counts[sid]
    assert_holds(lambda: browser.frame_counts[sid] <= n + 1, 0.5, "nothing sent after None")
    cam.close()
    wait_for(
        lambda: not any(t.name.startswith("nbrtc-process") for t in threading.enumerate()),
        5,
        what="the processing thread exits",
    )


def test_slow_process_skips_frames_not_latency(browser, widgets, no_leaks):
    cam, sid = live_camera(browser, widgets)

    def slow(rgb: np.ndarray) -> np.ndarray:
        time.sleep(0.1)  # the scenario: a function that takes 100 ms per frame
        return rgb

    cam.process(slow)
    wait_for(lambda: browser.frame_counts[sid] >= 8, 10, what="slow frames")
    # the frame shown is recent: what the browser got is at most a few frames behind.
    # One reading can land just before a processed frame arrives (a loaded machine adds a
    # frame or two), so the median of five readings, each after a new frame, is judged.
    lags = []
    for _ in range(5):
        n = browser.frame_counts[sid]
        wait_for(lambda n=n: browser.frame_counts[sid] > n, 5, what="a processed frame")
        newest_in = frame_number(cam.snapshot())
        shown = frame_number(browser.frames[sid][-1])
        lags.append((newest_in - shown) % 32)
    assert sorted(lags)[2] <= 8, lags
    assert cam.process_stats()["dropped"] > 0


def test_process_rejects_bad_arguments(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    with pytest.raises(TypeError, match="function"):
        cam.process(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="format"):
        cam.process(lambda x: x, format="hsv")


# --- audio ---------------------------------------------------------------------------------
def dominant_hz(chunk: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(chunk[0]))
    return float(np.fft.rfftfreq(chunk.shape[1], 1 / rate)[spectrum.argmax()])


def test_microphone_audio_reaches_python(browser, widgets, no_leaks):
    mic = make(widgets, browser, nbrtc.Microphone())
    browser.start(mic)
    mic.wait("live", timeout=10)
    chunk = mic.capture_audio(1.0)
    assert chunk.sample_rate == 48000 and chunk.layout == "stereo"
    assert chunk.shape == (2, 48000) and chunk.dtype == np.float32
    assert abs(dominant_hz(chunk, chunk.sample_rate) - 1000) < 5
    assert -20 < mic.level < 0, mic.level
    assert abs(chunk.duration - 1.0) < 1e-6
    latest = mic.latest_audio(0.5)
    assert latest.shape == (2, 24000)


def test_camera_with_audio_shares_one_peer(browser, widgets, no_leaks):
    cam, _ = live_camera(browser, widgets, audio=True)
    chunk = cam.capture_audio(0.5)
    assert chunk.shape[0] == 2 and abs(dominant_hz(chunk, 48000) - 1000) < 5
    assert cam.frame_count > 0
    assert len(nbrtc.manager().streams()) == 1
    plain = make(widgets, browser, nbrtc.Camera())
    with pytest.raises(nbrtc.StreamError, match="audio=True"):
        plain.capture_audio(1)


def test_audio_view_and_video_with_sound(browser, widgets, no_leaks):
    tone = sources.tone(440)
    a = make(widgets, browser, nbrtc.AudioView(tone))
    v = make(widgets, browser, nbrtc.VideoView(sources.test_pattern(160, 120), audio=tone))
    sa, sv = browser.start(a), browser.start(v)
    wait_for(lambda: browser.audio_frames[sa] >= 50, 10, what="1 s of tone in the audio view")
    wait_for(lambda: browser.audio_frames[sv] >= 50, 10, what="tone beside the video")
    assert browser.frame_counts[sv] > 0
    assert tone.subscribers == 2, "one tone producer shared by both views"
    a.close()
    v.close()
    assert not tone.running


def test_audio_sources_validate():
    with pytest.raises(ValueError, match="sample_rate"):
        sources.audio(np.zeros(100), sample_rate=10)
    with pytest.raises(ValueError, match="channels"):
        sources.audio(np.zeros((3, 100)))
    with pytest.raises(ValueError, match="finite"):
        sources.audio(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="amplitude"):
        sources.tone(440, amplitude=2)
    with pytest.raises(TypeError, match="audio source"):
        nbrtc.AudioView("not audio")


# --- data channels -----------------------------------------------------------------------------
def test_channel_round_trip_both_ways(browser, widgets, no_leaks):
    cam, sid = live_camera(browser, widgets)
    ch = cam.channel("chat")
    assert cam.channel("chat") is ch
    wait_for(lambda: ch.open, 10, what="channel open")
    ch.send({"hello": 1})
    ch.send(b"\x00\x01")
    wait_for(lambda: len(browser.messages.get((sid, "chat"), [])) >= 2, 5, what="browser got both")
    assert browser.messages[(sid, "chat")] == ['{"hello":1}', b"\x00\x01"]

    seen: list[tuple[object, str]] = []
    ch.on_message(lambda data: seen.append((data, threading.current_thread().name)))
    browser.channel_send(sid, "chat", '{"x": 2}')
    browser.channel_send(sid, "chat", "plain text")
    assert ch.recv(timeout=5) == {"x": 2}
    assert ch.recv(timeout=5) == "plain text"
    wait_for(lambda: len(seen) == 2, 5, what="callbacks")
    assert [d for d, _ in seen] == [{"x": 2}, "plain text"]
    assert all(name.startswith("nbrtc-codec") for _, name in seen), "callbacks on workers"

    # a channel the page opens arrives under its label
    browser.channel_send(sid, "from-page", '"hi"')
    assert cam.channel("from-page").recv(timeout=5) == "hi"

    with pytest.raises(TypeError, match="JSON"):
        ch.send({1, 2})
    with pytest.raises(ValueError, match="limit"):
        ch.send(b"x" * 70_000)
    with pytest.raises(ValueError, match="reserved"):
        cam.channel("nbrtc")
    cam.close()
    assert ch.closed
    with pytest.raises(nbrtc.StreamClosedError):
        ch.send(1)


def test_channel_made_before_the_stream(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    ch = cam.channel("early")
    ch.send("queued")  # no stream yet: waits for the first channel to open
    sid = browser.start(cam)
    wait_for(lambda: browser.messages.get((sid, "early")), 10, what="queued message delivered")
    assert browser.messages[(sid, "early")] == ['"queued"']


# --- recording ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["mp4", "webm", "mkv"])
def test_record_camera_with_sound(browser, widgets, no_leaks, tmp_path, ext):
    cam, _ = live_camera(browser, widgets, audio=True)
    cam.capture_audio(0.1)  # sound is flowing before the recording starts
    rec = cam.record(tmp_path / f"take.{ext}", seconds=1.5)
    assert rec.wait(timeout=15) is rec
    assert rec.done and rec.error is None
    assert rec.frames == rec.received and rec.dropped == 0, repr(rec)
    assert rec.frames >= 30, repr(rec)
    with av.open(str(rec.path)) as container:
        video = container.streams.video[0]
        assert container.streams.audio, "audio+video recording has an audio stream"
        decoded = sum(1 for _ in container.decode(video))
        duration = float(container.duration or 0) / av.time_base
    assert decoded == rec.frames, (decoded, repr(rec))
    assert 1.3 < duration < 1.8, duration
    assert not any(t.name == "nbrtc-recorder" for t in threading.enumerate())


def test_recording_is_finalized_when_the_camera_closes(browser, widgets, no_leaks, tmp_path):
    cam, _ = live_camera(browser, widgets)
    rec = cam.record(tmp_path / "closed.mp4")  # no end given
    wait_for(lambda: rec.frames >= 10, 10, what="frames written")
    cam.close()
    rec.wait(timeout=10)
    with av.open(str(rec.path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == rec.frames
    with pytest.raises(ValueError, match="receives no sound"):
        make(widgets, browser, nbrtc.Camera()).record(tmp_path / "x.mp4", audio=True)
    with pytest.raises(nbrtc.StreamClosedError):
        cam.record(tmp_path / "again.mp4")


@pytest.mark.timeout(60, method="thread")  # a deadlock here holds the GIL: no signals
def test_many_consumers_convert_shared_frames_at_once(browser, widgets, no_leaks, tmp_path):
    """One camera frame goes to the processing thread, a resizing iterator, a recorder and
    snapshots at the same time. Converting it through the frame's own cached swscale
    context from several threads deadlocked (the kernel froze); each now uses its own."""
    cam, sid = live_camera(browser, widgets)
    cam.process(lambda rgb: rgb[:, ::-1].copy())
    rec = cam.record(tmp_path / "busy.webm")
    done = threading.Event()
    errors: list[BaseException] = []

    def snapshots() -> None:
        try:
            while not done.is_set():
                cam.snapshot(format="gray")
                _ = cam.latest_frame
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=snapshots)
    t.start()
    try:
        n = sum(1 for _ in cam.frames(90, size=(160, 120), timeout=5))
        raw = list(cam.frames(10, format="av"))
    finally:
        done.set()
        t.join(10)
    assert n == 90 and not errors, errors
    assert all(f.width == 320 for f in raw)
    assert browser.frame_counts[sid] > 30, "processed frames kept flowing"
    rec.stop()
    assert rec.frames > 60 and rec.error is None, repr(rec)


def test_every_awaitable_twin_is_named_x_async_and_the_old_names_still_work() -> None:
    """One rule (issue 11): the awaitable twin of a blocking ``x()`` is ``x_async()``;
    the names from before the rule are the same functions."""
    from nbrtc._inspection.doctor import Doctor
    from nbrtc._media.receiver import AudioMethods, VideoMethods
    from nbrtc._widgets.base import SignalingWidget
    from nbrtc._widgets.stream_widget import StreamWidget

    old = {
        (VideoMethods, "asnapshot"): "snapshot_async",
        (VideoMethods, "acapture"): "capture_async",
        (AudioMethods, "acapture_audio"): "capture_audio_async",
        (VideoMethods, "aframes"): "frames_async",
        (nbrtc.Recorder, "astop"): "stop_async",
        (nbrtc.Recorder, "await_done"): "wait_async",
        (StreamWidget, "await_state"): "wait_async",
        (SignalingWidget, "await_state"): "wait_async",
        (nbrtc.Channel, "arecv"): "recv_async",
        (nbrtc.Room, "await_members"): "wait_members_async",
        (Doctor, "await_done"): "wait_async",
    }
    for (cls, name), new in old.items():
        assert getattr(cls, name) is getattr(cls, new), f"{cls.__name__}.{name}"
        sync = new.removesuffix("_async")
        assert callable(getattr(cls, sync, None)), f"{cls.__name__}.{new} has no {sync}()"
    classes = (nbrtc.Camera, nbrtc.Microphone, nbrtc.VideoView, nbrtc.Recorder, nbrtc.Channel)
    for cls in (*classes, nbrtc.Room, Doctor):
        for name in dir(cls):
            fn = inspect.getattr_static(cls, name)  # no deprecated ipywidgets properties
            if name.startswith("_") or not inspect.iscoroutinefunction(fn):
                continue
            assert (
                name.endswith("_async")
                or (cls, name) in old
                or any((base, name) in old for base in cls.__mro__)
            ), f"{cls.__name__}.{name} is awaitable but not named *_async"


def test_camera_as_a_source_for_other_views(browser, widgets, no_leaks):
    """``VideoView(cam)`` (another cell or tab) shows what the camera sends: its own
    frames, then ``process(fn)``'s results (computed once for both), then its own again;
    the source's producer goes with the last view."""
    cam, cam_sid = live_camera(browser, widgets)
    src = cam.as_source()
    assert src is cam.as_source() is sources.camera(cam)
    view = make(widgets, browser, nbrtc.VideoView(cam))
    vid = browser.start(view)
    view.wait("live", timeout=10)
    wait_for(lambda: browser.frame_counts[vid] >= 5, 10, what="the camera's frames in the view")
    plain = browser.frames[vid][-1]
    assert plain.shape == (240, 320, 3)
    assert plain[:, :8, 0].mean() > 150, "the camera's own red bar"

    calls = []

    def invert(rgb: np.ndarray) -> np.ndarray:
        calls.append(1)
        return 255 - rgb

    cam.process(invert)
    n = browser.frame_counts[vid]
    wait_for(
        lambda: (
            browser.frame_counts[vid] >= n + 10 and browser.frames[vid][-1][:, :8, 0].mean() < 60
        ),
        10,
        what="the processed (inverted) frames in the other view",
    )
    sent = browser.frame_counts[cam_sid]
    assert sent > 0, "the camera's own page gets them too"
    assert len(calls) <= cam.process_stats()["frames"] + cam.process_stats()["errors"] + 2
    cam.process(None)
    wait_for(lambda: browser.frames[vid][-1][:, :8, 0].mean() > 150, 10, what="plain frames again")
    view.close()
    wait_for(lambda: not src.running, 5, what="the source released with its last view")
    with pytest.raises(TypeError, match="Camera"):
        sources.camera(object())


# --- processing: what is skipped, and when (issue 14) ----------------------------------------
def _numbered(n: int) -> av.VideoFrame:
    """A small yuv420p frame carrying ``n`` as its pts (as a decoder hands them over)."""
    from fractions import Fraction

    frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), n, np.uint8), format="rgb24")
    frame = frame.reformat(format="yuv420p")
    frame.pts, frame.time_base = n, Fraction(1, 90000)
    return frame


async def _until_pulled(track) -> None:  # type: ignore[no-untyped-def]
    """Let the sender's first ``recv`` start (the track processes nothing before it)."""
    deadline = time.monotonic() + 5
    while not track._pulled:
        assert time.monotonic() < deadline, "the track was never asked for a frame"
        await asyncio.sleep(0)


def _processor(fn) -> tuple:  # type: ignore[no-untyped-def]
    from nbrtc._media.process import Processor

    p = Processor(lambda processing, error: None)
    p.set(fn, "rgb24")
    return p, p.track_for("s1")


def test_process_takes_a_burst_of_frames_without_skipping():
    """Two frames arriving back to back (a jitter buffer releases them so) while the
    worker is idle are both processed and sent, in order, with their own timestamps: the
    first goes to the worker at once, the second waits for it. (A slot of one that the
    sender emptied only when it asked for the next frame lost the first of the two.)"""
    p, track = _processor(lambda rgb: rgb)

    async def run() -> list[int]:
        first = asyncio.ensure_future(track.recv())  # the sender waits, as aiortc's does
        await _until_pulled(track)
        p.feed("s1", _numbered(1))
        p.feed("s1", _numbered(2))
        out = [await asyncio.wait_for(first, 5)]
        out.append(await asyncio.wait_for(track.recv(), 5))
        return [f.pts for f in out]

    try:
        assert asyncio.run(run()) == [1, 2]
        assert (p.frames, p.dropped) == (2, 0)
    finally:
        p.close()


def _sent(fn, n: int = 3) -> list[tuple[bool, np.ndarray]]:  # type: ignore[no-untyped-def]
    """Feed ``n`` numbered frames through a processor running ``fn``; for each frame sent,
    whether it is the camera's own frame object and its picture (rgb)."""
    p, track = _processor(fn)

    async def run() -> list[tuple[bool, np.ndarray]]:
        out = []
        pending = asyncio.ensure_future(track.recv())
        await _until_pulled(track)
        for k in range(1, n + 1):
            src = _numbered(10 * k)
            p.feed("s1", src)
            got = await asyncio.wait_for(pending, 5)
            out.append((got is src, got.to_ndarray(format="rgb24")))
            pending = asyncio.ensure_future(track.recv())
        pending.cancel()
        return out

    try:
        return asyncio.run(run())
    finally:
        p.close()


def test_process_sends_the_cameras_frame_only_when_nothing_changed():
    """A function that returns its image untouched sends the camera's own frame (no
    conversion back); one that draws into the array in place, returns a changed strided
    view, or changes one byte only every other frame has exactly those frames converted
    and sent changed. (The comparison reuses one buffer and compares whole images.)"""
    assert all(own for own, _ in _sent(lambda rgb: rgb)), "identity: the camera's frames"
    assert all(own for own, _ in _sent(lambda rgb: None)), "looked only: the camera's frames"

    def draw(rgb: np.ndarray) -> None:
        rgb[:8, :8] = 255  # in place, returns None

    for own, img in _sent(draw):
        assert not own and (img[:8, :8] > 240).all() and img[20:, 20:].max() < 100

    def last_pixel(rgb: np.ndarray) -> np.ndarray:
        if int(rgb[0, 0, 0]) in range(15, 25):  # the second frame (pts 20) only
            rgb[-1, -1] = 255
        return rgb

    sent = _sent(last_pixel, 3)
    assert [own for own, _ in sent] == [True, False, True], "only the changed frame converted"
    assert sent[1][1][-1, -1].min() > 100

    def flipped(rgb: np.ndarray) -> np.ndarray:
        out = rgb[::-1]  # a strided view: compared by numpy, then converted
        out[:4] = 0  # the top rows of what is sent
        return out

    for own, img in _sent(flipped):
        assert not own and img[:4].max() < 4 and img[8:].min() >= 8


def test_process_skips_only_while_the_worker_is_busy():
    """Newest frame wins while the function is still busy with a frame: of the frames that
    arrive meanwhile only the newest is processed next (the others are counted in
    ``dropped``), and the frame in the function is not given up."""
    gate = threading.Event()

    def held(rgb: np.ndarray) -> np.ndarray:
        assert gate.wait(5), "the test releases the function"
        return rgb

    p, track = _processor(held)

    async def run() -> list[int]:
        first = asyncio.ensure_future(track.recv())
        await _until_pulled(track)
        for n in (1, 2, 3, 4):  # 1 goes to the function; 2 and 3 are replaced by 4
            p.feed("s1", _numbered(n))
        gate.set()
        out = [await asyncio.wait_for(first, 5)]
        out.append(await asyncio.wait_for(track.recv(), 5))
        return [f.pts for f in out]

    try:
        assert asyncio.run(run()) == [1, 4]
        assert (p.frames, p.dropped) == (2, 2)
    finally:
        gate.set()
        p.close()


def test_a_fast_process_function_skips_no_frame(browser, widgets, no_leaks):
    """A function far faster than the frame interval processes every frame the camera
    sends over ~3 s (30 fps): processed == received within the frames in flight, none
    skipped, and the browser gets them."""
    cam, sid = live_camera(browser, widgets)
    cam.process(lambda rgb: rgb)
    wait_for(lambda: browser.frame_counts[sid] >= 10, 10, what="processed frames flowing")
    got0, stats0, shown0 = cam.frame_count, cam.process_stats(), browser.frame_counts[sid]
    wait_for(lambda: cam.frame_count >= got0 + 90, 10, what="90 more camera frames")
    got = cam.frame_count - got0
    done = cam.process_stats()["frames"] - stats0["frames"]
    skipped = cam.process_stats()["dropped"] - stats0["dropped"]
    shown = browser.frame_counts[sid] - shown0
    print(f"received {got}, processed {done}, skipped {skipped}, shown {shown}")
    assert skipped == 0, f"{skipped} of {got} frames skipped"
    assert got - 2 <= done <= got + 2, (got, done)
    assert shown >= got - 5, (got, shown)
