"""``janus.watch(...)``: an existing Janus feed received in the kernel (``nbrtc.JanusFeed``)
with the Camera frame API, against a real Janus.

Marker ``janus`` (root): the module's Janus runs in a namespace of its own
(tests/lab/janus.py). A streaming mountpoint is fed by a real RTP sender (PyAV's rtp muxer,
VP8) inside the namespace; a videoroom publisher is a ``Broadcast``. The admin API counts
sessions independently of nbrtc; ``no_leaks`` checks peers, sockets and decoder threads.

Every wait polls to a deadline; figures are printed (-s).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection

import nbrtc
from lab import janus as jl

from ._browser import wait_for
from ._janus import SESSION_TIMEOUT

pytestmark = pytest.mark.janus


@pytest.fixture(autouse=True)
def leak_checked(no_leaks: None) -> None:
    """Every test here is checked for leaked peers, sockets and decoder threads."""


MOUNTPOINT = 4242
#: where the mountpoint listens for RTP (below the lab's RTP range 20000-20200)
RTP_PORT = 5004
W, H = 320, 240


@pytest.fixture
def mountpoint(server: jl.JanusServer, tmp_path: Path) -> Iterator[int]:
    """A live RTP mountpoint with a sender feeding it."""
    jl.create_mountpoint(server, MOUNTPOINT, RTP_PORT)
    try:
        with jl.RtpSender(server.lab, tmp_path, RTP_PORT, W, H, 30):
            yield MOUNTPOINT
    finally:
        if jl.mountpoint_exists(server, MOUNTPOINT):
            jl.destroy_mountpoint(server, MOUNTPOINT)


def close_to(pixel: np.ndarray, rgb: tuple[int, int, int], tol: int = 16) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(rgb)) <= tol))


# ------------------------------------------------------------------ a streaming mountpoint


def test_open_close_cycles_leave_nothing_on_the_server(
    server: jl.JanusServer, janus: nbrtc.Janus, mountpoint: int
) -> None:
    """Issue 13's "sessions left after N open/close cycles": feeds closed at once (while
    their session, handle or peer is still being made) and feeds closed once live."""
    t0 = time.monotonic()
    for i in range(30):
        feed = janus.watch(mountpoint=mountpoint)
        if i % 3 == 2:
            feed.wait("live", timeout=10)
        feed.close()
        assert feed.closed
    took = time.monotonic() - t0
    server.wait_sessions(0, 2)
    print(f"\n30 watch/close cycles in {took:.1f} s: 0 sessions left")
    assert nbrtc.manager().resources()["peers"] == 0


def test_a_mountpoint_gives_the_camera_frame_api(
    server: jl.JanusServer, janus: nbrtc.Janus, mountpoint: int, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    feed = janus.watch(mountpoint=mountpoint)
    assert feed.state == "connecting" and feed.transport == "janus"
    feed.wait("live", timeout=10)
    live_after = time.monotonic() - t0

    # snapshot: the size and the colours the sender sent
    img = feed.snapshot(timeout=5)
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    assert close_to(img[H // 4, W // 4], jl.LEFT_RGB), img[H // 4, W // 4]
    assert close_to(img[H // 4, 3 * W // 4], jl.RIGHT_RGB), img[H // 4, 3 * W // 4]
    assert feed.latest_frame is not None and feed.frame_size == (W, H)

    # frames(): consecutive frames, the moving square makes them differ
    with feed.frames(5, format="rgb24", timeout=5) as it:
        frames = list(it)
    assert len(frames) == 5 and all(f.shape == (H, W, 3) for f in frames)
    assert any(not np.array_equal(frames[0][H - 20 :], f[H - 20 :]) for f in frames[1:])
    gray = feed.capture(3, format="gray", size=(160, 120))
    assert gray.shape == (3, 120, 160)

    # the awaitable twins, on any loop; blocking on the media thread refuses in words
    async def on_a_loop() -> list[np.ndarray]:
        got = [await feed.snapshot_async(timeout=5)]
        async for frame in feed.frames_async(2, timeout=5):
            got.append(frame)
        return got

    assert [f.shape for f in asyncio.run(on_a_loop())] == [(H, W, 3)] * 3

    async def block_the_media_thread() -> None:
        with feed.frames(timeout=1) as it:
            next(it)

    with pytest.raises(RuntimeError, match=r"block nbrtc's media thread.*feed\.frames_async"):
        nbrtc.manager().media.run(block_the_media_thread(), 5)
    # (30 fps sent; a machine this loaded may deliver half: the count is not the point)
    wait_for(lambda: feed.fps > 5, 5, what="fps measured")

    # process(fn): called on a worker thread, its output kept
    calls: list[str] = []

    def invert(frame: np.ndarray) -> np.ndarray:
        calls.append(threading.current_thread().name)
        return 255 - frame

    feed.process(invert)
    wait_for(
        lambda: feed.latest_processed is not None and feed.process_stats()["frames"] >= 3,
        5,
        what="fn ran",
    )
    out = feed.latest_processed
    assert out is not None and out.shape == (H, W, 3)
    assert close_to(out[H // 4, W // 4], tuple(255 - c for c in jl.LEFT_RGB))  # type: ignore[arg-type]
    assert all(name.startswith("nbrtc-process") for name in calls)
    assert len(calls) >= 3 and feed.process_error == ""
    feed.process(None)

    # record(): a file that decodes back to the feed's size
    rec = feed.record(tmp_path / "feed.webm", seconds=1.0)
    rec.wait(timeout=10)
    assert rec.error is None and rec.frames >= 5, rec
    with av.open(str(tmp_path / "feed.webm")) as f:
        decoded = [fr for fr in f.decode(video=0)]
    assert len(decoded) == rec.frames and (decoded[0].width, decoded[0].height) == (W, H)

    # close: an open iterator ends, an open recording is finalized, the server's
    # session goes, within a second
    it = feed.frames(timeout=5)
    assert next(it) is not None
    open_rec = feed.record(tmp_path / "open.mkv")
    wait_for(lambda: open_rec.received >= 3, 5, what="3 frames recorded")
    assert len(server.sessions()) == 1
    t1 = time.monotonic()
    feed.close()
    took = time.monotonic() - t1
    assert took < 1.0 and feed.state == "closed" and feed.closed
    assert len(list(it)) <= 1  # ends (after a frame that was already queued, if any)
    assert server.sessions() == []
    open_rec.wait(timeout=10)
    assert open_rec.error is None and open_rec.frames >= 1, open_rec
    assert open_rec.frames + open_rec.dropped == open_rec.received >= 3
    feed.close()  # twice is fine
    with pytest.raises(nbrtc.StreamClosedError, match="closed"):
        feed.snapshot(timeout=1)
    print(f"\nlive {live_after:.2f} s after watch(); close() {took * 1000:.0f} ms")


def test_a_mountpoint_that_goes_away_says_publisher_gone(
    server: jl.JanusServer, janus: nbrtc.Janus, mountpoint: int, tmp_path: Path
) -> None:
    feed = janus.watch(mountpoint=mountpoint)
    feed.wait("live", timeout=10)
    rec = feed.record(tmp_path / "cut.mp4")
    it = feed.frames(timeout=5)
    wait_for(lambda: rec.received >= 5, 5, what="5 frames recorded")
    jl.destroy_mountpoint(server, mountpoint)
    wait_for(lambda: feed.state == "failed", 3, what="the feed fails")
    assert "publisher gone" in feed.error and str(mountpoint) in feed.error, feed.error
    with pytest.raises(nbrtc.JanusError, match="publisher gone"):
        feed.snapshot(timeout=1)
    with pytest.raises(nbrtc.JanusError, match="publisher gone"):
        while True:
            next(it)
    rec.wait(timeout=10)  # finalized when the feed ended
    assert rec.frames > 0 and rec.error is None
    server.wait_sessions(0, 3)  # the server's side is released at once
    feed.close()
    assert feed.state == "closed" and "publisher gone" in feed.error


# -------------------------------------------------------------- a videoroom publisher


def test_a_videoroom_publisher_then_publisher_gone(
    server: jl.JanusServer, janus: nbrtc.Janus
) -> None:
    bc = janus.broadcast(nbrtc.sources.test_pattern(W, H, 30), display="lab-cam")
    bc.wait("live", timeout=10)
    assert bc.feed is not None
    by_id = janus.watch(room=bc.room, feed=bc.feed)
    by_name = janus.watch(room=bc.room, display="lab-cam")
    for feed in (by_id, by_name):
        feed.wait("live", timeout=10)
        assert feed.snapshot(timeout=5).shape == (H, W, 3)
        assert len(feed.capture(3)) == 3
    assert "lab-cam" in repr(by_name) and "live" in repr(by_name)
    t0 = time.monotonic()
    bc.close()  # the publisher leaves
    wait_for(lambda: by_id.state == by_name.state == "failed", 3, what="both feeds fail")
    print(f"\npublisher gone noticed {time.monotonic() - t0:.2f} s after it left")
    for feed in (by_id, by_name):
        assert "publisher gone" in feed.error, feed.error
        with pytest.raises(nbrtc.JanusError, match="publisher gone"):
            feed.wait("live", timeout=1)
    janus.close()  # closes its feeds too
    assert by_id.state == by_name.state == "closed"
    assert server.sessions() == []


def test_a_publisher_that_sends_leave_is_noticed_by_the_probe(
    server: jl.JanusServer, janus: nbrtc.Janus
) -> None:
    """Janus 1.1 tells a subscriber nothing when its publisher sends ``leave``: the feed
    goes silent, asks the server, and says "publisher gone" within about two seconds."""
    room = 31337
    server.plugin(
        "janus.plugin.videoroom",
        {"request": "create", "room": room, "publishers": 2, "videocodec": "vp8"},
    )
    mgr = nbrtc.manager()
    source = nbrtc.sources.test_pattern(W, H, 30)
    made: list[Any] = []  # the publisher's track and peer, for the cleanup

    async def publish() -> tuple[Any, Any, int]:
        session = await janus.session_async()
        peer = RTCPeerConnection(jl.NO_ICE_SERVERS)
        track = source._subscribe()
        made.extend([track, peer])
        peer.addTransceiver(track, direction="sendonly")
        handle, feed_id = await jl.publish(session, room, peer)
        # subscribers may join once Janus has the publisher's media ("No such feed" before)
        while (await handle.next_event(10)).kind != "webrtcup":
            pass
        return session, handle, feed_id

    async def unpublish() -> None:
        while made:
            thing = made.pop()
            await thing.close() if isinstance(thing, RTCPeerConnection) else thing.stop()

    try:
        session, handle, feed_id = mgr.media.run(publish(), 10)
        feed = janus.watch(room=room, feed=feed_id)
        feed.wait("live", timeout=10)
        mgr.media.run(handle.message({"request": "leave"}), 5)
        t0 = time.monotonic()
        wait_for(lambda: feed.state == "failed", 4, what="the silent feed asks and fails")
        print(f"\nleave noticed {time.monotonic() - t0:.2f} s after it was sent")
        assert "publisher gone" in feed.error and "left the room" in feed.error, feed.error
        feed.close()
        mgr.media.run(session.destroy(), 5)
    finally:
        mgr.media.run(unpublish(), 5)
        server.plugin("janus.plugin.videoroom", {"request": "destroy", "room": room})


# ----------------------------------------------------------------------- errors in words


def test_what_does_not_exist_fails_in_words_at_once(
    server: jl.JanusServer, janus: nbrtc.Janus
) -> None:
    t0 = time.monotonic()
    feed = janus.watch(mountpoint=999)
    with pytest.raises(nbrtc.JanusError, match="no such mountpoint") as err:
        feed.wait("live", timeout=5)
    took = time.monotonic() - t0
    assert took < 2.0 and feed.state == "failed" and err.value.code == 455
    with pytest.raises(nbrtc.JanusError, match="no such mountpoint"):
        feed.snapshot(timeout=5)
    print(f"\nno such mountpoint said in {took * 1000:.0f} ms")

    room = janus.watch(room=12345, feed=1)
    with pytest.raises(nbrtc.JanusError, match="no such room"):
        room.wait("live", timeout=5)
    bc = janus.broadcast(nbrtc.sources.test_pattern(160, 120, 10))
    bc.wait("live", timeout=10)
    nobody = janus.watch(room=bc.room, display="nobody")
    with pytest.raises(nbrtc.JanusError, match=r"no publisher named 'nobody'.*nbrtc"):
        nobody.wait("live", timeout=5)
    bc.close()
    down = nbrtc.Janus(f"ws://{server.lab.ns_ip}:8199/", timeout=2)
    try:
        lost = down.watch(mountpoint=1)
        with pytest.raises(nbrtc.JanusError, match="cannot reach Janus"):
            lost.wait("live", timeout=5)
    finally:
        down.close()
    for f in (feed, room, nobody):
        f.close()
    server.wait_sessions(0, 3)

    with pytest.raises(ValueError, match=r"needs mountpoint=ID .* or room=ROOM"):
        janus.watch()
    with pytest.raises(ValueError, match=r"exactly one of feed= .* or display="):
        janus.watch(room=1)
    with pytest.raises(ValueError, match="not both"):
        janus.watch(mountpoint=1, room=1, feed=2)
    with pytest.raises(ValueError, match="mountpoint must be a Janus id"):
        janus.watch(mountpoint=-1)


def test_rerunning_its_cell_closes_it(server: jl.JanusServer, janus: nbrtc.Janus) -> None:
    mgr = nbrtc.manager()
    mgr._cells.mark_busy(True)
    try:
        feed = janus.watch(mountpoint=999)
        feed._port.cell_id = "cell-F"  # the cell that made it
        mgr._close_cell("cell-F")  # "cell-F" runs again
    finally:
        mgr._cells.mark_busy(False)
    assert feed.closed and feed.state == "closed"


class NoStreamingJanus(jl.JanusServer):
    """The lab's Janus with the streaming plugin disabled (an operator's choice we meet)."""

    def write_config(self) -> Path:
        conf = super().write_config()
        cfg = conf / "janus.jcfg"
        # the first ``disable`` list is the plugins'
        cfg.write_text(
            cfg.read_text().replace('disable = "', 'disable = "libjanus_streaming.so,', 1)
        )
        return conf


def test_a_server_without_the_streaming_plugin_says_so(
    server: jl.JanusServer, tmp_path: Path
) -> None:
    with NoStreamingJanus(server.lab, tmp_path, SESSION_TIMEOUT, port_offset=1) as other:
        assert "janus.plugin.streaming" not in other.info()["plugins"]
        with nbrtc.Janus(other.ws_url, api_secret=other.api_secret) as janus:
            feed = janus.watch(mountpoint=MOUNTPOINT)
            with pytest.raises(nbrtc.JanusError, match=r"has no janus\.plugin\.streaming: enable"):
                feed.wait("live", timeout=5)
            assert feed.state == "failed"
        assert feed.state == "closed" and other.sessions() == []
