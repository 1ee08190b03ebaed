"""Live processing: ``cam.process(fn)`` sends ``fn(frame)`` back to the browser.

Threads: the media loop feeds each stream's newest decoded frame to that stream's
:class:`ProcessedTrack` (never blocking). The track's ``recv`` (awaited by aiortc's
sender on the media loop) hands the frame to ONE worker thread owned by the
:class:`Processor`, where the user's function and every conversion run. Newest frame
wins: a function slower than the camera skips frames (counted), so latency never grows.
When no function is set the track yields nothing, no RTP is sent, and the browser shows
its own preview.

Nothing the function does can end the stream: what it returns is checked in the worker
(:func:`_to_output`: type, dtype, shape, size limits) BEFORE it reaches the sender's
encoder, because an encoder that fails to open ends aiortc's sender for good. A rejected
result, like an exception, is reported in ``process_error`` and that frame goes out
unprocessed. The worker is a daemon thread (see _worker.py): a function that never
returns cannot keep the kernel from exiting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .frames import check_format, reformat, to_ndarray
from .worker import Worker, _tame

log = logging.getLogger("nbrtc")

ProcessFn = Callable[[Any], Any]
#: ``tap(stream_id, frame)``: see Processor.add_tap
Tap = Callable[[str, Any], None]

#: The largest image ``process`` may send, per side and in all (4096 x 2160, "4K"), in
#: pixels. Measured with aiortc's encoders: libvpx (VP8) fails to open at 16384 pixels on
#: a side (so a 16x20000 result used to end the sender), libx264 takes more; a first
#: 4096x4096 VP8 frame already takes ~1.8 s to encode. Smallest: 2x2.
MAX_SIDE = 4096
MAX_PIXELS = 4096 * 2160


class BadOutput(ValueError):
    """What the processing function returned cannot be sent (the text says why)."""


class Processor:
    """The camera's processing function, its worker thread, its errors and timings.

    ``set`` and the properties are safe from any thread. ``on_change(processing, error)``
    is called (from the caller's or the worker thread) when either value changes.
    """

    def __init__(self, on_change: Callable[[bool, str], None]) -> None:
        self._on_change = on_change
        self._lock = threading.Lock()
        self._fn: ProcessFn | None = None
        self._fmt = "rgb24"
        self._pool: Worker | None = None
        self._tracks: dict[str, ProcessedTrack] = {}
        #: who else wants what the camera sends (``sources.camera``): media loop only
        self._taps: list[Tap] = []
        self._times: deque[float] = deque(maxlen=90)
        self.frames = 0
        self.errors = 0
        self.dropped = 0
        self.error = ""

    # --- user side (any thread) -------------------------------------------------------------
    def set(self, fn: ProcessFn | None, fmt: str) -> None:
        """Use ``fn`` from the next frame on (None: stop processing)."""
        old_pool = None
        with self._lock:
            self._fn = fn
            self._fmt = fmt
            self.error = ""
            self._times.clear()
            if fn is None:
                old_pool, self._pool = self._pool, None
            elif self._pool is None:
                self._pool = Worker("nbrtc-process")
        if old_pool is not None:
            # The running call (if any) finishes; its result is still sent. The thread exits.
            old_pool.shutdown()
        self._on_change(fn is not None, "")

    @property
    def active(self) -> bool:
        return self._fn is not None

    def ms(self) -> float | None:
        """Median milliseconds per call of the function over the recent frames."""
        with self._lock:
            times = list(self._times)
        return round(statistics.median(times) * 1000, 3) if times else None

    def close(self) -> None:
        """Stop processing and end every stream's track (idempotent)."""
        self.set(None, self._fmt)
        for track in list(self._tracks.values()):
            track.stop()

    # --- media loop ---------------------------------------------------------------------------
    def track_for(self, stream_id: str) -> ProcessedTrack:
        """The video track the kernel sends on ``stream_id`` (made at negotiation)."""
        track = ProcessedTrack(self, stream_id)
        self._tracks[stream_id] = track
        return track

    def feed(self, stream_id: str, frame: Any) -> None:
        """A camera frame arrived on ``stream_id``: offer it to that stream's track (and,
        while nothing processes, to the taps as it is)."""
        track = self._tracks.get(stream_id)
        if self._fn is None or track is None:
            self._emit(stream_id, frame)
        elif track._put(frame):
            self.dropped += 1

    def add_tap(self, tap: Tap) -> None:
        """Call ``tap(stream_id, frame)`` with every frame the camera sends: the processed
        ones while ``process(fn)`` is set, the camera's own otherwise. Media loop; ``tap``
        must not block (it runs on the media loop) and must not change the frame."""
        self._taps.append(tap)

    def remove_tap(self, tap: Tap) -> None:
        with contextlib.suppress(ValueError):
            self._taps.remove(tap)

    def _emit(self, stream_id: str, frame: Any) -> None:
        for tap in list(self._taps):
            try:
                tap(stream_id, frame)
            except Exception:  # a broken tap ends its own source, not the camera
                log.exception("nbrtc: a camera source failed to take a frame")

    def _forget(self, track: ProcessedTrack) -> None:
        if self._tracks.get(track.stream_id) is track:
            del self._tracks[track.stream_id]

    def _submit(self, frame: Any) -> concurrent.futures.Future[Any] | None:
        """Run the function on ``frame`` in the worker (None when not processing)."""
        with self._lock:
            fn, fmt, pool = self._fn, self._fmt, self._pool
            if fn is None or pool is None:
                return None
            try:
                return pool.submit(self._run, fn, fmt, frame)
            except RuntimeError:  # shut down by a concurrent set(None)
                return None

    # --- worker thread ------------------------------------------------------------------------
    def _run(self, fn: ProcessFn, fmt: str, frame: Any) -> Any:
        """``fn`` on one frame; on any failure the frame passes through unprocessed.

        Never raises: the sender awaiting this result must survive whatever ``fn`` does
        (even ``sys.exit()``, which would otherwise end the media loop)."""
        arg = to_ndarray(frame, fmt)  # private to this thread (see _frames.reformat)
        t0 = time.perf_counter()
        try:
            result = fn(arg)
            elapsed = time.perf_counter() - t0
            out = _to_output(arg if result is None else result, fmt)
        except BaseException as exc:  # user code: report, never propagate
            self._failed(fn, _tame(exc))
            return frame
        with self._lock:
            self._times.append(elapsed)
            self.frames += 1
        out.pts, out.time_base = frame.pts, frame.time_base
        return out

    def _failed(self, fn: ProcessFn, exc: BaseException) -> None:
        if isinstance(exc, BadOutput):
            text = f"process() result not sent: {exc}"
        else:
            text = f"process() function failed: {type(exc).__name__}: {exc}"
        with self._lock:
            if fn is not self._fn:  # swapped meanwhile: the new function starts clean
                return
            self.errors += 1
            changed = text != self.error
            self.error = text
        if changed:
            log.warning("nbrtc: %s (frames pass through unprocessed)", text)
            self._on_change(True, text)


def _check_size(width: int, height: int, what: str) -> None:
    """Raise BadOutput unless a ``width`` x ``height`` image can be encoded and sent."""
    if width < 2 or height < 2:
        raise BadOutput(f"it returned {what}; the smallest image nbrtc sends is 2x2 pixels")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise BadOutput(
            f"it returned {what}, {width}x{height} pixels (width x height); the largest "
            f"nbrtc sends is {MAX_SIDE} pixels per side and {MAX_PIXELS:,} pixels in all "
            "(4096x2160): scale or crop it"
        )


def _to_output(value: Any, fmt: str) -> Any:
    """An encoder-ready (yuv420p) frame from what the user's function returned.

    Raises BadOutput (or TypeError for a wrong dtype or type) saying what was wrong and
    what to return instead. Odd sizes are cropped by one pixel (encoders need even ones).
    """
    import av

    if isinstance(value, av.VideoFrame):
        _check_size(value.width, value.height, f"an av.VideoFrame of {value.width}x{value.height}")
        w, h = value.width // 2 * 2, value.height // 2 * 2
        if (w, h) != (value.width, value.height):
            return reformat(value, "yuv420p", w, h)
        return reformat(value, "yuv420p")
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"it returned {type(value).__name__}; return a numpy uint8 array shaped like its "
            "input (or an av.VideoFrame, or None after changing the array in place)"
        )
    if value.dtype != np.uint8:
        raise TypeError(
            f"it returned a {value.dtype} array; return uint8 "
            "(e.g. np.clip(result, 0, 255).astype(np.uint8))"
        )
    if value.ndim == 2:
        src = "gray"
    elif value.ndim == 3 and value.shape[2] == 3:
        src = "bgr24" if fmt == "bgr24" else "rgb24"
    else:
        raise BadOutput(
            f"it returned an array of shape {value.shape}; return (H, W, 3) colour or (H, W) gray"
        )
    _check_size(value.shape[1], value.shape[0], f"an array of shape {value.shape}")
    h, w = value.shape[0] // 2 * 2, value.shape[1] // 2 * 2  # encoders need even sizes
    value = np.ascontiguousarray(value[:h, :w])
    return reformat(av.VideoFrame.from_ndarray(value, format=src), "yuv420p")


class ProcessedTrack(MediaStreamTrack):
    """What the kernel sends back on one camera stream: processed frames, or nothing."""

    kind = "video"

    def __init__(self, processor: Processor, stream_id: str) -> None:
        super().__init__()
        self._processor = processor
        self.stream_id = stream_id
        self._frame: Any = None
        self._event = asyncio.Event()

    def _put(self, frame: Any) -> bool:
        """Keep ``frame`` as the next to process; True when it replaced an unprocessed one."""
        replaced = self._frame is not None
        self._frame = frame
        self._event.set()
        return replaced

    async def recv(self) -> Any:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._event.wait()
            self._event.clear()
            frame, self._frame = self._frame, None
            if frame is None:
                continue
            job = self._processor._submit(frame)
            if job is None:
                continue
            try:
                out = await asyncio.wrap_future(job)
                self._processor._emit(self.stream_id, out)
                return out
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if job.cancelled() and task is not None and not _cancelling(task):
                    continue  # process(None) dropped the queued job; not our cancellation
                raise
            except Exception:  # a bug of ours: the sender would end for good; skip the frame
                log.exception("nbrtc: processing a frame failed; the frame is skipped")

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._event.set()
        self._processor._forget(self)


def _cancelling(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` itself was asked to cancel. ``Task.cancelling()`` is new in
    Python 3.11; 3.10 cannot tell a cancelled job from a cancelled task, so there every
    cancellation counts as the task's own (the safe side: the track ends, never hangs)."""
    if sys.version_info >= (3, 11):
        return task.cancelling() > 0
    return True


def check_process_format(fmt: str) -> str:
    """The frame format ``process(fn, format=...)`` hands to ``fn``."""
    return check_format(fmt, allow_av=True)
