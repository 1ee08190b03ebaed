"""Video over the widget's comm: the transport a stream falls back to when WebRTC cannot
connect (docs/protocol.md "Transports", docs/architecture.md "The comm transport").

Frames travel as JPEG in the binary buffer of a ``frame`` message (no base64), each
answered by a ``frame-ack`` once the other side has decoded (kernel) or drawn (page) it.
A sender keeps at most ``WINDOW`` frames unacknowledged (credit-based flow control, as
jupyter_rfb does): when the link or the other side is slow, frames are skipped at the
source (the newest one goes next), never queued, so latency stays flat. ``Quality``
adapts the JPEG quality and the frame size to what the link carries.

``CommReceiver`` (page -> kernel: a camera or screen) and ``CommSender`` (kernel -> page:
a view's source, a camera's processed video) belong to one ``KernelStream``. Their
methods run on the media loop; JPEG decoding and encoding run on one daemon worker thread
per object (``_worker.Worker``), never on the media loop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .._media.frames import reformat
from .._media.video_clock import VIDEO_CLOCK  # the pts clock of frames made from the page's JPEGs
from .._media.worker import Worker

log = logging.getLogger("nbrtc")

#: frames a sender may have sent and not yet seen acknowledged: 3 keeps 30 fps through a
#: round trip of up to ~100 ms (the kernel's shell thread and IOPub are in it)
WINDOW = 3
#: JPEG quality bounds (the page's scale: 0..1) and where a stream starts
MIN_QUALITY = 0.35
MAX_QUALITY = 0.85
START_QUALITY = 0.7
#: frame scale bounds (of the source's size) when even the lowest quality is too much:
#: 0.5 (320x240 of a 640x480 camera) at least. A round trip that grows for a reason
#: other than bytes (a busy kernel or page) steps down as well; 0.25 (160x120) was
#: reached that way on a loaded 2-core machine under a 4 Mbit/s cap (fps did not improve)
MIN_SCALE = 0.5
#: how often ``Quality`` looks at what happened since it last decided
ADAPT_EVERY = 1.0
#: a median round trip this much above the best seen (and above RTT_QUEUED_MIN) means
#: frames queue on the way (a slow link, a busy receiver): step down. A full window alone
#: does not: on a fast link it only means the round trip, not the bytes, sets the pace.
#: 1.6, not more: on a saturated link every frame waits behind the WINDOW - 1 before it,
#: so even the best round trip seen includes queueing (4 Mbit/s, 33 KB frames: best 110
#: ms, one way p50 175-193 ms; 2.5 x 110 = 275 ms never fired, and the stream sat at 12
#: fps on 3.4 of 4 Mbit/s for 70 s). RTT_QUEUED_MIN is then what Quality settles under.
RTT_QUEUED_FACTOR = 1.6
RTT_QUEUED_MIN = 0.12
#: a median round trip this close to the best seen means there is room: step up (below
#: RTT_QUEUED_FACTOR, so that between the two nothing changes and it does not oscillate)
RTT_CLEAR_FACTOR = 1.25


class Quality:
    """JPEG quality and scale for one direction, adapted once a second (AIMD-like).

    ``offered()`` counts a frame the source had ready, ``skipped()`` one it had to drop
    because the window was full (reported, not acted on), ``acked(rtt)`` a round trip.
    Down when the median round trip of the last second shows queueing: quality by 0.1,
    then size by 0.8; up when it is back near the best: size first, then quality by
    0.05. Not thread-safe: one owner (the media loop here, js/transport/comm.js on the page).
    """

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.quality = START_QUALITY
        self.scale = 1.0
        self._now = now
        self._since = now()
        self._offered = 0
        self._skipped = 0
        self._rtts: list[float] = []
        self.best_rtt: float | None = None
        self.changes = 0

    def offered(self) -> None:
        self._offered += 1
        self._maybe_adapt()

    def skipped(self) -> None:
        self._skipped += 1

    def acked(self, rtt: float) -> None:
        self._rtts.append(rtt)
        if self.best_rtt is None or rtt < self.best_rtt:
            self.best_rtt = rtt

    def _maybe_adapt(self) -> None:
        now = self._now()
        if now - self._since < ADAPT_EVERY:
            return
        rtts = sorted(self._rtts)
        median = rtts[len(rtts) // 2] if rtts else None
        best = self.best_rtt
        queued = (
            median is not None
            and best is not None
            and median > max(RTT_QUEUED_MIN, best * RTT_QUEUED_FACTOR)
        )
        clear = (
            median is not None
            and best is not None
            and (median <= best * RTT_CLEAR_FACTOR or median < RTT_QUEUED_MIN / 2)
        )
        before = (self.quality, self.scale)
        if queued:
            if self.quality > MIN_QUALITY + 1e-9:
                self.quality = max(MIN_QUALITY, round(self.quality - 0.1, 2))
            else:
                self.scale = max(MIN_SCALE, round(self.scale * 0.8, 3))
        elif clear:
            if self.scale < 1.0:
                self.scale = min(1.0, round(self.scale / 0.8, 3))
            elif self.quality < MAX_QUALITY - 1e-9:
                self.quality = min(MAX_QUALITY, round(self.quality + 0.05, 2))
        if (self.quality, self.scale) != before:
            self.changes += 1
        self._since = now
        self._offered = self._skipped = 0
        self._rtts.clear()

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The size to send a ``width`` x ``height`` frame at (even, at least 16)."""
        w = max(16, int(width * self.scale) // 2 * 2)
        h = max(16, int(height * self.scale) // 2 * 2)
        return w, h

    def qscale(self) -> int:
        """FFmpeg's MJPEG quantiser (2 best .. 31 worst) for ``quality``."""
        q = 3 + (MAX_QUALITY - self.quality) / (MAX_QUALITY - MIN_QUALITY) * 17
        return max(2, min(31, round(q)))


class _Jpeg:
    """An MJPEG encoder remade when the size or quality changes (worker thread only)."""

    def __init__(self) -> None:
        self._ctx: Any = None
        self._key: tuple[int, int, int] | None = None
        self._pts = 0

    def encode(self, frame: Any, width: int, height: int, qscale: int) -> bytes:
        key = (width, height, qscale)
        if key != self._key:
            ctx = av.CodecContext.create("mjpeg", "w")
            ctx.width, ctx.height = width, height
            ctx.pix_fmt = "yuvj420p"
            ctx.time_base = Fraction(1, VIDEO_CLOCK)
            # a fixed quantiser: MJPEG's rate control would need a bitrate we do not know
            ctx.qmin = ctx.qmax = qscale
            self._ctx, self._key = ctx, key
        # the frame may be shared with other consumers: this thread's own swscale context
        image = reformat(frame, "yuvj420p", width, height)
        self._pts += 1
        image.pts = self._pts
        packets = self._ctx.encode(image)
        return b"".join(bytes(p) for p in packets)


def _decode(decoder: Any, data: bytes, pts: int) -> Any:
    """One JPEG -> a yuv420p ``av.VideoFrame`` (worker thread). Raises on a bad JPEG."""
    frames = decoder.decode(av.Packet(data))
    if not frames:
        raise ValueError("the JPEG decoded to no picture")
    # yuv420p, as WebRTC's decoder gives: recorders and encoders downstream expect it
    frame = reformat(frames[0], "yuv420p")
    frame.pts = pts
    frame.time_base = Fraction(1, VIDEO_CLOCK)
    return frame


class CommReceiver:
    """Page -> kernel video of one stream: decodes the page's JPEG frames and hands each
    to ``deliver`` (media loop), then acknowledges it with ``ack(seq)``.

    Frames beyond the window the page may have in flight are dropped and counted (a page
    that ignores flow control costs no memory); a JPEG that does not decode is dropped,
    counted and acknowledged, so the page goes on.
    """

    def __init__(
        self,
        name: str,
        deliver: Callable[[Any], None],
        ack: Callable[[int], None],
    ) -> None:
        self._deliver = deliver
        self._ack = ack
        self._worker = Worker(f"nbrtc-comm-decode-{name}")
        self._decoder: Any = None
        self._busy = 0
        self._closed = False
        self._t0: float | None = None
        self.frames = 0
        self.bytes = 0
        self.dropped = 0
        self.bad = 0
        self.last_error = ""

    def frame(self, payload: dict[str, Any], data: bytes) -> None:
        """A ``frame`` message arrived (media loop, at dispatch)."""
        if self._closed:
            return
        seq = payload["seq"]
        if self._busy >= WINDOW + 1:
            self.dropped += 1
            self._ack(seq)  # ack anyway: a lost credit would stall an honest page
            return
        t = payload.get("t")
        if self._t0 is None:
            self._t0 = float(t) if isinstance(t, (int, float)) else 0.0
        ms = (float(t) - self._t0) if isinstance(t, (int, float)) else self.frames * 33.3
        pts = max(0, int(ms * VIDEO_CLOCK / 1000))
        self._busy += 1
        self.bytes += len(data)
        loop = asyncio.get_running_loop()
        try:
            fut = self._worker.submit(self._decode_on_worker, data, pts)
        except RuntimeError:  # shut down meanwhile
            self._busy -= 1
            return
        fut.add_done_callback(
            lambda f: (
                loop.call_soon_threadsafe(self._decoded, f, seq) if not loop.is_closed() else None
            )
        )

    def _decode_on_worker(self, data: bytes, pts: int) -> Any:
        if self._decoder is None:
            self._decoder = av.CodecContext.create("mjpeg", "r")
        return _decode(self._decoder, data, pts)

    def _decoded(self, fut: concurrent.futures.Future[Any], seq: int) -> None:
        self._busy -= 1
        if self._closed:
            return
        try:
            frame = fut.result()
        except Exception as exc:
            self.bad += 1
            self.last_error = str(exc)[:200]
            log.debug("comm frame %d did not decode: %s", seq, exc)
            self._ack(seq)
            return
        self.frames += 1
        self._ack(seq)
        self._deliver(frame)

    def stats(self) -> dict[str, Any]:
        return {
            "framesReceived": self.frames,
            "bytesReceived": self.bytes,
            "framesDropped": self.dropped,
            "framesBad": self.bad,
        }

    def close(self) -> None:
        """Stop decoding (idempotent); the worker thread ends after its current frame."""
        if self._closed:
            return
        self._closed = True
        self._worker.shutdown()


class CommSender:
    """Kernel -> page video of one stream: reads ``track`` (newest frame wins), encodes
    JPEG on a worker thread and sends it with ``send(payload, data)``, keeping at most
    WINDOW frames unacknowledged. ``first_ack`` is called once, at the page's first
    acknowledgement (the page drew a frame: the stream is live)."""

    def __init__(
        self,
        name: str,
        track: MediaStreamTrack,
        send: Callable[[dict[str, Any], bytes], None],
        first_ack: Callable[[], None],
    ) -> None:
        self._track = track
        self._send = send
        self._first_ack = first_ack
        self._worker = Worker(f"nbrtc-comm-encode-{name}")
        self._jpeg = _Jpeg()
        self.quality = Quality()
        self._in_flight: collections.OrderedDict[int, float] = collections.OrderedDict()
        self._credit = asyncio.Event()
        self._credit.set()
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.frames = 0
        self.bytes = 0
        self.acked = 0
        self.skipped = 0

    def start(self) -> None:
        """Begin sending (media loop; idempotent)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                frame = await self._track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.VideoFrame):
                continue  # a video track gives only pictures; anything else has none to send
            self.quality.offered()
            if len(self._in_flight) >= WINDOW:
                # no credit: this frame is skipped, and the next one read only when an
                # acknowledgement comes (the track keeps just its newest frame meanwhile)
                self.skipped += 1
                self.quality.skipped()
                self._credit.clear()
                await self._credit.wait()
                continue
            width, height = self.quality.size(frame.width, frame.height)
            qscale = self.quality.qscale()
            try:
                data = await asyncio.wrap_future(
                    self._worker.submit(self._jpeg.encode, frame, width, height, qscale),
                    loop=loop,
                )
            except RuntimeError:  # the worker was shut down: closing
                return
            except Exception as exc:  # a frame FFmpeg cannot encode: skip it
                log.debug("comm frame not encoded: %s", exc)
                continue
            if self._closed:
                return
            self._seq += 1
            self._in_flight[self._seq] = time.monotonic()
            self.frames += 1
            self.bytes += len(data)
            self._send({"seq": self._seq, "w": width, "h": height, "type": "jpeg"}, data)

    def ack(self, seq: int) -> None:
        """The page drew frame ``seq`` (media loop). Unknown numbers are ignored."""
        sent = self._in_flight.pop(seq, None)
        if sent is None:
            return
        # frames sent before ``seq`` and not acknowledged were lost with a reloaded view
        # or a dropped message: their credit comes back too
        for old in [s for s in self._in_flight if s < seq]:
            del self._in_flight[old]
        self.acked += 1
        self.quality.acked(time.monotonic() - sent)
        self._credit.set()
        if self.acked == 1:
            self._first_ack()

    def stats(self) -> dict[str, Any]:
        return {
            "framesSent": self.frames,
            "bytesSent": self.bytes,
            "framesAcked": self.acked,
            "framesSkipped": self.skipped,
            "quality": self.quality.quality,
            "scale": self.quality.scale,
            "bestRtt": self.quality.best_rtt,
        }

    def close(self) -> None:
        """Stop sending (idempotent): the task is cancelled, the worker ends."""
        if self._closed:
            return
        self._closed = True
        self._credit.set()
        if self._task is not None:
            self._task.cancel()
        self._worker.shutdown()
