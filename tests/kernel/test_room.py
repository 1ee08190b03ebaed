"""nbrtc.Room on the kernel side: membership, relaying, liveness and teardown.

Every message goes in through the real comm entry point (``manager().handle_message``,
which validates it and hands it to the media loop) and every message out is captured by
replacing the room's ``_send_protocol``. Nothing here makes a peer connection: that is
the point of a room (the browsers connect to each other).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import traitlets

import nbrtc
import nbrtc._signaling.liveness
import nbrtc._signaling.manager
import nbrtc._widgets.room
from nbrtc import Room

from ._browser import wait_for

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\n"}
CAMERA_SDP = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=sendrecv",
        "a=rtpmap:96 VP8/90000",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
        "a=setup:actpass",
        "",
    ]
)
CANDIDATE = {
    "type": "candidate",
    "candidate": {
        "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    },
}


class Capture:
    """What the room sent to the browser (every tab gets every message: filter by id)."""

    def __init__(self, room: Room) -> None:
        self.lock = threading.Lock()
        self.sent: list[dict[str, Any]] = []
        room._send_protocol = self._on  # type: ignore[method-assign]

    def _on(self, msg: dict[str, Any]) -> None:
        with self.lock:
            self.sent.append(msg)

    def of(self, type_: str, stream: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                m
                for m in self.sent
                if m["type"] == type_ and (stream is None or m["stream"] == stream)
            ]

    def lists(self, stream: str) -> list[list[str]]:
        """The member ids of every ``members`` message ``stream`` got, in order."""
        return [[m["id"] for m in msg["payload"]["members"]] for msg in self.of("members", stream)]

    def errors(self, stream: str) -> list[str]:
        return [m["payload"]["code"] for m in self.of("error", stream)]


def send(room: Room, type_: str, stream: str, payload: Any) -> None:
    """Browser -> kernel through the comm entry point."""
    nbrtc.manager().handle_message(
        room._port, {"v": 1, "type": type_, "stream": stream, "payload": payload}
    )


def join(room: Room, sid: str) -> None:
    send(room, "join", sid, {"page": sid.split("-")[0], "view": f"{sid}-v"})


def settle(room: Room) -> None:
    """Wait until the media loop handled every message handed to it before this call."""

    room._manager.media.run(room._manager.flushed(), 5)


@pytest.fixture
def rooms(no_leaks: None) -> Iterator[list[Room]]:
    made: list[Room] = []
    yield made
    for room in made:
        room.close()


def make(rooms: list[Room], *args: Any, **kwargs: Any) -> tuple[Room, Capture]:
    room = Room(*args, **kwargs)
    rooms.append(room)
    return room, Capture(room)


# --- membership -----------------------------------------------------------------------------


def test_joins_send_the_complete_list_to_everyone_in_order(rooms):
    room, cap = make(rooms, "lesson")
    assert room.state == "new" and room.kind == "room" and room.name == "lesson"
    for sid in ("pa-1", "pb-1", "pc-1"):
        join(room, sid)
    settle(room)
    assert cap.lists("pa-1") == [["pa-1"], ["pa-1", "pb-1"], ["pa-1", "pb-1", "pc-1"]]
    assert cap.lists("pb-1") == [["pa-1", "pb-1"], ["pa-1", "pb-1", "pc-1"]]
    assert cap.lists("pc-1") == [["pa-1", "pb-1", "pc-1"]]
    last = cap.of("members", "pc-1")[-1]["payload"]
    assert last["you"] == "pc-1" and last["room"] == "lesson"
    assert [(m["id"], m["seq"], m["page"]) for m in last["members"]] == [
        ("pa-1", 1, "pa"),
        ("pb-1", 2, "pb"),
        ("pc-1", 3, "pc"),
    ]
    members = room.members()
    assert [m["id"] for m in members] == ["pa-1", "pb-1", "pc-1"]
    assert members[0]["view"] == "pa-1-v" and members[0]["since"] <= time.time()
    assert members[0]["links"] == {"pb-1": "new", "pc-1": "new"}
    assert room.state == "connecting"
    assert [e["member"] for e in room.history() if e["event"] == "join"] == [
        "pa-1",
        "pb-1",
        "pc-1",
    ]
    # no kernel peer, no stream: a room only relays
    assert nbrtc.manager()._streams == {}


def test_relay_goes_only_to_the_addressed_member(rooms):
    room, cap = make(rooms, "relay")
    for sid in ("pa-1", "pb-1", "pc-1"):
        join(room, sid)
    send(room, "signal", "pc-1", {"to": "pa-1", "data": OFFER})
    send(room, "signal", "pa-1", {"to": "pc-1", "data": ANSWER})
    send(room, "signal", "pa-1", {"to": "pc-1", "data": CANDIDATE})
    settle(room)
    assert [m["payload"] for m in cap.of("signal", "pa-1")] == [{"from": "pc-1", "data": OFFER}]
    assert [m["payload"] for m in cap.of("signal", "pc-1")] == [
        {"from": "pa-1", "data": ANSWER},
        {"from": "pa-1", "data": CANDIDATE},
    ]
    assert cap.of("signal", "pb-1") == []
    assert cap.of("error") == []
    relays = [e for e in room.history() if e["event"] == "signal"]
    assert [(e["type"], e["from"], e["to"]) for e in relays] == [
        ("offer", "pc-1", "pa-1"),
        ("answer", "pa-1", "pc-1"),
        ("candidate", "pa-1", "pc-1"),
    ]
    assert all(e["size"] > 50 for e in relays)
    assert room.relayed_bytes == sum(e["size"] for e in relays)


def test_signal_to_a_departed_member_is_refused_and_not_relayed(rooms):
    room, cap = make(rooms, "gone")
    for sid in ("pa-1", "pb-1", "pc-1"):
        join(room, sid)
    send(room, "bye", "pb-1", {"reason": "view-removed"})
    settle(room)
    relayed = room.relayed_bytes
    send(room, "signal", "pa-1", {"to": "pb-1", "data": OFFER})
    send(room, "signal", "pa-1", {"to": "pa-1", "data": OFFER})  # to itself
    send(room, "signal", "pa-1", {"to": "never-1", "data": OFFER})
    settle(room)
    assert cap.errors("pa-1") == ["unknown-stream"] * 3
    assert cap.of("error", "pa-1")[0]["payload"]["ref"] == {"type": "signal"}
    assert cap.of("signal") == []
    assert room.relayed_bytes == relayed == 0
    # the remaining members learnt it at once (their pcs to pb-1 close on this list)
    assert cap.lists("pa-1")[-1] == cap.lists("pc-1")[-1] == ["pa-1", "pc-1"]
    assert cap.of("bye", "pb-1") == []  # it said bye itself: nothing to tell it
    assert [e["member"] for e in room.history() if e["event"] == "leave"] == ["pb-1"]


def test_messages_after_bye_are_dropped(rooms):
    room, cap = make(rooms, "late")
    join(room, "pa-1")
    join(room, "pb-1")
    send(room, "bye", "pb-1", None)
    settle(room)
    before = len(cap.sent)
    for type_, payload in (
        ("signal", {"to": "pa-1", "data": OFFER}),
        ("state", {"connection": "connected", "peer": "pa-1"}),
        ("stats", {"t": 1, "peer": "pa-1", "reports": []}),
        ("ping", {"t": 1}),
        ("join", {"page": "pb", "view": "v"}),
        ("error", {"name": "NotAllowedError", "message": "late"}),
    ):
        send(room, type_, "pb-1", payload)
    settle(room)
    assert cap.sent[before:] == [], "nothing relayed, no reply, no new list"
    assert [m["id"] for m in room.members()] == ["pa-1"]
    assert room.error == ""


def test_refusals(rooms):
    room, cap = make(rooms, "rules", max_members=2)
    send(room, "signal", "pa-1", {"to": "pb-1", "data": OFFER})  # before joining
    send(room, "ping", "pa-1", {"t": 0})
    join(room, "pa-1")
    join(room, "pa-1")  # twice
    send(room, "candidate", "pa-1", CANDIDATE["candidate"])  # a KernelStream message
    join(room, "pb-1")
    join(room, "pc-1")  # one too many
    send(room, "signal", "pc-1", {"to": "pa-1", "data": OFFER})  # refused: dropped
    settle(room)
    assert cap.errors("pa-1") == ["unknown-stream", "unknown-stream", "out-of-order", "wrong-kind"]
    assert cap.errors("pc-1") == ["limit"]
    assert [m["payload"] for m in cap.of("bye", "pc-1")] == [{"reason": "limit"}]
    assert cap.of("members", "pc-1") == [] and cap.of("signal", "pa-1") == []
    assert [m["id"] for m in room.members()] == ["pa-1", "pb-1"]
    # a Camera's offer sent to a room: a room has no kernel peer to answer it
    send(room, "offer", "pd-1", {"sdp": CAMERA_SDP, "kind": "camera", "page": "pd", "view": "v"})
    settle(room)
    assert cap.errors("pd-1") == ["wrong-kind"]
    assert [m["payload"] for m in cap.of("bye", "pd-1")] == [{"reason": "wrong-kind"}]
    assert nbrtc.manager()._streams == {}
    refused = [e["code"] for e in room.history() if e["event"] == "refused"]
    assert refused.count("limit") == 1 and refused.count("out-of-order") == 1


def test_link_states_stats_and_inspection(rooms):
    room, cap = make(rooms, "links")
    join(room, "pa-1")
    join(room, "pb-1")
    send(room, "state", "pb-1", {"connection": "connecting", "ice": "checking", "peer": "pa-1"})
    send(room, "state", "pa-1", {"connection": "connected", "ice": "connected", "peer": "pb-1"})
    settle(room)
    assert room.state == "connecting", "live needs both sides connected"
    assert room.links()[0]["state"] == "connecting"
    send(room, "state", "pb-1", {"connection": "connected", "ice": "connected", "peer": "pa-1"})
    reports = [
        {"id": "T", "type": "transport", "selectedCandidatePairId": "CP"},
        {
            "id": "CP",
            "type": "candidate-pair",
            "localCandidateId": "L",
            "remoteCandidateId": "R",
            "currentRoundTripTime": 0.002,
            "state": "succeeded",
        },
        {"id": "L", "type": "local-candidate", "address": "127.0.0.1", "port": 40001},
        {"id": "R", "type": "remote-candidate", "address": "127.0.0.1", "port": 40002},
        {"id": "O", "type": "outbound-rtp", "kind": "video", "bytesSent": 100000},
        {"id": "I", "type": "inbound-rtp", "kind": "video", "bytesReceived": 90000},
    ]
    send(room, "stats", "pb-1", {"t": 1.0, "peer": "pa-1", "reports": reports})
    send(room, "stats", "pb-1", {"t": 1.0, "peer": "nobody-1", "reports": reports})
    settle(room)
    assert room.state == "live"
    assert [m["payload"]["state"] for m in cap.of("state", "pa-1")] == ["connecting", "live"]
    [link] = room.links()
    assert (link["a"], link["b"], link["state"]) == ("pa-1", "pb-1", "connected")
    # a's view of the pair, from b's report: local and remote swap
    assert link["selected"]["local"]["port"] == 40002
    assert link["selected"]["remote"]["port"] == 40001
    assert (link["bytes_sent"], link["bytes_received"], link["rtt_ms"]) == (100000, 90000, 2.0)
    assert [m["state"] for m in room.members()] == ["live", "live"]
    data = room._inspect_data()
    assert data["kernel_media_bytes"] == 0 and data["kernel_relayed_bytes"] == 0
    assert data["links"] == [
        {
            "a": "pa-1",
            "b": "pb-1",
            "state": "connected",
            "selected": link["selected"],
            "bytes": 100000,
        }
    ]
    assert [m["id"] for m in data["members"]] == ["pa-1", "pb-1"]
    assert "relayed only 0 bytes" in data["note"]
    states = [e for e in room.history() if e["event"] == "state" and e["side"] == "browser"]
    assert [(e["state"], e["detail"]) for e in states][-1] == ("connected", "pb-1 -> pa-1")
    # b leaves: the link and a's state towards it go
    send(room, "bye", "pb-1", {"reason": "pagehide"})
    settle(room)
    assert room.links() == [] and room.members()[0]["links"] == {}
    assert room.state == "connecting"


def test_a_member_error_is_the_rooms_error_until_someone_joins(rooms):
    room, _cap = make(rooms, "err")
    join(room, "pa-1")
    send(room, "error", "pa-1", {"name": "NotAllowedError", "message": "denied"})
    send(room, "bye", "pa-1", {"reason": "error"})
    settle(room)
    assert room.state == "error"
    assert "permission was denied" in room.error
    with pytest.raises(nbrtc.CameraError, match="permission"):
        room.wait("live", timeout=1)
    join(room, "pb-1")
    settle(room)
    assert room.state == "connecting" and room.error == ""


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_joins_and_leaves_keep_the_invariants(rooms):
    """Eight threads, 60 operations each (joins, leaves, signals to members that may have
    left, states, pings) on a seeded random schedule, all through the comm entry point."""
    room, cap = make(rooms, "crowd", max_members=64)
    rng = random.Random(20240611)
    schedules = []
    for t in range(8):
        ops: list[tuple[str, str, Any]] = []
        live: list[str] = []
        n = 0
        for _ in range(60):
            roll = rng.random()
            if (roll < 0.45 and len(live) < 6) or not live:
                n += 1
                sid = f"t{t}-{n}"
                live.append(sid)
                ops.append(("join", sid, {"page": f"t{t}", "view": sid}))
            elif roll < 0.7:
                sid = live.pop(rng.randrange(len(live)))
                ops.append(("bye", sid, {"reason": "view-removed"}))
            elif roll < 0.9:
                to = f"t{rng.randrange(8)}-{rng.randint(1, 8)}"
                ops.append(("signal", rng.choice(live), {"to": to, "data": CANDIDATE}))
            else:
                ops.append(("state", rng.choice(live), {"connection": "connecting", "peer": "x-1"}))
        schedules.append((ops, live))
    expected = {sid for _ops, live in schedules for sid in live}

    start = threading.Barrier(len(schedules))

    def worker(ops: list[tuple[str, str, Any]]) -> None:
        start.wait()
        for type_, sid, payload in ops:
            send(room, type_, sid, payload)
            if rng.random() < 0.1:
                time.sleep(0)  # let other threads interleave

    threads = [threading.Thread(target=worker, args=(ops,)) for ops, _live in schedules]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    settle(room)

    final = [m["id"] for m in room.members()]
    assert set(final) == expected, "members = joined and not left"
    assert len(final) == len(set(final))
    for sid in expected:
        assert set(cap.lists(sid)[-1]) == expected, f"{sid}'s last list is the final one"
    # seq: one per join, unique, increasing in join order, the same in every list
    seqs: dict[str, int] = {}
    for msg in cap.of("members"):
        for m in msg["payload"]["members"]:
            assert seqs.setdefault(m["id"], m["seq"]) == m["seq"]
        listed = [m["seq"] for m in msg["payload"]["members"]]
        assert listed == sorted(listed)
    assert len(set(seqs.values())) == len(seqs)
    joins = [e["member"] for e in room.history() if e["event"] == "join"]
    assert [seqs[sid] for sid in joins if sid in seqs] == sorted(seqs.values())
    # every message sent to a member who had left came from before it left: nothing
    # after its leave, and the only refusals are signals to members that are not there
    left_at = {e["member"]: e["seq"] for e in room.history() if e["event"] == "leave"}
    assert set(left_at) | expected == set(joins)
    codes = {m["payload"]["code"] for m in cap.of("error")}
    assert codes <= {"unknown-stream"}, codes
    for msg in cap.of("signal"):
        assert msg["stream"] in seqs and msg["payload"]["from"] in seqs


# --- liveness and teardown ----------------------------------------------------------------------


def test_watchdog_drops_a_silent_member(rooms, monkeypatch):
    monkeypatch.setattr(nbrtc._signaling.manager, "BROWSER_TIMEOUT", 0.5)
    monkeypatch.setattr(nbrtc._signaling.liveness, "WATCHDOG_TICK", 0.05)
    room, cap = make(rooms, "quiet")
    join(room, "pa-1")
    join(room, "pb-1")
    settle(room)
    assert len(room.members()) == 2
    stop = threading.Event()

    def talk() -> None:  # pa-1's page keeps pinging; pb-1's tab crashed
        while not stop.wait(0.1):
            send(room, "ping", "pa-1", {"t": time.monotonic()})

    th = threading.Thread(target=talk)
    th.start()
    try:
        took = wait_for(lambda: [m["id"] for m in room.members()] == ["pa-1"], 5, what="pb dropped")
    finally:
        stop.set()
        th.join(5)
    assert 0.4 < took < 2.0, took
    assert [m["payload"] for m in cap.of("bye", "pb-1")] == [{"reason": "browser-gone"}]
    assert cap.lists("pa-1")[-1] == ["pa-1"]
    assert cap.of("ping", "pa-1"), "the kernel pings its members"
    leave = [e for e in room.history() if e["event"] == "leave"]
    assert [(e["member"], e["reason"]) for e in leave] == [("pb-1", "browser-gone")]


def test_close_says_bye_to_everyone_and_leaves_nothing(rooms):
    threads_before = {t.name for t in threading.enumerate()} | {"nbrtc-media"}
    room, cap = make(rooms, "end")
    for sid in ("pa-1", "pb-1", "pc-1"):
        join(room, sid)
    settle(room)
    assert room._watchdog.task is not None
    mid = room.model_id  # gone with the comm
    t0 = time.monotonic()
    room.close()
    assert time.monotonic() - t0 < 1.0
    room.close()  # idempotent
    for sid in ("pa-1", "pb-1", "pc-1"):
        assert [m["payload"] for m in cap.of("bye", sid)] == [{"reason": "closed"}]
    assert room.state == "closed" and room.members() == [] and room.links() == []
    assert room._watchdog.task is None

    async def room_tasks() -> list[str]:
        await asyncio.sleep(0)  # the cancelled ping task finishes
        return [t.get_name() for t in asyncio.all_tasks() if mid in (t.get_name() or "")]

    assert room._manager.media.run(room_tasks(), 5) == []
    assert {t.name for t in threading.enumerate()} <= threads_before
    # a closed room admits nobody, and old members stay dropped
    before = len(cap.sent)
    send(room, "signal", "pa-1", {"to": "pb-1", "data": OFFER})
    join(room, "pd-1")
    settle(room)
    assert cap.errors("pd-1") == ["closed"]
    assert [m["payload"] for m in cap.of("bye", "pd-1")] == [{"reason": "closed"}]
    assert len(cap.sent) == before + 2
    with pytest.raises(nbrtc.StreamClosedError):
        room.wait_members(1, timeout=0.1)


def test_close_from_many_threads_at_once(rooms):
    room, cap = make(rooms, "race")
    join(room, "pa-1")
    settle(room)
    threads = [threading.Thread(target=room.close) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(5)
    assert [m["payload"] for m in cap.of("bye", "pa-1")] == [{"reason": "closed"}]
    assert room.state == "closed"


def test_close_before_anyone_joined(rooms):
    room, cap = make(rooms, "empty")
    room.close()
    assert room.state == "closed" and cap.sent == []


# --- waiting and arguments ---------------------------------------------------------------------


def test_wait_members(rooms):
    room, _cap = make(rooms, "wait")
    timer = threading.Timer(0.2, lambda: (join(room, "pa-1"), join(room, "pb-1")))
    timer.start()
    t0 = time.monotonic()
    room.wait_members(2, timeout=5)
    assert time.monotonic() - t0 < 2
    timer.join()
    with pytest.raises(nbrtc.StreamTimeoutError, match=r"has 2 members after 0\.2 s, 3 wanted"):
        room.wait_members(3, timeout=0.2)
    with pytest.raises(nbrtc.StreamTimeoutError, match="another tab"):
        room.wait_members(3, timeout=0.1)

    async def waiting() -> None:
        threading.Timer(0.1, join, args=(room, "pc-1")).start()
        await room.wait_members_async(3, timeout=5)

    asyncio.run(waiting())
    assert len(room.members()) == 3
    with pytest.raises(ValueError, match="max_members"):
        room.wait_members(0)


def test_wait_members_in_a_running_cell_says_why(rooms, monkeypatch):
    room, _cap = make(rooms, "busy")
    monkeypatch.setattr(room._manager, "_busy", True)
    with pytest.raises(nbrtc.NotDisplayedError, match=r"await room\.wait_members_async"):
        room.wait_members(2, timeout=5)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": ""}, "name must be"),
        ({"name": 3}, "name must be"),
        ({"width": 5}, "width must be"),
        ({"height": "x"}, "height must be"),
        ({"frame_rate": 0}, "frame_rate must be"),
        ({"audio": "yes"}, "audio must be"),
        ({"max_members": 1}, "max_members must be"),
        ({"max_members": 1000}, "max_members must be"),
        ({"ice_servers": ["http://x"]}, "ice_servers"),
        ({"transport": "comm"}, "WebRTC only.*drop transport='comm'"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Room(**kwargs)


def test_defaults():
    room = Room()
    try:
        other = Room()
        assert room.name.startswith("room-") and other.name != room.name
        other.close()
        with pytest.raises(traitlets.TraitError, match="name must be"):
            room.name = ""
        assert (room.width, room.height, room.frame_rate, room.audio) == (320, 240, 15.0, False)
        assert room.max_members == 8 and room.rtc_config == {"iceServers": []}
        assert "Room" in repr(room)
        with pytest.raises(TypeError, match="no data channels"):
            room.channel("chat")
    finally:
        room.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.set_codec("H264"),
        lambda r: r.set_max_bitrate(300_000),
        lambda r: r.set_network(loss=0.1),
        lambda r: r.clear_network(),
        lambda r: r.restart_ice(),
        lambda r: r.stats(),
        lambda r: r.stats_log(),
        lambda r: r.sdp,
        lambda r: r.doctor(),
    ],
    ids=["set_codec", "set_max_bitrate", "set_network", "clear_network", "restart_ice",
         "stats", "stats_log", "sdp", "doctor"],
)  # fmt: skip
def test_a_room_refuses_the_controls_of_a_kernel_peer_in_words(call: Any) -> None:
    """A room has no kernel peer: the controls it inherits say so instead of doing
    nothing (set_codec used to return quietly; stats() said "display it")."""
    room = Room("no-peer")
    try:
        with pytest.raises(nbrtc.NbrtcError, match="browser to browser") as caught:
            call(room)
        assert "room.links()" in str(caught.value)
    finally:
        room.close()
