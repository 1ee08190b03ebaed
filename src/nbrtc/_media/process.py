"""Live processing: ``cam.process(fn)`` sends ``fn(frame)`` back to the browser.

Threads: the media loop offers each stream's decoded frames to that stream's
:class:`ProcessedTrack` (never blocking). The track hands a frame to ONE worker thread
owned by the :class:`Processor` as soon as it arrives if the worker has nothing of this
track's, where the user's function and every conversion run; the result comes back to
the media loop (a future's callback, no polling) and waits for aiortc's sender, which
takes it in ``recv``. So the function of frame N+1 runs while frame N is encoded.

Newest frame wins only when the worker is really busy: a frame that arrives while the
previous one is still in the function waits in a slot of one, and a newer arrival
replaces it (counted in ``dropped``); a function slower than the camera thus skips
frames and latency never grows. A function faster than the frame interval skips none.
Processed frames keep the source frame's timestamps and leave as soon as they are done.
When no function is set the track yields nothing, no RTP is sent, and the browser shows
its own preview. Nothing is processed for a track before its consumer (the sender)
first asks for a frame.

Nothing the function does can end the stream: what it returns is checked in the worker
(:func:`_to_output`: type, dtype, shape, size limits) BEFORE it reaches the sender's
encoder, because an encoder that fails to open ends aiortc's sender for good. A rejected
result, like an exception, is reported in ``process_error`` and that frame goes out
unprocessed. The worker is a daemon thread (see _worker.py): a function that never
returns cannot keep the kernel from exiting.

Conversions (worker thread): the camera's yuv420p frame becomes the function's array with
one swscale pass (~0.2 ms at 640x480; the array is a view of the converted frame). A
colour result equal to that array (the function only looked, or drew nothing this time)
sends the camera's own frame: no conversion back and no rounding loss, for the price of
a copy into a reused buffer and one ``memcmp`` (~0.05 ms). Any other uint8 array whose
rows are contiguous is wrapped without a copy and converted back to yuv420p (~1 ms).
``format="av"`` skips the conversions: the function gets (a private copy of) the decoded
frame and may return a yuv420p frame, which goes to the encoder as it is.

Sending (``sender_view``): the camera's own frame (unchanged, or let through after an
error) goes back to a WebRTC page as the camera encoded it, without encoding it again,
wherever VP8 decoding allows (passthrough.py); everything else is encoded by aiortc.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .frames import check_format, reformat, to_ndarray
from .passthrough import SenderView
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
#: processed frames that may wait for the sender (one being encoded, these queued): two
#: absorb a burst of two camera frames (a browser's jitter buffer releases them so)
#: without a skip; a sender that stalls beyond that skips the oldest (newest wins).
MAX_READY = 2


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
        #: processed frames sent back as the camera encoded them (passthrough.py)
        self.forwarded = 0
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

    def _forwarded(self) -> None:
        self.forwarded += 1

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

        Never raises: the track waiting for this result must survive whatever ``fn`` does
        (even ``sys.exit()``, which would otherwise end the media loop)."""
        arg = to_ndarray(frame, fmt)  # private to this thread (see _frames.reformat)
        before = _snapshot(arg, frame, fmt)
        t0 = time.perf_counter()
        try:
            result = fn(arg)
            elapsed = time.perf_counter() - t0
            value = arg if result is None else result
            # the camera's own frame when fn changed nothing: no conversion back, no loss
            out = frame if _unchanged(before, value) else _to_output(value, fmt)
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


#: the worker thread's own snapshot buffer (reused frame after frame: a fresh 0.9 MB array
#: per frame cost an allocation and its page faults); per thread because a replaced
#: worker may still finish its last call while the new one starts
_local = threading.local()


def _load_memcmp() -> Callable[[int, int, int], int] | None:
    """The C library's ``memcmp`` (None where ctypes cannot reach it, e.g. Windows)."""
    try:
        fn = ctypes.CDLL(None).memcmp
    except Exception:  # no C library by that name on this platform: numpy compares
        return None
    fn.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    fn.restype = ctypes.c_int
    return fn


_memcmp = _load_memcmp()


def _snapshot(arg: Any, frame: Any, fmt: str) -> np.ndarray | None:
    """A copy of the colour array handed to the function (~0.03 ms at 640x480) in this
    thread's buffer, to tell afterwards whether it returned that image unchanged; None
    where the camera's frame could not stand for an unchanged result (gray asks for a
    gray picture; odd sizes are cropped for the encoders). Worker thread."""
    if fmt not in ("rgb24", "bgr24") or frame.width % 2 or frame.height % 2:
        return None
    buf = getattr(_local, "before", None)
    if buf is None or buf.shape != arg.shape or buf.dtype != arg.dtype:
        buf = _local.before = np.empty(arg.shape, arg.dtype)
    np.copyto(buf, arg)
    return buf


def _unchanged(before: np.ndarray | None, value: Any) -> bool:
    """Whether ``value`` is the image in ``before`` (same shape, dtype and bytes).

    One ``memcmp`` when both are contiguous (~0.03 ms at 640x480 and it stops at the first
    difference, against ~1 ms to convert the result back to yuv420p; ctypes lets other
    threads run meanwhile), numpy's comparison otherwise."""
    if (
        before is None
        or not isinstance(value, np.ndarray)
        or value.shape != before.shape
        or value.dtype != before.dtype
    ):
        return False
    if _memcmp is not None and value.flags.c_contiguous and before.flags.c_contiguous:
        return _memcmp(value.ctypes.data, before.ctypes.data, value.nbytes) == 0
    return bool(np.array_equal(value, before))


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
    return reformat(_wrap(value[:h, :w], src), "yuv420p")


def _wrap(value: np.ndarray, src: str) -> Any:
    """An ``av.VideoFrame`` over ``value``'s own memory when its rows are contiguous and
    aligned as swscale's SIMD code wants them (16 bytes; what numpy and PyAV allocate at
    common widths), else over an aligned copy (as before: a view with steps, an odd width).

    The frame lives only until it is converted to yuv420p, right after, on this thread."""
    import av

    rows_ok = value.strides[1:] == ((3, 1) if value.ndim == 3 else (1,))
    stride = value.strides[0]
    if rows_ok and stride > 0 and stride % 16 == 0 and value.ctypes.data % 16 == 0:
        return av.VideoFrame.from_numpy_buffer(value, format=src)
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(value), format=src)


class ProcessedTrack(MediaStreamTrack):
    """What the kernel sends back on one camera stream: processed frames, or nothing.

    Media loop only (``_put``, ``recv``, the job callbacks); ``stop`` from any thread that
    may touch aiortc objects (the media loop in practice)."""

    kind = "video"

    def __init__(self, processor: Processor, stream_id: str) -> None:
        super().__init__()
        self._processor = processor
        self.stream_id = stream_id
        #: the newest frame waiting for the worker (only while one of ours is in it)
        self._pending: Any = None
        #: a frame of this track is in the worker (submitted, not back yet)
        self._busy = False
        #: the consumer asked for a frame at least once: from then on frames are processed
        #: as they arrive (before, a sender that never starts would cost CPU for nothing)
        self._pulled = False
        #: processed frames the consumer has not taken yet, oldest first
        self._ready: deque[Any] = deque()
        self._event = asyncio.Event()
        #: what senders read of this track (``sender_view``): stopped with it
        self._views: list[SenderView] = []

    def _put(self, frame: Any) -> bool:
        """Process ``frame`` now if the worker has nothing of ours, else keep it as the next
        one; True when it replaced a frame that was still waiting (a skipped frame)."""
        if self._busy or not self._pulled:
            replaced = self._pending is not None
            self._pending = frame
            return replaced
        self._start(frame)
        return False

    def _start(self, frame: Any) -> None:
        job = self._processor._submit(frame)
        if job is None:  # not processing (any more): the frame is not wanted
            return
        self._busy = True
        loop = asyncio.get_running_loop()

        def back(job: concurrent.futures.Future[Any]) -> None:
            # One call_soon_threadsafe from the worker (asyncio.wrap_future would chain an
            # asyncio future to the job: two more futures and callbacks per frame).
            if not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # closed meanwhile: nobody waits
                    loop.call_soon_threadsafe(self._done, job)

        job.add_done_callback(back)

    def _done(self, job: concurrent.futures.Future[Any]) -> None:
        """A frame of ours is back from the worker (media loop): queue it for the
        consumer, hand it to the taps, and start the frame that waited meanwhile."""
        self._busy = False
        if job.cancelled():  # process(None) dropped it before it ran
            self._pending = None
        elif job.exception() is not None:  # a bug of ours (``_run`` never raises): skip it
            log.error(
                "nbrtc: processing a frame failed; the frame is skipped", exc_info=job.exception()
            )
        elif self.readyState == "live":
            out = job.result()
            if len(self._ready) >= MAX_READY:  # the consumer stalled: newest wins here too
                self._ready.popleft()
                self._processor.dropped += 1
            self._ready.append(out)
            self._event.set()
            self._processor._emit(self.stream_id, out)
        frame, self._pending = self._pending, None
        if frame is not None and self.readyState == "live":
            self._start(frame)

    def sender_view(self, transceiver: Any) -> MediaStreamTrack:
        """The track ``transceiver``'s sender should read instead of this one: the same
        frames, the unchanged ones as the camera encoded them (passthrough.py)."""
        view = SenderView(self, transceiver, self._processor._forwarded)
        self._views.append(view)
        return view

    async def recv(self) -> Any:
        if not self._pulled:
            self._pulled = True
            frame, self._pending = self._pending, None
            if frame is not None and not self._busy:
                self._start(frame)
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._ready:
                return self._ready.popleft()
            self._event.clear()
            await self._event.wait()

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._event.set()
        self._pending = None
        self._ready.clear()
        for view in self._views:  # their keyframe requests in flight end too
            view.stop()
        self._views.clear()
        self._processor._forget(self)


def check_process_format(fmt: str) -> str:
    """The frame format ``process(fn, format=...)`` hands to ``fn``."""
    return check_format(fmt, allow_av=True)
