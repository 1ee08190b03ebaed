"""A camera as a source: what a ``Camera`` sends, for views in other cells and tabs and for
broadcasts (``janus.broadcast(cam)``).

The source taps the camera's :class:`~nbrtc._media.process.Processor`: while
``cam.process(fn)`` is set it carries fn's results (each computed once, for the camera's
own page and every tap alike), otherwise the camera's own decoded frames. Newest frame
wins, so a slow consumer skips frames instead of lagging.

A camera shown in several pages has one stream (one browser camera) per page; the source
follows one of them at a time: the first that sends, until it has sent nothing for
``FOLLOW_GAP`` seconds (its page closed or froze), then whichever sends next. Mixing
two pages' cameras frame by frame would flicker.

Threads: the tap and ``recv`` run on the media loop. The producer is made when the first
view or broadcast subscribes and released (its tap removed) when the last one goes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..sources import Source
from .process import Processor

#: seconds without a frame from the followed stream before another one is followed
FOLLOW_GAP = 1.0


class CameraTrack(MediaStreamTrack):
    """The producer: frames handed over by the processor's tap, newest wins."""

    kind = "video"

    def __init__(self, processor: Processor) -> None:
        super().__init__()
        self._processor = processor
        self._frame: Any = None
        self._event = asyncio.Event()
        self._stream: str | None = None
        self._heard = 0.0
        processor.add_tap(self._take)

    def _take(self, stream_id: str, frame: Any) -> None:
        """The processor's tap (media loop): keep ``frame`` if it is from the followed stream."""
        now = time.monotonic()
        if self._stream != stream_id:
            if self._stream is not None and now - self._heard < FOLLOW_GAP:
                return  # another page's camera while the followed one still sends
            self._stream = stream_id
        self._heard = now
        self._frame = frame
        self._event.set()

    async def recv(self) -> Any:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._event.wait()
            self._event.clear()
            frame, self._frame = self._frame, None
            if frame is not None:
                return frame  # shared with the camera's other consumers: never changed

    def stop(self) -> None:
        self._processor.remove_tap(self._take)
        if self.readyState == "live":
            super().stop()
            self._event.set()


class CameraSource(Source):
    """What a camera sends, as a source (see the module docstring); made by
    ``cam.as_source()`` or ``nbrtc.sources.camera(cam)``."""

    def __init__(self, processor: Processor, name: str) -> None:
        super().__init__()
        self._processor = processor
        self._name = name

    def _make_producer(self) -> MediaStreamTrack:
        return CameraTrack(self._processor)

    def __repr__(self) -> str:
        return f"camera({self._name})"
