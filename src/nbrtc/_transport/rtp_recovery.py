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

The same recovery starts when the video is stuck behind one lost packet while packets
keep arriving: no frame left the jitter buffer for ``STALL_SECONDS`` and it holds packets
past a hole. aiortc NACKs a missing packet once, when it notices the hole; when that NACK
or the retransmission is lost too (a UDP receive buffer that overflowed on a busy
machine, e.g. while the page floods a data channel of the same peer), the buffer waits
for the packet until 512 newer ones overflow it -- 17 s of frozen video at 30 packets a
second (tests/kernel/test_fuzz.py's channel barrage once failed on it).

Every video receiver's frames also leave the jitter buffer with their last packet (the
RTP marker bit; ``_upstream.complete_frames_on_marker``), not when the next frame's first
packet arrives: aiortc holds each frame one frame interval (33 ms at 30 fps) otherwise,
the first frame of a stream included (``FRAMES_ON_MARKER``).

The kernel -> browser direction needs nothing here: Chromium's receiver sends PLIs
itself, and aiortc's ``RTCRtpSender`` answers a PLI by encoding its next frame as a
keyframe (``_send_keyframe``; tests/kernel/test_reconnect.py checks it). A processing
camera that forwards the camera's own frames answers it too (``_media/passthrough.py``),
and asks the camera for keyframes through :func:`request_keyframe` (the media SSRC kept
here: aiortc's ``getSynchronizationSources()`` lists the RTX SSRC as well).

Private internals relied on, all reached through ``nbrtc._upstream`` (which checks them
at import; ``check_supported()`` raises in words if one is missing):
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
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from .. import _upstream

log = logging.getLogger("nbrtc")

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
#: No frame left the jitter buffer for this long while it holds packets past a missing
#: one: the retransmission is not coming (a NACK round trip takes one RTT), so the
#: receiver restarts and asks for a keyframe (seconds).
STALL_SECONDS = 1.0
#: While no frame leaves the jitter buffer, it is searched for a hole at most this often
#: (seconds): a search reads its 512 slots.
STALL_CHECK = 0.1
#: Set False to turn the recovery off (tests show what aiortc does without it).
ENABLED = True
#: Set False to let frames wait for the next frame's first packet, as aiortc does
#: (benchmarks compare); read when a receiver gets its first media packet.
FRAMES_ON_MARKER = True

_ATTR = "_nbrtc_recovery"
_installed = False
_supported: bool | None = None


@dataclass
class Recovery:
    """One video receiver's recovery state and counters (media loop writes, any reads)."""

    last_arrival: float | None = None
    last_seq: int | None = None
    codec: str = ""
    #: the SSRC of the media (not RTX) packets: where a keyframe request goes
    ssrc: int | None = None
    #: monotonic time the last recovery started, while a keyframe is awaited
    awaiting_since: float | None = None
    last_pli: float = 0.0
    #: recoveries started (packets resumed after a gap)
    resumes: int = 0
    #: the longest arrival gap that started a recovery (seconds)
    longest_gap: float = 0.0
    #: completed frames not decoded while a keyframe was awaited
    frames_dropped: int = 0
    #: monotonic time a frame last left the jitter buffer (or the first packet came)
    last_frame: float | None = None
    #: recoveries started because the video was stuck behind a lost packet
    stalls: int = 0
    #: monotonic time the jitter buffer was last searched for a hole
    stall_checked: float = 0.0
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


def request_keyframe(receiver: Any) -> Awaitable[None] | None:
    """A PLI to the sender of ``receiver``'s video (to await on the media loop), or None
    before its first media packet (no SSRC known yet)."""
    rec = recovery_of(receiver)
    if rec is None or rec.ssrc is None:
        return None
    return _upstream.send_pli(receiver, rec.ssrc)


def recovery_of(receiver: Any) -> Recovery | None:
    """The recovery state of an aiortc video receiver (None before its first packet)."""
    return receiver.__dict__.get(_ATTR)


def stats(pc: Any) -> dict[str, Any]:
    """Recovery counters of ``pc``'s video receivers, summed: ``{"resumes", "stalls", "plis",
    "frames_dropped", "longest_gap", "pli_times", "resume_times"}`` (times monotonic).
    Any thread; all zero when ``pc`` is None or received no video."""
    out: dict[str, Any] = {
        "resumes": 0,
        "stalls": 0,
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
        out["stalls"] += rec.stalls
        out["plis"] += len(rec.pli_times)
        out["frames_dropped"] += rec.frames_dropped
        out["longest_gap"] = max(out["longest_gap"], rec.longest_gap)
        out["pli_times"] += list(rec.pli_times)
        out["resume_times"] += list(rec.resume_times)
    return out


# --- support check ------------------------------------------------------------------------
def check_supported() -> None:
    """Raise ``RuntimeError`` naming what is missing if aiortc lacks the internals this
    module relies on (``_upstream.video_receiver_problems``). Builds a throwaway receiver
    (no transport, no loop): any thread. Cached once it passed."""
    global _supported
    if _supported:
        return
    problems = _upstream.video_receiver_problems()
    if problems:
        _supported = False
        raise RuntimeError(
            "video recovery after a network gap is not supported with aiortc "
            f"{_upstream.installed_version('aiortc')} (tested: "
            f"aiortc{_upstream.tested_range('aiortc')}); missing or changed internals: "
            + ", ".join(problems)
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
    _upstream.patch_video_receiver(_on_media_packet, _on_pli)
    _installed = True
    return True


def _on_media_packet(receiver: Any, packet: Any, codec: str) -> Awaitable[None] | None:
    """Before aiortc handles a media ``packet`` of a video ``receiver`` (media loop): start
    a recovery when it resumes the stream after a gap (then the keyframe request to await
    before the packet is handled; None otherwise: no coroutine per packet)."""
    rec = _recovery(receiver)
    rec.ssrc = packet.ssrc
    if not ENABLED:
        return None
    rec.codec = codec
    now = time.monotonic()
    gap = rec.observe(packet.sequence_number, now)
    if gap is not None:
        rec.resumes += 1
        rec.longest_gap = max(rec.longest_gap, gap)
        rec.resume_times.append(now)
        log.info(
            "nbrtc: video packets resumed after %.2f s with packets lost: keyframe requested",
            gap,
        )
        _restart_receiver(receiver, rec, now)
        return _upstream.send_pli(receiver, packet.ssrc)
    if rec.last_frame is None:
        rec.last_frame = now
    elif (
        now - rec.last_frame > STALL_SECONDS
        and now - rec.stall_checked >= STALL_CHECK
        and _stuck(receiver, rec, now)
    ):
        rec.stalls += 1
        log.info(
            "nbrtc: video stuck %.1f s behind a lost packet that was not retransmitted: "
            "keyframe requested",
            now - rec.last_frame,
        )
        _restart_receiver(receiver, rec, now)
        return _upstream.send_pli(receiver, packet.ssrc)
    return None


def _stuck(receiver: Any, rec: Recovery, now: float) -> bool:
    rec.stall_checked = now
    return _upstream.jitter_buffer_hole(receiver) is not None


def _on_pli(receiver: Any) -> None:
    """Before a video receiver sends a PLI (aiortc's own or ours): count it."""
    rec = receiver.__dict__.get(_ATTR)
    if rec is not None:
        rec.pli_times.append(time.monotonic())
        rec.last_pli = time.monotonic()


def _recovery(receiver: Any) -> Recovery:
    """The receiver's state, made (and its jitter buffer's ``add`` wrapped) on first use."""
    rec = receiver.__dict__.get(_ATTR)
    if rec is None:
        rec = Recovery()
        setattr(receiver, _ATTR, rec)
        if FRAMES_ON_MARKER:  # first: the recovery's filter then sees these frames too
            _upstream.complete_frames_on_marker(receiver)
        _upstream.filter_jitter_buffer(receiver, lambda add: _filtered_add(add, rec))
    return rec


def _filtered_add(add: Any, rec: Recovery) -> Any:
    """The jitter buffer's ``add``, holding back frames while a keyframe is awaited."""

    def filtered_add(packet: Any) -> tuple[bool, Any]:
        pli, frame = add(packet)
        if frame is None:
            return pli, frame
        now = rec.last_frame = time.monotonic()
        if rec.awaiting_since is None:
            return pli, frame
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

    return filtered_add


def _restart_receiver(receiver: Any, rec: Recovery, now: float) -> None:
    """Forget the frame in progress and the packets lost; await a keyframe."""
    # the next packet (the one that just arrived) is the buffer's new origin
    _upstream.reset_jitter_buffer(receiver)
    rec.awaiting_since = now
    rec.last_frame = now
