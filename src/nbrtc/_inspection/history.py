"""``History``: the time-stamped record of one stream, for ``history()`` and the Inspector.

What is recorded: every protocol message in each direction (type, size, a one-line
summary), every state change of either side (the kernel stream's state; the
RTCPeerConnection states of the kernel's aiortc peer and of the browser's peer), and
every teaching action (``set_network``, ``set_codec``, ``restart_ice``...). Frequent
chatter (``ping``, ``stats``) goes to a short ring of its own so that hours of pings never
push the offer and answer out of the record.

Thread-safe: the media loop and the comm handler append, any thread reads. Never records
an ICE password or any other credential (summaries name candidates, never ``ice-pwd``).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from .._signaling.candidate import parse_candidate

#: message types that arrive every second or faster: kept apart, in a short ring
CHATTER = frozenset({"ping", "stats"})
#: media over the comm (tens a second): only counted (``counts``), never kept as events,
#: so frames cannot push the signaling out of the history
COUNTED_ONLY = frozenset({"frame", "frame-ack", "audio", "audio-ack"})
MAX_EVENTS = 5000
MAX_CHATTER = 300


class History:
    """Events of one stream (plain dicts, oldest first)."""

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.t0 = time.time()
        self._mono0 = time.monotonic()
        self._lock = threading.Lock()
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_EVENTS)
        self._chatter: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_CHATTER)
        self._seq = 0
        self.counts: collections.Counter[str] = collections.Counter()

    def _add(self, event: dict[str, Any], chatter: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            self._seq += 1
            event = {
                "seq": self._seq,
                "t": round(self.t0 + (now - self._mono0), 4),
                "rel": round(now - self._mono0, 4),
                "stream": self.stream_id,
                **event,
            }
            (self._chatter if chatter else self._events).append(event)
        return event

    def message(self, direction: str, type_: str, size: int, payload: Any) -> None:
        """A protocol message: ``direction`` "in" (browser -> kernel) or "out"."""
        self.counts[f"{direction}:{type_}"] += 1
        if type_ in COUNTED_ONLY:
            return
        self._add(
            {
                "event": "message",
                "dir": direction,
                "type": type_,
                "size": int(size),
                "summary": summarize(type_, payload),
            },
            chatter=type_ in CHATTER,
        )

    def state(self, side: str, what: str, state: str, detail: str = "") -> None:
        """A state change: ``side`` "kernel" or "browser"; ``what`` one of "stream",
        "signaling", "gathering", "ice", "connection"."""
        self._add({"event": "state", "side": side, "what": what, "state": state, "detail": detail})

    def action(self, action: str, args: dict[str, Any], result: str = "") -> None:
        """A teaching action (set_network, set_codec, set_max_bitrate, restart_ice...)."""
        self._add({"event": "action", "action": action, "args": dict(args), "result": result})

    def note(self, text: str) -> None:
        """Anything else worth a line in the lesson (e.g. "ICE restarted: new ufrag")."""
        self._add({"event": "note", "summary": text})

    def events(self, chatter: bool = False) -> list[dict[str, Any]]:
        """Copies of the events, oldest first; with ``chatter`` also the newest pings/stats."""
        with self._lock:
            out = list(self._events)
            if chatter:
                out.extend(self._chatter)
        if chatter:
            out.sort(key=lambda e: e["seq"])
        return [dict(e) for e in out]

    def since(self, seq: int, chatter: bool = False) -> list[dict[str, Any]]:
        """Events newer than ``seq`` (for incremental consumers such as the Inspector)."""
        return [e for e in self.events(chatter) if e["seq"] > seq]


def summarize(type_: str, payload: Any) -> str:
    """One line a learner can read for a protocol message (never a credential)."""
    try:
        return _summary(type_, payload)
    except Exception:  # a summary must never break recording
        return type_


def _summary(type_: str, payload: Any) -> str:
    p = payload if isinstance(payload, dict) else {}
    if type_ in ("offer", "answer", "reoffer"):
        sdp = p.get("sdp") or ""
        kinds = [line.split()[0][2:] for line in sdp.splitlines() if line.startswith("m=")]
        cands = sum(1 for line in sdp.splitlines() if line.startswith("a=candidate"))
        extra = f", kind {p['kind']}" if p.get("kind") else ""
        reason = f" ({p['reason']})" if p.get("reason") else ""
        return (
            f"{type_}{reason}: {len(kinds)} sections ({', '.join(kinds)}), "
            f"{cands} candidates in the SDP{extra}"
        )
    if type_ == "candidate":
        if payload is None or not p.get("candidate"):
            return "end of candidates"
        return describe_candidate(p["candidate"])
    if type_ == "state":
        if "state" in p:
            return f"stream {p['state']}" + (f": {p['detail']}" if p.get("detail") else "")
        return " ".join(f"{k}={v}" for k, v in p.items() if k != "peer")
    if type_ == "stats":
        same = p.get("same")
        kept = f" (+{len(same)} unchanged)" if isinstance(same, list) and same else ""
        return f"{len(p.get('reports') or [])} reports{kept}"
    if type_ == "bye":
        return f"bye: {p.get('reason', '')}".rstrip(": ")
    if type_ == "error":
        if "code" in p:
            return f"{p['code']}: {p.get('message', '')}"
        return f"{p.get('name', '')}: {p.get('message', '')}"
    if type_ == "renegotiate":
        return ("ICE restart, " if p.get("ice_restart") else "") + str(p.get("reason", ""))
    if type_ == "ping":
        # the kernel's ping that asks a quiet page to answer through the comm (liveness.py)
        return "ping (asks for an answer through the comm)" if p.get("ask") is True else "ping"
    if type_ == "devices":
        return f"{len(payload) if isinstance(payload, list) else 0} devices"
    if type_ == "signal":
        data = p.get("data") or {}
        peer = p.get("to") or p.get("from") or "?"
        return f"{data.get('type', '?')} for {peer}"
    if type_ == "members":
        return f"{len(p.get('members') or [])} members"
    return type_


def describe_candidate(line: str) -> str:
    """``candidate:... typ host ...`` -> "host udp 192.168.1.5:50000 (priority ...)".

    Read as the protocol takes it (``parse_candidate(wire=True)``); a line the protocol
    would refuse is "candidate (unparsed)"."""
    try:
        c = parse_candidate(line, wire=True)
    except ValueError:
        return "candidate (unparsed)"
    return f"{c.type} {c.transport} {c.address}:{c.port} (priority {c.priority})"
