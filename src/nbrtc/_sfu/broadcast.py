"""``nbrtc.Broadcast``: a kernel source published ONCE into a Janus videoroom, for any
number of ``VideoView``\\ s that receive it from Janus, not from the kernel.

``janus.broadcast(source)`` makes one: on the media loop it opens a Janus session of its
own, creates a private videoroom (a random id, one publisher, VP8, ``fir_freq`` so Janus
asks the publisher for keyframes), joins it as the publisher and sends the source's video
from one aiortc RTCPeerConnection (``iceServers=[]``: nothing outside is contacted). Each
``VideoView(feed)`` view in a page is then a ``JanusViewer`` (viewer.py): a subscriber
handle in the same session, whose offer the kernel relays to the page.

States: ``publishing`` (setting up) -> ``live`` (Janus says the publisher's media is up,
``webrtcup``) -> ``closed``; or ``failed`` (with ``error`` in words: the server refused,
is unreachable or went away), then ``closed`` once ``close()`` ran. ``_set_state`` is the
one place it changes (logged ``old -> new``).

Teardown: ``close()`` (idempotent, any thread; waits up to CLOSE_WAIT unless on the media
thread) ends every viewer ("the broadcast ended"), unpublishes, destroys the room,
detaches, destroys the session and closes the peer. The object is registered with the
manager like a widget (``CellOwned``): re-running its cell or the kernel's exit closes it;
closing its ``Janus`` closes it too.

Threads: the constructor, properties, ``wait`` and ``close`` on any thread; everything
touching aiortc or Janus on the media loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from .._signaling.manager import manager
from .._transport.peer_close import close_quietly
from ..errors import JanusError
from ..sources import Source, as_source
from .janus_words import VIDEOROOM
from .lifecycle import Lifecycle
from .port import OwnedPort, Server
from .viewer import JanusViewer

if TYPE_CHECKING:
    from .._signaling.owner import SignalingHost, StreamOwner
    from .._signaling.protocol import Message
    from .janus_api import JanusHandle, JanusSession

log = logging.getLogger("nbrtc")

#: seconds between the keyframe requests Janus sends the publisher (room ``fir_freq``);
#: a subscriber that joins also gets one at once (Janus sends a PLI on its start)
FIR_FREQ = 10
#: how long close() waits for the teardown (viewers, room, session, peer)
CLOSE_WAIT = 4.0
#: each server request of the teardown waits at most this long
STEP_TIMEOUT = 1.0
#: how long a viewer waits for the publisher to go live before it gives up
READY_TIMEOUT = 15.0
STATES = ("publishing", "live", "failed", "closed")
_ids = itertools.count(1)


class Broadcast(Lifecycle):
    """A kernel source published once to Janus (make it with ``janus.broadcast(...)``).

    ``nbrtc.VideoView(feed)`` shows it in any number of cells and tabs, each page
    receiving it from Janus. ``state`` is "publishing", "live", "failed" or "closed";
    ``error`` says why in words; ``viewers`` counts the pages watching now; ``room`` and
    ``feed`` are Janus's ids. ``close()`` unpublishes (views then say "the broadcast
    ended").
    """

    STATES = STATES
    NOUN = "Broadcast"

    def __init__(
        self, janus: Server, source: Source | MediaStreamTrack | str | None, **kw: Any
    ) -> None:
        display = kw.pop("display", "nbrtc")
        if kw:
            raise TypeError(f"broadcast() got unexpected arguments: {sorted(kw)}")
        if not isinstance(display, str) or not 0 < len(display) <= 64:
            raise ValueError(f"display must be a name of 1 to 64 characters, got {display!r}")
        super().__init__()  # state "publishing", no error, not closed
        self.source = as_source(source)  # a TypeError naming what works
        self.display = display
        self._janus = janus
        self._id = f"broadcast-{next(_ids)}"
        #: private: a random id, so no other client of the server guesses it by counting
        self.room = secrets.randbelow(2**52 - 1) + 1
        self.feed: int | None = None
        self._close_lock = threading.Lock()
        self._session: JanusSession | None = None
        self._handle: JanusHandle | None = None
        self._pc: RTCPeerConnection | None = None
        self._track: MediaStreamTrack | None = None
        self._viewers: set[JanusViewer] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready: asyncio.Event | None = None
        self._teardown_task: asyncio.Task[None] | None = None
        self._manager = manager()
        self._port = BroadcastPort(self, self._id)
        self._manager.register(self._port)  # a re-run of its cell, the kernel's exit
        self._manager.media.call_soon(self._begin)

    # --- what it is (any thread) ---------------------------------------------------------
    @property
    def viewers(self) -> int:
        """Pages watching now: subscriber handles whose media Janus reports up."""
        return sum(1 for v in list(self._viewers) if v.state == "live")

    def __repr__(self) -> str:
        why = f" error={self._error!r}" if self._error else ""
        return (
            f"<nbrtc.Broadcast {self.source!r} via {self._janus.url} state={self._state!r} "
            f"viewers={self.viewers}{why}>"
        )

    def _ended_error(self) -> Exception:
        return JanusError(f"the broadcast is {self._state}: {self._error or 'closed'}")

    def _state_timeout(self, state: str, timeout: float) -> Exception:
        return JanusError(f"the broadcast is still {self._state} after {timeout:g} s")

    # --- the one place the state changes --------------------------------------------------
    def _set_state(self, new: str, error: str = "") -> None:
        with self._cond:
            old = self._state
            if new == old or old == "closed":
                return
            self._state = new
            if error:
                self._error = error
            self._cond.notify_all()
        log.info("broadcast %s: %s -> %s%s", self._id, old, new, f" ({error})" if error else "")
        if new in ("failed", "closed"):
            ended = self._error or "the broadcast was closed"
            for viewer in list(self._viewers):
                viewer.broadcast_ended(ended)

    # --- publishing (media loop) ------------------------------------------------------------
    def _begin(self) -> None:
        self._ready = asyncio.Event()
        if self._closed:
            return
        self._spawn(self._publish())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self) -> None:
        try:
            self._session = await self._janus.session_async()
            handle = self._handle = await self._session.attach(VIDEOROOM)
            await handle.message(
                {
                    "request": "create",
                    "room": self.room,
                    "publishers": 1,
                    "is_private": True,
                    "videocodec": "vp8",
                    "fir_freq": FIR_FREQ,
                    "description": f"nbrtc {self._id}",
                }
            )
            joined = await handle.message(
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": self.room,
                    "display": self.display,
                }
            )
            feed = joined.data.get("id")
            if not isinstance(feed, int):
                raise JanusError(
                    f"Janus at {self._janus.url} joined the publisher without a feed id"
                )
            self.feed = feed
            pc = self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.on("connectionstatechange", self._pc_state)
            self._track = self.source._subscribe()
            pc.addTransceiver(self._track, direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            if self._closed:
                return
            answer = await handle.message(
                {"request": "publish", "audio": False, "video": True},
                jsep={"type": "offer", "sdp": pc.localDescription.sdp},
            )
            if answer.jsep is None or answer.jsep.get("type") != "answer":
                raise JanusError(
                    f"Janus at {self._janus.url} refused the publisher: its reply had no SDP answer"
                )
            await pc.setRemoteDescription(RTCSessionDescription(answer.jsep["sdp"], "answer"))
            self._spawn(self._events(handle))
        except JanusError as exc:
            self._set_state("failed", f"publishing to Janus failed: {exc}")
        except Exception as exc:  # aiortc: an SDP it cannot take, a source that fails
            log.exception("broadcast %s: publishing failed", self._id)
            self._set_state("failed", f"publishing failed: {type(exc).__name__}: {exc}")

    def _pc_state(self) -> None:
        pc = self._pc
        if pc is not None and pc.connectionState == "failed" and not self._closed:
            self._set_state("failed", "the connection to Janus failed (ICE or DTLS)")

    async def _events(self, handle: JanusHandle) -> None:
        """The publisher handle's events until it ends (media loop)."""
        while not self._closed:
            event = await handle.events.get()
            if event.kind == "webrtcup":
                # only now can a subscriber join: before, Janus says "No such feed"
                self._set_state("live")
                if self._ready is not None:
                    self._ready.set()
            elif event.kind == "hangup":
                reason = event.data.get("reason") if isinstance(event.data, dict) else ""
                self._set_state("failed", f"Janus hung up the publisher ({reason or 'no reason'})")
                return
            elif event.kind in ("detached", "closed", "timeout"):
                reason = event.data.get("reason") if isinstance(event.data, dict) else ""
                self._set_state("failed", f"the Janus session ended: {reason or event.kind}")
                return

    # --- viewers (media loop) ---------------------------------------------------------------
    def viewer(self, host: SignalingHost, owner: StreamOwner, msg: Message) -> JanusViewer:
        """A page's view of this broadcast (the manager registers and starts it)."""
        viewer = JanusViewer(host, owner, msg, self._port)
        self._viewers.add(viewer)
        return viewer

    async def subscribe_target(self) -> tuple[JanusSession, int, int]:
        """(session, room, feed) for a new subscriber, once the publisher is live;
        ``JanusError`` in words when it failed, closed or did not join in time."""
        deadline = time.monotonic() + READY_TIMEOUT
        while self._ready is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # _begin has not run yet (it is queued on this loop)
        if self._ready is not None and not self._ready.is_set() and self._state == "publishing":
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - time.monotonic()))
        if self._state in ("failed", "closed"):
            raise JanusError(
                f"the broadcast ended: {self._error or 'it was closed'} (publisher gone)"
            )
        session, feed = self._session, self.feed
        if session is None or feed is None or self._ready is None or not self._ready.is_set():
            raise JanusError(f"the broadcast did not go live within {READY_TIMEOUT:g} s")
        return session, self.room, feed

    def viewer_closed(self, viewer: JanusViewer) -> None:
        self._viewers.discard(viewer)

    # --- closing ---------------------------------------------------------------------------
    def close(self) -> None:
        """End every view, unpublish, destroy the room and the session, close the peer.
        Idempotent, any thread; waits up to CLOSE_WAIT s unless on the media thread."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        media = self._manager.media
        if not media.running():
            return
        if media.in_loop_thread():
            media.loop.create_task(self._close_async())
            return
        fut = media.submit(self._close_async())
        try:
            self._manager.wait_teardown(fut, CLOSE_WAIT)
        except Exception as exc:
            log.warning("broadcast %s: close: %s", self._id, type(exc).__name__)

    async def _close_async(self) -> None:
        if self._teardown_task is None:
            self._teardown_task = asyncio.get_running_loop().create_task(self._teardown())
        await asyncio.shield(self._teardown_task)

    async def _teardown(self) -> None:
        self._closed = True
        if self._state != "failed":
            self._error = self._error or "the broadcast was closed"
        self._set_state("closed")
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        # The local peer closes alongside the server's steps, not after them: a server
        # that hangs (its steps wait STEP_TIMEOUT each) must not keep our peer, its
        # encoder and sockets alive, least of all at the kernel's exit, which cuts the
        # teardown short (manager.SHUTDOWN_SHARE).
        await asyncio.gather(self._leave_server(), self._close_peer(), return_exceptions=True)

    async def _leave_server(self) -> None:
        viewers = list(self._viewers)
        if viewers:
            await asyncio.gather(
                *(v.close("the broadcast ended") for v in viewers), return_exceptions=True
            )
        handle, session = self._handle, self._session
        if handle is not None and session is not None and session.end is None:
            for body in ({"request": "unpublish"}, {"request": "destroy", "room": self.room}):
                with contextlib.suppress(JanusError, asyncio.TimeoutError, TimeoutError):
                    await handle.message(body, timeout=STEP_TIMEOUT)
            with contextlib.suppress(JanusError):
                await handle.detach(STEP_TIMEOUT)
        if session is not None:
            with contextlib.suppress(JanusError):
                await session.destroy(STEP_TIMEOUT)

    async def _close_peer(self) -> None:
        if self._track is not None:
            self._track.stop()  # releases our subscription to the source
            self._track = None
        pc, self._pc = self._pc, None
        if pc is not None:
            pc.remove_all_listeners()
            await close_quietly(pc, "Janus broadcast", STEP_TIMEOUT)

    def __enter__(self) -> Broadcast:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BroadcastPort(OwnedPort["Broadcast"]):
    """A ``Broadcast`` as the manager (``owner.CellOwned``) and its viewers see it."""

    async def subscribe_target(self) -> tuple[JanusSession, int, int]:
        b = self.target
        if b is None:
            raise JanusError("the broadcast ended: it was garbage-collected (publisher gone)")
        return await b.subscribe_target()

    def viewer_closed(self, viewer: JanusViewer) -> None:
        b = self.target
        if b is not None:
            b.viewer_closed(viewer)
