"""Manager, streams and teardown against a real aiortc peer standing in for the browser."""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

import nbrtc
from nbrtc import sources

from ._browser import FakeBrowser, assert_holds, wait_for


def make(widgets: list, browser: FakeBrowser, widget):  # type: ignore[no-untyped-def]
    widgets.append(widget)
    browser.attach(widget)
    return widget


def states_of(browser: FakeBrowser, sid: str) -> list[str]:
    return [m["payload"]["state"] for m in browser.of_type("state", sid)]


def test_camera_frames_reach_python(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    assert cam.state == "new"
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    img = cam.snapshot(timeout=5)
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    first = cam.frame_count
    wait_for(lambda: cam.frame_count >= first + 10, 5, what="10 more frames")
    assert not np.array_equal(img, cam.snapshot()), "frames should change over time"
    assert cam.snapshot(format="gray").shape == (240, 320)
    bgr = cam.snapshot(format="bgr24")
    assert bgr.shape == (240, 320, 3)
    [info] = nbrtc.manager().streams()
    assert info["id"] == sid and info["kind"] == "camera" and info["state"] == "live"
    assert info["page"] == browser.page and info["widget"] == cam.model_id
    cam.close()
    assert cam.state == "closed"
    assert states_of(browser, sid) == ["connecting", "live", "closed"]
    assert browser.of_type("bye", sid), "the browser must be told to close"


def test_frames_keep_arriving_while_main_thread_blocks(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    browser.start(cam)
    cam.wait("live", timeout=10)
    wait_for(lambda: cam.frame_count >= 5, 10, what="frames flowing")
    before = cam.frame_count
    # a cell computing in pure Python for 2 s (holding the GIL in bursts, like numpy-free
    # user code): the media thread must keep receiving frames, all along. The rate drops
    # (this process holds both peers, the stand-in browser's encoder too, and every GIL
    # hand-off waits for the switch interval): 12-15 fps of 30 on a 2-core machine; a
    # stalled media thread would deliver none, or all at once when the cell ends.
    start = time.monotonic()
    end, last, arrivals = start + 2.0, before, [start]
    while (now := time.monotonic()) < end:
        sum(i * i for i in range(20_000))
        if cam.frame_count != last:
            last = cam.frame_count
            arrivals.append(now)
    arrivals.append(time.monotonic())
    got = cam.frame_count - before
    gap = max(b - a for a, b in itertools.pairwise(arrivals))
    assert got >= 16, f"{got} frames in 2 s while the main thread computed"
    assert gap < 0.5, f"no frame for {gap:.2f} s while the main thread computed"


def test_video_view_plays_test_pattern(browser, widgets, no_leaks):
    view = make(widgets, browser, nbrtc.VideoView())
    sid = browser.start(view)
    view.wait("live", timeout=10)
    wait_for(lambda: len(browser.frames[sid]) >= 2, 10, what="frames in the browser")
    a = browser.frames[sid][-1].copy()
    wait_for(lambda: not np.array_equal(browser.frames[sid][-1], a), 5, what="pattern moves")
    assert a.shape == (480, 640, 3)
    view.close()
    assert not view.source.running, "the pattern producer stops with its last view"


def test_two_views_share_one_producer(browser, widgets, no_leaks):
    src = sources.test_pattern(320, 240, fps=15)
    v1 = make(widgets, browser, nbrtc.VideoView(src))
    v2 = make(widgets, browser, nbrtc.VideoView(src))
    s1, s2 = browser.start(v1), browser.start(v2)
    wait_for(lambda: browser.frames[s1] and browser.frames[s2], 10, what="both views get frames")
    assert src.subscribers == 2
    producer = src._producer
    v1.close()
    assert src.subscribers == 1 and src._producer is producer and src.running
    v2.close()
    wait_for(lambda: not src.running, 2, what="producer released")
    assert producer.readyState == "ended"


def test_frames_source_error_keeps_stream(browser, widgets, no_leaks):
    calls = {"n": 0}

    def gen() -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom")
        return np.full((120, 160, 3), calls["n"] % 256, np.uint8)

    view = make(widgets, browser, nbrtc.VideoView(sources.frames(gen, fps=30)))
    sid = browser.start(view)
    wait_for(lambda: view.error == "RuntimeError: boom", 10, what="error shown")
    n = calls["n"]
    wait_for(lambda: calls["n"] > n + 5, 5, what="the source keeps being called")
    assert view.state == "live"
    assert browser.frames[sid][-1].shape == (120, 160, 3)


def test_browser_bye_closes_kernel_peer(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    browser.bye(sid)
    took = wait_for(lambda: not nbrtc.manager().streams(), 2, what="stream gone")
    assert took < 1.0
    assert cam.state == "new", "views gone, widget open: display it again to stream"
    assert not cam._closed
    # a late candidate for the dead stream is dropped without a reply
    errors = len(browser.of_type("error", sid))
    browser.send(cam, "candidate", sid, None)
    browser.barrier(cam)
    assert len(browser.of_type("error", sid)) == errors
    # and an offer for it is refused: nothing is created for a dead id
    browser.send(
        cam,
        "offer",
        sid,
        {"sdp": browser.offers[sid], "kind": "camera", "page": browser.page, "view": "x"},
    )
    wait_for(
        lambda: any(m["payload"]["code"] == "closed" for m in browser.of_type("error", sid)), 2
    )
    assert not nbrtc.manager().streams()


def test_close_while_negotiating_creates_nothing(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    browser.drop_answers = True
    sid = browser.new_stream_id()
    browser.widgets[sid] = cam
    browser.run(browser._start(cam, sid, "camera", trickle=True))
    cam.close()  # immediately: the answer may or may not have been made
    assert cam.state == "closed"
    # either the stream was made and torn down, or its offer arrived after close and was
    # refused: both ways the browser is told to close
    wait_for(lambda: browser.of_type("bye", sid), 2, what="bye for the stream")
    wait_for(lambda: not nbrtc.manager().streams(), 2, what="stream gone")
    # candidates after close are dropped, nothing is re-created
    browser.send(cam, "candidate", sid, None)
    browser.barrier(cam)
    assert not nbrtc.manager().streams()


def test_double_offer_gives_one_stream(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    sdp = browser.pcs[sid].localDescription.sdp
    browser.send(
        cam, "offer", sid, {"sdp": sdp, "kind": "camera", "page": browser.page, "view": sid}
    )
    wait_for(lambda: browser.of_type("error", sid), 2, what="error reply")
    assert browser.of_type("error", sid)[0]["payload"]["code"] == "out-of-order"
    cam.wait("live", timeout=10)
    assert len(nbrtc.manager().streams()) == 1


def test_bad_messages_get_errors_and_do_not_disturb(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    mgr = nbrtc.manager()
    view = make(widgets, browser, nbrtc.VideoView())
    vid = browser.start(view)
    sdp = browser.offers[vid]
    bad = [
        None,
        [],
        "hello",
        {"v": 2, "type": "offer", "stream": sid, "payload": {}},
        {"v": 1, "type": "nope", "stream": sid, "payload": None},
        {"v": 1, "type": "candidate", "stream": "bad id!", "payload": None},
        {"v": 1, "type": "candidate", "stream": sid, "payload": {"candidate": 5}},
        {"v": 1, "type": "candidate", "stream": "p-unknown", "payload": None},
        {"v": 1, "type": "offer", "stream": "p-x", "payload": {"sdp": "x", "kind": "camera"}},
        # a real offer of the wrong kind for this widget
        {"v": 1, "type": "offer", "stream": "p-y", "payload": {"sdp": sdp, "kind": "view"}},
        {"v": 1, "type": "ping", "stream": sid, "payload": {"t": "x" * 300_000}},
    ]
    before = len(browser.of_type("error"))
    for msg in bad:
        mgr.handle_message(cam._port, msg)
    wait_for(
        lambda: len(browser.of_type("error")) - before == len(bad), 3, what="one error reply each"
    )
    codes = [m["payload"]["code"] for m in browser.of_type("error")[before:]]
    assert set(codes) >= {
        "bad-message",
        "version",
        "bad-type",
        "unknown-stream",
        "wrong-kind",
        "too-large",
    }
    n = cam.frame_count
    wait_for(lambda: cam.frame_count > n + 10, 5, what="the live stream keeps delivering")
    assert sorted(s["id"] for s in mgr.streams()) == sorted([sid, vid])


def test_silent_browser_is_closed_by_watchdog(browser, widgets, no_leaks, monkeypatch):
    import nbrtc._signaling.manager as m

    monkeypatch.setattr(m, "BROWSER_TIMEOUT", 1.0)
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    browser.crash(sid)  # no bye, no more messages
    took = wait_for(lambda: not nbrtc.manager().streams(), 5, what="watchdog closes the stream")
    assert took < 3.0


def test_one_ping_per_page_vouches_for_all_its_streams(browser, widgets, no_leaks, monkeypatch):
    """docs/protocol.md "Liveness": the kernel pings a page once for all its streams
    (``live`` lists them), not once per stream; the page's one heartbeat listing its
    streams keeps each alive; a stream it stops listing is closed by the watchdog; and
    another page cannot keep this page's streams alive by listing them."""
    import nbrtc._signaling.manager as m

    browser.control = False  # no control channels: a stream with one is pinged on it
    other = FakeBrowser()  # another page (another key) that will know this page's ids
    other_cam = make(widgets, other, nbrtc.Camera())
    other_sid = other.start(other_cam)
    other_cam.wait("live", timeout=10)
    views = [
        make(widgets, browser, nbrtc.VideoView(sources.test_pattern(160, 120, 5))) for _ in range(4)
    ]
    sids = [browser.start(v) for v in views]
    for v in views:
        v.wait("live", timeout=10)
    before = {sid: len(browser.of_type("ping", sid)) for sid in sids}
    time.sleep(2.0)  # a measurement window: the kernel's pings to this page
    pings = [p for sid in sids for p in browser.of_type("ping", sid)[before[sid] :]]
    assert 1 <= len(pings) <= 4, f"{len(pings)} kernel pings in 2 s for one page of 4 streams"
    assert all(sorted(p["payload"]["live"]) == sorted(sids) for p in pings), pings

    # the page's own pings stop; its one heartbeat on the first stream vouches for three,
    # and the other page claims all four, until the fourth is closed as silent (a short
    # watchdog from now on: the fake page's own pings came only once a second)
    browser.silent = True
    for view, sid in zip(views, sids, strict=True):  # silences start now, before the
        browser.send(view, "ping", sid, {"t": time.monotonic()})  # watchdog is shortened
    browser.barrier(views[-1])
    monkeypatch.setattr(m, "BROWSER_TIMEOUT", 1.0)
    try:
        t0 = time.monotonic()
        alive = {s["id"] for s in nbrtc.manager().streams()}
        while sids[3] in alive and time.monotonic() - t0 < 10:
            browser.send(views[0], "ping", sids[0], {"t": time.monotonic(), "live": sids[:3]})
            other.send(other_cam, "ping", other_sid, {"t": time.monotonic(), "live": sids})
            time.sleep(0.3)  # the pace of a page's heartbeat (sped up)
            alive = {s["id"] for s in nbrtc.manager().streams()}
        took = time.monotonic() - t0
        assert sids[3] not in alive, "the unlisted stream (and another page's word) timed out"
        assert set(sids[:3]) <= alive, f"the vouched-for streams live on ({took:.1f} s)"
    finally:
        other.close()


def test_the_first_kernel_ping_follows_the_answer(browser, widgets, no_leaks):
    """docs/protocol.md "ping": nothing of the watchdog's queues ahead of the answer (the
    page's watchdog starts with it; a ping before it is one more comm message on the
    first frame's path), and pings come from then on."""
    browser.control = False  # every kernel ping comes through the comm, where it is seen
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    wait_for(lambda: browser.of_type("ping", sid), 3, what="a kernel ping after the answer")
    order = [m["type"] for m in list(browser.received) if m["stream"] == sid]
    assert "answer" in order and order.index("answer") < order.index("ping"), order


def test_watchdog_counts_idle_time_between_short_cells(browser, widgets, no_leaks, monkeypatch):
    """A crashed tab must not live on because the user keeps running short cells."""
    import nbrtc._signaling.manager as m

    monkeypatch.setattr(m, "BROWSER_TIMEOUT", 1.0)
    mgr = nbrtc.manager()
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    browser.crash(sid)
    t0 = time.monotonic()
    busy = {"since": time.monotonic()}

    def short_cells_then_check() -> bool:
        # a 0.1 s cell, then 0.2 s of the user typing the next one, over and over
        phase = (time.monotonic() - busy["since"]) % 0.3
        if phase < 0.1:
            mgr._pre_run_cell(SimpleNamespace(cell_id=None))
        else:
            mgr._post_run_cell(None)
        return not mgr.streams()

    try:
        took = wait_for(short_cells_then_check, 5, what="watchdog fires between short cells")
    finally:
        mgr._post_run_cell(None)
    assert time.monotonic() - t0 < 5.0 and took < 5.0


def test_watchdog_waits_while_a_cell_runs(browser, widgets, no_leaks, monkeypatch):
    import nbrtc._signaling.manager as m

    monkeypatch.setattr(m, "BROWSER_TIMEOUT", 0.5)
    mgr = nbrtc.manager()
    cam = make(widgets, browser, nbrtc.Camera())
    browser.start(cam)
    cam.wait("live", timeout=10)
    mgr._pre_run_cell(SimpleNamespace(cell_id=None))  # a long cell: comm messages queue
    try:
        assert_holds(lambda: cam.state == "live", 1.5, "stream stays live during the cell")
    finally:
        mgr._post_run_cell(None)


def test_rerunning_the_cell_closes_its_widgets(browser, widgets, no_leaks):
    mgr = nbrtc.manager()
    mgr._pre_run_cell(SimpleNamespace(cell_id="cell-A"))
    cam = make(widgets, browser, nbrtc.Camera())
    mgr._post_run_cell(None)
    mgr._pre_run_cell(SimpleNamespace(cell_id="cell-B"))
    other = make(widgets, browser, nbrtc.VideoView())
    mgr._post_run_cell(None)
    browser.start(cam)
    cam.wait("live", timeout=10)
    mgr._pre_run_cell(SimpleNamespace(cell_id="cell-A"))  # cell A runs again
    try:
        assert cam.state == "closed"
        assert not other._closed
    finally:
        mgr._post_run_cell(None)


def test_snapshot_inside_the_displaying_cell_explains(widgets):
    mgr = nbrtc.manager()
    cam = nbrtc.Camera()
    widgets.append(cam)
    mgr._pre_run_cell(SimpleNamespace(cell_id="c1"))
    try:
        t0 = time.monotonic()
        with pytest.raises(nbrtc.NotDisplayedError, match="next cell"):
            cam.snapshot(timeout=5)
        assert time.monotonic() - t0 < 0.5, "must fail at once, not after the timeout"
    finally:
        mgr._post_run_cell(None)
    with pytest.raises(nbrtc.StreamTimeoutError, match="displayed"):
        cam.snapshot(timeout=0.2)
    cam.close()
    with pytest.raises(nbrtc.StreamClosedError):
        cam.snapshot()


def test_camera_error_from_browser_is_raised(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.new_stream_id()
    browser.widgets[sid] = cam
    browser.run(browser._start(cam, sid, "camera", trickle=True))
    browser.send(cam, "error", sid, {"name": "NotAllowedError", "message": "Permission denied"})
    wait_for(lambda: cam.state == "error", 3, what="error state")
    assert "permission was denied" in cam.error
    with pytest.raises(nbrtc.CameraError) as info:
        cam.snapshot(timeout=1)
    assert info.value.name == "NotAllowedError"


def test_asnapshot_from_another_loop(browser, widgets, no_leaks):
    import asyncio

    cam = make(widgets, browser, nbrtc.Camera())
    browser.start(cam)

    async def go() -> np.ndarray:
        await cam.wait_async("live", timeout=10)
        return await cam.snapshot_async(timeout=5)

    assert asyncio.run(go()).shape == (240, 320, 3)


def test_close_is_idempotent_and_threadsafe(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    browser.start(cam)
    cam.wait("live", timeout=10)
    threads = [threading.Thread(target=cam.close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    cam.close()
    assert cam.state == "closed"
    with nbrtc.VideoView() as view:
        browser.attach(view)
    assert view.state == "closed"


def test_many_open_close_cycles_leak_nothing(browser, no_leaks):
    mgr = nbrtc.manager()
    for _ in range(2):  # warm the codec pool
        with nbrtc.Camera() as cam:
            browser.attach(cam)
            browser.start(cam)
            cam.wait("live", timeout=10)
    base = mgr.resources()
    for _ in range(8):
        with nbrtc.Camera() as cam:
            browser.attach(cam)
            browser.start(cam)
            cam.wait("live", timeout=10)
    wait_for(lambda: mgr.resources()["peers"] == 0, 5, what="peers collected")
    now = mgr.resources()

    def kernel_threads(res: dict) -> list[str]:  # the fake page's own threads aside
        return [n for n in res["thread_names"] if not n.startswith("fake-browser")]

    # the codec pool may still grow to its cap; every other kernel thread is back
    codec = [n for n in kernel_threads(now) if n.startswith("nbrtc-codec")]
    assert len(codec) <= 4, codec
    others = [n for n in kernel_threads(now) if not n.startswith("nbrtc-codec")]
    before = [n for n in kernel_threads(base) if not n.startswith("nbrtc-codec")]
    assert len(others) <= len(before), (before, others)
    assert now["udp_sockets"] <= base["udp_sockets"]
    assert now["streams"] == 0


def test_closed_widgets_leave_no_ipywidgets_behind(browser, no_leaks):
    """A closed Camera, VideoView or Inspector leaves nothing in ipywidgets' registry:
    the Layout ipywidgets made for each is closed with it (it used to stay open, with its
    comm and a model in the page, for the life of the kernel). A layout the caller passed
    may be shared: it stays open."""
    import ipywidgets
    from ipywidgets.widgets import widget as ipywidgets_widget

    # the registry of open widgets: ``_instances`` since ipywidgets 8.1, a class attribute
    # in 8.0 (the oldest version nbrtc supports)
    _instances = getattr(ipywidgets_widget, "_instances", None)
    if _instances is None:
        _instances = ipywidgets.Widget._active_widgets
    before = set(_instances)
    for _ in range(3):
        with nbrtc.Camera() as cam:
            browser.attach(cam)
            browser.start(cam)
            cam.wait("live", timeout=10)
            cam.inspect().close()
        with nbrtc.VideoView(nbrtc.sources.test_pattern(64, 48)) as view:
            browser.attach(view)
    left = [type(_instances[k]).__name__ for k in set(_instances) - before]
    assert left == [], f"widgets still open after close: {left}"

    shared = ipywidgets.Layout(width="50%")
    with nbrtc.Camera(layout=shared) as cam:
        assert cam.layout is shared
    assert shared.comm is not None and shared.model_id in _instances, "the caller's layout"
    shared.close()


def test_stream_limit(browser, widgets, no_leaks, monkeypatch):
    monkeypatch.setattr(nbrtc.config, "_max_streams", 1)
    a = make(widgets, browser, nbrtc.Camera())
    b = make(widgets, browser, nbrtc.Camera())
    browser.start(a)
    a.wait("live", timeout=10)
    sid = browser.start(b)
    wait_for(lambda: browser.of_type("error", sid), 3)
    assert browser.of_type("error", sid)[0]["payload"]["code"] == "limit"
    assert len(nbrtc.manager().streams()) == 1


def test_bad_arguments_fail_fast():
    with pytest.raises(ValueError, match="width"):
        nbrtc.Camera(width=-1)
    with pytest.raises(ValueError, match="frame_rate"):
        nbrtc.Camera(frame_rate=0)
    with pytest.raises(ValueError, match="device_id"):
        nbrtc.Camera(device_id="")
    with pytest.raises(ValueError, match="ice_servers"):
        nbrtc.Camera(ice_servers=[{"urls": "http://x"}])
    with pytest.raises(TypeError, match="VideoView"):
        nbrtc.VideoView(source=42)
    with pytest.raises(FileNotFoundError, match="no such file"):
        sources.file("/nonexistent/clip.mp4")
    with pytest.raises(ValueError, match="fps"):
        sources.frames(iter([]), fps=0)
    with pytest.raises(ValueError, match="even"):
        sources.test_pattern(641, 480)
    with pytest.raises(ValueError, match="format"):
        nbrtc.Camera().snapshot(format="yuv")


def test_camera_refused_before_any_offer(browser, widgets):
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.new_stream_id()
    browser.send(
        cam, "error", sid, {"name": "NotFoundError", "message": "Requested device not found"}
    )
    browser.send(cam, "bye", sid, {"reason": "error"})
    wait_for(lambda: cam.state == "error", 3, what="error state")
    assert "No camera was found" in cam.error
    with pytest.raises(nbrtc.CameraError, match="NotFoundError"):
        cam.snapshot(timeout=1)
    assert not browser.of_type("error"), "no error reply: the kernel understood"


def _write_clip(path: str, frames: int = 15, fps: int = 30) -> None:
    """A short mp4 whose frames get brighter, so a loop shows as a jump back to dark."""
    import av

    with av.open(path, "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(frames):
            img = np.full((120, 160, 3), 20 + i * 15, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))


def test_file_source_loops_with_monotonic_time(browser, widgets, no_leaks, tmp_path):
    clip = str(tmp_path / "clip.mp4")
    _write_clip(clip)  # 0.5 s
    src = sources.file(clip, loop=True)
    view = make(widgets, browser, nbrtc.VideoView(src))
    sid = browser.start(view)
    view.wait("live", timeout=10)
    wait_for(lambda: src._producer is not None and src._producer.passes >= 3, 10, what="3 passes")
    # frames still flow after the loops (the browser would freeze on timestamps going back)
    n = len(browser.frames[sid])
    before = browser.frames[sid][-1].mean()
    wait_for(lambda: browser.frames[sid][-1].mean() != before, 3, what="video still moving")
    assert n > 0
    view.close()
    wait_for(lambda: not any(t.name == "media-player" for t in threading.enumerate()), 3)


def test_file_source_without_loop_ends(browser, widgets, no_leaks, tmp_path):
    clip = str(tmp_path / "clip.mp4")
    _write_clip(clip)
    src = sources.file(clip)
    view = make(widgets, browser, nbrtc.VideoView(src))
    browser.start(view)
    view.wait("live", timeout=10)
    wait_for(lambda: not src.running, 5, what="the producer ends with the file")


def test_constraints_are_validated_when_changed():
    cam = nbrtc.Camera(width=640)
    try:
        assert cam.constraints == {
            "width": 640,
            "height": None,
            "frame_rate": None,
            "device_id": None,
            "facing_mode": None,
        }
        cam.constraints = {"width": 320, "height": 240}
        assert cam.constraints["height"] == 240 and cam.constraints["frame_rate"] is None
        import traitlets

        with pytest.raises(traitlets.TraitError, match="height"):
            cam.constraints = {"height": 7}
        with pytest.raises(traitlets.TraitError, match="unknown constraint"):
            cam.constraints = {"fps": 30}
        assert cam.constraints["width"] == 320, "a refused change loses nothing"
    finally:
        cam.close()


def test_error_after_the_peer_already_closed_still_reaches_the_widget(browser, widgets, no_leaks):
    """The browser's pc.close() (DTLS) can arrive before its `error` message."""
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    browser.bye(sid, reason="error")  # the stream is torn down first...
    wait_for(lambda: not nbrtc.manager().streams(), 3, what="stream gone")
    # ...then the error arrives for the dead stream
    browser.send(cam, "error", sid, {"name": "OverconstrainedError", "message": "deviceId"})
    wait_for(lambda: cam.state == "error", 3, what="the widget learns the reason")
    with pytest.raises(nbrtc.CameraError, match="OverconstrainedError"):
        cam.snapshot(timeout=1)


def test_frames_source_iterable_ends_and_releases(browser, widgets, no_leaks):
    frames = (np.full((120, 160, 3), i * 20, np.uint8) for i in range(10))
    src = sources.frames(frames, fps=30)
    view = make(widgets, browser, nbrtc.VideoView(src))
    sid = browser.start(view)
    wait_for(lambda: browser.frames[sid], 10, what="frames in the browser")
    wait_for(lambda: not src.running, 5, what="the producer ends with the iterable")
    assert src.frames_produced == 10
