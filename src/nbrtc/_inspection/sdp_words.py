"""Explain every line of a session description in plain words (:func:`annotate`).

One explanation per line for a learner: what the line says, for which section, and
why a browser or aiortc writes it. Codec and header extension words come from
``_sdp_words_media``; candidates are read by :mod:`nbrtc._signaling.candidate`. Credentials are
masked in the text shown (``a=ice-pwd`` and SRTP keys: only their length).

Pure: strings in, plain data out; no I/O, logging or global state. Safe from any thread.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from .._signaling.candidate import Candidate, parse_candidate
from .sdp_lines import DIRECTIONS, Line, check_type, int_or_none, mask_text, tokenize
from .sdp_parse import build_sections, parse_connection, parse_fingerprint
from .sdp_words_media import (
    CODEC_WORDS,
    EXTMAP,
    Ctx,
    capitalized,
    codec_label,
    fmtp_words,
    khz,
)


def _explain_m(ln: Line, ctx: Ctx) -> str:
    m = ctx.section
    assert m is not None
    mid = f"mid {m['mid']}" if m["mid"] is not None else "no mid"
    kind = m["kind"]
    words = [
        f"Starts media section {m['index']} ({mid}): "
        + ("data channels." if kind == "application" else f"{kind}.")
    ]
    port = m["port"]
    if port == 0:
        words.append(
            "Port 0 means this section is rejected or stopped: nothing flows here."
            if ctx.type_ == "answer"
            else "Port 0 means this section is stopped: nothing flows here."
        )
    elif port == 9:
        words.append(
            "Port 9 is a placeholder (the 'discard' port): the real addresses and ports "
            "come from the ICE candidates."
        )
    elif port is not None:
        words.append(
            f"Port {port} is the port of the default candidate; ICE may pick another "
            "address and port from the candidates."
        )
    proto = m["proto"] or ""
    proto_words = {
        "UDP/TLS/RTP/SAVPF": "RTP media over UDP, protected by SRTP whose keys come from a "
        "DTLS handshake, with RTCP feedback (the F: the receiver can ask for lost packets "
        "and key frames)",
        "RTP/SAVPF": "RTP media protected by SRTP, with RTCP feedback",
        "TCP/TLS/RTP/SAVPF": "RTP media over TCP, protected by SRTP with keys from DTLS, "
        "with RTCP feedback",
        "RTP/AVP": "plain RTP without encryption (WebRTC does not allow it)",
        "RTP/AVPF": "plain RTP with RTCP feedback but without encryption (WebRTC does not "
        "allow it)",
        "RTP/SAVP": "RTP protected by SRTP, without RTCP feedback",
        "UDP/DTLS/SCTP": "SCTP (the protocol that carries data channel messages, reliable "
        "or not, ordered or not) inside DTLS encryption, over UDP",
        "TCP/DTLS/SCTP": "SCTP inside DTLS encryption, over TCP",
        "DTLS/SCTP": "SCTP inside DTLS (an older way of writing UDP/DTLS/SCTP)",
    }
    if proto:
        words.append(
            f"{proto} means {proto_words.get(proto, 'a transport this guide does not explain')}."
        )
    if kind == "application":
        if "webrtc-datachannel" in m["formats"]:
            words.append("The format 'webrtc-datachannel' says SCTP carries WebRTC data channels.")
        elif m["formats"]:
            words.append(
                f"The format {m['formats'][0]} is the SCTP port (older style, see a=sctpmap)."
            )
    elif m["codecs"]:
        listed = ", ".join(f"{c['pt']} = {codec_label(c)}" for c in m["codecs"])
        order = (
            "the payload types it accepts, in order of preference"
            if ctx.type_ == "answer"
            else "the payload types it offers, in order of preference"
        )
        words.append(
            f"Then {order}: {listed}. A payload type is the number in each RTP packet that "
            "says which format the packet carries."
        )
    return " ".join(words)


def _explain_rtpmap(ln: Line, ctx: Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    parts = rest.strip().split("/")
    name = parts[0]
    rate = int_or_none(parts[1]) if len(parts) > 1 else None
    channels = int_or_none(parts[2]) if len(parts) > 2 else None
    low = name.lower()
    kind = ctx.kind if ctx.kind in ("audio", "video") else ""
    pt = int_or_none(first)
    c = ctx.codec(pt)
    if low == "rtx":
        target = ctx.codec(c["rtx_for"]) if c and c["rtx_for"] is not None else None
        what = ""
        if target is not None:
            what = f" of payload type {target['pt']} ({target['name']})"
        s = (
            f"payload type {first} carries retransmissions (RTX){what}: lost packets are sent "
            "again on their own payload type; the a=fmtp apt= line says which one they repair"
        )
    elif low == "red":
        s = (
            f"payload type {first} carries redundant coding (RED): each packet also holds a "
            "copy of earlier data, so a single lost packet can be recovered"
        )
    elif low in ("ulpfec", "flexfec-03", "flexfec"):
        s = (
            f"payload type {first} carries forward error correction ({name}): extra packets "
            "from which lost ones can be rebuilt without asking the sender"
        )
    elif low == "cn":
        s = f"payload type {first} carries comfort noise: a little background noise during silence"
    elif low == "telephone-event":
        s = f"payload type {first} carries telephone events: DTMF key presses (RFC 4733)"
    else:
        s = f"payload type {first} carries {name} {kind}".rstrip()
    if rate:
        s += f"; its RTP clock runs at {khz(rate)}"
        if low == "g722" and rate == 8000:
            s += (
                " (G.722 really samples at 16 kHz; the 8000 is a historical mistake kept so "
                "old equipment still works)"
            )
        elif rate == 90000 and kind == "video":
            s += ", the usual clock for video (RTP timestamps count in 1/90000 s)"
    if channels:
        if low == "opus" and channels == 2:
            s += (
                "; 2 channels (Opus always writes /2 here; whether it is really stereo is set "
                "by fmtp stereo=)"
            )
        else:
            s += f"; {channels} channel{'s' if channels != 1 else ''}"
    about = CODEC_WORDS.get(low)
    if about:
        s += f". {name}: {about}"
    if ctx.section is not None and pt is not None and pt not in ctx.section["formats"]:
        s += ". This payload type is not listed on the m= line, so it is not used"
    return s


def _explain_fmtp(ln: Line, ctx: Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    pt = int_or_none(first)
    c = ctx.codec(pt)
    if c is None:
        return (
            f"format parameters for payload type {first}, which is not listed on the m= line, "
            f"so they are not used: {rest.strip()}"
        )
    words = fmtp_words(c, ctx)
    if (c["name"] or "").lower() == "rtx" and list(c["fmtp"]) == ["apt"]:
        return words[0]
    intro = f"format parameters for payload type {first} ({codec_label(c)})"
    return intro + (": " + "; ".join(words) if words else "")


_FEEDBACK = {
    "nack": "generic NACK: the receiver reports lost packets so the sender can send them again "
    "(as RTX)",
    "nack pli": "picture loss indication (PLI): the receiver asks for a new key frame when it "
    "can no longer decode the picture",
    "nack sli": "slice loss indication: the receiver says which part of a picture it lost",
    "nack rpsi": "reference picture selection indication",
    "ccm fir": "full intra request (FIR): the receiver asks for a full key frame, e.g. when a "
    "new viewer joins",
    "ccm tmmbr": "temporary maximum media bitrate request: the receiver asks the sender to stay "
    "below a bitrate",
    "goog-remb": "receiver estimated maximum bitrate (REMB, from Google): the receiver estimates "
    "how much bandwidth there is and tells the sender",
    "transport-cc": "transport-wide congestion control: the receiver reports when each packet "
    "arrived and the sender estimates the bandwidth from that (needs the transport-wide-cc "
    "header extension)",
    "goog-lntf": "loss notification (Google, experimental): tells the sender which frames were "
    "lost",
    "rrtr": "receiver reference time reports (RTCP XR), so the receiver can measure round-trip "
    "time too",
}


def _explain_rtcp_fb(ln: Line, ctx: Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    fb = " ".join(rest.split())
    if first == "*":
        target = "all payload types"
    else:
        c = ctx.codec(int_or_none(first))
        target = f"payload type {first}" + (f" ({c['name']})" if c and c["name"] else "")
    words = _FEEDBACK.get(fb.lower())
    if words is None and fb.lower().startswith("trr-int"):
        words = "the minimum interval between regular RTCP reports"
    if words is None:
        words = f"'{fb}', a feedback type this guide does not explain"
    return f"RTCP feedback for {target}: {words}"


def _direction_words(direction: str, ctx: Ctx) -> str:
    who, other, kind = ctx.writer, ctx.other, ctx.kind
    answer = ctx.type_ == "answer"
    if direction == "sendrecv":
        s = f"{who} {'will' if answer else 'wants to'} send and receive {kind} here"
    elif direction == "sendonly":
        s = (
            f"{who} will only send {kind} here; {other} only receives"
            if answer
            else f"{who} wants only to send {kind} here, not to receive it"
        )
    elif direction == "recvonly":
        s = (
            f"{who} will only receive {kind} here; {other} sends it"
            if answer
            else f"{who} wants only to receive {kind} here; it will not send any"
        )
    else:
        s = f"no {kind} flows in either direction in this section (it is paused or unused)"
    return (
        f"{s} (a={direction}; a direction is said from the point of view of the side that "
        f"wrote the description, here {who} in its {ctx.type_})"
    )


def _explain_setup(ln: Line, ctx: Ctx) -> str:
    v = (ln.attr_value or "").strip().lower()
    who = capitalized(ctx.writer)
    base = "DTLS role (the DTLS handshake sets up the keys that encrypt the media): "
    if v == "actpass":
        s = f"actpass, {ctx.writer} can take either role; the answer picks who starts the handshake"
        if ctx.type_ == "answer":
            s += " (actpass is not allowed in an answer)"
    elif v == "active":
        s = f"active, {who} is the DTLS client: it starts the DTLS handshake"
    elif v == "passive":
        s = f"passive, {who} is the DTLS server: it waits for {ctx.other} to start the handshake"
    elif v == "holdconn":
        s = "holdconn, no DTLS connection for now"
    else:
        s = f"'{v}', not a DTLS role this guide knows"
    return base + s


def _explain_fingerprint(ln: Line, ctx: Ctx) -> str:
    fp = parse_fingerprint(ln.attr_value)
    alg = fp["algorithm"].upper() if fp else "?"
    s = (
        f"the {alg} hash (fingerprint) of {ctx.writer}'s DTLS certificate. During the DTLS "
        "handshake the other side checks that the certificate it receives has exactly this "
        "hash. This is what ties the encryption to the signaling: whoever can change this "
        "text could put in their own certificate, so the signaling channel must be trusted"
    )
    if ctx.section is not None and len(ctx.section["fingerprints"]) > 1:
        s += (
            f". {capitalized(ctx.writer)} lists several hashes of the same certificate, one per "
            "algorithm; the other side checks one it supports"
        )
    return s


def _addr_words(address: str) -> str:
    if address.lower().endswith(".local"):
        return (
            f"{address} is an mDNS name, not an IP address: the browser hides the real local "
            "IP address behind a random name that only devices on the same local network can "
            "resolve (for privacy)"
        )
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address} is a host name"
    fam = f"IPv{ip.version}"
    if ip.is_unspecified:
        return f"{address} is an unspecified {fam} address (a placeholder)"
    if ip.is_loopback:
        return f"{address} is the {fam} loopback address: reachable only from the same machine"
    if ip.is_link_local:
        return f"{address} is a link-local {fam} address: usable only on the local link"
    private_nets = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
    if any(ip in ipaddress.ip_network(n) for n in private_nets):
        return f"{address} is a private {fam} address (a home or office network)"
    if ip in ipaddress.ip_network("100.64.0.0/10"):
        return f"{address} is an {fam} address of a carrier-grade NAT"
    return f"{address} is an {fam} address"


def _candidate_words(c: Candidate, ctx: Ctx) -> str:
    who = ctx.writer
    types = {
        "host": f"a host candidate: an address of one of {who}'s own network interfaces",
        "srflx": f"a server-reflexive candidate: {who}'s public address as a STUN server sees "
        "it, i.e. the address its NAT (home router) maps it to",
        "prflx": f"a peer-reflexive candidate: an address of {who} discovered during the "
        "connectivity checks",
        "relay": f"a relay candidate: an address on a TURN server that forwards media for "
        f"{who}; used when no direct path works",
    }
    words = [f"ICE candidate, {types.get(c.type, repr(c.type) + ' type')}."]
    proto = c.transport.upper()
    words.append(f"Address {c.address} port {c.port} over {proto}; {_addr_words(c.address)}.")
    if c.tcptype == "active":
        words.append(
            f"tcptype active: {who} opens the TCP connection itself, so it does not listen"
            + (" and port 9 is a placeholder." if c.port == 9 else ".")
        )
    elif c.tcptype == "passive":
        words.append(f"tcptype passive: {who} waits for the other side to connect to this port.")
    elif c.tcptype == "so":
        words.append("tcptype so: both sides open the TCP connection at the same time.")
    if c.related_address is not None:
        rel = f"{c.related_address}:{c.related_port}"
        if c.related_address in ("0.0.0.0", "::"):
            words.append(
                f"The related address {rel} is hidden: the browser does not reveal the local "
                "address behind it."
            )
        elif c.type == "relay":
            words.append(f"Related address {rel}: {who}'s address as the TURN server sees it.")
        else:
            words.append(f"Related address {rel}: the local address behind it.")
    rtcp_mux = bool(ctx.section and ctx.section["rtcp_mux"])
    if c.component == 1:
        comp = "component 1 (RTP" + (", and RTCP too because of rtcp-mux)" if rtcp_mux else ")")
    elif c.component == 2:
        comp = "component 2 (RTCP)"
    else:
        comp = f"component {c.component}"
    words.append(
        f"It is for {comp}. Priority {c.priority}: pairs with higher priority are tried "
        "first (host candidates rank highest, relay lowest)."
    )
    if c.generation is not None:
        words.append(
            f"generation {c.generation}: the ICE generation (it goes up after an ICE restart)."
        )
    if c.ufrag is not None:
        words.append(f"ufrag {c.ufrag}: the ICE username fragment it belongs to.")
    if c.network_id is not None:
        words.append(f"network-id {c.network_id} numbers {who}'s network interface.")
    if c.network_cost is not None:
        words.append(
            f"network-cost {c.network_cost}: how expensive this network is to use (lower "
            "is cheaper; Chrome uses e.g. 10 for Wi-Fi and 900 for cellular)."
        )
    return " ".join(words)


def _explain_candidate(ln: Line, ctx: Ctx) -> str:
    try:
        c = parse_candidate(ln.attr_value or "")
    except ValueError as e:
        return f"an ICE candidate that cannot be read ({e}); a peer would reject or skip it"
    return _candidate_words(c, ctx)


def _explain_extmap(ln: Line, ctx: Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    ident, _, direction = first.partition("/")
    uri = rest.strip().split(" ")[0] if rest.strip() else ""
    known = EXTMAP.get(uri)
    if known:
        what = known[1]
    elif uri.startswith("urn:ietf:params:rtp-hdrext:encrypt"):
        what = "an encrypted header extension (RFC 6904)"
    else:
        what = f"{uri}, a header extension this guide does not explain"
    s = (
        f"RTP header extension {ident}: {what}. Packets carry this small piece of metadata in "
        f"their header, tagged with the number {ident} (the number is chosen in this "
        "offer/answer, not fixed)"
    )
    if direction:
        s += f"; only in direction {direction}"
    return s


def _explain_ssrc(ln: Line, ctx: Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    name, sep, value = rest.strip().partition(":")
    head = (
        f"SSRC {first}: the 32-bit number that identifies one RTP stream {ctx.writer} sends "
        "in this section"
    )
    if name == "cname":
        return (
            f"{head}. cname {value}: its canonical name; all streams of one endpoint share it, "
            "so the receiver can sync audio and video (lip sync)"
        )
    if name == "msid":
        return (
            f"{head}. msid {value}: the media stream and track it belongs to (older form of a=msid)"
        )
    if name in ("mslabel", "label"):
        return f"{head}. {name} {value}: the stream or track name in an older (Plan B) style"
    return f"{head}. {name}{' ' + value if sep else ''}: a source attribute"


def _explain_ssrc_group(ln: Line, ctx: Ctx) -> str:
    t = (ln.attr_value or "").split()
    sem = t[0] if t else ""
    ids = t[1:]
    if sem == "FID" and len(ids) >= 2:
        return (
            f"flow identification (FID): SSRC {ids[1]} carries the retransmissions (RTX) of "
            f"SSRC {ids[0]}; the pair is one video stream and its repair stream"
        )
    if sem == "SIM":
        return f"simulcast (SIM): SSRCs {', '.join(ids)} are the same video at different qualities"
    if sem in ("FEC-FR", "FEC"):
        return (
            f"forward error correction ({sem}): SSRC {ids[-1] if ids else '?'} protects the others"
        )
    return f"a group of SSRCs ({sem}): {', '.join(ids)}"


def _explain_group(ln: Line, ctx: Ctx) -> str:
    t = (ln.attr_value or "").split()
    sem, mids = (t[0] if t else ""), t[1:]
    if sem.upper() == "BUNDLE":
        s = (
            f"BUNDLE: the sections with mid {', '.join(mids)} share one transport (one ICE "
            "connection, one DTLS handshake, one port), instead of one each"
        )
        if ctx.type_ == "offer":
            s += f". {capitalized(ctx.writer)} proposes it; the answer says which sections agree"
        else:
            s += (
                f". The first one (mid {mids[0] if mids else '?'}) is the section whose "
                "transport all of them use"
            )
        return s
    if sem.upper() == "LS":
        return f"lip sync group: the sections with mid {', '.join(mids)} are played in sync"
    return f"a group of sections ({sem}): mids {', '.join(mids)}"


def _explain_msid_semantic(ln: Line, ctx: Ctx) -> str:
    t = (ln.attr_value or "").split()
    ids = t[1:]
    s = (
        "msid semantics 'WMS' (WebRTC MediaStream): the a=msid lines name the MediaStreams "
        "tracks belong to"
    )
    if ids == ["*"]:
        s += "; '*' means any stream"
    elif ids:
        s += f"; {ctx.writer}'s streams: {', '.join(ids)}"
    return s + ". It is a legacy line browsers still write for older peers"


def _explain_msid(ln: Line, ctx: Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    if first == "-":
        s = f"media stream id: the track {ctx.writer} sends here belongs to no stream"
    else:
        s = (
            f"media stream id: the track {ctx.writer} sends here belongs to stream {first} "
            "(what JavaScript sees as event.streams[0].id)"
        )
    if rest.strip():
        s += f"; the track id is {rest.strip()}"
    return s


def _explain_mid(ln: Line, ctx: Ctx) -> str:
    v = (ln.attr_value or "").strip()
    s = (
        f"media id: this section is called '{v}'. BUNDLE, the candidates' sdpMid and the "
        "sdes:mid header extension refer to it by this name"
    )
    if ctx.bundled:
        s += "; it is bundled, so it shares its transport with the other sections of the group"
    return s


def _explain_ice_ufrag(ln: Line, ctx: Ctx) -> str:
    return (
        f"ICE username fragment of {ctx.writer}: '{(ln.attr_value or '').strip()}'. The ICE "
        "connectivity checks (STUN requests) carry a user name made of both sides' fragments, "
        "so each side can tell which session a check belongs to. It is not secret; its "
        "partner a=ice-pwd is"
    )


def _explain_ice_pwd(ln: Line, ctx: Ctx) -> str:
    n = len((ln.attr_value or "").strip())
    return (
        f"ICE password of {ctx.writer}, hidden here because it is a credential ({n} "
        f"characters). Connectivity checks sent to {ctx.writer} must be signed with it (STUN "
        "message integrity), so only someone who has read this description can make checks "
        f"{ctx.writer} accepts"
    )


def _explain_ice_options(ln: Line, ctx: Ctx) -> str:
    opts = (ln.attr_value or "").split()
    words = {
        "trickle": "trickle (candidates may arrive one by one after this description, instead "
        "of all of them inside it, so the connection can start sooner)",
        "renomination": "renomination (the controlling side may switch to another candidate "
        "pair later)",
        "ice2": "ice2 (the 2018 version of ICE, RFC 8445)",
    }
    listed = ", ".join(words.get(o, f"{o} (an option this guide does not explain)") for o in opts)
    return f"ICE options {ctx.writer} supports: {listed or 'none'}"


def _explain_end_of_candidates(ln: Line, ctx: Ctx) -> str:
    return (
        f"end of candidates: {ctx.writer} has no more candidates for this section (gathering "
        "is finished)"
    )


def _explain_rtcp(ln: Line, ctx: Ctx) -> str:
    v = (ln.attr_value or "").strip()
    s = f"where RTCP (control and feedback packets) would go: {v}"
    if ctx.section is not None and ctx.section["rtcp_mux"]:
        s += (
            ". With a=rtcp-mux RTCP shares the RTP port, so this is a placeholder for peers "
            "that do not multiplex"
        )
    return s


def _explain_sctp_port(ln: Line, ctx: Ctx) -> str:
    v = (ln.attr_value or "").strip()
    return (
        f"the SCTP port of the data channel connection: {v}. It is a port inside SCTP (which "
        "runs inside DTLS), not a UDP port; 5000 is what everyone uses"
    )


def _explain_max_message_size(ln: Line, ctx: Ctx) -> str:
    v = int_or_none(ln.attr_value)
    if v == 0:
        return (
            f"{capitalized(ctx.writer)} accepts data channel messages of any size "
            "(0 means no limit)"
        )
    if v is None:
        return "the largest data channel message size (unreadable value)"
    kib = f" ({v / 1024:g} KiB)" if v >= 1024 else ""
    return f"the largest data channel message {ctx.writer} can receive: {v} bytes{kib}"


def _explain_sctpmap(ln: Line, ctx: Ctx) -> str:
    return (
        f"older way of describing the data channel transport: {ln.attr_value} (port, protocol, "
        "number of streams); newer peers write a=sctp-port instead"
    )


def _explain_rid(ln: Line, ctx: Ctx) -> str:
    t = (ln.attr_value or "").split()
    rid = t[0] if t else "?"
    d = t[1] if len(t) > 1 else ""
    return (
        f"restriction identifier (rid) '{rid}': names one encoding {ctx.writer} "
        f"{'sends' if d == 'send' else 'receives' if d == 'recv' else 'uses'}, e.g. one "
        "simulcast layer"
    )


def _explain_simulcast(ln: Line, ctx: Ctx) -> str:
    return (
        f"simulcast: the same video in several qualities at once (layers named by their rid): "
        f"{ln.attr_value}; a server forwards the one each viewer can take"
    )


_ATTRS: dict[str, Callable[[Line, Ctx], str]] = {
    "rtpmap": _explain_rtpmap,
    "fmtp": _explain_fmtp,
    "rtcp-fb": _explain_rtcp_fb,
    "setup": _explain_setup,
    "fingerprint": _explain_fingerprint,
    "candidate": _explain_candidate,
    "extmap": _explain_extmap,
    "ssrc": _explain_ssrc,
    "ssrc-group": _explain_ssrc_group,
    "group": _explain_group,
    "msid-semantic": _explain_msid_semantic,
    "msid": _explain_msid,
    "mid": _explain_mid,
    "ice-ufrag": _explain_ice_ufrag,
    "ice-pwd": _explain_ice_pwd,
    "ice-options": _explain_ice_options,
    "end-of-candidates": _explain_end_of_candidates,
    "rtcp": _explain_rtcp,
    "sctp-port": _explain_sctp_port,
    "max-message-size": _explain_max_message_size,
    "sctpmap": _explain_sctpmap,
    "rid": _explain_rid,
    "simulcast": _explain_simulcast,
}

_SIMPLE_ATTRS = {
    "rtcp-mux": "RTP and RTCP share one port (multiplexed) instead of RTCP using the next port up",
    "rtcp-mux-only": "RTP and RTCP must share one port; there is no fallback to separate ports",
    "rtcp-rsize": "reduced-size RTCP: feedback may be sent in small packets on its own, "
    "without the usual full reports, so it arrives sooner",
    "extmap-allow-mixed": "one-byte and two-byte RTP header extensions may be mixed in one "
    "stream (two-byte ones are needed for larger or more extensions)",
    "ice-lite": "{Writer} is an ICE-lite implementation (typically a server with a public "
    "address): it only answers connectivity checks and never starts them",
    "bundle-only": "this section is used only if the other side accepts BUNDLE",
    "tls-id": "an id for the DTLS connection; a new value means a new DTLS handshake",
    "x-google-flag": "a Chrome-specific flag",
    "identity": "an identity assertion of {writer} (WebRTC identity providers)",
    "crypto": "SDES keys for SRTP (the key is hidden here: it is a credential); WebRTC uses "
    "DTLS instead",
    "framerate": "the maximum video frame rate {writer} wants",
    "ptime": "the audio packet length {writer} prefers, in milliseconds",
    "maxptime": "the longest audio packet length {writer} accepts, in milliseconds",
}

_LETTERS = {
    "v": "SDP version. It is always 0; this line starts every session description",
    "i": "session or media information: free text for people",
    "u": "a URI with more information about the session",
    "e": "an email address of the person responsible",
    "p": "a phone number of the person responsible",
    "z": "time zone adjustments (not used by WebRTC)",
    "k": "an encryption key line; it is obsolete and WebRTC does not use it",
    "r": "repeat times (not used by WebRTC)",
}


def _explain_line(ln: Line, ctx: Ctx) -> str:
    if ln.letter == "":
        return (
            "an empty line. SDP has no empty lines; this guide skips it, but a strict parser "
            "may reject the description because of it"
        )
    if ln.letter == "?":
        return (
            "not an SDP line: every SDP line is one letter, '=', and a value. Parsers ignore "
            "or reject it"
        )
    if ln.letter in _LETTERS:
        return _LETTERS[ln.letter]
    if ln.letter == "o":
        o = ctx.session["origin"] or {}
        return (
            f"origin: who made this description. User name '{o.get('username')}' "
            f"({'none' if o.get('username') == '-' else 'informational'}), session id "
            f"{o.get('session_id')} (a random number naming this session), version "
            f"{o.get('session_version')} (goes up each time {ctx.writer} changes its "
            f"description), address {o.get('nettype')} {o.get('addrtype')} {o.get('address')} "
            "(WebRTC does not use it, so it is a placeholder)"
        )
    if ln.letter == "s":
        v = ln.value.strip()
        if v in ("-", ""):
            return "session name. WebRTC does not use it, so it is '-' (a placeholder)"
        return f"session name '{v}'. WebRTC does not use it"
    if ln.letter == "t":
        if ln.value.split() == ["0", "0"]:
            return (
                "timing: start and stop time 0 0 mean the session is not bounded in time (it "
                "lasts until someone hangs up)"
            )
        return f"timing: start and stop time {ln.value} (NTP seconds)"
    if ln.letter == "c":
        c = parse_connection(ln.value)
        addr = c["address"] or ""
        if addr.split("/")[0] in ("0.0.0.0", "::"):
            return (
                f"connection address for {ctx.where}: {addr} is a placeholder, because the "
                "real addresses come from the ICE candidates"
            )
        return (
            f"connection address for {ctx.where}: {addr}, the address of the default "
            "candidate. With ICE the actual path is chosen from the candidates"
        )
    if ln.letter == "b":
        bwtype, _, amount = ln.value.partition(":")
        bw = {
            "AS": f"at most {amount} kbit/s for {ctx.where} (AS: application specific, in "
            "kilobits per second)",
            "TIAS": f"at most {amount} bit/s for {ctx.where}, not counting IP/UDP/RTP "
            "overhead (TIAS: transport independent, in bits per second)",
            "CT": f"at most {amount} kbit/s for the whole conference (CT)",
            "RR": f"RTCP bandwidth for receivers: {amount} bit/s (RR)",
            "RS": f"RTCP bandwidth for senders: {amount} bit/s (RS)",
        }
        return "bandwidth cap: " + bw.get(
            bwtype.strip(), f"{ln.value} (a bandwidth type this guide does not explain)"
        )
    if ln.letter == "m":
        return _explain_m(ln, ctx)
    if ln.letter == "a":
        a = ln.attr
        if a in DIRECTIONS:
            if ctx.section is None:
                return (
                    f"default direction {a} for every section that does not say its own "
                    f"(from {ctx.writer}'s point of view)"
                )
            return _direction_words(a, ctx)
        if a in _ATTRS:
            return _ATTRS[a](ln, ctx)
        if a in _SIMPLE_ATTRS:
            return _SIMPLE_ATTRS[a].format(writer=ctx.writer, Writer=capitalized(ctx.writer))
        return (
            f"an attribute this guide does not explain ('{a}'); endpoints ignore attributes "
            "they do not understand"
        )
    return (
        f"a line of type '{ln.letter}' that SDP does not define; a parser may reject the "
        "whole description because of it"
    )


def annotate(
    text: str,
    type_: str = "offer",
    *,
    offerer: str = "the browser",
    answerer: str = "the kernel",
) -> list[dict[str, Any]]:
    """Explain every line of an SDP in plain words, for a learner.

    Returns one dict per line of ``text`` (split on \\r\\n, \\n or \\r; a final line
    ending does not make an extra line), in order: ``n`` (line number from 0),
    ``line`` (the text, with the ICE password replaced by
    ``a=ice-pwd:<hidden, N characters>``), ``section`` ("session" or the section's
    mid, "m<index>" when it has none), ``key`` ("v", "o", "m", "a=rtpmap", ...; ""
    for an empty line, "?" for a line that is not ``letter=value``), ``explain``
    (plain English) and ``masked`` (True when ``line`` hides a credential).
    ``offerer`` and ``answerer`` name the sides in the words; in nbrtc the browser
    offers and the kernel answers. Raises ValueError like :func:`parse`.
    """
    check_type(type_)
    lines = tokenize(text)
    session, media = build_sections(lines)
    writer, other = (offerer, answerer) if type_ == "offer" else (answerer, offerer)
    out: list[dict[str, Any]] = []
    for ln in lines:
        section = media[ln.section] if ln.section >= 0 else None
        ctx = Ctx(type_, writer, other, session, media, section)
        shown = mask_text(ln.raw)
        explain = _explain_line(ln, ctx)
        explain = explain[:1].upper() + explain[1:]
        if not explain.endswith("."):
            explain += "."
        out.append(
            {
                "n": ln.n,
                "line": shown,
                "section": _section_label(section),
                "key": ln.key,
                "explain": explain,
                "masked": shown != ln.raw,
            }
        )
    return out


def _section_label(section: dict[str, Any] | None) -> str:
    if section is None:
        return "session"
    return section["mid"] if section["mid"] is not None else f"m{section['index']}"
