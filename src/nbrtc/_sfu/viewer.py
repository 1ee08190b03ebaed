"""``JanusViewer``: one page's view of a ``Broadcast``, its media from Janus.

A ``ServerStream`` (``_signaling/owner.py``): the manager made it for the page's ``watch``
after the checks every stream gets (the page key, tombstones, limits) and routes that
page's later messages for its id here. The kernel holds no peer for it: it attaches a
videoroom subscriber handle in the broadcast's session, ``join``\\ s the feed, relays
Janus's offer to the page (``offer``), relays the page's ``answer`` (``start`` with the
jsep) and its trickled candidates (``trickle``, end-of-candidates as ``completed``).

States (``_set_state``, the one place; logged ``old -> new``; each sent to the page as
``state`` and to the widget): ``new -> connecting`` (watch taken) ``-> live`` (Janus's
``webrtcup`` for the handle) ``-> closed``; or ``-> error`` (words: Janus refused the
subscription, the page did not answer, the broadcast ended, the server went away)
``-> closed``. Liveness is the kernel's usual one (``_signaling/liveness.py``: pings, and a
page silent for BROWSER_TIMEOUT idle seconds is gone). Teardown (``close``, idempotent):
``bye`` to the page, tombstone, cancel the tasks, ``detach`` the handle on the server
(bounded), tell the broadcast and the widget.

Threads: media loop only, but ``describe`` (any thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from .._signaling import liveness
from .._signaling.stream_base import StreamBase
from ..errors import JanusError, StreamError
from .janus_words import VIDEOROOM

if TYPE_CHECKING:
    from .._signaling.owner import SignalingHost, StreamOwner
    from .._signaling.protocol import Message
    from .janus_api import JanusHandle, JanusSession

log = logging.getLogger("nbrtc")

#: how long the page may take to answer the server's offer
ANSWER_TIMEOUT = 10.0
#: the page's candidates relayed to Janus at most (as MAX_REMOTE_CANDIDATES for a peer)
MAX_CANDIDATES = 40
#: seconds the teardown waits for Janus to detach the handle
DETACH_TIMEOUT = 1.0
#: page messages a viewer takes; any other stream message gets `wrong-kind`
_TAKES = frozenset({"answer", "candidate", "state", "stats", "ping", "bye", "error", "ice-error"})


class Feed(Protocol):
    """What a viewer needs of its broadcast (its ``BroadcastPort``)."""

    async def subscribe_target(self) -> tuple[JanusSession, int, int]: ...

    def viewer_closed(self, viewer: JanusViewer) -> None: ...


class JanusViewer(StreamBase):
    """The kernel's end of one page's view of a broadcast (see the module docstring)."""

    transport = "janus"  # the page's media comes from the server, never the kernel

    def __init__(self, host: SignalingHost, owner: StreamOwner, msg: Message, feed: Feed) -> None:
        payload = msg.payload if isinstance(msg.payload, dict) else {}
        super().__init__(
            host,
            owner,
            msg.stream,
            "view",
            str(payload.get("page", "")),
            str(payload.get("view", "")),
            msg.key,
        )
        self._feed = feed
        self._handle: JanusHandle | None = None
        self._answer: asyncio.Future[str] | None = None
        self._started = False  # Janus has the page's answer: candidates go straight on
        self._candidates: list[dict[str, Any] | None] = []
        self._taken = 0

    def __repr__(self) -> str:
        return f"<JanusViewer {self.id} {self._state}>"

    # --- what it is ----------------------------------------------------------------------

    # --- state and sending -------------------------------------------------------------------
    def _fail(self, words: str) -> None:
        """End in words: state ``error`` (the page and the widget show them), then close."""
        if self.closed:
            return
        self.error = StreamError(words)
        self._set_state("error", words)
        self.spawn(self.close(words))

    # --- life ------------------------------------------------------------------------------
    def start(self) -> None:
        """The manager registered us: subscribe, and watch the page."""
        self._set_state("connecting")
        self.spawn(self._subscribe())
        self.spawn(liveness.watch(lambda: not self.closed, self._ping, self._judge))

    def _ping(self, t: float) -> None:
        self.manager.ping_page(self, t)

    async def _judge(self, elapsed: float) -> bool:
        if self.manager.browser_silent(self, elapsed):
            await self.close("browser-gone")
            return True
        return False

    async def _subscribe(self) -> None:
        try:
            session, room, feed = await self._feed.subscribe_target()
            if self.closed:
                return
            handle = self._handle = await session.attach(VIDEOROOM)
            if self.closed:  # closed while attaching: the teardown may have passed already
                await self._detach()
                return
            offer = await handle.message(
                {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": room,
                    "streams": [{"feed": feed}],
                }
            )
            if offer.jsep is None or offer.jsep.get("type") != "offer":
                raise JanusError("Janus refused the subscription: its reply had no SDP offer")
            if self.closed:
                return
            self._answer = asyncio.get_running_loop().create_future()
            self.timings["offer"] = time.monotonic() - self.created
            self.send("offer", {"sdp": str(offer.jsep.get("sdp", ""))})
            try:
                sdp = await asyncio.wait_for(self._answer, ANSWER_TIMEOUT)
            except (asyncio.TimeoutError, TimeoutError):
                self._fail(f"the page did not answer Janus's offer within {ANSWER_TIMEOUT:g} s")
                return
            started = await handle.message(
                {"request": "start"}, jsep={"type": "answer", "sdp": sdp}
            )
            if started.data.get("started") != "ok":
                raise JanusError(f"Janus refused the page's answer: {started.data}")
            self._started = True
            for cand in self._candidates:  # in the page's order, end-of-candidates last
                await handle.trickle(cand)
            self._candidates.clear()
            await self._events(handle)
        except JanusError as exc:
            words = str(exc)
            if "no such feed" in words.lower() or "publisher is gone" in words.lower():
                words = f"the broadcast ended (publisher gone): {words}"
            elif not words.startswith("the broadcast ended"):
                words = f"Janus refused the subscription: {words}"
            self._fail(words)

    async def _events(self, handle: JanusHandle) -> None:
        """The subscriber handle's events until it ends (media loop)."""
        while not self.closed:
            event = await handle.events.get()
            data = event.data if isinstance(event.data, dict) else {}
            if event.kind == "webrtcup":
                self._set_state("live")
            elif event.kind == "hangup":
                self._fail(f"Janus hung up this view ({data.get('reason') or 'no reason'})")
            elif event.kind in ("detached", "closed", "timeout"):
                self._fail(f"the Janus session ended ({data.get('reason') or event.kind})")
            elif event.kind == "event" and (
                data.get("left") or data.get("unpublished") or data.get("videoroom") == "destroyed"
            ):
                self._fail("the broadcast ended (publisher gone)")

    def broadcast_ended(self, words: str) -> None:
        """The broadcast failed or closed (media loop): this view ends in words."""
        if not self.closed:
            self.spawn_safely(f"the broadcast ended: {words}")

    def spawn_safely(self, words: str) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: the teardown says it
            self._fail(words)

    # --- the page's messages (routed by the manager: its page, its id, not dead) -----------
    def receive(self, msg: Message) -> None:
        self.history.message("in", msg.type, msg.size, msg.payload)
        if msg.type not in _TAKES:
            self._refuse(
                "wrong-kind",
                f"{msg.type} is not for a view of a broadcast (its media comes from Janus)",
                msg.type,
            )
        elif msg.type == "answer":
            if self._answer is None or self._answer.done():
                self._refuse("out-of-order", "no offer of Janus is waiting for an answer", "answer")
            else:
                self._answer.set_result(msg.payload["sdp"])
        elif msg.type == "candidate":
            self._take_candidate(msg.payload)
        elif msg.type == "state":
            for key in ("connection", "ice", "signaling", "gathering"):
                value = msg.payload.get(key) if isinstance(msg.payload, dict) else None
                if isinstance(value, str) and self.browser.get(key) != value:
                    self.browser[key] = value
                    self.history.state("browser", key, value)
        elif msg.type == "error":
            name = msg.payload.get("name", "")
            self._fail(f"the page failed: {name}: {msg.payload.get('message', '')}"[:500])
        elif msg.type == "ice-error":
            self.history.note(f"the page's ICE server error: {msg.payload}"[:300])
        elif msg.type == "bye":
            reason = (msg.payload or {}).get("reason", "browser closed")
            self.spawn(self.close(f"browser: {reason}", notify_browser=False))
        # stats and ping: heard already; the kernel keeps no stats of a server's stream

    def _take_candidate(self, cand: dict[str, Any] | None) -> None:
        if cand is not None and not cand.get("candidate"):
            cand = None  # an empty candidate is the end marker
        if cand is not None:
            if self._taken >= MAX_CANDIDATES:
                self._refuse("limit", f"at most {MAX_CANDIDATES} candidates per view", "candidate")
                return
            self._taken += 1
            cand = {k: cand.get(k) for k in ("candidate", "sdpMid", "sdpMLineIndex")}
        if not self._started or self._handle is None:
            self._candidates.append(cand)  # Janus gets them after the page's answer
            return
        self.spawn(self._trickle(self._handle, cand))

    async def _trickle(self, handle: JanusHandle, cand: dict[str, Any] | None) -> None:
        try:
            await handle.trickle(cand)
        except JanusError as exc:
            self.history.note(f"Janus refused a candidate: {exc}"[:300])

    # --- teardown --------------------------------------------------------------------------
    async def _teardown(self, reason: str, notify_browser: bool) -> None:
        if notify_browser:
            self.send("bye", {"reason": reason})
        self._set_state("closed", reason)
        self.manager.forget(self)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()
        await self._detach()
        self._feed.viewer_closed(self)
        owner = self.owner
        if owner is not None:
            owner.stream_closed(self)  # type: ignore[arg-type]  # a server's stream
        self.timings["closed"] = time.monotonic() - self.created

    async def _detach(self) -> None:
        handle = self._handle
        if handle is None:
            return
        try:
            await handle.detach(DETACH_TIMEOUT)
        except JanusError as exc:  # the server is gone or slow: its session ends anyway
            log.info("stream %s: detaching from Janus: %s", self.id, exc)
