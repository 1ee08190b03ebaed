"""``Room``: browsers talk to each other directly; the kernel is only their signaling server.

Every view of a room (two views in one page, or views in several tabs on this kernel) is
a *member*. Members form a full mesh: each has one RTCPeerConnection to every other
member, sending its camera. The kernel holds no peer connection at all: it keeps the
member list, relays each member's offer/answer/candidates to the member they are for,
and collects what the browsers report (connection states, filtered getStats) so that
Python can show where the media really flows.

Threads:
- Every membership change and every relayed message happens on the media loop
  (``_own_message``, the room's registered handler of every message type: the manager
  calls it for each validated message addressed to this widget). One thread applying
  changes in arrival order is what makes concurrent joins and leaves safe: each change is
  applied completely, then the complete member list goes to every member.
- ``members()``, ``links()``, ``relayed_bytes``, ``history()`` and ``_inspect_data()``
  read from any thread under ``_lock``.
- ``close()`` is idempotent and safe from any thread; it waits up to 1 s for the media
  loop to say ``bye`` to every member.

Protocol (docs/protocol.md, "Rooms"): ``join`` / ``signal`` / ``state`` (with ``peer``) /
``stats`` (with ``peer``) / ``ping`` / ``bye`` / ``error`` from the browser; ``members`` /
``signal`` / ``state`` / ``ping`` / ``bye`` / ``error`` to it. For each pair of members the
one with the higher ``seq`` (the later joiner) makes the offer, so offers never cross.

Through a media server (``Room(name, server=janus)``, docs/protocol.md "Rooms through a
media server"): membership, liveness and teardown are the same, but each member's ``signal``
goes to Janus, not to another member: ``_sfu/room_server.py`` (``RoomServer``) holds the
videoroom and every member's handles, and this class delegates to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

import traitlets

from .._checks import dimension, rate
from .._config import IceServerSpec
from .._sfu.room_server import SERVER_PEER, STEP_TIMEOUT, RoomServer, check_server
from .._signaling import liveness
from .._signaling.protocol import Message, ProtocolError, make_message
from .._signaling.tombstones import Tombstones
from ..errors import (
    NotDisplayedError,
    StreamClosedError,
    StreamError,
    StreamTimeoutError,
)
from .base import CLOSE_WAIT, SignalingPort, SignalingWidget
from .room_members import (
    PC_RANK,
    Member,
    RoomHistory,
    check_max_members,
    check_name,
    server_links,
    summarize,
)
from .room_refusals import KernelPeerRefusals

if TYPE_CHECKING:
    from .._sfu.janus import Janus

log = logging.getLogger("nbrtc")

#: room states: "new" (no members), "connecting" (members, no connected link), "live" (at
#: least one link connected on both sides), "error" (a member failed and nothing is live
#: since), "closed" (after close())
ROOM_STATES = ("new", "connecting", "live", "error", "closed")
#: members one page may have in one room (its views of the room): a page cannot fill it
MAX_MEMBERS_PER_PAGE = 8


class RoomPort(SignalingPort):
    """A Room as the manager, the Inspector and its ``RoomServer`` (``room_server.Hooks``)
    see it. The hooks run on the media loop."""

    _widget: Room

    def inspect_data(self) -> dict[str, Any]:
        """Plain data for the Inspector's ``room`` trait (any thread)."""
        return self._widget._inspect_data()

    def send_signal(self, to: str, sender: str, data: dict[str, Any]) -> None:
        """Janus's SDP for member ``to`` (``sender``: ``server`` or the feed's member)."""
        if self._widget._closed or to not in self._widget._members:
            return
        size = len(data.get("sdp", ""))
        self._widget._history.relay(str(data.get("type")), f"janus:{sender}", to, size)
        self._widget._send_protocol(make_message("signal", to, {"from": sender, "data": data}))

    def seat_failed(self, member: str, words: str, full: bool) -> None:
        """Member ``member`` cannot take part: its page fails in words, it leaves, and the
        room keeps the words as its error."""
        room = self._widget
        with room._lock:
            m = room._members.get(member)
        if m is None:
            return
        log.warning("room %s: %s: %s", room.name, member, words)
        room._refuse(member, "join", "limit" if full else "closed", words)
        room._room_error = StreamError(words)
        room._room_error_at = time.monotonic()
        room._leave(m, "limit" if full else "server", notify=True)

    def note(self, words: str) -> None:
        log.warning("room %s: %s", self._widget.name, words)
        self._widget._history.note(words)


class Room(KernelPeerRefusals, SignalingWidget):
    """A video room: every view of it, in any tab on this kernel, joins the same mesh.

    ``room = nbrtc.Room("lesson"); room`` in one cell, then ``room`` in a new cell of the
    same notebook opened in another tab (or a second view in the same page): each view
    opens its camera and connects directly to every other view's browser. The kernel only
    relays the signaling (``room.relayed_bytes``) and holds no peer connection.

    ``members()``, ``links()`` and ``history()`` show who is in, how each pair connected
    (the selected ICE candidates and the media bytes, from the browsers' own getStats),
    and every signal the kernel relayed. ``wait_members(n)`` / ``wait_members_async(n)`` wait
    for ``n`` members. ``close()`` (or re-running the cell) ends every member's
    connections and stops every camera.

    ``server=nbrtc.Janus(url)``: the media goes through a private Janus videoroom instead
    (each member uploads its camera once and receives the others from Janus); membership,
    ``links()`` (each member's links to the server) and teardown work the same, and
    ``close()`` also destroys the videoroom and its Janus session.
    """

    _kind = "room"
    name = traitlets.Unicode("", help="The room's name (logs, the Inspector).").tag(sync=True)
    width = traitlets.Int(320, help="Each member's camera width, pixels.").tag(sync=True)
    height = traitlets.Int(240, help="Each member's camera height, pixels.").tag(sync=True)
    frame_rate = traitlets.Float(15.0, help="Each member's camera frame rate.").tag(sync=True)
    audio = traitlets.Bool(False, help="Whether members send their microphone too.").tag(sync=True)
    max_members = traitlets.Int(
        8,
        help="The most members the room takes (a mesh: n-1 links per browser; through a "
        "server: one upload and n-1 downloads each).",
    ).tag(sync=True)
    sfu = traitlets.Unicode(
        "", help='"janus" when the media goes through a Janus videoroom, "" for the mesh.'
    ).tag(sync=True)

    def __init__(
        self,
        name: str | None = None,
        *,
        width: int = 320,
        height: int = 240,
        frame_rate: float = 15,
        audio: bool = False,
        max_members: int = 8,
        ice_servers: list[IceServerSpec] | None = None,
        server: Janus | None = None,
        **kwargs: Any,
    ) -> None:
        janus = check_server(server)
        if "transport" in kwargs:
            # the peer widgets' argument: a room's browsers talk to each other, and there
            # is no notebook connection between two browsers to fall back on
            raise ValueError(
                "a Room's members connect to each other by WebRTC only (the kernel relays "
                "their signaling; there is no comm fallback between browsers): drop "
                f"transport={kwargs['transport']!r}"
            )
        # a default name only needs to tell rooms apart in logs and the Inspector
        name = f"room-{secrets.token_hex(3)}" if name is None else check_name(name)
        width = dimension("width", width)
        height = dimension("height", height)
        frame_rate = rate("frame_rate", frame_rate)
        if not isinstance(audio, bool):
            raise ValueError(f"audio must be True or False, got {audio!r}")
        max_members = check_max_members(max_members)
        self._lock = threading.RLock()
        self._members: dict[str, Member] = {}
        #: left member id -> its page's key (late messages of that page are dropped)
        self._dead = Tombstones()
        self._seq = itertools.count(1)
        self._relayed = 0
        self._room_error: StreamError | None = None
        self._room_error_at = 0.0
        self._last_join_at = 0.0
        self._history = RoomHistory(name)
        self._server: RoomServer | None = None
        super().__init__(
            ice_servers=ice_servers,
            name=name,
            width=width,
            height=height,
            frame_rate=frame_rate,
            audio=audio,
            max_members=max_members,
            sfu="janus" if janus is not None else "",
            **kwargs,
        )
        if janus is not None:
            port = self._port
            assert isinstance(port, RoomPort)  # _make_port's
            self._server = RoomServer(janus, name, max_members, port)
            janus.adopt(self)  # closing the Janus closes the room first
        # every message to a room is the room's (its members have no kernel peer)
        self._register_handler("*", self._own_message)
        self._watchdog = liveness.Watchdog(
            f"nbrtc-room-ping-{self.model_id}",
            alive=lambda: not self._closed and bool(self._member_list()),
            ping=self._ping_members,
            judge=self._judge_silence,
        )

    def _make_port(self) -> RoomPort:
        return RoomPort(self)

    @traitlets.validate("name")
    def _valid_name(self, proposal: Any) -> str:
        try:
            return check_name(proposal["value"])
        except ValueError as exc:
            raise traitlets.TraitError(str(exc)) from None

    def __repr__(self) -> str:
        return (
            f"<nbrtc.Room {self.name!r} state={self.state!r} members={len(self._members)} "
            f"relayed={self._relayed} bytes>"
        )

    # --- routing (media loop) ----------------------------------------------------------
    def _own_message(self, msg: Message) -> None:
        """Handle one validated browser message addressed to this room (media loop)."""
        sid = msg.stream
        with self._lock:
            member = self._members.get(sid)
            dead_key = self._dead.key(sid)
        dead = dead_key is not None
        if (member is not None and member.key != msg.key) or (dead and dead_key != msg.key):
            # another page speaking for this member: every page sees the member ids
            log.info("room %s: refused %s for %s from another page", self.name, msg.type, sid)
            self._refuse(sid, msg.type, "unknown-stream", f"{sid} is not a member of {self.name!r}")
            return
        if msg.type == "offer":
            # A KernelStream offer: a room has no kernel peer to answer it with.
            self._refuse(sid, "offer", "wrong-kind", "a Room has no kernel peer; it takes join")
            self._bye(sid, "wrong-kind")
            return
        if msg.type == "ice-servers":
            # a view asks for the TURN logins before it joins (js/room/room.js): never for an
            # id that already joined, left (tombstoned), or in a closed room
            if dead or self._closed:
                self._refuse(sid, msg.type, "closed", f"{sid} cannot join {self.name!r} now")
            elif member is not None:
                self._refuse(sid, msg.type, "out-of-order", "ice-servers comes before join")
            else:
                self._answer_ice_servers(sid)
            return
        if dead:
            log.debug("room %s: dropped late %s from %s", self.name, msg.type, sid)
            return
        if self._closed:
            if msg.type == "join":
                self._refuse(sid, "join", "closed", f"room {self.name!r} is closed")
                self._bye(sid, "closed")
            return
        if member is None:
            if msg.type == "join":
                self._join(msg)
            elif msg.type == "error":
                self._member_error(None, msg.payload)
            elif msg.type in ("bye", "devices"):
                pass  # a view that never joined ends, or reports devices: nothing to do
            else:
                self._refuse(
                    sid, msg.type, "unknown-stream", f"{sid} is not a member of {self.name!r}"
                )
            return
        member.silence = 0.0
        if msg.type == "join":
            self._refuse(sid, "join", "out-of-order", f"{sid} already joined {self.name!r}")
        elif msg.type == "signal":
            self._relay(member, msg)
        elif msg.type == "state":
            self._member_state(member, msg.payload)
        elif msg.type == "stats":
            self._member_stats(member, msg.payload)
        elif msg.type == "ping":
            pass  # only feeds the watchdog (silence reset above)
        elif msg.type == "bye":
            reason = (msg.payload or {}).get("reason", "") or "bye"
            self._leave(member, f"browser: {reason}", notify=False)
        elif msg.type == "error":
            self._member_error(member, msg.payload)
        elif msg.type == "devices":
            pass
        else:  # candidate, reoffer: messages of a kernel peer, which a room has not
            self._refuse(
                sid, msg.type, "wrong-kind", f"{msg.type} is not a room message (use signal)"
            )

    def _refuse(self, sid: str, type_: str, code: str, why: str) -> None:
        self._history.refused(sid, type_, code, why)
        self._port.reply_error(ProtocolError(code, why, sid, type_))

    def _bye(self, sid: str, reason: str) -> None:
        self._send_protocol(make_message("bye", sid, {"reason": reason}))

    def _join(self, msg: Message) -> None:
        payload = msg.payload or {}
        if not self._manager.claim(msg.stream, msg.key):
            self._refuse(msg.stream, "join", "unknown-stream", "this id belongs to another page")
            return
        page = str(payload.get("page", ""))
        if self._server is not None and msg.stream == SERVER_PEER:
            self._refuse(msg.stream, "join", "wrong-kind", f"{SERVER_PEER!r} names the server")
            return
        with self._lock:
            # max_members is the kernel's: the page cannot write traits (_kernel_owned)
            limit = self.max_members
            # a page is its key; keyless joins (kernel tests) are told apart by "page"
            mine = sum(
                1
                for m in self._members.values()
                if (m.key == msg.key if msg.key else not m.key and m.page == page)
            )
            full = len(self._members) >= limit or mine >= MAX_MEMBERS_PER_PAGE
            if full:
                self._dead.bury(msg.stream, msg.key)
            else:
                member = Member(
                    id=msg.stream,
                    page=page,
                    view=str(payload.get("view", "")),
                    seq=next(self._seq),
                    since=time.time(),
                    key=msg.key,
                )
                self._members[member.id] = member
                self._last_join_at = time.monotonic()
                count = len(self._members)
        if full:
            why = (
                f"room {self.name!r} is full ({limit} members, max_members)"
                if len(self._members) >= limit
                else f"this page already has {MAX_MEMBERS_PER_PAGE} members in {self.name!r}"
            )
            self._refuse(msg.stream, "join", "limit", why)
            self._bye(msg.stream, "limit")
            return
        log.info("room %s: %s joined (seq %d, %d members)", self.name, member.id, member.seq, count)
        self._history.member("join", member)
        self._broadcast_members()
        if self._server is not None:  # after the list: the page knows who offers to it
            self._server.joined(member.id)
        self._update_state()
        self._ensure_pinging()

    def _leave(self, member: Member, reason: str, notify: bool) -> None:
        """``member`` leaves (its bye, silence, or the room closing one member)."""
        with self._lock:
            if self._members.get(member.id) is not member:
                return
            del self._members[member.id]
            self._dead.bury(member.id, member.key)
            for other in self._members.values():
                other.links.pop(member.id, None)
                other.stats.pop(member.id, None)
            count = len(self._members)
        log.info("room %s: %s left (%s; %d members)", self.name, member.id, reason, count)
        if notify:
            self._bye(member.id, reason)
        if self._server is not None:
            self._server.left(member.id)
        self._history.member("leave", member, reason)
        # Every remaining member closes its pc to the departed one on this list.
        self._broadcast_members()
        self._update_state()

    def _member_list(self) -> list[Member]:
        with self._lock:
            return sorted(self._members.values(), key=lambda m: m.seq)

    def _broadcast_members(self) -> None:
        """The complete list to every member (after every change, in change order)."""
        members = self._member_list()
        listing = [{"id": m.id, "page": m.page, "seq": m.seq} for m in members]
        for m in members:
            self._send_protocol(
                make_message("members", m.id, {"you": m.id, "room": self.name, "members": listing})
            )

    def _relay(self, sender: Member, msg: Message) -> None:
        to = msg.payload["to"]
        data = msg.payload["data"]
        if self._server is not None:  # every signal is for Janus (RoomServer)
            refused = self._server.signal(sender.id, to, data)
            if refused is not None:
                self._refuse(sender.id, "signal", *refused)
                return
            with self._lock:
                self._relayed += msg.size
            self._history.relay(data["type"], sender.id, f"janus:{to}", msg.size)
            return
        with self._lock:
            target = self._members.get(to) if to != sender.id else None
        if target is None:
            # Nothing is relayed: the target left (its pc is closed on the next members
            # list), never joined, or is the sender itself.
            self._refuse(
                sender.id,
                "signal",
                "unknown-stream",
                f"{to} is not a member of room {self.name!r} (it left?); nothing was relayed",
            )
            return
        with self._lock:
            self._relayed += msg.size
        self._history.relay(data["type"], sender.id, to, msg.size)
        self._send_protocol(make_message("signal", to, {"from": sender.id, "data": data}))

    def _member_state(self, member: Member, payload: dict[str, Any]) -> None:
        peer = payload.get("peer")
        with self._lock:
            if not isinstance(peer, str) or not self._peer_ok(member, peer):
                return  # about a pc to a member that already left: nothing to keep
            states = {k: str(v) for k, v in payload.items() if k != "peer"}
            before = member.links.get(peer, {}).get("connection")
            member.links[peer] = states
        after = states.get("connection")
        if after and after != before:
            self._history.state("browser", "connection", after, f"{member.id} -> {peer}")
            log.debug("room %s: %s -> %s connection %s", self.name, member.id, peer, after)
            self._update_state()

    def _member_stats(self, member: Member, payload: dict[str, Any]) -> None:
        peer = payload.get("peer")
        summary = summarize(payload.get("reports") or [])
        with self._lock:
            if isinstance(peer, str) and self._peer_ok(member, peer):
                member.stats[peer] = summary

    def _peer_ok(self, member: Member, peer: str) -> bool:
        """Whether ``member`` may report on a link to ``peer``: another member, or (through
        a server) ``server``, its publisher's link."""
        if self._server is not None and peer == SERVER_PEER:
            return True
        return peer in self._members and peer != member.id

    def _member_error(self, member: Member | None, payload: dict[str, Any]) -> None:
        """A member's browser failed (camera refused...): kept as the room's error."""
        from .._signaling.stream_words import browser_error

        err = browser_error(payload["name"], payload.get("message", ""), "camera")
        who = member.id if member is not None else "a view"
        log.warning("room %s: %s failed: %s", self.name, who, err)
        if member is not None:
            member.error = str(err)
        self._history.note(f"{who} failed: {err}")
        self._room_error = err
        self._room_error_at = time.monotonic()
        self._update_state()

    # --- liveness (media loop) ------------------------------------------------------------
    def _ensure_pinging(self) -> None:
        self._watchdog.ensure()

    def _ping_members(self, t: float) -> None:
        """Ping every member: the browser's watchdog needs a kernel message every 3 s."""
        for m in self._member_list():
            self._send_protocol(make_message("ping", m.id, {"t": round(t, 3)}))

    async def _judge_silence(self, elapsed: float) -> bool:
        """Drop the members gone silent (the manager's rule: only idle-kernel time counts);
        the watch goes on while members remain."""
        for m in self._member_list():
            if self._manager.browser_silent(m, elapsed):
                self._leave(m, "browser-gone", notify=True)
        return False

    # --- state ------------------------------------------------------------------------------
    def _derive_state(self) -> tuple[str, str]:
        if self._closed:
            return "closed", self.error
        with self._lock:
            members = list(self._members.values())
            if self._server is not None:  # a member's link to the server is up
                live = any(
                    s.get("connection") == "connected" for m in members for s in m.links.values()
                )
            else:
                live = any(
                    self._pair_state(a, b) == "connected"
                    for a, b in itertools.combinations(members, 2)
                )
        if live:
            return "live", ""
        err = self._room_error
        if err is not None and (not members or self._room_error_at > self._last_join_at):
            return "error", str(err)
        return ("connecting", "") if members else ("new", "")

    def _update_state(self) -> None:
        """The one place the room's state changes; logs ``old -> new`` and tells members."""
        new, err = self._derive_state()
        old = self.state
        if old != new or self.error != err:
            if old != new:
                log.info("room %s: %s -> %s", self.name, old, new)
                self._history.state("kernel", "room", new, err)
            with self.hold_sync():
                self.error = err
                self.state = new
            if old != new and new in ("connecting", "live", "error"):
                for m in self._member_list():
                    self._send_protocol(make_message("state", m.id, {"state": new, "detail": err}))
        with self._state_event:
            self._state_event.notify_all()

    @staticmethod
    def _pair_state(a: Member, b: Member) -> str:
        sa = a.links.get(b.id, {}).get("connection", "new")
        sb = b.links.get(a.id, {}).get("connection", "new")
        return min((sa, sb), key=lambda s: PC_RANK.get(s, PC_RANK["new"]))

    # SignalingWidget hooks: a room has no KernelStream, its state comes from its members,
    # and every change it waits for arrives as a comm message (the base's deadlock rule).
    def _current_error(self) -> StreamError | None:
        return self._room_error if self.state == "error" else None

    def _no_stream_error(self, call: str, acall: str) -> NotDisplayedError:
        return NotDisplayedError(
            f"Room {self.name!r} cannot change while this cell is still running: the "
            f"browsers' messages queue behind it. Call {call} from the next cell, or use "
            f"`await {acall}` in this one."
        )

    def _detail(self) -> str:
        with self._lock:
            n = len(self._members)
        if n == 0:
            return "; no view has joined: is the room displayed?"
        if n == 1:
            return "; only one member: display the room in another tab or cell"
        return f"; {n} members"

    # --- public ------------------------------------------------------------------------
    def members(self) -> list[dict[str, Any]]:
        """Current members in join order: ``id``, ``page``, ``view``, ``seq``, ``since``
        (epoch s), ``state`` ("waiting", "connecting", "live", "error") and ``links``
        (other member id -> that member's pc connectionState as this member reports it)."""
        with self._lock:
            members = sorted(self._members.values(), key=lambda m: m.seq)
            others = len(members) - 1
            return [
                {
                    "id": m.id,
                    "page": m.page,
                    "view": m.view,
                    "seq": m.seq,
                    "since": m.since,
                    "state": m.state(others),
                    "links": {
                        o: m.links.get(o, {}).get("connection", "new")
                        for o in ([SERVER_PEER] if self._server is not None else [])
                        + [o.id for o in members if o is not m]
                    },
                }
                for m in members
            ]

    def links(self) -> list[dict[str, Any]]:
        """One entry per pair of members (``a`` joined before ``b``); through a server, one
        entry per link of a member to the server instead (``room_members.server_links``).

        ``state``: the worse of the two sides' connectionState; ``selected``: the ICE
        candidate pair in use (``local`` is ``a``'s side) from the members' getStats, or
        None before it is known; ``bytes_sent``/``bytes_received``: RTP media bytes both
        browsers sent/received on this link; ``rtt_ms``: the ICE round trip; ``sides``: each
        member's own summary.
        """
        if self._server is not None:
            with self._lock:
                return server_links(self._member_list())
        with self._lock:
            members = sorted(self._members.values(), key=lambda m: m.seq)
            out = []
            for a, b in itertools.combinations(members, 2):
                sa, sb = a.stats.get(b.id), b.stats.get(a.id)
                selected = None
                if sa and sa["selected"]:
                    selected = dict(sa["selected"])
                elif sb and sb["selected"]:
                    selected = {
                        "local": sb["selected"]["remote"],
                        "remote": sb["selected"]["local"],
                    }
                rtts = [s["rtt_ms"] for s in (sa, sb) if s and s["rtt_ms"] is not None]
                out.append(
                    {
                        "a": a.id,
                        "b": b.id,
                        "state": self._pair_state(a, b),
                        "selected": selected,
                        "bytes_sent": sum(s["bytes_sent"] for s in (sa, sb) if s),
                        "bytes_received": sum(s["bytes_received"] for s in (sa, sb) if s),
                        "rtt_ms": round(sum(rtts) / len(rtts), 2) if rtts else None,
                        "sides": {a.id: dict(sa) if sa else None, b.id: dict(sb) if sb else None},
                    }
                )
            return out

    @property
    def relayed_bytes(self) -> int:
        """Bytes of signaling (the browsers' ``signal`` messages) the kernel relayed."""
        with self._lock:
            return self._relayed

    def history(self, chatter: bool = False) -> list[dict[str, Any]]:
        """The room's record, oldest first: joins, leaves, every relayed signal (``type``,
        ``from``, ``to``, ``size``), refused messages, link and room state changes."""
        return self._history.events(chatter)

    def _inspect_data(self) -> dict[str, Any]:
        """Plain data for the Inspector's ``room`` trait (any thread)."""
        members = self.members()
        links = self.links()
        relayed = self.relayed_bytes
        return {
            "name": self.name,
            "members": [
                {"id": m["id"], "page": m["page"], "since": m["since"], "state": m["state"]}
                for m in members
            ],
            "links": [
                {
                    "a": link["a"],
                    "b": link["b"],
                    "state": link["state"],
                    "selected": link["selected"],
                    # a link down from the server carries the bytes its member received
                    "bytes": link["bytes_received"]
                    if link.get("direction") == "receive"
                    else link["bytes_sent"],
                    **({"direction": link["direction"]} if "direction" in link else {}),
                }
                for link in links
            ],
            "kernel_relayed_bytes": relayed,
            "kernel_media_bytes": 0,
            "note": (
                f"media flows through Janus ({self._server.janus.url}): each member sends once; "
                f"the kernel relayed {relayed} bytes of signaling and holds no peer connection"
                if self._server is not None
                else f"media flows browser to browser: the kernel relayed only {relayed} "
                "bytes of signaling and holds no peer connection"
            ),
        }

    def inspect(self, **kwargs: Any) -> Any:
        """An Inspector widget for this room (display it beside the room): members, the
        links between their browsers, and the signaling the kernel relayed."""
        from .._inspection.inspector import Inspector

        return Inspector(self, **kwargs)

    def channel(self, label: str) -> Any:
        """Not for rooms: a room's members connect to each other, not to the kernel, so
        there is no kernel connection to open a data channel on."""
        raise TypeError(
            "a Room has no data channels: its browsers connect to each other, not to the "
            "kernel (use a Camera or VideoView for channels to Python)"
        )

    def wait_members(self, n: int, timeout: float = 30.0) -> None:
        """Block until the room has at least ``n`` members; raise StreamTimeoutError."""
        self._check_n(n)
        deadline = time.monotonic() + timeout
        with self._state_event:
            while self._count() < n:
                if self._closed:
                    raise StreamClosedError(f"Room {self.name!r} is closed.")
                if self._blocking_would_deadlock():
                    raise self._no_stream_error(
                        f"room.wait_members({n})", f"room.wait_members_async({n})"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._members_timeout(n, timeout)
                self._state_event.wait(min(left, 0.1))

    async def wait_members_async(self, n: int, timeout: float = 30.0) -> None:
        """Awaitable twin of :meth:`wait_members` (inside ``async`` code and cells)."""
        self._check_n(n)
        deadline = time.monotonic() + timeout
        while self._count() < n:
            if self._closed:
                raise StreamClosedError(f"Room {self.name!r} is closed.")
            if time.monotonic() > deadline:
                raise self._members_timeout(n, timeout)
            await asyncio.sleep(0.02)

    #: the name before the ``*_async`` rule (kept)
    await_members = wait_members_async

    def _check_n(self, n: Any) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= self.max_members:
            raise ValueError(f"n must be an integer from 1 to max_members={self.max_members}")

    def _count(self) -> int:
        with self._lock:
            return len(self._members)

    def _members_timeout(self, n: int, timeout: float) -> StreamTimeoutError:
        have = self._count()
        hint = (
            "display the room (run `room` in a cell) in another tab or another cell"
            if have
            else "display the room first (put `room` at the end of a cell)"
        )
        return StreamTimeoutError(
            f"Room {self.name!r} has {have} member{'s' * (have != 1)} after {timeout} s, "
            f"{n} wanted: {hint}."
        )

    # --- closing ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the room: ``bye`` to every member, whose browsers close every peer and
        stop their cameras; members forgotten. Idempotent, safe from any thread; waits up
        to 1 s for the media loop unless called on it."""
        super().close()

    def _teardown_and_wait(self) -> None:
        media = self._manager.media
        if media.in_loop_thread() or not media.running():
            # No loop: nobody ever joined (members join only on the loop) or the kernel
            # is shutting down; nothing can race with this.
            self._teardown("closed")
            if self._server is not None and media.running():  # on the loop: cannot wait
                media.submit(self._server.close())
        else:
            fut = media.submit(self._teardown_async("closed"))
            try:  # through a server: its videoroom and session go too (bounded requests)
                wait = CLOSE_WAIT + (2 * STEP_TIMEOUT if self._server is not None else 0)
                self._manager.wait_teardown(fut, wait)  # shared at the kernel's exit
            except concurrent.futures.TimeoutError:
                log.warning(
                    "nbrtc: room %s teardown took longer than %.1f s", self.name, CLOSE_WAIT
                )
            except Exception:
                log.debug("room teardown error", exc_info=True)

    async def _teardown_async(self, reason: str) -> None:
        self._teardown(reason)
        if self._server is not None:
            await self._server.close()

    def _teardown(self, reason: str) -> None:
        with self._lock:
            members = sorted(self._members.values(), key=lambda m: m.seq)
            self._members.clear()
            for m in members:
                self._dead.bury(m.id, m.key)
        self._watchdog.stop()
        for m in members:
            self._bye(m.id, reason)
            self._history.member("leave", m, reason)
        log.info("room %s: closed (%d members told bye)", self.name, len(members))
        self._update_state()
