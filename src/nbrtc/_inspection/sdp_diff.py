"""How an answer differs from its offer (:func:`diff`), line by line and in sentences.

Marks each line of both descriptions "same", "changed", "removed", "added" or "side"
(lines each side writes for itself), lists per section what was kept or dropped, and
sums the negotiation up in sentences: codecs, directions, DTLS roles, BUNDLE, data.

Pure: strings in, plain data out; no I/O, logging or global state. Safe from any thread.
"""

from __future__ import annotations

from typing import Any

from .sdp_lines import DIRECTIONS, Line, tokenize
from .sdp_parse import build_sections, codec_names
from .sdp_words_media import KIND_WORDS, extmap_name

# Lines that naturally differ per side: each side writes its own.
_SIDE_KEYS = {
    "o",
    "a=candidate",
    "a=end-of-candidates",
    "a=ice-ufrag",
    "a=ice-pwd",
    "a=fingerprint",
    "a=ssrc",
    "a=ssrc-group",
    "a=msid",
    "a=msid-semantic",
    "a=tls-id",
    "a=identity",
    "a=crypto",
    "a=ice-lite",
}
# Lines that hold a side's own address: "same" when equal, else "side".
_ADDRESS_KEYS = {"c", "a=rtcp"}
_DIRECTIONS_KEYS = {f"a={d}" for d in DIRECTIONS}
# Attributes whose first token names what the line is about.
_NAMED = {
    "a=rtpmap",
    "a=fmtp",
    "a=extmap",
    "a=fingerprint",
    "a=group",
    "a=ssrc-group",
    "a=ssrc",
    "a=rid",
    "a=candidate",
}


def _identity(ln: Line) -> tuple[int, str, str]:
    key = ln.key
    token = ""
    if key in _NAMED:
        token = (ln.attr_value or "").split(" ")[0]
        if key == "a=extmap":
            token = token.split("/")[0]
    elif key == "a=rtcp-fb":
        token = " ".join((ln.attr_value or "").split())
    elif key == "b":
        token = ln.value.partition(":")[0].strip()
    elif key in _DIRECTIONS_KEYS:
        key = "a=<direction>"
    return (ln.section, key, token)


def _norm(ln: Line) -> str:
    return " ".join(ln.raw.split())


def _m_status(o: Line, a: Line) -> str:
    ot, at = o.value.split(), a.value.split()
    if ot == at:
        return "same"
    if len(ot) < 3 or len(at) < 3:
        return "changed"
    if at[1] == "0" and ot[1] != "0":
        return "changed"
    if ot[0] == at[0] and ot[2:] == at[2:]:
        return "side"
    return "changed"


def _statuses(olines: list[Line], alines: list[Line]) -> tuple[list[str], list[str]]:
    ost = ["same"] * len(olines)
    ast = ["same"] * len(alines)
    ogroups: dict[tuple[int, str, str], list[int]] = {}
    agroups: dict[tuple[int, str, str], list[int]] = {}
    for i, ln in enumerate(olines):
        ogroups.setdefault(_identity(ln), []).append(i)
    for i, ln in enumerate(alines):
        agroups.setdefault(_identity(ln), []).append(i)
    for ident in {*ogroups, *agroups}:
        oi, ai = ogroups.get(ident, []), agroups.get(ident, [])
        key = ident[1]
        if key in _SIDE_KEYS:
            for i in oi:
                ost[i] = "side"
            for i in ai:
                ast[i] = "side"
            continue
        if key == "m" and oi and ai:
            s = _m_status(olines[oi[0]], alines[ai[0]])
            ost[oi[0]] = ast[ai[0]] = s
            oi, ai = oi[1:], ai[1:]
        # Pair equal lines first, then pair what is left in order as "changed".
        left_a = list(ai)
        left_o: list[int] = []
        for i in oi:
            match = next((j for j in left_a if _norm(alines[j]) == _norm(olines[i])), None)
            if match is None:
                left_o.append(i)
            else:
                left_a.remove(match)
                ost[i] = ast[match] = "same"
        for i, j in zip(left_o, left_a, strict=False):
            s = "side" if key in _ADDRESS_KEYS else "changed"
            ost[i] = ast[j] = s
        for i in left_o[len(left_a) :]:
            ost[i] = "removed"
        for j in left_a[len(left_o) :]:
            ast[j] = "added"
    return ost, ast


def _flow(od: str | None, ad: str | None, kind: str, offerer: str, answerer: str) -> str:
    od, ad = od or "sendrecv", ad or "sendrecv"
    offerer_sends = od in ("sendrecv", "sendonly") and ad in ("sendrecv", "recvonly")
    answerer_sends = ad in ("sendrecv", "sendonly") and od in ("sendrecv", "recvonly")
    if offerer_sends and answerer_sends:
        return f"both {offerer} and {answerer} send {kind}"
    if offerer_sends:
        return f"only {offerer} sends {kind}"
    if answerer_sends:
        return f"only {answerer} sends {kind}"
    return f"no {kind} flows in either direction"


_SETUP_OFFER = {
    "actpass": "actpass (either role)",
    "active": "active (it will start the handshake)",
    "passive": "passive (it waits for the handshake)",
}


def _dtls_sentence(os_: str | None, as_: str | None, offerer: str, answerer: str) -> str:
    o_words = _SETUP_OFFER.get(os_ or "", repr(os_))
    head = f"DTLS roles: the offer says {o_words}, the answer "
    if as_ == "active":
        tail = (
            f"picks active: {answerer} starts the DTLS handshake (it is the DTLS client) and "
            f"{offerer} is the server"
        )
        if os_ == "active":
            tail += "; but the offer said active too, so the roles clash"
    elif as_ == "passive":
        tail = (
            f"picks passive: {answerer} waits, so {offerer} starts the DTLS handshake (it is "
            "the DTLS client)"
        )
        if os_ == "passive":
            tail += "; but the offer said passive too, so the roles clash"
    elif as_ is None:
        tail = "has no a=setup line"
    else:
        tail = f"says {as_}, which an answer may not: it must pick active or passive"
    return head + tail


def _join(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def diff(
    offer: str,
    answer: str,
    *,
    offerer: str = "the browser",
    answerer: str = "the kernel",
) -> dict[str, Any]:
    """Compare an offer with its answer, line by line and section by section.

    Returns ``{"offer": [...], "answer": [...], "sections": [...], "summary": [...]}``.
    ``offer`` and ``answer`` hold one status per line, aligned with
    :func:`annotate`'s lines: "same", "changed", "removed" (offer only: the answer
    has no such line), "added" (answer only) or "side" (lines each side writes for
    itself: origin, ICE credentials and candidates, fingerprints, SSRCs, msid, and
    addresses or m= ports that differ). A line's identity is its section, its key and,
    where the first token names something, that token (the payload type of
    a=rtpmap/fmtp, the extmap id, the whole rtcp-fb value, the b= type).

    ``sections`` has one dict per m= section: ``index``, ``mid``, ``kind``,
    ``offer_direction``, ``answer_direction``, ``offer_codecs``, ``answer_codecs``
    (distinct names without RTX), ``removed_codecs``, ``removed_payload_types``,
    ``rejected`` (the answer's port is 0) and ``setup`` ({"offer", "answer"}).
    ``summary`` is a list of plain sentences for a learner. ``offerer``/``answerer``
    name the sides (in nbrtc the browser offers, the kernel answers). Raises
    ValueError naming the side when either text is not SDP.
    """
    try:
        olines = tokenize(offer)
    except ValueError as e:
        raise ValueError(f"the offer is not SDP: {e}") from None
    try:
        alines = tokenize(answer)
    except ValueError as e:
        raise ValueError(f"the answer is not SDP: {e}") from None
    osession, omedia = build_sections(olines)
    asession, amedia = build_sections(alines)
    ost, ast = _statuses(olines, alines)
    sections: list[dict[str, Any]] = []
    summary: list[str] = []
    for i in range(max(len(omedia), len(amedia))):
        om = omedia[i] if i < len(omedia) else None
        am = amedia[i] if i < len(amedia) else None
        base = om or am
        assert base is not None
        kind = base["kind"]
        mid = base["mid"]
        label = f"{kind} (mid {mid})" if mid is not None else f"{kind} (section {i})"
        ocodecs = codec_names(om) if om else []
        acodecs = codec_names(am) if am else []
        removed = [n for n in ocodecs if n not in acodecs]
        apts = {c["pt"] for c in am["codecs"]} if am else set()
        removed_pts = [c["pt"] for c in om["codecs"] if c["pt"] not in apts] if om else []
        rejected = bool(am and am["rejected"])
        sections.append(
            {
                "index": i,
                "mid": mid,
                "kind": kind,
                "offer_direction": om["direction"] if om else None,
                "answer_direction": am["direction"] if am else None,
                "offer_codecs": ocodecs,
                "answer_codecs": acodecs,
                "removed_codecs": removed,
                "removed_payload_types": removed_pts,
                "rejected": rejected,
                "setup": {
                    "offer": om["setup"] if om else None,
                    "answer": am["setup"] if am else None,
                },
            }
        )
        if om is None:
            summary.append(f"{label}: the answer has a section the offer does not (not allowed)")
            continue
        if am is None:
            summary.append(f"{label}: the answer has no section for it (it must answer each one)")
            continue
        if rejected:
            summary.append(f"{label}: the answer rejects this section (port 0): nothing flows here")
            continue
        kw = KIND_WORDS.get(kind, kind)
        if kind == "application":
            summary.append(_data_sentence(label, om, am, offerer, answerer))
            continue
        if ocodecs:
            kept = [n for n in ocodecs if n in acodecs]
            if removed:
                s = (
                    f"{label}: the answer keeps {_join(kept)} of the {len(ocodecs)} codecs "
                    f"offered and drops {_join(removed)}"
                )
            elif len(ocodecs) == 1:
                s = f"{label}: the answer keeps the only codec offered ({ocodecs[0]})"
            elif len(ocodecs) == 2:
                s = f"{label}: the answer keeps both codecs offered ({_join(kept)})"
            else:
                s = f"{label}: the answer keeps all {len(ocodecs)} codecs offered ({_join(kept)})"
            if len(am["codecs"]) != len(om["codecs"]):
                s += (
                    f"; it keeps {len(am['codecs'])} of the {len(om['codecs'])} payload types "
                    "offered (RTX included)"
                )
            summary.append(s)
        od, ad = om["direction"], am["direction"]
        flow = _flow(od, ad, kw, offerer, answerer)
        if od == ad:
            summary.append(f"{label}: offer and answer both say {od}: {flow}")
        else:
            summary.append(f"{label}: the offer says {od}, the answer says {ad}: {flow}")
        oext = [e["uri"] for e in om["extmap"]]
        aext = {e["uri"] for e in am["extmap"]}
        dropped_ext = [extmap_name(u) for u in oext if u not in aext]
        if dropped_ext:
            summary.append(
                f"{label}: the answer accepts {len(oext) - len(dropped_ext)} of the "
                f"{len(oext)} RTP header extensions offered and drops {_join(dropped_ext)}"
            )
    pairs: list[tuple[str | None, str | None, list[str]]] = []
    for sec in sections:
        if sec["rejected"] or (sec["setup"]["offer"] is None and sec["setup"]["answer"] is None):
            continue
        pair = (sec["setup"]["offer"], sec["setup"]["answer"])
        found = next((p for p in pairs if (p[0], p[1]) == pair), None)
        if found:
            found[2].append(str(sec["mid"]))
        else:
            pairs.append((pair[0], pair[1], [str(sec["mid"])]))
    for os_, as_, mids in pairs:
        s = _dtls_sentence(os_, as_, offerer, answerer)
        if len(pairs) > 1:
            s = f"mid {', '.join(mids)}: " + s
        summary.append(s)
    ocount = sum(len(m["candidates"]) for m in omedia)
    acount = sum(len(m["candidates"]) for m in amedia)
    s = (
        "each side has its own ICE credentials and candidates (marked 'side'): the offer "
        f"lists {ocount} candidate{'s' if ocount != 1 else ''}, the answer {acount}"
    )
    if ocount == 0 or acount == 0:
        s += "; candidates not listed here trickle in separately (trickle ICE)"
    summary.append(s)
    summary.append(
        "each side also has its own DTLS certificate fingerprint, SSRCs and msid (marked 'side')"
    )
    ob = [g["mids"] for g in osession["groups"] if g["semantic"].upper() == "BUNDLE"]
    ab = [g["mids"] for g in asession["groups"] if g["semantic"].upper() == "BUNDLE"]
    if ob or ab:
        if ob == ab:
            summary.append(
                "both sides bundle mids "
                + "; ".join(" ".join(g) for g in ob)
                + " onto one transport (one ICE connection, one DTLS handshake)"
            )
        else:
            summary.append(
                "the offer proposes to bundle mids "
                + ("; ".join(" ".join(g) for g in ob) or "none")
                + ", the answer bundles "
                + ("; ".join(" ".join(g) for g in ab) or "none")
            )
    for sess, side in ((osession, offerer), (asession, answerer)):
        if sess["ice_lite"]:
            summary.append(
                f"{side} is ICE-lite: it only answers connectivity checks, the other side "
                "makes them"
            )
    summary = [s[:1].upper() + s[1:] for s in summary]
    return {"offer": ost, "answer": ast, "sections": sections, "summary": summary}


def _data_sentence(
    label: str, om: dict[str, Any], am: dict[str, Any], offerer: str, answerer: str
) -> str:
    s = f"{label}: data channels over SCTP"
    if om["sctp_port"] == am["sctp_port"] and om["sctp_port"] is not None:
        s += f" (sctp-port {om['sctp_port']} on both sides)"
    elif om["sctp_port"] is not None or am["sctp_port"] is not None:
        s += f" (sctp-port {om['sctp_port']} in the offer, {am['sctp_port']} in the answer)"
    sizes = []
    for m, who in ((om, offerer), (am, answerer)):
        if m["max_message_size"] is not None:
            sizes.append(f"{who} accepts messages up to {m['max_message_size']} bytes")
    if sizes:
        s += "; " + ", ".join(sizes)
    return s
