"""A kernel stream's transport part (``CommMixin``, a part of ``KernelStream``): WebRTC
(direct or through a relay) or the widget's comm, and the moves between them. The comm
carries video (``_transport/comm_media.py``) and sound (``_transport/comm_audio.py``)
when WebRTC cannot connect. Media loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .._transport import ice_restart as _ice_restart
from .._transport.comm_audio import CommAudioReceiver, CommAudioSender
from .._transport.comm_media import CommReceiver, CommSender
from .._transport.peer_close import CLOSE_TIMEOUT, start_close
from .protocol import COMM_KINDS, make_message
from .stream_core import SENDING_KINDS, StreamCore
from .stream_ice import pair_kind

log = logging.getLogger("nbrtc")


class CommMixin(StreamCore):
    """Which transport carries a stream, and the comm's senders and receivers."""

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
            widget.stream_transport_changed(self)  # type: ignore[arg-type]  # a KernelStream

    def start_comm(self) -> None:
        """A stream that starts on the comm, with no peer connection (the page's
        ``transport="comm"``; media loop)."""
        self._set_state("connecting", "offer received (transport 'comm')")
        self.spawn(self._ping_loop())
        widget = self.owner
        if widget is not None and widget.stats_interval > 0:
            self.spawn(self._stats_loop(widget.stats_interval, widget.stats_idle_interval))
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
        self._set_transport(self._webrtc_path or pair_kind(self._pc) or "direct", why)
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
            for track in widget.tracks_for(self):  # type: ignore[arg-type]  # a KernelStream
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
        self.control.close()
        if pc is not None:
            self.history.note(f"WebRTC given up, the comm carries the stream: {words}")
            pc.remove_all_listeners()
            _ice_restart.forget(pc)
            start_close(pc, f"stream {self.id}")
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
