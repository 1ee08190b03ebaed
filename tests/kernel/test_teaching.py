"""Looking inside a connection and changing it: history, sdp, stats, teaching controls,
the Inspector's data — against a real aiortc peer standing in for the browser."""

from __future__ import annotations

import time

import pytest

import nbrtc
from nbrtc import sources

from ._browser import FakeBrowser, assert_holds, wait_for


def make(widgets: list, browser: FakeBrowser, widget):  # type: ignore[no-untyped-def]
    widgets.append(widget)
    browser.attach(widget)
    return widget


def live(browser: FakeBrowser, widgets: list, widget):  # type: ignore[no-untyped-def]
    make(widgets, browser, widget)
    sid = browser.start(widget)
    widget.wait("live", timeout=10)
    return widget, sid


def answer_codecs(sdp: str) -> set[str]:
    """Video codec names of an SDP's video section (rtx excluded)."""
    names, video = set(), False
    for line in sdp.splitlines():
        if line.startswith("m="):
            video = line.startswith("m=video")
        elif video and line.startswith("a=rtpmap:"):
            name = line.split()[1].split("/")[0]
            if name.lower() != "rtx":
                names.add(name)
    return names


# --- history ---------------------------------------------------------------------------------
def test_history_records_both_directions_and_both_sides_states(browser, widgets, no_leaks):
    cam, sid = live(browser, widgets, nbrtc.Camera())
    browser.send(
        cam,
        "state",
        sid,
        {
            "connection": "connected",
            "ice": "connected",
            "signaling": "stable",
            "gathering": "complete",
        },
    )
    wait_for(
        lambda: any(e.get("side") == "browser" for e in cam.history()), 5, what="browser states"
    )
    events = cam.history()
    messages = [(e["dir"], e["type"]) for e in events if e["event"] == "message"]
    assert messages[0] == ("in", "offer")  # the record starts with the browser's offer
    assert ("out", "answer") in messages
    assert ("in", "candidate") in messages
    offer = next(e for e in events if e.get("type") == "offer")
    assert offer["size"] > 300 and "sections" in offer["summary"]
    assert all(e["stream"] == sid for e in events)
    ts = [e["t"] for e in events]
    assert ts == sorted(ts)
    kernel_states = [(e["what"], e["state"]) for e in events if e.get("side") == "kernel"]
    # the stream's own states in the order a healthy camera passes through them
    assert [s for w, s in kernel_states if w == "stream"] == ["connecting", "live"]
    assert ("connection", "connected") in kernel_states
    assert ("gathering", "complete") in kernel_states
    browser_states = {(e["what"], e["state"]) for e in events if e.get("side") == "browser"}
    assert {("ice", "connected"), ("gathering", "complete")} <= browser_states
    # chatter stays out of the default record, but is there on request
    assert not any(e.get("type") == "ping" for e in events)
    wait_for(
        lambda: any(e.get("type") == "ping" for e in cam.history(chatter=True)), 5, what="pings"
    )
    # no ICE password is ever recorded
    pwd = next(
        line.split(":", 1)[1]
        for line in browser.offers[sid].splitlines()
        if line.startswith("a=ice-pwd:")
    )
    assert pwd not in repr(cam.history(chatter=True))


def test_history_survives_close_and_names_the_reason(browser, widgets, no_leaks):
    cam, _ = live(browser, widgets, nbrtc.Camera())
    cam.close()
    events = cam.history()
    assert [e["state"] for e in events if e.get("what") == "stream"][-1] == "closed"
    assert any(e.get("type") == "bye" and e["dir"] == "out" for e in events)


# --- sdp --------------------------------------------------------------------------------------
def test_sdp_is_the_real_offer_and_answer_parsed(browser, widgets, no_leaks):
    cam, sid = live(browser, widgets, nbrtc.Camera())
    sdp = cam.sdp
    assert sdp.remote.text == browser.offers[sid]
    assert sdp.local.text == browser.answers[sid][0]
    kinds = [m["kind"] for m in sdp.local.media]
    assert kinds == ["video", "application"]
    notes = sdp.annotate("answer")
    assert len(notes) == len(browser.answers[sid][0].strip().splitlines())
    assert all(n["explain"] for n in notes)
    assert "summary" in sdp.diff()


def test_sdp_before_any_stream_says_what_to_do(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    with pytest.raises(nbrtc.NotDisplayedError, match="display it"):
        cam.sdp  # noqa: B018


# --- stats -------------------------------------------------------------------------------------
def test_stats_of_both_sides_and_a_time_series(browser, widgets, no_leaks):
    cam, sid = live(browser, widgets, nbrtc.Camera())
    wait_for(lambda: cam.stats()["kernel"], 5, what="a kernel stats sample")
    browser.send_stats(sid)
    wait_for(lambda: cam.stats()["browser"], 5, what="the browser's sample")
    st = cam.stats()
    assert st["stream"] == sid
    types = {r["type"] for r in st["kernel"]}
    assert {"inbound-rtp", "transport", "candidate-pair"} <= types
    wait_for(
        lambda: len([r for r in cam.stats_log() if r["side"] == "kernel"]) >= 3,
        8,
        what="three kernel rows",
    )
    rows = [r for r in cam.stats_log() if r["side"] == "kernel"]
    assert rows[-1]["bitrate_in_kbps"] and rows[-1]["bitrate_in_kbps"] > 10
    assert rows[-1]["fps_in"] and rows[-1]["fps_in"] > 5


# --- teaching controls -------------------------------------------------------------------------
def test_set_codec_renegotiates_a_camera_to_h264(browser, widgets, no_leaks):
    cam, sid = live(browser, widgets, nbrtc.Camera())
    assert "VP8" in answer_codecs(browser.answers[sid][0])
    cam.set_codec("h264")
    assert cam.codec == "H264"
    wait_for(lambda: len(browser.answers.get(sid, [])) >= 2, 10, what="the renegotiated answer")
    assert answer_codecs(browser.answers[sid][-1]) == {"H264"}
    assert len(cam.sdp.rounds) == 2 and cam.sdp.rounds[1]["reason"] == "set_codec(H264)"
    events = cam.history()
    assert any(e.get("action") == "set_codec" for e in events)
    types = [(e["dir"], e["type"]) for e in events if e["event"] == "message"]
    assert ("out", "renegotiate") in types and ("in", "reoffer") in types
    assert cam.state == "live"


def test_set_max_bitrate_puts_b_lines_in_the_answer(browser, widgets, no_leaks):
    cam, sid = live(browser, widgets, nbrtc.Camera())
    cam.set_max_bitrate(300_000)
    wait_for(lambda: len(browser.answers.get(sid, [])) >= 2, 10, what="the renegotiated answer")
    answer = browser.answers[sid][-1]
    video = answer.split("m=video", 1)[1].split("m=application", 1)[0]
    assert "b=AS:300" in video and "b=TIAS:300000" in video
    cam.set_max_bitrate(None)
    wait_for(lambda: len(browser.answers[sid]) >= 3, 10, what="the uncapped answer")
    assert "b=AS" not in browser.answers[sid][-1]


def test_controls_validate_their_arguments(browser, widgets, no_leaks):
    cam = make(widgets, browser, nbrtc.Camera())
    with pytest.raises(ValueError, match="codec"):
        cam.set_codec("AV1")
    with pytest.raises(ValueError, match="bps"):
        cam.set_max_bitrate(5)
    with pytest.raises((ValueError, TypeError), match="loss"):
        cam.set_network(loss=1.5)
    with pytest.raises((ValueError, TypeError), match="direction"):
        cam.set_network(direction="sideways")
    with pytest.raises(nbrtc.NotDisplayedError):
        cam.restart_ice()
    assert cam.codec is None and cam.network == {}  # nothing half-applied


def test_set_network_loss_shows_in_the_kernel_stats(browser, widgets, no_leaks):
    view, sid = live(browser, widgets, nbrtc.VideoView(sources.test_pattern(320, 240)))
    view.set_network(loss=0.2, direction="send")
    assert view.network["loss"] == 0.2
    stream = view._last_stream

    def dropped() -> int:
        imp = stream.impairment
        return imp.stats()["send"]["dropped_loss"] if imp is not None else 0

    # enough packets that 20 % random loss lands well inside the bounds: after ~70 packets
    # the share was 0.30 in one run (2 sigma); after ~300 the bounds are 4 sigma away
    wait_for(lambda: dropped() > 60, 20, what="packets dropped by the impairment")
    st = stream.impairment.stats()["send"]
    assert 0.1 < st["dropped_loss"] / max(1, st["packets"]) < 0.3
    assert any(e.get("action") == "set_network" for e in view.history())
    view.clear_network()
    wait_for(lambda: not stream.impairment.stats()["conditions"]["loss"], 5, what="cleared")
    n0 = browser.frame_counts[sid]
    wait_for(lambda: browser.frame_counts[sid] > n0 + 10, 10, what="frames after clearing")


# --- inspector -----------------------------------------------------------------------------------
def test_inspector_panels_follow_the_stream(browser, widgets, no_leaks):
    cam, sid = live(browser, widgets, nbrtc.Camera())
    insp = cam.inspect(interval=0.2)
    try:
        wait_for(lambda: insp.sdp.get("answer"), 5, what="the SDP panel")
        offer_lines = insp.sdp["offer"]["lines"]
        assert [x["line"] for x in offer_lines if x["key"] != "a=ice-pwd"] == [
            ln for ln in browser.offers[sid].strip().splitlines() if not ln.startswith("a=ice-pwd")
        ]
        assert all(
            x["status"] in ("same", "changed", "removed", "added", "side") for x in offer_lines
        )
        assert insp.status["state"] == "live" and insp.status["kind"] == "camera"
        types = {r["type"] for r in insp.log}
        assert {"offer", "answer", "candidate"} <= types
        lanes = {(r["side"], r["what"]) for r in insp.timeline["rows"]}
        assert ("kernel", "connection") in lanes and ("kernel", "stream") in lanes
        wait_for(lambda: insp.candidates.get("kernel"), 5, what="kernel candidates")
        assert insp.candidates["selected"]["kernel"]["local"]["address"]
        browser.send_stats(sid)
        wait_for(lambda: insp.charts, 5, what="charts")
        # controls from the panel reach the widget; bad input comes back as an error
        insp._on_control(
            insp, {"type": "control", "action": "set_network", "args": {"loss": 2}}, []
        )
        assert "loss" in insp.error and cam.network == {}
        # a page's JSON of any shape: refused in words (a list was unhashable: TypeError)
        insp._on_control(insp, {"type": "control", "action": ["set_network"], "args": {}}, [])
        assert insp.error.startswith("unknown control")
        insp._on_control(insp, {"type": "control", "action": "set_network", "args": [1]}, [])
        assert insp.error == "control 'set_network': args must be an object"
        insp._on_control(
            insp,
            {"type": "control", "action": "set_network", "args": {"loss": 0.05, "delay_ms": 50}},
            [],
        )
        assert insp.error == "" and cam.network["loss"] == 0.05
        assert insp.controls["network"]["delay_ms"] == 50
    finally:
        insp.close()
        insp.close()  # idempotent
    assert insp._closed


def test_receive_loss_shows_in_the_kernels_inbound_stats(browser, widgets, no_leaks):
    """10 % loss on what the kernel receives: its inbound-rtp figures (the media SSRC's,
    not the retransmission stream's, which aiortc reports under the same id) show it."""
    cam, _ = live(browser, widgets, nbrtc.Camera())
    wait_for(lambda: len(cam.stats_log()) >= 2, 8, what="stats rows")
    cam.set_network(loss=0.1, direction="recv")
    stream = cam._last_stream
    wait_for(
        lambda: (
            stream.impairment is not None and stream.impairment.stats()["recv"]["dropped_loss"] > 15
        ),
        30,
        what="drops",
    )
    t_set = cam.history()[-1]["t"]
    wait_for(
        lambda: (
            len([r for r in cam.stats_log() if r["side"] == "kernel" and r["t"] > t_set + 1]) >= 3
        ),
        10,
        what="rows under impairment",
    )
    rows = [r for r in cam.stats_log() if r["side"] == "kernel" and r["t"] > t_set + 1]
    losses = sorted(r["loss_pct"] for r in rows if r["loss_pct"] is not None)
    assert losses, rows
    median = losses[len(losses) // 2]
    assert 3 <= median <= 25, losses


def test_stats_interval_zero_samples_nothing(browser, widgets, no_leaks, monkeypatch):
    with pytest.raises(ValueError, match="stats_interval"):
        nbrtc.config.stats_interval = 0.01
    monkeypatch.setattr(nbrtc.config, "_stats_interval", 0.0)
    cam, _ = live(browser, widgets, nbrtc.Camera())
    assert cam.stats_interval == 0
    n0 = cam.frame_count
    wait_for(lambda: cam.frame_count > n0 + 40, 10, what="1.3 s of frames")
    assert cam.stats()["kernel"] is None and cam.stats_log() == []
    assert nbrtc.config.stats_interval == 0


def test_stats_pace_follows_readers(browser, widgets, no_leaks, monkeypatch):
    """Nobody reads a stream's stats: the kernel samples every stats_idle_interval and
    the widget tells its pages (stats_read False). A read (stats_log(), stats(), an
    Inspector) brings both to stats_interval within a tick, until READ_HOLD s after the
    last read. Samples are counted with len(), which is no read."""
    import nbrtc._inspection.stats as stats_module

    monkeypatch.setattr(nbrtc.config, "stats_interval", 0.25)
    monkeypatch.setattr(nbrtc.config, "stats_idle_interval", 1.0)
    monkeypatch.setattr(stats_module, "READ_HOLD", 2.0)
    with pytest.raises(ValueError, match="stats_idle_interval"):
        nbrtc.config.stats_idle_interval = 0
    cam, _ = live(browser, widgets, nbrtc.Camera())
    assert cam.stats_interval == 0.25 and cam.stats_idle_interval == 1.0
    stream = cam._last_stream

    def samples_in(seconds: float, read: bool) -> int:
        """Kernel samples in a window of ``seconds`` (reading the stats throughout, or
        not), in which the camera must stay live."""
        n0 = len(stream.stats)
        assert_holds(
            lambda: (not read or cam.stats_log() is not None) and cam.state == "live",
            seconds,
            "the camera stays live",
            interval=0.05,
        )
        return len(stream.stats) - n0

    wait_for(lambda: len(stream.stats) >= 1, 5, what="the first kernel sample")
    assert stream.stats_read is False and cam.stats_read is False
    unread = samples_in(3.0, read=False)
    assert 1 <= unread <= 4, f"{unread} samples in 3 s unread (idle pace: about 3)"
    cam.stats_log()
    wait_for(lambda: cam.stats_read, 2, what="stats_read after a read")
    read = samples_in(3.0, read=True)
    # full pace is about 12; a loaded media loop ticks late, and idle gives about 3
    assert read >= 6, f"{read} samples in 3 s while read (full pace: about 12)"
    t_read = time.monotonic()
    wait_for(lambda: not cam.stats_read, 6, what="stats_read False after READ_HOLD")
    assert time.monotonic() - t_read >= 1.5, "not before READ_HOLD (2 s) has passed"
    insp = cam.inspect(interval=0.2)  # an Inspector reads its charts: full pace again
    try:
        wait_for(lambda: cam.stats_read, 3, what="stats_read with an Inspector")
    finally:
        insp.close()


def test_closed_widgets_are_freed(browser, widgets, no_leaks):
    """A closed widget (with its history and stats) is garbage once nothing of the user's
    refers to it: anywidget must not keep every instance alive (see nbrtc/_bundle.py)."""
    import gc
    import weakref

    refs = []
    for _ in range(3):
        cam = nbrtc.Camera()
        browser.attach(cam)
        sid = browser.start(cam)
        cam.wait("live", timeout=10)
        insp = cam.inspect(interval=0.2)
        insp.close()
        cam.close()
        browser.widgets.pop(sid, None)  # the fake page's own bookkeeping
        refs += [weakref.ref(cam), weakref.ref(insp)]
        del cam, insp
    wait_for(
        lambda: gc.collect() is not None and not any(r() for r in refs),
        10,
        what="closed widgets freed",
    )


def test_a_grid_ends_with_its_feeds_and_frees_them(browser, widgets, no_leaks):
    """Closing the feeds closes the Grid (and its layout), so nothing keeps the closed
    feeds alive; grid.close() closes the feeds."""
    import gc
    import weakref

    from ipywidgets.widgets import widget as ipywidget

    # ipywidgets' registry of open widgets: ``_instances`` (8.1+), ``Widget._active_widgets`` (8.0)
    _instances = getattr(ipywidget, "_instances", None)
    if _instances is None:
        _instances = ipywidget.Widget._active_widgets

    cam = nbrtc.Camera()
    view = nbrtc.VideoView(sources.test_pattern(160, 120))
    grid = nbrtc.Grid([cam, view], columns=2)
    for w in (cam, view):
        browser.attach(w)
        w._sid = browser.start(w)
    cam.wait("live", timeout=10)
    view.wait("live", timeout=10)
    model_ids = {grid.model_id, grid.layout.model_id}
    cam.close()
    assert not grid._closed  # one feed left
    view.close()
    wait_for(lambda g=grid: g._closed, 5, what="the grid closed with its last feed")
    assert not model_ids & set(_instances)
    refs = [weakref.ref(x) for x in (cam, view, grid)]
    for w in (cam, view):
        browser.widgets.pop(w._sid, None)
    del cam, view, grid, w
    wait_for(
        lambda: gc.collect() is not None and not any(r() for r in refs),
        10,
        what="feeds and grid freed",
    )

    g2 = nbrtc.Grid([nbrtc.Camera(), nbrtc.Camera()])
    feeds = list(g2.children)
    g2.close()
    assert all(f._closed for f in feeds) and g2._closed


def test_closing_during_a_pending_ice_restart_cancels_its_timer(browser, widgets, no_leaks):
    """A restart the browser never completes is given up after 30 s by a timer; a stream
    closed meanwhile must cancel it, or the timer holds the closed ICE connection."""
    import re

    from nbrtc._transport import ice_restart as _ice_restart

    cam, _sid = live(browser, widgets, nbrtc.Camera())
    stream = cam._last_stream
    pc = stream._pc
    offer = stream.sdp_rounds[-1]["offer"]
    reoffer = re.sub(r"a=ice-ufrag:\S+", "a=ice-ufrag:Nw0f", offer)
    reoffer = re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:" + "p" * 24, reoffer)
    mgr = nbrtc.manager()
    info = mgr.media.run(_ice_restart.restart(pc, reoffer), timeout=5)
    assert info["new_remote_ufrag"] == "Nw0f"
    conn = _ice_restart._ice_transports(pc)[0]._connection
    state = conn.__dict__[_ice_restart._STATE_ATTR]
    timer = state.timeout
    assert state.pending and timer is not None and not timer.cancelled()
    cam.close()
    assert timer.cancelled() and state.timeout is None and not state.pending
    assert state.done is not None and state.done.is_set()  # a waiter wakes, not after 30 s
