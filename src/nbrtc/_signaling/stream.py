"""One kernel-side peer connection for one browser stream (``KernelStream``).

Every method runs on the media loop unless its docstring says otherwise. State changes
go through ``_set_state`` only, which logs ``old -> new`` and tells the widget.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from .._inspection.history import History
from .._transport import ice as _ice
from .._transport import ice_restart as _ice_restart
from .._transport.comm_audio import CommAudioReceiver, CommAudioSender
from .._transport.comm_media import CommReceiver, CommSender
from .._transport.reconnect import Reconnect
from ..errors import CameraError, StreamError
from . import liveness
from . import renegotiate as _renegotiate
from .candidate import candidate_body, parse_candidate
from .protocol import COMM_KINDS, ProtocolError, _check_offer_sdp, make_message

if TYPE_CHECKING:
    from .owner import SignalingHost, StreamOwner

log = logging.getLogger("nbrtc")

#: stream states, in the order a healthy stream passes through them
STATES = ("new", "connecting", "live", "error", "closed")
_TERMINAL = frozenset({"error", "closed"})
_ALLOWED = {
    "new": {"connecting", "error", "closed"},
    "connecting": {"live", "error", "closed"},
    "live": {"error", "closed"},
    "error": {"closed"},
    "closed": set(),
}

#: kinds whose stream carries media from the browser: live at the first received frame
SENDING_KINDS = frozenset({"camera", "screen", "microphone"})

#: the browser's state message fields kept (the history and the Inspector use the same names)
_BROWSER_STATE_KEYS = frozenset({"signaling", "gathering", "ice", "connection"})
#: How long the browser's end-of-candidates is held back from aioice. aioice declares
#: ICE failed as soon as it has "all" candidates and none works, but a busy browser can
#: still be about to send checks (peer-reflexive candidates) or candidates it gathered
#: late; seen with 16 views starting at once on a loaded machine. Until then, failure is
#: left to the browser and to aioice's own check timeouts.
END_OF_CANDIDATES_GRACE = 5.0
#: How long the kernel's ICE may stay unconnected after the answer before the stream
#: fails in words. aioice fails a candidate pair only when its last STUN retransmission
#: times out, 63.5 s after the first check; peers that can reach each other connect in
#: well under a second on a LAN and within a few seconds through TURN.
ICE_CONNECT_TIMEOUT = 15.0
ICE_FAILED_WORDS = (
    "ICE failed: the browser and the kernel found no network path to each other. On a "
    "remote kernel configure a TURN server (nbrtc.config.ice_servers)."
)
CLOSE_TIMEOUT = 1.0
#: how long a connected stream waits for aioice's nominated pair before naming its path
PATH_SETTLE = 2.0
#: under the relay policy, a page with no candidate this long after the answer cannot reach
#: its TURN server (a browser's TURN allocation takes well under a second when it works;
#: measured 0.1-1.4 s over TCP on the lab network)
PAGE_RELAY_WAIT = 4.0
#: under the "all" policy, a stream whose TURN server refused the credentials fails this
#: long after that refusal when no other path connected meanwhile (host pairs connect in
#: well under a second where they can), in words naming TURN, not at the 15 s watchdog
TURN_AUTH_WAIT = 4.0
#: Remote ICE candidates accepted per stream and ICE generation (an ICE restart starts a
#: new count). aioice pairs every remote candidate with every local one and re-sorts its
#: check list on each addition, so the cost grows quadratically: 2,000 trickled
#: candidates stalled the media loop for 7 s. A browser gathers one candidate per
#: interface, address family and server (host, srflx, relay): a few, rarely 20. RFC 8445
#: section 6.1.2.5 likewise bounds the check list (100 pairs by default).
MAX_REMOTE_CANDIDATES = 40
#: renegotiation rounds kept for ``sdp.rounds`` and the Inspector: the first (initial)
#: exchange and the newest ones (a page cannot make the kernel hold its reoffers forever)
MAX_SDP_ROUNDS = 20
#: browser stats samples closer together than this are dropped (counted in
#: ``stats_dropped``): the page samples once a second; a flood must not cost the media loop
MIN_BROWSER_STATS_GAP = 0.2
#: TURN failures kept per stream (both sides)
MAX_TURN_ERRORS = 8

_CAMERA_ERRORS = {
    "NotAllowedError",
    "NotFoundError",
    "NotReadableError",
    "OverconstrainedError",
    "SecurityError",
    "AbortError",
}


def rtc_configuration(ice_servers: list[dict[str, Any]], policy: str = "all") -> RTCConfiguration:
    """aiortc configuration from browser-style ``iceServers`` dicts and an ICE transport
    policy ("all" or "relay"). Always an explicit list: given none, aiortc would fall back
    to a public STUN server, and nbrtc contacts no server it was not given."""
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in ice_servers
    ]
    return RTCConfiguration(
        iceServers=servers,
        iceTransportPolicy=RTCIceTransportPolicy.RELAY
        if policy == "relay"
        else RTCIceTransportPolicy.ALL,
    )


class KernelStream:
    """The kernel's end of one browser peer of one widget view."""

    def __init__(
        self,
        manager: SignalingHost,
        widget: StreamOwner,
        stream_id: str,
        kind: str,
        page: str,
        view: str,
        key: str = "",
    ) -> None:
        self.manager = manager
        #: the page key of the page that offered this stream: only messages carrying it
        #: are accepted for it (never logged, never shown; see _manager._dispatch)
        self.key = key
        self._widget_ref = weakref.ref(widget)
        self.owner_id = widget.model_id
        self.id = stream_id
        self.kind = kind
        self.page = page
        self.view = view
        self.created = time.monotonic()
        self.silence = 0.0  # idle-kernel seconds since the browser last said anything
        self.browser: dict[str, str] = {}
        self.error: StreamError | None = None
        self.frames = 0
        self.frame_size: tuple[int, int] | None = None
        self.audio_frames = 0
        self._state = "new"
        self._pc: RTCPeerConnection | None = None
        self._remote_set = False
        self._end_pending = False
        self._pending: list[dict[str, Any] | None] = []
        #: remote candidates taken in the current ICE generation (MAX_REMOTE_CANDIDATES)
        self._candidates_taken = 0
        #: renegotiations the kernel asked for and the browser has not answered yet: a
        #: reoffer nobody asked for is refused (it would cost an SDP round each)
        self._reoffers_expected = 0
        #: of those, the ones asking for a new peer connection (``fresh``, reconnection)
        self._fresh_expected = 0
        self._last_browser_stats = 0.0
        self.stats_dropped = 0
        #: TURN failures of either side, in words (kernel: from aioice; browser: its
        #: icecandidateerror events), newest last, at most MAX_TURN_ERRORS
        self.turn_errors: list[str] = []
        self._auth_watch = False  # _turn_auth_watch started
        # Candidates must reach aiortc in the order the browser sent them (end-of-
        # candidates last); each message is its own task, so a FIFO lock orders them.
        self._candidate_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tracks: list[MediaStreamTrack] = []
        self._close_task: asyncio.Task[None] | None = None
        self._answer_task: asyncio.Task[Any] | None = None
        self.timings: dict[str, float] = {}
        self.history = History(stream_id)
        from .._inspection.stats import StatsSeries

        self.stats = StatsSeries()
        #: every offer/answer exchange: {"round", "reason", "offer", "answer", "t"}
        self.sdp_rounds: list[dict[str, Any]] = []
        self.impairment: Any = None  # nbrtc._inspection.netem.Impairment, made on first set_network
        self._reoffer_lock = asyncio.Lock()
        self._kernel_pc_states: dict[str, str] = {}
        self._codec: str | None = None  # the codec preference of the first answer
        self.max_bitrate: int | None = None
        #: how the media travels: "" (not yet), "direct", "relay" or "comm"
        #: (_set_transport is the one place that changes it)
        self.transport = ""
        #: "direct"/"relay" once the WebRTC path connected ("" before, or when dropped)
        self._webrtc_path = ""
        self._comm_in: CommReceiver | None = None
        self._comm_out: CommSender | None = None
        #: sound over the comm, each way (_comm_audio.py)
        self._comm_audio_in: CommAudioReceiver | None = None
        self._comm_audio_out: CommAudioSender | None = None
        #: the page moved back to WebRTC before the kernel's peer connected: why
        self._webrtc_wanted = ""
        #: why WebRTC cannot connect, when the comm took over instead of failing
        self._webrtc_doomed: list[str] = []
        #: ICE restarts with backoff when a live stream's path is lost (_reconnect.py)
        self.reconnect = Reconnect(self)

    # --- state -------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state in _TERMINAL

    @property
    def owner(self) -> StreamOwner | None:
        """The port of the widget this stream belongs to (None once it is gone)."""
        return self._widget_ref()

    def _set_state(self, new: str, detail: str = "") -> None:
        """The one place a stream's state changes."""
        old = self._state
        if new == old or new not in _ALLOWED[old]:
            return
        self._state = new
        self.timings[new] = time.monotonic() - self.created
        log.info("stream %s: %s -> %s%s", self.id, old, new, f" ({detail})" if detail else "")
        self.history.state("kernel", "stream", new, detail)
        self.send("state", {"state": new, "detail": detail})
        widget = self.owner
        if widget is not None:
            widget.stream_state_changed(self)

    # --- messages to the browser (any thread) ---------------------------------------------
    def send(self, type_: str, payload: Any) -> None:
        msg = make_message(type_, self.id, payload)
        self.history.message("out", type_, _wire_size(msg), payload)
        widget = self.owner
        if widget is not None:
            widget.send(msg)

    def _refuse(self, code: str, message: str, type_: str) -> None:
        """An ``error`` reply for a message of this stream that cannot be honoured."""
        widget = self.owner
        if widget is not None:
            self.manager.reply_error(widget, ProtocolError(code, message, self.id, type_))

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of this stream: its teardown cancels it (media loop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- negotiation -------------------------------------------------------------------
    def start(self, sdp: str) -> None:
        """Begin answering the browser's offer (media loop)."""
        self._set_state("connecting", "offer received")
        self._answer_task = self.spawn(self._answer(sdp))
        self.spawn(self._ping_loop())

    async def _answer(self, sdp: str) -> None:
        try:
            widget = self.owner
            if widget is None:
                raise StreamError("the widget was garbage-collected")
            policy = widget.ice_policy_for(self.id)  # a doctor's probes differ per path
            pc = self._new_pc(widget, policy)
            async with self._candidate_lock:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                if self.closed:
                    return
                for cand in self._pending:
                    await self._apply_candidate(cand)
                self._pending.clear()
                self._remote_set = True
            for track in widget.tracks_for(self):
                self._tracks.append(track)
                pc.addTrack(track)
            prefs = widget.teaching_prefs()
            self._codec = prefs.get("codec")
            _renegotiate.apply_codec_preference(pc, self._codec)
            if not await self._make_answer(pc):
                return
            if policy == "relay" and not _renegotiate.kernel_candidates(pc)["local"]:
                # Its TURN server gave it no allocation: aiortc would never start ICE and
                # say nothing (state "new" for good). (Under the "all" policy there is a
                # host candidate; an offer whose end-of-candidates came with no candidate
                # at all also leaves none, and fails by the ICE watchdog as before.)
                words = self._no_candidate_words(policy)
                if not self._comm_takes_over(words):
                    await self.fail(StreamError(words))
                    return
            network = prefs.get("network")
            if network is not None and network.active():
                self._impair(network)
            widget.stream_negotiated(self)  # e.g. open the widget's data channels
            self.timings["answer"] = time.monotonic() - self.created
            self.max_bitrate = prefs.get("max_bitrate")
            text = _renegotiate.cap_bitrate(pc.localDescription.sdp, self.max_bitrate)
            self.sdp_rounds.append(
                {"round": 0, "reason": "initial", "offer": sdp, "answer": text, "t": time.time()}
            )
            self.send("answer", {"sdp": text})
            if widget.stats_interval > 0:
                self.spawn(self._stats_loop(widget.stats_interval))
            self.spawn(self._ice_watchdog())
            if policy == "relay":
                self.spawn(self._page_relay_watch())
        except Exception as exc:
            if not self.closed:
                # str(exc), not exc: a log record keeping the exception would keep its
                # traceback, and with it the failed peer, alive
                log.warning("stream %s: negotiation failed: %s", self.id, str(exc))
                await self.fail(StreamError(f"negotiation failed: {exc}"))

    def _new_pc(self, widget: StreamOwner, policy: str) -> RTCPeerConnection:
        """A kernel peer connection for this stream, its events wired (media loop)."""
        pc = RTCPeerConnection(rtc_configuration(widget.ice_servers(self.id), policy))
        self._pc = pc
        self._kernel_pc_states = {}
        self._watch_pc_states(pc)
        pc.on("connectionstatechange", self._on_pc_state)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        # a failed TURN allocation while the kernel gathers is reported to us
        _ice.turn_report.set(self.turn_failed)
        return pc

    async def reoffer(self, sdp: str, reason: str = "", fresh: bool = False) -> None:
        """A renegotiation offer for this live stream (codec, bitrate cap, ICE restart),
        or with ``fresh`` the offer of the page's new peer connection (reconnection).

        The candidate lock is held from the start, so candidates the browser trickles
        after this offer (a restart's new generation) reach aiortc only after it.
        """
        async with self._reoffer_lock, self._candidate_lock:
            pc = self._pc
            if self.closed or pc is None or "answer" not in self.timings:
                self._refuse("out-of-order", "no negotiated stream to renegotiate", "reoffer")
                return
            if self._reoffers_expected <= 0:
                self._refuse(
                    "out-of-order", "the kernel did not ask for a renegotiation", "reoffer"
                )
                return
            if fresh and self._fresh_expected <= 0:
                self._refuse(
                    "out-of-order", "the kernel did not ask for a new peer connection", "reoffer"
                )
                return
            self._reoffers_expected -= 1
            why = _check_offer_sdp(sdp, self.kind)
            if why is not None:
                self._refuse("bad-message", why.replace("offer", "reoffer", 1), "reoffer")
                return
            if fresh:
                self._fresh_expected -= 1
                await self._answer_fresh(sdp, reason)
                return
            widget = self.owner
            prefs = widget.teaching_prefs() if widget is not None else {}
            try:
                restart = None
                if _renegotiate.ice_restart_requested(self.sdp_rounds[-1]["offer"], sdp):
                    restart = await _ice_restart.restart(pc, sdp)
                # aiortc cannot switch the codec of a video it already encodes: a
                # kernel-sent stream keeps the codec its first answer chose.
                codec = prefs.get("codec") if self.kind in SENDING_KINDS else self._codec
                _renegotiate.apply_codec_preference(pc, codec)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                if self.closed or not await self._make_answer(pc):
                    return
            except Exception as exc:
                log.warning("stream %s: renegotiation failed: %s", self.id, str(exc))
                self.history.note(f"renegotiation failed: {exc}")
                await self.fail(StreamError(f"renegotiation failed: {exc}"))
                return
            if restart is not None:
                self.history.note(
                    "ICE restarted: kernel ufrag {old_local_ufrag} -> {new_local_ufrag}, "
                    "browser ufrag {old_remote_ufrag} -> {new_remote_ufrag}".format(**restart)
                )
            self._send_new_answer(pc, sdp, reason or "renegotiation", prefs.get("max_bitrate"))

    def _keep_round(self, entry: dict[str, Any]) -> None:
        """Record an offer/answer round; keep the first and the newest MAX_SDP_ROUNDS - 1."""
        self.sdp_rounds.append(entry)
        if len(self.sdp_rounds) > MAX_SDP_ROUNDS:
            del self.sdp_rounds[1]

    async def _make_answer(self, pc: RTCPeerConnection) -> bool:
        """createAnswer, then setLocalDescription (which gathers the kernel's candidates).
        False when the stream closed meanwhile (the caller stops there)."""
        answer = await pc.createAnswer()
        if self.closed:
            return False
        await pc.setLocalDescription(answer)
        return not self.closed

    def _send_new_answer(
        self, pc: RTCPeerConnection, offer: str, reason: str, max_bitrate: int | None
    ) -> None:
        """A renegotiated (or fresh) answer: the bitrate cap on the sender and in the SDP,
        the round kept for ``sdp.rounds``, the answer sent (media loop)."""
        self.max_bitrate = max_bitrate
        _renegotiate.cap_sender_bitrate(pc, max_bitrate)
        text = _renegotiate.cap_bitrate(pc.localDescription.sdp, max_bitrate)
        last = self.sdp_rounds[-1]["round"] if self.sdp_rounds else -1
        self._keep_round(
            {"round": last + 1, "reason": reason, "offer": offer, "answer": text, "t": time.time()}
        )
        self.send("answer", {"sdp": text})

    def renegotiate(self, reason: str, ice_restart: bool = False, fresh: bool = False) -> bool:
        """Ask the browser for a reoffer (media loop). False when not negotiated yet.

        ``fresh``: for a new peer connection (reconnection, _reconnect.py); its offer
        comes as a ``reoffer`` with ``fresh`` and ``_answer_fresh`` takes it."""
        if self.closed or self._pc is None or "answer" not in self.timings:
            return False
        # The browser merges requests that arrive while it is making a reoffer into one
        # next reoffer, so each request allows at most one; never more than a few pending.
        self._reoffers_expected = min(self._reoffers_expected + 1, 4)
        payload: dict[str, Any] = {"ice_restart": ice_restart, "reason": reason}
        if fresh:
            self._fresh_expected = min(self._fresh_expected + 1, 4)
            payload["fresh"] = True
        self.send("renegotiate", payload)
        return True

    async def _answer_fresh(self, sdp: str, reason: str) -> None:
        """The page's new peer connection offers (reconnection): answer it with a new
        kernel peer under this same stream (media loop, reoffer and candidate locks held).

        The old peer goes first, without its events (its ``closed`` would close the
        stream). Outgoing tracks are asked of the widget again before it goes: aiortc
        stops a sender's track when its peer closes, and a fresh subscription keeps a
        shared source's producer running across the switch. Frames from the new peer
        reach the widget through ``_deliver`` as before, so its ``frames()`` iterators,
        recorder and processing never notice."""
        widget = self.owner
        if widget is None:
            return
        # Teardown lets this task reach its next closed-check, as it does the first
        # answer's: cancelled inside setLocalDescription, aioice leaks a gathering socket.
        self._answer_task = asyncio.current_task()
        old, self._pc = self._pc, None  # the stream's teardown must not close it twice
        closing: asyncio.Task[None] | None = None
        try:
            try:
                tracks = list(widget.tracks_for(self))
            finally:
                if old is not None:
                    old.remove_all_listeners()
                    _ice_restart.forget(old)
                    if self.impairment is not None:
                        with contextlib.suppress(Exception):
                            self.impairment.close()
                        self.impairment = None
                    closing = _start_close(old, self.id)
            if closing is not None:
                await asyncio.wait({closing}, timeout=CLOSE_TIMEOUT)
            if self.closed:
                for track in tracks:
                    track.stop()
                return
            self._tracks = tracks
            self._remote_set = False
            self._end_pending = False
            self._pending.clear()
            pc = self._new_pc(widget, widget.ice_policy_for(self.id))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            self._remote_set = True
            for track in tracks:
                pc.addTrack(track)
            _renegotiate.apply_codec_preference(pc, self._codec)
            if not await self._make_answer(pc):
                return
        except Exception as exc:
            if not self.closed:
                log.warning("stream %s: a new peer connection failed: %s", self.id, str(exc))
                await self.fail(StreamError(f"reconnection failed: {exc}"))
            return
        self.reconnect.peer_replaced()
        prefs = widget.teaching_prefs()
        network = prefs.get("network")
        if network is not None and network.active():
            self._impair(network)
        widget.stream_negotiated(self)  # the channels Python opened, on the new peer
        self.history.note("reconnect: answered the page's new peer connection")
        why = reason or "reconnect: a new peer connection"
        self._send_new_answer(pc, sdp, why, prefs.get("max_bitrate"))

    def set_network(self, conditions: Any) -> None:
        """Apply network impairment to this stream's RTP (media loop)."""
        if self.closed or self._pc is None:
            return
        self._impair(conditions)

    def _impair(self, conditions: Any) -> None:
        from .._inspection.netem import Impairment

        if self.impairment is None:
            if not conditions.active() or self._pc is None:
                return
            self.impairment = Impairment(self._pc)
        self.impairment.set(conditions)

    # --- inspection ----------------------------------------------------------------------
    def _watch_pc_states(self, pc: RTCPeerConnection) -> None:
        """Record the kernel peer's four RTCPeerConnection states in the history."""
        for event, what, attr in (
            ("signalingstatechange", "signaling", "signalingState"),
            ("icegatheringstatechange", "gathering", "iceGatheringState"),
            ("iceconnectionstatechange", "ice", "iceConnectionState"),
            ("connectionstatechange", "connection", "connectionState"),
        ):

            def record(what: str = what, attr: str = attr) -> None:
                value = str(getattr(pc, attr, ""))
                if self._kernel_pc_states.get(what) != value:
                    self._kernel_pc_states[what] = value
                    self.history.state("kernel", what, value)

            pc.on(event, record)
            record()

    def browser_state(self, payload: dict[str, Any]) -> None:
        """The browser peer's states changed (media loop). Only the four known fields are
        kept: the page chooses the keys, and ``browser`` must not grow with them."""
        for key, value in payload.items():
            if key not in _BROWSER_STATE_KEYS:
                continue
            value = str(value)
            if self.browser.get(key) != value:
                self.history.state("browser", key, value)
            self.browser[key] = value
        widget = self.owner
        if (
            self.browser.get("gathering") == "complete"
            and self._candidates_taken == 0
            and widget is not None
            and widget.ice_policy == "relay"
            and not self.closed
            and "live" not in self.timings
        ):
            # the page gathered and has nothing to offer: ICE cannot start (do not wait
            # 15 s for the ICE watchdog to say something vaguer)
            why = f": {'; '.join(self.turn_errors)}" if self.turn_errors else ""
            words = (
                "The browser has no relay candidate (ice_transport_policy='relay'), "
                f"so ICE cannot start{why or ': its TURN server gave it no allocation'}."
            )
            if not self._comm_takes_over(words):
                self.spawn(self.fail(StreamError(words)))
        self.reconnect.browser_states(self.browser)

    def browser_stats(self, payload: dict[str, Any]) -> None:
        """The browser's getStats sample (media loop); a sample that comes sooner than
        MIN_BROWSER_STATS_GAP after the previous one is dropped and counted."""
        now = time.monotonic()
        if now - self._last_browser_stats < MIN_BROWSER_STATS_GAP:
            self.stats_dropped += 1
            return
        self._last_browser_stats = now
        self.stats.add("browser", time.time(), payload.get("reports") or [])

    async def _stats_loop(self, interval: float) -> None:
        """Sample the kernel peer's getStats every ``interval`` seconds (media loop)."""
        while not self.closed:
            pc = self._pc
            if pc is not None and pc.connectionState == "connected":
                try:
                    report = await pc.getStats()
                except Exception as exc:  # a closing transport: try again next tick
                    log.debug("stream %s: getStats: %s", self.id, exc)
                else:
                    # the kernel's encoder exists only from its first frame on
                    _renegotiate.cap_sender_bitrate(pc, self.max_bitrate)
                    extra = self._kernel_extra_stats(pc)
                    from .._inspection.stats import flatten_aiortc

                    reports = flatten_aiortc(report)
                    _renegotiate.fix_inbound_reports(pc, reports)
                    self._add_frame_counts(reports)
                    self.stats.add("kernel", time.time(), reports + extra + self.comm_stats())
            elif self.transport == "comm":
                self.stats.add("kernel", time.time(), self.comm_stats())
            await asyncio.sleep(interval)

    def _add_frame_counts(self, reports: list[dict[str, Any]]) -> None:
        """aiortc's inbound-rtp has no frame counters: add ours (decoded frames handed to
        the widget, their size), under the browser's names, so fps_in is computed alike."""
        for r in reports:
            if r.get("type") == "inbound-rtp" and r.get("kind") == "video":
                r["framesDecoded"] = self.frames
                if self.frame_size is not None:
                    r["frameWidth"], r["frameHeight"] = self.frame_size

    def _kernel_extra_stats(self, pc: RTCPeerConnection) -> list[dict[str, Any]]:
        """What aiortc's getStats lacks, in the browser's report shape: the selected
        candidate pair and frames received per second (from our own counters)."""
        out = _renegotiate.selected_pair_reports(pc)
        out.append(
            {
                "id": "nbrtc-frames",
                "type": "nbrtc-frames",
                "framesReceived": self.frames,
                "audioFramesReceived": self.audio_frames,
            }
        )
        if self.impairment is not None:
            net = self.impairment.stats()
            row: dict[str, Any] = {"id": "nbrtc-netem", "type": "nbrtc-netem"}
            for direction in ("send", "recv"):
                for key, value in (net.get(direction) or {}).items():
                    if isinstance(value, (int, float)):
                        row[f"{direction}_{key}"] = value
            out.append(row)
        return out

    def kernel_candidates(self) -> dict[str, Any]:
        """The kernel peer's local and remote ICE candidates and its selected pair."""
        return _renegotiate.kernel_candidates(self._pc)

    def take_candidate(self, payload: dict[str, Any] | None) -> bool:
        """Count a trickled candidate against MAX_REMOTE_CANDIDATES (media loop, when its
        message is dispatched, so a flood is refused before any work is queued). False,
        with a ``limit`` reply, once this ICE generation has its share."""
        if payload is None or not payload.get("candidate"):
            return True
        if self._candidates_taken >= MAX_REMOTE_CANDIDATES:
            self._refuse(
                "limit",
                f"this stream already has {MAX_REMOTE_CANDIDATES} remote ICE candidates "
                "(the most nbrtc takes per ICE generation); this one was ignored",
                "candidate",
            )
            return False
        self._candidates_taken += 1
        return True

    def reoffer_arrived(self, sdp: str) -> None:
        """A reoffer was dispatched (media loop, before its task runs): one that the kernel
        asked for and that restarts ICE starts a new candidate count, since the new
        generation's candidates follow it at once (they are counted on dispatch)."""
        if (
            self._reoffers_expected > 0
            and self.sdp_rounds
            and _renegotiate.ice_restart_requested(self.sdp_rounds[-1]["offer"], sdp)
        ):
            self._candidates_taken = 0

    async def add_candidate(self, payload: dict[str, Any] | None) -> None:
        """A trickled browser candidate (None = end of candidates)."""
        async with self._candidate_lock:
            if self.closed:
                return
            if not self._remote_set:
                self._pending.append(payload)
                return
            await self._apply_candidate(payload)

    async def _apply_candidate(self, payload: dict[str, Any] | None) -> None:
        pc = self._pc
        if pc is None or self.closed:
            return
        if payload is None or not payload.get("candidate"):
            log.debug("stream %s: end of browser candidates", self.id)
            if not self._end_pending:
                self._end_pending = True
                self.spawn(self._end_of_candidates_later())
            return
        text = candidate_body(payload["candidate"], wire=True)
        try:
            # the protocol already took the line; read again for its ufrag (Chromium adds it)
            ufrag = parse_candidate(payload["candidate"], wire=True).ufrag
        except ValueError as exc:
            log.debug("stream %s: unparsable candidate %r: %s", self.id, text, exc)
            return
        if ufrag is not None and self.sdp_rounds:
            current = _renegotiate.ice_ufrag(self.sdp_rounds[-1]["offer"])
            if current is not None and ufrag != current:
                # a candidate of the ICE generation an ICE restart replaced
                log.debug("stream %s: dropped a candidate of an old ICE generation", self.id)
                return
        try:
            cand = candidate_from_sdp(text)
        except (ValueError, IndexError) as exc:
            log.debug("stream %s: unparsable candidate %r: %s", self.id, text, exc)
            return
        cand.sdpMid = payload.get("sdpMid")
        cand.sdpMLineIndex = payload.get("sdpMLineIndex")
        log.debug("stream %s: browser candidate %.80s", self.id, text)
        try:
            await pc.addIceCandidate(cand)
        except ValueError as exc:  # e.g. after end-of-candidates: nothing to gain from it
            log.debug("stream %s: candidate not added: %s", self.id, exc)

    async def _end_of_candidates_later(self) -> None:
        """Tell aioice there are no more browser candidates, unless connected by then."""
        await asyncio.sleep(END_OF_CANDIDATES_GRACE)
        async with self._candidate_lock:
            pc = self._pc
            if pc is None or self.closed or pc.iceConnectionState in ("connected", "completed"):
                return
            await pc.addIceCandidate(None)

    async def _page_relay_watch(self) -> None:
        """Under the relay policy, a page that has sent no candidate PAGE_RELAY_WAIT s after
        the answer cannot reach its TURN server: say so then, not at the 15 s watchdog in
        general words. (Chromium reports nothing while its TCP connect to the server hangs
        in a firewall that drops it: no icecandidateerror, gathering never completes.)"""
        pc = self._pc  # this peer's watch, not one a reconnection made later
        await asyncio.sleep(PAGE_RELAY_WAIT)
        if self._pc is not pc:
            return
        offered = self.sdp_rounds[0]["offer"] if self.sdp_rounds else ""
        if (
            pc is None
            or self.closed
            or self._candidates_taken > 0
            or "a=candidate:" in offered  # a page that does not trickle
            or pc.iceConnectionState in ("connected", "completed")
        ):
            return
        why = f" ({'; '.join(self.turn_errors)})" if self.turn_errors else ""
        words = (
            f"The browser has no relay candidate {PAGE_RELAY_WAIT:.0f} s after the answer "
            "(ice_transport_policy='relay'): it cannot reach its TURN server, or gets no "
            f"answer from it{why}. Check the TURN URL, port and firewall on the browser's "
            "side; TURN over TCP or TLS on port 443 gets through most firewalls."
        )
        self.turn_failed("no relay candidate: the TURN server is unreachable", side="browser")
        if not self._comm_takes_over(words):
            await self.fail(StreamError(words))

    async def _ice_watchdog(self) -> None:
        """Fail the stream in words when ICE has not connected ICE_CONNECT_TIMEOUT s after
        the answer, instead of waiting for aioice's own check timeouts (63.5 s)."""
        pc = self._pc  # this peer's watchdog, not one a reconnection made later
        await asyncio.sleep(ICE_CONNECT_TIMEOUT)
        if self._pc is not pc:
            return
        if pc is None or self.closed or pc.iceConnectionState in ("connected", "completed"):
            return
        if self._webrtc_lost(f"ICE did not connect within {ICE_CONNECT_TIMEOUT:.0f} s"):
            return
        log.info(
            "stream %s: ICE still %s %.0f s after the answer",
            self.id,
            pc.iceConnectionState,
            ICE_CONNECT_TIMEOUT,
        )
        await self.fail(StreamError(self.ice_failed_words()))

    # --- TURN -----------------------------------------------------------------------------
    def turn_failed(self, words: str, side: str = "kernel") -> None:
        """A TURN server failed one side's allocation (media loop): kept, logged once,
        in the history; the words of a later ICE failure name it."""
        text = f"{side}: {words}"
        if text in self.turn_errors:
            return
        self.turn_errors.append(text)
        del self.turn_errors[:-MAX_TURN_ERRORS]
        log.warning("stream %s: %s", self.id, text)
        self.history.note(f"TURN failed ({text})")
        widget = self.owner
        if widget is None or self.closed:
            return
        # shown at once, even where other paths may still connect (the "all" policy)
        widget.stream_warning(self, f"TURN: {words}")
        if (
            _is_auth_failure(words)
            and not self._auth_watch
            and widget.ice_policy_for(self.id) != "relay"  # relay: its own fast paths
            and "live" not in self.timings
        ):
            self._auth_watch = True
            self.spawn(self._turn_auth_watch())

    async def _turn_auth_watch(self) -> None:
        """A TURN server refused the credentials under the "all" policy: if no other
        path connected TURN_AUTH_WAIT s later, the stream fails naming that refusal (or,
        with transport="auto", the comm takes over)."""
        await asyncio.sleep(TURN_AUTH_WAIT)
        pc = self._pc
        if (
            pc is None
            or self.closed
            or "live" in self.timings
            or pc.iceConnectionState in ("connected", "completed")
        ):
            return
        refused = "; ".join(e for e in self.turn_errors if _is_auth_failure(e))
        words = (
            f"TURN authentication failed: {refused}. No other network path between the "
            f"browser and the kernel connected within {TURN_AUTH_WAIT:.0f} s, so only the "
            "relay could have carried the stream."
        )
        if not self._comm_takes_over(words):
            await self.fail(StreamError(words))

    def browser_ice_error(self, payload: dict[str, Any]) -> None:
        """The page's pc reported a STUN/TURN server failure (media loop). TURN ones are
        kept like the kernel's; every one is a line in the history. Under the relay
        policy a browser that can get no relay candidate cannot connect at all, which
        ``browser_state`` notices when its gathering completes."""
        if len(self.turn_errors) >= MAX_TURN_ERRORS:
            return
        url = str(payload.get("url", ""))
        code = int(payload.get("code", 0))
        text = str(payload.get("text", ""))
        if not url.startswith("turn"):
            self.history.note(f"browser: STUN server {url} failed ({code} {text})")
            return
        if code in (401, 441):
            words = (
                f"the TURN server {url} refused the browser's credentials ({code} {text}): "
                "check the username and credential, or the secret given to nbrtc.turn"
            )
        elif code == 701 and "not associated with the desired network interface" in text:
            # Chromium says this for every local interface that has no route to the
            # server, next to the real outcome: noise, not a failure
            self.history.note(f"browser: TURN server {url}: {code} {text}")
            return
        elif code == 701 and url.startswith("turns:"):
            # Chromium reports a certificate it refuses exactly like a closed port
            words = (
                f"the browser could not reach the TURN server {url} over TLS "
                f"({text or 'no answer'}): nothing listens there, or the browser does not "
                "trust its certificate (add the CA to the browser's trust store)"
            )
        elif code == 701:
            words = f"the browser could not reach the TURN server {url} ({text or 'no answer'})"
        else:
            words = f"the TURN server {url} failed the browser ({code} {text})"
        self.turn_failed(words, side="browser")

    def ice_failed_words(self) -> str:
        """Why ICE failed, in words: the TURN failures seen, if any, else the general
        advice."""
        if self.turn_errors:
            return (
                "ICE failed: the browser and the kernel found no network path to each "
                f"other, and TURN did not help: {'; '.join(self.turn_errors)}."
            )
        return ICE_FAILED_WORDS

    def _no_candidate_words(self, policy: str) -> str:
        why = f": {'; '.join(self.turn_errors)}" if self.turn_errors else ""
        return (
            f"The kernel has no relay candidate (ice_transport_policy={policy!r}), so ICE "
            f"cannot start{why or ': its TURN server gave it no allocation'}."
        )

    async def _settle_path(self, pc: RTCPeerConnection) -> None:
        """The pc connected before aioice recorded its nominated pair: look again every
        50 ms (for at most PATH_SETTLE s) and only then name the path; guessing "direct"
        mislabelled a relayed stream."""
        deadline = time.monotonic() + PATH_SETTLE
        kind = ""
        while not kind and time.monotonic() < deadline and self._pc is pc:
            await asyncio.sleep(0.05)
            kind = _pair_kind(pc)
        if self._pc is not pc or self.closed:
            return
        self._webrtc_path = kind or (
            "relay" if self.owner is not None and self.owner.ice_policy == "relay" else "direct"
        )
        if self.transport != "comm":
            self._set_transport(self._webrtc_path, "WebRTC connected")

    # --- media ----------------------------------------------------------------------------
    def _on_pc_state(self) -> None:
        pc = self._pc
        if pc is None or self.closed:
            return
        state = pc.connectionState
        log.debug("stream %s: kernel peer connectionState %s", self.id, state)
        if state == "connected":
            self._webrtc_path = _pair_kind(pc)
            if not self._webrtc_path:
                self.spawn(self._settle_path(pc))
            elif self.transport != "comm":  # the page moves a comm stream back itself
                self._set_transport(self._webrtc_path, "WebRTC connected")
            elif self._webrtc_wanted:
                self._back_to_webrtc(self._webrtc_wanted)
            if self.kind not in SENDING_KINDS:
                self._set_state("live", "connected")
        elif state == "failed" and self._webrtc_lost("the connection failed"):
            return
        elif state == "failed" and self.reconnect.kernel_failed():
            return  # a live stream: a new peer connection on both sides follows
        elif state == "failed":
            if pc.iceConnectionState == "failed":
                words = self.ice_failed_words()
            else:
                words = (
                    "The connection failed after ICE succeeded (DTLS handshake or transport "
                    f"error; ICE state {pc.iceConnectionState!r}). Run the cell again."
                )
            self.spawn(self.fail(StreamError(words)))
        elif state == "closed" and self._fresh_expected > 0:
            # the page closed its old pc for the new one we asked for: its offer follows
            log.debug("stream %s: the page closed its old peer for a new one", self.id)
        elif state == "closed":
            self.spawn(self.close("peer closed", notify_browser=True))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if not self.closed and track.kind in ("video", "audio"):
            self.spawn(self._consume(track))

    def _on_datachannel(self, channel: Any) -> None:
        widget = self.owner
        if widget is not None and not self.closed:
            widget.on_datachannel(self, channel)

    def open_channel(self, label: str) -> Any:
        """A new data channel named ``label`` on this stream's peer (None if it has none)."""
        pc = self._pc
        if pc is None or self.closed or pc.sctp is None:
            return None
        return pc.createDataChannel(label)

    async def _consume(self, track: MediaStreamTrack) -> None:
        """Read decoded frames and hand them to the widget (newest frame wins there)."""
        video = track.kind == "video"
        while not self.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self._deliver(frame, video)

    def _deliver(self, frame: Any, video: bool) -> None:
        """One decoded frame from the browser, whichever transport brought it (media
        loop): counted, the first one makes the stream live, then the widget has it."""
        widget = self.owner
        if widget is None or self.closed:
            return
        if video:
            self.frames += 1
            self.frame_size = (frame.width, frame.height)
            first = self.frames == 1
            what = f"first frame {frame.width}x{frame.height}"
        else:
            self.audio_frames += 1
            first = self.audio_frames == 1
            what = f"first audio {frame.sample_rate} Hz {frame.layout.name}"
        if first:
            self.timings["first_frame" if video else "first_audio"] = (
                time.monotonic() - self.created
            )
            self._set_state("live", f"{what}{' over the comm' if self._comm_in else ''}")
        if video:
            widget.on_frame(self, frame)
        else:
            widget.on_audio(self, frame)

    # --- transport: WebRTC (direct or relay) or the comm ----------------------------------
    def _set_transport(self, new: str, why: str) -> None:
        """The one place the transport changes (logged ``old -> new``, in the history,
        and the widget told)."""
        old = self.transport
        if new == old:
            return
        self.transport = new
        log.info("stream %s: transport %s -> %s (%s)", self.id, old or "none", new, why)
        self.history.note(f"transport {old or 'none'} -> {new}: {why}")
        widget = self.owner
        if widget is not None:
            widget.stream_transport_changed(self)

    def start_comm(self) -> None:
        """A stream that starts on the comm, with no peer connection (the page's
        ``transport="comm"``; media loop)."""
        self._set_state("connecting", "offer received (transport 'comm')")
        self.spawn(self._ping_loop())
        widget = self.owner
        if widget is not None and widget.stats_interval > 0:
            self.spawn(self._stats_loop(widget.stats_interval))
        self._use_comm("transport='comm' was asked for")

    def page_transport(self, use: str, why: str) -> None:
        """The page moves this stream to the comm (WebRTC has not connected in time) or
        back to WebRTC (it connected since) (media loop)."""
        if self.closed:
            return
        if use == "comm":
            self._use_comm(f"page: {why}" if why else "page asked")
            return
        if self._pc is None:
            self._refuse("out-of-order", "this stream has no WebRTC peer", "transport")
            return
        if self._pc.connectionState != "connected":
            # the page's DTLS completed a moment before ours: move when ours does
            self._webrtc_wanted = why or "WebRTC connected"
            return
        self._back_to_webrtc(why or "WebRTC connected")

    def _back_to_webrtc(self, why: str) -> None:
        self._webrtc_wanted = ""
        self._stop_comm()
        self._set_transport(self._webrtc_path or _pair_kind(self._pc) or "direct", why)
        self.send("transport", {"use": "webrtc"})

    def _use_comm(self, why: str) -> None:
        """Carry this stream's video over the comm (idempotent; media loop)."""
        if self.closed:
            return
        if self._comm_in is None and self._comm_out is None:
            if self.kind in SENDING_KINDS:
                self._comm_in = CommReceiver(
                    self.id,
                    lambda frame: self._deliver(frame, True),
                    lambda seq: self.send_media("frame-ack", {"seq": seq}),
                )
            # the kernel's own video (a view's source, a camera's processed frames) goes
            # to the page too; a sending kind's tracks are its processed video
            self.spawn(self._start_comm_sender())
        if self._comm_audio_in is None and self.kind in ("camera", "microphone"):
            self._comm_audio_in = CommAudioReceiver(
                lambda frame: self._deliver(frame, False),
                lambda seq: self.send_media("audio-ack", {"seq": seq}),
            )
        self._set_transport("comm", why)
        self.send("transport", {"use": "comm"})

    async def _start_comm_sender(self) -> None:
        answer = self._answer_task
        if answer is not None and not answer.done():
            # the tracks come with the answer; a comm fallback does not race it
            await asyncio.wait([answer], timeout=CLOSE_TIMEOUT * 5)
        widget = self.owner
        if self.closed or widget is None or self.transport != "comm" or self._comm_out:
            return
        if not self._tracks:
            for track in widget.tracks_for(self):
                self._tracks.append(track)
        sound = next((t for t in self._tracks if t.kind == "audio"), None)
        if sound is not None and self._comm_audio_out is None:
            self._comm_audio_out = CommAudioSender(
                sound,
                lambda payload, data: self.send_media("audio", payload, data),
                lambda: self._comm_first_ack("first sound played over the comm"),
            )
            self._comm_audio_out.start()
        video = next((t for t in self._tracks if t.kind == "video"), None)
        if video is None:
            return
        self._comm_out = CommSender(
            self.id,
            video,
            lambda payload, data: self.send_media("frame", payload, data),
            self._comm_first_ack,
        )
        self._comm_out.start()

    def _comm_first_ack(self, what: str = "first frame drawn over the comm") -> None:
        # a receiving kind is live once the page drew the kernel's first frame (or
        # played its first sound)
        if self.kind not in SENDING_KINDS:
            self._set_state("live", what)

    def _stop_comm(self) -> None:
        receiver, self._comm_in = self._comm_in, None
        sender, self._comm_out = self._comm_out, None
        for audio in (self._comm_audio_in, self._comm_audio_out):
            if audio is not None:
                audio.close()
        self._comm_audio_in = self._comm_audio_out = None
        if receiver is not None:
            receiver.close()
        if sender is not None:
            sender.close()

    def comm_frame(self, payload: dict[str, Any], data: bytes) -> None:
        """A page frame over the comm (media loop, at dispatch)."""
        if self._comm_in is None:
            self._refuse("out-of-order", "this stream does not take frames over the comm", "frame")
            return
        self._comm_in.frame(payload, data)

    def comm_frame_ack(self, seq: int) -> None:
        """The page drew kernel frame ``seq`` (media loop)."""
        if self._comm_out is not None:
            self._comm_out.ack(seq)

    def comm_audio(self, payload: dict[str, Any], data: bytes) -> None:
        """A page audio chunk over the comm (media loop, at dispatch)."""
        if self._comm_audio_in is None:
            self._refuse("out-of-order", "this stream does not take sound over the comm", "audio")
            return
        self._comm_audio_in.chunk(payload, data)

    def comm_audio_ack(self, seq: int) -> None:
        """The page played kernel audio up to chunk ``seq`` (media loop)."""
        if self._comm_audio_out is not None:
            self._comm_audio_out.ack(seq)

    def send_media(self, type_: str, payload: Any, data: bytes | None = None) -> None:
        """A ``frame``/``frame-ack``/``audio``/``audio-ack`` to the page: counted in the
        history, not kept (any thread)."""
        msg = make_message(type_, self.id, payload)
        self.history.message("out", type_, len(data or b""), None)
        widget = self.owner
        if widget is not None:
            widget.send(msg, [data] if data is not None else None)

    def _comm_takes_over(self, words: str) -> bool:
        """WebRTC cannot connect (``words`` say why): True when the comm will carry the
        stream instead (``transport="auto"``: the page moves it there), so the stream must
        not fail; the reason stays in the history. Media loop."""
        widget = self.owner
        if (
            widget is None
            or self.closed
            or widget.transport_mode != "auto"
            or self.kind not in COMM_KINDS
        ):
            return False
        if words not in self._webrtc_doomed:
            self._webrtc_doomed.append(words)
            self.history.note(f"WebRTC cannot connect ({words}); the comm will carry the stream")
        return True

    def _webrtc_lost(self, words: str) -> bool:
        """WebRTC failed while the comm carries the stream: drop the peer connection
        only, and keep streaming (media loop). False when the comm is not in use."""
        if self.transport != "comm" or self.closed:
            return False
        pc, self._pc = self._pc, None
        if pc is not None:
            self.history.note(f"WebRTC given up, the comm carries the stream: {words}")
            pc.remove_all_listeners()
            _ice_restart.forget(pc)
            _start_close(pc, self.id)
        return True

    def comm_stats(self) -> list[dict[str, Any]]:
        """The comm transport's counters as stats reports (media loop)."""
        out: list[dict[str, Any]] = []
        if self._comm_in is not None:
            out.append({"id": "nbrtc-comm-in", "type": "nbrtc-comm", **self._comm_in.stats()})
        if self._comm_out is not None:
            out.append({"id": "nbrtc-comm-out", "type": "nbrtc-comm", **self._comm_out.stats()})
        for sid, audio in (("in", self._comm_audio_in), ("out", self._comm_audio_out)):
            if audio is not None:
                out.append({"id": f"nbrtc-comm-audio-{sid}", "type": "nbrtc-comm", **audio.stats()})
        return out

    # --- liveness ----------------------------------------------------------------------------
    def heard(self) -> None:
        self.silence = 0.0

    async def _ping_loop(self) -> None:
        """Ping the browser (its watchdog) and run ours: close a page that went silent."""
        await liveness.watch(lambda: not self.closed, self._ping, self._judge_silence)

    def _ping(self, t: float) -> None:
        self.send("ping", {"t": round(t, 3)})

    async def _judge_silence(self, elapsed: float) -> bool:
        if self.manager.browser_silent(self, elapsed):
            await self.close("browser-gone", notify_browser=True)
            return True
        return False

    # --- failure and close -------------------------------------------------------------------
    def browser_error(self, name: str, message: str) -> StreamError:
        """The error the browser reported, as the exception Python users get."""
        return browser_error(name, message, self.kind)

    async def fail(self, error: StreamError) -> None:
        """Record ``error``, go to state error, and tear down."""
        if self.closed:
            return
        self.error = error
        self._set_state("error", str(error))
        await self.close("error", notify_browser=True)

    def browser_failed(self, name: str, message: str) -> None:
        """The page reported a failure of this stream (media loop, at dispatch).

        The error is kept at once, not only by the ``fail`` task: the page's DTLS close
        can reach the kernel just before the ``error`` message that explains it (a
        camera refused after ICE connected), and the teardown it starts cancels the
        stream's pending tasks. The widget must still say why."""
        err = self.browser_error(name, message)
        if self.error is None:
            self.error = err
        if self.closed or self._close_task is not None:
            widget = self.owner
            if widget is not None:
                widget.update_state()
            return
        self.spawn(self.fail(err))

    async def close(self, reason: str, notify_browser: bool = True) -> None:
        """Tear down (idempotent: a second caller awaits the first teardown)."""
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(
                self._teardown(reason, notify_browser)
            )
        await asyncio.shield(self._close_task)

    async def _teardown(self, reason: str, notify_browser: bool) -> None:
        if notify_browser:
            self.send("bye", {"reason": reason})
        self._set_state("closed", reason)
        self.reconnect.close()
        self.manager.forget(self)
        current = asyncio.current_task()
        answer = self._answer_task
        for task in list(self._tasks):
            if task is not current and task is not answer:
                task.cancel()
        if answer is not None and answer is not current and not answer.done():
            # Let the answer step reach its next closed-check instead of cancelling it:
            # cancelled inside setLocalDescription, aioice can be left holding a UDP
            # socket it opened for gathering but never registered (a leaked socket).
            try:
                await asyncio.wait_for(asyncio.shield(answer), CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, Exception):
                answer.cancel()
        self._stop_comm()
        for track in self._tracks:
            track.stop()  # releases our subscription to the widget's source
        self._tracks.clear()
        if self.impairment is not None:
            self.impairment.close()
            self.impairment = None
        pc, self._pc = self._pc, None
        if pc is not None:
            pc.remove_all_listeners()
            _ice_restart.forget(pc)  # a pending restart's 30 s timer must not outlive us
            # never cancelled half-way (that leaks its sockets): waited for at most
            # CLOSE_TIMEOUT s, a slower close goes on by itself
            await _close_quietly(pc, self.id)
        # A closed stream is kept a while for history()/stats(): it must not keep the
        # answer task (whose exception would hold the failed peer through its traceback).
        self._answer_task = None
        self._pending.clear()
        widget = self.owner
        if widget is not None:
            widget.stream_closed(self)
        self.timings["closed"] = time.monotonic() - self.created

    def describe(self) -> dict[str, Any]:
        """Plain-data summary for ``manager().streams()`` (any thread)."""
        return {
            "id": self.id,
            "widget": self.owner_id,
            "kind": self.kind,
            "page": self.page,
            "state": self._state,
            "age": round(time.monotonic() - self.created, 3),
            "frames": self.frames,
            "audio_frames": self.audio_frames,
            "browser": dict(self.browser),
            "transport": self.transport,
            "error": str(self.error) if self.error else None,
            # seconds from the offer's arrival: answer sent, first frame, live, closed
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _pair_kind(pc: RTCPeerConnection | None) -> str:
    """ "relay" when the connected pair of ``pc`` goes through a TURN server (either
    side's candidate is a relay one), "direct" when it does not, "" while aioice has not
    recorded a nominated pair yet (it may lag the "connected" event)."""
    pair = _ice_restart.selected_pair(pc) if pc is not None else None
    if not pair:
        return ""
    types = {str(pair.get(side, "")).split(" ")[0] for side in ("local", "remote")}
    return "relay" if "relay" in types else "direct"


#: peers being closed apart from their stream (a replaced or given-up peer): held here so
#: the tasks are not garbage-collected, and never cancelled (aiortc's close() cancelled
#: half-way leaves the ICE sockets open and a second close() waiting forever)
_CLOSING: set[asyncio.Task[None]] = set()


def _start_close(pc: RTCPeerConnection, stream_id: str) -> asyncio.Task[None]:
    """Close ``pc`` in a task of its own, held in _CLOSING until done (media loop)."""

    async def close() -> None:
        try:
            await pc.close()
        except Exception as exc:
            log.warning("stream %s: peer close: %s", stream_id, repr(exc))

    task = asyncio.get_running_loop().create_task(close())
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)
    return task


async def _close_quietly(pc: RTCPeerConnection, stream_id: str) -> None:
    """Close ``pc`` and wait for it at most CLOSE_TIMEOUT s; the close goes on if this
    wait is cancelled or times out (media loop)."""
    await asyncio.wait({_start_close(pc, stream_id)}, timeout=CLOSE_TIMEOUT)


def _is_auth_failure(words: str) -> bool:
    """Whether TURN failure words (either side's) say the credentials were refused."""
    return "credentials (401" in words or "credentials (441" in words


def _wire_size(msg: dict[str, Any]) -> int:
    """UTF-8 bytes of a message's compact JSON (what the signaling log shows)."""
    try:
        return len(json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return 0


def browser_error(name: str, message: str, kind: str) -> StreamError:
    """A browser error name/message as the exception Python users get (words included)."""
    cls = CameraError if name in _CAMERA_ERRORS else StreamError
    return cls(_error_words(name, message, kind), name=name)


def _error_words(name: str, message: str, kind: str) -> str:
    device = "camera" if kind == "camera" else "browser"
    words = {
        "NotAllowedError": f"{device.capitalize()} permission was denied (NotAllowedError). "
        "Allow camera access for this page, then run the cell again.",
        "NotFoundError": "No camera was found (NotFoundError). Connect a camera, or use "
        "nbrtc.VideoView(nbrtc.sources.test_pattern()) for a synthetic feed.",
        "NotReadableError": "The camera is busy or unreadable (NotReadableError): another "
        "application or tab may be using it. Close that, then run the cell again.",
        "OverconstrainedError": "The camera cannot satisfy the requested constraints "
        f"(OverconstrainedError: {message}). Check device_id, width, height and frame_rate.",
        "SecurityError": "The page is not allowed to use the camera (SecurityError); open "
        "Jupyter over https or on localhost.",
        # the page's words for its own ICE failure (js/core/errors.js iceFailed)
        "IceFailed": ICE_FAILED_WORDS,
    }
    return words.get(name, f"{name}: {message}" if message else name)
