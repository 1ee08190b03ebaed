"""Video that resumes at once after a network gap: reset the receiver, ask for a keyframe.

Why: aiortc 1.16's video receiver puts RTP packets in a 512-packet ``JitterBuffer`` and
hands a frame to the decoder only when every packet from the buffer's origin up to it
has arrived. After a blackout (UDP dropped for a few seconds, a Wi-Fi change) the packets
of the gap never come: the buffer waits, decodes nothing, and asks the sender for a
keyframe (PLI) only once 512 newer packets overflowed it -- measured 7-8 s of frozen
video after a 5 s blackout at 640x480, and longer at lower bitrates. Its NACK generator
meanwhile asks for up to 128 packets the sender no longer has.

What this module does, per video receiver, when media packets resume after a gap -- an
arrival gap longer than ``GAP_SECONDS`` with packets lost across it, or a forward
sequence jump of more than ``SEQ_JUMP`` packets:

* the jitter buffer's partial frame state is dropped (its origin restarts at the packet
  that just arrived) and the NACK generator forgets the lost packets;
* a PLI goes to the sender at once (RFC 4585 section 6.3.1), not after 512 packets;
* until a keyframe arrives, completed frames are not decoded (they reference pictures
  lost in the gap and would decode as garbage or not at all), and the PLI is repeated
  every ``KEYFRAME_RETRY`` seconds (a PLI is an RTCP packet and may be lost too). After
  ``KEYFRAME_WAIT`` seconds without a keyframe, frames are decoded again whatever they
  are: a sender that never answers PLIs still gets through, as before.

A gap without loss (the sender paused, or the media loop itself stalled while the socket
kept the packets) changes nothing. Retransmissions (RTX) and audio are left alone.

The kernel -> browser direction needs nothing here: Chromium's receiver sends PLIs
itself, and aiortc's ``RTCRtpSender`` answers a PLI by encoding its next frame as a
keyframe (``_send_keyframe``; tests/kernel/test_reconnect.py checks it).

Private internals relied on (checked by ``check_supported()``), aiortc 1.16.0:
``RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms)`` and
``_send_rtcp_pli(media_ssrc)`` (wrapped on the class), its name-mangled
``__kind``, ``__codecs`` (payload type -> codec), ``__rtx_ssrc`` (RTX SSRC -> media
SSRC), ``__jitter_buffer`` and ``__nack_generator``, and ``_enabled``;
``JitterBuffer.add`` (wrapped per instance), ``.remove(count)``, ``.capacity``,
``._origin``; ``JitterFrame.data``; ``NackGenerator.max_seq`` / ``.missing``.

Thread: the wrappers run on the peer connection's loop (the media loop), as aiortc's own
code; ``stats`` reads counters from any thread.
"""

from __future__ import annotations

import collections
import inspect
import logging
import time
import types
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

log = logging.getLogger("nbrtc")

#: Version this module was written and tested against.
TESTED_AIORTC = "1.16.0"
#: A media packet that arrives this long after the previous one, with packets lost in
#: between, starts a recovery. Longer than any normal inter-packet gap of live video
#: (30 fps sends a packet at least every 33 ms) and than NACK round trips on a LAN.
GAP_SECONDS = 0.5
#: A forward sequence jump of more than this many packets starts a recovery even without
#: an arrival gap: half of aiortc's 512-packet buffer, several hundred milliseconds of
#: 640x480 video, more than NACK can repair (aiortc asks for the last 128 only).
SEQ_JUMP = 256
#: While waiting for the keyframe, the PLI is repeated this often (seconds).
KEYFRAME_RETRY = 0.5
#: Frames are dropped while waiting for a keyframe for at most this long (seconds).
KEYFRAME_WAIT = 3.0
#: Set False to turn the recovery off (tests show what aiortc does without it).
ENABLED = True

_ATTR = "_nbrtc_recovery"
_installed = False
_supported: bool | None = None


@dataclass
class Recovery:
    """One video receiver's recovery state and counters (media loop writes, any reads)."""

    last_arrival: float | None = None
    last_seq: int | None = None
    codec: str = ""
    #: monotonic time the last recovery started, while a keyframe is awaited
    awaiting_since: float | None = None
    last_pli: float = 0.0
    #: recoveries started (packets resumed after a gap)
    resumes: int = 0
    #: the longest arrival gap that started a recovery (seconds)
    longest_gap: float = 0.0
    #: completed frames not decoded while a keyframe was awaited
    frames_dropped: int = 0
    #: every PLI this receiver sent (aiortc's own and ours), monotonic times, newest last
    pli_times: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=64)
    )
    #: monotonic times recoveries started, newest last
    resume_times: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=64)
    )

    def observe(self, seq: int, now: float) -> float | None:
        """Take one media packet's sequence number and arrival; the gap in seconds when
        it resumes the stream after a loss (see the module docstring), else None."""
        last_seq, last_arrival = self.last_seq, self.last_arrival
        self.last_arrival = now
        if last_seq is None or last_arrival is None:
            self.last_seq = seq
            return None
        step = (seq - last_seq) & 0xFFFF
        if step == 0 or step >= 0x8000:
            return None  # a duplicate or a late (reordered) packet
        self.last_seq = seq
        gap = now - last_arrival
        lost = step - 1
        if (lost > 0 and gap > GAP_SECONDS) or lost > SEQ_JUMP:
            return gap
        return None


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an assembled encoded frame is a keyframe (VP8 or H264); True for other
    codecs, which are then never held back."""
    name = codec.upper()
    if name == "VP8":
        # RFC 6386 section 9.1: P bit 0 = key frame, and the start code 9d 01 2a
        return len(data) >= 6 and not data[0] & 1 and data[3:6] == b"\x9d\x01\x2a"
    if name == "H264":
        # aiortc's depayloader emits Annex B: look for an IDR slice or an SPS
        i = data.find(b"\x00\x00\x01")
        while i != -1 and i + 3 < len(data):
            if data[i + 3] & 0x1F in (5, 7):
                return True
            i = data.find(b"\x00\x00\x01", i + 3)
        return False
    return True


def recovery_of(receiver: Any) -> Recovery | None:
    """The recovery state of an aiortc video receiver (None before its first packet)."""
    return receiver.__dict__.get(_ATTR)


def stats(pc: Any) -> dict[str, Any]:
    """Recovery counters of ``pc``'s video receivers, summed: ``{"resumes", "plis",
    "frames_dropped", "longest_gap", "pli_times", "resume_times"}`` (times monotonic).
    Any thread; all zero when ``pc`` is None or received no video."""
    out: dict[str, Any] = {
        "resumes": 0,
        "plis": 0,
        "frames_dropped": 0,
        "longest_gap": 0.0,
        "pli_times": [],
        "resume_times": [],
    }
    if pc is None:
        return out
    for transceiver in pc.getTransceivers():
        rec = recovery_of(transceiver.receiver)
        if rec is None:
            continue
        out["resumes"] += rec.resumes
        out["plis"] += len(rec.pli_times)
        out["frames_dropped"] += rec.frames_dropped
        out["longest_gap"] = max(out["longest_gap"], rec.longest_gap)
        out["pli_times"] += list(rec.pli_times)
        out["resume_times"] += list(rec.resume_times)
    return out


# --- support check ------------------------------------------------------------------------
def check_supported() -> None:
    """Raise ``RuntimeError`` naming what is missing if aiortc lacks the internals this
    module relies on. Builds a throwaway receiver (no transport, no loop): any thread.
    Cached once it passed."""
    global _supported
    if _supported:
        return
    problems: list[str] = []
    try:
        from aiortc.jitterbuffer import JitterBuffer, JitterFrame
        from aiortc.rtcrtpreceiver import RTCRtpReceiver

        for name in ("_handle_rtp_packet", "_send_rtcp_pli"):
            if not inspect.iscoroutinefunction(getattr(RTCRtpReceiver, name, None)):
                problems.append(f"aiortc RTCRtpReceiver.{name}()")
        receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))  # type: ignore[arg-type]
        jb = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
        if not isinstance(jb, JitterBuffer):
            problems.append("aiortc RTCRtpReceiver.__jitter_buffer")
        else:
            if not hasattr(jb, "_origin") or not callable(getattr(jb, "remove", None)):
                problems.append("aiortc JitterBuffer._origin/remove()")
            if not isinstance(getattr(jb, "capacity", None), int):
                problems.append("aiortc JitterBuffer.capacity")
        nack = getattr(receiver, "_RTCRtpReceiver__nack_generator", None)
        if (
            nack is None
            or not hasattr(nack, "max_seq")
            or not isinstance(getattr(nack, "missing", None), set)
        ):
            problems.append("aiortc RTCRtpReceiver.__nack_generator (max_seq, missing)")
        for name, kind in (
            ("_RTCRtpReceiver__kind", str),
            ("_RTCRtpReceiver__codecs", dict),
            ("_RTCRtpReceiver__rtx_ssrc", dict),
            ("_enabled", bool),
        ):
            if not isinstance(getattr(receiver, name, None), kind):
                problems.append(f"aiortc RTCRtpReceiver.{name.replace('_RTCRtpReceiver', '')}")
        if "data" not in inspect.signature(JitterFrame).parameters:
            problems.append("aiortc JitterFrame.data")
    except Exception as exc:  # a changed constructor signature and the like
        problems.append(f"{type(exc).__name__}: {exc}")
    if problems:
        _supported = False
        try:
            version = metadata.version("aiortc")
        except metadata.PackageNotFoundError:  # pragma: no cover
            version = "?"
        raise RuntimeError(
            f"video recovery after a network gap is not supported with aiortc {version} "
            f"(written for {TESTED_AIORTC}); missing or changed internals: " + ", ".join(problems)
        )
    _supported = True


# --- install ------------------------------------------------------------------------------
def install_rtp_recovery() -> bool:
    """Wrap aiortc's video receiver once per process (idempotent, any thread, before any
    peer exists). False, with one warning, when aiortc's internals changed: video then
    recovers from gaps as slowly as plain aiortc does, and nothing else breaks."""
    global _installed
    if _installed:
        return True
    try:
        check_supported()
    except RuntimeError as exc:
        log.warning("nbrtc: %s", exc)
        return False
    from aiortc.codecs import is_rtx
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    original_handle = RTCRtpReceiver._handle_rtp_packet
    original_pli = RTCRtpReceiver._send_rtcp_pli

    async def _handle_rtp_packet(self: Any, packet: Any, arrival_time_ms: int) -> None:
        if ENABLED and self._enabled and self._RTCRtpReceiver__kind == "video":
            codec = self._RTCRtpReceiver__codecs.get(packet.payload_type)
            if (
                codec is not None
                and not is_rtx(codec)
                and packet.ssrc not in self._RTCRtpReceiver__rtx_ssrc
            ):
                rec = _recovery(self)
                rec.codec = codec.name
                now = time.monotonic()
                gap = rec.observe(packet.sequence_number, now)
                if gap is not None:
                    _restart_receiver(self, rec, gap, now)
                    await self._send_rtcp_pli(packet.ssrc)
        await original_handle(self, packet, arrival_time_ms)

    async def _send_rtcp_pli(self: Any, media_ssrc: int) -> None:
        rec = self.__dict__.get(_ATTR)
        if rec is not None:
            rec.pli_times.append(time.monotonic())
            rec.last_pli = time.monotonic()
        await original_pli(self, media_ssrc)

    RTCRtpReceiver._handle_rtp_packet = _handle_rtp_packet  # type: ignore[method-assign]
    RTCRtpReceiver._send_rtcp_pli = _send_rtcp_pli  # type: ignore[method-assign]
    _installed = True
    return True


def _recovery(receiver: Any) -> Recovery:
    """The receiver's state, made (and its jitter buffer's ``add`` wrapped) on first use."""
    rec = receiver.__dict__.get(_ATTR)
    if rec is None:
        rec = Recovery()
        setattr(receiver, _ATTR, rec)
        jb = receiver._RTCRtpReceiver__jitter_buffer
        add = jb.add  # bound to the class's method; the instance attribute shadows it

        def filtered_add(packet: Any) -> tuple[bool, Any]:
            pli, frame = add(packet)
            if frame is None or rec.awaiting_since is None:
                return pli, frame
            now = time.monotonic()
            if is_keyframe(rec.codec, frame.data):
                log.info(
                    "nbrtc: video keyframe %.0f ms after packets resumed",
                    (now - rec.awaiting_since) * 1000,
                )
                rec.awaiting_since = None
                return pli, frame
            if now - rec.awaiting_since > KEYFRAME_WAIT:
                log.warning(
                    "nbrtc: no video keyframe %.1f s after packets resumed: decoding "
                    "what arrives (the picture may be damaged until the next keyframe)",
                    KEYFRAME_WAIT,
                )
                rec.awaiting_since = None
                return pli, frame
            rec.frames_dropped += 1
            # the PLI (or its keyframe) may have been lost too: ask again, rate-limited
            return pli or now - rec.last_pli >= KEYFRAME_RETRY, None

        jb.add = filtered_add
    return rec


def _restart_receiver(receiver: Any, rec: Recovery, gap: float, now: float) -> None:
    """Forget the frame in progress and the packets lost in the gap; await a keyframe."""
    jb = receiver._RTCRtpReceiver__jitter_buffer
    if jb._origin is not None:
        jb.remove(jb.capacity)
        jb._origin = None  # the next packet (the one that just arrived) is the new origin
    nack = receiver._RTCRtpReceiver__nack_generator
    if nack is not None:
        nack.missing.clear()
        nack.max_seq = None
    rec.resumes += 1
    rec.longest_gap = max(rec.longest_gap, gap)
    rec.resume_times.append(now)
    rec.awaiting_since = now
    log.info(
        "nbrtc: video packets resumed after %.2f s with packets lost: keyframe requested",
        gap,
    )
