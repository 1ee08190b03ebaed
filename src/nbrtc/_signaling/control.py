"""A stream's control channel: the data channel the page opens with every peer
(``nbrtc``) carries the stream's periodic reports once it is open.

The page sends its ``stats`` sample and its heartbeat ``ping`` on it, and the kernel's
watchdog pings the page on it (docs/protocol.md "Control channel", js/peer/control.js).
Through the comm each of those costs ipykernel a shell message with two status messages
on IOPub (or an IOPub message for a ping) and the Jupyter server a relay, every second
for every stream; on the channel it is one SCTP message on the media loop. Signaling
stays on the comm, which is also the path before the channel opens and after it closes.

The comm stays the safety net of liveness: the channel travels the media path, which a
network can black out while the notebook's WebSocket (TCP) works on. Each side keeps its
pings off the comm while it hears the other on a control channel, and asks through the
comm when it has not heard the other for a while: the kernel after ``liveness.ASK_AFTER``
(``PeerManager.ping_page`` sends its ping with ``ask``, which the page answers there), the
page after 1.25 s (its ping with ``ask``, which ``PeerManager`` answers at once with the
page's ping through the comm). While the channel does not work (the page not heard on it
within FRESH seconds) the kernel's ping goes through the comm every time.

Trust: the channel belongs to the stream's own peer connection, whose DTLS peer is the
page that offered the stream, so it needs no page key; its messages pass the comm's
checks (``protocol.parse_control_message``) and must name this stream.

Threads: media loop only.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol

from .._transport.channel import CONTROL_LABEL
from .owner import SignalingHost, SignalingOwner
from .protocol import ProtocolError, make_message, parse_control_message

log = logging.getLogger("nbrtc")

#: messages a page may send on one stream's control channel per second (it sends about
#: one: its stats or its heartbeat); the rest are dropped unread and counted, so a page
#: flooding the channel costs the media loop no JSON parsing and no error replies
MAX_PER_SECOND = 10
#: the channel works while the page was heard on it this recently (it sends every second)
FRESH = 2.0


class Controlled(Protocol):
    """What the channel needs of its stream (a ``KernelStream``)."""

    id: str
    manager: SignalingHost
    history: Any  # _inspection.history.History

    @property
    def owner(self) -> SignalingOwner | None: ...

    def heard(self) -> None: ...

    def browser_stats(self, payload: dict[str, Any]) -> None: ...


class ControlChannel:
    """The control channel of one ``KernelStream`` (the newest one its page opened)."""

    def __init__(self, stream: Controlled) -> None:
        self._stream = stream
        self._dc: Any = None
        #: messages taken from the page on the channel, and refused (each refusal got an
        #: ``error`` reply through the comm)
        self.received = 0
        self.refused = 0
        #: messages over MAX_PER_SECOND, dropped unread
        self.dropped = 0
        self._window = 0.0  # monotonic second the count below is for
        self._count = 0
        self._heard_at = -FRESH  # monotonic time of the page's last good message on it

    @property
    def open(self) -> bool:
        """Whether the channel can carry a message now."""
        dc = self._dc
        return dc is not None and dc.readyState == "open"

    @property
    def working(self) -> bool:
        """Open, and the page was heard on it within FRESH seconds."""
        return self.open and time.monotonic() - self._heard_at < FRESH

    def adopt(self, dc: Any) -> bool:
        """Take ``dc`` if it is the page's control channel (a fresh peer brings a new one,
        which replaces the old); False for any other channel."""
        if dc.label != CONTROL_LABEL:
            return False
        self._dc = dc
        self._heard_at = -FRESH

        @dc.on("message")
        def _message(data: Any) -> None:
            if self._dc is dc:
                self._take(data)

        @dc.on("close")
        def _closed() -> None:
            if self._dc is dc:
                self._dc = None

        return True

    def _take(self, data: Any) -> None:
        """One message from the page (inside aiortc's receive loop: never raises)."""
        stream = self._stream
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._count = now, 0
        self._count += 1
        if self._count > MAX_PER_SECOND:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "stream %s: the page sends more than %d control messages a second; "
                    "%d dropped so far",
                    stream.id,
                    MAX_PER_SECOND,
                    self.dropped,
                )
            return
        try:
            msg = parse_control_message(data, stream.id)
            if isinstance(msg, ProtocolError):
                self.refused += 1
                owner = stream.owner
                if owner is not None:  # the error reply goes through the comm
                    stream.manager.reply_error(owner, msg)
                return
            self.received += 1
            self._heard_at = now
            # what the same report does through the comm (PeerManager._route)
            stream.heard()
            stream.history.message("in", msg.type, msg.size, msg.payload)
            if msg.type == "stats":
                stream.browser_stats(msg.payload)
        except Exception:  # pragma: no cover - defensive: aiortc's loop must not see it
            log.exception("stream %s: a control channel message failed", stream.id)

    def close(self) -> None:
        """Let the channel go (its peer connection is closing or dropped: nothing of it
        may stay reachable from a stream kept for inspection). Idempotent."""
        self._dc = None

    def ping(self, payload: dict[str, Any]) -> bool:
        """Send the page's ``ping`` (``PeerManager.ping_page``: its stamp and the page's
        ``live`` streams) on the channel when it is open. Returns whether the comm must
        carry it too: only while the channel does not work (the module's doc: the comm is
        the safety net of liveness; a page that misses the kernel asks for it)."""
        sent = self.open and self._send_ping(payload)
        return not (sent and self.working)

    def _send_ping(self, payload: dict[str, Any]) -> bool:
        text = json.dumps(make_message("ping", self._stream.id, payload), separators=(",", ":"))
        try:
            self._dc.send(text)
        except Exception as exc:  # closing under us: the comm takes this one
            log.debug("stream %s: ping on the control channel: %s", self._stream.id, exc)
            return False
        self._stream.history.message("out", "ping", len(text), payload)
        return True
