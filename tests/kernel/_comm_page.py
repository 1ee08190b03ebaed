"""A page that streams over the comm (``transport="comm"``), as js/transport/comm.js does: JPEG
frames in the binary buffer of ``frame`` messages, at most ``WINDOW`` unacknowledged, and
a ``frame-ack`` for each kernel frame it has decoded. Built on a ``FakeBrowser`` (its key,
its message log); the JPEGs are made and read with PyAV, as a browser would with its own
codec.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from typing import Any

import av
import numpy as np

from nbrtc._transport.comm_media import WINDOW

from ._browser import FakeBrowser


def jpeg(rgb: np.ndarray, qscale: int = 4) -> bytes:
    """``rgb`` (H, W, 3 uint8) as one baseline JPEG."""
    h, w = rgb.shape[:2]
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuvj420p"
    ctx.time_base = Fraction(1, 30)
    ctx.qmin = ctx.qmax = qscale
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    frame.pts = 0
    return b"".join(bytes(p) for p in ctx.encode(frame))


def halves(width: int = 320, height: int = 240) -> np.ndarray:
    """Left half red, right half blue: colours a lossy codec keeps recognisable."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2] = (220, 30, 30)
    img[:, width // 2 :] = (30, 30, 220)
    return img


class CommPage:
    """Comm-transport streams of one fake page (``browser``)."""

    def __init__(self, browser: FakeBrowser) -> None:
        self.b = browser
        self.sent: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.acks_seen: dict[str, int] = {}
        self._stop: set[str] = set()
        self._withhold: set[str] = set()
        self.decoded: dict[str, np.ndarray] = {}
        self.acked: dict[str, int] = {}

    def offer(self, widget: Any, kind: str | None = None) -> str:
        """Start a stream on the comm: an offer with ``transport: "comm"`` and no SDP."""
        sid = self.b.new_stream_id()
        self.b.widgets[sid] = widget
        payload = {
            "kind": kind or widget._kind,
            "page": self.b.page,
            "view": f"v{sid}",
            "transport": "comm",
        }
        self.b.send(widget, "offer", sid, payload)
        return sid

    def _go(self, coro: Any) -> None:
        """Run ``coro`` on the fake page's loop (from any thread)."""
        asyncio.run_coroutine_threadsafe(coro, self.b.loop)

    def frame(self, widget: Any, sid: str, seq: int, data: bytes, w: int, h: int) -> None:
        widget._manager.handle_message(
            widget._port,
            self.b.envelope(
                "frame", sid, {"seq": seq, "w": w, "h": h, "type": "jpeg", "t": seq * 33.3}
            ),
            [data],
        )

    def _acks(self, sid: str) -> set[int]:
        return {m["payload"]["seq"] for m in self.b.of_type("frame-ack", sid)}

    def camera(self, widget: Any, fps: float = 30, image: np.ndarray | None = None) -> str:
        """A camera on the comm sending ``image`` (default: ``halves()``) at ``fps``,
        honouring the window like js/transport/comm.js."""
        sid = self.offer(widget)
        data = jpeg(image if image is not None else halves())
        h, w = (image if image is not None else halves()).shape[:2]
        self._go(self._send_loop(widget, sid, fps, data, w, h))
        self._go(self._ping(widget, sid))
        return sid

    async def _send_loop(
        self, widget: Any, sid: str, fps: float, data: bytes, w: int, h: int
    ) -> None:
        seq = 0
        in_flight: set[int] = set()
        deadline = time.monotonic() + 120  # bounded, whatever the test does
        while sid not in self._stop and time.monotonic() < deadline:
            in_flight -= self._acks(sid)
            if len(in_flight) < WINDOW:
                seq += 1
                in_flight.add(seq)
                self.frame(widget, sid, seq, data, w, h)
                self.sent[sid] = seq
                self.max_in_flight[sid] = max(self.max_in_flight.get(sid, 0), len(in_flight))
            await asyncio.sleep(1 / fps)  # pace: the page camera's frame rate

    def view(self, widget: Any, withhold_acks: bool = False) -> str:
        """A receiving view on the comm: decodes each kernel frame, then acknowledges it
        (unless ``withhold_acks``; see ``release``)."""
        sid = self.offer(widget)
        if withhold_acks:
            self._withhold.add(sid)
        self._go(self._recv_loop(widget, sid))
        self._go(self._ping(widget, sid))
        return sid

    def release(self, sid: str) -> None:
        """Acknowledge from now on (a view that was withholding its acks)."""
        self._withhold.discard(sid)

    async def _recv_loop(self, widget: Any, sid: str) -> None:
        done = 0
        decoder = av.CodecContext.create("mjpeg", "r")
        deadline = time.monotonic() + 120
        while sid not in self._stop and time.monotonic() < deadline:
            frames = list(self.b.comm_frames.get(sid, []))
            new = [(p, bufs) for p, bufs in frames if p["seq"] > done]
            if new and sid not in self._withhold:
                for payload, bufs in new:
                    (image,) = decoder.decode(av.Packet(bytes(bufs[0])))
                    self.decoded[sid] = image.to_ndarray(format="rgb24")
                    done = payload["seq"]
                    self.b.send(widget, "frame-ack", sid, {"seq": done})
                    self.acked[sid] = done
            await asyncio.sleep(0.005)  # poll interval (bounded by the loop's deadline)

    async def _ping(self, widget: Any, sid: str) -> None:
        deadline = time.monotonic() + 120
        while sid not in self._stop and time.monotonic() < deadline:
            self.b.send(widget, "ping", sid, {"t": time.monotonic()})
            await asyncio.sleep(1.0)  # pace: a page pings once a second

    def stop(self, sid: str) -> None:
        """Stop sending and acknowledging for ``sid`` (the page's view went away)."""
        self._stop.add(sid)

    def close(self) -> None:
        for sid in list(self.b.widgets):
            self._stop.add(sid)
