"""The kernel's offer for a camera's next view (``nbrtc.config.kernel_offer``).

Normally the page offers and the kernel answers: the page renders the view, offers, the
offer crosses the notebook server to the kernel, the kernel answers, and the answer
crosses back to a page whose main thread is busy drawing the new output (docs/protocol.md
"The kernel's offer"). With a kernel offer the kernel makes its peer and its offer as the
widget is displayed, and the offer reaches the page with the display itself: the page
answers as soon as it renders the view and starts ICE at once, and its answer crosses to
the kernel (the quick direction) while ICE runs. One crossing and the kernel's answer
leave the path to the first frame.

A ``PreOffer`` is that offer before any page took it: a kernel peer with the widget's
tracks, the sections the page would have offered (video sendrecv, audio recvonly when
the camera has sound, the control channel) and its local description. ``KernelOffers``
(the manager's ``offers``) holds them: the first page that answers one
(``KernelOffers.answered``) makes it a ``KernelStream`` (``KernelStream.start_offered``);
one nobody takes is closed after ``TTL`` seconds, with its widget, or at the kernel's
exit. The threads of each method are in its docstring.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import secrets
import threading
import weakref
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection

from .._config import config
from .._transport.channel import CONTROL_LABEL
from .._transport.peer_close import close_quietly
from . import renegotiate as _renegotiate
from .protocol import Message, ProtocolError, make_message
from .stream import KernelStream, _add_track, rtc_configuration
from .stream_core import log

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from .owner import OfferHost, StreamOwner

#: seconds an offer waits for a page to answer it before the kernel closes its peer (the
#: view then offers itself, as without a kernel offer)
TTL = 30.0
#: seconds ``_repr_mimebundle_`` waits for the offer, so that it leaves before the
#: display itself (a later offer still goes out; the view waits up to its own bound)
DISPLAY_WAIT = 0.1


def new_id() -> str:
    """A kernel-made stream id: ``k<hex>-0``. A page's ids are ``<8 hex>-<n>``, so the two
    never meet, and the kernel's tombstones keep it from being used twice."""
    return f"k{secrets.token_hex(8)}-0"


class PreOffer:
    """A kernel peer and its offer, waiting for a page's answer (media loop)."""

    def __init__(self, stream_id: str, widget: StreamOwner) -> None:
        self.id = stream_id
        self.owner_id = widget.model_id
        self._owner_ref = weakref.ref(widget)
        self.pc: RTCPeerConnection | None = None
        self.tracks: list[MediaStreamTrack] = []
        self.control: Any = None
        #: the offer as sent (the bitrate cap written in), "" until made
        self.sdp = ""
        #: the codec preference it was made with (a renegotiation keeps it)
        self.codec: str | None = None
        self.max_bitrate: int | None = None
        self.closed = False
        #: the TTL timer, cancelled once the offer is taken or closed
        self.expiry: asyncio.TimerHandle | None = None

    async def make(self, widget: StreamOwner, audio: bool) -> str:
        """Make the peer and its offer; returns the offer's SDP ("" when closed meanwhile).

        ``widget.tracks_for`` is given this object for the stream (it reads ``.id``): a
        processing camera's track is made for the stream id the page will take."""
        pc = RTCPeerConnection(rtc_configuration(widget.ice_servers(self.id), "all"))
        self.pc = pc
        for track in widget.tracks_for(self):  # type: ignore[arg-type]  # reads .id only
            self.tracks.append(track)
            _add_track(pc, track)
        if not self.tracks:
            pc.addTransceiver("video", direction="recvonly")
        if audio:
            pc.addTransceiver("audio", direction="recvonly")
        # the page's control channel, opened by the kernel here: it puts the data section
        # in the offer, so channels either side opens later need no renegotiation
        self.control = pc.createDataChannel(CONTROL_LABEL)
        prefs = widget.teaching_prefs()
        self.codec = prefs.get("codec")
        _renegotiate.apply_codec_preference(pc, self.codec)
        offer = await pc.createOffer()
        if self.closed:
            return ""
        await pc.setLocalDescription(offer)
        if self.closed:
            return ""
        self.max_bitrate = prefs.get("max_bitrate")
        self.sdp = _renegotiate.cap_bitrate(pc.localDescription.sdp, self.max_bitrate)
        return self.sdp

    @property
    def owner(self) -> StreamOwner | None:
        """The port of the widget this offer is for (None once it is gone)."""
        return self._owner_ref()

    def take(self) -> tuple[RTCPeerConnection | None, list[MediaStreamTrack], Any]:
        """Hand the peer, tracks and control channel to the stream that took the offer;
        this object then owns nothing."""
        pc, tracks, control = self.pc, self.tracks, self.control
        self.pc, self.tracks, self.control = None, [], None
        self.closed = True
        if self.expiry is not None:
            self.expiry.cancel()  # it would find nothing, and hold this object till then
            self.expiry = None
        return pc, tracks, control

    async def close(self, reason: str) -> None:
        """Close what nobody took (idempotent)."""
        pc, tracks, _ = self.take()
        for track in tracks:
            track.stop()
        if pc is not None:
            log.debug("kernel offer %s closed: %s", self.id, reason)
            await close_quietly(pc, f"kernel offer {self.id}")


class KernelOffers:
    """The kernel's offers no page answered yet, for the manager (which owns one).

    ``make`` runs on the main thread (a camera's display hook), ``answered`` on the media
    loop (the manager routes a page's ``answer`` for an unknown id here), ``drop`` from
    any thread. One offer waits per widget at most; the total counts towards
    ``config.max_streams``."""

    def __init__(self, manager: OfferHost) -> None:
        self._manager = manager
        self._lock = threading.Lock()
        self._waiting: dict[str, PreOffer] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)

    def get(self, stream_id: str) -> PreOffer | None:
        with self._lock:
            return self._waiting.get(stream_id)

    def make(self, widgets: list[tuple[StreamOwner, bool]]) -> list[str]:
        """Make the kernel's offers for the next views of ``widgets`` (each with whether it
        has sound), displayed together (main thread, as they are displayed: one camera, or
        the cameras of a ``Grid``); returns the stream ids pages answer them as, one per
        widget, "" where none was made.

        A second display before a page answered shares the waiting offer (its view,
        finding it taken, offers itself). Waits up to DISPLAY_WAIT s in all for the offers
        to go out, so that they reach the page before the display does."""
        mgr = self._manager
        if mgr.media.in_loop_thread():
            return [""] * len(widgets)  # it could not wait for its own offers
        ids: list[str] = []
        made: list[tuple[StreamOwner, PreOffer, bool]] = []
        with self._lock:
            by_owner = {p.owner_id: p.id for p in self._waiting.values()}
            for widget, audio in widgets:
                # an offer leaves _waiting before it is taken or closed: each one here waits
                if widget.model_id in by_owner:
                    ids.append(by_owner[widget.model_id])
                elif mgr.stream_count() + len(self._waiting) >= config.max_streams:
                    ids.append("")  # the page offers, and is refused in words as before
                else:
                    pre = PreOffer(new_id(), widget)
                    self._waiting[pre.id] = pre
                    by_owner[widget.model_id] = pre.id
                    made.append((widget, pre, audio))
                    ids.append(pre.id)
        if made:

            async def send_all() -> None:
                await asyncio.gather(*(self._send(w, pre, audio) for w, pre, audio in made))

            fut = mgr.media.submit(send_all())
            # a later offer still goes out when made; the view waits for it a while
            with contextlib.suppress(concurrent.futures.TimeoutError):
                fut.result(DISPLAY_WAIT)
        return ids

    async def _send(self, widget: StreamOwner, pre: PreOffer, audio: bool) -> None:
        """Make ``pre``'s offer and send it to the widget's pages (media loop)."""
        try:
            sdp = await pre.make(widget, audio)
        except Exception as exc:
            # str(exc): a kept exception would keep the peer alive through its traceback
            log.warning("nbrtc: the kernel's offer for %s failed: %s", widget.model_id, str(exc))
            sdp = ""
        if not sdp or pre.closed:
            await self._drop_one(pre, "not made")
            return
        widget.send(make_message("offer", pre.id, {"sdp": sdp, "kernel": True}))
        pre.expiry = asyncio.get_running_loop().call_later(TTL, self._expire, pre)

    def _expire(self, pre: PreOffer) -> None:
        """No page answered ``pre`` within TTL s: tell the pages and close it (media loop)."""
        widget = pre.owner
        if self.get(pre.id) is not pre:
            return
        if widget is not None:
            widget.send(make_message("bye", pre.id, {"reason": "expired"}))
        asyncio.get_running_loop().create_task(self._drop_one(pre, "no page answered"))

    async def _drop_one(self, pre: PreOffer, reason: str) -> None:
        with self._lock:
            if self._waiting.get(pre.id) is pre:
                del self._waiting[pre.id]
        self._manager.tombstone(pre.id)
        widget = pre.owner
        if widget is not None:
            widget.kernel_offer_done(pre.id)
        await pre.close(reason)

    def drop(self, model_id: str | None, reason: str) -> concurrent.futures.Future[Any] | None:
        """Close the waiting offers of the widget ``model_id`` (all with None): the widget
        closes, or the kernel exits. Any thread; returns a future done when they are
        closed (None when there were none, or on the media thread)."""
        with self._lock:
            mine = [p for p in self._waiting.values() if model_id in (None, p.owner_id)]
        media = self._manager.media
        if not mine or not media.running():
            return None

        async def drop_all() -> None:
            await asyncio.gather(*(self._drop_one(p, reason) for p in mine))

        return media.start(drop_all())

    def answered(self, widget: StreamOwner, msg: Message) -> None:
        """A page answers the offer ``msg.stream``: the first answer takes it and becomes
        its stream; any other is refused, and its view offers itself (media loop)."""
        mgr = self._manager
        payload = msg.payload
        pre = self.get(msg.stream)
        refusal: tuple[str, str] | None = None
        if widget.closed:
            # first: a close drops the widget's offers, and an answer crossing that drop
            # must read "closed" (its view then starts nothing), not "unknown-stream"
            refusal = ("closed", "this widget is closed")
        elif pre is None or pre.owner_id != widget.model_id or not pre.sdp:
            refusal = ("unknown-stream", "no kernel offer of this id waits here (taken or expired)")
        elif payload.get("kind") != widget.kind:
            refusal = (
                "wrong-kind",
                f"answer kind {payload.get('kind')!r} does not match a {widget.kind} widget",
            )
        else:
            refusal = mgr.stream_limits(msg.key, payload.get("page", ""))
        if refusal is not None:
            mgr.reply_error(widget, ProtocolError(*refusal, msg.stream, "answer"))
            return
        assert pre is not None  # no refusal: the offer waits
        with self._lock:
            del self._waiting[pre.id]
        widget.kernel_offer_done(pre.id)
        # every page saw the offer, and a page may have prepared an answer to it (its
        # peer/early-answer.js): the pages that did not answer close theirs now
        widget.send(make_message("offer-taken", pre.id, None))
        new = KernelStream(
            mgr,
            widget,
            pre.id,
            widget.kind,
            payload.get("page", ""),
            payload.get("view", ""),
            key=msg.key,
        )
        new.history.message("out", "offer", len(pre.sdp), {"sdp": pre.sdp, "kernel": True})
        new.history.message("in", "answer", msg.size, payload)
        mgr.add_stream(new)
        widget.stream_added(new)
        new.start_offered(pre, payload["sdp"])
