"""The teardown triggers of a broadcast's views that tests/e2e/test_janus.py does not pull:
output cleared, a crashed tab, and a kernel that dies (SIGKILL) with a broadcast live; and
a kernel receiver of an existing feed (a streaming mountpoint fed by an RTP sender in the
lab) used from a notebook: frames in a cell, its cell re-run, the kernel restarted.

Janus's admin API is the independent witness: every view is one subscriber handle in the
broadcast's session, so "the trigger reached the server" is "that handle is gone" (the
contract's bounds: output cleared 2 s, crashed tab 5 s). A dead kernel cannot close
anything: the server ends its session because the kernel's WebSocket closed with the
process (``reclaim_session_timeout = 0`` in docs/janus.md's config; over the HTTP API it
would be ``session_timeout`` after the last keep-alive). Markers ``e2e`` and ``janus``.
"""

from __future__ import annotations

import ast
import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import janus as jl
from lab import jupyter as h
from lab.video import _root, _wait_state

from .test_room import kq, open_tab, run

pytestmark = [pytest.mark.e2e, pytest.mark.janus]


@pytest.fixture(scope="module")
def janus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[jl.JanusServer]:
    if reason := jl.janus_missing():
        pytest.skip(reason)
    with jl.JanusLab("e2e-td") as lab:
        server = jl.JanusServer(lab, tmp_path_factory.mktemp("janus-e2e-td"), 10)
        with server:
            yield server


def handles(server: jl.JanusServer) -> list[int]:
    return [len(server.handles(s)) for s in server.sessions()]


def test_cleared_output_crashed_tab_and_dead_kernel(page, jupyter_server, janus_server):
    server = janus_server
    name = f"janus_td_{secrets.token_hex(3)}.ipynb"
    setup = (
        "import nbrtc\n"
        f"janus = nbrtc.Janus({server.ws_url!r}, api_secret={server.api_secret!r})\n"
        "feed = janus.broadcast(nbrtc.sources.test_pattern(320, 240, 30))\n"
        "feed.wait('live', timeout=15)"
    )
    cells = [setup, "view = nbrtc.VideoView(feed)\nview", "view"]
    path = h.write_notebook(jupyter_server, name, cells)
    h.open_notebook(page, jupyter_server, path)
    tab = None
    killed = False
    try:
        run(page, 0)
        run(page, 1)
        _wait_state(_root(page, 1), "live", timeout=30)
        h.wait_for(lambda: handles(server) == [2], timeout=10, message="publisher + 1 viewer")

        # output cleared: the view's stream ends after the grace period, its handle goes
        t0 = time.monotonic()
        h.clear_cell_output(page, 1)
        h.wait_for(lambda: handles(server) == [1], timeout=2.5, message="cleared: handle gone")
        print(f"\noutput cleared -> subscriber handle gone {time.monotonic() - t0:.2f} s")
        assert kq(page, "feed.viewers") == 0

        # a crashed tab: no pagehide, no bye; the kernel's watchdog ends the view
        tab = open_tab(page, jupyter_server, path)
        run(tab, 2)
        _wait_state(_root(tab, 2), "live", timeout=30)
        h.wait_for(lambda: handles(server) == [2], timeout=10, message="the tab's viewer")
        t0 = time.monotonic()
        h.crash_renderer(tab)
        h.wait_for(lambda: handles(server) == [1], timeout=5, message="crashed tab: handle gone")
        print(f"tab crashed -> subscriber handle gone {time.monotonic() - t0:.2f} s")
        assert kq(page, "feed.state") == "live", "the broadcast outlives its viewers"

        # the kernel dies with the broadcast live: nothing of it stays on the server
        pid = int(kq(page, "__import__('os').getpid()"))
        assert len(server.sessions()) == 1
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)  # the notebook's kernel, started by this test's server
        killed = True
        h.wait_for(lambda: server.sessions() == [], timeout=3, message="dead kernel: no session")
        print(f"kernel killed -> Janus session gone {time.monotonic() - t0:.2f} s")
    finally:
        if tab is not None:
            with contextlib.suppress(Exception):
                tab.close()
        if not killed:
            with contextlib.suppress(Exception):  # the test may have failed before it ran
                h.kernel_query(page, "janus.close()", 10)
        h.wait_for(lambda: server.sessions() == [], timeout=12, message="no session left")


def test_a_kernel_receiver_of_a_mountpoint_in_a_notebook(
    page, jupyter_server, janus_server, tmp_path: Path
):
    """``janus.watch(mountpoint=...)`` in a notebook cell: a snapshot of the sender's
    picture; re-running the cell leaves one feed (one session) on the server, not two;
    restarting the kernel leaves none."""
    server = janus_server
    mountpoint, port = 4343, 5006
    jl.create_mountpoint(server, mountpoint, port)
    try:
        with jl.RtpSender(server.lab, tmp_path, port, 320, 240, 30):
            name = f"janus_feed_{secrets.token_hex(3)}.ipynb"
            cells = [
                "import nbrtc\n"
                f"janus = nbrtc.Janus({server.ws_url!r}, api_secret={server.api_secret!r})",
                f"feed = janus.watch(mountpoint={mountpoint})\n"
                "img = feed.snapshot(timeout=15)\n"
                "img.shape, [int(v) for v in img[120, 40]], [int(v) for v in img[120, 280]]",
            ]
            path = h.write_notebook(jupyter_server, name, cells)
            h.open_notebook(page, jupyter_server, path)
            run(page, 0)
            t0 = time.monotonic()
            run(page, 1)
            took = time.monotonic() - t0
            out = h.cell_output_text(page, 1)
            print(f"\nwatch() -> snapshot in the cell {took:.2f} s: {out}")
            shape, left, right = ast.literal_eval(out)  # the cell shows a tuple of ints
            assert shape == (240, 320, 3)
            assert all(abs(a - b) <= 24 for a, b in zip(left, jl.LEFT_RGB, strict=True)), left
            assert all(abs(a - b) <= 24 for a, b in zip(right, jl.RIGHT_RGB, strict=True)), right
            assert len(server.sessions()) == 1

            run(page, 1)  # re-run: the old feed goes, the new one watches
            assert kq(page, "feed.state") == "live"
            h.wait_for(lambda: len(server.sessions()) == 1, timeout=2, message="one feed left")

            t0 = time.monotonic()
            h.restart_kernel(page, via="api")
            h.wait_for(lambda: server.sessions() == [], timeout=3, message="restart: none left")
            print(f"kernel restarted -> no session {time.monotonic() - t0:.2f} s after the call")
    finally:
        jl.destroy_mountpoint(server, mountpoint)
