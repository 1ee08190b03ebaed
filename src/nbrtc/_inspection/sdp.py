"""Read WebRTC session descriptions (SDP) and explain them in plain words.

This module powers the teaching Inspector: it turns the offer and answer of a live
connection into plain data (dicts and lists that fit in a pandas DataFrame), explains
every line for a learner, and marks how the answer differs from the offer.

It is the front door of four modules, each one concept:

- ``_sdp_lines``: SDP text split into classified lines (and refused when it is not SDP);
- ``_sdp_parse``: :func:`parse` and :class:`ParsedSDP`, the parsed description;
- ``_sdp_words`` (with ``_sdp_words_media``): :func:`annotate`, every line in words;
- ``_sdp_diff``: :func:`diff`, what the answer kept, changed or dropped of the offer.

ICE candidate lines are read by :mod:`nbrtc._signaling.candidate`, the one candidate parser.

All of it is pure: strings in, plain data out. No I/O, no logging, no global state,
nothing from the rest of nbrtc. The ICE password (``a=ice-pwd``) is a credential: it is
kept only in :attr:`ParsedSDP.text` (the text you passed in) and never appears in
:meth:`ParsedSDP.to_dict`, ``repr()``, :func:`annotate`, :func:`diff` or an error
message; only its length is reported. SRTP keys in ``a=crypto`` lines are masked the
same way.

Public API: :func:`parse`, :class:`ParsedSDP`, :func:`parse_candidate`,
:func:`annotate`, :func:`diff`.
"""

from __future__ import annotations

from typing import Any

from .._signaling import candidate as _candidate
from .sdp_diff import diff
from .sdp_parse import ParsedSDP, parse
from .sdp_words import annotate

__all__ = ["ParsedSDP", "annotate", "diff", "parse", "parse_candidate"]


def parse_candidate(line: str) -> dict[str, Any]:
    """Parse one ICE candidate (RFC 8839) into plain data, as ``ParsedSDP.candidates``
    holds them.

    Accepts ``"a=candidate:..."``, ``"candidate:..."`` (as in the browser's
    ``RTCIceCandidate.candidate``) or the bare attribute value. Returns a dict with
    ``foundation`` (str), ``component`` (int, 1 = RTP, 2 = RTCP), ``protocol``
    (lowercase, "udp" or "tcp"), ``priority`` (int), ``address`` (IP address or mDNS
    ``.local`` name), ``port`` (int), ``type`` ("host", "srflx", "prflx" or "relay"),
    ``related_address``, ``related_port``, ``tcptype``, ``generation``, ``ufrag``,
    ``network_id``, ``network_cost`` (None when absent) and ``extensions`` (a dict of
    any other name/value pairs). Raises ValueError naming the problem when the line
    is not a well-formed candidate (see :func:`nbrtc._signaling.candidate.parse_candidate`).
    """
    return _candidate.parse_candidate(line).to_dict()
