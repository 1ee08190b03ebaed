"""Fan-out of one producer track to many consumers, newest frame wins for each.

Unlike aiortc's ``MediaRelay``, the producer is read only while someone is subscribed:
when the last subscriber stops, the reader task is cancelled and ``on_idle`` releases the
producer (stops a decoder thread, closes a file). Media-loop only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .frames import reformat

log = logging.getLogger("nbrtc")


def _to_yuv420p(frame: Any) -> Any:
    converted = reformat(frame, "yuv420p")
    converted.pts, converted.time_base = frame.pts, frame.time_base
    return converted


#: audio frames (20 ms each) a subscriber may hold before the oldest is dropped
AUDIO_BACKLOG = 25


class SubscriberTrack(MediaStreamTrack):
    """What one consumer (one kernel peer) sends.

    Video: the newest frame of the producer (a slow encoder skips frames, never lags).
    Audio: every frame in order, up to AUDIO_BACKLOG (skipping audio would click).
    """

    def __init__(self, fanout: Fanout, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._fanout = fanout
        self._frames: deque[Any] = deque(maxlen=1 if kind == "video" else AUDIO_BACKLOG)
        self._ended = False
        self._event = asyncio.Event()

    def _push(self, frame: Any) -> None:
        if frame is None:
            self._ended = True
        else:
            self._frames.append(frame)
        self._event.set()

    async def recv(self) -> Any:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._frames:
                return self._frames.popleft()
            if self._ended:
                self.stop()
                raise MediaStreamError
            await self._event.wait()
            self._event.clear()

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._fanout.remove(self)


class Fanout:
    """One reader task copying ``producer.recv()`` results to every subscriber."""

    def __init__(self, producer: MediaStreamTrack, on_idle: Callable[[], None]) -> None:
        self.producer = producer
        self._on_idle = on_idle
        self._subs: set[SubscriberTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self._idle = False
        self.frames = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def add(self) -> SubscriberTrack:
        if self._idle:
            raise RuntimeError("fan-out already released")
        sub = SubscriberTrack(self, self.producer.kind)
        self._subs.add(sub)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return sub

    def remove(self, sub: SubscriberTrack) -> None:
        self._subs.discard(sub)
        if not self._subs and not self._idle:
            self._idle = True
            if self._task is not None:
                self._task.cancel()
            self._on_idle()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await self.producer.recv()
                fmt = getattr(getattr(frame, "format", None), "name", "yuv420p")
                if self.producer.kind == "video" and fmt != "yuv420p":
                    # Convert once, here, for every subscriber. Otherwise each
                    # subscriber's VP8 encoder calls frame.reformat() on the SAME frame
                    # from its own codec thread; PyAV caches one swscale context per
                    # frame, and concurrent use of it deadlocks inside libswscale's slice
                    # threads (seen with two views of one source: the video stops, and
                    # the process cannot exit).
                    frame = await loop.run_in_executor(None, _to_yuv420p, frame)
            except MediaStreamError:
                frame = None
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken producer ends its subscribers, not the loop
                log.exception("video source failed")
                frame = None
            self.frames += frame is not None
            for sub in list(self._subs):
                sub._push(frame)
            if frame is None:
                return
