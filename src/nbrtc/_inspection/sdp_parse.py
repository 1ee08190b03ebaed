"""Parse SDP text into :class:`ParsedSDP`: plain data a learner can put in a DataFrame.

:func:`parse` reads the session part and every m= section (codecs with their rtpmap,
fmtp and feedback, ICE, DTLS, candidates through :mod:`nbrtc._signaling.candidate`, SSRCs,
header extensions, data channel parameters). Odd but readable lines never raise. The
ICE password stays only in :attr:`ParsedSDP.text`; the parsed data has its length.

Pure: strings in, plain data out; no I/O, logging or global state. Safe from any thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._signaling.candidate import parse_candidate
from .sdp_lines import (
    AUX,
    DIRECTIONS,
    STATIC_PT,
    Line,
    check_type,
    int_or_none,
    isnum,
    mask_text,
    tokenize,
)


def _fmtp_params(raw: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in raw.split(";"):
        k, sep, v = part.partition("=")
        if sep and k.strip():
            params[k.strip()] = v.strip()
    return params


def _empty_ice() -> dict[str, Any]:
    return {"ufrag": None, "pwd_length": None, "options": []}


def parse_fingerprint(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    alg, _, fp = value.strip().partition(" ")
    return {"algorithm": alg.lower(), "value": fp.strip()}


def parse_connection(value: str) -> dict[str, Any]:
    t = value.split()
    return {
        "nettype": t[0] if t else None,
        "addrtype": t[1] if len(t) > 1 else None,
        "address": t[2] if len(t) > 2 else None,
    }


def _other(line: Line) -> dict[str, Any]:
    value = line.attr_value
    if line.attr == "crypto" and value is not None:
        value = mask_text(f"a=crypto:{value}")[len("a=crypto:") :]
    return {"name": line.attr, "value": value}


def _parse_session(lines: list[Line]) -> dict[str, Any]:
    s: dict[str, Any] = {
        "version": None,
        "origin": None,
        "name": None,
        "timing": None,
        "connection": None,
        "bandwidth": {},
        "groups": [],
        "msid_semantic": None,
        "extmap_allow_mixed": False,
        "ice_lite": False,
        "fingerprint": None,
        "fingerprints": [],
        "ice": _empty_ice(),
        "setup": None,
        "direction": None,
        "other_attributes": [],
    }
    for ln in lines:
        if ln.letter == "v":
            s["version"] = int_or_none(ln.value)
        elif ln.letter == "o":
            t = ln.value.split()
            keys = ("username", "session_id", "session_version", "nettype", "addrtype")
            origin: dict[str, Any] = {k: (t[i] if len(t) > i else None) for i, k in enumerate(keys)}
            origin["address"] = t[5] if len(t) > 5 else None
            s["origin"] = origin
        elif ln.letter == "s":
            s["name"] = ln.value
        elif ln.letter == "t":
            s["timing"] = ln.value.strip()
        elif ln.letter == "c":
            s["connection"] = parse_connection(ln.value)
        elif ln.letter == "b":
            _bandwidth(s["bandwidth"], ln.value)
        if ln.letter != "a":
            continue
        a, v = ln.attr, ln.attr_value
        if a == "group" and v:
            t = v.split()
            s["groups"].append({"semantic": t[0], "mids": t[1:]})
        elif a == "msid-semantic":
            t = (v or "").split()
            s["msid_semantic"] = {"semantic": t[0] if t else None, "ids": t[1:]}
        elif a == "extmap-allow-mixed":
            s["extmap_allow_mixed"] = True
        elif a == "ice-lite":
            s["ice_lite"] = True
        elif _transport_attr(s, a, v):
            pass
        elif a in DIRECTIONS:
            s["direction"] = a
        else:
            s["other_attributes"].append(_other(ln))
    return s


def _bandwidth(into: dict[str, int], value: str) -> None:
    bwtype, _, amount = value.partition(":")
    n = int_or_none(amount)
    if bwtype.strip() and n is not None:
        into[bwtype.strip()] = n


#: the ICE credential/option attributes, at session or media level
ICE_ATTRS = ("ice-ufrag", "ice-pwd", "ice-options")


def _transport_attr(into: dict[str, Any], attr: str, value: str | None) -> bool:
    """Read an ICE, fingerprint or setup attribute into a session or media section
    (both levels carry them, the media level winning); False for any other attribute."""
    if attr in ICE_ATTRS:
        _ice(into["ice"], attr, value)
    elif attr == "fingerprint":
        fp = parse_fingerprint(value)
        if fp:
            into["fingerprints"].append(fp)
            into["fingerprint"] = into["fingerprint"] or fp
    elif attr == "setup":
        into["setup"] = (value or "").strip().lower() or None
    else:
        return False
    return True


def _ice(into: dict[str, Any], attr: str, value: str | None) -> None:
    if attr == "ice-ufrag":
        into["ufrag"] = (value or "").strip()
    elif attr == "ice-pwd":
        into["pwd_length"] = len((value or "").strip())
    else:
        into["options"] = (value or "").split()


def _parse_media(index: int, lines: list[Line], session: dict[str, Any]) -> dict[str, Any]:
    mline = lines[0].value.split()
    kind = mline[0] if mline else "unknown"
    port_text = mline[1].split("/")[0] if len(mline) > 1 else ""
    formats: list[int | str] = [int(f) if isnum(f) else f for f in mline[3:]]
    m: dict[str, Any] = {
        "index": index,
        "kind": kind,
        "mid": None,
        "port": int_or_none(port_text),
        "proto": mline[2] if len(mline) > 2 else None,
        "formats": formats,
        "direction": None,
        "codecs": [],
        "ice": _empty_ice(),
        "fingerprint": None,
        "fingerprints": [],
        "setup": None,
        "connection": None,
        "rtcp": None,
        "rtcp_mux": False,
        "rtcp_rsize": False,
        "candidates": [],
        "end_of_candidates": False,
        "ssrcs": [],
        "ssrc_groups": [],
        "msid": None,
        "extmap": [],
        "extmap_allow_mixed": False,
        "bandwidth": {},
        "sctp_port": None,
        "max_message_size": None,
        "rejected": int_or_none(port_text) == 0,
        "other_attributes": [],
    }
    rtpmap: dict[int, tuple[str, int | None, int | None]] = {}
    fmtp: dict[int, str] = {}
    feedback: dict[str, list[str]] = {}
    ssrcs: dict[int, dict[str, Any]] = {}
    ice_seen = False
    for ln in lines[1:]:
        if ln.letter == "c":
            m["connection"] = parse_connection(ln.value)
        elif ln.letter == "b":
            _bandwidth(m["bandwidth"], ln.value)
        if ln.letter != "a":
            continue
        a, v = ln.attr, ln.attr_value
        first, _, rest = (v or "").partition(" ")
        if a == "mid":
            m["mid"] = (v or "").strip()
        elif a in DIRECTIONS:
            m["direction"] = a
        elif a == "rtpmap" and isnum(first):
            parts = rest.strip().split("/")
            rtpmap[int(first)] = (
                parts[0],
                int_or_none(parts[1]) if len(parts) > 1 else None,
                int_or_none(parts[2]) if len(parts) > 2 else None,
            )
        elif a == "fmtp" and isnum(first):
            fmtp[int(first)] = rest.strip()
        elif a == "rtcp-fb" and first:
            feedback.setdefault(first, []).append(" ".join(rest.split()))
        elif _transport_attr(m, a, v):
            ice_seen = ice_seen or a in ICE_ATTRS
        elif a == "rtcp":
            t = (v or "").split()
            rtcp_port = int_or_none(t[0]) if t else None
            m["rtcp"] = {"port": rtcp_port, **parse_connection(" ".join(t[1:]))}
        elif a == "rtcp-mux":
            m["rtcp_mux"] = True
        elif a == "rtcp-rsize":
            m["rtcp_rsize"] = True
        elif a == "candidate":
            try:
                m["candidates"].append(parse_candidate(v or "").to_dict())
            except ValueError as e:
                m["other_attributes"].append({"name": a, "value": v, "error": str(e)})
        elif a == "end-of-candidates":
            m["end_of_candidates"] = True
        elif a == "ssrc" and isnum(first):
            entry = ssrcs.setdefault(int(first), {"ssrc": int(first), "attributes": {}})
            attr, sep, val = rest.strip().partition(":")
            if attr:
                entry["attributes"][attr] = val if sep else None
        elif a == "ssrc-group" and first:
            ids = [int(t) for t in rest.split() if isnum(t)]
            m["ssrc_groups"].append({"semantics": first, "ssrcs": ids})
        elif a == "msid" and first:
            m["msid"] = {"stream": first, "track": rest.strip() or None}
        elif a == "extmap" and first:
            ident, _, direction = first.partition("/")
            uri, _, ext_attrs = rest.strip().partition(" ")
            if isnum(ident):
                m["extmap"].append(
                    {
                        "id": int(ident),
                        "uri": uri,
                        "direction": direction or None,
                        "attributes": ext_attrs.strip() or None,
                    }
                )
            else:
                m["other_attributes"].append(_other(ln))
        elif a == "extmap-allow-mixed":
            m["extmap_allow_mixed"] = True
        elif a == "sctp-port":
            m["sctp_port"] = int_or_none(v)
        elif a == "sctpmap" and isnum(first):
            m["sctp_port"] = m["sctp_port"] or int(first)
        elif a == "max-message-size":
            m["max_message_size"] = int_or_none(v)
        else:
            m["other_attributes"].append(_other(ln))
    if m["direction"] is None and kind != "application":
        m["direction"] = session["direction"] or "sendrecv"
    if not ice_seen:
        m["ice"] = dict(session["ice"], options=list(session["ice"]["options"]))
    else:
        for k in ("ufrag", "pwd_length"):
            if m["ice"][k] is None:
                m["ice"][k] = session["ice"][k]
        if not m["ice"]["options"]:
            m["ice"]["options"] = list(session["ice"]["options"])
    if not m["fingerprints"] and session["fingerprints"]:
        m["fingerprints"] = [dict(f) for f in session["fingerprints"]]
        m["fingerprint"] = dict(session["fingerprint"])
    m["setup"] = m["setup"] or session["setup"]
    m["ssrcs"] = list(ssrcs.values())
    # Codecs, in the order of the m= line (its order is the writer's preference).
    for fmt in formats:
        if not isinstance(fmt, int):
            continue
        static = False
        name: str | None
        rate: int | None
        channels: int | None
        if fmt in rtpmap:
            name, rate, channels = rtpmap[fmt]
        elif fmt in STATIC_PT:
            name, rate, channels = STATIC_PT[fmt]
            static = True
        else:
            name, rate, channels = None, None, None
        if channels is None and kind == "audio" and name is not None:
            channels = 1
        raw = fmtp.get(fmt)
        params = _fmtp_params(raw) if raw else {}
        rtx_for = int_or_none(params.get("apt")) if name and name.lower() == "rtx" else None
        m["codecs"].append(
            {
                "pt": fmt,
                "name": name,
                "clock_rate": rate,
                "channels": channels,
                "fmtp": params,
                "fmtp_raw": raw,
                "rtcp_fb": [*feedback.get(str(fmt), []), *feedback.get("*", [])],
                "rtx_for": rtx_for,
                "static": static,
            }
        )
    for c in m["candidates"]:
        c["mid"] = m["mid"]
        c["mline_index"] = index
    return m


def _sections(lines: list[Line]) -> tuple[list[Line], list[list[Line]]]:
    session = [ln for ln in lines if ln.section == -1]
    media: list[list[Line]] = []
    for ln in lines:
        if ln.section >= 0:
            if ln.section == len(media):
                media.append([])
            media[ln.section].append(ln)
    return session, media


def build_sections(lines: list[Line]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    session_lines, media_lines = _sections(lines)
    session = _parse_session(session_lines)
    media = [_parse_media(i, ml, session) for i, ml in enumerate(media_lines)]
    return session, media


def _plain(value: Any) -> Any:
    """A deep copy made only of dict, list, str, int, float, bool and None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _primary_names(media: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for c in media["codecs"]:
        name = c["name"]
        if name and name.lower() not in AUX and name not in names:
            names.append(name)
    return names


def codec_names(media: dict[str, Any]) -> list[str]:
    """Distinct codec names of a section in order, RTX left out."""
    names: list[str] = []
    for c in media["codecs"]:
        name = c["name"] or f"pt {c['pt']}"
        if name.lower() != "rtx" and name not in names:
            names.append(name)
    return names


@dataclass(frozen=True, repr=False, eq=False)
class ParsedSDP:
    """A parsed session description; build it with :func:`parse`.

    ``text`` is the original SDP (it contains the ICE password: do not log it) and
    ``type`` "offer" or "answer".

    ``session``: ``version``, ``origin`` (``username``, ``session_id``,
    ``session_version``, ``nettype``, ``addrtype``, ``address``; ids stay strings),
    ``name``, ``timing``, ``connection``, ``bandwidth``, ``groups`` (``[{"semantic":
    "BUNDLE", "mids": [...]}]``), ``msid_semantic`` (``{"semantic", "ids"}`` or None),
    ``extmap_allow_mixed``, ``ice_lite``, ``fingerprint`` (``{"algorithm", "value"}``
    or None) and ``fingerprints``, ``ice`` (session-level ``{"ufrag", "pwd_length",
    "options"}``, None/[] when absent), ``setup``, ``direction``, ``other_attributes``.

    ``media``: one dict per m= section, in order: ``index``, ``kind``, ``mid`` (None
    without a=mid), ``port``, ``proto``, ``formats`` (ints, or strings such as
    "webrtc-datachannel"), ``direction`` (the section's, else the session's, else
    "sendrecv"; None for data sections), ``codecs`` (``pt``, ``name``, ``clock_rate``,
    ``channels``, ``fmtp`` dict, ``fmtp_raw``, ``rtcp_fb`` list, ``rtx_for``,
    ``static``: name taken from the RFC 3551 table), ``ice``, ``fingerprint``,
    ``fingerprints``, ``setup`` (section or session values), ``connection``, ``rtcp``,
    ``rtcp_mux``, ``rtcp_rsize``, ``candidates``, ``end_of_candidates``, ``ssrcs``
    (``[{"ssrc", "attributes"}]``), ``ssrc_groups`` (``[{"semantics", "ssrcs"}]``),
    ``msid`` (``{"stream", "track"}`` or None), ``extmap`` (``[{"id", "uri",
    "direction", "attributes"}]``), ``extmap_allow_mixed``, ``bandwidth`` (e.g.
    ``{"AS": kbps, "TIAS": bps}``), ``sctp_port``, ``max_message_size``, ``rejected``
    (port 0) and ``other_attributes`` (``[{"name", "value"}]`` for the rest).

    ``candidates``: every ICE candidate of every section (as ``sdp.parse_candidate``
    returns them), each with its section's ``mid`` and ``mline_index``.

    The object is frozen; its dicts are meant for reading, and :meth:`to_dict` gives
    an independent copy without credentials.
    """

    text: str
    type: str
    session: dict[str, Any]
    media: list[dict[str, Any]]
    candidates: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable plain data: ``type``, ``session``, ``media``, ``candidates``.

        No ICE password anywhere (only its length, ``ice.pwd_length``); the original
        text is left out for the same reason.
        """
        return {
            "type": self.type,
            "session": _plain(self.session),
            "media": _plain(self.media),
            "candidates": _plain(self.candidates),
        }

    def codecs(self) -> list[dict[str, Any]]:
        """One row per (section, codec), ready for ``pandas.DataFrame``.

        Columns: ``mid``, ``mline_index``, ``kind``, ``direction``, ``pt``, ``name``,
        ``clock_rate``, ``channels``, ``fmtp`` (the raw parameter string or None),
        ``rtcp_fb`` (feedback types joined with ", ") and ``rtx_for`` (the payload
        type an RTX format repairs, else None). Rows follow the m= line order.
        """
        rows: list[dict[str, Any]] = []
        for m in self.media:
            for c in m["codecs"]:
                rows.append(
                    {
                        "mid": m["mid"],
                        "mline_index": m["index"],
                        "kind": m["kind"],
                        "direction": m["direction"],
                        "pt": c["pt"],
                        "name": c["name"],
                        "clock_rate": c["clock_rate"],
                        "channels": c["channels"],
                        "fmtp": c["fmtp_raw"],
                        "rtcp_fb": ", ".join(c["rtcp_fb"]),
                        "rtx_for": c["rtx_for"],
                    }
                )
        return rows

    def __repr__(self) -> str:
        parts = []
        for m in self.media:
            where = f"mid {m['mid']}" if m["mid"] is not None else f"section {m['index']}"
            names = _primary_names(m)
            shown = "/".join(names[:3]) + ("..." if len(names) > 3 else "")
            bits = [where, *([shown] if shown else []), *(["rejected"] if m["rejected"] else [])]
            parts.append(f"{m['kind']}({', '.join(bits)})")
        return f"<ParsedSDP {self.type}: {', '.join(parts) or 'no media sections'}>"


def parse(text: str, type_: str = "offer") -> ParsedSDP:
    """Parse SDP text (from a browser or aiortc) into a :class:`ParsedSDP`.

    Accepts \\r\\n or \\n line endings, blank lines, unknown attributes, sections
    without ``a=mid`` and static payload types without ``a=rtpmap``; odd but readable
    lines never raise (unknown attributes land in ``other_attributes``, a malformed
    candidate there too with an ``error``). Raises ValueError only when ``text`` is
    not SDP at all (its first line is not ``v=0``) or ``type_`` is not "offer" or
    "answer"; TypeError when ``text`` is not a string.
    """
    check_type(type_)
    lines = tokenize(text)
    session, media = build_sections(lines)
    candidates = [dict(c) for m in media for c in m["candidates"]]
    return ParsedSDP(text=text, type=type_, session=session, media=media, candidates=candidates)
