"""Read WebRTC session descriptions (SDP) and explain them in plain words.

This module powers the teaching Inspector: it turns the offer and answer of a live
connection into plain data (dicts and lists that fit in a pandas DataFrame), explains
every line for a learner, and marks how the answer differs from the offer.

It is pure: strings in, plain data out. No I/O, no logging, no global state, nothing
from the rest of nbrtc. The ICE password (``a=ice-pwd``) is a credential: it is kept
only in :attr:`ParsedSDP.text` (the text you passed in) and never appears in
:meth:`ParsedSDP.to_dict`, ``repr()``, :func:`annotate`, :func:`diff` or an error
message; only its length is reported. SRTP keys in ``a=crypto`` lines are masked the
same way.

Public API: :func:`parse`, :class:`ParsedSDP`, :func:`parse_candidate`,
:func:`annotate`, :func:`diff`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ParsedSDP", "annotate", "diff", "parse", "parse_candidate"]

_TYPES = ("offer", "answer")
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# Formats that repair or accompany a codec rather than being one.
_REPAIR = {"rtx", "red", "ulpfec", "flexfec", "flexfec-03"}
_AUX = _REPAIR | {"cn", "telephone-event"}

# RFC 3551 static payload types: (name, clock rate, channels or None for video).
_STATIC_PT: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None),
    28: ("nv", 90000, None),
    31: ("H261", 90000, None),
    32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None),
    34: ("H263", 90000, None),
}


# ---------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One line of the text: ``letter=value``; for ``a=`` lines also name and value."""

    n: int
    raw: str
    letter: str  # "v", "o", "a", ...; "" for an empty line; "?" when not letter=value
    value: str
    attr: str  # attribute name of an a= line, else ""
    attr_value: str | None  # text after the first ":" of an a= line, else None
    section: int  # -1 for the session part, else the index of the m= section

    @property
    def key(self) -> str:
        if self.letter == "a":
            return f"a={self.attr}"
        return self.letter


def _split(text: str) -> list[str]:
    """The lines of ``text``, for \\r\\n, \\n or \\r endings; no empty last line."""
    parts = re.split(r"\r\n|\n|\r", text)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def _tokenize(text: str) -> list[_Line]:
    """Split and classify every line; raise ValueError when ``text`` is not SDP."""
    if not isinstance(text, str):
        raise TypeError(f"SDP must be a string, not {type(text).__name__}")
    raw_lines = _split(text)
    first = next((r.strip().lstrip("\ufeff") for r in raw_lines if r.strip()), None)
    if first is None:
        raise ValueError("not SDP: the text is empty (a session description starts with 'v=0')")
    if first != "v=0":
        shown = _mask_text(first)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if first.startswith("v="):
            raise ValueError(
                f"not SDP: the first line is {shown!r}, but the only SDP version is 0 ('v=0')"
            )
        raise ValueError(
            f"not SDP: a session description starts with 'v=0', but the first line is {shown!r}"
        )
    out: list[_Line] = []
    section = -1
    for n, raw in enumerate(raw_lines):
        s = raw.strip().lstrip("\ufeff")
        if not s:
            out.append(_Line(n, raw, "", "", "", None, section))
            continue
        if len(s) < 2 or s[1] != "=" or not s[0].isalpha():
            out.append(_Line(n, raw, "?", s, "", None, section))
            continue
        letter, value = s[0], s[2:]
        if letter == "m":
            section += 1
        attr, attr_value = "", None
        if letter == "a":
            name, sep, rest = value.partition(":")
            attr = name.strip()
            attr_value = rest.strip() if sep else None
        out.append(_Line(n, raw, letter, value, attr, attr_value, section))
    return out


def _mask_text(line: str) -> str:
    """``line`` with any credential in it replaced by a placeholder."""
    s = line.strip()
    if s.startswith("a=ice-pwd:"):
        return f"a=ice-pwd:<hidden, {len(s[len('a=ice-pwd:') :].strip())} characters>"
    if s.startswith("a=crypto:") and "inline:" in s:
        return re.sub(
            r"inline:([^\s|]+)",
            lambda m: f"inline:<hidden, {len(m.group(1))} characters>",
            s,
        )
    return line


def _check_type(type_: str) -> str:
    if type_ not in _TYPES:
        raise ValueError(f"type_ must be 'offer' or 'answer', not {type_!r}")
    return type_


def _isnum(s: str) -> bool:
    """Whether ``s`` is a short run of ASCII digits (str.isdigit alone also accepts other
    Unicode digits, and int() refuses strings of thousands of digits)."""
    return len(s) <= 20 and s.isascii() and s.isdigit()


def _int(s: str | None) -> int | None:
    if s is None:
        return None
    s = s.strip()
    return int(s) if _isnum(s) else None


# ---------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------

_CANDIDATE_FORM = (
    "'candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...'"
)


def parse_candidate(line: str) -> dict[str, Any]:
    """Parse one ICE candidate (RFC 8839) into plain data.

    Accepts ``"a=candidate:..."``, ``"candidate:..."`` (as in the browser's
    ``RTCIceCandidate.candidate``) or the bare attribute value. Returns a dict with
    ``foundation`` (str), ``component`` (int, 1 = RTP, 2 = RTCP), ``protocol``
    (lowercase, "udp" or "tcp"), ``priority`` (int), ``address`` (IP address or mDNS
    ``.local`` name), ``port`` (int), ``type`` ("host", "srflx", "prflx" or "relay"),
    ``related_address``, ``related_port``, ``tcptype``, ``generation``, ``ufrag``,
    ``network_id``, ``network_cost`` (None when absent) and ``extensions`` (a dict of
    any other name/value pairs). Raises ValueError naming the problem when the line
    is not a well-formed candidate.
    """
    if not isinstance(line, str):
        raise TypeError(f"a candidate must be a string, not {type(line).__name__}")
    text = line.strip()
    for prefix in ("a=candidate:", "candidate:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip()
            break
    shown = line.strip() if len(line.strip()) <= 120 else line.strip()[:117] + "..."
    if not text:
        raise ValueError(
            "an empty candidate is not a candidate: browsers send an empty string to say "
            "'no more candidates' (end of candidates)"
        )
    tokens = text.split()
    if len(tokens) < 8:
        raise ValueError(
            f"not an ICE candidate: expected {_CANDIDATE_FORM}, but {shown!r} has only "
            f"{len(tokens)} fields"
        )
    foundation, component, protocol, priority, address, port, typ, ctype = tokens[:8]
    if typ.lower() != "typ":
        raise ValueError(
            f"not an ICE candidate: expected the word 'typ' after the port (field 7) in "
            f"{shown!r}, found {typ!r}"
        )
    if not _isnum(component) or not 1 <= int(component) <= 256:
        raise ValueError(
            f"ICE candidate component must be a number from 1 to 256 (1 = RTP, 2 = RTCP), "
            f"got {component!r} in {shown!r}"
        )
    if not _isnum(priority) or int(priority) >= 2**32:
        raise ValueError(
            f"ICE candidate priority must be a whole number below 2**32, got {priority!r} "
            f"in {shown!r}"
        )
    if not _isnum(port) or int(port) > 65535:
        raise ValueError(f"ICE candidate port must be 0 to 65535, got {port!r} in {shown!r}")
    rest = tokens[8:]
    if len(rest) % 2:
        raise ValueError(
            f"ICE candidate extension {rest[-1]!r} has no value in {shown!r} (extensions "
            f"come as name value pairs, e.g. 'generation 0')"
        )
    out: dict[str, Any] = {
        "foundation": foundation,
        "component": int(component),
        "protocol": protocol.lower(),
        "priority": int(priority),
        "address": address,
        "port": int(port),
        "type": ctype.lower(),
        "related_address": None,
        "related_port": None,
        "tcptype": None,
        "generation": None,
        "ufrag": None,
        "network_id": None,
        "network_cost": None,
        "extensions": {},
    }
    numeric = {
        "rport": "related_port",
        "generation": "generation",
        "network-id": "network_id",
        "network-cost": "network_cost",
    }
    text_fields = {"raddr": "related_address", "tcptype": "tcptype", "ufrag": "ufrag"}
    for name, value in zip(rest[::2], rest[1::2], strict=True):
        low = name.lower()
        if low in numeric:
            if not _isnum(value):
                raise ValueError(
                    f"ICE candidate {name} must be a whole number, got {value!r} in {shown!r}"
                )
            out[numeric[low]] = int(value)
        elif low in text_fields:
            out[text_fields[low]] = value.lower() if low == "tcptype" else value
        else:
            out["extensions"][name] = value
    return out


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def _fmtp_params(raw: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in raw.split(";"):
        k, sep, v = part.partition("=")
        if sep and k.strip():
            params[k.strip()] = v.strip()
    return params


def _empty_ice() -> dict[str, Any]:
    return {"ufrag": None, "pwd_length": None, "options": []}


def _fingerprint(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    alg, _, fp = value.strip().partition(" ")
    return {"algorithm": alg.lower(), "value": fp.strip()}


def _connection(value: str) -> dict[str, Any]:
    t = value.split()
    return {
        "nettype": t[0] if t else None,
        "addrtype": t[1] if len(t) > 1 else None,
        "address": t[2] if len(t) > 2 else None,
    }


def _other(line: _Line) -> dict[str, Any]:
    value = line.attr_value
    if line.attr == "crypto" and value is not None:
        value = _mask_text(f"a=crypto:{value}")[len("a=crypto:") :]
    return {"name": line.attr, "value": value}


def _parse_session(lines: list[_Line]) -> dict[str, Any]:
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
            s["version"] = _int(ln.value)
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
            s["connection"] = _connection(ln.value)
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
        elif a in ("ice-ufrag", "ice-pwd", "ice-options"):
            _ice(s["ice"], a, v)
        elif a == "fingerprint":
            fp = _fingerprint(v)
            if fp:
                s["fingerprints"].append(fp)
                s["fingerprint"] = s["fingerprint"] or fp
        elif a == "setup":
            s["setup"] = (v or "").strip().lower() or None
        elif a in _DIRECTIONS:
            s["direction"] = a
        else:
            s["other_attributes"].append(_other(ln))
    return s


def _bandwidth(into: dict[str, int], value: str) -> None:
    bwtype, _, amount = value.partition(":")
    n = _int(amount)
    if bwtype.strip() and n is not None:
        into[bwtype.strip()] = n


def _ice(into: dict[str, Any], attr: str, value: str | None) -> None:
    if attr == "ice-ufrag":
        into["ufrag"] = (value or "").strip()
    elif attr == "ice-pwd":
        into["pwd_length"] = len((value or "").strip())
    else:
        into["options"] = (value or "").split()


def _parse_media(index: int, lines: list[_Line], session: dict[str, Any]) -> dict[str, Any]:
    mline = lines[0].value.split()
    kind = mline[0] if mline else "unknown"
    port_text = mline[1].split("/")[0] if len(mline) > 1 else ""
    formats: list[int | str] = [int(f) if _isnum(f) else f for f in mline[3:]]
    m: dict[str, Any] = {
        "index": index,
        "kind": kind,
        "mid": None,
        "port": _int(port_text),
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
        "rejected": _int(port_text) == 0,
        "other_attributes": [],
    }
    rtpmap: dict[int, tuple[str, int | None, int | None]] = {}
    fmtp: dict[int, str] = {}
    feedback: dict[str, list[str]] = {}
    ssrcs: dict[int, dict[str, Any]] = {}
    ice_seen = False
    for ln in lines[1:]:
        if ln.letter == "c":
            m["connection"] = _connection(ln.value)
        elif ln.letter == "b":
            _bandwidth(m["bandwidth"], ln.value)
        if ln.letter != "a":
            continue
        a, v = ln.attr, ln.attr_value
        first, _, rest = (v or "").partition(" ")
        if a == "mid":
            m["mid"] = (v or "").strip()
        elif a in _DIRECTIONS:
            m["direction"] = a
        elif a == "rtpmap" and _isnum(first):
            parts = rest.strip().split("/")
            rtpmap[int(first)] = (
                parts[0],
                _int(parts[1]) if len(parts) > 1 else None,
                _int(parts[2]) if len(parts) > 2 else None,
            )
        elif a == "fmtp" and _isnum(first):
            fmtp[int(first)] = rest.strip()
        elif a == "rtcp-fb" and first:
            feedback.setdefault(first, []).append(" ".join(rest.split()))
        elif a in ("ice-ufrag", "ice-pwd", "ice-options"):
            ice_seen = True
            _ice(m["ice"], a, v)
        elif a == "fingerprint":
            fp = _fingerprint(v)
            if fp:
                m["fingerprints"].append(fp)
                m["fingerprint"] = m["fingerprint"] or fp
        elif a == "setup":
            m["setup"] = (v or "").strip().lower() or None
        elif a == "rtcp":
            t = (v or "").split()
            m["rtcp"] = {"port": _int(t[0]) if t else None, **_connection(" ".join(t[1:]))}
        elif a == "rtcp-mux":
            m["rtcp_mux"] = True
        elif a == "rtcp-rsize":
            m["rtcp_rsize"] = True
        elif a == "candidate":
            try:
                m["candidates"].append(parse_candidate(v or ""))
            except ValueError as e:
                m["other_attributes"].append({"name": a, "value": v, "error": str(e)})
        elif a == "end-of-candidates":
            m["end_of_candidates"] = True
        elif a == "ssrc" and _isnum(first):
            entry = ssrcs.setdefault(int(first), {"ssrc": int(first), "attributes": {}})
            name, sep, val = rest.strip().partition(":")
            if name:
                entry["attributes"][name] = val if sep else None
        elif a == "ssrc-group" and first:
            ids = [int(t) for t in rest.split() if _isnum(t)]
            m["ssrc_groups"].append({"semantics": first, "ssrcs": ids})
        elif a == "msid" and first:
            m["msid"] = {"stream": first, "track": rest.strip() or None}
        elif a == "extmap" and first:
            ident, _, direction = first.partition("/")
            uri, _, ext_attrs = rest.strip().partition(" ")
            if _isnum(ident):
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
            m["sctp_port"] = _int(v)
        elif a == "sctpmap" and _isnum(first):
            m["sctp_port"] = m["sctp_port"] or int(first)
        elif a == "max-message-size":
            m["max_message_size"] = _int(v)
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
        if fmt in rtpmap:
            name, rate, channels = rtpmap[fmt]
        elif fmt in _STATIC_PT:
            name, rate, channels = _STATIC_PT[fmt]
            static = True
        else:
            name, rate, channels = None, None, None
        if channels is None and kind == "audio" and name is not None:
            channels = 1
        raw = fmtp.get(fmt)
        params = _fmtp_params(raw) if raw else {}
        rtx_for = _int(params.get("apt")) if name and name.lower() == "rtx" else None
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


def _sections(lines: list[_Line]) -> tuple[list[_Line], list[list[_Line]]]:
    session = [ln for ln in lines if ln.section == -1]
    media: list[list[_Line]] = []
    for ln in lines:
        if ln.section >= 0:
            if ln.section == len(media):
                media.append([])
            media[ln.section].append(ln)
    return session, media


def _build(lines: list[_Line]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
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
        if name and name.lower() not in _AUX and name not in names:
            names.append(name)
    return names


def _codec_names(media: dict[str, Any]) -> list[str]:
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

    ``candidates``: every ICE candidate of every section (as :func:`parse_candidate`
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
    _check_type(type_)
    lines = _tokenize(text)
    session, media = _build(lines)
    candidates = [dict(c) for m in media for c in m["candidates"]]
    return ParsedSDP(text=text, type=type_, session=session, media=media, candidates=candidates)


# ---------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------

_KIND_WORDS = {"video": "video", "audio": "audio", "application": "data"}

_CODEC_WORDS = {
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


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _khz(rate: int) -> str:
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


def _codec_label(c: dict[str, Any]) -> str:
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
        return f"telephone events (DTMF){f' at {_khz(rate)}' if rate else ''}"
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


def _fmtp_words(c: dict[str, Any], ctx: _Ctx) -> list[str]:
    """Plain sentences for each fmtp parameter of codec ``c``."""
    name = (c["name"] or "").lower()
    p = c["fmtp"]
    w: list[str] = []
    for k, v in p.items():
        kl = k.lower()
        if kl == "apt":
            w.append(_rtx_words(c, ctx))
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
            elif kl == "level-idx" and _isnum(v):
                w.append(f"level-idx={v}: AV1 level {2 + int(v) // 4}.{int(v) % 4}")
            else:
                w.append(f"tier={v}: AV1 {'High' if v == '1' else 'Main'} tier")
        elif name == "h265" and kl in ("profile-id", "level-id", "tier-flag", "tx-mode"):
            if kl == "level-id" and _isnum(v):
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


def _rtx_words(c: dict[str, Any], ctx: _Ctx) -> str:
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
class _Ctx:
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
        return _KIND_WORDS.get(self.section["kind"], self.section["kind"])

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


def _explain_m(ln: _Line, ctx: _Ctx) -> str:
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
        listed = ", ".join(f"{c['pt']} = {_codec_label(c)}" for c in m["codecs"])
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


def _explain_rtpmap(ln: _Line, ctx: _Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    parts = rest.strip().split("/")
    name = parts[0]
    rate = _int(parts[1]) if len(parts) > 1 else None
    channels = _int(parts[2]) if len(parts) > 2 else None
    low = name.lower()
    kind = ctx.kind if ctx.kind in ("audio", "video") else ""
    pt = _int(first)
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
        s += f"; its RTP clock runs at {_khz(rate)}"
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
    about = _CODEC_WORDS.get(low)
    if about:
        s += f". {name}: {about}"
    if ctx.section is not None and pt is not None and pt not in ctx.section["formats"]:
        s += ". This payload type is not listed on the m= line, so it is not used"
    return s


def _explain_fmtp(ln: _Line, ctx: _Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    pt = _int(first)
    c = ctx.codec(pt)
    if c is None:
        return (
            f"format parameters for payload type {first}, which is not listed on the m= line, "
            f"so they are not used: {rest.strip()}"
        )
    words = _fmtp_words(c, ctx)
    if (c["name"] or "").lower() == "rtx" and list(c["fmtp"]) == ["apt"]:
        return words[0]
    intro = f"format parameters for payload type {first} ({_codec_label(c)})"
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


def _explain_rtcp_fb(ln: _Line, ctx: _Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    fb = " ".join(rest.split())
    if first == "*":
        target = "all payload types"
    else:
        c = ctx.codec(_int(first))
        target = f"payload type {first}" + (f" ({c['name']})" if c and c["name"] else "")
    words = _FEEDBACK.get(fb.lower())
    if words is None and fb.lower().startswith("trr-int"):
        words = "the minimum interval between regular RTCP reports"
    if words is None:
        words = f"'{fb}', a feedback type this guide does not explain"
    return f"RTCP feedback for {target}: {words}"


def _direction_words(direction: str, ctx: _Ctx) -> str:
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


def _explain_setup(ln: _Line, ctx: _Ctx) -> str:
    v = (ln.attr_value or "").strip().lower()
    who = _cap(ctx.writer)
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


def _explain_fingerprint(ln: _Line, ctx: _Ctx) -> str:
    fp = _fingerprint(ln.attr_value)
    alg = fp["algorithm"].upper() if fp else "?"
    s = (
        f"the {alg} hash (fingerprint) of {ctx.writer}'s DTLS certificate. During the DTLS "
        "handshake the other side checks that the certificate it receives has exactly this "
        "hash. This is what ties the encryption to the signaling: whoever can change this "
        "text could put in their own certificate, so the signaling channel must be trusted"
    )
    if ctx.section is not None and len(ctx.section["fingerprints"]) > 1:
        s += (
            f". {_cap(ctx.writer)} lists several hashes of the same certificate, one per "
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


def _candidate_words(c: dict[str, Any], ctx: _Ctx) -> str:
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
    words = [f"ICE candidate, {types.get(c['type'], repr(c['type']) + ' type')}."]
    proto = c["protocol"].upper()
    words.append(
        f"Address {c['address']} port {c['port']} over {proto}; {_addr_words(c['address'])}."
    )
    if c["tcptype"] == "active":
        words.append(
            f"tcptype active: {who} opens the TCP connection itself, so it does not listen"
            + (" and port 9 is a placeholder." if c["port"] == 9 else ".")
        )
    elif c["tcptype"] == "passive":
        words.append(f"tcptype passive: {who} waits for the other side to connect to this port.")
    elif c["tcptype"] == "so":
        words.append("tcptype so: both sides open the TCP connection at the same time.")
    if c["related_address"] is not None:
        rel = f"{c['related_address']}:{c['related_port']}"
        if c["related_address"] in ("0.0.0.0", "::"):
            words.append(
                f"The related address {rel} is hidden: the browser does not reveal the local "
                "address behind it."
            )
        elif c["type"] == "relay":
            words.append(f"Related address {rel}: {who}'s address as the TURN server sees it.")
        else:
            words.append(f"Related address {rel}: the local address behind it.")
    rtcp_mux = bool(ctx.section and ctx.section["rtcp_mux"])
    if c["component"] == 1:
        comp = "component 1 (RTP" + (", and RTCP too because of rtcp-mux)" if rtcp_mux else ")")
    elif c["component"] == 2:
        comp = "component 2 (RTCP)"
    else:
        comp = f"component {c['component']}"
    words.append(
        f"It is for {comp}. Priority {c['priority']}: pairs with higher priority are tried "
        "first (host candidates rank highest, relay lowest)."
    )
    if c["generation"] is not None:
        words.append(
            f"generation {c['generation']}: the ICE generation (it goes up after an ICE restart)."
        )
    if c["ufrag"] is not None:
        words.append(f"ufrag {c['ufrag']}: the ICE username fragment it belongs to.")
    if c["network_id"] is not None:
        words.append(f"network-id {c['network_id']} numbers {who}'s network interface.")
    if c["network_cost"] is not None:
        words.append(
            f"network-cost {c['network_cost']}: how expensive this network is to use (lower "
            "is cheaper; Chrome uses e.g. 10 for Wi-Fi and 900 for cellular)."
        )
    return " ".join(words)


def _explain_candidate(ln: _Line, ctx: _Ctx) -> str:
    try:
        c = parse_candidate(ln.attr_value or "")
    except ValueError as e:
        return f"an ICE candidate that cannot be read ({e}); a peer would reject or skip it"
    return _candidate_words(c, ctx)


_EXTMAP: dict[str, tuple[str, str]] = {
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


def _extmap_name(uri: str) -> str:
    if uri in _EXTMAP:
        return _EXTMAP[uri][0]
    return uri.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1] or uri


def _explain_extmap(ln: _Line, ctx: _Ctx) -> str:
    first, _, rest = (ln.attr_value or "").partition(" ")
    ident, _, direction = first.partition("/")
    uri = rest.strip().split(" ")[0] if rest.strip() else ""
    known = _EXTMAP.get(uri)
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


def _explain_ssrc(ln: _Line, ctx: _Ctx) -> str:
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


def _explain_ssrc_group(ln: _Line, ctx: _Ctx) -> str:
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


def _explain_group(ln: _Line, ctx: _Ctx) -> str:
    t = (ln.attr_value or "").split()
    sem, mids = (t[0] if t else ""), t[1:]
    if sem.upper() == "BUNDLE":
        s = (
            f"BUNDLE: the sections with mid {', '.join(mids)} share one transport (one ICE "
            "connection, one DTLS handshake, one port), instead of one each"
        )
        if ctx.type_ == "offer":
            s += f". {_cap(ctx.writer)} proposes it; the answer says which sections agree"
        else:
            s += (
                f". The first one (mid {mids[0] if mids else '?'}) is the section whose "
                "transport all of them use"
            )
        return s
    if sem.upper() == "LS":
        return f"lip sync group: the sections with mid {', '.join(mids)} are played in sync"
    return f"a group of sections ({sem}): mids {', '.join(mids)}"


def _explain_msid_semantic(ln: _Line, ctx: _Ctx) -> str:
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


def _explain_msid(ln: _Line, ctx: _Ctx) -> str:
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


def _explain_mid(ln: _Line, ctx: _Ctx) -> str:
    v = (ln.attr_value or "").strip()
    s = (
        f"media id: this section is called '{v}'. BUNDLE, the candidates' sdpMid and the "
        "sdes:mid header extension refer to it by this name"
    )
    if ctx.bundled:
        s += "; it is bundled, so it shares its transport with the other sections of the group"
    return s


def _explain_ice_ufrag(ln: _Line, ctx: _Ctx) -> str:
    return (
        f"ICE username fragment of {ctx.writer}: '{(ln.attr_value or '').strip()}'. The ICE "
        "connectivity checks (STUN requests) carry a user name made of both sides' fragments, "
        "so each side can tell which session a check belongs to. It is not secret; its "
        "partner a=ice-pwd is"
    )


def _explain_ice_pwd(ln: _Line, ctx: _Ctx) -> str:
    n = len((ln.attr_value or "").strip())
    return (
        f"ICE password of {ctx.writer}, hidden here because it is a credential ({n} "
        f"characters). Connectivity checks sent to {ctx.writer} must be signed with it (STUN "
        "message integrity), so only someone who has read this description can make checks "
        f"{ctx.writer} accepts"
    )


def _explain_ice_options(ln: _Line, ctx: _Ctx) -> str:
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


def _explain_end_of_candidates(ln: _Line, ctx: _Ctx) -> str:
    return (
        f"end of candidates: {ctx.writer} has no more candidates for this section (gathering "
        "is finished)"
    )


def _explain_rtcp(ln: _Line, ctx: _Ctx) -> str:
    v = (ln.attr_value or "").strip()
    s = f"where RTCP (control and feedback packets) would go: {v}"
    if ctx.section is not None and ctx.section["rtcp_mux"]:
        s += (
            ". With a=rtcp-mux RTCP shares the RTP port, so this is a placeholder for peers "
            "that do not multiplex"
        )
    return s


def _explain_sctp_port(ln: _Line, ctx: _Ctx) -> str:
    v = (ln.attr_value or "").strip()
    return (
        f"the SCTP port of the data channel connection: {v}. It is a port inside SCTP (which "
        "runs inside DTLS), not a UDP port; 5000 is what everyone uses"
    )


def _explain_max_message_size(ln: _Line, ctx: _Ctx) -> str:
    v = _int(ln.attr_value)
    if v == 0:
        return f"{_cap(ctx.writer)} accepts data channel messages of any size (0 means no limit)"
    if v is None:
        return "the largest data channel message size (unreadable value)"
    kib = f" ({v / 1024:g} KiB)" if v >= 1024 else ""
    return f"the largest data channel message {ctx.writer} can receive: {v} bytes{kib}"


def _explain_sctpmap(ln: _Line, ctx: _Ctx) -> str:
    return (
        f"older way of describing the data channel transport: {ln.attr_value} (port, protocol, "
        "number of streams); newer peers write a=sctp-port instead"
    )


def _explain_rid(ln: _Line, ctx: _Ctx) -> str:
    t = (ln.attr_value or "").split()
    rid = t[0] if t else "?"
    d = t[1] if len(t) > 1 else ""
    return (
        f"restriction identifier (rid) '{rid}': names one encoding {ctx.writer} "
        f"{'sends' if d == 'send' else 'receives' if d == 'recv' else 'uses'}, e.g. one "
        "simulcast layer"
    )


def _explain_simulcast(ln: _Line, ctx: _Ctx) -> str:
    return (
        f"simulcast: the same video in several qualities at once (layers named by their rid): "
        f"{ln.attr_value}; a server forwards the one each viewer can take"
    )


_ATTRS: dict[str, Callable[[_Line, _Ctx], str]] = {
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


def _explain_line(ln: _Line, ctx: _Ctx) -> str:
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
        c = _connection(ln.value)
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
        if a in _DIRECTIONS:
            if ctx.section is None:
                return (
                    f"default direction {a} for every section that does not say its own "
                    f"(from {ctx.writer}'s point of view)"
                )
            return _direction_words(a, ctx)
        if a in _ATTRS:
            return _ATTRS[a](ln, ctx)
        if a in _SIMPLE_ATTRS:
            return _SIMPLE_ATTRS[a].format(writer=ctx.writer, Writer=_cap(ctx.writer))
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
    _check_type(type_)
    lines = _tokenize(text)
    session, media = _build(lines)
    writer, other = (offerer, answerer) if type_ == "offer" else (answerer, offerer)
    out: list[dict[str, Any]] = []
    for ln in lines:
        section = media[ln.section] if ln.section >= 0 else None
        ctx = _Ctx(type_, writer, other, session, media, section)
        shown = _mask_text(ln.raw)
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


# ---------------------------------------------------------------------------
# Offer / answer differences
# ---------------------------------------------------------------------------

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
_DIRECTIONS_KEYS = {f"a={d}" for d in _DIRECTIONS}
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


def _identity(ln: _Line) -> tuple[int, str, str]:
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


def _norm(ln: _Line) -> str:
    return " ".join(ln.raw.split())


def _m_status(o: _Line, a: _Line) -> str:
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


def _statuses(olines: list[_Line], alines: list[_Line]) -> tuple[list[str], list[str]]:
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
        olines = _tokenize(offer)
    except ValueError as e:
        raise ValueError(f"the offer is not SDP: {e}") from None
    try:
        alines = _tokenize(answer)
    except ValueError as e:
        raise ValueError(f"the answer is not SDP: {e}") from None
    osession, omedia = _build(olines)
    asession, amedia = _build(alines)
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
        ocodecs = _codec_names(om) if om else []
        acodecs = _codec_names(am) if am else []
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
        kw = _KIND_WORDS.get(kind, kind)
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
        dropped_ext = [_extmap_name(u) for u in oext if u not in aext]
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
