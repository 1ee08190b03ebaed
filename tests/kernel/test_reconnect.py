"""Reconnection after a network blip (issue 10 section 3), against a real aiortc page.

Two mechanisms:

* video resumes at once when packets come back after a gap (src/nbrtc/_transport/rtp_recovery.py):
  the blackout is made on the kernel's DTLS transport (every RTP packet in one direction
  dropped, RTCP and ICE untouched), so the page's peer stays connected and only the
  media has a hole -- what a receiver sees after a Wi-Fi drop;
* ICE restarts with backoff when the page reports its path lost, and failure in words
  after the give-up time (src/nbrtc/_transport/reconnect.py), with the times shortened.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiortc.rtp import is_rtcp

import nbrtc
from nbrtc._transport import reconnect as _reconnect
from nbrtc._transport import rtp_recovery as _rtp_recovery

from ._browser import FakeBrowser, assert_holds, live, wait_for

pytestmark = pytest.mark.timeout(90)

#: The blackout of these tests (seconds), as in the issue. Longer than the sender's
#: retransmission history (aiortc keeps 128 packets, ~4 s of the fake camera's small
#: frames): after a shorter one NACKs alone refill the hole (Chromium keeps far less).
BLACKOUT = 5.0
#: goal of the issue: the longest gap in frames reaching Python is at most 2 s after the
#: network returns; on loopback it is one round trip plus a keyframe's encoding
RESUME_BOUND = 1.0


def _stream(sid: str) -> Any:
    return nbrtc.manager()._streams[sid]


def _run(coro: Any) -> Any:
    return nbrtc.manager().media.run(coro, 5)


@contextlib.contextmanager
def rtp_blackout(pc: Any, direction: str) -> Iterator[None]:
    """Drop every RTP packet the kernel's ``pc`` receives (``"recv"``) or sends
    (``"send"``) while inside; RTCP (PLIs, reports) and ICE keep flowing. The hook is an
    instance attribute on the DTLS transport, put and removed on the media loop."""
    dtls = next(t.receiver.transport for t in pc.getTransceivers())
    name = "_handle_rtp_data" if direction == "recv" else "_send_rtp"
    original = getattr(dtls, name)

    async def recv(data: bytes, arrival_time_ms: int) -> None:
        return None  # lost

    async def send(data: bytes) -> None:
        if is_rtcp(data):
            await original(data)

    async def put() -> None:
        setattr(dtls, name, recv if direction == "recv" else send)

    async def remove() -> None:
        delattr(dtls, name)

    _run(put())
    try:
        yield
    finally:
        _run(remove())


def _frames_resume(count: Any, restored: float) -> float:
    """Seconds from ``restored`` until ``count()`` grows (polled to RESUME_BOUND + 10)."""
    before = count()
    wait_for(lambda: count() > before, RESUME_BOUND + 10, 0.005, what="frames after the blackout")
    return time.monotonic() - restored


# --- 1. keyframe at once when packets resume ---------------------------------------------
def test_camera_video_resumes_at_once_after_a_blackout(
    browser: FakeBrowser, widgets: list[Any]
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    stream = _stream(sid)
    wait_for(lambda: stream.frames > 30, 10, what="a second of frames")
    with rtp_blackout(stream._pc, "recv"):
        # frames already in flight drain: wait until none arrived for 0.15 s (bounded)
        last, still_since = stream.frames, time.monotonic()
        deadline = time.monotonic() + 2.0
        while time.monotonic() - still_since < 0.15 and time.monotonic() < deadline:
            time.sleep(0.01)  # poll interval (until 0.15 s of quiet, bounded)
            if stream.frames != last:
                last, still_since = stream.frames, time.monotonic()
        frozen = stream.frames
        assert_holds(lambda: stream.frames == frozen, BLACKOUT - 0.3, "no frame in the blackout")
    restored = time.monotonic()
    took = _frames_resume(lambda: stream.frames, restored)
    info = _rtp_recovery.stats(stream._pc)
    print(
        f"camera: frames back {took:.3f} s after the blackout; {info['resumes']} recovery, "
        f"{info['frames_dropped']} frames held back, PLIs at "
        f"{[round(t - restored, 3) for t in info['pli_times']]}"
    )
    assert took <= RESUME_BOUND, f"frames came back only {took:.2f} s after the blackout"
    assert info["resumes"] == 1, info
    assert any(0 <= t - restored <= 0.3 for t in info["pli_times"]), (
        "no PLI at resume",
        info["pli_times"],
        restored,
    )
    assert cam.state == "live"
    # and the stream keeps going
    n = stream.frames
    wait_for(lambda: stream.frames > n + 30, 5, what="a second of frames after resuming")


def test_view_video_resumes_at_once_after_a_blackout_to_the_page(
    browser: FakeBrowser, widgets: list[Any]
) -> None:
    """Kernel -> page: the page's receiver asks for a keyframe (Chromium does this by
    itself; the fake page's aiortc receiver has our recovery) and aiortc's sender answers
    it with a keyframe at once."""
    view, sid = live(browser, widgets, nbrtc.VideoView(nbrtc.sources.test_pattern()))
    stream = _stream(sid)
    wait_for(lambda: browser.frame_counts.get(sid, 0) > 30, 10, what="frames in the page")
    sender = next(t.sender for t in stream._pc.getTransceivers() if t.sender.track is not None)
    keyframes: list[float] = []
    forced = sender._send_keyframe

    def record() -> None:
        keyframes.append(time.monotonic())
        forced()

    sender._send_keyframe = record
    with rtp_blackout(stream._pc, "send"):
        time.sleep(BLACKOUT)  # scenario: the blackout's length
    restored = time.monotonic()
    took = _frames_resume(lambda: browser.frame_counts.get(sid, 0), restored)
    print(
        f"view: page frames back {took:.3f} s after the blackout; kernel keyframes forced "
        f"at {[round(t - restored, 3) for t in keyframes]}"
    )
    assert took <= RESUME_BOUND, f"the page's frames came back only {took:.2f} s later"
    assert any(0 <= t - restored <= 0.3 for t in keyframes), "the sender got no PLI at resume"
    assert view.state == "live"


def test_a_gap_without_loss_or_a_stray_packet_changes_nothing() -> None:
    rec = _rtp_recovery.Recovery()
    assert rec.observe(100, 0.0) is None
    assert rec.observe(101, 5.0) is None, "a pause without loss (sender paused, loop stall)"
    assert rec.observe(99, 5.1) is None, "a late packet"
    assert rec.observe(105, 5.2) is None, "a little loss, no gap: NACK repairs it"
    assert rec.observe(140, 6.0) == pytest.approx(0.8), "loss across a gap"
    assert rec.observe(140 + _rtp_recovery.SEQ_JUMP + 2, 6.01) is not None, "a big jump"
    assert rec.observe(3, 6.02) is not None or True  # wraps around: just no exception


def test_keyframe_detection() -> None:
    vp8_key = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01])
    vp8_delta = bytes([0x11, 0x02, 0x00, 0x9D, 0x01, 0x2A])
    assert _rtp_recovery.is_keyframe("VP8", vp8_key)
    assert not _rtp_recovery.is_keyframe("VP8", vp8_delta)
    assert not _rtp_recovery.is_keyframe("VP8", bytes([0x10, 0, 0, 0, 0, 0]))
    assert _rtp_recovery.is_keyframe("H264", b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x65")
    assert not _rtp_recovery.is_keyframe("H264", b"\x00\x00\x00\x01\x41\x9a")
    _rtp_recovery.check_supported()


# --- 2. ICE restart with backoff, give-up in words ------------------------------------------
@pytest.fixture
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_reconnect, "GRACE", 0.3)
    monkeypatch.setattr(_reconnect, "BACKOFF", (0.3, 0.6, 1.2))
    monkeypatch.setattr(_reconnect, "GIVE_UP", 4.0)


def _report(browser: FakeBrowser, cam: Any, sid: str, ice: str, conn: str) -> None:
    browser.send(
        cam,
        "state",
        sid,
        {"signaling": "stable", "gathering": "complete", "ice": ice, "connection": conn},
    )


def _restarts(browser: FakeBrowser, sid: str) -> list[dict[str, Any]]:
    return [m for m in browser.of_type("renegotiate", sid) if m["payload"]["ice_restart"]]


def test_a_lost_path_gets_ice_restarts_with_backoff_until_it_is_back(
    browser: FakeBrowser, widgets: list[Any], fast_reconnect: None
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    stream = _stream(sid)
    _report(browser, cam, sid, "connected", "connected")
    t0 = time.monotonic()
    _report(browser, cam, sid, "disconnected", "connected")
    times: list[float] = []

    def count() -> int:
        while len(times) < len(_restarts(browser, sid)):
            times.append(time.monotonic() - t0)
        return len(times)

    wait_for(lambda: count() >= 3, 5, 0.005, what="three ICE restart requests")
    assert times[0] >= 0.25, f"restart before the grace: {times}"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[1] > gaps[0] * 1.5, f"no backoff between restarts: {times}"
    _report(browser, cam, sid, "connected", "connected")
    wait_for(lambda: stream.reconnect.state == "idle", 2, what="the path back")
    n = count()
    assert_holds(lambda: count() == n, 1.5, "no restart once the path is back")
    assert cam.state == "live"
    notes = [e["summary"] for e in cam.history() if e["event"] == "note"]
    print("\n".join(n for n in notes if n.startswith("reconnect")))
    assert sum("ICE restart" in s and "asked of the page" in s for s in notes) == n
    assert any("path back after" in s for s in notes), notes
    # the page answered each request with a reoffer; the stream is still negotiable
    wait_for(lambda: len(browser.reoffers.get(sid, [])) >= 1, 5, what="reoffers")


def test_a_path_that_never_comes_back_fails_in_words_after_the_give_up_time(
    browser: FakeBrowser, widgets: list[Any], fast_reconnect: None
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    t0 = time.monotonic()
    _report(browser, cam, sid, "failed", "failed")
    assert_holds(lambda: cam.state == "live", _reconnect.GIVE_UP - 0.5, "live until give-up")
    wait_for(lambda: cam.state == "error", 3, what="the stream failing after the give-up time")
    took = time.monotonic() - t0
    words = str(cam.error)
    print(f"failed after {took:.1f} s: {words}")
    assert "network path between the browser and the kernel was lost 4 s ago" in words
    assert "ICE restart(s)" in words and "did not bring it back" in words
    assert "the browser's ICE is 'failed'" in words
    assert len(_restarts(browser, sid)) >= 3


def test_states_before_live_and_after_close_start_nothing(
    browser: FakeBrowser, widgets: list[Any], fast_reconnect: None
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    stream = _stream(sid)
    cam.close()
    _report(browser, cam, sid, "disconnected", "disconnected")
    assert stream.reconnect.state == "closed"
    assert_holds(lambda: not _restarts(browser, sid), 0.8, "no restart for a closed stream")


# --- 3. a new peer connection on both sides under the same stream ---------------------------
def _fresh_requests(browser: FakeBrowser, sid: str) -> list[dict[str, Any]]:
    return [m for m in browser.of_type("renegotiate", sid) if m["payload"].get("fresh")]


def test_after_ice_restarts_fail_a_new_peer_connection_carries_the_same_stream(
    browser: FakeBrowser,
    widgets: list[Any],
    fast_reconnect: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    """ICE restarts that do not bring the path back are followed by a renegotiation from
    scratch: the page makes a new pc, the kernel answers with a new peer under the same
    stream, and the widget's frames() iterator and recorder go on across the switch; the
    old kernel peer is closed (no leak: the fixture counts sockets and peers)."""
    monkeypatch.setattr(_reconnect, "ICE_RESTARTS", 1)
    monkeypatch.setattr(_reconnect, "GIVE_UP", 20.0)
    cam, sid = live(browser, widgets, nbrtc.Camera())
    stream = _stream(sid)
    old_pc = stream._pc
    frames = cam.frames(timeout=5)
    next(frames)
    rec = cam.record(tmp_path / "across.mp4")
    _report(browser, cam, sid, "connected", "connected")
    _report(browser, cam, sid, "failed", "failed")
    wait_for(lambda: _fresh_requests(browser, sid), 5, what="a fresh request after one restart")
    assert len(_restarts(browser, sid)) >= 2  # the restart, then the fresh one
    wait_for(lambda: stream._pc not in (None, old_pc), 5, what="the kernel's new peer")
    wait_for(lambda: old_pc.connectionState == "closed", 5, what="the old peer closed")
    new_pc = stream._pc
    wait_for(lambda: new_pc.connectionState == "connected", 10, what="the new peer connected")
    n = cam.frame_count
    wait_for(lambda: cam.frame_count > n + 5, 10, what="frames over the new peer")
    got = [next(frames) for _ in range(3)]  # the same iterator
    assert all(f.shape[2] == 3 for f in got)
    _report(browser, cam, sid, "connected", "connected")
    wait_for(lambda: stream.reconnect.state == "idle", 3, what="the path back")
    assert cam.state == "live" and stream is _stream(sid)
    assert stream.reconnect.fresh_peers >= 1
    rec.stop()
    assert rec.frames > 5
    notes = [e["summary"] for e in cam.history() if e["event"] == "note"]
    print("\n".join(x for x in notes if x.startswith("reconnect")))
    assert any("a new peer connection, asked of the page" in x for x in notes), notes
    assert any("answered the page's new peer connection" in x for x in notes), notes
    rounds = [r["reason"] for r in stream.sdp_rounds]
    assert any("new peer connection" in r for r in rounds), rounds
    assert browser.fresh_pcs.get(sid, 0) >= 1


def test_the_kernels_own_connection_ending_asks_for_a_new_peer_at_once(
    browser: FakeBrowser, widgets: list[Any], fast_reconnect: None
) -> None:
    """aioice ends the kernel's ICE connection when consent expires (~30 s without an
    answer): an ICE restart cannot help then, so the first attempt, GRACE s later, is a
    new peer connection; the stream stays live meanwhile."""
    cam, sid = live(browser, widgets, nbrtc.Camera())
    stream = _stream(sid)
    _report(browser, cam, sid, "connected", "connected")
    taken = _run(_kernel_failed(stream))
    assert taken is True
    wait_for(lambda: _fresh_requests(browser, sid), 3, what="a fresh request")
    first = browser.of_type("renegotiate", sid)[0]["payload"]
    assert first.get("fresh") is True, f"an ICE restart first: {first}"
    assert cam.state == "live"
    # the page's old pc saying "connected" is not the path back while the kernel's is gone
    wait_for(lambda: stream.reconnect.fresh_peers >= 1, 3)


async def _kernel_failed(stream: Any) -> bool:
    return bool(stream.reconnect.kernel_failed())


def test_a_fresh_reoffer_nobody_asked_for_is_refused(
    browser: FakeBrowser, widgets: list[Any]
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    stream = _stream(sid)
    pc = stream._pc

    async def allow_one_plain_reoffer() -> None:  # as after a codec change's renegotiate
        stream._reoffers_expected += 1

    _run(allow_one_plain_reoffer())
    browser.send(cam, "reoffer", sid, {"sdp": browser.offers[sid], "fresh": True})
    wait_for(
        lambda: any(
            "did not ask for a new peer connection" in m["payload"]["message"]
            for m in browser.of_type("error", sid)
        ),
        5,
        what="the refusal",
    )
    assert stream._pc is pc and cam.state == "live"
