"""A room's members and what the kernel reads from their reports (pure; used by
``Room``, room.py): one member as the kernel knows it, the room's history lines, the
arguments' checks, and the summary of a member's filtered getStats sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .._inspection.history import History
from .._sfu.room_server import SERVER_PEER

#: the most members a room may be made for (``max_members``)
MAX_MEMBERS_LIMIT = 64
#: a link's state is the worse of its two sides' connectionState; unknown counts as new
PC_RANK = {"failed": 0, "closed": 1, "disconnected": 2, "new": 3, "connecting": 4, "connected": 5}


@dataclass
class Member:
    """One member (one view in one page) as the kernel knows it. Media loop writes."""

    id: str
    page: str
    view: str
    seq: int
    since: float  # epoch seconds of the join
    #: the key of the page that joined (docs/protocol.md "Trust"); never shown
    key: str = field(default="", repr=False)
    #: idle-kernel seconds since it last said anything (PeerManager.browser_silent)
    silence: float = 0.0
    #: its own pc towards each other member: {"connection", "ice", "signaling", "gathering"}
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    #: what its getStats said about its pc towards each other member (see summarize)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""

    def state(self, others: int) -> str:
        if self.error:
            return "error"
        if any(s.get("connection") == "connected" for s in self.links.values()):
            return "live"
        return "connecting" if others else "waiting"


class RoomHistory(History):
    """A room's record: joins, leaves, every relayed signal, refusals and link states."""

    def member(self, event: str, member: Member, reason: str = "") -> None:
        """``event`` "join" or "leave"."""
        self.counts[event] += 1
        self._add(
            {
                "event": event,
                "member": member.id,
                "page": member.page,
                "seq": member.seq,
                "reason": reason,
                "summary": f"{member.id} {'joined' if event == 'join' else 'left'}"
                + (f" ({reason})" if reason else ""),
            }
        )

    def relay(self, type_: str, sender: str, to: str, size: int) -> None:
        """A signal the kernel passed from ``sender`` to ``to`` (``size`` bytes in)."""
        self.counts[f"relay:{type_}"] += 1
        self._add(
            {
                "event": "signal",
                "type": type_,
                "from": sender,
                "to": to,
                "size": int(size),
                "summary": f"{type_} {sender} -> {to} ({size} bytes)",
            }
        )

    def refused(self, member: str, type_: str, code: str, why: str) -> None:
        self.counts[f"refused:{code}"] += 1
        self._add(
            {
                "event": "refused",
                "member": member,
                "type": type_,
                "code": code,
                "summary": f"{type_} from {member} refused: {code}: {why}",
            }
        )


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError(f"name must be a non-empty string of at most 64 characters, got {value!r}")
    if not value.isprintable():
        raise ValueError(f"name must be printable text, got {value!r}")
    return value


def check_max_members(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= MAX_MEMBERS_LIMIT:
        raise ValueError(
            f"max_members must be an integer from 2 to {MAX_MEMBERS_LIMIT} (a full mesh of "
            f"n members needs n-1 connections per browser), got {value!r}"
        )
    return value


def candidate_of(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    return {
        "address": report.get("address") or report.get("ip"),
        "port": report.get("port"),
        "protocol": report.get("protocol"),
        "type": report.get("candidateType"),
    }


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0.0
    return float(value)


def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One pc's filtered getStats -> selected candidate pair, media bytes, RTT."""
    by_id = {r["id"]: r for r in reports}
    pair = None
    for r in reports:
        if r["type"] == "transport" and r.get("selectedCandidatePairId") in by_id:
            pair = by_id[r["selectedCandidatePairId"]]
            break
    if pair is None:
        pairs = [
            r
            for r in reports
            if r["type"] == "candidate-pair"
            and (
                r.get("selected") is True or (r.get("nominated") and r.get("state") == "succeeded")
            )
        ]
        pair = pairs[0] if pairs else None
    selected = None
    rtt_ms = None
    if pair is not None:
        local = candidate_of(by_id.get(pair.get("localCandidateId", "")))
        remote = candidate_of(by_id.get(pair.get("remoteCandidateId", "")))
        if local or remote:
            selected = {"local": local, "remote": remote}
        if isinstance(pair.get("currentRoundTripTime"), (int, float)):
            rtt_ms = round(number(pair["currentRoundTripTime"]) * 1000, 2)
    sent = sum(number(r.get("bytesSent")) for r in reports if r["type"] == "outbound-rtp")
    received = sum(number(r.get("bytesReceived")) for r in reports if r["type"] == "inbound-rtp")
    frames = sum(number(r.get("framesDecoded")) for r in reports if r["type"] == "inbound-rtp")
    return {
        "selected": selected,
        "bytes_sent": int(sent),
        "bytes_received": int(received),
        "frames_decoded": int(frames),
        "rtt_ms": rtt_ms,
        "at": time.time(),
    }


def server_links(members: list[Member]) -> list[dict[str, Any]]:
    """Each member's links to the server (``members`` in join order): ``a`` the member,
    ``b`` "janus", ``direction`` "send" (its camera, published once) or "receive" (``feed``:
    the member whose camera it receives); ``state``, ``selected``, ``bytes_sent``,
    ``bytes_received`` and ``rtt_ms`` from that member's own getStats of the link."""
    out = []
    for m in members:
        for peer in [SERVER_PEER, *(o for o in m.links if o != SERVER_PEER)]:
            st = m.stats.get(peer)
            out.append(
                {
                    "a": m.id,
                    "b": "janus",
                    "direction": "send" if peer == SERVER_PEER else "receive",
                    "feed": m.id if peer == SERVER_PEER else peer,
                    "state": m.links.get(peer, {}).get("connection", "new"),
                    "selected": dict(st["selected"]) if st and st["selected"] else None,
                    "bytes_sent": st["bytes_sent"] if st else 0,
                    "bytes_received": st["bytes_received"] if st else 0,
                    "rtt_ms": st["rtt_ms"] if st else None,
                }
            )
    return out
