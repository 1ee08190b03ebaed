"""Received audio as numpy: a bounded buffer of the newest seconds plus captures.

The media thread calls :meth:`AudioBuffer.put` for every decoded frame (aiortc's Opus
decoder gives 20 ms of 48 kHz signed 16-bit audio per frame); it copies a few kilobytes
and never blocks. Conversion to float happens in the consumer's thread.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from collections import deque
from typing import Any, cast

import numpy as np

#: seconds of received audio kept for ``latest_audio``
KEEP_SECONDS = 10.0


class AudioArray(np.ndarray):
    """A float32 array shaped ``(channels, samples)`` in [-1, 1] that knows its rate.

    ``sample_rate`` (Hz) and ``layout`` (``"mono"``, ``"stereo"``...) travel with it;
    ``duration`` is in seconds. It is a plain numpy array otherwise.
    """

    sample_rate: int
    layout: str

    def __new__(cls, data: np.ndarray, sample_rate: int, layout: str) -> AudioArray:
        obj = np.asarray(data, dtype=np.float32).view(cls)
        obj.sample_rate = int(sample_rate)
        obj.layout = layout
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.sample_rate = getattr(obj, "sample_rate", 0)
        self.layout = getattr(obj, "layout", "")

    @property
    def duration(self) -> float:
        return self.shape[-1] / self.sample_rate if self.sample_rate else 0.0


def _planar_int16(frame: Any) -> np.ndarray:
    """(channels, samples) int16 from an av.AudioFrame (packed or planar s16)."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        return arr.reshape(channels, -1)
    return arr.reshape(-1, channels).T


class _Capture:
    """A pending ``capture``: int16 chunks as they arrive; converted by the consumer."""

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self.chunks: list[np.ndarray] = []
        self.have = 0
        self.sample_rate = 0
        self.layout = ""
        self.future: concurrent.futures.Future[_Capture] = concurrent.futures.Future()

    def array(self) -> AudioArray:
        """The captured audio as float32 (consumer's thread)."""
        return _to_float(self.chunks, self.sample_rate, self.layout, self.samples)


def _to_float(
    chunks: list[np.ndarray], rate: int, layout: str, samples: int | None = None
) -> AudioArray:
    channels = {"mono": 1, "stereo": 2}.get(layout, 0)
    joined = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.int16)
    if samples is not None:
        joined = joined[:, :samples]
    return AudioArray(joined.astype(np.float32) / 32768.0, rate, layout)


class AudioBuffer:
    """The newest ``KEEP_SECONDS`` of one widget's received audio. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: deque[np.ndarray] = deque()
        self._kept = 0
        self._captures: list[_Capture] = []
        self.sample_rate = 0
        self.layout = ""
        self.frames = 0
        self.samples = 0
        self.last_at = 0.0

    @property
    def channels(self) -> int:
        return {"mono": 1, "stereo": 2}.get(self.layout, 0)

    def put(self, frame: Any) -> None:
        """Store one decoded ``av.AudioFrame`` (media thread)."""
        data = _planar_int16(frame) if frame.format.name.startswith("s16") else None
        if data is None:  # another sample format: convert through PyAV once
            import av

            resampler = av.AudioResampler(format="s16", layout=frame.layout.name)
            data = np.concatenate([_planar_int16(f) for f in resampler.resample(frame)], axis=1)
        done: list[_Capture] = []
        with self._lock:
            if frame.sample_rate != self.sample_rate or frame.layout.name != self.layout:
                # a new format (first frame, or a renegotiated stream): old samples no
                # longer concatenate with new ones
                self._chunks.clear()
                self._kept = 0
                self.sample_rate, self.layout = frame.sample_rate, frame.layout.name
            self.frames += 1
            self.samples += data.shape[1]
            self.last_at = time.monotonic()
            self._chunks.append(data)
            self._kept += data.shape[1]
            limit = int(KEEP_SECONDS * self.sample_rate)
            while self._chunks and self._kept - self._chunks[0].shape[1] >= limit:
                self._kept -= self._chunks.popleft().shape[1]
            for cap in list(self._captures):
                cap.chunks.append(data)
                cap.have += data.shape[1]
                if cap.have >= cap.samples:
                    self._captures.remove(cap)
                    cap.sample_rate, cap.layout = self.sample_rate, self.layout
                    done.append(cap)
        for cap in done:
            if not cap.future.done():
                cap.future.set_result(cap)

    def capture(self, seconds: float) -> concurrent.futures.Future[_Capture]:
        """A future resolved once the next ``seconds`` of audio arrived; its result's
        ``array()`` converts them (call it in the consumer's thread)."""
        rate = self.sample_rate or 48_000
        cap = _Capture(max(1, round(seconds * rate)))
        with self._lock:
            self._captures.append(cap)
        return cap.future

    def discard(self, fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._captures = [c for c in self._captures if c.future is not fut]

    def fail_waiters(self, exc: BaseException) -> None:
        with self._lock:
            caps, self._captures = self._captures, []
        for cap in caps:
            if not cap.future.done():
                cap.future.set_exception(exc)

    def latest(self, seconds: float) -> AudioArray:
        """The newest ``seconds`` of audio (shorter if less has arrived)."""
        with self._lock:
            rate, layout = self.sample_rate, self.layout
            want = round(seconds * rate) if rate else 0
            chunks: list[np.ndarray] = []
            have = 0
            for chunk in reversed(self._chunks):  # only the chunks the window needs
                if want and have >= want:
                    break
                chunks.append(chunk)
                have += chunk.shape[1]
        arr = _to_float(chunks[::-1], rate, layout)
        # A slice of an AudioArray is an AudioArray (numpy keeps the subclass and
        # __array_finalize__ copies rate and layout); numpy's stubs say plain ndarray.
        return cast(AudioArray, arr[:, -want:]) if want and arr.shape[1] > want else arr

    def level(self, window: float = 0.1) -> float:
        """RMS level of the newest ``window`` seconds in dBFS (-inf when silent or none)."""
        arr = self.latest(window)
        if arr.size == 0:
            return -math.inf
        rms = float(np.sqrt(np.mean(np.square(arr, dtype=np.float64))))
        return 20 * math.log10(rms) if rms > 0 else -math.inf
