"""Signaling protocol v1: message construction and validation (pure, no I/O).

The rules are documented in ``docs/protocol.md`` and mirrored by ``js/core/protocol.js``.
``parse_browser_message`` never raises on bad input: it returns a ``ProtocolError``
that the router turns into an ``error`` reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .._checks import is_one_of
from .candidate import parse_candidate

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024
MAX_SDP_CHARS = 128 * 1024
# \Z, not $: "$" also matches before a final newline, which JS's /$/ does not
STREAM_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
#: the page key: a secret the page's router draws once (js/core/router.js) and puts in the
#: envelope of every message it sends. Browser -> kernel messages travel on the page's
#: own shell channel, which no other page sees (unlike the kernel's replies, broadcast on
#: IOPub to every page): the key is what binds a stream or a room member to its page.
PAGE_KEY_RE = re.compile(r"^[A-Za-z0-9]{16,64}\Z")
#: at most this many media sections (m= lines) in an offer: a page offers one video, one
#: audio and one data section at most; aiortc starts a decoder thread per video section
MAX_MEDIA_SECTIONS = 4

BROWSER_TYPES = frozenset(
    {
        "offer",
        "candidate",
        "state",
        "error",
        "devices",
        "device",  # the user picked a camera or microphone in the view's device picker
        "ping",
        "bye",
        "stats",  # the browser's getStats, filtered (docs/protocol.md "Inspection")
        "reoffer",  # a renegotiation offer for a live stream (codec, bitrate, ICE restart)
        "join",  # a room member view joins its room (docs/protocol.md "Rooms")
        "signal",  # room: offer/answer/candidate/bye for another member, relayed
        "ice-servers",  # asks for the full ICE servers (TURN logins) before a pc exists
        "ice-error",  # a STUN/TURN server failed the browser's pc (icecandidateerror)
        "doctor",  # nbrtc.doctor(): binds a probe stream to a path, reports its row
        "transport",  # the page moves a stream to the comm or back to WebRTC
        "frame",  # one video frame over the comm (JPEG in the binary buffer)
        "frame-ack",  # a kernel frame was drawn: the kernel may send another
        "audio",  # PCM sound over the comm (s16 in the binary buffer, _comm_audio.py)
        "audio-ack",  # the page played kernel audio up to seq (counters only)
        "watch",  # a view asks for a stream whose far end is a media server (Janus)
        "answer",  # the page's answer to a media server's offer (watch) or the kernel's
    }
)
#: what may travel on a stream's control channel instead of the comm, both ways: the
#: page's stats and heartbeat, the kernel's ping (docs/protocol.md "Control channel";
#: js/peer/control.js CONTROL_TYPES)
CONTROL_TYPES = frozenset({"stats", "ping"})
KERNEL_TYPES = frozenset(
    {
        "answer",
        "offer",  # a media server's offer (`watch`), or the kernel's own: the page answers
        "offer-taken",  # a page answered the kernel's offer: the others forget it
        "state",
        "ping",
        "bye",
        "error",
        "renegotiate",
        "members",
        "signal",
        "ice-servers",  # the reply: {"iceServers": [...]}, credentials included
        "transport",  # the kernel's confirmation of a transport change
        "frame",  # one video frame over the comm (JPEG in the binary buffer)
        "frame-ack",  # a page frame was decoded: the page may send another
        "audio",  # PCM sound over the comm (s16 in the binary buffer, _comm_audio.py)
        "audio-ack",  # the kernel has the page's audio up to seq: it may send more
    }
)
#: kinds that can stream over the comm (video as JPEG, sound as PCM)
COMM_KINDS = frozenset({"camera", "screen", "view", "microphone", "audio"})
#: stream transports: how a stream's media travels (docs/protocol.md "Transports")
TRANSPORTS = ("direct", "relay", "comm")
#: bytes of one frame's binary buffer at most (a 4096x2160 JPEG of a busy scene is
#: ~2 MB at high quality; nbrtc's encoders send a few tens of KB at 640x480)
MAX_FRAME_BYTES = 4 * 1024 * 1024
#: the largest frame side a comm frame may claim (as sources/process outputs)
MAX_FRAME_SIDE = 4096
#: "probe": a peer of nbrtc.doctor() (a data channel only, nbrtc/_inspection/doctor.py)
STREAM_KINDS = frozenset({"camera", "screen", "microphone", "view", "audio", "probe"})
#: the kinds of the browser's `state` payload fields (RTCPeerConnection states)
PC_STATE_KEYS = ("connection", "ice", "signaling", "gathering")
#: types of a room `signal`'s data
SIGNAL_TYPES = frozenset({"offer", "answer", "candidate", "bye"})
#: the kinds a ``device`` pick names (a camera's video, a camera's or microphone's audio)
#: and the ``devices`` kind (enumerateDevices) a picked deviceId must be listed with
DEVICE_KINDS = {"video": "videoinput", "audio": "audioinput"}
#: characters of a deviceId at most (as a ``devices`` entry's fields)
MAX_DEVICE_ID = 512
#: stream ids one ping may vouch for (a page's heartbeat lists its live streams:
#: docs/protocol.md "Liveness")
MAX_LIVE = 64
MAX_STATS_REPORTS = 300
MAX_STATS_FIELDS = 64
#: what a page may send inside a ``batch`` (docs/protocol.md "Batches"): the small,
#: bursty reports of a stream's start; never an offer, a bye, stats or a buffer
BATCHABLE = frozenset({"candidate", "state", "ice-error"})
#: messages in one ``batch`` at most (the page sends at most 32)
MAX_BATCH = 32

#: error codes of ``error`` replies (docs/protocol.md)
ERROR_CODES = frozenset(
    {
        "version",
        "bad-type",
        "bad-message",
        "too-large",
        "unknown-stream",
        "closed",
        "out-of-order",
        "wrong-kind",
        "limit",
        "internal",
    }
)


@dataclass(frozen=True)
class Message:
    """A validated browser -> kernel message."""

    type: str
    stream: str
    payload: Any
    size: int = 0  # UTF-8 bytes on the wire (for the signaling log)
    #: the sending page's key ("" when the envelope had none); never logged or shown
    key: str = ""
    #: the binary buffer of a ``frame`` message (None for every other type)
    data: bytes | None = None

    def __repr__(self) -> str:  # the key stays out of reprs, logs and tracebacks
        return f"Message(type={self.type!r}, stream={self.stream!r}, size={self.size})"


@dataclass(frozen=True)
class ProtocolError:
    """Why a message was refused; becomes an ``error`` reply."""

    code: str
    message: str
    stream: str | None = None
    type: str | None = None


def make_message(type_: str, stream: str, payload: Any) -> dict[str, Any]:
    """Build a kernel -> browser envelope."""
    if type_ not in KERNEL_TYPES:
        raise ValueError(f"not a kernel message type: {type_!r}")
    return {"v": PROTOCOL_VERSION, "type": type_, "stream": stream, "payload": payload}


def make_error(err: ProtocolError) -> dict[str, Any]:
    """Build the ``error`` reply for a refused message."""
    return make_message(
        "error",
        err.stream if isinstance(err.stream, str) and STREAM_ID_RE.match(err.stream) else "-",
        {"code": err.code, "message": err.message, "ref": {"type": err.type}},
    )


def _size(content: Any) -> int:
    """UTF-8 bytes of the compact JSON, as the wire (and js/core/protocol.js) counts them."""
    return _wire(content)[0]


def _wire(content: Any) -> tuple[int, bool]:
    """``content``'s size as :func:`_size` counts it (a lone surrogate as the 3 bytes of its
    code point), and whether all its text is well-formed Unicode. JSON's ``\\ud800``
    escape carries a lone surrogate, which UTF-8 cannot: the kernel could neither log it
    nor send it back in a reply or a trait (jupyter_client's packer raises)."""
    try:
        text = json.dumps(content, separators=(",", ":"), default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return MAX_MESSAGE_BYTES + 1, True
    if text.isascii():
        return len(text), True
    try:
        return len(text.encode("utf-8")), True
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass")), False


#: a JSON escape of a surrogate (\ud800..\udfff): only text with one can decode to a lone
#: surrogate (a page's well-formed pairs travel unescaped, as JSON.stringify writes them)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: what a page whose text was not well-formed Unicode is told
NOT_UNICODE = (
    "message text is not well-formed Unicode (a lone surrogate, which UTF-8 cannot carry); "
    "the page must send well-formed strings"
)


def _is_str(value: Any, max_len: int) -> bool:
    return isinstance(value, str) and len(value) <= max_len


def _check_payload(type_: str, payload: Any) -> str | None:
    """Return why ``payload`` is wrong for ``type_``, or None when it is fine."""
    if type_ == "offer":
        if not isinstance(payload, dict):
            return "offer payload must be an object"
        if "transport" in payload and payload["transport"] not in ("comm", "webrtc"):
            return "offer.transport must be 'comm' or 'webrtc'"
        if payload.get("transport") == "comm":
            return _check_comm_offer(payload)
        sdp = payload.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0"):
            return "offer.sdp must be an SDP string starting with 'v=0'"
        if len(sdp) > MAX_SDP_CHARS:
            return f"offer.sdp is longer than {MAX_SDP_CHARS} characters"
        kind = payload.get("kind")
        if not isinstance(kind, str) or kind not in STREAM_KINDS:
            return f"offer.kind must be one of {sorted(STREAM_KINDS)}"
        for key in ("page", "view"):
            if key in payload and not _is_str(payload[key], 64):
                return f"offer.{key} must be a short string"
        return _check_offer_sdp(sdp, kind)
    if type_ == "watch":
        if not isinstance(payload, dict):
            return "watch payload must be an object"
        if payload.get("kind") != "view":
            return "watch.kind must be 'view' (only a view watches a media server)"
        for key in ("page", "view"):
            if key in payload and not _is_str(payload[key], 64):
                return f"watch.{key} must be a short string"
        return None
    if type_ == "answer":
        if not isinstance(payload, dict):
            return "answer payload must be an object"
        sdp = payload.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0"):
            return "answer.sdp must be an SDP string starting with 'v=0'"
        if len(sdp) > MAX_SDP_CHARS:
            return f"answer.sdp is longer than {MAX_SDP_CHARS} characters"
        # an answer to the kernel's own offer also says what it is and where from
        if "kind" in payload and payload["kind"] not in STREAM_KINDS:
            return f"answer.kind must be one of {sorted(STREAM_KINDS)}"
        for key in ("page", "view"):
            if key in payload and not _is_str(payload[key], 64):
                return f"answer.{key} must be a short string"
        return _check_answer_sdp(sdp)
    if type_ == "candidate":
        if payload is None:
            return None
        if not isinstance(payload, dict):
            return "candidate payload must be an object or null"
        cand = payload.get("candidate")
        if not _is_str(cand, 1024):
            return "candidate.candidate must be a string"
        mid = payload.get("sdpMid")
        index = payload.get("sdpMLineIndex")
        if mid is not None and not _is_str(mid, 64):
            return "candidate.sdpMid must be a string or null"
        if index is not None and (
            not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64
        ):
            return "candidate.sdpMLineIndex must be a small integer or null"
        if mid is None and index is None and cand:
            return "candidate needs sdpMid or sdpMLineIndex"
        if cand and not _candidate_shape_ok(cand):
            return "candidate.candidate is not an ICE candidate line"
        return None
    if type_ == "state":
        if not isinstance(payload, dict):
            return "state payload must be an object"
        for key in PC_STATE_KEYS:
            if key in payload and not _is_str(payload[key], 32):
                return f"state.{key} must be a short string"
        if "peer" in payload and not _is_id(payload["peer"]):
            return "state.peer must be a stream id"
        return None
    if type_ == "stats":
        return _check_stats(payload)
    if type_ == "reoffer":
        if not isinstance(payload, dict):
            return "reoffer payload must be an object"
        sdp = payload.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0"):
            return "reoffer.sdp must be an SDP string starting with 'v=0'"
        if len(sdp) > MAX_SDP_CHARS:
            return f"reoffer.sdp is longer than {MAX_SDP_CHARS} characters"
        if "reason" in payload and not _is_str(payload["reason"], 128):
            return "reoffer.reason must be a short string"
        if "fresh" in payload and not isinstance(payload["fresh"], bool):
            return "reoffer.fresh must be a boolean"
        return None  # its media is checked against the stream's kind by the stream
    if type_ == "join":
        if not isinstance(payload, dict):
            return "join payload must be an object"
        for key in ("page", "view"):
            if key in payload and not _is_str(payload[key], 64):
                return f"join.{key} must be a short string"
        return None
    if type_ == "signal":
        return _check_signal(payload)
    if type_ == "error":
        if not isinstance(payload, dict):
            return "error payload must be an object"
        if not _is_str(payload.get("name"), 128) or not _is_str(payload.get("message", ""), 4096):
            return "error payload needs string 'name' and 'message'"
        return None
    if type_ == "devices":
        if not isinstance(payload, list) or len(payload) > 256:
            return "devices payload must be a list"
        for dev in payload:
            if not isinstance(dev, dict) or not all(
                _is_str(dev.get(k, ""), 512) for k in ("deviceId", "kind", "label", "groupId")
            ):
                return "each device must be an object of strings"
        return None
    if type_ == "device":
        kind = payload.get("kind") if isinstance(payload, dict) else None
        if not isinstance(kind, str) or kind not in DEVICE_KINDS:  # a list is unhashable
            return "device payload must be {kind: 'video' | 'audio', deviceId: string}"
        device_id = payload.get("deviceId")
        if not isinstance(device_id, str) or not 1 <= len(device_id) <= MAX_DEVICE_ID:
            return f"device.deviceId must be a string of 1 to {MAX_DEVICE_ID} characters"
        return None
    if type_ == "ping":
        if payload is None:
            return None
        t = payload.get("t") if isinstance(payload, dict) else None
        if not isinstance(t, (int, float)) or isinstance(t, bool) or t != t:
            return "ping payload must be {t: number, live?: [stream id]} or null"
        live = payload.get("live", [])
        if not isinstance(live, list) or len(live) > MAX_LIVE or not all(map(_is_id, live)):
            return f"ping.live must be a list of at most {MAX_LIVE} stream ids"
        if not isinstance(payload.get("ask", False), bool):
            return "ping.ask must be a boolean"
        return None
    if type_ == "ice-servers":
        return None if payload is None else "ice-servers payload must be null"
    if type_ == "ice-error":
        if not isinstance(payload, dict) or not _is_str(payload.get("url", ""), 1024):
            return "ice-error payload must be {url: string, code: int, text: string}"
        code = payload.get("code", 0)
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 999:
            return "ice-error.code must be an integer from 0 to 999"
        if not _is_str(payload.get("text", ""), 256):
            return "ice-error.text must be a string of at most 256 characters"
        return None
    if type_ == "doctor":
        from .._inspection.doctor_protocol import check_doctor

        return check_doctor(payload)
    if type_ == "transport":
        if not isinstance(payload, dict) or payload.get("use") not in ("comm", "webrtc"):
            return "transport payload must be {use: 'comm' | 'webrtc', why?: string}"
        if not _is_str(payload.get("why", ""), 256):
            return "transport.why must be a string of at most 256 characters"
        return None
    if type_ == "frame":
        return _check_frame(payload)
    if type_ == "audio":
        return _check_audio(payload)
    if type_ == "audio-ack":
        if not isinstance(payload, dict) or not _is_count(payload.get("seq")):
            return "audio-ack payload must be {seq: integer}"
        return None
    if type_ == "frame-ack":
        if not isinstance(payload, dict) or not _is_count(payload.get("seq")):
            return "frame-ack payload must be {seq: integer}"
        return None
    if type_ == "bye":
        if payload is not None and not (
            isinstance(payload, dict) and _is_str(payload.get("reason", ""), 64)
        ):
            return "bye payload must be null or {reason: string}"
        return None
    return f"unknown type {type_!r}"  # pragma: no cover - filtered before


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _check_comm_offer(payload: dict[str, Any]) -> str | None:
    """A stream that starts on the comm (``transport="comm"``): no SDP, no pc."""
    if payload.get("sdp") is not None:
        return "an offer with transport 'comm' carries no sdp"
    kind = payload.get("kind")
    if not is_one_of(kind, COMM_KINDS):
        return f"transport 'comm' is for kinds {sorted(COMM_KINDS)}, not {kind!r:.40}"
    for key in ("page", "view"):
        if key in payload and not _is_str(payload[key], 64):
            return f"offer.{key} must be a short string"
    return None


def _check_frame(payload: Any) -> str | None:
    """{seq, w, h, type: "jpeg", t?}: one frame whose bytes are the message's buffer."""
    if not isinstance(payload, dict):
        return "frame payload must be an object"
    if not _is_count(payload.get("seq")):
        return "frame.seq must be a non-negative integer"
    for key in ("w", "h"):
        v = payload.get(key)
        if not (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_FRAME_SIDE):
            return f"frame.{key} must be an integer from 1 to {MAX_FRAME_SIDE}"
    if payload.get("type") != "jpeg":
        return "frame.type must be 'jpeg'"
    if "t" in payload and not _is_number(payload["t"]):
        return "frame.t must be a number"
    return None


def _check_audio(payload: Any) -> str | None:
    """{seq, rate, ch, pos, t?}: PCM s16 interleaved in the message's buffer."""
    from .._transport.comm_audio import MAX_CHANNELS, MAX_RATE, MIN_RATE

    if not isinstance(payload, dict):
        return "audio payload must be an object"
    if not _is_count(payload.get("seq")):
        return "audio.seq must be a non-negative integer"
    rate = payload.get("rate")
    if not (isinstance(rate, int) and not isinstance(rate, bool) and MIN_RATE <= rate <= MAX_RATE):
        return f"audio.rate must be an integer from {MIN_RATE} to {MAX_RATE} (Hz)"
    ch = payload.get("ch")
    if not (isinstance(ch, int) and not isinstance(ch, bool) and 1 <= ch <= MAX_CHANNELS):
        return f"audio.ch must be 1 or {MAX_CHANNELS} (channels)"
    if not _is_count(payload.get("pos")):
        return "audio.pos must be a non-negative integer (the first sample's position)"
    if "t" in payload and not _is_number(payload["t"]):
        return "audio.t must be a number"
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(STREAM_ID_RE.match(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _check_stats(payload: Any) -> str | None:
    """A filtered getStats: {t, reports: [{id, type, ...}], same?: [id], peer?}; flat
    scalar fields only. ``same`` names reports unchanged since the page's previous sample
    but for their timestamp (``_inspection/stats_carry.py``)."""
    if not isinstance(payload, dict):
        return "stats payload must be an object"
    if not _is_number(payload.get("t")):
        return "stats.t must be a number"
    if "peer" in payload and not _is_id(payload["peer"]):
        return "stats.peer must be a stream id"
    reports = payload.get("reports")
    if not isinstance(reports, list) or len(reports) > MAX_STATS_REPORTS:
        return f"stats.reports must be a list of at most {MAX_STATS_REPORTS} reports"
    same = payload.get("same", [])
    if (
        not isinstance(same, list)
        or len(reports) + len(same) > MAX_STATS_REPORTS
        or not all(_is_str(rid, 256) for rid in same)
    ):
        return (
            "stats.same must be a list of report ids, with stats.reports at most "
            f"{MAX_STATS_REPORTS} in all"
        )
    for report in reports:
        if not isinstance(report, dict) or len(report) > MAX_STATS_FIELDS:
            return f"each stats report must be an object of at most {MAX_STATS_FIELDS} fields"
        if not _is_str(report.get("id"), 256) or not _is_str(report.get("type"), 64):
            return "each stats report needs string 'id' and 'type'"
        for key, value in report.items():
            if not _is_str(key, 64):
                return "stats field names must be short strings"
            if value is None or isinstance(value, bool) or _is_number(value):
                continue
            if not _is_str(value, 512):
                return f"stats field {key!r} must be a number, boolean, null or short string"
    return None


def _check_signal(payload: Any) -> str | None:
    """A room member's message for another member: {to, data: {type, sdp?|candidate?}}."""
    if not isinstance(payload, dict):
        return "signal payload must be an object"
    if not _is_id(payload.get("to")):
        return "signal.to must be a member's stream id"
    data = payload.get("data")
    if not isinstance(data, dict) or not is_one_of(data.get("type"), SIGNAL_TYPES):
        return f"signal.data must be an object whose type is one of {sorted(SIGNAL_TYPES)}"
    if data["type"] in ("offer", "answer"):
        sdp = data.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP_CHARS:
            return f"signal.data.sdp must be an SDP string of at most {MAX_SDP_CHARS} characters"
    elif data["type"] == "candidate":
        why = _check_payload("candidate", data.get("candidate"))
        if why is not None:
            return f"signal.data.{why}"
    return None


#: what each kind's offer must carry: its media sections and a data section
_OFFER_MEDIA = {
    "camera": {"video"},
    "screen": {"video"},
    "microphone": {"audio"},
    "view": {"video"},
    "audio": {"audio"},
    "probe": set(),
}


def _check_offer_sdp(sdp: str, kind: str) -> str | None:
    """Why an offer's SDP cannot be answered for ``kind`` (None when it can).

    aiortc trusts the offer's structure (e.g. a BUNDLE group naming a section that is not
    there kills one of its internal tasks), so the shape is checked here, at the boundary.
    """
    from aiortc.sdp import SessionDescription

    try:
        desc = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises ValueError, IndexError, KeyError...
        return f"offer.sdp does not parse: {type(exc).__name__}: {exc}"[:300]
    if len(desc.media) > MAX_MEDIA_SECTIONS:
        return (
            f"the offer has {len(desc.media)} media sections; nbrtc accepts at most "
            f"{MAX_MEDIA_SECTIONS} (one video, one audio, one data section)"
        )
    kinds = {m.kind for m in desc.media}
    if kind == "probe" and kinds != {"application"}:
        return "a probe offer carries a data channel only (one application section)"
    missing = _OFFER_MEDIA[kind] - kinds
    if missing:
        return f"a {kind} offer needs a {'/'.join(sorted(missing))} media section"
    mids = [m.rtp.muxId for m in desc.media]
    if any(not mid for mid in mids) or len(set(mids)) != len(mids):
        return "every media section of the offer needs its own a=mid"
    for group in desc.group:
        if group.semantic == "BUNDLE" and not set(group.items) <= set(mids):
            return "the offer's BUNDLE group names a media section it does not have"
    for m in desc.media:
        if m.kind != "application" and not m.rtp.codecs:
            return f"the offer's {m.kind} section lists no codec"
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            return f"the offer's {m.kind} section has no ICE credentials"
        if m.dtls is None or not m.dtls.fingerprints:
            # DTLS-SRTP is mandatory (RFC 8827); aiortc asserts in a background task
            # on an offer without one and the stream would hang in "connecting"
            return f"the offer's {m.kind} section has no a=fingerprint: DTLS-SRTP is mandatory"
    return None


def _check_answer_sdp(sdp: str) -> str | None:
    """Why a page's answer to a media server's offer must not reach the server (None
    when it may): it parses, has at most MAX_MEDIA_SECTIONS sections, and each section
    has ICE credentials and a DTLS fingerprint (its own or the session's)."""
    from aiortc.sdp import SessionDescription

    try:
        desc = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises ValueError, IndexError, KeyError...
        return f"answer.sdp does not parse: {type(exc).__name__}: {exc}"[:300]
    if not desc.media or len(desc.media) > MAX_MEDIA_SECTIONS:
        return (
            f"the answer has {len(desc.media)} media sections; 1 to {MAX_MEDIA_SECTIONS} expected"
        )
    for m in desc.media:
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            return f"the answer's {m.kind} section has no ICE credentials"
        if m.dtls is None or not m.dtls.fingerprints:
            return f"the answer's {m.kind} section has no a=fingerprint: DTLS-SRTP is mandatory"
    return None


def _candidate_shape_ok(text: str) -> bool:
    """Whether ``text`` is a candidate line as docs/protocol.md takes it on the wire
    (``_candidate.parse_candidate(wire=True)``: the fields aiortc's parser reads, which
    asserts instead of raising on less)."""
    try:
        parse_candidate(text, wire=True)
    except ValueError:
        return False
    return True


def split_batch(content: Any, buffers: Any = None) -> list[dict[str, Any]] | ProtocolError | None:
    """The messages of a page's ``batch`` as stand-alone envelopes, in order (never raises).

    None when ``content`` is not a batch. A batch shares one envelope (version, stream,
    key) among at most MAX_BATCH ``{"type", "payload"}`` items of the BATCHABLE types; each
    item is then checked and routed exactly as if it had come alone (its own error reply
    when it is wrong). A batch that breaks these rules is refused whole."""
    if not isinstance(content, dict) or content.get("type") != "batch":
        return None
    stream = content.get("stream")
    if _size(content) > MAX_MESSAGE_BYTES:
        return ProtocolError(
            "too-large", f"message is larger than {MAX_MESSAGE_BYTES} bytes", stream, "batch"
        )
    items = content.get("payload")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        return ProtocolError(
            "bad-message",
            f"batch payload must be a list of 1 to {MAX_BATCH} messages",
            stream,
            "batch",
        )
    if buffers:
        return ProtocolError(
            "bad-message", "a batch message carries no binary buffer", stream, "batch"
        )
    envelope = {k: content[k] for k in ("v", "stream", "key") if k in content}
    out = []
    for item in items:
        if not isinstance(item, dict) or not is_one_of(item.get("type"), BATCHABLE):
            return ProtocolError(
                "bad-message",
                f"a batch may only hold {', '.join(sorted(BATCHABLE))} messages",
                stream,
                "batch",
            )
        out.append({**envelope, "type": item["type"], "payload": item.get("payload")})
    return out


def parse_browser_message(
    content: Any, buffers: Any = None, size: int | None = None
) -> Message | ProtocolError:
    """Validate a browser -> kernel message and its binary buffers (never raises).

    Only a ``frame`` and an ``audio`` carry a buffer: exactly one, of at most
    MAX_FRAME_BYTES (a frame) or MAX_AUDIO_BYTES and whole samples (an audio chunk).
    ``size``: the message's bytes on the wire when the caller has them (else counted)."""
    if not isinstance(content, dict):
        return ProtocolError("bad-message", "message must be a JSON object")
    stream = content.get("stream")
    type_ = content.get("type")
    # the refused type is named in the reply and the log only when it is one of ours: any
    # other text from the page stays out of both (it may be anything, see _wire)
    type_name = type_ if is_one_of(type_, BROWSER_TYPES) else None
    well_formed = True
    if size is None:
        size, well_formed = _wire(content)
    if size > MAX_MESSAGE_BYTES:
        return ProtocolError(
            "too-large", f"message is larger than {MAX_MESSAGE_BYTES} bytes", stream, type_name
        )
    if not well_formed:
        return ProtocolError("bad-message", NOT_UNICODE, stream, type_name)
    if content.get("v") != PROTOCOL_VERSION or isinstance(content.get("v"), bool):
        return ProtocolError(
            "version",
            f"protocol version {content.get('v')!r} is not supported; this kernel speaks "
            f"v{PROTOCOL_VERSION}. Reload the page after upgrading nbrtc.",
            stream,
            type_name,
        )
    if not isinstance(stream, str) or not STREAM_ID_RE.match(stream):
        return ProtocolError("bad-message", "stream must be an id string", None, type_name)
    key = content.get("key", "")
    if key != "" and not (isinstance(key, str) and PAGE_KEY_RE.match(key)):
        return ProtocolError(
            "bad-message", "key must be 16 to 64 letters or digits", stream, type_name
        )
    if type_name is None:
        return ProtocolError("bad-type", f"unknown message type {type_!r}", stream, None)
    why = _check_payload(type_name, content.get("payload"))
    if why is not None:
        return ProtocolError("bad-message", why, stream, type_name)
    data = None
    blobs = list(buffers or [])
    if type_name == "frame":
        if len(blobs) != 1:
            return ProtocolError(
                "bad-message", "a frame carries exactly one binary buffer", stream, type_name
            )
        try:
            view = memoryview(blobs[0])
        except TypeError:
            return ProtocolError("bad-message", "a frame's buffer must be bytes", stream, type_name)
        nbytes = view.nbytes
        if nbytes > MAX_FRAME_BYTES:
            return ProtocolError(
                "too-large",
                f"a frame of {nbytes} bytes is larger than {MAX_FRAME_BYTES} bytes",
                stream,
                type_name,
            )
        data = view.tobytes()
        size += nbytes
    elif type_name == "audio":
        audio = _audio_buffer(content.get("payload"), blobs, stream)
        if isinstance(audio, ProtocolError):
            return audio
        data = audio
        size += len(data)
    elif blobs:
        return ProtocolError(
            "bad-message", f"a {type_name} message carries no binary buffer", stream, type_name
        )
    return Message(type_name, stream, content.get("payload"), size, key, data)


def parse_control_message(data: Any, stream_id: str) -> Message | ProtocolError:
    """Validate a message the page sent on stream ``stream_id``'s control channel (never
    raises): JSON text of at most MAX_MESSAGE_BYTES, an envelope as on the comm (no key:
    the channel is the stream's own, DTLS-bound to the page that offered it), naming this
    stream and of one of CONTROL_TYPES (docs/protocol.md "Control channel")."""
    if not isinstance(data, str):
        return ProtocolError(
            "bad-message", "a control channel message must be JSON text", stream_id, None
        )
    size = len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BYTES:
        return ProtocolError(
            "too-large", f"message is larger than {MAX_MESSAGE_BYTES} bytes", stream_id, None
        )
    try:
        content = json.loads(data)
    except (ValueError, RecursionError):
        content = None
    if not isinstance(content, dict):
        return ProtocolError("bad-message", "message must be a JSON object", stream_id, None)
    type_ = content.get("type")
    name = type_ if is_one_of(type_, BROWSER_TYPES) else None
    if _SURROGATE_ESCAPE.search(data) and not _wire(content)[1]:
        return ProtocolError("bad-message", NOT_UNICODE, stream_id, name)
    if name not in CONTROL_TYPES:
        return ProtocolError(
            "bad-type",
            f"{str(type_)[:32]!r} does not travel on the control channel (only "
            f"{', '.join(sorted(CONTROL_TYPES))}); send it through the comm",
            stream_id,
            name,
        )
    msg = parse_browser_message(content, None, size)
    if isinstance(msg, ProtocolError):
        return msg
    if msg.stream != stream_id:
        return ProtocolError(
            "unknown-stream",
            f"the control channel of {stream_id!r} carries only its own messages",
            stream_id,
            msg.type,
        )
    return msg


def _audio_buffer(payload: Any, blobs: list[Any], stream: str) -> bytes | ProtocolError:
    """The PCM bytes of a valid ``audio`` payload's one buffer, or why not (``payload``
    passed ``_check_payload``: a dict)."""
    from .._transport.comm_audio import MAX_AUDIO_BYTES, check_chunk

    if len(blobs) != 1:
        return ProtocolError(
            "bad-message", "an audio chunk carries exactly one binary buffer", stream, "audio"
        )
    try:
        view = memoryview(blobs[0])
    except TypeError:
        return ProtocolError(
            "bad-message", "an audio chunk's buffer must be bytes", stream, "audio"
        )
    if view.nbytes > MAX_AUDIO_BYTES:
        return ProtocolError(
            "too-large",
            f"an audio chunk of {view.nbytes} bytes is larger than {MAX_AUDIO_BYTES} bytes",
            stream,
            "audio",
        )
    why = check_chunk(payload, view.nbytes)
    if why is not None:
        return ProtocolError("bad-message", why, stream, "audio")
    return view.tobytes()
