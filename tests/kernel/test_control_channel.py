"""The control channel carries a stream's periodic reports (docs/protocol.md "Control
channel"): once it is open the page's stats and heartbeat and the kernel's pings go on it,
off the comm (no ipykernel work), with the comm's checks; signaling stays on the comm."""

from __future__ import annotations

import json
import time

import nbrtc
from nbrtc._signaling.control import FRESH
from nbrtc._signaling.liveness import ASK_AFTER, WATCHDOG_TICK

from ._browser import FakeBrowser, assert_holds, wait_for


def make(widgets: list, browser: FakeBrowser, widget):  # type: ignore[no-untyped-def]
    widgets.append(widget)
    browser.attach(widget)
    return widget


def live_on_channel(browser: FakeBrowser, widgets: list):  # type: ignore[no-untyped-def]
    """A live Camera whose page's control channel is open (the kernel pinged on it):
    the camera, its stream id and its kernel stream."""
    cam = make(widgets, browser, nbrtc.Camera())
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    wait_for(lambda: control_pings(browser, sid), 5, what="the kernel's ping on the channel")
    return cam, sid, nbrtc.manager()._streams[sid]


def control_pings(browser: FakeBrowser, sid: str) -> list[dict]:
    return [m for m in browser.of_type("ping", sid) if m.get("via") == "control"]


def comm_pings(browser: FakeBrowser, sid: str) -> list[dict]:
    return [m for m in browser.of_type("ping", sid) if m.get("via") != "control"]


def test_pings_and_reports_leave_the_comm_once_the_channel_is_open(
    browser, widgets, no_leaks, monkeypatch
):
    import nbrtc._signaling.manager as m

    cam, sid, stream = live_on_channel(browser, widgets)
    ping = control_pings(browser, sid)[-1]
    assert set(ping) == {"v", "type", "stream", "payload", "via"}
    assert isinstance(ping["payload"]["t"], float)
    assert ping["payload"]["live"] == [sid], "the page's one ping, listing its streams"

    # the page is heard on the channel (its heartbeat): the kernel pings there about
    # every 0.8 s and not through the comm (the page asks there when it misses them)
    wait_for(lambda: stream.control.working, 5, what="the page heard on the channel")
    n_comm, n_control = len(comm_pings(browser, sid)), len(control_pings(browser, sid))
    took = wait_for(
        lambda: len(control_pings(browser, sid)) - n_control >= 4, 6, what="4 pings on it"
    )
    on_comm = len(comm_pings(browser, sid)) - n_comm
    assert took < 5.0, f"4 pings on the channel took {took:.1f} s (one per 0.8 s)"
    assert on_comm == 0, f"{on_comm} through the comm meanwhile"

    # the page has not heard the kernel for a while (its path towards the page is dark):
    # its ping through the comm asks, and the kernel's answers there at once
    n_comm = len(comm_pings(browser, sid))
    t_ask = time.monotonic()
    browser.send(cam, "ping", sid, {"t": 1.0, "ask": True})
    took = wait_for(lambda: len(comm_pings(browser, sid)) > n_comm, 2, what="the kernel's answer")
    assert took < 0.5, f"answered through the comm {took:.2f} s after the ask"
    answer = comm_pings(browser, sid)[-1]
    assert answer["payload"]["live"] == [sid] and "ask" not in answer["payload"], answer
    assert stream.page_asked == 1
    assert time.monotonic() - t_ask < 2

    # the page's messages stop coming on the channel (a UDP blackout takes the media
    # path, not the notebook's WebSocket): after FRESH s the kernel pings through the
    # comm every time
    real_send = browser._control_send
    browser._control_send = lambda sid_, data: False  # type: ignore[method-assign]
    wait_for(lambda: not stream.control.working, 2 * FRESH + 1, what="the channel given up")
    n_comm = len(comm_pings(browser, sid))
    took = wait_for(
        lambda: len(comm_pings(browser, sid)) - n_comm >= 3, 6, what="3 pings through the comm"
    )
    assert took < 4.4, f"3 comm pings took {took:.1f} s: not every ping (one per 0.8 s)"
    browser._control_send = real_send  # type: ignore[method-assign]
    wait_for(lambda: stream.control.working, 5, what="the channel works again")

    # the page's stats sample on the channel is kept like one from the comm
    browser.send_stats(sid)
    wait_for(lambda: cam.stats()["browser"], 5, what="the browser's sample, from the channel")
    assert any(r["side"] == "browser" for r in cam.stats_log())
    events = cam.history(chatter=True)
    assert any(e.get("type") == "stats" and e.get("dir") == "in" for e in events), events[-5:]

    # the page's heartbeat on the channel alone keeps the stream: a short watchdog, and
    # not one message from this page through the comm meanwhile
    monkeypatch.setattr(m, "BROWSER_TIMEOUT", 2.0)
    sent: list[str] = []
    real = browser.send
    monkeypatch.setattr(browser, "send", lambda w, t, s, p: (sent.append(t), real(w, t, s, p)))
    assert_holds(lambda: cam.state == "live", 4.0, "live on the channel's heartbeat")
    assert sent == [], f"the page used the comm: {sent}"
    n = cam.frame_count
    wait_for(lambda: cam.frame_count > n + 10, 5, what="frames keep coming")


def test_a_page_unheard_on_the_channel_is_asked_through_the_comm(browser, widgets, no_leaks):
    """The page's heartbeat stays off the comm while it hears the kernel on its channel;
    when the page's messages stop arriving (the media path lost them one way), the
    kernel's next ping through the comm asks, the page answers there at once, and the
    stream stays live on those answers. A page that does not answer is given up."""
    cam, sid, stream = live_on_channel(browser, widgets)
    wait_for(lambda: stream.control.working, 5, what="the page heard on the channel")

    def asks() -> list[dict]:
        return [m for m in comm_pings(browser, sid) if (m["payload"] or {}).get("ask") is True]

    assert asks() == [], "a page heard on its channel is never asked"
    answers: list[str] = []
    real = browser.send

    def send(w, t, s, p):  # type: ignore[no-untyped-def]
        answers.append(t)
        real(w, t, s, p)

    browser.send = send  # type: ignore[method-assign]
    browser._control_send = lambda sid_, data: True  # type: ignore[method-assign]  # sent, lost
    t0 = time.monotonic()
    took = wait_for(lambda: asks(), ASK_AFTER + 3 * WATCHDOG_TICK, what="a ping that asks")
    # asked once silent ASK_AFTER (at most; counted from the last heartbeat, which came
    # before the loss), at a watchdog tick
    assert took < ASK_AFTER + WATCHDOG_TICK + 0.2, f"asked {took:.2f} s after the loss"
    assert asks()[0]["payload"]["live"] == [sid]
    # Live for well past BROWSER_TIMEOUT (3.5 s) on the answers alone. Each answer resets
    # the silence, so the next ask comes ASK_AFTER later, at a tick: one every 1.6-2.0 s,
    # later on a loaded machine (the answer may miss the tick it raced): 3 in 6 s at least.
    assert_holds(lambda: cam.state == "live", 6.0, "live on the page's answers through the comm")
    assert answers.count("ping") >= 3, f"the page's answers in {time.monotonic() - t0:.1f} s"
    assert stream.silence < ASK_AFTER + WATCHDOG_TICK * 1.5 + 0.5, stream.silence
    assert stream.asked >= 3, stream.asked  # each ask was for this stream
    said = [e["summary"] for e in cam.history(chatter=True) if e.get("type") == "ping"]
    assert "ping (asks for an answer through the comm)" in said, said[-6:]
    # negative control: a page that no longer answers is given up as before
    browser.answer_asks = False
    wait_for(lambda: cam.state != "live", 8, what="the unanswering page's stream closed")
    assert [m["payload"]["reason"] for m in browser.of_type("bye", sid)] == ["browser-gone"]


def test_the_channel_takes_only_this_streams_reports(browser, widgets, no_leaks):
    cam, sid, stream = live_on_channel(browser, widgets)
    before = len(browser.of_type("error", sid))
    bad = [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"v": 1, "type": "offer", "stream": sid, "payload": {"sdp": "v=0"}}),
        json.dumps({"v": 1, "type": "bye", "stream": sid, "payload": {"reason": "x"}}),
        json.dumps({"v": 2, "type": "ping", "stream": sid, "payload": {"t": 1}}),
        json.dumps({"v": 1, "type": "ping", "stream": "someone-else", "payload": {"t": 1}}),
        json.dumps({"v": 1, "type": "stats", "stream": sid, "payload": {"reports": "no"}}),
        json.dumps({"v": 1, "type": "ping", "stream": sid, "payload": {"t": "x" * 1000}}),
        b"\x00binary",
    ]
    for data in bad:
        assert browser.control_raw(sid, data)
    wait_for(
        lambda: len(browser.of_type("error", sid)) - before >= len(bad),
        5,
        what="an error reply (through the comm) for each",
    )
    codes = {m["payload"]["code"] for m in browser.of_type("error", sid)[before:]}
    # (a message over MAX_MESSAGE_BYTES cannot come: that is the kernel's advertised SCTP
    # a=max-message-size, which the sender's stack enforces; the check stays for others)
    assert codes == {"bad-message", "bad-type", "version", "unknown-stream"}, codes
    assert stream.control.refused == len(bad)
    # nothing was taken for it: the stream is as it was and keeps delivering
    assert cam.state == "live" and not stream.closed
    n = cam.frame_count
    wait_for(lambda: cam.frame_count > n + 10, 5, what="frames keep coming")


def test_without_an_open_channel_everything_stays_on_the_comm(widgets, no_leaks):
    page = FakeBrowser(control=False)
    try:
        cam = make(widgets, page, nbrtc.Camera())
        sid = page.start(cam)
        cam.wait("live", timeout=10)
        wait_for(lambda: comm_pings(page, sid), 5, what="the kernel's ping through the comm")
        assert not control_pings(page, sid)
        page.send_stats(sid)
        wait_for(lambda: cam.stats()["browser"], 5, what="the browser's sample, from the comm")
    finally:
        cam.close()
        page.close()


def test_a_flood_on_the_channel_is_dropped_unread(browser, widgets, no_leaks):
    """docs/protocol.md "Bounds": at most 10 control messages a second per stream are
    read; a page sending hundreds costs no parsing and no replies, and harms nothing."""
    from nbrtc._signaling.control import MAX_PER_SECOND

    cam, sid, stream = live_on_channel(browser, widgets)
    errors = len(browser.of_type("error", sid))
    flood = json.dumps({"v": 1, "type": "bye", "stream": sid, "payload": {"reason": "x"}})

    async def burst() -> None:
        for _ in range(200):
            browser._control_send(sid, flood)

    browser.run(burst())
    wait_for(lambda: stream.control.dropped + stream.control.refused >= 200, 5, what="all 200 seen")
    assert stream.control.dropped >= 200 - 2 * MAX_PER_SECOND, stream.control.dropped
    assert len(browser.of_type("error", sid)) - errors <= 2 * MAX_PER_SECOND
    assert cam.state == "live" and not stream.closed
    n = cam.frame_count
    wait_for(lambda: cam.frame_count > n + 10, 5, what="frames keep coming")


def test_unchanged_stats_reports_go_by_id_and_the_kernel_keeps_whole_samples(
    browser, widgets, no_leaks, monkeypatch
):
    """The page sends a report that changed nothing but its timestamp by id (``same``;
    js/core/stats-delta.js): the kernel's sample is whole again, with the new timestamp,
    and the Inspector's rows are computed from it as from a whole sample."""
    import nbrtc._signaling.stream_inspect as inspect_

    # the samples go back to back here, not a second apart as from a page
    monkeypatch.setattr(inspect_, "MIN_BROWSER_STATS_GAP", 0.0)
    cam, sid, stream = live_on_channel(browser, widgets)

    def sample(ts: float, sent: int) -> list[dict]:
        return [
            {"id": "CO1", "type": "codec", "timestamp": ts, "mimeType": "video/VP8"},
            {"id": "LC1", "type": "local-candidate", "timestamp": ts, "port": 9},
            {"id": "OT1", "type": "outbound-rtp", "timestamp": ts, "kind": "video",
             "bytesSent": sent, "framesSent": sent // 100},
        ]  # fmt: skip

    ts = 1_796_000_000_000.0
    for i, ts_i in enumerate((ts, ts + 1000, ts + 2000)):
        payload = {"t": i * 1000, **browser.pack_stats(sid, sample(ts_i, 10_000 * (i + 1)))}
        assert ("same" in payload) == (i > 0), payload
        assert browser.control_send(sid, "stats", payload), "the channel is open"
        wait_for(
            lambda ts_i=ts_i: (stream.stats.latest("browser") or [{}])[0].get("timestamp") == ts_i,
            5,
            what=f"sample {i} in the kernel",
        )
        got = {r["id"]: r for r in stream.stats.latest("browser")}
        assert got == {r["id"]: r for r in sample(ts_i, 10_000 * (i + 1))}, got
    assert stream._browser_reports.missed == 0
    row = [r for r in cam.stats_log() if r["side"] == "browser"][-1]
    assert row["fps_out"] == 100, row  # 100 frames more in one second of the page's clock
