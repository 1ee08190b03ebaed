"""Recorder against real failures: a full disk, a read-only file system, a removed
directory, ``kill -9`` of the recording process, and one file under two names.

Disks are real tmpfs mounts (made and unmounted here, so root is needed); crashes and
kills happen in a child Python process recording synthetic frames through the real
Recorder, so a crash shows as the child's return code instead of ending pytest.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

import nbrtc
from nbrtc._media.recorder import THREAD_NAME, Recorder, stop_all
from nbrtc.errors import StreamError

from ._browser import FakeBrowser, assert_holds, wait_for
from .test_recorder import decode_audio, decode_video, level, push_frames

EXTS = [".mp4", ".webm", ".mkv"]
# The child imports the same nbrtc as these tests (a worktree's src/ when checking old code).
_SRC = str(Path(nbrtc.__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def no_recorder_left() -> Iterator[None]:
    yield
    stop_all(5.0)
    wait_for(
        lambda: not any(t.name == THREAD_NAME for t in threading.enumerate()),
        5,
        what="no nbrtc-recorder thread alive",
    )


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": _SRC, "PYTHONFAULTHANDLER": "1"}


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where`` (a small disk to fill); unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a real full disk) needs root")
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], timeout=10).returncode:
            subprocess.run(["umount", "-l", str(where)], timeout=10, check=True)


def fill(disk: Path) -> None:
    """Fill ``disk`` to the last byte (bounded: a tmpfs of a few hundred KiB)."""
    with open(disk / "filler", "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        for _ in range(10_000):
            try:
                f.write(chunk)
            except OSError:
                break
        for _ in range(4096):  # the last partial page
            try:
                f.write(b"\0")
            except OSError:
                break


# --- write failures: words, no crash ----------------------------------------------------------
_FAULT_CHILD = r"""
import json, os, sys, time
import av, numpy as np
import nbrtc
from nbrtc._media.recorder import Recorder
from nbrtc.errors import StreamError

path, mode, good = sys.argv[1:4]
rng = np.random.default_rng(1)

def frame(i, noise=False):
    data = np.full((360, 320), 128, np.uint8)
    data[:240] = rng.integers(0, 255, (240, 320)) if noise else 20 + (3 * i) % 210
    return av.VideoFrame.from_ndarray(data, format="yuv420p")

def until(cond, seconds=15):
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        time.sleep(0.01)  # poll interval (bounded by `end`)

rec = Recorder(path)
push = lambda i, noise=False: rec.push_video(frame(i, noise), 100 + i / 30)
if mode in ("read-only", "removed"):
    first = 0 if mode == "read-only" else 45  # removed: while the file is being written
    for i in range(first):
        push(i)
    until(lambda: rec.frames >= first)
    print("ready", flush=True)
    sys.stdin.readline()  # the test makes the disk read-only or removes the directory
    # Frames go on arriving until the recorder notices (a write fails, or it finds its
    # file gone: it looks every 0.5 s), bounded; if it never does, `error` stays None.
    end, i = time.monotonic() + 15, first
    while not rec.done and time.monotonic() < end:
        push(i)
        i += 1
        time.sleep(0.02)  # pace: frames at 50/s until the recorder ends (bounded by `end`)
elif mode == "full":  # full before the first byte: the header cannot be written
    for i in range(60):
        push(i)
else:  # fills up: 2 s of small frames fit, then noise frames do not
    for i in range(60):
        push(i)
    for i in range(60, 210):  # 5 s of noise: more than VP8's 500 kb/s fit in 256 KiB
        push(i, noise=True)
raised = None
try:
    rec.stop(timeout=20)
    rec.wait(timeout=20)
except StreamError as exc:
    raised = str(exc)
# The process goes on, and records again.
other = Recorder(os.path.join(good, "after" + os.path.splitext(path)[1]))
for i in range(10):
    other.push_video(frame(i), 100 + i / 30)
other.stop()
print(json.dumps(dict(
    error=rec.error, raised=raised, frames=rec.frames, dropped=rec.dropped,
    received=rec.received, done=rec.done, exists=os.path.exists(path), repr=repr(rec),
    other_frames=other.frames, other_error=other.error, nbrtc=nbrtc.__file__,
)), flush=True)
"""

_WORDS = {
    "full": ["the disk is full (ENOSPC) while", "free some space"],
    "fills up": ["the disk is full (ENOSPC) while", "free some space", "the file keeps"],
    "read-only": ["read-only (EROFS) while creating", "record to a writable directory"],
    "removed": ["was removed while recording", "nothing was kept"],
}


# A disk full or read-only before the first byte fails where the file is created, the
# same for every container: one container is enough for those; the failures mid-file
# (fills up, removed) go through each container's muxer and run for all three.
_FAULT_CASES = [
    (ext, mode)
    for ext in EXTS
    for mode in _WORDS
    if ext == EXTS[0] or mode in ("fills up", "removed")
]


@pytest.mark.parametrize(("ext", "mode"), _FAULT_CASES)
def test_a_failed_write_is_reported_in_words_and_the_process_lives(
    tmp_path: Path, ext: str, mode: str
) -> None:
    """Every format, every kind of write failure: the recording ends at once with the
    reason in words, ``wait()`` raises it, what the file keeps decodes, and the process
    survives (``.mp4`` onto a full disk used to die of SIGSEGV: muxing went on into the
    container whose header had failed) and records the next file."""
    good = tmp_path / "good"
    good.mkdir()
    with contextlib.ExitStack() as stack:
        if mode == "removed":
            where = tmp_path / "gone"
            where.mkdir()
        else:
            where = stack.enter_context(
                tmpfs(tmp_path / "disk", "64k" if mode == "full" else "256k")
            )
        if mode == "full":
            fill(where)
        path = where / f"take{ext}"
        child = subprocess.Popen(
            [sys.executable, "-c", _FAULT_CHILD, str(path), mode, str(good)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
        )
        try:
            assert child.stdin is not None and child.stdout is not None
            if mode in ("read-only", "removed"):
                assert child.stdout.readline().strip() == "ready"
                if mode == "read-only":
                    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
                else:
                    subprocess.run(["rm", "-rf", str(where)], check=True)
                child.stdin.write("go\n")
                child.stdin.flush()
            out, err = child.communicate(timeout=90)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
        assert child.returncode == 0, (
            f"the recording process died (return code {child.returncode}):\n{err[-3000:]}"
        )
        result = json.loads(out.strip().splitlines()[-1])
        assert result["nbrtc"].startswith(_SRC), result["nbrtc"]
        error = result["error"]
        assert error, f"no error reported: {result}"
        for words in _WORDS[mode]:
            assert words in error, f"{words!r} not in {error!r}"
        assert str(path) in error
        assert "encoding failed" not in error
        assert result["raised"] == f"recording take{ext} failed: {error}"
        assert result["done"] and "failed" in result["repr"]
        assert result["frames"] + result["dropped"] == result["received"], result
        # What the error says the file keeps is what decodes.
        if result["exists"]:
            kept = len(decode_video(path))
            assert kept == result["frames"] > 0, (kept, result)
            assert f"the file keeps {kept} frames" in error
        else:
            assert result["frames"] == 0
        if mode == "fills up":
            assert result["exists"] and 30 <= result["frames"] < 210, result
        assert result["other_error"] is None and result["other_frames"] == 10, result


def test_a_full_disk_ends_the_recording_not_the_stream(
    browser: FakeBrowser, widgets: list, no_leaks: None, tmp_path: Path
) -> None:
    """A camera recording onto a full disk: the recording fails in words, the camera
    stays live and delivering, and the next recording (elsewhere) works."""
    cam = nbrtc.Camera()
    widgets.append(cam)
    browser.attach(cam)
    browser.start(cam)
    cam.wait("live", timeout=10)
    with tmpfs(tmp_path / "disk", "64k") as disk:
        fill(disk)
        rec = cam.record(disk / "take.mkv")
        with pytest.raises(StreamError, match=r"the disk is full \(ENOSPC\)"):
            rec.wait(timeout=20)
        assert not (disk / "take.mkv").exists(), "a file holding nothing is removed"
    n = cam.frame_count
    wait_for(lambda: cam.frame_count >= n + 30, 10, what="frames keep arriving after the failure")
    assert_holds(lambda: cam.state == "live", 0.5, what="camera stays live")
    again = cam.record(tmp_path / "again.mkv", seconds=0.5)
    again.wait(timeout=15)
    assert again.error is None and again.frames > 5


# --- kill -9: what was written survives ---------------------------------------------------------
_KILL_CHILD = r"""
import sys, time
import av, numpy as np
import nbrtc
from nbrtc._media.recorder import Recorder

path = sys.argv[1]
print("nbrtc", nbrtc.__file__, flush=True)
rec = Recorder(path, audio=True)
start = time.monotonic()
tone = (np.sin(np.arange(960) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
for n in range(3000):  # 60 s at most: the test kills it long before
    t = n * 0.01  # a 100 Hz clock: video every 1/30 s, audio every 20 ms
    time.sleep(max(0.0, start + t - time.monotonic()))  # pace: frames at the camera's rate
    now = time.monotonic()
    if n % 2 == 0:
        sound = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16",
                                           layout="stereo")
        sound.sample_rate = 48000
        rec.push_audio(sound, now)
    i = int(t * 30)
    if int((n - 1) * 0.01 * 30) != i or n == 0:
        data = np.full((360, 320), 128, np.uint8)
        data[:240] = 20 + (3 * i) % 210
        rec.push_video(av.VideoFrame.from_ndarray(data, format="yuv420p"), now)
        print("video", i, flush=True)
"""


@pytest.mark.parametrize("ext", EXTS)
def test_a_recording_survives_kill_9(tmp_path: Path, ext: str) -> None:
    """SIGKILL 2.5 s into a take (video + sound): the file decodes, in order, up to at
    most about the last second (the fragment or cluster being filled) before the kill."""
    path = tmp_path / f"killed{ext}"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    pushed = -1
    try:
        assert child.stdout is not None
        first = child.stdout.readline().split()
        assert first[:1] == ["nbrtc"] and first[1].startswith(_SRC), first
        deadline = time.monotonic() + 30
        while pushed < 75 and time.monotonic() < deadline:  # 2.5 s of video
            line = child.stdout.readline()
            if not line:
                break
            pushed = int(line.split()[1])
        assert pushed >= 75, f"the child pushed {pushed + 1} frames: {child.stderr.read()}"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    frames = decode_video(path)
    lost = pushed + 1 - len(frames)
    # 1 s of media (30 frames) in the unfinished fragment/cluster, a few more in flight.
    assert lost <= 36, f"{len(frames)} of {pushed + 1} frames decode after the kill"
    for i, (_, _, _, y) in enumerate(frames):
        assert y == pytest.approx(level(i), abs=2), f"frame {i} is not the {i}th pushed"
    # Stamped by arrival (a busy machine delays some): in order, ending near the kill.
    times = [t for t, _, _, _ in frames]
    assert times == sorted(times) and times[-1] >= (len(frames) - 1) / 30 - 0.01, times
    _, seconds = decode_audio(path)
    assert seconds >= len(frames) / 30 - 1.2, f"{seconds:.2f} s of sound decode"


def _top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, i = [], 0
    while i + 8 <= len(data):  # bounded: every box is at least 8 bytes
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8 : i + 16])[0]
        boxes.append(kind.decode("latin-1"))
        i += size if size >= 8 else len(data)
    return boxes


@pytest.mark.parametrize("ext", EXTS)
def test_a_finished_recording_is_an_ordinary_seekable_file(tmp_path: Path, ext: str) -> None:
    """Written to survive a kill, but a normal stop still makes a plain file: mp4 has one
    moov index at the end and no fragments; every format reports its duration and seeks."""
    path = tmp_path / f"normal{ext}"
    rec = Recorder(path)
    push_frames(rec, 150)  # 5 s, keyframes every 2 s
    rec.stop()
    assert rec.error is None and rec.frames == 150
    if ext == ".mp4":
        boxes = _top_level_boxes(path)
        assert boxes[-1] == "moov" and "moof" not in boxes, boxes
    with av.open(str(path)) as container:
        assert container.duration / 1e6 == pytest.approx(5.0, abs=0.05)
        container.seek(4_500_000)  # to the keyframe before 4.5 s: 4.0 s
        first = next(container.decode(video=0))
        assert first.time == pytest.approx(4.0, abs=0.05)
    assert len(decode_video(path)) == 150


# --- one file, two names ------------------------------------------------------------------------
def test_one_file_under_two_names_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    target = tmp_path / "take.mp4"
    rec = Recorder(target)
    push_frames(rec, 3)
    wait_for(target.exists, 10, what="the recording's file is created")
    os.link(target, tmp_path / "hard.mp4")
    spellings = [tmp_path / "sub" / ".." / "take.mp4", tmp_path / "link" / "take.mp4"]
    for other in [*spellings, tmp_path / "hard.mp4"]:
        with pytest.raises(ValueError) as info:
            Recorder(other)
        message = str(info.value)
        assert repr(str(other)) in message, message  # the path given ...
        assert "already being recorded" in message and "two recordings cannot" in message
    for other in spellings:  # ... and the file it resolves to
        with pytest.raises(ValueError, match=repr(str(target))):
            Recorder(other)
    rec.stop()
    assert rec.error is None and len(decode_video(target)) == 3
    Recorder(spellings[0]).stop()  # free again once stopped
