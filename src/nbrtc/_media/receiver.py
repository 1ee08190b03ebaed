"""What widgets that receive media from the browser share (Camera, ScreenShare, Microphone).

``ReceiverWidget`` routes every decoded frame, on the media thread, to: the newest-frame
slot (snapshots), each frame iterator's bounded queue, each active recorder, and the
processing function (Camera). None of these can block the media thread or grow without
bound. ``VideoMethods`` and ``AudioMethods`` are the user-facing calls, mixed into the
widgets that have that kind of media.
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

if TYPE_CHECKING:
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


class ReceiverWidget(StreamWidget):
    """Base of widgets whose browser end sends media to the kernel. Not for direct use."""

    def __init__(self, **kwargs: Any) -> None:
        self._slot = FrameSlot()
        self._audio_buf = AudioBuffer()
        self._queues: weakref.WeakSet[FrameQueue] = weakref.WeakSet()
        self._queue_lock = threading.Lock()
        self._dropped_done = 0
        self._recorders: list[Recorder] = []
        super().__init__(**kwargs)

    # --- media loop side ------------------------------------------------------------------
    def _on_frame(self, stream: KernelStream, frame: Any) -> None:
        self._slot.put(frame)
        with self._queue_lock:
            queues = list(self._queues)
        for queue in queues:
            queue.put(frame)
        if self._recorders:
            now = time.monotonic()
            for rec in self._active_recorders():
                rec.push_video(frame, now)

    def _on_audio(self, stream: KernelStream, frame: Any) -> None:
        self._audio_buf.put(frame)
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

    def _on_error(self, err: str) -> None:
        exc = self._current_error() or StreamError(err)
        self._slot.fail_waiters(exc)
        self._audio_buf.fail_waiters(exc)

    def _closed_cleanup(self) -> None:
        closed = StreamClosedError(f"the {type(self).__name__} was closed")
        self._slot.fail_waiters(closed)
        self._audio_buf.fail_waiters(closed)
        with self._queue_lock:
            queues = list(self._queues)
        for queue in queues:
            queue.close(FramesEnded())
        for rec in list(self._recorders):
            rec._on_source_closed()
        self._recorders.clear()

    # --- frame iterators ----------------------------------------------------------------------
    def _attach_queue(self, maxsize: int) -> FrameQueue:
        queue = FrameQueue(maxsize)
        with self._queue_lock:
            self._queues.add(queue)
        return queue

    def _detach_queue(self, queue: FrameQueue) -> None:
        with self._queue_lock:
            if queue in self._queues:
                self._queues.discard(queue)
                self._dropped_done += queue.dropped

    def _timeout_error(self, timeout: float) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"no frame arrived within {timeout} s (state is {self.state!r}{self._detail()}"
            f"{'; error: ' + self.error if self.error else ''})"
        )

    # --- recording -----------------------------------------------------------------------------
    def record(
        self,
        path: str | os.PathLike[str],
        seconds: float | None = None,
        *,
        audio: bool | None = None,
    ) -> Recorder:
        """Record what arrives from now on to ``path`` (.mp4, .webm or .mkv).

        Returns a :class:`Recorder` at once; it stops after ``seconds`` (or at
        ``rec.stop()``, or when the widget closes, or at kernel exit) and the file is then
        finalized and playable. ``audio`` defaults to whether this widget receives sound.
        ``rec.frames`` counts the video frames written: every frame received while
        recording unless the encoder fell behind (then ``rec.dropped`` says how many).
        """
        from .recorder import Recorder

        self._raise_if_unusable()
        has_video = self._has_video()
        want_audio = self._has_audio() if audio is None else bool(audio)
        if want_audio and not self._has_audio():
            raise ValueError(
                f"this {type(self).__name__} receives no sound; make it with audio=True "
                "or record with audio=False"
            )
        rec = Recorder(path, video=has_video, audio=want_audio, seconds=seconds)
        self._recorders = [*self._recorders, rec]
        return rec

    def _has_video(self) -> bool:
        return False

    def _has_audio(self) -> bool:
        return False


class VideoMethods:
    """Video calls of a ReceiverWidget (Camera, ScreenShare)."""

    _slot: FrameSlot

    # --- counters ---------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        """Frames received from the browser since the widget was created."""
        return self._slot.count

    @property
    def fps(self) -> float:
        """Frames per second received over the last two seconds."""
        return self._slot.fps()

    @property
    def dropped(self) -> int:
        """Frames that arrived while a ``frames()``/``capture()`` consumer was busy and
        were skipped (newest-frame-wins) or pushed out of a full queue."""
        with self._queue_lock:  # type: ignore[attr-defined]
            live = sum(q.dropped for q in self._queues)  # type: ignore[attr-defined]
            return self._dropped_done + live  # type: ignore[attr-defined]

    @property
    def latest_frame(self) -> np.ndarray | None:
        """The newest frame as an (H, W, 3) RGB uint8 array, or None before the first."""
        frame = self._slot.frame
        return None if frame is None else _to_ndarray(frame, "rgb24")

    @property
    def latest_video_frame(self) -> Any:
        """The newest frame as an ``av.VideoFrame`` (None before the first)."""
        return self._slot.frame

    # --- snapshots --------------------------------------------------------------------------
    def _frame_future(
        self, call: str, acall: str, blocking: bool
    ) -> concurrent.futures.Future[Any]:
        self._raise_if_unusable()  # type: ignore[attr-defined]
        fut = self._slot.next_frame()
        if not fut.done() and blocking and self._blocking_would_deadlock():  # type: ignore[attr-defined]
            self._slot.discard(fut)
            latest = self._slot.frame
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
            self._slot.discard(fut)
            raise self._timeout_error(timeout) from None  # type: ignore[attr-defined]
        return _to_ndarray(frame, format)

    async def snapshot_async(self, timeout: float = 10.0, format: str = "rgb24") -> np.ndarray:
        """Awaitable twin of :meth:`snapshot`."""
        check_format(format)
        fut = self._frame_future("snapshot()", "cam.snapshot_async()", blocking=False)
        try:
            frame = await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            self._slot.discard(fut)
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
        q = self._attach_queue(maxsize)  # type: ignore[attr-defined]
        feed = FrameFeed(
            closed=lambda: bool(self._closed),  # type: ignore[attr-defined]
            detach=self._detach_queue,  # type: ignore[attr-defined]
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
    """Audio calls of a ReceiverWidget (Microphone, Camera(audio=True))."""

    _audio_buf: AudioBuffer

    def _need_audio(self) -> None:
        if not self._has_audio():  # type: ignore[attr-defined]
            raise StreamError(
                f"this {type(self).__name__} receives no sound; make it with audio=True"
            )
        self._raise_if_unusable()  # type: ignore[attr-defined]

    @property
    def sample_rate(self) -> int:
        """Sample rate (Hz) of the received audio; 0 before the first audio frame."""
        return self._audio_buf.sample_rate

    @property
    def audio_channels(self) -> int:
        """Channels of the received audio (1 mono, 2 stereo); 0 before the first frame."""
        return self._audio_buf.channels

    @property
    def audio_frame_count(self) -> int:
        """Audio frames (20 ms each from Chromium) received so far."""
        return self._audio_buf.frames

    @property
    def level(self) -> float:
        """Loudness of the last 100 ms in dBFS (0 is full scale; -inf is silence)."""
        return self._audio_buf.level()

    def latest_audio(self, seconds: float = 1.0) -> AudioArray:
        """The newest ``seconds`` of received audio (up to 10 s kept), float32
        ``(channels, samples)`` with ``.sample_rate``; shorter when less has arrived."""
        seconds = _positive("seconds", seconds)
        return self._audio_buf.latest(seconds)

    def capture_audio(self, seconds: float = 2.0, timeout: float | None = None) -> AudioArray:
        """Record the next ``seconds`` of sound: float32 ``(channels, samples)`` in [-1, 1]
        with ``.sample_rate`` and ``.layout``. Waits up to ``timeout`` (default
        ``seconds + 10``)."""
        seconds = _positive("seconds", seconds)
        timeout = seconds + 10.0 if timeout is None else _positive("timeout", timeout)
        self._need_audio()
        fut = self._audio_buf.capture(seconds)
        no_audio = self._audio_buf.frames == 0
        if no_audio and self._blocking_would_deadlock():  # type: ignore[attr-defined]
            self._audio_buf.discard(fut)
            raise self._no_stream_error("capture_audio()", "capture_audio_async()")  # type: ignore[attr-defined]
        try:
            return fut.result(timeout).array()
        except concurrent.futures.TimeoutError:
            self._audio_buf.discard(fut)
            raise self._audio_timeout(seconds, timeout) from None

    async def capture_audio_async(
        self, seconds: float = 2.0, timeout: float | None = None
    ) -> AudioArray:
        """Awaitable twin of :meth:`capture_audio`."""
        seconds = _positive("seconds", seconds)
        timeout = seconds + 10.0 if timeout is None else _positive("timeout", timeout)
        self._need_audio()
        fut = self._audio_buf.capture(seconds)
        try:
            captured = await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            self._audio_buf.discard(fut)
            raise self._audio_timeout(seconds, timeout) from None
        return captured.array()

    #: the name before the ``*_async`` rule (kept)
    acapture_audio = capture_audio_async

    def _audio_timeout(self, seconds: float, timeout: float) -> StreamTimeoutError:
        got = "no audio has arrived yet" if not self._audio_buf.frames else "audio stopped"
        return StreamTimeoutError(
            f"{seconds} s of audio did not arrive within {timeout} s ({got}; state is "
            f"{self.state!r}{self._detail()})"  # type: ignore[attr-defined]
        )
