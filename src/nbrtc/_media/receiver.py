"""What receivers of media share: widgets the browser sends to (Camera, ScreenShare,
Microphone) and kernel-side receivers of a media server's feed (``JanusFeed``).

``FrameRouter`` routes every decoded frame, on the media thread, to: the newest-frame slot
(snapshots), each frame iterator's bounded queue and each active recorder. None of these
can block the media thread or grow without bound. ``ReceiverWidget`` is the widgets' base
around one router; a non-widget owns a router the same way. ``VideoMethods``,
``AudioMethods``, ``RecordMethods`` and ``ProcessMethods`` are the user-facing calls, mixed
into whatever receives that kind of media; they read the router and ask their owner a few
questions (is it usable, would blocking here deadlock, what went wrong).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .._widgets.stream_widget import StreamWidget
from ..errors import StreamClosedError, StreamError, StreamTimeoutError
from .audio import AudioArray, AudioBuffer
from .frames import (
    FrameFeed,
    FrameIterator,
    FrameQueue,
    FramesEnded,
    FrameSlot,
    check_format,
    check_size,
)
from .frames import to_ndarray as _to_ndarray
from .process import Processor, check_process_format

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._signaling.stream import KernelStream
    from .recorder import Recorder


def _positive(name: str, value: Any, *, integer: bool = False, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value != value or value == float("inf"):
        kind = "a positive whole number" if integer else "a positive number of seconds"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


class FrameRouter:
    """Where a receiver's decoded media goes: the newest-frame slot, the frame iterators'
    queues and the active recorders (and the audio buffer).

    ``put_video``/``put_audio`` are called on the media thread and never block; the
    rest from any thread. ``fail`` wakes waiters with a failure (the stream may still be
    replaced by a new one: iterators stay attached); ``close`` is the end: waiters get the
    error, iterators end, recordings are finalized.
    """

    def __init__(self) -> None:
        self.slot = FrameSlot()
        self.audio = AudioBuffer()
        self._queues: weakref.WeakSet[FrameQueue] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._dropped_done = 0
        self._recorders: list[Recorder] = []

    # --- media thread ---------------------------------------------------------------------
    def put_video(self, frame: Any) -> None:
        self.slot.put(frame)
        with self._lock:
            queues = list(self._queues)
        for queue in queues:
            queue.put(frame)
        if self._recorders:
            now = time.monotonic()
            for rec in self._active_recorders():
                rec.push_video(frame, now)

    def put_audio(self, frame: Any) -> None:
        self.audio.put(frame)
        if self._recorders:
            now = time.monotonic()
            for rec in self._active_recorders():
                rec.push_audio(frame, now)

    def _active_recorders(self) -> list[Recorder]:
        """Recorders still recording; finished ones are let go (media thread)."""
        active = [rec for rec in self._recorders if not rec.done]
        if len(active) != len(self._recorders):
            self._recorders = active
        return active

    # --- endings (any thread) --------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        """Wake everyone waiting for a frame or for audio with ``exc``."""
        self.slot.fail_waiters(exc)
        self.audio.fail_waiters(exc)

    def finish_recordings(self) -> None:
        """No more media will come: finalize every recording (their files stay playable)."""
        recorders, self._recorders = list(self._recorders), []
        for rec in recorders:
            rec._on_source_closed()

    def close(self, exc: BaseException) -> None:
        """The receiver closed: waiters get ``exc``, iterators end, recordings finalize."""
        self.fail(exc)
        with self._lock:
            queues = list(self._queues)
        for queue in queues:
            queue.close(FramesEnded())
        self.finish_recordings()

    # --- consumers (any thread) -------------------------------------------------------------
    def attach(self, maxsize: int) -> FrameQueue:
        """A new bounded queue that gets every frame from now on (an iterator's)."""
        queue = FrameQueue(maxsize)
        with self._lock:
            self._queues.add(queue)
        return queue

    def detach(self, queue: FrameQueue) -> None:
        with self._lock:
            if queue in self._queues:
                self._queues.discard(queue)
                self._dropped_done += queue.dropped

    @property
    def dropped(self) -> int:
        """Frames the iterators skipped or pushed out, the finished ones' included."""
        with self._lock:
            return self._dropped_done + sum(q.dropped for q in self._queues)

    def record(
        self, path: str | os.PathLike[str], seconds: float | None, *, video: bool, audio: bool
    ) -> Recorder:
        """A new recording of what arrives from now on (arguments checked by Recorder)."""
        from .recorder import Recorder

        rec = Recorder(path, video=video, audio=audio, seconds=seconds)
        self._recorders = [*self._recorders, rec]
        return rec


class RecordMethods:
    """``record()`` of a receiver (Camera, Microphone, JanusFeed)."""

    _router: FrameRouter

    def record(
        self,
        path: str | os.PathLike[str],
        seconds: float | None = None,
        *,
        audio: bool | None = None,
    ) -> Recorder:
        """Record what arrives from now on to ``path`` (.mp4, .webm or .mkv).

        Returns a :class:`Recorder` at once; it stops after ``seconds`` (or at
        ``rec.stop()``, or when the receiver closes, or at kernel exit) and the file is then
        finalized and playable. ``audio`` defaults to whether this receives sound.
        ``rec.frames`` counts the video frames written: every frame received while
        recording unless the encoder fell behind (then ``rec.dropped`` says how many).
        """
        self._raise_if_unusable()  # type: ignore[attr-defined]
        has_audio = self._has_audio()
        want_audio = has_audio if audio is None else bool(audio)
        if want_audio and not has_audio:
            raise ValueError(
                f"this {type(self).__name__} receives no sound; make it with audio=True "
                "or record with audio=False"
            )
        return self._router.record(path, seconds, video=self._has_video(), audio=want_audio)

    def _has_video(self) -> bool:
        return False

    def _has_audio(self) -> bool:
        return False


class ReceiverWidget(RecordMethods, StreamWidget):
    """Base of widgets whose browser end sends media to the kernel. Not for direct use."""

    def __init__(self, **kwargs: Any) -> None:
        self._router = FrameRouter()
        # the router's parts by their old names (the widgets' reprs and tests read them)
        self._slot = self._router.slot
        self._audio_buf = self._router.audio
        super().__init__(**kwargs)

    # --- media loop side ------------------------------------------------------------------
    def _on_frame(self, stream: KernelStream, frame: Any) -> None:
        self._router.put_video(frame)

    def _on_audio(self, stream: KernelStream, frame: Any) -> None:
        self._router.put_audio(frame)

    def _on_error(self, err: str) -> None:
        self._router.fail(self._current_error() or StreamError(err))

    def _closed_cleanup(self) -> None:
        self._router.close(StreamClosedError(f"the {type(self).__name__} was closed"))

    def _timeout_error(self, timeout: float) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"no frame arrived within {timeout} s (state is {self.state!r}{self._detail()}"
            f"{'; error: ' + self.error if self.error else ''})"
        )


class VideoMethods:
    """Video calls of a receiver (Camera, ScreenShare, JanusFeed): its ``_router``'s frames."""

    _router: FrameRouter

    # --- counters ---------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        """Frames received from the browser since the widget was created."""
        return self._router.slot.count

    @property
    def fps(self) -> float:
        """Frames per second received over the last two seconds."""
        return self._router.slot.fps()

    @property
    def dropped(self) -> int:
        """Frames that arrived while a ``frames()``/``capture()`` consumer was busy and
        were skipped (newest-frame-wins) or pushed out of a full queue."""
        return self._router.dropped

    @property
    def latest_frame(self) -> np.ndarray | None:
        """The newest frame as an (H, W, 3) RGB uint8 array, or None before the first."""
        frame = self._router.slot.frame
        return None if frame is None else _to_ndarray(frame, "rgb24")

    @property
    def latest_video_frame(self) -> Any:
        """The newest frame as an ``av.VideoFrame`` (None before the first)."""
        return self._router.slot.frame

    # --- snapshots --------------------------------------------------------------------------
    def _frame_future(
        self, call: str, acall: str, blocking: bool
    ) -> concurrent.futures.Future[Any]:
        self._raise_if_unusable()  # type: ignore[attr-defined]
        slot = self._router.slot
        fut = slot.next_frame()
        if not fut.done() and blocking and self._blocking_would_deadlock():  # type: ignore[attr-defined]
            slot.discard(fut)
            latest = slot.frame
            if latest is not None and self.transport == "comm":  # type: ignore[attr-defined]
                # no newer frame can arrive before this cell ends: the newest the kernel
                # has is the best answer (it came before the cell started)
                done: concurrent.futures.Future[Any] = concurrent.futures.Future()
                done.set_result(latest)
                return done
            raise self._no_stream_error(call, acall)  # type: ignore[attr-defined]
        return fut

    def snapshot(self, timeout: float = 10.0, format: str = "rgb24") -> np.ndarray:
        """The newest frame as numpy (``rgb24`` (H, W, 3) default, ``bgr24``, ``gray``).

        Blocks up to ``timeout`` s for the first frame. Raises ``NotDisplayedError`` at once
        when waiting cannot succeed (no stream, called inside the cell that displays the
        widget), ``CameraError`` when the browser refused the camera, ``StreamClosedError``
        after ``close()``, ``StreamTimeoutError`` when nothing arrived in time.
        """
        check_format(format)
        fut = self._frame_future("snapshot()", "cam.snapshot_async()", blocking=True)
        try:
            frame = fut.result(timeout)
        except concurrent.futures.TimeoutError:
            self._router.slot.discard(fut)
            raise self._timeout_error(timeout) from None  # type: ignore[attr-defined]
        return _to_ndarray(frame, format)

    async def snapshot_async(self, timeout: float = 10.0, format: str = "rgb24") -> np.ndarray:
        """Awaitable twin of :meth:`snapshot`."""
        check_format(format)
        fut = self._frame_future("snapshot()", "cam.snapshot_async()", blocking=False)
        try:
            frame = await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            self._router.slot.discard(fut)
            raise self._timeout_error(timeout) from None  # type: ignore[attr-defined]
        return _to_ndarray(frame, format)

    #: the name before the ``*_async`` rule (kept)
    asnapshot = snapshot_async

    # --- streams of frames ----------------------------------------------------------------------
    def frames(
        self,
        max_frames: int | None = None,
        *,
        format: str = "rgb24",
        size: tuple[int, int] | None = None,
        queue: int | None = None,
        timeout: float = 10.0,
    ) -> FrameIterator:
        """Iterate over the frames arriving from now on: ``for frame in cam.frames(100):``.

        ``format``: ``"rgb24"`` (default, (H, W, 3)), ``"bgr24"`` (OpenCV), ``"gray"``
        ((H, W)) or ``"av"`` (the ``av.VideoFrame``). ``size=(w, h)`` resizes on the way.
        Newest-frame-wins by default: a slow loop skips frames (``dropped``) instead of
        falling behind. ``queue=N`` keeps up to N unread frames instead. Ends after
        ``max_frames`` or when the widget closes; ``timeout`` bounds the wait per frame.
        The same object works with ``async for`` (see :meth:`frames_async`).
        """
        return self._iterator("frames()", max_frames, format, size, queue, timeout)

    def frames_async(
        self,
        max_frames: int | None = None,
        *,
        format: str = "rgb24",
        size: tuple[int, int] | None = None,
        queue: int | None = None,
        timeout: float = 10.0,
    ) -> FrameIterator:
        """``async for frame in cam.frames_async():`` — :meth:`frames` for async code and
        cells."""
        return self._iterator("frames_async()", max_frames, format, size, queue, timeout)

    #: the name before the ``*_async`` rule (kept)
    aframes = frames_async

    def _iterator(
        self,
        call: str,
        max_frames: int | None,
        format: str,
        size: tuple[int, int] | None,
        queue: int | None,
        timeout: float,
    ) -> FrameIterator:
        max_frames = _positive("max_frames", max_frames, integer=True, optional=True)
        fmt = check_format(format, allow_av=True)
        size = check_size(size)
        maxsize = 1 if queue is None else _positive("queue", queue, integer=True)
        timeout = _positive("timeout", timeout)
        self._raise_if_unusable()  # type: ignore[attr-defined]
        q = self._router.attach(maxsize)
        feed = FrameFeed(
            closed=lambda: bool(self._closed),  # type: ignore[attr-defined]
            detach=self._router.detach,
            raise_if_unusable=self._raise_if_unusable,  # type: ignore[attr-defined]
            blocking_would_deadlock=self._blocking_would_deadlock,  # type: ignore[attr-defined]
            no_stream_error=self._no_stream_error,  # type: ignore[attr-defined]
            timeout_error=self._timeout_error,  # type: ignore[attr-defined]
        )
        return FrameIterator(
            feed, q, max_frames=max_frames, fmt=fmt, size=size, timeout=timeout, call=f"cam.{call}"
        )

    def capture(
        self,
        n: int,
        *,
        format: str = "rgb24",
        size: tuple[int, int] | None = None,
        timeout: float = 10.0,
    ) -> np.ndarray:
        """The next ``n`` consecutive frames as one array: (n, H, W, 3) for rgb24.

        Every frame counts (no newest-frame-wins here): the frames are kept as they arrive
        and converted at the end. ``timeout`` bounds the wait for each frame.
        """
        n = _positive("n", n, integer=True)
        it = self._iterator("capture()", n, format, size, n, timeout)
        with it:
            frames = list(it)
        return self._stack(frames, n)

    async def capture_async(
        self,
        n: int,
        *,
        format: str = "rgb24",
        size: tuple[int, int] | None = None,
        timeout: float = 10.0,
    ) -> np.ndarray:
        """Awaitable twin of :meth:`capture`."""
        n = _positive("n", n, integer=True)
        it = self._iterator("capture_async()", n, format, size, n, timeout)
        with it:
            frames = [f async for f in it]
        return self._stack(frames, n)

    #: the name before the ``*_async`` rule (kept)
    acapture = capture_async

    def _stack(self, frames: list[Any], n: int) -> Any:
        if len(frames) < n:
            raise StreamClosedError(
                f"the widget closed after {len(frames)} of the {n} frames asked for"
            )
        if frames and not isinstance(frames[0], np.ndarray):
            return frames  # format="av": a list of av.VideoFrame
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:  # the resolution changed mid-capture: make them agree
            raise StreamError(
                f"the frame size changed during capture ({sorted(shapes)}); pass size=(w, h)"
            )
        return np.stack(frames)


class AudioMethods:
    """Audio calls of a receiver (Microphone, Camera(audio=True), JanusFeed)."""

    _router: FrameRouter

    def _need_audio(self) -> None:
        if not self._has_audio():  # type: ignore[attr-defined]
            raise StreamError(
                f"this {type(self).__name__} receives no sound; make it with audio=True"
            )
        self._raise_if_unusable()  # type: ignore[attr-defined]

    @property
    def sample_rate(self) -> int:
        """Sample rate (Hz) of the received audio; 0 before the first audio frame."""
        return self._router.audio.sample_rate

    @property
    def audio_channels(self) -> int:
        """Channels of the received audio (1 mono, 2 stereo); 0 before the first frame."""
        return self._router.audio.channels

    @property
    def audio_frame_count(self) -> int:
        """Audio frames (20 ms each from Chromium) received so far."""
        return self._router.audio.frames

    @property
    def level(self) -> float:
        """Loudness of the last 100 ms in dBFS (0 is full scale; -inf is silence)."""
        return self._router.audio.level()

    def latest_audio(self, seconds: float = 1.0) -> AudioArray:
        """The newest ``seconds`` of received audio (up to 10 s kept), float32
        ``(channels, samples)`` with ``.sample_rate``; shorter when less has arrived."""
        seconds = _positive("seconds", seconds)
        return self._router.audio.latest(seconds)

    def capture_audio(self, seconds: float = 2.0, timeout: float | None = None) -> AudioArray:
        """Record the next ``seconds`` of sound: float32 ``(channels, samples)`` in [-1, 1]
        with ``.sample_rate`` and ``.layout``. Waits up to ``timeout`` (default
        ``seconds + 10``)."""
        seconds = _positive("seconds", seconds)
        timeout = seconds + 10.0 if timeout is None else _positive("timeout", timeout)
        self._need_audio()
        fut = self._router.audio.capture(seconds)
        no_audio = self._router.audio.frames == 0
        if no_audio and self._blocking_would_deadlock():  # type: ignore[attr-defined]
            self._router.audio.discard(fut)
            raise self._no_stream_error("capture_audio()", "capture_audio_async()")  # type: ignore[attr-defined]
        try:
            return fut.result(timeout).array()
        except concurrent.futures.TimeoutError:
            self._router.audio.discard(fut)
            raise self._audio_timeout(seconds, timeout) from None

    async def capture_audio_async(
        self, seconds: float = 2.0, timeout: float | None = None
    ) -> AudioArray:
        """Awaitable twin of :meth:`capture_audio`."""
        seconds = _positive("seconds", seconds)
        timeout = seconds + 10.0 if timeout is None else _positive("timeout", timeout)
        self._need_audio()
        fut = self._router.audio.capture(seconds)
        try:
            captured = await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            self._router.audio.discard(fut)
            raise self._audio_timeout(seconds, timeout) from None
        return captured.array()

    #: the name before the ``*_async`` rule (kept)
    acapture_audio = capture_audio_async

    def _audio_timeout(self, seconds: float, timeout: float) -> StreamTimeoutError:
        got = "no audio has arrived yet" if not self._router.audio.frames else "audio stopped"
        return StreamTimeoutError(
            f"{seconds} s of audio did not arrive within {timeout} s ({got}; state is "
            f"{self.state!r}{self._detail()})"  # type: ignore[attr-defined]
        )


class ProcessMethods:
    """``process(fn)``'s figures, and the one way to set it, for a receiver that owns a
    :class:`~.process.Processor` (Camera shows ``fn``'s output in the browser; JanusFeed
    keeps it as ``latest_processed``)."""

    _processor: Processor

    def _set_process(self, fn: Callable[[Any], Any] | None, format: str) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"process() takes a function of one frame or None, got {fn!r}")
        fmt = check_process_format(format)
        self._raise_if_unusable()  # type: ignore[attr-defined]
        self._processor.set(fn, fmt)

    @property
    def process_ms(self) -> float | None:
        """Median milliseconds ``fn`` took per frame recently (None before any)."""
        return self._processor.ms()

    def process_stats(self) -> dict[str, Any]:
        """Processed frames, frames skipped (newest-frame-wins), frames sent back as the
        camera encoded them (``forwarded``: the function left them unchanged), errors,
        median ms."""
        p = self._processor
        return {
            "active": p.active,
            "frames": p.frames,
            "dropped": p.dropped,
            "forwarded": p.forwarded,
            "errors": p.errors,
            "ms": p.ms(),
            "error": p.error,
        }
