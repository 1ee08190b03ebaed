"""``nbrtc.Room(name, server=janus)`` against a real Janus: each member publishes once and
receives the others from the server.

Marker ``janus`` (root): the module's Janus runs in a namespace of its own
(tests/lab/janus.py); its admin API counts sessions, handles and rooms independently of
nbrtc. Each member's "page" is plain aiortc on the fake browser's loop
(tests/kernel/_browser.py), speaking the page's side of docs/protocol.md "Rooms through a
media server": ``join``; on the first ``members`` list an offer for its camera to
``server``; an answer to every offer the kernel relays from Janus for another member's
feed; each pc's connection state (``state`` with ``peer``); a ping every second.

Every wait polls to a deadline; figures are printed (-s).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

import nbrtc
from lab import janus as jl
from nbrtc._sfu.room_server import RoomServer

from ._browser import CountingTrack, FakeBrowser, assert_holds, until, wait_for

pytestmark = pytest.mark.janus


@pytest.fixture
def page(no_leaks: None) -> Iterator[FakeBrowser]:
    browser = FakeBrowser()
    yield browser
    browser.close()


def handles_of(server: jl.JanusServer) -> int:
    return sum(len(server.handles(s)) for s in server.sessions())


class Members:
    """The pages of a room's members (views in one fake page): each publishes a counting
    camera to ``server`` and answers every feed Janus offers it. Runs on ``page``'s loop."""

    def __init__(self, page: FakeBrowser, room: nbrtc.Room) -> None:
        self.page, self.room = page, room
        #: member id -> {peer ("server" or another member's id) -> pc}
        self.pcs: dict[str, dict[str, RTCPeerConnection]] = {}
        #: (member, feed's member) -> frames received
        self.frames: dict[tuple[str, str], int] = {}
        self.received: list[dict[str, Any]] = []
        self.gone: set[str] = set()
        room._send_protocol = self._on_kernel  # type: ignore[method-assign]

    def _on_kernel(self, msg: dict[str, Any], buffers: Any = None) -> None:
        self.received.append(msg)
        self.page.loop.call_soon_threadsafe(self._handle, msg)

    def of(self, type_: str, sid: str) -> list[dict[str, Any]]:
        return [m for m in list(self.received) if m["type"] == type_ and m["stream"] == sid]

    def send(self, type_: str, sid: str, payload: Any) -> None:
        self.page.send(self.room, type_, sid, payload)  # type: ignore[arg-type]

    def join(self) -> str:
        sid = self.page.new_stream_id()
        self.pcs[sid] = {}
        self.send("join", sid, {"page": self.page.page, "view": f"{sid}-v"})
        self.page.start_task(self._ping(sid))
        return sid

    def leave(self, sid: str) -> None:
        """The view goes: bye, then its pcs close (as js/room/room.js)."""
        self.gone.add(sid)
        self.send("bye", sid, {"reason": "view-removed"})
        self.page.run(self._close(sid))

    def _handle(self, msg: dict[str, Any]) -> None:
        sid, p = msg["stream"], msg["payload"]
        if sid not in self.pcs or sid in self.gone:
            return
        if msg["type"] == "members" and "server" not in self.pcs[sid]:
            self.pcs[sid]["server"] = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self.page.start_task(self._publish(sid))
        elif msg["type"] == "members":
            listed = {m["id"] for m in p["members"]}
            for peer in [k for k in self.pcs[sid] if k != "server" and k not in listed]:
                self.page.start_task(self.pcs[sid].pop(peer).close())
        elif msg["type"] == "signal" and p["from"] == "server" and p["data"]["type"] == "answer":
            desc = RTCSessionDescription(p["data"]["sdp"], "answer")
            self.page.start_task(self.pcs[sid]["server"].setRemoteDescription(desc))
        elif msg["type"] == "signal" and p["data"]["type"] == "offer":
            self.page.start_task(self._answer(sid, p["from"], p["data"]["sdp"]))
        elif msg["type"] == "bye":
            self.gone.add(sid)
            self.page.start_task(self._close(sid))

    def _watch(self, sid: str, peer: str, pc: RTCPeerConnection) -> None:
        @pc.on("connectionstatechange")
        def report() -> None:
            if sid not in self.gone:
                self.send("state", sid, {"peer": peer, "connection": pc.connectionState})

    async def _publish(self, sid: str) -> None:
        pc = self.pcs[sid]["server"]
        self._watch(sid, "server", pc)
        pc.addTransceiver(CountingTrack(fps=10), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())  # candidates are in it
        data = {"type": "offer", "sdp": pc.localDescription.sdp}
        self.send("signal", sid, {"to": "server", "data": data})

    async def _answer(self, sid: str, peer: str, sdp: str) -> None:
        pc = self.pcs[sid][peer] = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._watch(sid, peer, pc)
        self.frames[(sid, peer)] = 0

        @pc.on("track")
        def on_track(track: Any) -> None:
            async def read() -> None:
                with contextlib.suppress(MediaStreamError):
                    while True:
                        await track.recv()
                        self.frames[(sid, peer)] += 1

            self.page.start_task(read())

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        data = {"type": "answer", "sdp": pc.localDescription.sdp}
        self.send("signal", sid, {"to": peer, "data": data})

    async def _ping(self, sid: str) -> None:
        while sid not in self.gone and not self.page.silent:
            self.send("ping", sid, {"t": time.monotonic()})
            await asyncio.sleep(1.0)  # pace: a page pings once a second

    async def _close(self, sid: str) -> None:
        for pc in self.pcs.get(sid, {}).values():
            for sender in pc.getSenders():
                if sender.track:
                    sender.track.stop()
            await pc.close()
        self.pcs[sid] = {}

    def close(self) -> None:
        for sid in list(self.pcs):
            self.gone.add(sid)
            self.page.run(self._close(sid))


def receives_all(members: Members, sids: list[str], frames: int = 5) -> bool:
    return all(members.frames.get((a, b), 0) >= frames for a in sids for b in sids if a != b)


# ------------------------------------------------------------------------------- tests


def test_members_publish_once_receive_the_others_and_leave_cleanly(
    server: jl.JanusServer, janus: nbrtc.Janus, page: FakeBrowser
) -> None:
    room = nbrtc.Room("through-janus", server=janus, max_members=4)
    members = Members(page, room)
    try:
        assert room.sfu == "janus"
        t0 = time.monotonic()
        sids = [members.join() for _ in range(3)]
        wait_for(lambda: receives_all(members, sids), 20, what="each member's frames of the others")
        print(f"\n3 members receive each other {time.monotonic() - t0:.2f} s after the joins")
        wait_for(lambda: room.state == "live", 5, what="room live")
        assert server.room_exists(room._server.room)  # type: ignore[union-attr]
        # one session: the admin handle, 3 publishers, 3 x 2 subscriptions
        assert len(server.sessions()) == 1 and handles_of(server) == 1 + 3 + 6
        # the kernel holds no aiortc peer: the 3 + 6 here are the fake page's
        assert nbrtc.manager().resources()["peers"] == 3 + 6
        links = room.links()
        assert sorted((link["a"], link["direction"]) for link in links) == sorted(
            [(s, "send") for s in sids] + [(s, "receive") for s in sids for _ in range(2)]
        )
        data = room._inspect_data()
        assert "through Janus" in data["note"] and len(data["links"]) == 9
        assert {m["id"]: sorted(m["links"]) for m in room.members()}[sids[0]] == sorted(
            ["server", sids[1], sids[2]]
        )

        # a member leaves: its publisher and both its subscriptions go, and the others'
        # subscriptions to its feed
        t0 = time.monotonic()
        members.leave(sids[0])
        wait_for(lambda: handles_of(server) == 1 + 2 + 2, 3, what="the leaver's handles gone")
        print(f"bye -> 4 handles detached {time.monotonic() - t0:.2f} s")
        last = members.of("members", sids[1])[-1]["payload"]["members"]
        assert [m["id"] for m in last] == sids[1:]
        before = {k: v for k, v in members.frames.items() if k[0] != sids[0]}
        wait_for(
            lambda: all(members.frames[k] > before[k] + 5 for k in before if sids[0] not in k),
            10,
            what="the two left still receive each other",
        )
        # a newcomer receives the feeds already up, and they receive it
        sids.append(members.join())
        rest = sids[1:]
        wait_for(lambda: receives_all(members, rest), 20, what="the newcomer's frames")
        assert handles_of(server) == 1 + 3 + 6
        videoroom = room._server.room  # type: ignore[union-attr]
        t0 = time.monotonic()
        room.close()
        took = time.monotonic() - t0
        assert server.sessions() == [] and not server.room_exists(videoroom)
        assert all(members.of("bye", s) for s in rest)
        print(f"room.close() -> 0 sessions, videoroom destroyed {took * 1000:.0f} ms")
        assert room.state == "closed"
    finally:
        room.close()
        members.close()


def test_a_silent_page_and_closing_the_janus_leave_nothing(
    server: jl.JanusServer, page: FakeBrowser
) -> None:
    janus = nbrtc.Janus(server.ws_url, api_secret=server.api_secret)
    room = nbrtc.Room("crash", server=janus)
    members = Members(page, room)
    try:
        sids = [members.join() for _ in range(2)]
        wait_for(lambda: receives_all(members, sids, 2), 20, what="2 members receive each other")
        assert handles_of(server) == 1 + 2 + 2
        # the page dies without a word (its pcs stay up, no DTLS alert reaches Janus): the
        # watchdog drops both members within 5 s
        t0 = time.monotonic()
        page.silent = True
        wait_for(lambda: handles_of(server) == 1, 7, what="the silent members' handles gone")
        print(f"\nsilent page -> handles gone {time.monotonic() - t0:.2f} s")
        assert room.members() == []
        janus.close()  # closes the room first: its videoroom and session go
        assert room.state == "closed" and server.sessions() == []
    finally:
        janus.close()
        room.close()
        members.close()


def test_rerunning_its_cell_destroys_the_videoroom(
    server: jl.JanusServer, janus: nbrtc.Janus, page: FakeBrowser
) -> None:
    mgr = nbrtc.manager()
    room = nbrtc.Room("rerun", server=janus)
    members = Members(page, room)
    try:
        room._port.cell_id = "cell-A"  # the cell that made it
        sids = [members.join() for _ in range(2)]
        wait_for(lambda: receives_all(members, sids, 1), 20, what="2 members receive each other")
        videoroom = room._server.room  # type: ignore[union-attr]
        mgr._cells.mark_busy(True)
        try:
            mgr._close_cell("cell-A")  # "cell-A" runs again
        finally:
            mgr._cells.mark_busy(False)
        assert room.state == "closed" and all(members.of("bye", s) for s in sids)
        assert server.sessions() == [] and not server.room_exists(videoroom)
    finally:
        room.close()
        members.close()


def test_members_that_leave_at_once_leave_no_handle(
    server: jl.JanusServer, janus: nbrtc.Janus, page: FakeBrowser
) -> None:
    """Joins and byes back to back against the real server: only the room's own handle
    and the staying member's remain."""
    room = nbrtc.Room("brief", server=janus)
    members = Members(page, room)
    try:
        stay = members.join()
        wait_for(lambda: handles_of(server) == 1 + 1, 10, what="the first member's handle")
        for _ in range(3):
            members.leave(members.join())
        wait_for(lambda: room.members() and len(room.members()) == 1, 5, what="one member left")
        wait_for(lambda: handles_of(server) == 1 + 1, 5, what="the leavers' handles detached")
        # attaches in flight when the byes came reach the server later: none may stay
        assert_holds(lambda: handles_of(server) == 1 + 1, 1.0, "no leaver's handle appears")
        assert [m["id"] for m in room.members()] == [stay]
    finally:
        room.close()
        members.close()
    assert server.sessions() == []


class GatedSession:
    """A Janus session whose ``attach`` answers only once ``gate`` is set (a slow server)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = 0  # attach calls held at the gate
        self.made: list[GatedHandle] = []
        self.detached: list[GatedHandle] = []
        self.end: str | None = None

    async def destroy(self, timeout: float | None = None) -> None:
        self.end = "destroyed"

    async def attach(self, plugin: str, timeout: float | None = None) -> GatedHandle:
        self.waiting += 1
        await self.gate.wait()
        handle = GatedHandle(self)
        self.made.append(handle)
        return handle


class GatedHandle:
    def __init__(self, session: GatedSession) -> None:
        self.session, self.id = session, len(session.made) + 1

    async def detach(self, timeout: float | None = None) -> None:
        self.session.detached.append(self)


def test_a_handle_made_after_its_member_left_is_detached() -> None:
    """The member leaves while its publisher handle is being attached: the server makes
    the handle all the same, and the room detaches it once it is made."""

    class Quiet:
        def send_signal(self, to: str, sender: str, data: dict[str, Any]) -> None: ...
        def seat_failed(self, member: str, words: str, full: bool) -> None: ...
        def note(self, words: str) -> None: ...

    class Server:
        url = "ws://203.0.113.9:8188/"

    async def scenario() -> GatedSession:
        session = GatedSession()
        rs = RoomServer(Server(), "gated", 4, Quiet())  # type: ignore[arg-type]
        made = asyncio.get_running_loop().create_future()
        made.set_result(None)
        rs._setup, rs._session = made, session  # type: ignore[assignment]
        rs.joined("a")
        await until(lambda: session.waiting == 1, 2, "the member's attach held at the gate")
        rs.left("a")
        session.gate.set()
        await until(lambda: session.detached, 2, "the late handle detached")
        await rs.close()
        return session

    session = asyncio.run(scenario())
    assert session.made and session.detached == session.made


def test_a_full_room_says_so_in_words(
    server: jl.JanusServer, janus: nbrtc.Janus, page: FakeBrowser
) -> None:
    room = nbrtc.Room("full", server=janus, max_members=3)
    # the kernel admits 3; the videoroom takes 2 (another client of the same room, or an
    # operator's limit): Janus's own "maximum number of publishers" refusal
    room._server.publishers = 2  # type: ignore[union-attr]
    members = Members(page, room)
    try:
        sids = [members.join() for _ in range(2)]
        # Janus counts the publishers whose media is up: the two send before the third comes
        wait_for(lambda: receives_all(members, sids, 1), 20, what="two members publishing")
        third = members.join()
        wait_for(lambda: members.of("bye", third), 10, what="the third member's bye")
        err = members.of("error", third)[0]["payload"]
        assert err["code"] == "limit" and "the room is full (2 members)" in err["message"], err
        assert "max_members" in err["message"]
        # the room goes on for the two (its state stays live); its record keeps the words
        assert room.state == "live"
        assert any("the room is full (2 members)" in str(e) for e in room.history()), room.history()
        assert [m["id"] for m in room.members()] == sids
    finally:
        room.close()
        members.close()
    assert server.sessions() == []


def test_bad_server_argument_fails_fast_in_words(server: jl.JanusServer) -> None:
    with pytest.raises(TypeError, match=r"server must be an nbrtc\.Janus .* got str"):
        nbrtc.Room("x", server=server.ws_url)  # type: ignore[arg-type]
    closed = nbrtc.Janus(server.ws_url)
    closed.close()
    with pytest.raises(TypeError, match=r"closed nbrtc\.Janus"):
        nbrtc.Room("x", server=closed)


def test_an_unreachable_server_fails_the_members_in_words(
    server: jl.JanusServer, page: FakeBrowser
) -> None:
    janus = nbrtc.Janus(f"ws://{server.lab.ns_ip}:8199/", timeout=2)
    room = nbrtc.Room("nowhere", server=janus)
    members = Members(page, room)
    try:
        sid = members.join()
        wait_for(lambda: members.of("bye", sid), 10, what="the member's bye")
        err = members.of("error", sid)[0]["payload"]
        assert "cannot reach Janus" in err["message"] and server.lab.ns_ip in err["message"]
        assert "cannot reach Janus" in room.error and room.state == "error"
    finally:
        room.close()
        janus.close()
        members.close()
