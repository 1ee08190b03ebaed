"""One kernel-side peer connection for one browser stream (``KernelStream``).

``KernelStream`` is ``StreamCore`` (stream_core.py: fields, the state machine, sending,
tasks) with its parts: ICE and TURN (stream_ice.py), the transport and the comm
(stream_comm.py), inspection (stream_inspect.py); here: negotiation, media, liveness,
failure and teardown. Every method runs on the media loop unless its docstring says
otherwise. State changes go through ``_set_state`` only, which logs ``old -> new`` and
tells the widget.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .._transport import ice as _ice
from .._transport import ice_restart as _ice_restart
from .._transport.peer_close import CLOSE_TIMEOUT, close_quietly, start_close
from ..errors import StreamError
from . import liveness
from . import renegotiate as _renegotiate
from .protocol import _check_offer_sdp
from .stream_comm import CommMixin
from .stream_core import SENDING_KINDS, StreamCore, log
from .stream_ice import IceMixin, pair_kind
from .stream_inspect import InspectMixin
from .stream_words import browser_error

if TYPE_CHECKING:
    from .owner import StreamOwner, TakenOffer

#: renegotiation rounds kept for ``sdp.rounds`` and the Inspector: the first (initial)
#: exchange and the newest ones (a page cannot make the kernel hold its reoffers forever)
MAX_SDP_ROUNDS = 20


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


def _add_track(pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
    """``pc.addTrack(track)``; a track that offers its sender a view of itself
    (``sender_view(transceiver)``, a processing camera's) has that view sent instead. The
    stream keeps ``track`` itself (the comm transport reads it, teardown stops it)."""
    sender = pc.addTrack(track)
    view = getattr(track, "sender_view", None)
    if view is None:
        return
    transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
    sender.replaceTrack(view(transceiver))


class KernelStream(CommMixin, IceMixin, InspectMixin, StreamCore):
    """The kernel's end of one browser peer of one widget view."""

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
            if not await self._set_remote(pc, sdp, "offer"):
                return
            for track in widget.tracks_for(self):
                self._tracks.append(track)
                _add_track(pc, track)
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
                self.spawn(self._stats_loop(widget.stats_interval, widget.stats_idle_interval))
            self.spawn(self._ice_watchdog())
            if policy == "relay":
                self.spawn(self._page_relay_watch())
        except Exception as exc:
            if not self.closed:
                # str(exc), not exc: a log record keeping the exception would keep its
                # traceback, and with it the failed peer, alive
                log.warning("stream %s: negotiation failed: %s", self.id, str(exc))
                await self.fail(StreamError(f"negotiation failed: {exc}"))

    def start_offered(self, pre: TakenOffer, sdp: str) -> None:
        """Begin with the kernel's own offer ``pre``, which this stream's page answered
        with ``sdp`` (media loop; preoffer.py)."""
        self._set_state("connecting", "answer to the kernel's offer received")
        self._answer_task = self.spawn(self._accept_answer(pre, sdp))
        self.spawn(self._ping_loop())

    async def _accept_answer(self, pre: TakenOffer, sdp: str) -> None:
        pc, tracks, control = pre.take()
        try:
            widget = self.owner
            if widget is None:
                raise StreamError("the widget was garbage-collected")
            if pc is None:
                raise StreamError("the kernel's offer was closed before the page answered")
            self._adopt_pc(pc)
            self._tracks.extend(tracks)
            if control is not None:
                self.control.adopt(control)
            self._codec = pre.codec
            if not await self._set_remote(pc, sdp, "answer"):
                return
            network = widget.teaching_prefs().get("network")
            if network is not None and network.active():
                self._impair(network)
            widget.stream_negotiated(self)
            self.timings["answer"] = time.monotonic() - self.created
            self.max_bitrate = pre.max_bitrate
            # the kernel offered this round: renegotiate.page_sdp/kernel_sdp read it
            self.sdp_rounds.append(
                {
                    "round": 0,
                    "reason": "initial",
                    "offer": pre.sdp,
                    "answer": sdp,
                    "offerer": "kernel",
                    "t": time.time(),
                }
            )
            if widget.stats_interval > 0:
                self.spawn(self._stats_loop(widget.stats_interval, widget.stats_idle_interval))
            self.spawn(self._ice_watchdog())
        except Exception as exc:
            if pc is not None and self._pc is not pc:  # not ours yet: teardown misses it
                for track in tracks:
                    track.stop()
                await close_quietly(pc, f"stream {self.id}")
            if not self.closed:
                log.warning("stream %s: negotiation failed: %s", self.id, str(exc))
                await self.fail(StreamError(f"negotiation failed: {exc}"))

    async def _set_remote(self, pc: RTCPeerConnection, sdp: str, type_: str) -> bool:
        """The page's first SDP (its offer, or its answer to the kernel's) on ``pc``, then
        the candidates that waited for it, in order (the candidate lock held). False when
        the stream closed meanwhile (the caller stops there)."""
        async with self._candidate_lock:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=type_))
            if self.closed:
                return False
            for cand in self._pending:
                await self._apply_candidate(cand)
            self._pending.clear()
            self._remote_set = True
        return True

    def _new_pc(self, widget: StreamOwner, policy: str) -> RTCPeerConnection:
        """A kernel peer connection for this stream, its events wired (media loop)."""
        pc = RTCPeerConnection(rtc_configuration(widget.ice_servers(self.id), policy))
        self._adopt_pc(pc)
        # a failed TURN allocation while the kernel gathers is reported to us
        _ice.turn_report.set(self.turn_failed)
        return pc

    def _adopt_pc(self, pc: RTCPeerConnection) -> None:
        """Make ``pc`` this stream's peer connection and wire its events (media loop)."""
        self._pc = pc
        self._kernel_pc_states = {}
        self._watch_pc_states(pc)
        pc.on("connectionstatechange", self._on_pc_state)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)

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
                if _renegotiate.ice_restart_requested(
                    _renegotiate.page_sdp(self.sdp_rounds[-1]), sdp
                ):
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
        self.control.close()  # the new pc's page opens a new one
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
                    closing = start_close(old, f"stream {self.id}")
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
                _add_track(pc, track)
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

    # --- media ----------------------------------------------------------------------------
    def _on_pc_state(self) -> None:
        pc = self._pc
        if pc is None or self.closed:
            return
        state = pc.connectionState
        log.debug("stream %s: kernel peer connectionState %s", self.id, state)
        if state == "connected":
            self._webrtc_path = pair_kind(pc)
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
            # after the widget's bounds: a control channel over them is closing already
            if channel.readyState == "open":
                self.control.adopt(channel)

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
        else:
            self.audio_frames += 1
            first = self.audio_frames == 1
        if first:
            what = (
                f"first frame {frame.width}x{frame.height}"
                if video
                else f"first audio {frame.sample_rate} Hz {frame.layout.name}"
            )
            self.timings["first_frame" if video else "first_audio"] = (
                time.monotonic() - self.created
            )
            self._set_state("live", f"{what}{' over the comm' if self._comm_in else ''}")
        if video:
            widget.on_frame(self, frame)
        else:
            widget.on_audio(self, frame)

    # --- liveness ----------------------------------------------------------------------------
    async def _ping_loop(self) -> None:
        """Ping the browser (its watchdog) and run ours: close a page that went silent."""
        await liveness.watch(
            lambda: not self.closed, self._ping, self._judge_silence, self.wants_answer
        )

    def wants_answer(self) -> bool:
        """The page has been silent for ``liveness.ASK_AFTER`` idle-kernel seconds: the
        kernel's ping asks it to answer through the comm (media loop)."""
        return self.silence >= liveness.ASK_AFTER

    def _ping(self, t: float) -> None:
        # Not while the first answer is being made: the page's watchdog starts with the
        # answer (js/peer/peer.js), and the watchdog's first tick comes as the offer is
        # answered, where a ping would only queue one more comm message ahead of it. A
        # stream started on the comm has no answer to wait for (its page's watchdog starts
        # when the kernel takes it: js/peer/comm-transport.js).
        answering = self._answer_task is not None and not self._answer_task.done()
        if not (answering and "answer" not in self.timings):
            self.manager.ping_page(self, t)

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
        self.control.close()
        if pc is not None:
            pc.remove_all_listeners()
            _ice_restart.forget(pc)  # a pending restart's 30 s timer must not outlive us
            # never cancelled half-way (that leaks its sockets): waited for at most
            # CLOSE_TIMEOUT s, a slower close goes on by itself
            await close_quietly(pc, f"stream {self.id}")
        # A closed stream is kept a while for history()/stats(): it must not keep the
        # answer task (whose exception would hold the failed peer through its traceback).
        self._answer_task = None
        self._pending.clear()
        widget = self.owner
        if widget is not None:
            widget.stream_closed(self)
        self.timings["closed"] = time.monotonic() - self.created
