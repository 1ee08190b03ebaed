"""Hostile data-channel traffic from a page: it stays inside the message or channel that
carried it, and every structure it could grow is bounded (issue 9, items 1 and 8).

The page is the FakeBrowser's real aiortc peer; it opens channels and sends messages the
way a page script can (``createDataChannel`` / ``send``). The bounds asserted here are
the documented ones: 16 page-made labels per widget, 32 page-opened channels per view
(control channel included), 1000 messages / 8 MiB waiting for ``on_message``, 1000 /
8 MiB unread for ``recv()``, 256 KiB per message.
"""

from __future__ import annotations

import logging
import threading

import nbrtc
from nbrtc._transport import channel as channel_mod

from ._browser import FakeBrowser, assert_holds, wait_for
from ._page_channels import channel_bounds, deep_json, open_page_channels, page_send, page_states

PAGE_LABELS = 16
PAGE_CHANNELS = 32
BACKLOG = 1000


def live_camera(browser: FakeBrowser, widgets: list) -> tuple[nbrtc.Camera, str]:  # type: ignore[type-arg]
    cam = nbrtc.Camera()
    widgets.append(cam)
    browser.attach(cam)
    sid = browser.start(cam)
    cam.wait("live", timeout=10)
    return cam, sid


def keeps_streaming(cam: nbrtc.Camera, seconds: float = 2.0) -> None:
    """The camera stays live and frames keep arriving (the fake camera runs at 30 fps)."""
    n = cam.frame_count
    assert_holds(lambda: cam.state == "live", seconds, what="the camera stays live")
    assert cam.frame_count >= n + 15 * seconds, f"{cam.frame_count - n} frames in {seconds} s"


def test_deeply_nested_message_stays_inside_that_message(browser, widgets, no_leaks, caplog):
    """4 KB of ``[[[...]]]`` (depth 2000) on the widget's channel and on a channel the
    page opened on its own: before the fix json.loads raised RecursionError inside
    aiortc's DTLS receive loop and the camera went silent. Now the text arrives as
    itself, a user callback that raises on it is kept in callback_error, and the stream
    and the channel go on."""
    caplog.set_level(logging.WARNING)
    cam, sid = live_camera(browser, widgets)
    ch = cam.channel("chat")
    wait_for(lambda: ch.open, 10, what="channel open")
    seen: list[object] = []

    def fragile(data: object) -> None:
        if isinstance(data, str) and data.startswith("[[["):
            raise RecursionError("the user's callback choked on it")

    ch.on_message(fragile)
    ch.on_message(seen.append)
    deep = deep_json(2000)
    browser.channel_send(sid, "chat", deep)
    browser.channel_send(sid, "unasked", deep)  # a label Python never asked for
    browser.channel_send(sid, "chat", '{"after": 1}')

    assert ch.recv(timeout=5) == deep, "undecodable text arrives as the text itself"
    assert ch.recv(timeout=5) == {"after": 1}
    wait_for(lambda: len(seen) == 2, 5, what="both messages reached the callbacks")
    assert seen == [deep, {"after": 1}]
    assert ch.callback_error == "RecursionError: the user's callback choked on it"
    assert cam.channel("unasked").recv(timeout=5) == deep
    keeps_streaming(cam)
    browser.channel_send(sid, "chat", '"still talking"')
    assert ch.recv(timeout=5) == "still talking"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "nothing escaped"


def test_oversized_and_odd_messages(browser, widgets, no_leaks):
    """A message over the 256 KiB the kernel advertises (a=max-message-size; only a peer
    that ignores it can send one) is dropped and counted; a 5000-digit integer (over
    Python's int-digit limit) and other odd text arrive as text; empty binary as b"";
    the channel goes on in order."""
    cam, sid = live_camera(browser, widgets)
    ch = cam.channel("chat")
    wait_for(lambda: ch.open, 10, what="channel open")
    browser.channel_send(sid, "chat", "x" * 200_000)  # within the limit: kept
    page_dc = browser.channels[(sid, "chat")]
    page_dc.transport._remote_max_message_size = 0  # the page ignores the kernel's limit
    browser.channel_send(sid, "chat", "x" * 300_000)
    for message in ("1" * 5000, "[1, 2", b"", "NaN", '"end"'):
        browser.channel_send(sid, "chat", message)
    got = [ch.recv(timeout=5) for _ in range(6)]
    assert got[0] == "x" * 200_000
    assert got[1:4] == ["1" * 5000, "[1, 2", b""]
    assert got[4] != got[4] and got[5] == "end"  # NaN is JSON to Python
    assert ch.dropped == 1 and "262144" in ch.drop_reason
    assert ch.received == 7
    keeps_streaming(cam, 1.0)


def test_page_opened_channels_are_bounded(browser, widgets, no_leaks):
    """Before the fix, every channel a page opened became a kernel Channel (300 held
    192 MB). Now: one control channel per view, 16 labels Python never asked for per
    widget, 32 page-opened channels open per view; the rest are closed at once with a
    `limit` error; closed labels free their place; Python asking for a label takes it."""
    cam, sid = live_camera(browser, widgets)
    ch = cam.channel("chat")
    wait_for(lambda: ch.open, 10, what="channel open")

    second_control = open_page_channels(browser, sid, ["nbrtc"])
    junk = open_page_channels(browser, sid, [f"junk{i}" for i in range(40)])
    wait_for(
        lambda: page_states(browser, junk + second_control).count("closed") == 40 - 16 + 1,
        5,
        what="the kernel closed the channels over the bound",
    )
    assert page_states(browser, second_control) == ["closed"]
    assert page_states(browser, junk)[:PAGE_LABELS] == ["open"] * PAGE_LABELS
    limits = [e["payload"] for e in browser.of_type("error", sid)]
    assert limits and all(p["code"] == "limit" and p["ref"]["type"] == "channel" for p in limits)
    assert "widget.channel(label)" in " ".join(p["message"] for p in limits)
    assert len(limits) <= 4, "at most one error a second per bound, not one per channel"

    # duplicates of a label Python asked for count per view: 1 control + 16 junk + 15
    dups = open_page_channels(browser, sid, ["chat"] * 30)
    wait_for(
        lambda: page_states(browser, dups).count("closed") == 30 - 15,
        5,
        what="duplicates over the per-view bound closed",
    )
    page_send(browser, dups[0], ['"on a duplicate"'])
    assert ch.recv(timeout=5) == "on a duplicate"

    # Python asks for a page-made label: it is a full channel from now on
    claimed = cam.channel("junk0")
    page_send(browser, junk[0], ['"claimed"'])
    assert claimed.recv(timeout=5) == "claimed"

    # the page closes its other junk channels: their labels are forgotten, so it may
    # open as many new ones again
    async def close_junk() -> None:
        for dc in junk[1:PAGE_LABELS] + dups[:15]:
            dc.close()

    browser.run(close_junk())
    wait_for(
        lambda: sum(c._by_page for c in cam._channels.values()) == 0,
        5,
        what="unasked labels forgotten once their channels closed",
    )
    again = open_page_channels(browser, sid, [f"again{i}" for i in range(PAGE_LABELS)])
    assert page_states(browser, again) == ["open"] * PAGE_LABELS
    assert channel_bounds(cam) == ""
    keeps_streaming(cam, 1.0)
    assert (channel_mod.PAGE_LABELS, channel_mod.PAGE_CHANNELS) == (PAGE_LABELS, PAGE_CHANNELS)


def test_slow_on_message_backlog_is_bounded(browser, widgets, no_leaks, caplog):
    """A callback that blocks while 1500 messages arrive: before the fix all of them
    queued (2,984 behind an inbox capped at 1,000). Now at most 1000 wait; the oldest
    are dropped, counted and logged once; the newest still arrive, in order."""
    caplog.set_level(logging.WARNING)
    cam, sid = live_camera(browser, widgets)
    ch = cam.channel("chat")
    wait_for(lambda: ch.open, 10, what="channel open")
    release = threading.Event()
    got: list[object] = []

    def slow(data: object) -> None:
        release.wait(20)
        got.append(data)

    ch.on_message(slow)
    n = BACKLOG + 500
    browser.channel_send(sid, "chat", "0")
    wait_for(lambda: ch.received == 1, 5, what="the first message is in the callback")
    try:
        # in batches: one burst of 1500 SCTP messages from aiortc's page can lose a video
        # packet, and aiortc's jitter buffer then waits seconds for a keyframe
        for start in range(1, n, 100):
            batch = [str(i) for i in range(start, min(start + 100, n))]
            page_send(browser, browser.channels[(sid, "chat")], batch)
            wait_for(lambda: ch.received == start + len(batch), 10, what="the batch arrived")  # noqa: B023
    finally:
        release.set()
    wait_for(lambda: got and got[-1] == n - 1, 10, what="the newest message reached the callback")
    assert len(got) == 1 + BACKLOG, f"{len(got)} callbacks ran for {n} messages"
    assert got == [0, *range(n - BACKLOG, n)], "the oldest waiting ones were dropped"
    assert ch.callback_dropped == n - 1 - BACKLOG
    warned = [r.getMessage() for r in caplog.records if "on_message is slower" in r.getMessage()]
    assert len(warned) == 1, warned
    assert ch.dropped == n - BACKLOG and ch.recv(timeout=1) == n - BACKLOG
    assert channel_bounds(cam) == ""
    keeps_streaming(cam, 1.0)


def test_backlog_bounds_and_decode() -> None:
    """The pieces: a Backlog drops its oldest beyond either bound; decode never raises."""
    backlog = channel_mod.Backlog(max_items=5, max_bytes=1000)
    dropped = sum(backlog.push(i, 100) for i in range(8))
    assert (dropped, len(backlog), backlog.bytes) == (3, 5, 500)
    assert backlog.push("big", 800) == 3 and len(backlog) == 3 and backlog.pop() == 6
    decode = channel_mod.decode
    assert decode(deep_json(100_000)) == deep_json(100_000)
    assert decode('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    assert decode("9" * 10_000) == "9" * 10_000
    assert decode(b"\xff\x00") == b"\xff\x00"
    assert decode("") == ""
