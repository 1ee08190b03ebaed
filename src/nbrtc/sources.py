"""Kernel-side video sources for :class:`nbrtc.VideoView`.

A source is made once and may be shown by any number of views; its producer (a pattern
generator, a decoder, your iterator) runs only while at least one view is live and is
shared by all of them. Threads: producers are driven from the media loop; your Python
code (``frames``), opening a file or URL and decoding it run on daemon worker threads,
never on the media loop, each under a deadline the kernel enforces itself (a URL whose
server never answers is reported in words in ``error`` and harms no other stream).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ._checks import dimension, rate
from ._media.fanout import Fanout, SubscriberTrack
from ._media.file_track import FileTrack, display_name
from ._media.frames import reformat
from ._media.pattern import PatternPainter
from ._media.video_clock import TIME_BASE as _TIME_BASE
from ._media.video_clock import VIDEO_CLOCK  # also public here: nbrtc.sources.VIDEO_CLOCK
from ._media.worker import Worker, _tame

log = logging.getLogger("nbrtc")

__all__ = ["Source", "audio", "camera", "file", "frames", "test_pattern", "tone", "track"]

#: Seconds a file or URL may take to open, and a playing one between two frames, before
#: its views say so in ``error`` and its video ends (``sources.file(url, timeout=...)``
#: sets it per source, up to MAX_TIMEOUT).
OPEN_TIMEOUT = 10.0
MAX_TIMEOUT = 600.0
#: Seconds a ``frames`` function may run for one frame before ``error`` says it is slow.
SLOW_FRAME_SECONDS = 5.0


def _yuv_frame(arr: np.ndarray) -> Any:
    """An encoder-ready (yuv420p) frame from an RGB or gray array, made once per frame.

    Called on worker threads: conversion stays off the media loop, and the fan-out never
    hands several encoders a frame they would each reformat (see _fanout.py).
    """
    import av

    frame = av.VideoFrame.from_ndarray(arr, format="rgb24" if arr.ndim == 3 else "gray")
    return reformat(frame, "yuv420p")  # this thread's one swscale context, not one per frame


class Source:
    """A video source that VideoViews can show. Subclasses make the producer track.

    ``error`` keeps the last error of the producer (e.g. your ``frames`` callable raised);
    ``frames_produced`` counts frames handed to views.
    """

    kind = "video"

    def __init__(self) -> None:
        self._fanout: Fanout | None = None
        self._producer: MediaStreamTrack | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._error_listeners: list[Callable[[str], None]] = []

    # --- media-loop side -------------------------------------------------------------
    def _make_producer(self) -> MediaStreamTrack:  # pragma: no cover - abstract
        raise NotImplementedError

    def _release_producer(self, producer: MediaStreamTrack) -> None:
        """Stop ``producer`` (media loop). Default: ``producer.stop()``."""
        producer.stop()

    def _subscribe(self) -> SubscriberTrack:
        """A new consumer track (media loop). Starts the producer when it is the first."""
        if self._fanout is None:
            producer = self._make_producer()
            self._producer = producer

            def idle(fanout_producer: MediaStreamTrack = producer) -> None:
                if self._producer is fanout_producer:  # not a newer fan-out's
                    self._fanout = None
                    self._producer = None
                try:
                    self._release_producer(fanout_producer)
                except Exception:
                    log.exception("releasing a video source failed")

            self._fanout = Fanout(producer, idle)
        return self._fanout.add()

    @property
    def subscribers(self) -> int:
        """How many views currently receive this source."""
        fan = self._fanout
        return fan.subscribers if fan is not None else 0

    @property
    def running(self) -> bool:
        """True while the producer runs (at least one live view)."""
        return self._fanout is not None

    def _report_error(self, text: str) -> None:
        self.error = text
        for listener in list(self._error_listeners):
            try:
                listener(text)
            except Exception:
                log.debug("error listener failed", exc_info=True)


class _PacedTrack(MediaStreamTrack):
    """A video track that produces frames at ``fps`` and never lets lag accumulate."""

    kind = "video"

    def __init__(self, fps: float) -> None:
        super().__init__()
        self._fps = fps
        self._n = 0
        self._t0: float | None = None

    async def _next_slot(self) -> int:
        """Sleep until the next frame is due; skip slots we are late for."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
            return 0
        self._n += 1
        due = self._t0 + self._n / self._fps
        if now - due > 1.0 / self._fps:  # late by more than a frame: drop the missed slots
            self._n = int((now - self._t0) * self._fps)
            due = self._t0 + self._n / self._fps
        if due > now:
            await asyncio.sleep(due - now)
        return self._n

    def _stamp(self, frame: Any, n: int) -> Any:
        frame.pts = round(n * VIDEO_CLOCK / self._fps)
        frame.time_base = _TIME_BASE
        return frame


class _PatternTrack(_PacedTrack):
    def __init__(self, width: int, height: int, fps: float) -> None:
        super().__init__(fps)
        self._painter = PatternPainter(width, height)

    def _make(self, n: int) -> Any:
        return _yuv_frame(self._painter.paint(n))

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        n = await self._next_slot()
        frame = await asyncio.get_running_loop().run_in_executor(None, self._make, n)
        return self._stamp(frame, n)


class TestPattern(Source):
    """Animated colour bars with a frame counter and a wall clock (see :func:`test_pattern`)."""

    __test__ = False  # not a pytest class

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30) -> None:
        super().__init__()
        self.width = dimension("width", width, even=True)
        self.height = dimension("height", height, even=True)
        self.fps = rate("fps", fps)

    def _make_producer(self) -> MediaStreamTrack:
        return _PatternTrack(self.width, self.height, self.fps)

    def __repr__(self) -> str:
        return f"test_pattern(width={self.width}, height={self.height}, fps={self.fps:g})"


def test_pattern(width: int = 640, height: int = 480, fps: float = 30) -> TestPattern:
    """A synthetic moving pattern: colour bars, a circling square, frame number and clock.

    Needs no camera and no file; the clock drawn into each frame makes end-to-end latency
    visible (compare it with a clock beside the video).
    """
    return TestPattern(width, height, fps)


test_pattern.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class _FramesTrack(_PacedTrack):
    def __init__(self, owner: FramesSource) -> None:
        super().__init__(owner.fps)
        self._owner = owner
        # One daemon worker thread per running source: your code never runs on the media
        # loop, and a call that never returns cannot keep the kernel from exiting.
        self._pool = Worker("nbrtc-frames")
        self._last: Any = None

    def _next_frame(self) -> Any:
        """Your code's next frame, encoder-ready, or None when your iterable is exhausted
        (worker thread; StopIteration cannot travel through an asyncio future)."""
        try:
            self._last = self._owner._next_array()
        except StopIteration:
            return None
        except BaseException as exc:  # keep the last good frame; say why
            exc = _tame(exc)
            self._owner._report_error(f"{type(exc).__name__}: {exc}")
            if self._last is None:
                self._last = np.zeros((480, 640, 3), np.uint8)
        return _yuv_frame(self._last)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        n = await self._next_slot()
        try:
            job = asyncio.wrap_future(self._pool.submit(self._next_frame))
        except RuntimeError:  # stopped meanwhile
            raise MediaStreamError from None
        done, _ = await asyncio.wait({job}, timeout=SLOW_FRAME_SECONDS)
        if not done:  # your code is stuck: say so, keep waiting (only this view waits)
            self._owner._report_error(
                f"frames(): your function has not returned a frame for {SLOW_FRAME_SECONDS:g} s "
                "(it is still running on its worker thread); the video resumes when it returns"
            )
        frame = await job
        if frame is None:
            self.stop()
            raise MediaStreamError
        return self._stamp(frame, n)

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown()


class FramesSource(Source):
    """Frames computed in Python (see :func:`frames`)."""

    def __init__(self, source: Iterable[np.ndarray] | Callable[[], np.ndarray], fps: float) -> None:
        super().__init__()
        self.fps = rate("fps", fps)
        if callable(source) and not isinstance(source, Iterable):
            self._call: Callable[[], np.ndarray] | None = source
            self._iter: Iterator[np.ndarray] | None = None
        elif isinstance(source, Iterable):
            self._call = None
            self._iter = iter(source)
        else:
            raise TypeError(
                "frames() needs an iterable of numpy arrays or a callable returning one, "
                f"got {type(source).__name__}"
            )
        self.frames_produced = 0

    def _next_array(self) -> np.ndarray:
        """Get the next frame from your code (worker thread) and check it."""
        arr = self._call() if self._call is not None else next(self._iter)  # type: ignore[arg-type]
        arr = np.asarray(arr)
        if arr.dtype != np.uint8:
            raise TypeError(f"frames must be uint8 arrays, got dtype {arr.dtype}")
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
            raise ValueError(f"frames must be (H, W, 3) RGB or (H, W) gray, got shape {arr.shape}")
        if arr.shape[0] % 2 or arr.shape[1] % 2:
            arr = arr[: arr.shape[0] // 2 * 2, : arr.shape[1] // 2 * 2]  # encoders need even sizes
        self.frames_produced += 1
        self.error = None
        return np.ascontiguousarray(arr)

    def _make_producer(self) -> MediaStreamTrack:
        return _FramesTrack(self)

    def __repr__(self) -> str:
        return f"frames(<{'callable' if self._call else 'iterable'}>, fps={self.fps:g})"


def frames(
    source: Iterable[np.ndarray] | Callable[[], np.ndarray], fps: float = 30
) -> FramesSource:
    """Video from numpy frames computed in Python.

    ``source`` is an iterable (e.g. a generator) of uint8 arrays, (H, W, 3) RGB or (H, W)
    gray, or a callable returning the next array. It is called on a worker thread at
    ``fps``. If it raises, the error is kept in ``error`` and shown, and the last good
    frame repeats; when an iterable is exhausted, the video ends.
    """
    return FramesSource(source, fps)


class FileSource(Source):
    """A file or URL decoded by PyAV through aiortc's MediaPlayer (see :func:`file`)."""

    def __init__(
        self, path_or_url: str | os.PathLike[str], loop: bool = False, timeout: float = OPEN_TIMEOUT
    ) -> None:
        super().__init__()
        self.timeout = _check_timeout(timeout)
        target = os.fspath(path_or_url)
        if not isinstance(target, str) or not target:
            raise ValueError("file() needs a path or URL string")
        if "://" not in target:
            if not os.path.exists(target):
                raise FileNotFoundError(
                    f"file({target!r}): no such file (relative to {os.getcwd()!r})"
                )
            _probe_video(target)
        self.path = target
        self.loop = bool(loop)

    def _make_producer(self) -> MediaStreamTrack:
        return FileTrack(self.path, self.loop, self.timeout, self._report_error)

    def __repr__(self) -> str:
        # a URL's password or token never goes into a repr (see display_name)
        shown = self.path if "://" not in self.path else display_name(self.path)
        return f"file({shown!r}, loop={self.loop})"


def _check_timeout(timeout: Any) -> float:
    if (
        not isinstance(timeout, (int, float))
        or isinstance(timeout, bool)
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise ValueError(
            f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}], got {timeout!r}"
        )
    return float(timeout)


def _probe_video(path: str) -> None:
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise ValueError(f"file({path!r}) has no video stream")
    except av.FFmpegError as exc:
        raise ValueError(f"file({path!r}) cannot be decoded by PyAV: {exc}") from None


def file(
    path_or_url: str | os.PathLike[str], loop: bool = False, *, timeout: float = OPEN_TIMEOUT
) -> FileSource:
    """Video from any file or URL PyAV can open (mp4, webm, mkv, rtsp://, http://...).

    One decoder serves every view of this source; it starts with the first live view and
    stops when the last one ends. ``loop=True`` restarts the file at its end.

    Opening, probing and decoding run off the media loop. If the input does not open
    within ``timeout`` seconds (default OPEN_TIMEOUT, 10 s), or a playing one sends no
    frame for that long, ``error`` (and each view's ``error``) says so in words and the
    video ends; other streams are unaffected.
    """
    return FileSource(path_or_url, loop=loop, timeout=timeout)


class TrackSource(Source):
    """Any aiortc ``MediaStreamTrack`` you made, video or audio (see :func:`track`)."""

    def __init__(self, media_track: MediaStreamTrack) -> None:
        super().__init__()
        if not isinstance(media_track, MediaStreamTrack) or media_track.kind not in (
            "video",
            "audio",
        ):
            raise TypeError("track() needs an aiortc MediaStreamTrack of kind 'video' or 'audio'")
        self.track = media_track
        self.kind = media_track.kind

    def _make_producer(self) -> MediaStreamTrack:
        return self.track

    def _release_producer(self, producer: MediaStreamTrack) -> None:
        pass  # your track: you decide when it stops

    def __repr__(self) -> str:
        return f"track({self.track!r})"


def track(media_track: MediaStreamTrack) -> TrackSource:
    """Wrap an aiortc video or audio track so that any number of views can play it."""
    return TrackSource(media_track)


# --- audio --------------------------------------------------------------------------------
AUDIO_FRAME_SECONDS = 0.02


class _PacedAudioTrack(MediaStreamTrack):
    """20 ms signed 16-bit frames at real time; subclasses fill in the samples."""

    kind = "audio"

    def __init__(self, sample_rate: int, channels: int) -> None:
        super().__init__()
        self._rate = sample_rate
        self._channels = channels
        self._per_frame = round(sample_rate * AUDIO_FRAME_SECONDS)
        self._n = 0
        self._t0: float | None = None

    def _samples(self, start: int, count: int) -> np.ndarray | None:  # pragma: no cover
        """(channels, count) int16 starting at sample ``start``; None at the end."""
        raise NotImplementedError

    async def recv(self) -> Any:
        import av

        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + self._n * AUDIO_FRAME_SECONDS
        if now - due > 0.2:  # the loop stalled: restart the clock rather than burst
            self._t0 = now - self._n * AUDIO_FRAME_SECONDS
            due = now
        if due > now:
            await asyncio.sleep(due - now)
        start = self._n * self._per_frame
        block = self._samples(start, self._per_frame)
        if block is None:
            self.stop()
            raise MediaStreamError
        self._n += 1
        layout = "mono" if self._channels == 1 else "stereo"
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block.T).reshape(1, -1), format="s16", layout=layout
        )
        frame.sample_rate = self._rate
        frame.pts = start
        frame.time_base = fractions.Fraction(1, self._rate)
        return frame


class _ToneTrack(_PacedAudioTrack):
    def __init__(self, owner: Tone) -> None:
        super().__init__(owner.sample_rate, owner.channels)
        self._owner = owner

    def _samples(self, start: int, count: int) -> np.ndarray:
        t = (np.arange(start, start + count) / self._rate).astype(np.float64)
        wave = self._owner.amplitude * np.sin(2 * np.pi * self._owner.frequency * t)
        block = np.round(wave * 32767).astype(np.int16)
        return np.tile(block, (self._channels, 1))


def _audio_rate(sample_rate: Any) -> int:
    if (
        not isinstance(sample_rate, int)
        or isinstance(sample_rate, bool)
        or not (8000 <= sample_rate <= 192_000)
    ):
        raise ValueError(f"sample_rate must be an int from 8000 to 192000 Hz, got {sample_rate!r}")
    return sample_rate


def _audio_channels(channels: Any) -> int:
    if channels not in (1, 2) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 (mono) or 2 (stereo), got {channels!r}")
    return int(channels)


class Tone(Source):
    """A sine tone (see :func:`tone`). ``frequency`` and ``amplitude`` may be changed live."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float, sample_rate: int, channels: int) -> None:
        super().__init__()
        if (
            not isinstance(frequency, (int, float))
            or isinstance(frequency, bool)
            or not 0 < frequency <= sample_rate / 2
        ):
            raise ValueError(f"frequency must be in (0, sample_rate / 2] Hz, got {frequency!r}")
        self.frequency = float(frequency)
        if not isinstance(amplitude, (int, float)) or not 0 <= amplitude <= 1:
            raise ValueError(f"amplitude must be from 0 to 1 (full scale), got {amplitude!r}")
        self.amplitude = float(amplitude)
        self.sample_rate = _audio_rate(sample_rate)
        self.channels = _audio_channels(channels)

    def _make_producer(self) -> MediaStreamTrack:
        return _ToneTrack(self)

    def __repr__(self) -> str:
        return f"tone({self.frequency:g}, amplitude={self.amplitude:g})"


def tone(
    frequency: float = 440.0,
    *,
    amplitude: float = 0.2,
    sample_rate: int = 48_000,
    channels: int = 1,
) -> Tone:
    """A sine tone for :class:`nbrtc.AudioView` (or ``VideoView(..., audio=...)``)."""
    return Tone(frequency, amplitude, sample_rate, channels)


class _ArrayAudioTrack(_PacedAudioTrack):
    def __init__(self, owner: AudioArraySource) -> None:
        super().__init__(owner.sample_rate, owner.data.shape[0])
        self._owner = owner

    def _samples(self, start: int, count: int) -> np.ndarray | None:
        data = self._owner.data
        total = data.shape[1]
        if not self._owner.loop:
            if start >= total:
                return None
            block = data[:, start : start + count]
        else:
            idx = np.arange(start, start + count) % total
            block = data[:, idx]
        if block.shape[1] < count:  # the last partial frame: pad with silence
            block = np.pad(block, ((0, 0), (0, count - block.shape[1])))
        return block


class AudioArraySource(Source):
    """Sound from a numpy array (see :func:`audio`)."""

    kind = "audio"

    def __init__(self, samples: Any, sample_rate: int, loop: bool) -> None:
        super().__init__()
        self.sample_rate = _audio_rate(sample_rate)
        arr = np.asarray(samples)
        if arr.ndim == 1:
            arr = arr[np.newaxis, :]
        if arr.ndim != 2 or arr.shape[0] not in (1, 2) or arr.shape[1] == 0:
            raise ValueError(
                "audio() takes (samples,) or (channels, samples) with 1 or 2 channels, "
                f"got shape {np.asarray(samples).shape}"
            )
        if arr.dtype == np.int16:
            data = arr
        elif np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise ValueError("audio() samples must be finite (no NaN or inf)")
            data = np.round(np.clip(arr, -1.0, 1.0) * 32767).astype(np.int16)
        else:
            raise TypeError(f"audio() takes float samples in [-1, 1] or int16, got {arr.dtype}")
        self.data = np.ascontiguousarray(data)
        self.loop = bool(loop)

    @property
    def duration(self) -> float:
        return self.data.shape[1] / self.sample_rate

    def _make_producer(self) -> MediaStreamTrack:
        return _ArrayAudioTrack(self)

    def __repr__(self) -> str:
        return (
            f"audio(<{self.data.shape[0]} ch, {self.duration:.2f} s>, "
            f"sample_rate={self.sample_rate}, loop={self.loop})"
        )


def audio(samples: Any, sample_rate: int = 48_000, *, loop: bool = False) -> AudioArraySource:
    """Sound from numpy: ``(samples,)`` or ``(channels, samples)``, float in [-1, 1] or
    int16, played at ``sample_rate``; ``loop=True`` repeats it."""
    return AudioArraySource(samples, sample_rate, loop)


def as_audio_source(value: Any) -> Source:
    """An AudioView / ``VideoView(audio=...)`` argument as an audio Source."""
    if isinstance(value, Source) and value.kind == "audio":
        return value
    if isinstance(value, MediaStreamTrack) and value.kind == "audio":
        return track(value)
    if isinstance(value, np.ndarray):
        return audio(value)
    raise TypeError(
        "an audio source is sources.tone(...), sources.audio(array, sample_rate), or an "
        f"aiortc audio MediaStreamTrack; got {type(value).__name__}"
    )


def as_source(value: Any) -> Source:
    """Turn a VideoView argument into a Source, or raise a TypeError naming what works."""
    if value is None:
        return test_pattern()
    if isinstance(value, Source) and value.kind == "video":
        return value
    if isinstance(value, MediaStreamTrack) and value.kind == "video":
        return track(value)
    if isinstance(value, (str, os.PathLike)):
        return file(value)
    if _is_camera(value):
        return camera(value)
    raise TypeError(
        "VideoView(source=...) takes an nbrtc source (sources.test_pattern(), "
        "sources.file(path), sources.frames(gen, fps), sources.camera(cam)), an nbrtc "
        f"Camera, an aiortc MediaStreamTrack or a file path; got {type(value).__name__}"
    )


def _is_camera(value: Any) -> bool:
    # duck-typed: the widgets import this module, so it does not import them
    return not isinstance(value, type) and callable(getattr(value, "as_source", None))


def camera(cam: Any) -> Source:
    """What ``cam`` (an ``nbrtc.Camera`` or ``ScreenShare``) sends, as a source: its
    ``process(fn)`` results while set, its own frames otherwise (``cam.as_source()``).
    ``VideoView(sources.camera(cam))`` shows it in another cell or tab;
    ``janus.broadcast(cam)`` sends it once to any number of viewers."""
    if not _is_camera(cam):
        raise TypeError(f"sources.camera() takes an nbrtc.Camera, got {type(cam).__name__}")
    source = cam.as_source()
    if not isinstance(source, Source) or source.kind != "video":
        raise TypeError(f"{type(cam).__name__}.as_source() gave no video source")
    return source
