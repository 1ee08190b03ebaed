"""Media over the widget's comm (issue 10 section 2): the kernel side of the transport.

A fake page (tests/kernel/_comm_page.py) speaks the comm transport as js/transport/comm.js does;
where WebRTC is involved it is the usual FakeBrowser (a real aiortc peer).
"""

from __future__ import annotations

import time

import pytest

import nbrtc
from nbrtc._signaling import stream_ice
from nbrtc._signaling.manager import MAX_FRAMES_WAITING
from nbrtc._transport.comm_media import WINDOW, Quality

from ._browser import assert_holds, live, make, wait_for
from ._comm_page import CommPage, halves, jpeg


@pytest.fixture
def page(browser):
    p = CommPage(browser)
    yield p
    p.close()


def _errors(browser, sid):
    return [m["payload"] for m in browser.of_type("error", sid)]


def test_camera_over_the_comm_gives_python_the_frames(browser, widgets, page):
    cam = make(widgets, browser, nbrtc.Camera(transport="comm"))
    sid = page.camera(cam)
    cam.wait("live", timeout=5)
    assert cam.transport == "comm"
    img = cam.snapshot(timeout=5)
    assert img.shape == (240, 320, 3)
    # JPEG is lossy, the colours are not: red on the left, blue on the right
    left, right = img[:, :140].reshape(-1, 3).mean(0), img[:, 180:].reshape(-1, 3).mean(0)
    assert left[0] > 180 and left[2] < 70, left
    assert right[2] > 180 and right[0] < 70, right
    wait_for(lambda: cam.frame_count >= 20, 5, what="frames keep coming")
    # the page never had more than the window unacknowledged (the kernel acks each)
    assert page.max_in_flight[sid] <= WINDOW
    (desc,) = [s for s in nbrtc.manager().streams() if s["id"] == sid]
    assert desc["transport"] == "comm" and desc["state"] == "live"
    notes = [e for e in cam.history() if e.get("event") == "note"]
    assert any("transport none -> comm" in e["summary"] for e in notes), notes
    # frames are counted in the history, never kept as events
    assert not [e for e in cam.history(chatter=True) if e.get("type") in ("frame", "frame-ack")]
    page.stop(sid)
    cam.close()
    wait_for(lambda: not nbrtc.manager().streams(), 3, what="stream gone")


def test_a_stream_started_on_the_comm_is_pinged(browser, widgets, page):
    """The kernel's watchdog pings a stream that started on the comm (it has no answer to
    wait for, unlike a WebRTC stream's first ping): the page's watchdog hears the kernel
    without having to ask."""
    cam = make(widgets, browser, nbrtc.Camera(transport="comm"))
    sid = page.offer(cam)
    wait_for(lambda: browser.of_type("ping", sid), 3, what="a kernel ping on the comm stream")
    cam.close()
    wait_for(lambda: not nbrtc.manager().streams(), 3, what="stream gone")


def test_view_over_the_comm_is_flow_controlled(browser, widgets, page):
    view = make(widgets, browser, nbrtc.VideoView(nbrtc.sources.test_pattern(), transport="comm"))
    sid = page.view(view, withhold_acks=True)
    # a page that acknowledges nothing gets exactly the window, then nothing more
    wait_for(lambda: browser.comm_frame_count.get(sid, 0) >= WINDOW, 5, what="first frames")
    assert_holds(lambda: browser.comm_frame_count.get(sid, 0) == WINDOW, 1.0, "window held")
    assert view.state == "connecting"  # nothing drawn yet
    page.release(sid)
    view.wait("live", timeout=5)
    assert view.transport == "comm"
    wait_for(lambda: page.acked.get(sid, 0) >= 20, 5, what="frames flow once acknowledged")
    assert page.decoded[sid].shape[2] == 3
    page.stop(sid)


def test_page_that_ignores_flow_control_costs_no_memory(browser, widgets, page):
    cam = make(widgets, browser, nbrtc.Camera(transport="comm"))
    sid = page.offer(cam)
    data = jpeg(halves())
    mgr = nbrtc.manager()
    # 400 frames at once, no waiting for acks: the manager holds at most
    # MAX_FRAMES_WAITING of them, refuses the rest with `limit`
    for seq in range(1, 401):
        page.frame(cam, sid, seq, data, 320, 240)
        assert mgr._frames_waiting.get(sid, 0) <= MAX_FRAMES_WAITING
    browser.barrier(cam)
    limits = [e for e in _errors(browser, sid) if e["code"] == "limit"]
    assert limits, "a flood beyond the window is refused"
    cam.wait("live", timeout=5)
    assert 1 <= cam.frame_count < 400


def test_bad_jpeg_is_counted_and_the_stream_goes_on(browser, widgets, page):
    cam = make(widgets, browser, nbrtc.Camera(transport="comm"))
    sid = page.offer(cam)
    page.frame(cam, sid, 1, b"\xff\xd8 not a jpeg", 320, 240)
    wait_for(lambda: 1 in page._acks(sid), 5, what="even a bad frame is acknowledged")
    page.frame(cam, sid, 2, jpeg(halves()), 320, 240)
    cam.wait("live", timeout=5)
    assert cam.frame_count == 1
    stream = cam._last_stream
    assert stream._comm_in.bad == 1


@pytest.mark.parametrize(
    ("content", "buffers", "code"),
    [
        ({"seq": 1, "w": 320, "h": 240, "type": "jpeg"}, None, "bad-message"),
        ({"seq": 1, "w": 320, "h": 240, "type": "png"}, [b"x"], "bad-message"),
        ({"seq": -1, "w": 320, "h": 240, "type": "jpeg"}, [b"x"], "bad-message"),
        ({"seq": 1, "w": 99999, "h": 240, "type": "jpeg"}, [b"x"], "bad-message"),
        ({"seq": 1, "w": 320, "h": 240, "type": "jpeg"}, [b"x", b"y"], "bad-message"),
        ({"seq": 1, "w": 320, "h": 240, "type": "jpeg"}, [b"x" * (4 * 2**20 + 1)], "too-large"),
    ],
)
def test_bad_frames_are_refused(browser, widgets, page, content, buffers, code):
    cam = make(widgets, browser, nbrtc.Camera(transport="comm"))
    sid = page.offer(cam)
    cam._manager.handle_message(cam._port, browser.envelope("frame", sid, content), buffers)
    browser.barrier(cam)
    assert [e["code"] for e in _errors(browser, sid)] == [code]


def test_buffers_only_on_frames_and_comm_offers_only_for_video(browser, widgets, page):
    cam = make(widgets, browser, nbrtc.Camera(transport="comm"))
    sid = page.offer(cam)
    cam._manager.handle_message(cam._port, browser.envelope("ping", sid, {"t": 1}), [b"x"])
    probe = make(widgets, browser, nbrtc.Microphone())
    rsid = page.offer(probe, kind="probe")  # a kind the comm does not carry
    browser.barrier(cam)
    assert [e["code"] for e in _errors(browser, sid)] == ["bad-message"]
    (err,) = _errors(browser, rsid)
    assert "transport 'comm' is for kinds" in err["message"]
    # sound goes over the comm too (tests/kernel/test_comm_audio.py)
    assert make(widgets, browser, nbrtc.Microphone(transport="comm")).transport_mode == "comm"
    with pytest.raises(ValueError, match="transport must be one of"):
        nbrtc.Camera(transport="udp")


def test_fallback_from_webrtc_to_the_comm_keeps_the_stream(browser, widgets, page, monkeypatch):
    """ICE never connects (the page never applies the answer); the page moves the stream
    to the comm; the kernel's ICE watchdog then drops only the peer connection."""
    monkeypatch.setattr(stream_ice, "ICE_CONNECT_TIMEOUT", 1.0)
    browser.drop_answers = True
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    wait_for(lambda: cam._last_stream is not None and cam._last_stream._pc is not None, 5)
    browser.send(cam, "transport", sid, {"use": "comm", "why": "WebRTC not connected after 1.5 s"})
    data = jpeg(halves())
    for seq in (1, 2):
        page.frame(cam, sid, seq, data, 320, 240)
    cam.wait("live", timeout=5)
    assert cam.transport == "comm"
    stream = cam._last_stream
    wait_for(lambda: stream._pc is None, 5, what="the ICE watchdog dropped the peer")
    assert stream.state == "live" and cam.state == "live" and cam.error == ""
    notes = " / ".join(e["summary"] for e in cam.history() if e.get("event") == "note")
    assert "WebRTC given up, the comm carries the stream" in notes
    assert "page: WebRTC not connected after 1.5 s" in notes
    page.frame(cam, sid, 3, data, 320, 240)
    wait_for(lambda: cam.frame_count == 3, 5, what="frames still arrive over the comm")
    assert [m["payload"] for m in browser.of_type("transport", sid)] == [{"use": "comm"}]


def test_back_to_webrtc_when_it_connects_later(browser, widgets, page):
    view = make(widgets, browser, nbrtc.VideoView(nbrtc.sources.test_pattern()))
    sid = browser.start(view)
    # the page moved to the comm before ICE connected (here: it had, but said so anyway)
    browser.send(view, "transport", sid, {"use": "comm", "why": "slow ICE"})
    page._go(page._recv_loop(view, sid))
    wait_for(lambda: page.acked.get(sid, 0) >= 3, 5, what="kernel frames over the comm")
    assert view.transport == "comm"
    wait_for(lambda: browser.pcs[sid].connectionState == "connected", 5)
    browser.send(view, "transport", sid, {"use": "webrtc", "why": "WebRTC connected"})
    wait_for(lambda: view.transport == "direct", 5, what="back on WebRTC")
    stream = view._last_stream
    assert stream._comm_out is None
    sent = browser.comm_frame_count[sid]
    assert_holds(lambda: browser.comm_frame_count[sid] == sent, 0.5, "no more comm frames")
    wait_for(lambda: browser.frame_counts[sid] > 5, 5, what="RTP frames reach the page")
    page.stop(sid)


def test_transport_webrtc_without_a_connected_peer_is_refused(browser, widgets, page):
    cam = make(widgets, browser, nbrtc.Camera(transport="comm"))
    sid = page.offer(cam)
    browser.send(cam, "transport", sid, {"use": "webrtc"})
    browser.barrier(cam)
    assert [e["code"] for e in _errors(browser, sid)] == ["out-of-order"]
    assert cam._last_stream.transport == "comm"
    assert "no WebRTC peer" in _errors(browser, sid)[0]["message"]


def test_blocking_snapshot_in_a_running_cell_over_the_comm(browser, widgets, page):
    cam = make(widgets, browser, nbrtc.Camera(transport="comm"))
    sid = page.camera(cam)
    cam.wait("live", timeout=5)
    mgr = nbrtc.manager()
    mgr._busy = True  # as inside a running cell: comm messages wait for its end
    try:
        img = cam.snapshot(timeout=1)  # the newest frame the kernel has, at once
        assert img.shape == (240, 320, 3)
        page.stop(sid)
        cam._slot.clear()
        t0 = time.monotonic()
        with pytest.raises(nbrtc.NotDisplayedError, match=r"await cam\.snapshot_async"):
            cam.snapshot(timeout=5)
        assert time.monotonic() - t0 < 1
    finally:
        mgr._busy = False


def test_quality_steps_down_when_frames_queue_and_back_up():
    now = [0.0]
    q = Quality(lambda: now[0])

    def second(at: int, rtt: float, skip: bool = False) -> None:
        for i in range(30):
            now[0] = at + i / 30
            if skip and i % 2:
                q.skipped()
            q.acked(rtt)
            q.offered()

    second(0, 0.04)
    for at in range(1, 3):  # a full window on a fast link: no reason to lose quality
        second(at, 0.045, skip=True)
    assert q.quality >= 0.7 and q.scale == 1.0  # up, if anything
    for at in range(3, 15):  # the round trip grows: frames queue on a slow link
        second(at, 0.4)
    assert q.quality == pytest.approx(0.35) and q.scale < 1.0
    low = q.scale
    for at in range(15, 45):  # clear again
        second(at, 0.04)
    assert q.scale == 1.0 and q.quality > 0.35 and low < 1.0
    assert 2 <= q.qscale() <= 31
    w, h = q.size(641, 481)
    assert w % 2 == 0 and h % 2 == 0


def test_rising_round_trip_steps_down():
    now = [0.0]
    q = Quality(lambda: now[0])
    for i in range(30):
        now[0] = i / 30
        q.acked(0.04)
        q.offered()
    for i in range(30, 70):
        now[0] = i / 30
        q.acked(0.5)  # frames queue somewhere on the way
        q.offered()
    assert q.quality < 0.7


def test_a_webrtc_stream_names_its_path(browser, widgets):
    cam, sid = live(browser, widgets, nbrtc.Camera())
    wait_for(lambda: cam.transport == "direct", 3, what="the path named: direct")
    notes = " / ".join(e["summary"] for e in cam.history() if e.get("event") == "note")
    assert "transport none -> direct: WebRTC connected" in notes
    assert browser.of_type("transport", sid) == []  # the page was never asked to move
