"""Newest-frame-wins delivery of decoded video frames to Python.

The media thread calls :meth:`FrameSlot.put` for every decoded frame; it only swaps a
reference, so a slow or absent consumer never makes latency or memory grow. Conversion to
numpy happens in the consumer's thread, never on the media loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FORMATS = {"rgb24": "rgb24", "rgb": "rgb24", "bgr24": "bgr24", "bgr": "bgr24", "gray": "gray"}
#: ``format="av"`` hands over the decoded ``av.VideoFrame`` itself
AV = "av"


def check_format(fmt: str, allow_av: bool = False) -> str:
    """Return PyAV's name for ``fmt`` (or ``"av"``) or raise a ValueError naming the choices."""
    if allow_av and fmt == AV:
        return AV
    try:
        return FORMATS[fmt]
    except (KeyError, TypeError):
        extra = " or 'av' (the av.VideoFrame itself)" if allow_av else ""
        raise ValueError(
            f"format={fmt!r} is not supported; use 'rgb24' (default), 'bgr24', 'gray'{extra}"
        ) from None


def check_size(size: Any) -> tuple[int, int] | None:
    """``None`` or a validated ``(width, height)`` of positive even ints."""
    if size is None:
        return None
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise ValueError(f"size must be (width, height) in pixels, e.g. (320, 240); got {size!r}")
    return int(size[0]), int(size[1])


_local = threading.local()


def reformat(
    frame: Any, fmt: str | None = None, width: int | None = None, height: int | None = None
) -> Any:
    """``frame`` converted with this thread's own swscale context.

    Never ``frame.reformat()`` / ``frame.to_ndarray(format=...)`` on a frame that other
    threads may also convert (a camera frame goes to snapshots, iterators, the processing
    thread and recorders at once): PyAV caches ONE swscale context per frame, and two
    threads using it at the same time deadlock inside libswscale (seen: a processing
    function and a resizing ``frames_async()`` loop froze the kernel). Returns ``frame``
    itself when nothing changes.

    One slice thread (``threads=1``): PyAV >= 17 defaults to one swscale thread per CPU for
    every context. A conversion is small (~1 ms at 640x480) and runs on a worker thread
    that is already one of many, so extra threads only add CPU and hand-offs; and the
    fresh per-frame contexts that ``frame.reformat()`` made (a new thread pool per frame)
    were where kernels running 16 test-pattern feeds on a saturated machine crashed inside
    libswscale.
    """
    reformatter = getattr(_local, "reformatter", None)
    if reformatter is None:
        from av.video.reformatter import VideoReformatter

        reformatter = _local.reformatter = VideoReformatter()
    return reformatter.reformat(frame, width=width, height=height, format=fmt, threads=1)


def private_copy(frame: Any) -> Any:
    """A copy of ``frame`` that the caller alone owns (same format, size and pts)."""
    import av

    same = reformat(frame)  # no conversion: only planes are copied below
    copy = av.VideoFrame.from_ndarray(same.to_ndarray(), format=frame.format.name)
    copy.pts = frame.pts
    if frame.time_base is not None:
        copy.time_base = frame.time_base
    return copy


def to_ndarray(frame: Any, fmt: str = "rgb24", size: tuple[int, int] | None = None) -> Any:
    """Convert a (possibly shared) ``av.VideoFrame``: (H, W, 3) uint8 for rgb24/bgr24,
    (H, W) for gray, or a private ``av.VideoFrame`` for ``"av"``; resized to
    ``size=(width, height)`` on the way. Any thread."""
    fmt = check_format(fmt, allow_av=True)
    width, height = size if size is not None else (None, None)
    if fmt == AV:
        out = reformat(frame, None, width, height)
        return private_copy(frame) if out is frame else out
    return reformat(frame, fmt, width, height).to_ndarray()


class FrameSlot:
    """Holds the newest frame and counts what passed through. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: Any = None
        self._count = 0
        self._times: deque[float] = deque(maxlen=90)
        self._waiters: list[tuple[int, concurrent.futures.Future[Any]]] = []

    def put(self, frame: Any) -> None:
        """Store ``frame`` as the newest one (called on the media thread)."""
        now = time.monotonic()
        with self._lock:
            self._frame = frame
            self._count += 1
            self._times.append(now)
            ready = [w for w in self._waiters if self._count > w[0]]
            self._waiters = [w for w in self._waiters if self._count <= w[0]]
        for _, fut in ready:
            if not fut.done():
                fut.set_result(frame)

    @property
    def count(self) -> int:
        return self._count

    @property
    def frame(self) -> Any:
        return self._frame

    def fps(self, window: float = 2.0) -> float:
        """Frames per second over the last ``window`` seconds (0.0 when idle)."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._times if now - t <= window]
        if len(times) < 2:
            return 0.0
        span = max(now - times[0], times[-1] - times[0])
        return (len(times) - 1) / span if span > 0 else 0.0

    def next_frame(self, after: int | None = None) -> concurrent.futures.Future[Any]:
        """A future resolved with the first frame whose number is greater than ``after``.

        ``after=None`` means "the newest frame, or the next one if there is none yet".
        """
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if after is None and self._frame is not None:
                fut.set_result(self._frame)
                return fut
            self._waiters.append((self._count if after is None else after, fut))
        return fut

    def fail_waiters(self, exc: BaseException) -> None:
        """Wake every waiter with ``exc`` (stream closed or failed)."""
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(exc)

    def discard(self, fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._waiters = [w for w in self._waiters if w[1] is not fut]

    def clear(self) -> None:
        with self._lock:
            self._frame = None


class FrameQueue:
    """Frames for one consumer (an iterator, a capture), bounded, oldest dropped first.

    ``maxsize=1`` is newest-frame-wins. The media thread calls :meth:`put`, which never
    blocks; a consumer that stops reading loses old frames (counted in ``dropped``) and
    never makes memory or latency grow. One consumer per queue; any thread.
    """

    def __init__(self, maxsize: int = 1) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._items: deque[Any] = deque()
        self._waiter: concurrent.futures.Future[None] | None = None
        self._closed: BaseException | None = None
        self.received = 0
        self.dropped = 0

    def put(self, frame: Any) -> None:
        """Append ``frame``; drop the oldest when full (media thread)."""
        with self._lock:
            if self._closed is not None:
                return
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(frame)
            self.received += 1
            waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self, exc: BaseException) -> None:
        """No more frames: a waiting consumer gets ``exc`` once the queue is empty."""
        with self._lock:
            if self._closed is None:
                self._closed = exc
            waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def poll(self) -> tuple[Any, concurrent.futures.Future[None] | None]:
        """``(frame, None)`` when one is queued, else ``(None, future)`` done when there
        may be one. Raises the close reason once closed and drained."""
        with self._lock:
            if self._items:
                return self._items.popleft(), None
            if self._closed is not None:
                raise self._closed
            if self._waiter is None or self._waiter.done():
                self._waiter = concurrent.futures.Future()
            return None, self._waiter

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class FramesEnded(Exception):
    """Closes a FrameQueue when its widget closed: iteration ends without an error."""


@dataclass(frozen=True)
class FrameFeed:
    """What a :class:`FrameIterator` asks of the widget it reads from (the seam between
    the media layer and the widgets: bound methods handed over by ``frames()``).

    Called on the consumer's thread (the thread iterating), never on the media loop.
    """

    #: the widget closed: iteration ends without an error
    closed: Callable[[], bool]
    #: stop delivering frames into this queue
    detach: Callable[[FrameQueue], None]
    #: raise the widget's failure (closed, camera refused, ICE failed...) in words
    raise_if_unusable: Callable[[], None]
    #: True when blocking here cannot succeed (inside the cell the page waits for)
    blocking_would_deadlock: Callable[[], bool]
    #: the error that says why, given the blocking call and its async twin's names
    no_stream_error: Callable[[str, str], Exception]
    #: the error for no frame within ``timeout`` seconds
    timeout_error: Callable[[float], Exception]


class FrameIterator:
    """What ``cam.frames()`` returns: iterate it with ``for`` or ``async for``.

    Each item is the next frame (converted in the consumer's thread, never on the media
    loop). With the default ``queue=None`` delivery is newest-frame-wins: frames that
    arrive while you work are skipped and counted in ``dropped``. ``queue=N`` keeps up to
    N frames (oldest dropped beyond that). Iteration ends after ``max_frames`` or when the
    widget closes; a failed stream raises its error; no frame for ``timeout`` seconds
    raises ``StreamTimeoutError``. ``close()`` (or leaving a ``with`` block, or breaking
    out of the loop and dropping the iterator) stops the delivery.
    """

    def __init__(
        self,
        feed: FrameFeed,
        queue: FrameQueue,
        *,
        max_frames: int | None,
        fmt: str,
        size: tuple[int, int] | None,
        timeout: float,
        call: str,
    ) -> None:
        self._feed = feed
        self._queue = queue
        self._max = max_frames
        self._fmt = fmt
        self._size = size
        self._timeout = timeout
        self._call = call
        self.count = 0

    @property
    def dropped(self) -> int:
        """Frames that arrived but were skipped (newest-frame-wins or a full queue)."""
        return self._queue.dropped

    @property
    def received(self) -> int:
        """Frames that arrived for this iterator."""
        return self._queue.received

    def __repr__(self) -> str:
        state = "ended" if self._queue.closed else "open"
        limit = "" if self._max is None else f"/{self._max}"
        return (
            f"<nbrtc frames {self._call}: {state}, {self.count}{limit} taken, "
            f"{self.dropped} dropped, format={self._fmt!r}>"
        )

    def close(self) -> None:
        """Stop delivering frames to this iterator (idempotent, any thread)."""
        if not self._queue.closed:
            self._queue.close(FramesEnded())
        self._feed.detach(self._queue)

    def __enter__(self) -> FrameIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _done(self) -> bool:
        if self._max is not None and self.count >= self._max:
            self.close()
            return True
        return False

    def _take(self, frame: Any) -> Any:
        self.count += 1
        return to_ndarray(frame, self._fmt, self._size)

    # --- sync ---------------------------------------------------------------------------
    def __iter__(self) -> FrameIterator:
        return self

    def __next__(self) -> Any:
        if self._done():
            raise StopIteration
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                frame, fut = self._queue.poll()
            except FramesEnded:
                raise StopIteration from None
            if frame is not None:
                return self._take(frame)
            if self._feed.closed():  # closed while we waited: the end, not an error
                self.close()
                raise StopIteration
            self._feed.raise_if_unusable()
            if self._feed.blocking_would_deadlock():
                raise self._feed.no_stream_error(
                    self._call, self._call.replace("frames()", "frames_async()")
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._feed.timeout_error(self._timeout)
            # short waits: a stream that fails or closes meanwhile is noticed promptly
            with contextlib.suppress(concurrent.futures.TimeoutError):
                fut.result(min(left, 0.25))  # type: ignore[union-attr]

    # --- async --------------------------------------------------------------------------
    def __aiter__(self) -> FrameIterator:
        return self

    async def __anext__(self) -> Any:
        if self._done():
            raise StopAsyncIteration
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                frame, fut = self._queue.poll()
            except FramesEnded:
                raise StopAsyncIteration from None
            if frame is not None:
                return self._take(frame)
            if self._feed.closed():
                self.close()
                raise StopAsyncIteration
            self._feed.raise_if_unusable()
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._feed.timeout_error(self._timeout)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.wrap_future(fut), min(left, 0.25))  # type: ignore[arg-type]
