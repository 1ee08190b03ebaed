"""Recorder: received frames to a playable file. Pure kernel side, synthetic frames.

Frames are pushed with explicit arrival times, so a 2 s recording takes no 2 s of waiting.
Each video frame carries its index as its brightness (Y level), so decoding the file
checks that every frame was written once, in order, at its arrival time.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from nbrtc._media.recorder import THREAD_NAME, Recorder, stop_all
from nbrtc.errors import StreamError, StreamTimeoutError

from ._browser import wait_for

EXTS = [".mp4", ".webm", ".mkv"]
FPS = 30
T0 = 5000.0  # arrival times are time.monotonic() values: any origin works


# --- helpers ---------------------------------------------------------------------------
def level(i: int) -> int:
    """The Y level that frame ``i`` carries (adjacent frames differ by 3)."""
    return 20 + (3 * i) % 210


def video_frame(i: int, width: int = 320, height: int = 240) -> av.VideoFrame:
    """A yuv420p frame (what aiortc's decoders hand out) whose brightness encodes ``i``."""
    if width % 2 or height % 2:
        # yuv420p cannot hold odd sizes: use RGB gray; the recorder converts it.
        v = round((level(i) - 16) * 255 / 219)
        return av.VideoFrame.from_ndarray(np.full((height, width, 3), v, np.uint8), "rgb24")
    data = np.full((height * 3 // 2, width), 128, np.uint8)
    data[:height] = level(i)
    frame = av.VideoFrame.from_ndarray(data, format="yuv420p")
    frame.pts = 777  # recording must not change the caller's frame
    return frame


def audio_frame(n: int, samples: int = 960) -> av.AudioFrame:
    """s16 stereo 48 kHz, 960 samples: what aiortc's Opus decoder outputs. A 440 Hz tone."""
    t = (np.arange(samples) + n * samples) / 48_000
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(
        np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
    )
    frame.sample_rate = 48_000
    return frame


def push_frames(rec: Recorder, n: int, start: int = 0, **size: int) -> None:
    for i in range(start, start + n):
        rec.push_video(video_frame(i, **size), T0 + i / FPS)


def decode_video(path: Path) -> list[tuple[float, int, int, float]]:
    """(time, width, height, mean Y) of every decoded video frame."""
    with av.open(str(path)) as container:
        return [
            (f.time, f.width, f.height, float(f.to_ndarray(format="yuv420p")[: f.height].mean()))
            for f in container.decode(video=0)
        ]


def decode_audio(path: Path) -> tuple[float, float]:
    """(start time, seconds) of the decoded audio stream."""
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    return frames[0].time, sum(f.samples for f in frames) / frames[0].sample_rate


def file_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None, f"{path.name} reports no duration"
        return container.duration / 1e6


def recorder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


@pytest.fixture(autouse=True)
def no_recorder_left() -> Iterator[None]:
    """Every test must leave no recorder thread behind (stop_all cleans up after a failure)."""
    yield
    stop_all(5.0)
    wait_for(lambda: not recorder_threads(), 5, what="no nbrtc-recorder thread alive")


# --- files -------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", EXTS)
def test_records_every_frame_received_in_order(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"take1{ext}"
    rec = Recorder(path)
    frames_in = [video_frame(i) for i in range(60)]
    for i, frame in enumerate(frames_in):
        rec.push_video(frame, T0 + i / FPS)
    assert rec.stop() is rec
    assert rec.done and rec.error is None
    # "The frames recorded are the frames received".
    assert rec.frames == rec.received == 60 and rec.dropped == 0
    assert rec.duration == pytest.approx(2.0, abs=1e-3)
    assert repr(rec) == f"<nbrtc.Recorder take1{ext} finished 60 frames 2.00 s>"
    assert all(f.pts == 777 for f in frames_in), "the caller's frames were modified"

    decoded = decode_video(path)
    assert len(decoded) == 60
    assert {(w, h) for _, w, h, _ in decoded} == {(320, 240)}
    for i, (t, _, _, y) in enumerate(decoded):
        assert t == pytest.approx(i / FPS, abs=0.002), f"frame {i} time"
        assert y == pytest.approx(level(i), abs=1.5), f"frame {i} is not the {i}th pushed"
    assert file_duration(path) == pytest.approx(2.0, abs=2 / FPS)
    assert not recorder_threads()


@pytest.mark.parametrize("ext", EXTS)
def test_audio_and_video_aligned_by_arrival(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"av{ext}"
    rec = Recorder(path, audio=True)
    # Video from 0 s to 2 s; audio arrives 0.3 s later and runs to 2 s (85 x 20 ms).
    events = [(T0 + i / FPS, "v", i) for i in range(60)]
    events += [(T0 + 0.3 + n * 0.02, "a", n) for n in range(85)]
    for t, kind, n in sorted(events):
        if kind == "v":
            rec.push_video(video_frame(n), t)
        else:
            rec.push_audio(audio_frame(n), t)
    rec.stop()
    assert rec.error is None and rec.frames == 60 and rec.dropped == 0
    assert rec.audio_samples == pytest.approx(85 * 960, abs=1024)

    assert len(decode_video(path)) == 60
    start, seconds = decode_audio(path)
    # One encoder frame (AAC's 1024 priming samples = 21 ms) of slack.
    assert start == pytest.approx(0.3, abs=0.03)
    assert seconds == pytest.approx(1.7, abs=0.03)
    assert file_duration(path) == pytest.approx(2.0, abs=0.05)


def test_audio_only_fills_a_gap_with_silence(tmp_path: Path) -> None:
    path = tmp_path / "mic.webm"
    rec = Recorder(path, video=False, audio=True)
    for n in range(50):  # 1 s, then the mic is muted for 1 s, then 1 s more
        rec.push_audio(audio_frame(n), T0 + n * 0.02)
    for n in range(50, 100):
        rec.push_audio(audio_frame(n), T0 + 1.0 + n * 0.02)
    rec.push_video(video_frame(0), T0)  # not recorded: video=False
    rec.stop()
    assert rec.error is None and rec.received == 0 and rec.frames == 0
    assert rec.duration == pytest.approx(3.0, abs=0.03)
    assert "frames" not in repr(rec) and "3.0" in repr(rec)
    start, seconds = decode_audio(path)
    assert start == pytest.approx(0.0, abs=0.01)
    assert seconds == pytest.approx(3.0, abs=0.03)
    with av.open(str(path)) as container:
        assert not container.streams.video


def test_size_change_mid_recording_is_scaled_to_the_first(tmp_path: Path) -> None:
    path = tmp_path / "resize.mp4"
    rec = Recorder(path)
    push_frames(rec, 20)
    push_frames(rec, 20, start=20, width=640, height=360)
    push_frames(rec, 20, start=40, width=160, height=120)
    rec.stop()
    assert rec.error is None and rec.frames == 60
    decoded = decode_video(path)
    assert len(decoded) == 60
    assert {(w, h) for _, w, h, _ in decoded} == {(320, 240)}
    assert decoded[30][3] == pytest.approx(level(30), abs=2)


@pytest.mark.parametrize("ext", EXTS)
def test_odd_dimensions(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"odd{ext}"
    rec = Recorder(path)
    push_frames(rec, 10, width=321, height=241)
    rec.stop()
    assert rec.error is None and rec.frames == 10
    decoded = decode_video(path)
    assert len(decoded) == 10
    assert {(w, h) for _, w, h, _ in decoded} == {(320, 240)}  # even, for 4:2:0 chroma


@pytest.mark.parametrize("ext", EXTS)
def test_variable_frame_rate_keeps_arrival_timing(tmp_path: Path, ext: str) -> None:
    """A 15 fps camera that pauses for half a second: timing is the arrivals', not 30 fps."""
    path = tmp_path / f"vfr{ext}"
    rec = Recorder(path)
    times = [i / 15 for i in range(15)] + [1.5 + i / 15 for i in range(15)]
    for i, t in enumerate(times):
        rec.push_video(video_frame(i), T0 + t)
    rec.stop()
    assert rec.duration == pytest.approx(2.5, abs=0.002)
    stamps = [t for t, _, _, _ in decode_video(path)]
    assert stamps == pytest.approx(times, abs=0.002)
    # The last frame lasts as long as the one before it (1/15 s), not a 30 fps guess.
    assert file_duration(path) == pytest.approx(2.5, abs=0.002)


def test_nudges_equal_and_backward_arrival_times(tmp_path: Path) -> None:
    path = tmp_path / "jitter.mkv"  # Matroska's 1 ms ticks: the nudge must survive muxing
    rec = Recorder(path)
    times = [0.0, 0.0, 0.0001, 0.05, 0.04, 0.1]
    for i, t in enumerate(times):
        rec.push_video(video_frame(i), T0 + t)
    rec.stop()
    assert rec.error is None and rec.frames == len(times)
    stamps = [t for t, _, _, _ in decode_video(path)]
    assert len(stamps) == len(times)
    assert all(b > a for a, b in itertools.pairwise(stamps)), stamps


# --- ending ------------------------------------------------------------------------------
def test_seconds_stops_by_media_time(tmp_path: Path) -> None:
    path = tmp_path / "one.mp4"
    rec = Recorder(path, seconds=1)
    push_frames(rec, 45)  # 1.5 s of media at once: the last 15 are after the limit
    assert rec.wait(timeout=10) is rec
    assert rec.done and rec.error is None
    assert rec.frames == rec.received == 30 and rec.dropped == 0
    assert rec.duration == pytest.approx(1.0, abs=1e-3)
    assert len(decode_video(path)) == 30
    assert file_duration(path) == pytest.approx(1.0, abs=1 / FPS)
    assert not recorder_threads()
    push_frames(rec, 1, start=50)  # after the end: ignored
    assert rec.received == 30


def test_seconds_ends_in_real_time_when_media_stops_early(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "short.webm", seconds=0.2)
    now = time.monotonic()
    rec.push_video(video_frame(0), now)
    rec.push_video(video_frame(1), now + 0.05)  # then the camera stalls
    started = time.monotonic()
    rec.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert rec.frames == 2 and (tmp_path / "short.webm").exists()


def test_stop_is_idempotent_and_safe_from_two_threads(tmp_path: Path) -> None:
    path = tmp_path / "twice.mp4"
    rec = Recorder(path)
    push_frames(rec, 30, width=640, height=480)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(rec.stop())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == [rec, rec]
    assert rec.stop() is rec and rec.stop(timeout=0) is rec
    assert rec.done and rec.error is None and rec.frames == 30
    assert len(decode_video(path)) == 30
    assert not recorder_threads()


def test_stop_all_finalizes_active_recorders(tmp_path: Path) -> None:
    recs = [Recorder(tmp_path / f"shutdown{ext}") for ext in EXTS]
    for rec in recs:
        push_frames(rec, 30)
    stop_all(timeout=10)
    for rec in recs:
        assert rec.done and rec.error is None, rec
        assert len(decode_video(rec.path)) == 30 == rec.frames
    assert not recorder_threads()


def test_interpreter_exit_finalizes_an_active_recording(tmp_path: Path) -> None:
    """A kernel shut down mid-recording leaves a playable file (stop_all runs at exit)."""
    path = tmp_path / "exit.mp4"
    script = f"""
import av, numpy as np
from nbrtc._media.recorder import Recorder
rec = Recorder({str(path)!r})
for i in range(30):
    data = np.full((360, 320), 100, np.uint8)
    rec.push_video(av.VideoFrame.from_ndarray(data, format="yuv420p"), 100 + i / 30)
# no stop(): the interpreter exits while the recorder thread is still running
"""
    subprocess.run([sys.executable, "-c", script], timeout=60, check=True)
    assert len(decode_video(path)) == 30
    assert file_duration(path) == pytest.approx(1.0, abs=0.002)


def test_on_source_closed_returns_at_once_with_frames_queued(tmp_path: Path) -> None:
    path = tmp_path / "closed.mp4"
    rec = Recorder(path)
    push_frames(rec, 150, width=640, height=480)

    async def on_media_loop() -> float:  # as the widget calls it, on a running loop
        started = time.perf_counter()
        rec._on_source_closed()
        return time.perf_counter() - started

    took = asyncio.run(on_media_loop())
    assert took < 0.02, f"_on_source_closed blocked for {took * 1000:.1f} ms"
    push_frames(rec, 5, start=150)  # after the close: ignored
    rec.wait(timeout=20)
    assert rec.error is None and rec.received == 150
    assert rec.frames + rec.dropped == 150
    assert len(decode_video(path)) == rec.frames > 0
    rec._on_source_closed()  # idempotent, also once done


# --- the media thread is never held up ---------------------------------------------------
def test_push_never_blocks_and_full_queue_drops_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "burst.webm"
    rec = Recorder(path, queue_frames=1)
    frames = [video_frame(i, 640, 480) for i in range(200)]
    took = []
    for i, frame in enumerate(frames):
        started = time.perf_counter()
        rec.push_video(frame, T0 + i / FPS)
        took.append(time.perf_counter() - started)
    assert statistics.median(took) < 0.001, f"median push {statistics.median(took) * 1e3} ms"
    # The worst push may wait for the GIL (Python's 5 ms switch interval), never for the
    # encoder (a VP8 frame is several ms: 200 of them would take far longer).
    assert sum(took) < 0.25, f"200 pushes took {sum(took):.3f} s"
    rec.stop()
    assert rec.received == 200
    assert rec.dropped > 0, "a 1-frame queue cannot absorb a burst of 200 frames"
    assert rec.frames + rec.dropped == rec.received
    assert f"{rec.dropped} dropped" in repr(rec)
    assert len(decode_video(path)) == rec.frames


def test_a_realtime_stream_is_recorded_without_drops(tmp_path: Path) -> None:
    """640x480 at 60 fps in real time through a half-second queue: nothing is dropped."""
    path = tmp_path / "realtime.mp4"
    rec = Recorder(path, audio=True, queue_frames=30)
    frames = [video_frame(i, 640, 480) for i in range(90)]
    sound = [audio_frame(n) for n in range(75)]
    start = time.monotonic()
    schedule = sorted(
        [(i / 60, "v", i) for i in range(90)] + [(n * 0.02, "a", n) for n in range(75)]
    )
    for offset, kind, n in schedule:
        time.sleep(max(0.0, start + offset - time.monotonic()))  # pace like a camera
        if kind == "v":
            rec.push_video(frames[n], time.monotonic())
        else:
            rec.push_audio(sound[n], time.monotonic())
    rec.stop()
    assert rec.error is None
    assert rec.frames == rec.received == 90 and rec.dropped == 0 and rec.audio_dropped == 0
    assert len(decode_video(path)) == 90
    assert rec.duration == pytest.approx(1.5, abs=0.1)


# --- errors and bad input ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"path": "take1.avi"}, ["path", ".mp4", ".webm", ".mkv"]),
        ({"path": "no/such/dir/take1.mp4"}, ["path", "does not exist"]),
        ({"seconds": 0}, ["seconds", "positive"]),
        ({"seconds": -1}, ["seconds"]),
        ({"seconds": math.nan}, ["seconds"]),
        ({"seconds": math.inf}, ["seconds"]),
        ({"seconds": True}, ["seconds"]),
        ({"queue_frames": 0}, ["queue_frames"]),
        ({"video": False, "audio": False}, ["video", "audio"]),
    ],
)
def test_bad_arguments_fail_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], words: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    path = kwargs.pop("path", "ok.mp4")
    with pytest.raises(ValueError) as info:
        Recorder(path, **kwargs)
    for word in words:
        assert word in str(info.value)
    assert not recorder_threads()
    assert not any(tmp_path.iterdir())


def test_same_file_twice_is_refused(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "same.mp4")
    with pytest.raises(ValueError, match="already being recorded"):
        Recorder(tmp_path / "same.mp4")
    rec.stop()
    Recorder(tmp_path / "same.mp4").stop()  # free again once stopped


def test_no_frames_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    rec = Recorder(path, audio=True)
    assert "waiting for the first frame" in repr(rec)
    with pytest.raises(StreamTimeoutError, match="no frame has arrived"):
        rec.wait(timeout=0.05)
    rec.stop()
    assert rec.done and not path.exists()
    assert "no frames were received" in repr(rec)
    with pytest.raises(FileNotFoundError, match="no frames were received"):
        rec.video()


def test_encoding_error_ends_the_recording_and_keeps_the_good_part(tmp_path: Path) -> None:
    path = tmp_path / "broken.mkv"
    rec = Recorder(path)
    push_frames(rec, 10)
    rec.push_video("not a frame", T0 + 10 / FPS)  # type: ignore[arg-type]
    with pytest.raises(StreamError, match=r"broken\.mkv failed"):
        rec.wait(timeout=10)
    assert rec.done and rec.error
    assert rec.error.startswith("encoding failed:"), rec.error
    assert (rec.received, rec.frames, rec.dropped) == (11, 10, 1)
    assert "failed: encoding failed" in repr(rec)
    assert rec.stop() is rec  # stop() after a failure does not raise
    assert len(decode_video(path)) == 10  # the part before the error is a playable file


def test_video_for_inline_playback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rec = Recorder("clip.mp4")
    push_frames(rec, 5)
    with pytest.raises(RuntimeError, match="still being recorded"):
        rec.video()
    rec.stop()
    html = rec.video()._repr_html_()
    assert "data:video/mp4;base64," in html
    assert 'src="clip.mp4"' in rec.video(embed=False)._repr_html_()


def test_async_twins(tmp_path: Path) -> None:
    async def main() -> None:
        rec = Recorder(tmp_path / "async.webm", seconds=0.5)
        push_frames(rec, 30)
        assert await rec.wait_async(timeout=10) is rec
        assert rec.frames == 15
        other = Recorder(tmp_path / "async2.webm")
        with pytest.raises(StreamTimeoutError):
            await other.wait_async(timeout=0.01)
        push_frames(other, 3)
        assert await other.stop_async() is other
        assert other.done and other.frames == 3

    asyncio.run(main())
