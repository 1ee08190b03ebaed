"""Newest-frame-wins delivery of decoded video frames to Python.

The media thread calls :meth:`FrameSlot.put` for every decoded frame; it only swaps a
reference, so a slow or absent consumer never makes latency or memory grow. Conversion to
numpy happens in the consumer's thread, never on the media loop.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import deque
from typing import Any

import numpy as np

FORMATS = {"rgb24": "rgb24", "rgb": "rgb24", "bgr24": "bgr24", "bgr": "bgr24", "gray": "gray"}


def check_format(fmt: str) -> str:
    """Return PyAV's name for ``fmt`` or raise a ValueError naming the choices."""
    try:
        return FORMATS[fmt]
    except (KeyError, TypeError):
        raise ValueError(
            f"format={fmt!r} is not supported; use 'rgb24' (default), 'bgr24' or 'gray'"
        ) from None


def to_ndarray(frame: Any, fmt: str = "rgb24") -> np.ndarray:
    """Convert an ``av.VideoFrame`` to a uint8 array: (H, W, 3) for rgb24/bgr24, (H, W) gray."""
    return frame.to_ndarray(format=check_format(fmt))


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
