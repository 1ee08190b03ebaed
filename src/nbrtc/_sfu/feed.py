"""``nbrtc.JanusFeed``: an existing Janus feed received in the kernel, with the Camera frame
API (``snapshot``, ``frames``, ``capture``, ``latest_frame``, ``fps``, ``process``,
``record``).

``janus.watch(mountpoint=ID)`` (a streaming plugin mountpoint) or
``janus.watch(room=ROOM, feed=ID | display=NAME)`` (a videoroom publisher) makes one: on the
media loop it opens a Janus session of its own, attaches the plugin, asks for the media
(``watch`` / ``join`` as a subscriber, feed_target.py), answers Janus's offer from one aiortc
RTCPeerConnection (``iceServers=[]``: nothing outside is contacted) and sends the answer
with ``start``. Decoded frames go to a ``FrameRouter`` (_media/receiver.py), the same
routing a Camera uses, so every frame call behaves as it does on a Camera.

States: ``connecting`` -> ``live`` (the first decoded video frame) -> ``closed``; or
``failed`` with ``error`` in words (the server is unreachable, the plugin is missing, the
mountpoint, room or feed does not exist, the connection failed, or "publisher gone": the
feed ended), then ``closed`` once ``close()`` ran. A failure releases the server's side at
once (the peer closed, the handle detached, the session destroyed), wakes every waiter with
the error and finalizes recordings. ``_set_state`` is the one place the state changes
(logged ``old -> new``).

Teardown: ``close()`` (idempotent, any thread; waits up to CLOSE_WAIT = 1 s unless on the
media thread) ends frame iterators, finalizes recordings, stops processing, closes the peer,
detaches the handle and destroys the session. The object registers with the manager
(an ``OwnedPort``, a ``CellOwned``): re-running its cell or the kernel's exit closes it; closing
its ``Janus`` closes it too (``Janus.adopt``).

Threads: the constructor, properties, the frame calls, ``wait`` and ``close`` on any thread;
everything touching aiortc or Janus on the media loop; ``process``'s function on a worker
thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .._media.frames import FrameSlot, to_ndarray
from .._media.process import Processor
from .._media.receiver import (
    AudioMethods,
    FrameRouter,
    ProcessMethods,
    RecordMethods,
    VideoMethods,
)
from .._signaling.manager import manager
from .._transport.peer_close import close_quietly
from ..errors import JanusError, StreamClosedError, StreamTimeoutError
from .feed_target import Target, target_of
from .lifecycle import Lifecycle
from .port import OwnedPort, Server

if TYPE_CHECKING:
    import numpy as np

    from .janus_api import JanusHandle, JanusSession

log = logging.getLogger("nbrtc")

#: how long close() waits for the teardown (peer, handle, session)
CLOSE_WAIT = 1.0
#: each server request of the teardown waits at most this long
STEP_TIMEOUT = 0.4
#: how long the peer's close may take before it goes on in a task of its own
PC_CLOSE_TIMEOUT = 0.5
#: a live feed with no frame for this long asks the server whether it still exists
SILENCE = 1.0
#: ... and asks again at most this often while it stays silent
PROBE_EVERY = 1.0
STATES = ("connecting", "live", "failed", "closed")
_ids = itertools.count(1)


class JanusFeed(VideoMethods, AudioMethods, ProcessMethods, RecordMethods, Lifecycle):
    """A Janus feed received in the kernel (make it with ``janus.watch(...)``).

    The frame calls of a Camera: ``snapshot()``, ``for f in feed.frames():``,
    ``capture(30)``, ``latest_frame``, ``fps``, ``process(fn)``, ``record("take.mp4",
    seconds=5)``; and ``capture_audio``/``level`` when the feed has sound. ``state`` is
    "connecting", "live", "failed" or "closed"; ``error`` says why in words (e.g.
    "publisher gone"); ``wait("live")`` blocks until it is live; ``frame_size`` is the
    first frame's (width, height); ``target`` what it watches. ``close()`` (or a ``with``
    block, a re-run of its cell, closing its ``Janus``) ends it.
    """

    STATES = STATES
    NOUN = "JanusFeed"

    def __init__(
        self,
        janus: Server,
        *,
        mountpoint: object = None,
        room: object = None,
        feed: object = None,
        display: object = None,
        pin: object = None,
        timeout: float = 10.0,
    ) -> None:
        self.target: Target = target_of(mountpoint, room, feed, display, pin)
        Lifecycle.__init__(self)  # state "connecting", no error, not closed
        self._janus = janus
        #: how long each request to Janus may take (the Janus's ``timeout``)
        self._timeout = timeout
        self._id = f"janus-feed-{next(_ids)}"
        self._code: int | None = None
        self._close_lock = threading.Lock()
        self._router = FrameRouter()
        self._processor = Processor(self._processing_changed)
        self._processed = FrameSlot()
        self._audio = False
        self._last_frame = 0.0  # time.monotonic() of the newest video frame
        self.frame_size: tuple[int, int] | None = None
        self._session: JanusSession | None = None
        self._handle: JanusHandle | None = None
        self._pc: RTCPeerConnection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._release_task: asyncio.Task[None] | None = None
        self._teardown_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Task[Any] | None = None
        self._manager = manager()
        self._port = OwnedPort(self, self._id)
        self._manager.register(self._port)  # a re-run of its cell, the kernel's exit
        self._manager.media.call_soon(self._begin)

    # --- what it is (any thread) ---------------------------------------------------------
    @property
    def transport(self) -> str:
        """How the frames arrive: ``"janus"`` (WebRTC from the Janus server)."""
        return "janus"

    @property
    def latest_processed(self) -> np.ndarray | None:
        """``process(fn)``'s newest output as an (H, W, 3) RGB uint8 array (None before)."""
        frame = self._processed.frame
        return None if frame is None else to_ndarray(frame, "rgb24")

    @property
    def process_error(self) -> str:
        """The processing function's last error, in words ('' when none since set)."""
        return self._processor.error

    def __repr__(self) -> str:
        why = f" error={self._error!r}" if self._error else ""
        return (
            f"<nbrtc.JanusFeed {self.target} via {self._janus.url} state={self._state!r} "
            f"frames={self.frame_count} fps={self.fps:.1f}{why}>"
        )

    def process(self, fn: Callable[[Any], Any] | None, *, format: str = "rgb24") -> None:
        """Run ``fn(frame)`` on every frame, newest first, on a worker thread of its own.

        ``fn`` gets each frame as numpy (``format``: ``rgb24`` default, ``bgr24``,
        ``gray``, or ``"av"``) and returns an image (uint8) or None after changing the
        array in place; its newest output is ``latest_processed``. A slow ``fn`` skips
        frames instead of adding lag; one that raises leaves the feed running
        (``process_error`` says why). ``process(None)`` stops it.
        """
        self._set_process(fn, format)

    def _ended_error(self) -> Exception:
        if self._state == "failed":
            return JanusError(self._error, self._code)
        return StreamClosedError(f"the JanusFeed of {self.target} was closed")

    def _state_timeout(self, state: str, timeout: float) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"the JanusFeed of {self.target} did not become {state!r} within {timeout:g} s "
            f"(state is {self._state!r}{self._hint()})"
        )

    def _hint(self) -> str:
        if self._state == "connecting" and self._pc is not None:
            return "; Janus sent no video yet: is anything feeding it?"
        return ""

    # --- what the frame calls ask (any thread; VideoMethods, FrameIterator) -----------------
    def _raise_if_unusable(self) -> None:
        if self._closed:
            raise StreamClosedError(
                f"this JanusFeed ({self.target}) is closed; make a new one with janus.watch()"
            )
        if self._state == "failed":
            raise JanusError(self._error, self._code)

    def _blocking_would_deadlock(self) -> bool:
        # the media thread decodes the frames: blocking it waits for itself
        return self._manager.media.in_loop_thread()

    def _no_stream_error(self, call: str, acall: str) -> Exception:
        call, acall = (c.replace("cam.", "feed.") for c in (call, acall))
        return RuntimeError(
            f"{call} would block nbrtc's media thread, which decodes this feed's frames; "
            f"use `await {acall}`"
        )

    def _timeout_error(self, timeout: float) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"no frame arrived from {self.target} within {timeout:g} s (state is "
            f"{self._state!r}{self._hint()}{'; error: ' + self._error if self._error else ''})"
        )

    def _has_video(self) -> bool:
        return True

    def _has_audio(self) -> bool:
        return self._audio

    def _processing_changed(self, processing: bool, error: str) -> None:
        """The Processor's report (caller's or worker thread): nothing to show but a log."""
        if error:
            log.info("janus feed %s: %s", self._id, error)

    # --- the one place the state changes --------------------------------------------------
    def _set_state(self, new: str, error: str = "", code: int | None = None) -> None:
        with self._cond:
            old = self._state
            if new == old or old == "closed" or (old == "failed" and new == "live"):
                return
            self._state = new
            if error and not self._error:
                self._error, self._code = error, code
            self._cond.notify_all()
        log.info("janus feed %s: %s -> %s%s", self._id, old, new, f" ({error})" if error else "")
        if new == "failed":
            # nothing more will arrive: waiters learn why, recordings keep what they have
            self._router.fail(JanusError(self._error, self._code))
            self._router.finish_recordings()
            self._processor.close()

    def _fail(self, error: str, code: int | None = None) -> None:
        """The feed cannot go on (media loop): say why, release the server's side."""
        if self._closed or self._state in ("failed", "closed"):
            return
        self._set_state("failed", error, code)
        self._release_task = asyncio.get_running_loop().create_task(self._release())

    # --- receiving (media loop) ---------------------------------------------------------------
    def _begin(self) -> None:
        if self._closed:
            return
        self._spawn(self._drain_processed(self._processor.track_for(self._id)))
        self._connecting = self._spawn(self._connect())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _connect(self) -> None:
        """Session, handle, offer, answer, ``start``. Never cancelled by a teardown: a
        request cut off mid-way would leave a session the server made and we never heard
        of; it sees ``_closed`` after each step instead (every step is bounded by the
        Janus's timeout) and releases whatever it made."""
        url, timeout = self._janus.url, self._timeout
        try:
            self._session = await self._janus.session_async()
            if self._closed:
                return
            handle = self._handle = await self._session.attach(self.target.plugin)
            if self._closed:
                return
            # a publisher named by display= gets its feed id here, for the probe too
            self.target = await self.target.resolved(handle, url, timeout)
            offer = await self.target.offer(handle, url, timeout)
            if self._closed:
                return
            pc = self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.on("track", self._on_track)
            pc.on("connectionstatechange", self._pc_state)
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            if self._closed:
                return
            # aiortc's answer carries its candidates: no trickle needed
            self._spawn(self._events(handle))
            await handle.message(
                {"request": "start"},
                jsep={"type": "answer", "sdp": pc.localDescription.sdp},
                timeout=timeout,
            )
        except JanusError as exc:
            self._fail(f"watching {self.target} on Janus failed: {exc}", exc.code)
        except Exception as exc:  # aiortc: an SDP it cannot take
            log.exception("janus feed %s: connecting failed", self._id)
            self._fail(f"watching {self.target} failed: {type(exc).__name__}: {exc}")
        finally:
            if self._closed:  # closed meanwhile: what was made after the teardown goes too
                await self._release()

    def _pc_state(self) -> None:
        pc = self._pc
        if pc is not None and pc.connectionState == "failed":
            self._fail(f"the connection to Janus for {self.target} failed (ICE or DTLS)")

    def _on_track(self, track: MediaStreamTrack) -> None:
        if not self._closed and track.kind in ("video", "audio"):
            # every track is read, or aiortc's receiver queues its frames without bound
            self._spawn(self._consume(track))

    async def _consume(self, track: MediaStreamTrack) -> None:
        video = track.kind == "video"
        if not video:
            self._audio = True
        while not self._closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not video:
                self._router.put_audio(frame)
                continue
            self._last_frame = time.monotonic()
            if self._router.slot.count == 0:
                self.frame_size = (frame.width, frame.height)  # type: ignore[union-attr]
                self._set_state("live")
            self._router.put_video(frame)
            self._processor.feed(self._id, frame)

    async def _drain_processed(self, track: MediaStreamTrack) -> None:
        """``process(fn)``'s outputs (the processor's track yields one per processed
        frame and waits while no function is set) into ``latest_processed``."""
        while True:
            try:
                out = await track.recv()
            except MediaStreamError:
                return
            self._processed.put(out)

    async def _events(self, handle: JanusHandle) -> None:
        """The handle's events until the feed ends (media loop); while none comes and the
        feed is silent, the probe."""
        while not self._closed:
            try:
                event = await asyncio.wait_for(handle.events.get(), PROBE_EVERY)
            except (asyncio.TimeoutError, TimeoutError):
                await self._probe(handle)
                continue
            gone = self.target.ended(event)
            if gone is not None:
                self._fail(gone)
                return
            data = event.data if isinstance(event.data, dict) else {}
            if event.kind == "hangup":
                reason = data.get("reason") or "no reason given"
                self._fail(f"Janus hung up the connection for {self.target} ({reason})")
                return
            if event.kind in ("detached", "closed", "timeout"):
                reason = data.get("reason") or event.kind
                self._fail(f"the Janus session for {self.target} ended: {reason}")
                return
            if event.kind == "webrtcup":
                log.info("janus feed %s: Janus says the media path is up", self._id)

    async def _probe(self, handle: JanusHandle) -> None:
        """A live feed went silent: ask the server whether what it watches still exists
        (a videoroom publisher's ``leave`` ends its media without a word to subscribers).
        A source that only paused is still there: the feed stays live."""
        if self._state != "live" or time.monotonic() - self._last_frame < SILENCE:
            return
        try:
            gone = await self.target.gone(handle, self._janus.url, STEP_TIMEOUT * 2)
        except JanusError as exc:  # the server is slow or the session ended: events say
            log.debug("janus feed %s: probe: %s", self._id, exc)
            return
        if gone is not None:
            self._fail(gone)

    # --- closing ---------------------------------------------------------------------------
    def close(self) -> None:
        """End frame iterators, finalize recordings, close the peer, detach the handle and
        destroy the session. Idempotent, any thread; waits up to CLOSE_WAIT s unless on
        the media thread."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        media = self._manager.media
        if not media.running():
            self._finish()
            return
        if media.in_loop_thread():
            media.loop.create_task(self._close_async())
            return
        fut = media.submit(self._close_async())
        try:
            self._manager.wait_teardown(fut, CLOSE_WAIT)
        except Exception as exc:
            log.warning("janus feed %s: close: %s", self._id, type(exc).__name__)

    async def _close_async(self) -> None:
        if self._teardown_task is None:
            self._teardown_task = asyncio.get_running_loop().create_task(self._teardown())
        await asyncio.shield(self._teardown_task)

    def _finish(self) -> None:
        """The Python side of the end (any thread): state, waiters, iterators, files."""
        self._set_state("closed")
        self._router.close(StreamClosedError(f"the JanusFeed of {self.target} was closed"))
        self._processor.close()

    async def _teardown(self) -> None:
        self._finish()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current and task is not self._connecting:
                task.cancel()
        if self._release_task is None:
            self._release_task = asyncio.get_running_loop().create_task(self._release())
        await asyncio.shield(self._release_task)

    async def _release(self) -> None:
        """Close the peer and, meanwhile, detach the handle and destroy the session."""
        await asyncio.gather(self._close_pc(), self._leave_server(), return_exceptions=True)

    async def _close_pc(self) -> None:
        pc, self._pc = self._pc, None
        if pc is None:
            return
        pc.remove_all_listeners()
        # a slower close goes on in its task (never cancelled half-way: its sockets)
        await close_quietly(pc, f"Janus feed {self.target}", PC_CLOSE_TIMEOUT)

    async def _leave_server(self) -> None:
        handle, session = self._handle, self._session
        if handle is not None:
            with contextlib.suppress(JanusError):
                await handle.detach(STEP_TIMEOUT)
        if session is not None:
            with contextlib.suppress(JanusError):
                await session.destroy(STEP_TIMEOUT)

    def __enter__(self) -> JanusFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
