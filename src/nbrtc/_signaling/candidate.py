"""One reader for ICE candidate lines (RFC 8839 ``candidate`` attributes).

Every place in nbrtc that reads a candidate line reads it here: the SDP inspector
(``a=candidate:`` lines of an offer or answer), the protocol's validation of a browser's
``candidate`` message, the history's one-line summaries and the stream that hands a
trickled candidate to aiortc. :func:`parse_candidate` returns a frozen
:class:`Candidate` or raises ValueError saying what is wrong and what a candidate looks
like.

Two readings, one parser (``wire``):

- ``wire=False`` (the default, for SDP text and lessons) checks the whole grammar:
  foundation, component, transport, priority, address (an IP address or a host name
  such as an mDNS ``.local`` name), port, type, and the ``raddr``/``rport``,
  ``tcptype``, ``generation``, ``ufrag``, ``network-id``/``network-cost`` extensions
  plus well-formed name/value pairs for any other extension.
- ``wire=True`` is the rule of ``docs/protocol.md`` for ``candidate.candidate``: an
  optional ``candidate:`` prefix, at least eight tokens, the seventh exactly ``typ``,
  component 1-256, priority below 2**32 and port 1-65535 written in the digits 0-9.
  Those are the fields aiortc's own parser reads, and it asserts (instead of raising)
  on less; a port over 65535 would make asyncio close aioice's sockets for every local
  candidate. The rest of the line is not checked on the wire, because aioice drops a
  candidate it cannot use (an unknown type, an unresolvable address) and the protocol
  has always let it: refusing more would change which messages the kernel accepts. Known
  extensions are still read when well-formed (the stream needs ``ufrag``); malformed
  ones are left out, as aioice leaves them.

Pure: strings in, values out; no I/O, logging or global state. Safe from any thread.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Candidate", "candidate_body", "parse_candidate"]

#: the shape the errors quote
CANDIDATE_FORM = (
    "'candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...'"
)
#: a number field: ASCII digits only (str.isdigit also takes "٩" or "¹", and int() would
#: read them), at most 10 of them (2**32 has 10 digits; int() of thousands is slow)
_NUMBER = re.compile(r"[0-9]{1,10}")
#: RFC 8839 ice-char = ALPHA / DIGIT / "+" / "/"; a foundation has 1 to 32 of them
_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}")
#: RFC 8839 ice-ufrag = 4*256ice-char
_UFRAG = re.compile(r"[A-Za-z0-9+/]{4,256}")
#: RFC 8866 token (transport, candidate type and extension names)
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]{1,64}")
#: one label of a host name (RFC 1123): letters, digits and inner hyphens
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TCPTYPES = ("active", "passive", "so")
#: extensions read into their own field: name -> (field, kind of value)
_KNOWN = {
    "raddr": ("related_address", "address"),
    "rport": ("related_port", "port"),
    "tcptype": ("tcptype", "tcptype"),
    "generation": ("generation", "number"),
    "ufrag": ("ufrag", "ufrag"),
    "network-id": ("network_id", "number"),
    "network-cost": ("network_cost", "number"),
}


@dataclass(frozen=True)
class Candidate:
    """One ICE candidate, as :func:`parse_candidate` read it.

    ``transport`` and ``type`` are lowercase ("udp"/"tcp"; "host", "srflx", "prflx" or
    "relay"); ``address`` is an IP address or a host name (an mDNS ``.local`` name
    from a browser that hides its addresses). The extension fields are None when the
    line does not carry them; ``extensions`` holds any other name/value pairs, in order.
    """

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    tcptype: str | None = None
    generation: int | None = None
    ufrag: str | None = None
    network_id: int | None = None
    network_cost: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data in the shape ``ParsedSDP.candidates`` has always had: the fields
        by name, except that ``transport`` is called ``protocol`` (as in the browser's
        ``RTCIceCandidate.protocol``) and ``extensions`` is a dict."""
        return {
            "foundation": self.foundation,
            "component": self.component,
            "protocol": self.transport,
            "priority": self.priority,
            "address": self.address,
            "port": self.port,
            "type": self.type,
            "related_address": self.related_address,
            "related_port": self.related_port,
            "tcptype": self.tcptype,
            "generation": self.generation,
            "ufrag": self.ufrag,
            "network_id": self.network_id,
            "network_cost": self.network_cost,
            "extensions": dict(self.extensions),
        }


def candidate_body(line: str, *, wire: bool = False) -> str:
    """``line`` without its prefix: ``candidate:`` on the wire (the browser's
    ``RTCIceCandidate.candidate``, exactly so); ``a=candidate:`` or ``candidate:`` in
    any case otherwise (an SDP line or its attribute value)."""
    if wire:
        return line[len("candidate:") :] if line.startswith("candidate:") else line
    text = line.strip()
    for prefix in ("a=candidate:", "candidate:"):
        if text.lower().startswith(prefix):
            return text[len(prefix) :].strip()
    return text


def parse_candidate(line: str, *, wire: bool = False) -> Candidate:
    """Read one ICE candidate line into a :class:`Candidate`.

    Accepts ``"candidate:..."`` (as in the browser's ``RTCIceCandidate.candidate``) or
    the bare attribute value; with ``wire=False`` also ``"a=candidate:..."``. What is
    checked depends on ``wire`` (see the module docstring). Raises TypeError when
    ``line`` is not a string and ValueError naming the field and quoting the line
    (at most 120 characters of it) when it is not a well-formed candidate; an empty
    line is "end of candidates", not a candidate, and raises too.
    """
    if not isinstance(line, str):
        raise TypeError(f"a candidate must be a string, not {type(line).__name__}")
    text = candidate_body(line, wire=wire)
    stripped = line.strip()
    shown = stripped if len(stripped) <= 120 else stripped[:117] + "..."
    tokens = text.split()
    if not tokens:
        raise ValueError(
            "an empty candidate is not a candidate: browsers send an empty string to say "
            "'no more candidates' (end of candidates)"
        )
    if len(tokens) < 8:
        raise ValueError(
            f"not an ICE candidate: expected {CANDIDATE_FORM}, but {shown!r} has only "
            f"{len(tokens)} fields"
        )
    foundation, component, transport, priority, address, port, keyword, type_ = tokens[:8]
    # browsers' own parsers take the keyword only in lowercase; RFC 8839's grammar takes
    # any case, and so does the SDP inspector
    if (keyword if wire else keyword.lower()) != "typ":
        raise ValueError(
            f"not an ICE candidate: expected the word 'typ' after the port (field 7) in "
            f"{shown!r}, found {keyword!r}"
        )
    if not _NUMBER.fullmatch(component) or not 1 <= int(component) <= 256:
        raise ValueError(
            f"ICE candidate component must be a number from 1 to 256 (1 = RTP, 2 = RTCP), "
            f"got {component!r} in {shown!r}"
        )
    if not _NUMBER.fullmatch(priority) or int(priority) >= 2**32:
        raise ValueError(
            f"ICE candidate priority must be a whole number below 2**32, got {priority!r} "
            f"in {shown!r}"
        )
    lowest = 1 if wire else 0  # port 0 is no address the kernel's ICE agent can send to
    if not _NUMBER.fullmatch(port) or not lowest <= int(port) <= 65535:
        raise ValueError(f"ICE candidate port must be {lowest} to 65535, got {port!r} in {shown!r}")
    if not wire:
        _check_fixed(foundation, transport, address, type_, shown)
    fields: dict[str, Any] = {}
    extensions: list[tuple[str, str]] = []
    rest = tokens[8:]
    if len(rest) % 2 and not wire:
        raise ValueError(
            f"ICE candidate extension {rest[-1]!r} has no value in {shown!r} (extensions "
            f"come as name value pairs, e.g. 'generation 0')"
        )
    for name, value in zip(rest[::2], rest[1::2], strict=False):
        known = _KNOWN.get(name.lower())
        try:
            if known is None:
                if not wire and not _TOKEN.fullmatch(name):
                    raise ValueError(
                        f"ICE candidate extension name {name!r} is not a name (letters, "
                        f"digits and -._ and the like) in {shown!r}"
                    )
                extensions.append((name, value))
            else:
                fields[known[0]] = _extension(name, value, known[1], shown)
        except ValueError:
            if not wire:
                raise
            # on the wire a malformed extension is left out, as aioice leaves it
    return Candidate(
        foundation=foundation,
        component=int(component),
        transport=transport.lower(),
        priority=int(priority),
        address=address,
        port=int(port),
        type=type_.lower(),
        extensions=tuple(extensions),
        **fields,
    )


def _check_fixed(foundation: str, transport: str, address: str, type_: str, shown: str) -> None:
    """The grammar of the fixed fields that the wire reading leaves to aioice."""
    if not _FOUNDATION.fullmatch(foundation):
        raise ValueError(
            f"ICE candidate foundation must be 1 to 32 letters, digits, '+' or '/', got "
            f"{foundation!r} in {shown!r}"
        )
    if not _TOKEN.fullmatch(transport):
        raise ValueError(
            f"ICE candidate transport must be a word such as 'udp' or 'tcp', got "
            f"{transport!r} in {shown!r}"
        )
    if not _is_address(address):
        raise ValueError(
            f"ICE candidate address must be an IP address or a host name (e.g. an mDNS "
            f"'.local' name), got {address!r} in {shown!r}"
        )
    if not _TOKEN.fullmatch(type_):
        raise ValueError(
            f"ICE candidate type must be a word such as 'host', 'srflx', 'prflx' or "
            f"'relay', got {type_!r} in {shown!r}"
        )


def _extension(name: str, value: str, kind: str, shown: str) -> str | int:
    """The value of a known extension, checked; ValueError in words when it is bad."""
    if kind == "number":
        if not _NUMBER.fullmatch(value):
            raise ValueError(
                f"ICE candidate {name} must be a whole number, got {value!r} in {shown!r}"
            )
        return int(value)
    if kind == "port":
        if not _NUMBER.fullmatch(value):
            raise ValueError(
                f"ICE candidate {name} must be a whole number, got {value!r} in {shown!r}"
            )
        if int(value) > 65535:
            raise ValueError(
                f"ICE candidate {name} must be a port, 0 to 65535, got {value!r} in {shown!r}"
            )
        return int(value)
    if kind == "tcptype":
        if value.lower() not in _TCPTYPES:
            raise ValueError(
                f"ICE candidate tcptype must be 'active', 'passive' or 'so', got {value!r} "
                f"in {shown!r}"
            )
        return value.lower()
    if kind == "ufrag":
        if not _UFRAG.fullmatch(value):
            raise ValueError(
                f"ICE candidate ufrag must be 4 to 256 letters, digits, '+' or '/', got "
                f"{value!r} in {shown!r}"
            )
        return value
    if not _is_address(value):  # kind == "address"
        raise ValueError(
            f"ICE candidate {name} must be an IP address or a host name, got {value!r} in {shown!r}"
        )
    return value


def _is_address(text: str) -> bool:
    """Whether ``text`` is an IPv4/IPv6 address or a host name (RFC 8839
    connection-address; browsers that hide their addresses write mDNS ``.local``
    names). Dotted digits must be a valid IPv4 address: "999.1.1.1" is neither."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        pass
    name = text.removesuffix(".")
    if not name or len(name) > 253 or re.fullmatch(r"[0-9.]+", name):
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))
