"""A kernel feed broadcast once through a real Janus, watched by three JupyterLab tabs.

Janus runs in a network namespace of its own (tests/lab/janus.py, 203.0.113.1 on a veth
pair); JupyterLab, the kernel and Chromium run on the host and reach it over the veth.
The notebook: ``[janus + feed, view = VideoView(feed); view, view, view]``; tab N runs
cell N (a new cell only displays the view again; re-running cell 1 is the re-run trigger).

Checked independently of nbrtc where possible: each tab's ``<video>`` pixels move; the
kernel holds ONE aiortc peer (the publisher; ``resources()["peers"]``); Janus's admin API
lists the sessions and handles: one publisher handle plus one subscriber handle per view,
and every teardown trigger (tab closed, cell re-run, ``view.close()``) leaves only the
publisher's; ``feed.close()`` leaves no session at all. Markers ``e2e`` and ``janus``.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator

import pytest

from lab import janus as jl
from lab import jupyter as h
from lab.video import _root, _wait_pixels_change, _wait_state

from .test_room import kjson, kq, open_tab, run

pytestmark = [pytest.mark.e2e, pytest.mark.janus]


@pytest.fixture(scope="module")
def janus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[jl.JanusServer]:
    if reason := jl.janus_missing():
        pytest.skip(reason)
    with jl.JanusLab("e2e") as lab:
        server = jl.JanusServer(lab, tmp_path_factory.mktemp("janus-e2e"), 10)
        with server:
            yield server


def handles(server: jl.JanusServer) -> list[int]:
    return [len(server.handles(s)) for s in server.sessions()]


# slow: the multi-tab SFU scenarios (~20 s each) run in `make slow-tests` and
# `make janus-tests`; tests/kernel/test_janus*.py and test_janus_teardown.py stay in `make test`
@pytest.mark.slow
def test_broadcast_to_three_tabs(page, jupyter_server, janus_server):
    server = janus_server
    name = f"janus_{secrets.token_hex(3)}.ipynb"
    setup = (
        "import nbrtc\n"
        f"janus = nbrtc.Janus({server.ws_url!r}, api_secret={server.api_secret!r})\n"
        "feed = janus.broadcast(nbrtc.sources.test_pattern(640, 480, 30))\n"
        "feed.wait('live', timeout=15)"
    )
    cells = [setup, "view = nbrtc.VideoView(feed)\nview", "view", "view"]
    path = h.write_notebook(jupyter_server, name, cells)
    h.open_notebook(page, jupyter_server, path)
    tabs = [page]
    try:
        tabs.append(open_tab(page, jupyter_server, path))
        tabs.append(open_tab(page, jupyter_server, path))
        run(page, 0)
        assert handles(server) == [1]  # the publisher
        t0 = time.monotonic()
        for index, tab in enumerate(tabs, start=1):
            run(tab, index)
        for index, tab in enumerate(tabs, start=1):
            _wait_state(_root(tab, index), "live", timeout=30)
        h.wait_for(lambda: kq(page, "feed.viewers") == 3, timeout=10, message="3 viewers")
        print(f"\n3 tabs live {time.monotonic() - t0:.2f} s after the first view cell ran")
        for index, tab in enumerate(tabs, start=1):
            frac = _wait_pixels_change(_root(tab, index), min_fraction=0.005)
            print(f"tab {index}: {frac:.3f} of the thumbnail changed")
            c = h.counters(tab)
            assert c["peersLive"] == 1, c
        res = kjson(page, "nbrtc.manager().resources()")
        assert res["peers"] == 1, res  # one publisher; no peer per viewer
        streams = kjson(page, "nbrtc.manager().streams()")
        assert sorted(s["transport"] for s in streams) == ["janus"] * 3, streams
        assert handles(server) == [1 + 3]

        # a tab closes: its subscriber handle is detached (pagehide's bye)
        t0 = time.monotonic()
        tabs.pop().close()
        h.wait_for(lambda: handles(server) == [1 + 2], timeout=5, message="tab's handle gone")
        print(f"tab closed -> handle gone {time.monotonic() - t0:.2f} s")

        # the view's cell runs again: the old widget's views close, the new one watches
        t0 = time.monotonic()
        run(page, 1)
        _wait_state(_root(page, 1), "live", timeout=30)
        h.wait_for(lambda: handles(server) == [1 + 1], timeout=5, message="re-run: 1 viewer")
        print(f"re-run -> one subscriber left {time.monotonic() - t0:.2f} s")

        # view.close(): only the publisher's handle stays
        kq(page, "view.close()")
        h.wait_for(lambda: handles(server) == [1], timeout=2, message="close: publisher only")
        # feed.close(): nothing left on the server
        kq(page, "feed.close()")
        h.wait_for(lambda: server.sessions() == [], timeout=2, message="zero sessions")
        assert kq(page, "feed.state") == "closed"
        assert kjson(page, "nbrtc.manager().resources()")["peers"] == 0
    finally:
        for tab in tabs[1:]:
            tab.close()
        with contextlib.suppress(Exception):  # the test may have failed before it ran
            h.kernel_query(page, "janus.close()", 10)
        h.wait_for(lambda: server.sessions() == [], timeout=12, message="no session left")


# Remote videos of every room view in a tab: a thumbnail of each (lab.video's grab).
ROOM_VIDEOS = "video.nbrtc-room-remote"
ROOM_STATES = "els => els.map(e => e.dataset.state)"


def room_thumbnails(tab) -> list[list[int] | None]:
    from lab.video import _GRAB_JS  # (imported here: this part was appended to the module)

    videos = tab.locator(ROOM_VIDEOS)
    return [videos.nth(i).evaluate(_GRAB_JS)["pixels"] for i in range(videos.count())]


@pytest.mark.slow
def test_room_of_four_through_janus(page, jupyter_server, janus_server):
    """Two tabs x two views of one ``Room(server=janus)``: each member sends its camera
    once, to Janus, and shows the three others' from Janus; the kernel holds no peer;
    ``room.close()`` leaves no session on the server."""
    from lab.video import _changed_fraction

    server = janus_server
    name = f"janus_room_{secrets.token_hex(3)}.ipynb"
    setup = (
        "import nbrtc\n"
        f"janus = nbrtc.Janus({server.ws_url!r}, api_secret={server.api_secret!r})\n"
        'room = nbrtc.Room("four", server=janus, max_members=4)\n'
        "room"
    )
    path = h.write_notebook(jupyter_server, name, [setup, "room", "room", "room"])
    h.open_notebook(page, jupyter_server, path)
    tabs = [page, open_tab(page, jupyter_server, path)]
    try:
        t0 = time.monotonic()
        run(page, 0)
        run(page, 1)
        run(tabs[1], 2)
        run(tabs[1], 3)

        def ready() -> bool:
            for tab in tabs:
                states = tab.eval_on_selector_all(
                    ".nbrtc-room", "els => els.map(e => e.dataset.state)"
                )
                thumbs = room_thumbnails(tab)
                if states != ["live", "live"] or len(thumbs) != 6 or None in thumbs:
                    return False
            return True

        h.wait_for(ready, timeout=20, interval=0.2, message="4 members, each showing 3 videos")
        print(
            f"\n4 members live with 3 videos each {time.monotonic() - t0:.2f} s after the first run"
        )
        # moving pixels in every remote video of both tabs
        first = [room_thumbnails(tab) for tab in tabs]

        def all_moved() -> bool:
            now = [room_thumbnails(tab) for tab in tabs]
            return all(
                a is not None and b is not None and _changed_fraction(a, b) >= 0.005
                for then, later in zip(first, now, strict=True)
                for a, b in zip(then, later, strict=True)
            )

        h.wait_for(all_moved, timeout=10, interval=0.2, message="every remote video moves")
        for tab in tabs:
            c = h.counters(tab)
            # two views: each one pc up to Janus and three down from it; one camera each
            assert (c["peersLive"], c["tracksLive"]) == (2 * 4, 2), c
        assert kjson(page, "nbrtc.manager().resources()")["peers"] == 0
        assert handles(server) == [1 + 4 + 4 * 3]  # the room's handle, publishers, subscribers
        links = kjson(page, "room.links()")
        assert sorted(link["direction"] for link in links) == ["receive"] * 12 + ["send"] * 4
        t0 = time.monotonic()
        kq(page, "room.close()")
        h.wait_for(lambda: server.sessions() == [], timeout=2, message="zero sessions")
        print(f"room.close() -> 0 sessions {time.monotonic() - t0:.2f} s")
        for tab in tabs:
            h.wait_for(lambda t=tab: h.counters(t)["peersLive"] == 0, timeout=5, message="no pc")
    finally:
        tabs[1].close()
        with contextlib.suppress(Exception):
            h.kernel_query(page, "janus.close()", 10)
        h.wait_for(lambda: server.sessions() == [], timeout=12, message="no session left")
