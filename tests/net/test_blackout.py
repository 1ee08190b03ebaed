"""A 5 s UDP blackout in the middle of a live camera stream, on a real network (issue 10
section 3).

Chromium in the client namespace streams its fake camera to the kernel in the server
namespace over a direct host pair. An nftables rule then drops all UDP between the two
namespaces for ``BLACKOUT`` seconds (the notebook's WebSocket, TCP, keeps working) and is
removed. The kernel records when each decoded frame reaches Python (a thread polling the
stream's frame counter every 5 ms) and every state the widget shows.

Goal (issue 10, benchmark row): the longest gap in frames reaching Python is at most
``BOUND`` s after the network returns, with no user action; the stream never leaves
"live"; zero leaks after close. Figures are printed and written to
``test-artifacts/net-blackout.json``.

a. 5 s blackout (the issue's): frames back within ``BOUND`` (a keyframe asked for at
   resume); Chromium does not even report its ICE disconnected for that long.
b. 12 s blackout: Chromium reports ICE "disconnected" (about 6 s in), the kernel asks for
   ICE restarts with backoff (each a line in ``history()``), the camera stays on, and
   path and frames come back within ``BOUND`` once the rule is removed.
c. UDP never comes back: after the give-up time (shortened in the kernel) the stream
   fails in words and the page releases the camera.
d. 12 s blackout with the kernel told to skip ICE restarts: every attempt builds a new
   peer connection on both sides under the same stream; frames come back within
   ``FRESH_BOUND``.
e. 5 s in which only one direction is dropped (either): the side that stops hearing the
   other asks through the comm (a ping with ``ask``), the other answers there, the
   stream stays live (docs/protocol.md "Control channel").

To see it fail without the receiver's keyframe request at resume
(src/nbrtc/_transport/rtp_recovery.py), run it with ``NBRTC_BLACKOUT_WITHOUT_RECOVERY=1``: the
kernel then turns the mechanism off before the blackout.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time

import pytest

from lab import jupyter as h
from lab import netlab as nl
from lab.video import _close_all, _kjson, _live_counters_zero

from .test_reach import _assert_no_egress, _assert_no_leaks, _close, _go_live, _selected

pytestmark = pytest.mark.net

BLACKOUT = 5.0
#: long enough for Chromium to call its ICE disconnected and the kernel to restart it
LONG_BLACKOUT = 12.0
#: the kernel's give-up time in the never-back test (the default is 60 s)
GIVE_UP_SHORT = 8.0
#: goal: frames back in Python at most this long after the network returns
BOUND = 2.0
#: the same over a peer connection made during the blackout: its ICE checks went
#: unanswered and are retransmitted with growing pauses, so the first one after the
#: network returns may be a couple of seconds away (measured 2.0 s)
FRESH_BOUND = 4.0
RESULTS = h.ARTIFACTS_DIR / "net-blackout.json"

# Started once the camera is live: records frame arrival times and widget states in the
# kernel, for at most 90 s (bounded even if the test dies).
_RECORDER = """\
import threading, time, json, nbrtc
import nbrtc._transport.rtp_recovery as _rr
{disable}
_rec = {{"t": [], "states": [], "stop": False}}
_s = list(nbrtc.manager()._streams.values())[0]
def _poll(end=time.monotonic() + 90):
    last = _s.frames
    while not _rec["stop"] and time.monotonic() < end:
        n = _s.frames
        now = time.monotonic()
        if n != last:
            _rec["t"].append(now)
            last = n
        if not _rec["states"] or _rec["states"][-1][1] != cam.state:
            _rec["states"].append((now, cam.state))
        time.sleep(0.005)  # poll interval (the recorder thread's 5 ms resolution, bounded)
_rec_thread = threading.Thread(target=_poll, daemon=True)
_rec_thread.start()
print(json.dumps({{"now": time.monotonic(), "recovery": _rr.ENABLED}}))"""

_RESULTS = """\
_rec["stop"] = True
_rec_thread.join(2)
import nbrtc._transport.rtp_recovery as _rr
_notes = [e["summary"] for e in cam.history() if e["event"] == "note"]
_st = _rr.stats(_s._pc)
print(json.dumps({"t": _rec["t"], "states": _rec["states"], "now": time.monotonic(),
                  "notes": _notes, "reconnect": _s.reconnect.state,
                  "restarts": _s.reconnect.restarts, "recoveries": _s.reconnect.recoveries,
                  "fresh_peers": _s.reconnect.fresh_peers, "asked": _s.asked,
                  "page_asked": _s.page_asked,
                  "rtp": {k: _st[k] for k in ("resumes", "plis", "frames_dropped",
                                              "longest_gap", "pli_times", "resume_times")},
                  "browser": _s.browser, "error": cam.error}))"""


def _count_after(kernel_eval, t: float) -> int:
    return int(kernel_eval(f"print(sum(1 for _x in _rec['t'] if _x > {t!r}))").strip())


def _blackout(
    page,
    open_nb,
    kernel_eval,
    scenario,
    seconds: float,
    name: str,
    setup: str = "",
    one_way: str = "",
) -> dict:
    """Go live, record, drop all UDP between the namespaces (``one_way="to-kernel"``:
    only the browser's packets to the kernel; ``"to-page"``: only the kernel's to the
    browser) for ``seconds``, remove the rule, wait for frames; return the figures (also
    recorded under ``name``). ``setup`` runs in the kernel once the stream is live."""
    without = bool(os.environ.get("NBRTC_BLACKOUT_WITHOUT_RECOVERY"))
    got = _go_live(page, open_nb, kernel_eval, f"net_{name}.ipynb")
    if setup:
        kernel_eval(setup)
    pair = _selected(page)
    assert pair["local"]["type"] == "host", pair
    disable = "_rr.ENABLED = False" if without else ""
    _kjson(kernel_eval, _RECORDER.format(disable=disable))
    # a few seconds of steady video first
    h.wait_for(
        lambda: _count_after(kernel_eval, 0.0) > 60,
        timeout=15,
        interval=0.2,
        message="two seconds of frames before the blackout",
    )
    t_block = time.monotonic()
    src, dst = nl.CLIENT_IP, nl.SERVER_IP
    if one_way == "to-page":
        src, dst = dst, src
    scenario.block_udp_between(src, dst, one_way=bool(one_way))
    time.sleep(seconds)  # the scenario's duration, not a wait for a condition
    dropped = scenario.counters().get("udp_dropped", 0)
    scenario.remove()
    t_back = time.monotonic()  # the rule is gone when nft returns
    # frames again (bounded well beyond the goal, so a failure shows the real figure)
    with contextlib.suppress(TimeoutError):
        h.wait_for(
            lambda: _count_after(kernel_eval, t_back) > 0,
            timeout=20,
            interval=0.05,
            message="a frame after the network returned",
        )
        # a little steady video after it, to see the gap after the first frame too
        h.wait_for(
            lambda: _count_after(kernel_eval, t_back) > 60,
            timeout=15,
            interval=0.2,
            message="frames after the network returned",
        )
    res = _kjson(kernel_eval, _RESULTS)
    times = res["t"]
    after = [t for t in times if t > t_back]
    first_back = (after[0] - t_back) if after else None
    # the longest gap between frames (and from the network's return) after it returned
    gap_after = max((b - a for a, b in itertools.pairwise([t_back, *after])), default=None)
    gap_total = max((b - a for a, b in itertools.pairwise(times)), default=None)
    fps_after = (len([t for t in after if t <= after[0] + 3]) - 1) / 3 if len(after) > 1 else 0
    rtp = res["rtp"]
    data = {
        "recovery_enabled": not without,
        "blackout_s": seconds,
        "network_back_to_first_frame_s": round(first_back, 3) if first_back else None,
        "longest_gap_after_network_back_s": round(gap_after, 3) if gap_after else None,
        "longest_gap_overall_s": round(gap_total, 3) if gap_total else None,
        "frames_before_blackout": len([t for t in times if t <= t_block]),
        "fps_python_3s_after_first_frame": round(fps_after, 1),
        "widget_states": [s for _t, s in res["states"]],
        "error": res["error"],
        "ice_restarts_asked": res["restarts"],
        "new_peer_connections_asked": res["fresh_peers"],
        "kernel_pings_that_asked": res["asked"],
        "page_pings_that_asked": res["page_asked"],
        "reconnect_state": res["reconnect"],
        "path_recoveries": res["recoveries"],
        "rtp_recoveries": rtp["resumes"],
        "plis_sent": rtp["plis"],
        "pli_after_network_back_s": [round(t - t_back, 3) for t in rtp["pli_times"] if t > t_back][
            :5
        ],
        "frames_held_back_until_keyframe": rtp["frames_dropped"],
        "reconnect_notes": [n for n in res["notes"] if n.startswith("reconnect")],
        "udp_packets_dropped": dropped,
        "stream_timings_s": got["streams"][0]["timings"],
    }
    name += "_without_recovery" if without else ""
    h.record_figure(RESULTS, name, data, echo=True)
    data["name"] = name
    return data


def _assert_back(data: dict, bound: float = BOUND) -> None:
    first_back, gap_after = (
        data["network_back_to_first_frame_s"],
        data["longest_gap_after_network_back_s"],
    )
    assert data["udp_packets_dropped"] > 0, "the blackout dropped nothing: no scenario"
    assert first_back is not None, "no frame reached Python after the network returned"
    assert first_back <= bound, f"frames back only {first_back:.2f} s after the network"
    assert gap_after <= bound, f"a {gap_after:.2f} s gap after the network returned"
    assert data["widget_states"] == ["live"], f"the stream left live: {data['widget_states']}"
    fps = data["fps_python_3s_after_first_frame"]
    assert fps >= 10, f"only {fps} fps after resuming"


def _close_clean(page, kernel_eval, coturn, egress, data: dict) -> None:
    t_close = _close(page, kernel_eval)
    leaks = _assert_no_leaks(page, kernel_eval, coturn)
    _assert_no_egress(egress)
    data.update({"close_to_no_peers_s": round(t_close, 3), "leaks": leaks})
    h.record_figure(RESULTS, data.pop("name"), data, echo=True)


def test_udp_blackout_video_back_within_bound(page, open_nb, kernel_eval, coturn, egress, scenario):
    """The issue's scenario: 5 s without UDP; frames back within BOUND, no user action."""
    egress.reset()
    try:
        data = _blackout(page, open_nb, kernel_eval, scenario, BLACKOUT, "blackout_5s")
        _assert_back(data)
        _close_clean(page, kernel_eval, coturn, egress, data)
    finally:
        scenario.remove()
        _close_all(kernel_eval)


@pytest.mark.parametrize(
    ("direction", "asker"),
    [
        # the kernel's ask is also met in the two-way test above and against the kernel
        # tests' stand-in page: this direction is left to `make slow-tests` (18 s)
        pytest.param("to-kernel", "kernel_pings_that_asked", marks=pytest.mark.slow),
        ("to-page", "page_pings_that_asked"),
    ],
)
def test_one_way_blackout_the_quiet_side_asks_through_the_comm(
    page, open_nb, kernel_eval, coturn, egress, scenario, direction, asker
):
    """5 s in which only one direction of UDP is dropped. ``to-kernel``: the browser's
    packets to the kernel are lost, the page still hears the kernel on its control
    channel and keeps its heartbeat off the comm, so only the kernel's ping that asks
    (after 1.2-1.6 s without a word) gets the page's heartbeat through the comm.
    ``to-page``: the kernel's packets are lost, the kernel still hears the page and keeps
    its pings off the comm, so only the page's ping that asks (after 1.25 s) gets one
    back through the comm. Either way the stream stays live (without the asks the kernel
    would give the page up after 3.5 s, the page the kernel after 3 s) and frames are
    back within BOUND."""
    egress.reset()
    try:
        data = _blackout(
            page,
            open_nb,
            kernel_eval,
            scenario,
            BLACKOUT,
            f"blackout_5s_one_way_{direction}",
            one_way=direction,
        )
        _assert_back(data)
        assert data[asker] >= 2, data
        _close_clean(page, kernel_eval, coturn, egress, data)
    finally:
        scenario.remove()
        _close_all(kernel_eval)


@pytest.mark.slow
def test_long_blackout_ice_restarts_then_back(page, open_nb, kernel_eval, coturn, egress, scenario):
    """LONG_BLACKOUT s without UDP: Chromium reports its ICE disconnected, the kernel asks
    for ICE restarts with backoff (each in history()), the camera stays on, and once the
    network returns the path and the frames come back within BOUND."""
    egress.reset()
    try:
        data = _blackout(page, open_nb, kernel_eval, scenario, LONG_BLACKOUT, "blackout_12s")
        _assert_back(data)
        assert data["ice_restarts_asked"] >= 2, data["reconnect_notes"]
        notes = data["reconnect_notes"]
        assert sum("asked of the page" in n for n in notes) == data["ice_restarts_asked"], notes
        assert any("path back after" in n for n in notes), notes
        _close_clean(page, kernel_eval, coturn, egress, data)
    finally:
        scenario.remove()
        _close_all(kernel_eval)


@pytest.mark.slow
def test_long_blackout_new_peer_connections_then_back(
    page, open_nb, kernel_eval, coturn, egress, scenario
):
    """LONG_BLACKOUT s without UDP, and the kernel told to skip ICE restarts
    (``ICE_RESTARTS = 0``, as after aioice ended its ICE connection): every attempt is a
    renegotiation from scratch (a new RTCPeerConnection on the page with the same camera
    tracks, a new aiortc peer under the same stream). The widget never leaves live, the
    frames come back within FRESH_BOUND of the network, and closing leaves nothing behind
    (every replaced peer was closed)."""
    egress.reset()
    try:
        setup = "import nbrtc._transport.reconnect as _rc; _rc.ICE_RESTARTS = 0"
        data = _blackout(
            page, open_nb, kernel_eval, scenario, LONG_BLACKOUT, "blackout_12s_fresh", setup
        )
        _assert_back(data, FRESH_BOUND)
        assert data["new_peer_connections_asked"] >= 1, data["reconnect_notes"]
        assert data["ice_restarts_asked"] == 0, data["reconnect_notes"]
        notes = data["reconnect_notes"]
        assert any("a new peer connection, asked of the page" in n for n in notes), notes
        assert any("answered the page's new peer connection" in n for n in notes), notes
        assert any("path back after" in n for n in notes), notes
        _close_clean(page, kernel_eval, coturn, egress, data)
    finally:
        scenario.remove()
        _close_all(kernel_eval)


@pytest.mark.slow
def test_path_never_back_fails_in_words_and_releases_the_camera(
    page, open_nb, kernel_eval, coturn, egress, scenario
):
    """UDP never comes back: after the give-up time (shortened to GIVE_UP_SHORT in the
    kernel) the stream fails in words, and the page releases the camera."""
    egress.reset()
    try:
        _go_live(page, open_nb, kernel_eval, "net_never_back.ipynb")
        kernel_eval(f"import nbrtc._transport.reconnect as _rc; _rc.GIVE_UP = {GIVE_UP_SHORT!r}")
        t_block = time.monotonic()
        scenario.block_udp_between(nl.CLIENT_IP, nl.SERVER_IP)
        h.wait_for(
            lambda: kernel_eval("print(cam.state)").strip() == "error",
            timeout=GIVE_UP_SHORT + 20,
            interval=0.5,
            message="the stream failing after the give-up time",
        )
        took = time.monotonic() - t_block
        words = kernel_eval("print(cam.error)").strip()
        h.wait_for(lambda: _live_counters_zero(page), timeout=5, message="camera released")
        notes = _kjson(
            kernel_eval,
            'print(json.dumps([e["summary"] for e in cam.history() if e["event"] == "note"]))',
        )
        data = {
            "give_up_s": GIVE_UP_SHORT,
            "block_to_error_s": round(took, 1),
            "words": words,
            "reconnect_notes": [n for n in notes if n.startswith("reconnect")],
        }
        h.record_figure(RESULTS, "never_back", data, echo=True)
        assert "network path between the browser and the kernel was lost" in words, words
        assert "did not bring it back" in words, words
        assert sum("asked of the page" in n for n in notes) >= 2, notes
        scenario.remove()
        _close_all(kernel_eval)
        _assert_no_leaks(page, kernel_eval, coturn)
        _assert_no_egress(egress)
    finally:
        scenario.remove()
        _close_all(kernel_eval)
