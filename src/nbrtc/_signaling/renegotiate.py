"""Teaching controls applied at (re)negotiation, and what aiortc does not report itself.

- Codec preference: the kernel's answer keeps only the preferred video codec (plus its
  retransmission codec), so a browser that sends switches encoder on the reoffer.
- Bitrate cap: ``b=AS`` (kbit/s) and ``b=TIAS`` (bit/s) in every video section of the
  answer the browser applies (Chromium caps its sender by them), and a clamp on the
  kernel's own video encoders (aiortc raises their target on every REMB otherwise).
- The kernel peer's ICE candidates and selected pair, read from aioice (aiortc's
  getStats has no candidate reports), in the browser's report shape.

Everything here runs on the media loop. The aiortc/aioice internals used are reached
through ``nbrtc._upstream`` (named in each function's docstring there); each access is
guarded so a missing internal degrades to "no data".
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender

from .. import _upstream

log = logging.getLogger("nbrtc")

#: codecs ``set_codec`` accepts (what both Chromium and aiortc can encode and decode)
VIDEO_CODECS = ("VP8", "H264")
MIN_BITRATE = 30_000
MAX_BITRATE = 50_000_000

_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)


def check_codec(codec: Any) -> str | None:
    """``"vp8"``/``"H264"``/None -> canonical name or None; ValueError naming the argument."""
    if codec is None or codec == "":
        return None
    if isinstance(codec, str):
        for name in VIDEO_CODECS:
            if codec.strip().upper() == name:
                return name
    raise ValueError(
        f"codec must be one of {', '.join(VIDEO_CODECS)} (or None for the default order), "
        f"got {codec!r}"
    )


def check_bitrate(bps: Any) -> int | None:
    """A bitrate cap in bit/s (None = no cap); ValueError naming the argument."""
    if bps is None:
        return None
    if isinstance(bps, bool) or not isinstance(bps, (int, float)) or bps != bps:
        raise ValueError(f"bps must be a number of bits per second or None, got {bps!r}")
    if not MIN_BITRATE <= bps <= MAX_BITRATE:
        raise ValueError(
            f"bps must be between {MIN_BITRATE:,} and {MAX_BITRATE:,} bits per second "
            f"(e.g. 500_000 for 500 kbit/s), got {bps!r}"
        )
    return int(bps)


def apply_codec_preference(pc: RTCPeerConnection, codec: str | None) -> None:
    """Make the next answer keep only ``codec`` (and RTX) in video sections; None = aiortc's
    default order (VP8 first). Must run before ``createAnswer``."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    preferred = []
    if codec is not None:
        wanted = f"video/{codec}".lower()
        preferred = [c for c in caps if c.mimeType.lower() == wanted]
        preferred += [c for c in caps if c.mimeType.lower() == "video/rtx"]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(preferred)


def cap_bitrate(sdp: str, bps: int | None) -> str:
    """``sdp`` with ``b=AS``/``b=TIAS`` set to ``bps`` in every video section (None: as is)."""
    if bps is None:
        return sdp
    newline = "\r\n" if "\r\n" in sdp else "\n"
    out: list[str] = []
    in_video = False
    for line in sdp.split(newline):
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and line.startswith("b="):
            continue  # replaced below
        out.append(line)
        if in_video and line.startswith("c="):
            # RFC 4566 order: b= lines come right after c=
            out.append(f"b=AS:{max(1, bps // 1000)}")
            out.append(f"b=TIAS:{bps}")
    return newline.join(out)


def cap_sender_bitrate(pc: RTCPeerConnection, bps: int | None) -> None:
    """Clamp the kernel's own video encoders to ``bps`` (None lifts the cap).

    aiortc sets ``encoder.target_bitrate`` from every REMB the browser sends, so a
    one-off assignment would be undone within a second: the encoder instance gets a
    subclass whose setter applies the cap (the encoder is private to ``RTCRtpSender`` and
    made at its first frame, see ``_upstream.sender_encoder``, so this also runs again
    from the stats loop until the encoder exists).
    """
    for transceiver in pc.getTransceivers():
        if transceiver.kind != "video":
            continue
        encoder = _upstream.sender_encoder(transceiver.sender)
        if encoder is None or not hasattr(type(encoder), "target_bitrate"):
            continue
        _clamp_encoder(encoder, bps)


def _clamp_encoder(encoder: Any, bps: int | None) -> None:
    cls = type(encoder)
    if not getattr(cls, "_nbrtc_capped", False):
        base_prop = cls.target_bitrate

        def _get(self: Any) -> int:
            return base_prop.fget(self)

        def _set(self: Any, value: int) -> None:
            cap = getattr(self, "_nbrtc_cap", None)
            base_prop.fset(self, min(value, cap) if cap else value)

        capped = type(
            f"Capped{cls.__name__}",
            (cls,),
            {"_nbrtc_capped": True, "target_bitrate": property(_get, _set)},
        )
        encoder.__class__ = capped
    encoder._nbrtc_cap = bps
    if bps is not None and encoder.target_bitrate > bps:
        encoder.target_bitrate = bps


def ice_ufrag(sdp: str) -> str | None:
    """The first ``a=ice-ufrag`` of an SDP (all sections share it with BUNDLE)."""
    match = _UFRAG.search(sdp or "")
    return match.group(1) if match else None


def page_sdp(entry: dict[str, Any]) -> str:
    """The page's SDP of an offer/answer round (``KernelStream.sdp_rounds``): its offer,
    or its answer when the kernel offered (``"offerer": "kernel"``, preoffer.py)."""
    return str(entry["answer"] if entry.get("offerer") == "kernel" else entry["offer"])


def kernel_sdp(entry: dict[str, Any]) -> str:
    """The kernel's SDP of an offer/answer round (its answer, or its own offer)."""
    return str(entry["offer"] if entry.get("offerer") == "kernel" else entry["answer"])


def ice_restart_requested(previous_offer: str, offer: str) -> bool:
    """True when a reoffer carries new ICE credentials (the browser restarted ICE)."""
    old, new = ice_ufrag(previous_offer), ice_ufrag(offer)
    return old is not None and new is not None and old != new


def _connection(pc: RTCPeerConnection | None) -> Any:
    """The aioice Connection under the pc's (bundled) ICE transport, or None.

    ``RTCDtlsTransport.transport`` -> ``RTCIceTransport``, whose ``iceGatherer`` holds the
    aioice ``Connection`` (``_upstream.gatherer_connection``)."""
    if pc is None:
        return None
    transports = [t.sender.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for dtls in transports:
        gatherer = getattr(getattr(dtls, "transport", None), "iceGatherer", None)
        conn = _upstream.gatherer_connection(gatherer) if gatherer is not None else None
        if conn is not None:
            return conn
    return None


def _candidate(c: Any, side: str, n: int) -> dict[str, Any]:
    """An aioice Candidate in the browser's candidate-report shape."""
    return {
        "id": f"kernel-{side}-{n}",
        "type": f"{side}-candidate",
        "candidateType": str(c.type),
        "protocol": str(c.transport).lower(),
        "address": str(c.host),
        "port": int(c.port),
        "priority": int(c.priority),
        "foundation": str(c.foundation),
        "relatedAddress": c.related_address,
        "relatedPort": c.related_port,
    }


def kernel_candidates(pc: RTCPeerConnection | None) -> dict[str, Any]:
    """{"local": [...], "remote": [...], "selected": {"local", "remote"} | None}.

    Reads aioice's ``local_candidates``, ``remote_candidates`` (including peer-reflexive
    ones it learned from checks) and the nominated pair of component 1
    (``_upstream.nominated_pairs``)."""
    conn = _connection(pc)
    if conn is None:
        return {"local": [], "remote": [], "selected": None}
    try:
        local = [_candidate(c, "local", i) for i, c in enumerate(conn.local_candidates)]
        remote = [_candidate(c, "remote", i) for i, c in enumerate(conn.remote_candidates)]
        pair = _upstream.nominated_pairs(conn).get(1)
    except Exception as exc:  # internals changed: no data rather than a broken Inspector
        log.debug("kernel candidates unavailable: %s", exc)
        return {"local": [], "remote": [], "selected": None}
    selected = None
    if pair is not None:
        selected = {
            "local": _candidate(pair.local_candidate, "local", -1),
            "remote": _candidate(pair.remote_candidate, "remote", -1),
        }
        for side, cands in (("local", local), ("remote", remote)):
            for c in cands:
                if (c["address"], c["port"], c["protocol"]) == (
                    selected[side]["address"],
                    selected[side]["port"],
                    selected[side]["protocol"],
                ):
                    selected[side]["id"] = c["id"]
    return {"local": local, "remote": remote, "selected": selected}


def selected_pair_reports(pc: RTCPeerConnection | None) -> list[dict[str, Any]]:
    """The kernel's selected pair as candidate-pair + candidate reports (or [])."""
    info = kernel_candidates(pc)
    sel = info["selected"]
    if sel is None:
        return []
    local, remote = dict(sel["local"]), dict(sel["remote"])
    local["id"], remote["id"] = "kernel-selected-local", "kernel-selected-remote"
    pair = {
        "id": "kernel-selected-pair",
        "type": "candidate-pair",
        "state": "succeeded",
        "nominated": True,
        "selected": True,
        "localCandidateId": local["id"],
        "remoteCandidateId": remote["id"],
    }
    return [pair, local, remote]


def fix_inbound_reports(pc: RTCPeerConnection | None, reports: list[dict[str, Any]]) -> None:
    """Make the kernel's inbound-rtp reports describe the media stream, not its RTX.

    aiortc 1.16 gives every remote SSRC of a receiver the same stats id, so after the
    first retransmission the one ``inbound-rtp`` report it returns is the retransmission
    stream's. The receiver's private statistics per SSRC tell them apart
    (``_upstream.receiver_inbound_streams``); the report is rewritten from the media
    SSRC's figures (jitter in seconds).
    """
    if pc is None:
        return
    by_id = {r.get("id"): r for r in reports if r.get("type") == "inbound-rtp"}
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        report = by_id.get(f"inbound-rtp_{id(receiver)}")
        if report is None:
            continue
        media = _upstream.receiver_inbound_streams(receiver)
        if not media:
            continue
        ssrc, stats = media[0]
        try:
            clock = _upstream.stream_clockrate(stats)
            report.update(
                {
                    "ssrc": ssrc,
                    "packetsReceived": stats.packets_received,
                    "packetsLost": stats.packets_lost,
                    "jitter": stats.jitter / clock if clock else None,
                }
            )
        except Exception as exc:  # internals changed: keep aiortc's own report
            log.debug("inbound-rtp fix skipped: %s", exc)
