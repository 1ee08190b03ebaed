"""``RawPeer``: aiohttp + one aiortc answerer on a private asyncio loop thread.

HTTP API used by ``page.html`` (JSON bodies):

* ``GET /``: the page.
* ``POST /offer`` ``{"sdp", "type": "offer"}``: the first offer creates the peer connection
  (echoing the browser's video back, counting received frames); a later one is a
  renegotiation, and an ICE restart when its ufrag changed (``needs_restart`` ->
  ``restart`` -> setRemoteDescription -> createAnswer -> setLocalDescription, the path nbrtc
  uses). Replies ``{"sdp", "type": "answer", "restart": <restart() info or null>}``.
* ``POST /candidate`` ``RTCIceCandidate.toJSON()`` or ``{"candidate": null}`` (end of
  candidates): the browser's trickled candidates. The kernel's candidates are all in its
  answers (aiortc gathers before answering), so nothing trickles the other way.

The page serialises its requests (one promise chain) and holds the candidates gathered
while an offer is in flight until the answer is back, so the server always sees a
generation's candidates after the offer that starts it, as with nbrtc's ordered comm
messages.

Thread: the test thread calls ``start``/``call``/``stop``; everything else runs on the
server loop. ``frame_times()`` may be read from any thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from nbrtc._transport import ice_restart as _ice_restart

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("page.html")


class RawPeer:
    """One page, one aiortc answerer; see the module docstring."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="raw-peer-loop", daemon=True)
        self._runner: web.AppRunner | None = None
        self._lock: asyncio.Lock | None = None  # created on the loop
        self._tasks: set[asyncio.Task[Any]] = set()
        self._frames_lock = threading.Lock()
        self._frames: list[float] = []
        self.pc: RTCPeerConnection | None = None
        self.url = ""
        #: Every answer's SDP, every restart() result, every browser candidate line handled.
        self.answers: list[str] = []
        self.restarts: list[dict[str, Any]] = []
        self.candidates: list[str] = []
        self.stale_candidates: list[str] = []
        self.errors: list[str] = []
        #: Seconds to hold back the answer to an ICE restart (slow signaling): the kernel
        #: then runs with its new credentials while the browser still uses the old ones.
        self.restart_answer_delay = 0.0

    # --- test thread ---------------------------------------------------------------------
    def start(self) -> str:
        """Start the loop thread and the HTTP server on 127.0.0.1; return the page URL."""
        self._thread.start()
        port = self.call(self._start_http)
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 15.0) -> Any:
        """Run ``fn(*args)`` on the server loop (awaited if it is a coroutine function)."""

        async def run() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        fut: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return fut.result(timeout)

    def frame_times(self) -> list[float]:
        """``time.monotonic()`` of every video frame the kernel received and decoded."""
        with self._frames_lock:
            return list(self._frames)

    def stop(self) -> None:
        """Close the pc, the HTTP server and the loop; join the thread. Idempotent."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.call(self._shutdown, timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()

    # --- loop thread ---------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _start_http(self) -> int:
        self._lock = asyncio.Lock()
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_post("/offer", self._offer)
        app.router.add_post("/candidate", self._candidate)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._runner is not None:
            await self._runner.cleanup()
        # aiortc encodes/decodes in the default executor: join its threads.
        await self.loop.shutdown_default_executor()

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _page(self, _request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(), content_type="text/html")

    async def _offer(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert self._lock is not None
        async with self._lock:
            try:
                info = await self._apply_offer(body["sdp"])
            except Exception as exc:
                self.errors.append(f"offer: {exc!r}")
                log.exception("offer failed")
                raise web.HTTPInternalServerError(text=repr(exc)) from exc
            assert self.pc is not None
            answer = self.pc.localDescription
            self.answers.append(answer.sdp)
            return web.json_response({"sdp": answer.sdp, "type": answer.type, "restart": info})

    async def _apply_offer(self, sdp: str) -> dict[str, Any] | None:
        info = None
        if self.pc is None:
            # No STUN server: there is no network, and host candidates are all we need.
            self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self.pc.on("track", self._on_track)
        elif _ice_restart.needs_restart(self.pc, sdp):
            info = await _ice_restart.restart(self.pc, sdp)
            self.restarts.append(info)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        if info is not None and self.restart_answer_delay > 0:
            # scenario: a slow answer to an ICE restart
            await asyncio.sleep(self.restart_answer_delay)
        return info

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video" or self.pc is None:
            return
        relay = MediaRelay()
        # Echo: unbuffered, so a slow encoder drops frames instead of queueing them.
        self.pc.addTrack(relay.subscribe(track, buffered=False))
        self._spawn(self._count_frames(relay.subscribe(track)))

    async def _count_frames(self, track: MediaStreamTrack) -> None:
        # A consumer of its own, so the count measures reception, not the echo's encoder.
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                with self._frames_lock:
                    self._frames.append(time.monotonic())

    async def _candidate(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert self._lock is not None
        async with self._lock:
            pc = self.pc
            if pc is None:
                raise web.HTTPConflict(text="no offer yet")
            text = (body or {}).get("candidate")
            if not text:
                await pc.addIceCandidate(None)
                self.candidates.append("end-of-candidates")
                return web.json_response({"ok": True})
            # A late candidate of a previous generation would be paired under the new
            # credentials for nothing: drop it (its ufrag says which generation it is).
            ufrag = body.get("usernameFragment")
            remote = pc.remoteDescription
            current = _ice_restart.remote_ice_credentials(remote.sdp) if remote else None
            if ufrag and current and ufrag != current[0]:
                self.stale_candidates.append(text)
                return web.json_response({"ok": False, "stale": True})
            cand = candidate_from_sdp(text.removeprefix("candidate:"))
            cand.sdpMid = body.get("sdpMid")
            cand.sdpMLineIndex = body.get("sdpMLineIndex")
            await pc.addIceCandidate(cand)
            self.candidates.append(text)
            return web.json_response({"ok": True})
