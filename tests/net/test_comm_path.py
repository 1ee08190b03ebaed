"""Everything blocked except the notebook's own port: the comm carries the video (issue 10
section 2, on a real network).

JupyterLab and the kernel run in the lab's "server" namespace (192.0.2.1), Debian
Chromium in the "client" namespace (192.0.2.2); an nftables table lets only TCP to and
from the Jupyter server's port through between them (no UDP, no other TCP port, no
ICMP), so no WebRTC path exists. coturn runs in the lab but is not configured.

A plain ``nbrtc.Camera()`` (``transport="auto"``) goes live over the widget's comm: the
page gives WebRTC 1.5 s, then asks the kernel for the comm. Asserted: frames reach
Python, ``cam.transport == "comm"``, the status line says so, the history keeps the
transport note; the stream stays live (frames still arriving) past the kernel's 15 s ICE
watchdog, which drops only the peer connection; a ``VideoView(test_pattern())`` in auto
mode plays over the comm too. After ``close()``: zero peers and tracks in the page, zero
streams and aiortc peers in the kernel, no ``nbrtc-comm-*`` thread, zero coturn
allocations (none made), nothing sent outside the lab.

Figures (kernel clock): the cell's start -> the first frame in Python, and the same from
just after ``import nbrtc`` (a fresh kernel's first import costs 1.4-1.8 s here); frames
per second in Python over 5 s. Printed and written to ``test-artifacts/net-comm.json``.
"""

from __future__ import annotations

import functools
import time

import pytest

from lab import jupyter as h
from lab import netlab as nl
from lab.video import (
    _close_all,
    _kjson,
    _live_counters_zero,
    _root,
    _run,
    _status,
    _wait_pixels_change,
    _wait_state,
)

pytestmark = pytest.mark.net

RESULTS = h.ARTIFACTS_DIR / "net-comm.json"
#: print a figure and keep it in RESULTS (under its name; other runs' kept)
_record = functools.partial(h.record_figure, RESULTS, echo=True)
#: the issue's goal for the comm-only network, printed next to the figure (3.15 s here at
#: load 2, 4-5 s at load 10-14: benchmarks/comm.py measures it)
GOAL_FIRST_FRAME_S = 3.0
#: what the test asserts: well under the kernel's 15 s ICE watchdog, so a fallback that
#: waited for WebRTC to fail for good (instead of 1.5 s) fails it
MAX_FIRST_FRAME_S = 10.0
#: frames per second that show video flowing (16-18 at load 2 with Chromium's 20 fps fake
#: camera, 7-12 at load 10-14; the benchmark measures the rate)
MIN_FPS = 5.0
#: the kernel's ICE watchdog (stream_ice.ICE_CONNECT_TIMEOUT) is 15 s after the answer; the
#: stream must still be live past it
PAST_WATCHDOG_S = 20.0

# The cell a person runs. A thread notes when the first frame reaches Python (frame_count
# becomes 1), so the time from the cell's start is measured in the kernel.
CAMERA_CELL = """\
import threading, time
_t0 = time.monotonic()
import nbrtc
_t_import = time.monotonic()
cam = nbrtc.Camera()
_first = []
def _note_first():
    _deadline = time.monotonic() + 60
    while cam.frame_count == 0 and time.monotonic() < _deadline and cam.state != "error":
        time.sleep(0.005)  # poll interval (bounded by the deadline)
    if cam.frame_count:
        _first.append(time.monotonic())
threading.Thread(target=_note_first, daemon=True).start()
cam"""

VIEW_CELL = "view = nbrtc.VideoView(nbrtc.sources.test_pattern())\nview"

_COMM_THREADS = (
    "import json, threading\nprint(json.dumps(sorted(t.name for t in threading.enumerate()"
    " if t.name.startswith('nbrtc-comm'))))"
)
_NOTES = (
    "import json\nprint(json.dumps([e['summary'] for e in cam.history()"
    " if e.get('event') == 'note']))"
)


def _frames_in(kernel_eval, expr: str, seconds: float) -> float:
    """Frames per second ``expr`` (a frame counter) grew by over ``seconds``. The kernel
    stays idle between the two short reads: comm frames arrive only then."""
    n0, t0 = int(kernel_eval(expr)), time.monotonic()
    h.sample_for(lambda: None, seconds, interval=0.5)  # the window IS the measurement
    n1, t1 = int(kernel_eval(expr)), time.monotonic()
    return (n1 - n0) / (t1 - t0)


def test_only_the_notebook_port_camera_and_view_over_the_comm(
    page, open_nb, kernel_eval, coturn, egress, scenario, net_server
):
    egress.reset()
    scenario.only_port(net_server.port)
    made_before = coturn.made()
    open_nb("net_comm_only.ipynb", [CAMERA_CELL, VIEW_CELL])
    try:
        t_run = time.monotonic()
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live", timeout=30)
        h.wait_for(lambda: kernel_eval("len(_first)") == "1", 30, 0.2, "the first frame in Python")
        first = _kjson(
            kernel_eval,
            "import json\nprint(json.dumps({'cell': _first[0] - _t0,"
            " 'after_import': _first[0] - _t_import, 'import': _t_import - _t0}))",
        )
        assert kernel_eval("cam.transport").strip() == "'comm'"
        h.wait_for(lambda: "via the notebook connection" in _status(root), 5, message="path shown")
        status = _status(root)
        notes = _kjson(kernel_eval, _NOTES)
        assert any("-> comm" in n for n in notes), notes
        fps = _frames_in(kernel_eval, "cam.frame_count", 5.0)
        shape = kernel_eval("cam.latest_frame.shape").strip()
        assert fps >= MIN_FPS, f"Python sees {fps:.1f} fps over the comm"
        dropped = scenario.counters()["dropped"]
        assert dropped > 0, "the firewall dropped nothing: WebRTC was not even tried"
        assert first["cell"] <= MAX_FIRST_FRAME_S, first

        # the kernel's ICE watchdog (15 s after the answer) gives up WebRTC only: past
        # it the stream is still live and frames still arrive
        h.wait_for(
            lambda: time.monotonic() - t_run >= PAST_WATCHDOG_S,
            PAST_WATCHDOG_S + 5,
            0.25,
            "past the watchdog",
        )
        state = kernel_eval("print(cam.state, cam.transport, repr(cam.error))").strip()
        assert state.split(" ", 2)[:2] == ["live", "comm"], state
        fps_late = _frames_in(kernel_eval, "cam.frame_count", 2.0)
        assert fps_late >= MIN_FPS, f"{fps_late:.1f} fps {PAST_WATCHDOG_S:.0f} s in"
        h.wait_for(
            lambda: any("WebRTC given up" in n for n in _kjson(kernel_eval, _NOTES)),
            timeout=10,
            interval=0.5,
            message="the kernel's ICE watchdog dropped the peer connection",
        )
        at_watchdog = {
            "s_after_run": round(time.monotonic() - t_run, 1),
            "fps": round(fps_late, 1),
            "page_peers_live": h.counters(page)["peersLive"],
            "kernel_peers": _kjson(kernel_eval, "print(json.dumps(nbrtc.manager().resources()))")[
                "peers"
            ],
        }

        # a VideoView in auto mode: the kernel's video reaches the page over the comm
        _run(page, 1)
        vroot = _root(page, 1)
        _wait_state(vroot, "live", timeout=30)
        moved = _wait_pixels_change(vroot, 0.01, timeout=15)
        assert kernel_eval("view.transport").strip() == "'comm'"
        h.wait_for(lambda: "via the notebook connection" in _status(vroot), 5, message="view path")
        view_stats = _kjson(
            kernel_eval, "import json\nprint(json.dumps(view._last_stream._comm_out.stats()))"
        )
        assert view_stats["framesAcked"] > 0, view_stats

        t_close = time.monotonic()
        kernel_eval("cam.close(); view.close()")
        h.wait_for(lambda: _live_counters_zero(page), 5, message="page peers/tracks 0")
        h.wait_for(lambda: kernel_eval("nbrtc.manager().streams()") == "[]", 5,
                   message="kernel streams empty")  # fmt: skip
        close_s = time.monotonic() - t_close
        h.wait_for(
            lambda: (
                _kjson(kernel_eval, "print(json.dumps(nbrtc.manager().resources()))")["peers"] == 0
            ),
            5,
            message="no aiortc peer left in the kernel",
        )
        h.wait_for(lambda: not _kjson(kernel_eval, _COMM_THREADS), 5, message="comm threads end")
        counts = h.counters(page)
        assert counts["peersLive"] == 0 and counts["tracksLive"] == 0, counts
        assert coturn.made() == made_before, "coturn was contacted without being configured"
        assert coturn.allocations() == 0, coturn.log_tail(20)
        got = egress.counters()
        assert got == {"egress_v4": 0, "egress_v6": 0}, f"packets left the lab: {got}"
        print(
            f"\ncomm only: first frame in Python {first['cell']:.2f} s after the cell's start "
            f"(goal <= {GOAL_FIRST_FRAME_S} s), {first['after_import']:.2f} s after the import "
            f"(which took {first['import']:.2f} s); {fps:.1f} fps, {fps_late:.1f} fps "
            f"{at_watchdog['s_after_run']} s in; status {status!r}"
        )
        _record(
            "comm_only",
            {
                "first_frame_from_cell_s": round(first["cell"], 3),
                "first_frame_after_import_s": round(first["after_import"], 3),
                "import_s": round(first["import"], 3),
                "fps_python_5s": round(fps, 1),
                "frame_shape": shape,
                "status": status,
                "past_watchdog": at_watchdog,
                "firewall_dropped_packets": dropped,
                "view_pixels_changed": round(moved, 3),
                "view_comm_out": view_stats,
                "close_to_nothing_live_s": round(close_s, 3),
                "page_counters_after": counts,
                "notes": notes,
            },
        )
    finally:
        _close_all(kernel_eval)


def test_only_port_scenario_drops_what_it_should(lab, scenario, net_server):
    """The scenario itself: from the client namespace the notebook's port answers and
    another TCP port of the same server does not (the drop counter sees it)."""
    scenario.only_port(net_server.port)
    probe = (
        "import socket, sys\n"
        "s = socket.socket(); s.settimeout(2)\n"
        "try:\n    s.connect((sys.argv[1], int(sys.argv[2]))); print('open')\n"
        "except OSError as e:\n    print(type(e).__name__)\n"
    )
    import sys

    ok = lab.run(lab.client, [sys.executable, "-c", probe, nl.SERVER_IP, str(net_server.port)])
    assert ok.strip() == "open", ok
    blocked = lab.run(lab.client, [sys.executable, "-c", probe, nl.SERVER_IP, "3478"])
    assert blocked.strip() != "open", blocked
    assert scenario.counters()["dropped"] > 0
