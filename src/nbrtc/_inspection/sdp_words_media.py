"""Plain words for what media sections carry: codecs, their parameters, RTP header extensions.

Used by ``_sdp_words`` (one explanation per line) and ``_sdp_diff`` (the summary):
codec names and clock rates in words, every fmtp parameter a browser writes (H.264
profiles and levels, Opus options, RTX and RED), the known header extension URIs, and
:class:`Ctx`, what an explanation may look at besides its own line.

Pure: plain data in, strings out; no I/O, logging or global state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .sdp_lines import isnum

KIND_WORDS = {"video": "video", "audio": "audio", "application": "data"}

CODEC_WORDS = {
    "vp8": "an open video codec that every WebRTC browser supports",
    "vp9": "an open video codec, more efficient than VP8",
    "av1": "the newest open video codec: the most efficient, and the most work to encode",
    "h264": "the most widely supported video codec (H.264/AVC), often encoded in hardware",
    "h265": "H.265/HEVC, the successor of H.264",
    "opus": "the standard WebRTC audio codec, good for speech and music",
    "pcmu": "G.711 mu-law, telephone-quality audio at 64 kbit/s",
    "pcma": "G.711 A-law, telephone-quality audio at 64 kbit/s",
    "g722": "wideband telephone audio",
    "isac": "an older speech codec from Google",
    "ilbc": "a low-bitrate speech codec that copes well with packet loss",
}


def capitalized(s: str) -> str:
    return s[:1].upper() + s[1:]


def khz(rate: int) -> str:
    return f"{rate // 1000} kHz" if rate % 1000 == 0 else f"{rate / 1000:g} kHz"


_H264_PROFILES = {
    66: "Baseline",
    77: "Main",
    88: "Extended",
    100: "High",
    110: "High 10",
    122: "High 4:2:2",
    244: "High 4:4:4 Predictive",
    44: "CAVLC 4:4:4 Intra",
}
_H264_LEVEL_SIZE = {
    "1": "176x144 at 15 fps",
    "2": "352x288 at 30 fps",
    "3": "720x576 at 25 fps",
    "3.1": "1280x720 at 30 fps",
    "3.2": "1280x720 at 60 fps",
    "4": "1920x1080 at 30 fps",
    "4.1": "1920x1080 at 30 fps",
    "4.2": "1920x1080 at 60 fps",
    "5.1": "3840x2160 at 30 fps",
    "5.2": "3840x2160 at 60 fps",
}


def _h264_profile_level(plid: str) -> tuple[str, str] | None:
    """(profile name, level) of an H.264 ``profile-level-id`` such as "42e01f"."""
    if not re.fullmatch(r"[0-9A-Fa-f]{6}", plid or ""):
        return None
    idc, iop, level_idc = int(plid[0:2], 16), int(plid[2:4], 16), int(plid[4:6], 16)
    name = _H264_PROFILES.get(idc, f"profile_idc {idc}")
    if (
        (idc == 66 and iop & 0x40)
        or (idc == 77 and iop & 0x80)
        or (idc == 88 and iop & 0xC0 == 0xC0)
    ):
        name = "Constrained Baseline"
    elif idc == 100 and iop & 0x0C == 0x0C:
        name = "Constrained High"
    if level_idc == 9 or (level_idc == 11 and iop & 0x10 and idc in (66, 77, 88)):
        level = "1b"
    else:
        level = f"{level_idc // 10}" + (f".{level_idc % 10}" if level_idc % 10 else "")
    return name, level


def codec_label(c: dict[str, Any]) -> str:
    """Short words for one payload type, as in "97 = retransmission (RTX) of 96"."""
    name = c["name"]
    if name is None:
        return "not described (no a=rtpmap line)"
    low = name.lower()
    p = c["fmtp"]
    if low == "rtx":
        return f"retransmission (RTX) of {c['rtx_for']}" if c["rtx_for"] is not None else "RTX"
    if low == "red":
        return "redundant coding (RED)"
    if low == "ulpfec":
        return "forward error correction (ULPFEC)"
    if low.startswith("flexfec"):
        return "forward error correction (FlexFEC)"
    if low == "cn":
        return "comfort noise (CN)"
    if low == "telephone-event":
        rate = c["clock_rate"]
        return f"telephone events (DTMF){f' at {khz(rate)}' if rate else ''}"
    if low == "h264":
        pl = _h264_profile_level(p.get("profile-level-id", ""))
        bits = [pl[0]] if pl else []
        bits.append(f"mode {p.get('packetization-mode', '0')}")
        return f"{name} ({', '.join(bits)})"
    if low == "vp9":
        return f"{name} profile {p.get('profile-id', '0')}"
    if c["static"]:
        return f"{name} (static payload type)"
    return name


def fmtp_words(c: dict[str, Any], ctx: Ctx) -> list[str]:
    """Plain sentences for each fmtp parameter of codec ``c``."""
    name = (c["name"] or "").lower()
    p = c["fmtp"]
    w: list[str] = []
    for k, v in p.items():
        kl = k.lower()
        if kl == "apt":
            w.append(rtx_words(c, ctx))
        elif kl == "rtx-time":
            w.append(f"rtx-time={v}: retransmissions are useful for at most {v} ms")
        elif kl == "profile-level-id" and name == "h264":
            pl = _h264_profile_level(v)
            if pl:
                size = _H264_LEVEL_SIZE.get(pl[1])
                hint = f" (about {size} at most)" if size else ""
                w.append(
                    f"profile-level-id={v}: H.264 {pl[0]} profile, level {pl[1]}{hint}. The "
                    "profile says which coding tools the encoder may use, the level how "
                    "large and fast the video may be"
                )
            else:
                w.append(f"profile-level-id={v}: not a valid H.264 profile-level-id")
        elif kl == "packetization-mode":
            if v == "1":
                w.append(
                    "packetization-mode=1: non-interleaved mode, a large frame part is split "
                    "across several RTP packets (this is what WebRTC normally uses)"
                )
            elif v == "0":
                w.append(
                    "packetization-mode=0: single NAL unit mode, each RTP packet carries "
                    "exactly one piece of the picture, nothing is split"
                )
            else:
                w.append(f"packetization-mode={v}: interleaved mode (rare in WebRTC)")
        elif kl == "level-asymmetry-allowed":
            w.append(
                f"level-asymmetry-allowed={v}: "
                + (
                    "each direction may use a different H.264 level"
                    if v == "1"
                    else "both directions must use the same H.264 level"
                )
            )
        elif kl == "profile-id" and name == "vp9":
            vp9 = {
                "0": "8-bit colour, 4:2:0 (the common one)",
                "1": "8-bit colour with 4:2:2 or 4:4:4 chroma",
                "2": "10 or 12-bit colour (HDR), 4:2:0",
                "3": "10 or 12-bit colour with 4:2:2 or 4:4:4 chroma",
            }
            w.append(f"profile-id={v}: VP9 profile {v}, {vp9.get(v, 'an unknown profile')}")
        elif name == "av1" and kl in ("profile", "level-idx", "tier"):
            if kl == "profile":
                av1 = {"0": "Main", "1": "High", "2": "Professional"}
                w.append(f"profile={v}: AV1 {av1.get(v, 'unknown')} profile")
            elif kl == "level-idx" and isnum(v):
                w.append(f"level-idx={v}: AV1 level {2 + int(v) // 4}.{int(v) % 4}")
            else:
                w.append(f"tier={v}: AV1 {'High' if v == '1' else 'Main'} tier")
        elif name == "h265" and kl in ("profile-id", "level-id", "tier-flag", "tx-mode"):
            if kl == "level-id" and isnum(v):
                level = int(v) / 30
                w.append(f"level-id={v}: H.265 level {level:g}")
            elif kl == "profile-id":
                h265 = {"1": "Main", "2": "Main 10"}
                w.append(f"profile-id={v}: H.265 {h265.get(v, 'profile ' + v)} profile")
            else:
                w.append(f"{k}={v}: an H.265 stream parameter")
        elif kl == "minptime":
            w.append(f"minptime={v}: the shortest audio packet wanted is {v} ms of sound")
        elif kl == "ptime":
            w.append(f"ptime={v}: preferred audio packet length {v} ms")
        elif kl == "useinbandfec":
            w.append(
                "useinbandfec=1: Opus in-band forward error correction, each packet also "
                "carries a rough copy of the one before, so one lost packet can be rebuilt"
                if v == "1"
                else "useinbandfec=0: no Opus in-band forward error correction"
            )
        elif kl == "usedtx":
            w.append(
                "usedtx=1: discontinuous transmission, almost nothing is sent during silence"
                if v == "1"
                else "usedtx=0: audio is sent all the time, even during silence"
            )
        elif kl == "stereo":
            w.append(
                f"stereo={v}: {ctx.writer} prefers to receive " + ("stereo" if v == "1" else "mono")
            )
        elif kl == "sprop-stereo":
            w.append(
                f"sprop-stereo={v}: {ctx.writer} will probably send "
                + ("stereo" if v == "1" else "mono")
            )
        elif kl == "maxaveragebitrate":
            w.append(f"maxaveragebitrate={v}: at most {v} bit/s on average, please")
        elif kl == "maxplaybackrate":
            w.append(
                f"maxplaybackrate={v}: {ctx.writer} plays sound back at up to {v} Hz, so a "
                "higher audio bandwidth would be wasted"
            )
        elif kl == "cbr":
            w.append(f"cbr={v}: " + ("constant bitrate" if v == "1" else "variable bitrate"))
        elif kl.startswith("x-google-"):
            what = kl[len("x-google-") :].replace("-", " ")
            w.append(f"{k}={v}: a Chrome-only hint ({what}, in kbit/s)")
        else:
            w.append(f"{k}={v}: a {c['name'] or 'codec'} parameter this guide does not explain")
    raw = c["fmtp_raw"] or ""
    if not p and raw:
        if name == "red":
            pts = raw.split("/")
            w.append(
                f"'{raw}': each RED packet carries {len(pts)} blocks of payload type "
                f"{pts[0]}, a new one and earlier copies, so a lost packet can be recovered "
                "from the next"
            )
        elif name == "telephone-event":
            w.append(f"'{raw}': the events it can carry (0-15 are the keys 0-9, *, #, A-D)")
        else:
            w.append(f"'{raw}': codec parameters")
    return w


def rtx_words(c: dict[str, Any], ctx: Ctx) -> str:
    target = ctx.codec(c["rtx_for"]) if c["rtx_for"] is not None else None
    what = f"{c['rtx_for']}"
    if target is not None and target["name"]:
        what += f" ({target['name']})"
    return (
        f"payload type {c['pt']} is the retransmission (RTX) stream for payload type {what}: "
        f"when a packet of {c['rtx_for']} is lost and the receiver asks for it again (NACK), "
        f"the sender resends it with payload type {c['pt']}, on its own SSRC and sequence "
        "numbers"
    )


@dataclass
class Ctx:
    """What an explanation may look at besides its own line."""

    type_: str
    writer: str  # who wrote this description, e.g. "the browser"
    other: str  # the other side
    session: dict[str, Any]
    media: list[dict[str, Any]]
    section: dict[str, Any] | None

    def codec(self, pt: int | None) -> dict[str, Any] | None:
        if self.section is None or pt is None:
            return None
        return next((c for c in self.section["codecs"] if c["pt"] == pt), None)

    @property
    def kind(self) -> str:
        if self.section is None:
            return "media"
        return KIND_WORDS.get(self.section["kind"], self.section["kind"])

    @property
    def where(self) -> str:
        if self.section is None:
            return "the whole session"
        return f"this {self.kind} section"

    @property
    def bundled(self) -> bool:
        mid = self.section["mid"] if self.section else None
        return any(
            g["semantic"].upper() == "BUNDLE" and mid in g["mids"] for g in self.session["groups"]
        )


EXTMAP: dict[str, tuple[str, str]] = {
    "urn:ietf:params:rtp-hdrext:toffset": (
        "toffset",
        "transmission time offset: how long after its capture time the packet was sent",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": (
        "abs-send-time",
        "absolute send time: when the sender sent the packet, so the receiver can estimate "
        "the bandwidth (goog-remb)",
    ),
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01": (
        "transport-wide-cc",
        "transport-wide sequence number: numbers every packet across all streams, so the "
        "receiver can report arrivals (transport-cc) and the sender can estimate the bandwidth",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/transport-wide-cc-02": (
        "transport-wide-cc-02",
        "transport-wide sequence number, version 2: like version 1, and the sender can ask "
        "for feedback right away",
    ),
    "urn:ietf:params:rtp-hdrext:sdes:mid": (
        "sdes:mid",
        "the mid of the section a packet belongs to, so the receiver can sort the packets of "
        "bundled sections, which share one port",
    ),
    "urn:3gpp:video-orientation": (
        "video-orientation",
        "video orientation (CVO): how the receiver should rotate the picture, e.g. when a "
        "phone is turned",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay": (
        "playout-delay",
        "playout delay: the smallest and largest delay the sender asks the receiver's jitter "
        "buffer to use",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time": (
        "abs-capture-time",
        "absolute capture time: when the media was captured, for synchronisation and "
        "end-to-end delay measurement",
    ),
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id": (
        "rtp-stream-id",
        "RTP stream id (rid): names the simulcast layer or encoding a packet belongs to",
    ),
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id": (
        "repaired-rtp-stream-id",
        "repaired RTP stream id: on retransmission (RTX) packets, names the stream they repair",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/color-space": (
        "color-space",
        "colour space: how to interpret the pixel colours (primaries, transfer, range), e.g. "
        "for HDR video",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type": (
        "video-content-type",
        "video content type: whether the video is a camera picture or a screen share",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/video-timing": (
        "video-timing",
        "video timing: when a frame was encoded and packetised, for delay statistics",
    ),
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": (
        "ssrc-audio-level",
        "audio level: how loud the audio in each packet is, so a server can find the active "
        "speaker without decoding",
    ),
    "urn:ietf:params:rtp-hdrext:csrc-audio-level": (
        "csrc-audio-level",
        "audio levels of the sources a mixer mixed into this packet",
    ),
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension": (
        "dependency-descriptor",
        "dependency descriptor: how video frames depend on each other (layers), so a server "
        "can drop layers without decoding (used with AV1 and scalable video)",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/generic-frame-descriptor-00": (
        "generic-frame-descriptor",
        "generic frame descriptor: an older form of the dependency descriptor",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00": (
        "video-layers-allocation",
        "video layers allocation: which layers the sender sends, at what resolution and bitrate",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/video-frame-tracking-id": (
        "video-frame-tracking-id",
        "video frame tracking id: a frame number for testing and analysis",
    ),
    "http://www.webrtc.org/experiments/rtp-hdrext/inband-cn": (
        "inband-cn",
        "in-band comfort noise: marks packets that carry background noise during silence",
    ),
}


def extmap_name(uri: str) -> str:
    if uri in EXTMAP:
        return EXTMAP[uri][0]
    return uri.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1] or uri
