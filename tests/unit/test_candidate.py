"""nbrtc._signaling.candidate: the one reader of ICE candidate lines (pure, fast).

Lines as Chromium and aiortc write them (host, mDNS host, srflx, relay, TCP, IPv6, the
ufrag extension), bad lines refused in words, and the wire reading held to the rule
docs/protocol.md states for ``candidate.candidate`` (checked here against an
independent copy of that rule on generated lines).
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from aiortc.sdp import candidate_from_sdp, candidate_to_sdp
from hypothesis import given, settings
from hypothesis import strategies as st

from nbrtc._signaling.candidate import Candidate, candidate_body, parse_candidate

CHROME_HOST = (
    "candidate:2999745851 1 udp 2122260223 192.168.1.20 54400 typ host generation 0 "
    "ufrag Zq3F network-id 1 network-cost 10"
)
CHROME_MDNS = (
    "candidate:1467250027 1 udp 2122260223 7d1c9a0e-3f4b-4c1e-9a55-2b8f6e1d0c3a.local "
    "54321 typ host generation 0 ufrag Zq3F network-id 1"
)
CHROME_SRFLX = (
    "candidate:842163049 1 udp 1686052607 203.0.113.7 61234 typ srflx raddr 0.0.0.0 "
    "rport 0 generation 0 ufrag Zq3F network-id 1 network-cost 10"
)
CHROME_RELAY = (
    "candidate:3454839462 1 udp 41885439 198.51.100.9 60012 typ relay raddr 203.0.113.7 "
    "rport 61234 generation 0 ufrag Zq3F network-id 1 network-cost 10"
)
CHROME_TCP = (
    "candidate:3127624913 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active "
    "generation 0 ufrag Zq3F network-id 1"
)
CHROME_IPV6 = (
    "candidate:1234567890 1 udp 2122262783 2001:db8::5 51234 typ host generation 0 "
    "ufrag Zq3F network-id 2"
)


def test_chromium_host_line() -> None:
    assert parse_candidate(CHROME_HOST) == Candidate(
        foundation="2999745851",
        component=1,
        transport="udp",
        priority=2122260223,
        address="192.168.1.20",
        port=54400,
        type="host",
        generation=0,
        ufrag="Zq3F",
        network_id=1,
        network_cost=10,
    )


def test_chromium_mdns_host_keeps_its_local_name() -> None:
    c = parse_candidate(CHROME_MDNS)
    assert c.address == "7d1c9a0e-3f4b-4c1e-9a55-2b8f6e1d0c3a.local"
    assert (c.type, c.port, c.network_cost) == ("host", 54321, None)


def test_chromium_srflx_and_relay_carry_their_related_address() -> None:
    srflx = parse_candidate(CHROME_SRFLX)
    assert (srflx.type, srflx.related_address, srflx.related_port) == ("srflx", "0.0.0.0", 0)
    relay = parse_candidate(CHROME_RELAY)
    assert (relay.type, relay.address, relay.port) == ("relay", "198.51.100.9", 60012)
    assert (relay.related_address, relay.related_port) == ("203.0.113.7", 61234)
    assert relay.priority == 41885439


def test_chromium_tcp_and_ipv6() -> None:
    tcp = parse_candidate(CHROME_TCP)
    assert (tcp.transport, tcp.tcptype, tcp.port) == ("tcp", "active", 9)
    v6 = parse_candidate(CHROME_IPV6)
    assert (v6.address, v6.network_id, v6.ufrag) == ("2001:db8::5", 2, "Zq3F")


def test_prefixes_case_and_other_extensions() -> None:
    line = "a=candidate:2 2 UDP 41885438 2001:db8::5 3478 TYP RELAY x-custom yes x-more 1"
    c = parse_candidate(line)
    assert (c.component, c.transport, c.type) == (2, "udp", "relay")
    assert c.extensions == (("x-custom", "yes"), ("x-more", "1"))
    assert parse_candidate("  " + CHROME_HOST[len("candidate:") :] + "\r\n") == parse_candidate(
        CHROME_HOST
    )
    assert candidate_body("A=Candidate: 1 1 udp") == "1 1 udp"
    assert candidate_body("a=candidate:1 1 udp", wire=True) == "a=candidate:1 1 udp"
    assert candidate_body("candidate:1 1 udp", wire=True) == "1 1 udp"


def test_aiortc_form_round_trips() -> None:
    """The line aiortc writes for its own candidates (no prefix) reads back the same."""
    aio = candidate_from_sdp(
        "6815297761 1 udp 659136 10.0.0.1 5000 typ relay raddr 1.2.3.4 rport 9"
    )
    c = parse_candidate(candidate_to_sdp(aio))
    assert (c.foundation, c.address, c.port, c.type) == ("6815297761", "10.0.0.1", 5000, "relay")
    assert (c.related_address, c.related_port) == ("1.2.3.4", 9)


def test_candidate_is_frozen_and_to_dict_keeps_the_sdp_shape() -> None:
    c = parse_candidate(CHROME_TCP + " x-custom yes")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.port = 1  # type: ignore[misc]
    d = c.to_dict()
    assert d["protocol"] == "tcp" and "transport" not in d
    assert d["extensions"] == {"x-custom": "yes"}
    assert d["tcptype"] == "active" and d["related_port"] is None


LONG = "candidate:1 1 udp 5 10.0.0.1 5000 typ host " + "x-pad " * 40 + "x-last"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("", "end of candidates"),
        ("candidate:   ", "end of candidates"),
        ("candidate:1 1 udp 5 10.0.0.1 5000", "only 6 fields"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 type host", "the word 'typ'"),
        ("candidate:1 0 udp 5 10.0.0.1 5000 typ host", "component must be a number from 1"),
        ("candidate:1 257 udp 5 10.0.0.1 5000 typ host", "component must be a number from 1"),
        ("candidate:1 ¹ udp 5 10.0.0.1 5000 typ host", "component must be a number"),
        ("candidate:1 1 udp 4294967296 10.0.0.1 5000 typ host", "below 2**32"),
        ("candidate:1 1 udp ٩ 10.0.0.1 5000 typ host", "priority"),
        ("candidate:1 1 udp 5 10.0.0.1 65536 typ host", "port must be 0 to 65535"),
        ("candidate:1 1 udp 5 10.0.0.1 00000005000 typ host", "port must be 0 to 65535"),
        ("candidate:a=b 1 udp 5 10.0.0.1 5000 typ host", "foundation must be 1 to 32"),
        ("candidate:" + "f" * 33 + " 1 udp 5 10.0.0.1 5000 typ host", "foundation"),
        ("candidate:1 1 u(p 5 10.0.0.1 5000 typ host", "transport must be a word"),
        ("candidate:1 1 udp 5 999.1.1.1 5000 typ host", "address must be an IP address"),
        ("candidate:1 1 udp 5 bad_name.local 5000 typ host", "or a host name"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ h@st", "type must be a word"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ srflx raddr", "has no value"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ srflx raddr x_y", "raddr must be an IP"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ srflx rport x", "rport must be a whole number"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ srflx rport 70000", "rport must be a port"),
        ("candidate:1 1 tcp 5 10.0.0.1 9 typ host tcptype sideways", "'active', 'passive'"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ host generation -1", "generation must be"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ host network-cost ten", "network-cost must"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ host ufrag ab", "ufrag must be 4 to 256"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ host x@y 1", "extension name 'x@y'"),
    ],
)
def test_bad_lines_are_refused_in_words(line: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_candidate(line)
    assert words in str(info.value)


def test_errors_quote_at_most_120_characters() -> None:
    with pytest.raises(ValueError) as info:
        parse_candidate(LONG)
    assert "'x-last' has no value" in str(info.value)
    assert LONG[:117] + "..." in str(info.value) and LONG not in str(info.value)


def test_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a string, not bytes"):
        parse_candidate(b"candidate:1 1 udp 5 10.0.0.1 5000 typ host")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# The wire reading (docs/protocol.md, candidate.candidate)
# ---------------------------------------------------------------------------


def test_wire_leaves_the_free_fields_to_aioice() -> None:
    """What the protocol has always accepted (aioice drops what it cannot use): odd
    foundation, transport, address and type; a malformed extension is left out."""
    line = "candidate:candidate:1 1 sctp 5 999.1.1.1 5000 typ x generation x ufrag Zq3F raddr"
    c = parse_candidate(line, wire=True)
    assert (c.foundation, c.transport, c.address, c.type) == (
        "candidate:1",
        "sctp",
        "999.1.1.1",
        "x",
    )
    assert (c.generation, c.ufrag, c.related_address) == (None, "Zq3F", None)
    for strict_only in (line, "candidate:1 1 udp 5 10.0.0.1 5000 typ host ufrag ab"):
        with pytest.raises(ValueError):
            parse_candidate(strict_only)
    assert (
        parse_candidate("candidate:1 1 udp 5 10.0.0.1 5000 typ host ufrag ab", wire=True).ufrag
        is None
    )


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("candidate:1 1 udp 5 10.0.0.1 5000 TYP host", "the word 'typ'"),
        ("candidate:1 1 udp 5 10.0.0.1 0 typ host", "port must be 1 to 65535"),
        ("candidate:1 1 udp 5 10.0.0.1 \u0665\u0660 typ host", "port must be 1 to 65535"),
        ("candidate:1 1 udp", "only 3 fields"),
    ],
)
def test_wire_refuses_what_the_protocol_refuses(line: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_candidate(line, wire=True)
    assert words in str(info.value)
    if "TYP" in line or " 0 typ" in line:  # the SDP reading takes these (RFC 8839 grammar)
        parse_candidate(line)


_DIGITS = re.compile(r"[0-9]{1,10}")


def _doc_rule(text: str) -> bool:
    """docs/protocol.md, written out independently: after an optional ``candidate:``
    prefix at least 8 tokens, the 7th ``typ``; component 1-256, priority below 2^32 and
    port 1-65535 in the digits 0-9."""
    tokens = (text[len("candidate:") :] if text.startswith("candidate:") else text).split()
    if len(tokens) < 8 or tokens[6] != "typ":
        return False
    if not all(_DIGITS.fullmatch(tokens[i]) for i in (1, 3, 5)):
        return False
    return 1 <= int(tokens[1]) <= 256 and int(tokens[3]) < 2**32 and 0 < int(tokens[5]) <= 65535


_TOKENS = st.sampled_from(
    ["candidate:", "typ", "TYP", "udp", "host", "ufrag", "generation", "raddr", "rport", "x.local"]
) | st.sampled_from(["0", "1", "256", "257", "65535", "65536", "4294967296", "٩", "¹", "007"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS | st.text(min_size=1, max_size=4), min_size=6, max_size=12), st.booleans())
def test_wire_reading_is_the_documented_rule(tokens: list[str], prefix: bool) -> None:
    text = ("candidate:" if prefix else "") + " ".join(tokens)
    try:
        parse_candidate(text, wire=True)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == _doc_rule(text), text
