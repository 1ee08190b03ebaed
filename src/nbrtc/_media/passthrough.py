"""``SenderView``: what a processing camera's sender gets, frame by frame: the camera's own
encoded frame when ``process(fn)`` left the picture unchanged, else the picture to encode.

Why: a function that only looks (counts, detects, logs, or draws nothing this time) returns
the camera's picture; encoding it again costs the kernel's biggest thread (VP8 at 640x480:
~1.2 ms a frame, a third of a bare aiortc echo's CPU) and a generation of quality. The
bytes the page sent for that picture are at hand (``_upstream.decoder_worker`` keeps them
on each decoded VP8 frame), so they go back as they came: an ``av.Packet`` that aiortc's
sender packetizes without encoding. The page decodes exactly what its camera encoded.

A VP8 frame only decodes on top of the frames before it, so the page's decoder must see
ONE stream: the camera's, or the kernel encoder's. The rules (media loop, in ``recv``):

- Forwarding starts on a camera keyframe, when the sender's codec is VP8 too.
- While forwarding, an unchanged frame goes as it came, unless a camera frame went missing
  in between (skipped by newest-wins, or it failed to decode) or the page asked for a
  keyframe (a PLI the sender got): then that frame is encoded as a keyframe. After a PLI
  the camera is asked for a keyframe to forward from again at once; after a skip only
  once ``CALM_FRAMES`` frames came in order (a slow function skips all the time).
- A changed frame is encoded; the first after forwarding as a keyframe (the encoder's
  references are stale). Forwarding comes back only after ``CALM_FRAMES`` unchanged
  frames in a row, none skipped (a detector that draws now and then would otherwise cost
  a keyframe both ways at every flicker): the camera is then asked for a keyframe (at
  most every ``ASK_INTERVAL`` s) and forwarding resumes on it.

What is not forwarded: H.264 (or any codec other than VP8 on either side), gray, odd
sizes, ``format="av"`` results, resized or converted results: all are encoded as before.
The sender's bitrate estimate is not applied to forwarded frames (the camera's own
encoder adapts to the path it sends on); a path back that is much worse than the path in
shows as PLIs, each answered with an encoded keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from .. import _upstream
from .._transport import rtp_recovery

log = logging.getLogger("nbrtc")

#: unchanged frames in a row, after a changed one, before forwarding is tried again
CALM_FRAMES = 15
#: seconds between two keyframe requests to the camera while waiting to forward
ASK_INTERVAL = 1.0

#: on by default; a benchmark may compare both ways in one kernel (``ENABLED = False``)
ENABLED = True


def usable() -> bool:
    """Whether aiortc has what forwarding needs (probed once; ``import nbrtc`` already
    warned in words when not)."""
    return _upstream.works(_upstream.passthrough_problems, "unchanged processed frames re-encoded")


class SenderView(MediaStreamTrack):
    """The track a processing camera's RTCRtpSender reads: ``source``'s frames, each swapped
    for the camera's encoded frame where that can go as it came (module doc).

    Media loop only. ``count()`` is called once per forwarded frame. ``source`` owns the
    view: its ``stop()`` stops the view (and the keyframe requests in flight), and its
    ``recv`` raising ends the sender's reads."""

    kind = "video"

    def __init__(
        self, source: MediaStreamTrack, transceiver: Any, count: Callable[[], None]
    ) -> None:
        super().__init__()
        self._source = source
        self._transceiver = transceiver
        self._count = count
        #: the page's decoder is on the camera's frames (else on the kernel encoder's)
        self.forwarding = False
        #: unchanged frames in a row while encoding (starts calm: the first keyframe forwards)
        self._calm = CALM_FRAMES
        self._last_seq: int | None = None
        self._asked = -ASK_INTERVAL
        self._tasks: set[asyncio.Future[Any]] = set()

    async def recv(self) -> Any:
        return self.choose(await self._source.recv())

    def choose(self, out: Any) -> Any:
        """``out`` itself (to encode) or an ``av.Packet`` of the camera's bytes for it."""
        tag = getattr(out, "opaque", None)
        encoded = (
            tag
            if isinstance(tag, tuple) and len(tag) == 3 and tag[0] == _upstream.ENCODED_TAG
            else None
        )
        if (
            encoded is None
            or not ENABLED
            or not usable()
            or _upstream.transceiver_mime(self._transceiver) != "video/VP8"
        ):
            return self._encode(out, changed=encoded is None)
        _, seq, data = encoded
        # the picture right after the previous one (the first one counts as such)
        in_order = self._last_seq is None or seq == self._last_seq + 1
        self._last_seq = seq
        sender = self._transceiver.sender
        if self.forwarding:
            if in_order and not _upstream.sender_wants_keyframe(sender):
                return self._packet(out, data)
            # The page's decoder misses a picture, or says so: a full one now. After a
            # page's PLI the camera's next keyframe may take over again; after a skipped
            # frame only once frames come in order again (a slow function skips often).
            self._switch(
                False, "the page asked for a keyframe" if in_order else "a frame was skipped"
            )
            _upstream.force_keyframe(sender)
            self._calm = CALM_FRAMES if in_order else 0
            if in_order:
                self._ask_camera()
            return out
        self._calm = self._calm + 1 if in_order else 0
        if self._calm >= CALM_FRAMES:
            if rtp_recovery.is_keyframe("VP8", data):
                self._switch(True, "a camera keyframe")
                return self._packet(out, data)
            self._ask_camera()
        return out

    def _encode(self, out: Any, changed: bool) -> Any:
        if self.forwarding:
            self._switch(False, "processing changed the picture" if changed else "the codec")
            _upstream.force_keyframe(self._transceiver.sender)
        self._calm = 0
        return out

    def _packet(self, out: Any, data: bytes) -> Any:
        import av

        packet = av.Packet(data)
        packet.pts, packet.time_base = out.pts, out.time_base
        self._count()
        return packet

    def _switch(self, forwarding: bool, why: str) -> None:
        """The one place ``forwarding`` changes (logged ``old -> new``)."""
        old = "forwarding" if self.forwarding else "encoding"
        new = "forwarding" if forwarding else "encoding"
        self.forwarding = forwarding
        log.debug("nbrtc: processed video %s -> %s (%s)", old, new, why)

    def _ask_camera(self) -> None:
        """Ask the camera for a keyframe (a PLI), at most every ASK_INTERVAL seconds."""
        now = time.monotonic()
        if now - self._asked < ASK_INTERVAL:
            return
        self._asked = now
        pli = rtp_recovery.request_keyframe(self._transceiver.receiver)
        if pli is None:
            return
        task = asyncio.ensure_future(pli)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # a PLI that cannot go (the transport closed meanwhile) costs nothing but a retry
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def stop(self) -> None:
        super().stop()
        for task in list(self._tasks):
            with contextlib.suppress(RuntimeError):
                task.cancel()
