"""A real aiortc peer standing in for the browser, speaking nbrtc's protocol v1.

It runs its own asyncio loop in its own thread (like a real browser, it is independent
of the kernel's media thread), trickles its ICE candidates as separate ``candidate``
messages (the SDP it offers carries none), and records every message it receives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fractions
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_to_sdp

import nbrtc
from nbrtc._signaling.stream import rtc_configuration
from nbrtc._transport import peer_close
from nbrtc._widgets.stream_widget import StreamWidget

_ids = itertools.count(1)


class CountingTrack(MediaStreamTrack):
    """A fake camera: 320x240 frames whose pixel value encodes the frame number."""

    kind = "video"

    def __init__(self, fps: float = 30) -> None:
        super().__init__()
        self.n = 0
        self.fps = fps
        self.t0 = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        self.n += 1
        due = self.t0 + self.n / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))  # pace: a camera's frame clock
        img = np.full((240, 320, 3), (self.n * 8) % 256, np.uint8)
        img[:, : 320 * (self.n % 10) // 10, 0] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self.n * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class BeepTrack(MediaStreamTrack):
    """A fake microphone: 20 ms frames of 48 kHz stereo s16, a 1 kHz tone (like Chromium's
    fake device, which beeps)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.t0 = time.monotonic()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        due = self.t0 + self.n * 0.02
        await asyncio.sleep(max(0.0, due - time.monotonic()))  # pace: a microphone's 20 ms chunks
        t = np.arange(self.n * 960, (self.n + 1) * 960) / 48000.0
        mono = (0.25 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        frame.pts = self.n * 960
        frame.time_base = fractions.Fraction(1, 48000)
        self.n += 1
        return frame


class FakeBrowser:
    """Plays the browser side of one page for any number of widgets."""

    def __init__(self, control: bool = True) -> None:
        """``control``: open the control channel with every pc and, once it is open, send
        the heartbeat and hear the kernel's pings on it (js/peer/control.js); without
        it, both go through the comm, as on a page whose channel is not open."""
        self.control = control
        #: per stream: the page's control channel (when ``control``)
        self.controls: dict[str, Any] = {}
        #: per stream: the content of each report of the previous stats sample sent
        self._stats_sent: dict[str, dict[str, str]] = {}
        self.page = f"p{next(_ids):07x}"
        #: the page key, as js/core/router.js draws it: every message this page sends carries it
        self.key = secrets.token_hex(16)
        self.loop = asyncio.new_event_loop()
        # named, so leak checks can tell this page's encoder threads from the kernel's
        self.loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="fake-browser-pool")
        )
        self.thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="fake-browser"
        )
        self.thread.start()
        self.received: list[dict[str, Any]] = []
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.widgets: dict[str, StreamWidget] = {}
        self.frames: dict[str, list[np.ndarray]] = {}
        self.frame_counts: dict[str, int] = {}
        self.audio_frames: dict[str, int] = {}
        self.channels: dict[tuple[str, str], Any] = {}
        self.offers: dict[str, str] = {}  # the SDP each stream offered
        self.trickled: dict[str, int] = {}  # candidate lines trickled per stream
        self.answers: dict[str, list[str]] = {}  # every answer the kernel sent, per stream
        self.reoffers: dict[str, list[str]] = {}  # offers made on the kernel's renegotiate
        self.messages: dict[tuple[str, str], list[Any]] = {}
        #: kernel frames over the comm per stream: the newest few (payload, buffers), count
        self.comm_frames: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        self.comm_frame_count: dict[str, int] = {}
        self.tracks: list[MediaStreamTrack] = []
        #: per stream: (kind, audio) it was started with; new pcs made for ``fresh``
        self.kinds: dict[str, tuple[str, bool]] = {}
        self.fresh_pcs: dict[str, int] = {}
        self._n = 0
        self.drop_answers = False
        self.silent = False
        #: answer a kernel ping that asks (``ask``) through the comm at once, as the page's
        #: core/session.js does; False: a page that ignores it (a test's negative control)
        self.answer_asks = True
        self._tasks: set[asyncio.Future[Any]] = set()
        #: closes started by the kernel's bye: _drain lets them finish, never cancels them
        #: (a pc.close() cancelled half-way leaves its ICE sockets open)
        self._closing: set[asyncio.Future[Any]] = set()

    def _spawn(self, coro: Any) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def start_task(self, coro: Any) -> None:
        """Run ``coro`` as a task of this page's loop (from any thread); drained with the
        page's other tasks."""
        self.loop.call_soon_threadsafe(self._spawn, coro)

    # --- plumbing ---------------------------------------------------------------------------
    def attach(self, widget: StreamWidget) -> None:
        """Route the widget's kernel->browser messages to this fake page."""
        widget._send_protocol = self._on_kernel_message  # type: ignore[method-assign]

    def _on_kernel_message(self, msg: dict[str, Any], buffers: Any = None) -> None:
        if msg["type"] == "frame":  # media over the comm: kept apart (tests/kernel/_comm_page.py)
            self.comm_frames.setdefault(msg["stream"], []).append((msg["payload"], buffers))
            del self.comm_frames[msg["stream"]][:-8]
            self.comm_frame_count[msg["stream"]] = self.comm_frame_count.get(msg["stream"], 0) + 1
            return
        self.received.append(msg)
        # A closed page drops what the kernel still sends it, as a real comm whose page is
        # gone does: attach() replaced the widget's _send_protocol, which never raises, so
        # raising here would fail the kernel's teardown (its bye) and strand the stream.
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                self.loop.call_soon_threadsafe(self._handle, msg)

    def send(self, widget: StreamWidget, type_: str, stream: str, payload: Any) -> None:
        """Browser -> kernel, through the manager's comm entry point (as the comm would)."""
        widget._manager.handle_message(widget._port, self.envelope(type_, stream, payload))

    def send_batch(
        self, widget: StreamWidget, stream: str, items: list[tuple[str, Any]], buffers: Any = None
    ) -> None:
        """Browser -> kernel: ``items`` ((type, payload) pairs) in one ``batch``, as the
        page's router sends the reports it held back (js/core/router.js)."""
        content = {
            "v": 1,
            "type": "batch",
            "stream": stream,
            "payload": [{"type": t, "payload": p} for t, p in items],
            "key": self.key,
        }
        widget._manager.handle_message(widget._port, content, buffers)

    def envelope(self, type_: str, stream: str, payload: Any) -> dict[str, Any]:
        """A browser -> kernel message of this page (with its key)."""
        return {"v": 1, "type": type_, "stream": stream, "payload": payload, "key": self.key}

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def barrier(self, widget: StreamWidget) -> None:
        """Wait until the kernel has dispatched everything sent before this call.

        A valid ping for an unknown stream goes the same way as every other message
        (comm handler -> media loop, in order) and earns an ``unknown-stream`` reply from
        the media loop: once that reply is here, every earlier message has been handled.
        (A malformed ping would be refused by the comm handler itself, before the media
        loop saw anything, and prove nothing.)
        """
        self._n += 1
        sid = f"barrier-{self._n}"
        self.send(widget, "ping", sid, {"t": 0})
        wait_for(
            lambda: any(
                m["payload"]["code"] == "unknown-stream" for m in self.of_type("error", sid)
            ),
            5,
            what="barrier reply from the media loop",
        )

    def of_type(self, type_: str, stream: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in list(self.received)
            if m["type"] == type_ and (stream is None or m["stream"] == stream)
        ]

    # --- starting a stream -----------------------------------------------------------------------
    def new_stream_id(self) -> str:
        self._n += 1
        return f"{self.page}-{self._n}"

    def start(
        self,
        widget: StreamWidget,
        kind: str | None = None,
        trickle: bool = True,
        audio: bool | None = None,
    ) -> str:
        """Create a peer shaped like the real page's for ``kind``, send the offer
        (without candidates), then trickle candidates."""
        sid = self.new_stream_id()
        self.widgets[sid] = widget
        if audio is None:
            audio = bool(getattr(widget, "audio", False))
        self.run(self._start(widget, sid, kind or widget._kind, trickle, audio))
        return sid

    async def _start(
        self, widget: StreamWidget, sid: str, kind: str, trickle: bool, audio: bool = False
    ) -> None:
        self.frames[sid] = []
        self.frame_counts[sid] = 0
        self.audio_frames[sid] = 0
        self.kinds[sid] = (kind, audio)
        pc = await self._new_pc(widget, sid, kind, audio)
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)  # aiortc gathers here
        sdp = pc.localDescription.sdp
        if trickle:
            lines = [
                ln
                for ln in sdp.splitlines()
                if not ln.startswith(("a=candidate:", "a=end-of-candidates"))
            ]
            sdp = "\r\n".join(lines) + "\r\n"
        self.offers[sid] = sdp
        self.send(widget, "offer", sid, {"sdp": sdp, "kind": kind, "page": self.page, "view": sid})
        self._spawn(self._ping(widget, sid))
        if trickle:
            # As the page's router does: the first report alone, those right behind it
            # (the rest of the candidates, the end of them) in one batch
            items: list[tuple[str, Any]] = []
            for t in pc.getTransceivers():
                for cand in t.sender.transport.transport.iceGatherer.getLocalCandidates():
                    self.trickled[sid] = self.trickled.get(sid, 0) + 1
                    line = "candidate:" + candidate_to_sdp(cand)
                    items.append(
                        ("candidate", {"candidate": line, "sdpMid": t.mid, "sdpMLineIndex": 0})
                    )
                break  # bundled: one transport
            items.append(("candidate", None))
            first_type, first = items[0]
            self.send(widget, first_type, sid, first)
            if items[1:]:
                self.send_batch(widget, sid, items[1:])

    def kernel_offer(self, widget: StreamWidget, sid: str) -> str:
        """The kernel's offer ``sid`` (preoffer.py) this page received ("" if none)."""
        got = [m for m in self.of_type("offer", sid) if m["payload"].get("kernel") is True]
        return got[-1]["payload"]["sdp"] if got else ""

    def answer_kernel(self, widget: StreamWidget, sid: str, audio: bool = False) -> None:
        """Answer the kernel's offer ``sid`` as the page's peer.js does (_answerKernel):
        the camera's track on the offer's video section (sendrecv), the kernel's control
        channel adopted when it arrives, the answer sent with what the page is."""
        sdp = self.kernel_offer(widget, sid)
        assert sdp, f"no kernel offer {sid} reached this page"
        self.widgets[sid] = widget
        self.run(self._answer_kernel(widget, sid, sdp, audio))

    async def _answer_kernel(self, widget: StreamWidget, sid: str, sdp: str, audio: bool) -> None:
        self.frames[sid] = []
        self.frame_counts[sid] = 0
        self.audio_frames[sid] = 0
        self.kinds[sid] = ("camera", audio)
        pc = RTCPeerConnection(await self._rtc_configuration(widget, sid))
        self.pcs[sid] = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._spawn(self._read(sid, track))

        @pc.on("datachannel")
        def on_datachannel(dc: Any) -> None:
            if dc.label == "nbrtc":
                if self.control:
                    self._control(sid, dc)
            else:
                self._adopt(sid, dc)

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        for t in pc.getTransceivers():
            if t.kind == "video":
                track = CountingTrack()
                self.tracks.append(track)
                t.direction = "sendrecv"
                t.sender.replaceTrack(track)
            elif t.kind == "audio" and audio:
                beep = BeepTrack()
                self.tracks.append(beep)
                t.direction = "sendonly"
                t.sender.replaceTrack(beep)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        self.offers[sid] = pc.localDescription.sdp
        self.send(
            widget,
            "answer",
            sid,
            {"sdp": pc.localDescription.sdp, "kind": "camera", "page": self.page, "view": sid},
        )
        self._spawn(self._ping(widget, sid))

    async def _new_pc(
        self, widget: StreamWidget, sid: str, kind: str, audio: bool
    ) -> RTCPeerConnection:
        """The page's pc for ``sid`` with its transceivers, tracks and control channel
        (as js/peer/peer.js makes it: at the start, and again for a fresh reconnection)."""
        pc = RTCPeerConnection(await self._rtc_configuration(widget, sid))
        self.pcs[sid] = pc
        if kind in ("camera", "screen"):
            track = CountingTrack()
            self.tracks.append(track)
            # sendrecv, as the page does: the kernel may send processed video back
            pc.addTransceiver(track, direction="sendrecv")
            if audio:
                beep = BeepTrack()
                self.tracks.append(beep)
                pc.addTransceiver(beep, direction="sendonly")
        elif kind == "microphone":
            beep = BeepTrack()
            self.tracks.append(beep)
            pc.addTransceiver(beep, direction="sendonly")
        elif kind == "audio":
            pc.addTransceiver("audio", direction="recvonly")
        else:
            pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._spawn(self._read(sid, track))

        @pc.on("datachannel")
        def on_datachannel(dc: Any) -> None:
            self._adopt(sid, dc)

        if self.control:  # the page's control channel: every offer carries a data section
            self._control(sid, pc.createDataChannel("nbrtc"))
        return pc

    def _control(self, sid: str, dc: Any) -> None:
        """Hear the kernel on the control channel: its messages join ``received`` (marked
        ``"via": "control"``), as the page's control.js hears its pings."""
        self.controls[sid] = dc

        @dc.on("message")
        def on_message(data: Any) -> None:
            try:
                msg = json.loads(data)
            except (TypeError, ValueError):
                return
            if isinstance(msg, dict):
                self.received.append({**msg, "via": "control"})

    def _control_send(self, sid: str, data: str | bytes) -> bool:
        """Send ``data`` on ``sid``'s open control channel (page loop); False if it is not
        open."""
        dc = self.controls.get(sid)
        if dc is None or dc.readyState != "open":
            return False
        dc.send(data)
        return True

    def control_send(self, sid: str, type_: str, payload: Any, stream: str | None = None) -> bool:
        """Send a ``type_`` envelope (naming ``stream``, by default ``sid``) on ``sid``'s
        control channel, as js/peer/control.js does (any thread but the page loop)."""
        text = json.dumps({"v": 1, "type": type_, "stream": stream or sid, "payload": payload})
        return self.control_raw(sid, text)

    def control_raw(self, sid: str, data: str | bytes) -> bool:
        """Send ``data`` as it is on ``sid``'s control channel (any thread but the page
        loop); False if the channel is not open."""

        async def go() -> bool:
            return self._control_send(sid, data)

        return bool(self.run(go()))

    async def _rtc_configuration(self, widget: StreamWidget, sid: str) -> RTCConfiguration:
        """Like the page (peer/peer.js, transport/ice.js): the widget's ``rtc_config``, with the
        full ICE servers asked of the kernel (``ice-servers``) when it says so. Always an
        explicit list: given none, aiortc would contact a public STUN server."""
        rtc = dict(widget.rtc_config or {})
        servers = rtc.get("iceServers") or []
        if rtc.get("credentials") == "ask":
            self.send(widget, "ice-servers", sid, None)
            await until(lambda: self.of_type("ice-servers", sid), 5, f"ice-servers reply for {sid}")
            servers = self.of_type("ice-servers", sid)[-1]["payload"]["iceServers"]
        return rtc_configuration(servers, rtc.get("iceTransportPolicy", "all"))

    async def _ping(self, widget: StreamWidget, sid: str) -> None:
        """Like the real page: a ping every second while the stream is open, on the
        control channel when it is open, through the comm otherwise; and through the comm
        at once when the kernel asks (``_handle``), the page's safety net for a path that
        lost the page's messages."""
        while sid in self.pcs and not self.silent:
            ping = {"v": 1, "type": "ping", "stream": sid, "payload": {"t": time.monotonic()}}
            if not self._control_send(sid, json.dumps(ping)):
                self.send(widget, "ping", sid, {"t": time.monotonic()})
            await asyncio.sleep(1.0)  # pace: a page pings once a second

    async def _read(self, sid: str, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "audio":
                self.audio_frames[sid] = self.audio_frames.get(sid, 0) + 1
                continue
            self.frame_counts[sid] = self.frame_counts.get(sid, 0) + 1
            frames = self.frames[sid]
            frames.append(frame.to_ndarray(format="rgb24"))
            del frames[:-5]  # keep the newest few

    # --- data channels -------------------------------------------------------------------------
    def _adopt(self, sid: str, dc: Any) -> None:
        key = (sid, dc.label)
        self.channels[key] = dc
        self.messages.setdefault(key, [])

        @dc.on("message")
        def on_message(message: Any) -> None:
            self.messages[key].append(message)

    def channel_send(self, sid: str, label: str, message: str | bytes) -> None:
        """Send on the page's end of ``label`` (opening it from the page if needed)."""

        async def go() -> None:
            dc = self.channels.get((sid, label))
            if dc is None:
                dc = self.pcs[sid].createDataChannel(label)
                self._adopt(sid, dc)
            if dc.readyState != "open":
                opened = asyncio.get_running_loop().create_future()
                dc.once("open", lambda: opened.done() or opened.set_result(None))
                await asyncio.wait_for(opened, 5)
            dc.send(message)

        self.run(go())

    def _handle(self, msg: dict[str, Any]) -> None:
        sid = msg["stream"]
        pc = self.pcs.get(sid)
        if msg["type"] == "answer" and pc is not None and not self.drop_answers:
            self.answers.setdefault(sid, []).append(msg["payload"]["sdp"])
            self._spawn(
                pc.setRemoteDescription(RTCSessionDescription(msg["payload"]["sdp"], "answer"))
            )
        elif msg["type"] == "renegotiate" and pc is not None:
            task = self._spawn(self._reoffer(sid, msg["payload"]))
            if msg["payload"].get("fresh"):  # closes the old pc: _drain lets it finish
                self._closing.add(task)
        elif msg["type"] == "bye" and pc is not None:
            self._closing.add(self._spawn(self._close(sid)))
        elif (
            msg["type"] == "ping"
            and isinstance(msg["payload"], dict)
            and msg["payload"].get("ask") is True
            and self.answer_asks
            and not self.silent
            and sid in self.widgets
            and pc is not None
        ):
            # like the page's router.beat: one comm ping listing the page's open streams
            live = [sid, *(s for s in self.pcs if s != sid)][:64]
            self.send(self.widgets[sid], "ping", sid, {"t": time.monotonic(), "live": live})

    async def _reoffer(self, sid: str, request: dict[str, Any]) -> None:
        """Like the page: a new offer on the same peer (aiortc cannot restart ICE), or
        with ``fresh`` on a new peer (the old one closed first, as js/peer/peer.js does)."""
        pc = self.pcs.get(sid)
        if pc is None:
            return
        if request.get("fresh"):
            await self._fresh(sid, request)
            return
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        self.reoffers.setdefault(sid, []).append(pc.localDescription.sdp)
        reason = str(request.get("reason", ""))[:128]
        self.send(
            self.widgets[sid], "reoffer", sid, {"sdp": pc.localDescription.sdp, "reason": reason}
        )

    async def _fresh(self, sid: str, request: dict[str, Any]) -> None:
        old = self.pcs.pop(sid, None)
        if old is None:  # another fresh request is making its pc
            return
        kind, audio = self.kinds[sid]
        widget = self.widgets[sid]
        try:
            pc = await self._new_pc(widget, sid, kind, audio)
            self.fresh_pcs[sid] = self.fresh_pcs.get(sid, 0) + 1
            offer = await pc.createOffer()
            await pc.setLocalDescription(offer)
            self.reoffers.setdefault(sid, []).append(pc.localDescription.sdp)
            reason = str(request.get("reason", ""))[:128]
            payload = {"sdp": pc.localDescription.sdp, "reason": reason, "fresh": True}
            self.send(widget, "reoffer", sid, payload)
        finally:
            await old.close()  # after the offer went out, as js/peer/peer.js does

    def send_stats(self, sid: str) -> list[dict[str, Any]]:
        """Send the page peer's getStats as the page does (flat reports; on the control
        channel when it is open; reports unchanged since this stream's previous sample
        but for their timestamp go by id, as js/core/stats-delta.js sends them); returns
        them, whole."""
        from nbrtc._inspection.stats import flatten_aiortc

        async def sample() -> list[dict[str, Any]]:
            return flatten_aiortc(await self.pcs[sid].getStats())

        reports = self.run(sample())
        payload = {"t": time.monotonic() * 1000, **self.pack_stats(sid, reports)}
        if not self.control_send(sid, "stats", payload):  # the page's control.js
            self.send(self.widgets[sid], "stats", sid, payload)
        return reports

    def pack_stats(self, sid: str, reports: list[dict[str, Any]]) -> dict[str, Any]:
        """``{"reports"}`` or ``{"reports", "same"}`` for ``reports`` (stats-delta.js)."""
        contents = {
            r["id"]: json.dumps({k: v for k, v in r.items() if k != "timestamp"}, sort_keys=True)
            for r in reports
        }
        before, self._stats_sent[sid] = self._stats_sent.get(sid, {}), contents
        same = [rid for rid, text in contents.items() if before.get(rid) == text]
        if not same:
            return {"reports": reports}
        return {"reports": [r for r in reports if r["id"] not in same], "same": same}

    async def _close(self, sid: str) -> None:
        pc = self.pcs.pop(sid, None)
        self.controls.pop(sid, None)  # it holds its pc
        self._stats_sent.pop(sid, None)
        if pc is not None:
            for t in pc.getSenders():
                if t.track:
                    t.track.stop()
            # a page's peer closed mid-handshake must not start SCTP afterwards either
            # (it would count as a leaked peer in the leak checks for ~25 s)
            peer_close.seal(pc)
            await pc.close()

    async def _drain(self) -> None:
        """Let every pending task of this page finish (or cancel it), as a tab would."""
        for sid in list(self.pcs):
            await self._close(sid)
        if self._closing:
            await asyncio.wait(self._closing, timeout=5)
            for sid in list(self.pcs):  # a fresh reconnection's new pc
                await self._close(sid)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def bye(self, sid: str, reason: str = "view-removed") -> None:
        """The browser closes a stream (view removed)."""
        self.send(self.widgets[sid], "bye", sid, {"reason": reason})
        self.run(self._close(sid))

    def crash(self, sid: str) -> None:
        """The page dies without a word: no bye, no pings, the peer just stops."""
        self.silent = True
        self.run(self._close(sid))

    def close(self) -> None:
        self.channels.clear()  # they hold their transports (and so the peers) alive
        self.controls.clear()
        for sid in list(self.pcs):
            self.run(self._close(sid))
        self.run(self._drain())
        self.run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def assert_holds(
    predicate: Callable[[], Any], seconds: float, what: str = "", interval: float = 0.02
) -> None:
    """Fail as soon as ``predicate`` is falsy within ``seconds`` (it must hold throughout),
    looking every ``interval`` seconds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert predicate(), f"stopped holding: {what or predicate}"
        time.sleep(interval)  # poll interval (assert_holds)


def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> float:
    """Poll ``predicate`` until truthy; return the seconds it took; fail with ``what``."""
    t0 = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)  # poll interval (wait_for)


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    """:func:`wait_for` for code on an event loop: poll every 20 ms without blocking it."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)  # poll interval (until)


def make(widgets: list[Any], browser: FakeBrowser, widget: Any) -> Any:
    """``widget``, closed by the ``widgets`` fixture and talking to the fake ``browser``."""
    widgets.append(widget)
    browser.attach(widget)
    return widget


def live(browser: FakeBrowser, widgets: list[Any], widget: Any) -> tuple[Any, str]:
    """``widget`` shown in the fake ``browser`` and live: (widget, stream id)."""
    make(widgets, browser, widget)
    sid = browser.start(widget)
    widget.wait("live", timeout=10)
    return widget, sid


class LoopProbe:
    """A task on an event loop (the media loop unless ``loop`` is given) that sleeps 10 ms
    at a time; ``last`` is when it last woke, ``worst`` the most it ever woke late,
    ``recent`` the most since :meth:`mark`.

    A test thread reading ``time.monotonic() - probe.last`` sees a stall while it is
    happening (the probe itself cannot run until the loop is free again). Use it as a
    context manager, or :meth:`start` and :meth:`stop` (idempotent)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.last = time.monotonic()
        self.worst = 0.0
        self.recent = 0.0
        self._loop = loop
        self._stop = False
        self._fut: Any = None

    async def _run(self) -> None:
        while not self._stop:
            t = time.monotonic()
            await asyncio.sleep(0.01)  # pace: the probe's 10 ms tick measures the loop's lateness
            self.last = time.monotonic()
            late = self.last - t - 0.01
            self.worst = max(self.worst, late)
            self.recent = max(self.recent, late)

    def start(self) -> LoopProbe:
        if self._loop is None:
            self._fut = nbrtc.manager().media.submit(self._run())
        else:
            self._fut = asyncio.run_coroutine_threadsafe(self._run(), self._loop)
        return self

    def mark(self) -> None:
        """Start ``recent`` over."""
        self.recent = 0.0

    def __str__(self) -> str:
        stuck = time.monotonic() - self.last
        now = f", STUCK for {stuck:.1f} s now" if stuck > 0.5 else ""
        return f"worst {self.worst * 1000:.0f} ms late, {self.recent * 1000:.0f} ms since mark{now}"

    def __enter__(self) -> LoopProbe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop = True
        # a loop still blocked (the old code) cannot finish the probe: the finding is made
        with contextlib.suppress(Exception):
            self._fut.result(2)
