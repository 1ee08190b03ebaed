"""Can a stream connect, and by which path, on a real network (issue 10)?

JupyterLab, the kernel and coturn run in a "server" network namespace (192.0.2.1),
Debian Chromium in a "client" namespace (192.0.2.2); nftables rules make each scenario
(see conftest.py and lab/netlab.py). Every test ends with zero leaks on both sides and zero
TURN allocations, and with nothing sent from the server namespace to any address
outside the lab (an nft counter that also drops such packets).

a. open network: the camera goes live over a direct host<->host pair.
b. UDP dropped between the namespaces, coturn reachable over TCP: live through the relay;
   every allocation released within 2 s of ``cam.close()``.
c. no ``ice_servers``: the kernel contacts no STUN/TURN server (aiortc alone would: the
   test first shows that the counter sees an unconfigured aiortc trying).

Measurements are printed and written to ``test-artifacts/net-reach.json``.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import time

import pytest

from lab import jupyter as h
from lab import netlab as nl
from lab.video import _close_all, _kjson, _live_counters_zero, _root, _run, _wait_state

pytestmark = pytest.mark.net

TURN_TCP = {"urls": f"turn:{nl.SERVER_IP}:3478?transport=tcp", "username": "u", "credential": "p"}
RESULTS = h.ARTIFACTS_DIR / "net-reach.json"
#: print a figure and keep it in RESULTS (under its name; other runs' kept)
_record = functools.partial(h.record_figure, RESULTS, echo=True)

# The cell a person runs. A thread notes when ``cam.wait("live")`` returns, so the time
# from the cell's start is measured in the kernel, without a second cell in the way.
CAMERA_CELL = """\
import threading, time
_t0 = time.monotonic()
_live_at = []
import nbrtc
{config}cam = nbrtc.Camera()
def _note_live():
    cam.wait("live", timeout=60)
    _live_at.append(time.monotonic())
threading.Thread(target=_note_live, daemon=True).start()
cam"""

# The selected candidate pair of every live peer in the page, from its own getStats.
_SELECTED_JS = """
async () => {
  const peers = await window.__counters.peerStats();
  return peers.map((list) => {
    const byId = Object.fromEntries(list.map((r) => [r.id, r]));
    const t = list.find((r) => r.type === 'transport' && r.selectedCandidatePairId);
    let pair = t ? byId[t.selectedCandidatePairId] : null;
    if (!pair) {
      pair = list.find((r) => r.type === 'candidate-pair' && r.nominated
                       && r.state === 'succeeded') || null;
    }
    if (!pair) return null;
    const c = (id) => {
      const x = byId[id] || {};
      return {type: x.candidateType, address: x.address || x.ip, port: x.port,
              protocol: x.protocol, relayProtocol: x.relayProtocol || null};
    };
    return {local: c(pair.localCandidateId), remote: c(pair.remoteCandidateId),
            state: pair.state, bytesReceived: pair.bytesReceived};
  });
}
"""

# What the kernel says about its streams, and its own selected pair (aioice's nominated
# pair, read through a private attribute: reported, not asserted).
_KERNEL_STATE = """\
import json, nbrtc
_sel = []
for _s in list(getattr(nbrtc.manager(), "_streams", {}).values()):
    try:
        _sel.append(_s.kernel_candidates()["selected"])
    except Exception as _e:
        _sel.append(repr(_e))
print(json.dumps({"t_live": (_live_at[0] - _t0) if _live_at else None,
                  "streams": nbrtc.manager().streams(), "kernel_selected": _sel},
                 default=str))"""

# An aiortc peer with no configuration gathering candidates: aiortc then falls back to a
# public STUN server (a DNS query for it is the first packet that would leave).
_UNCONFIGURED_AIORTC = """\
import asyncio
from aiortc import RTCPeerConnection
async def main():
    pc = RTCPeerConnection()
    pc.addTransceiver("video")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
asyncio.run(main())
"""


def _selected(page) -> dict:
    """The page's one live peer's selected pair (waits up to 10 s for one)."""
    found: dict = {}

    def one() -> bool:
        pairs = page.evaluate(_SELECTED_JS)
        found["pairs"] = pairs
        return len(pairs) == 1 and pairs[0] is not None

    h.wait_for(one, timeout=10, interval=0.1, message="the page's selected candidate pair")
    return found["pairs"][0]


def _go_live(page, open_nb, kernel_eval, name: str, config: str = "") -> dict:
    """Open a notebook whose one cell makes a camera, run it, and wait until both the
    page's view and ``cam.wait("live")`` say live; return the kernel's account."""
    open_nb(name, [CAMERA_CELL.format(config=config)])
    _run(page, 0)
    _wait_state(_root(page, 0), "live", timeout=30)
    kernel_eval('cam.wait("live", timeout=30)', timeout=40)
    h.wait_for(
        lambda: kernel_eval("len(_live_at)") == "1",
        timeout=10,
        message="the cell's thread saw cam.wait('live') return",
    )
    return _kjson(kernel_eval, _KERNEL_STATE)


def _fps(kernel_eval, seconds: float = 3.0) -> float:
    """``cam.fps`` (frames over the last 2 s) after ``seconds`` of sampling."""
    samples = h.sample_for(lambda: float(kernel_eval("cam.fps")), seconds, interval=0.5)
    return round(samples[-1], 1)


def _close(page, kernel_eval) -> float:
    """``cam.close()``; return when the page holds no live peer or track and the kernel no
    stream (seconds from the call)."""
    t = time.monotonic()
    kernel_eval("cam.close()")
    h.wait_for(lambda: _live_counters_zero(page), timeout=5, message="page peers/tracks 0")
    h.wait_for(
        lambda: kernel_eval("nbrtc.manager().streams()") == "[]",
        timeout=5,
        message="kernel streams empty",
    )
    return time.monotonic() - t


def _assert_no_leaks(page, kernel_eval, coturn: nl.Coturn) -> dict:
    """Scenario d: zero live browser peers/tracks, zero kernel streams and aiortc peers,
    zero coturn allocations."""
    c = h.counters(page)
    assert c["peersLive"] == 0 and c["tracksLive"] == 0, c
    assert kernel_eval("nbrtc.manager().streams()") == "[]"
    h.wait_for(
        lambda: _kjson(kernel_eval, "print(json.dumps(nbrtc.manager().resources()))")["peers"] == 0,
        timeout=5,
        message="no aiortc peer left in the kernel",
    )
    assert coturn.allocations() == 0, coturn.log_tail(20)
    return {"page": c, "kernel_streams": 0, "coturn_allocations": 0}


def _assert_no_egress(egress: nl.Firewall) -> None:
    got = egress.counters()
    assert got == {"egress_v4": 0, "egress_v6": 0}, f"packets left the lab: {got}"


# ------------------------------------------------------------------------------- tests


def test_open_network_direct(page, open_nb, kernel_eval, coturn, egress):
    """a. Nothing blocked, no ice_servers: live over a host<->host pair."""
    egress.reset()
    made_before = coturn.made()
    try:
        got = _go_live(page, open_nb, kernel_eval, "net_direct.ipynb")
        pair = _selected(page)
        assert pair["local"]["type"] == "host", pair
        assert pair["remote"]["type"] == "host", pair
        assert pair["local"]["address"] == nl.CLIENT_IP, pair
        assert pair["remote"]["address"] == nl.SERVER_IP, pair
        fps = _fps(kernel_eval)
        assert fps >= 10, f"Python sees {fps} fps"
        t_close = _close(page, kernel_eval)
        leaks = _assert_no_leaks(page, kernel_eval, coturn)
        assert coturn.made() == made_before, "coturn was contacted without being configured"
        _assert_no_egress(egress)
        [stream] = got["streams"]
        _record(
            "a_direct",
            {
                "cell_to_wait_live_s": round(got["t_live"], 3),
                "stream_timings_s": stream["timings"],
                "fps_python": fps,
                "page_selected_pair": pair,
                "kernel_selected_pair": got["kernel_selected"],
                "close_to_no_peers_s": round(t_close, 3),
                "leaks": leaks,
            },
        )
    finally:
        _close_all(kernel_eval)


def test_udp_blocked_turn_tcp_relay(page, open_nb, kernel_eval, coturn, egress, scenario):
    """b. UDP dropped between the namespaces; TURN over TCP reachable: live through the
    relay, and coturn's allocations are all released within 2 s of ``cam.close()``."""
    egress.reset()
    scenario.block_udp_between(nl.CLIENT_IP, nl.SERVER_IP)
    assert coturn.allocations() == 0
    made_before = coturn.made()
    config = f"nbrtc.config.ice_servers = [{TURN_TCP!r}]\n"
    try:
        got = _go_live(page, open_nb, kernel_eval, "net_relay.ipynb", config)
        pair = _selected(page)
        assert "relay" in (pair["local"]["type"], pair["remote"]["type"]), pair
        fps = _fps(kernel_eval)
        assert fps >= 10, f"Python sees {fps} fps"
        dropped = scenario.counters()["udp_dropped"]
        assert dropped > 0, "no UDP was dropped: the scenario did not block anything tried"
        live_allocations = coturn.allocations()
        assert live_allocations >= 1, coturn.log_tail(30)
        t_close_call = time.monotonic()
        t_close = _close(page, kernel_eval)
        released = coturn.wait_released(timeout=10, since=t_close_call)
        assert released <= 2.0, f"allocations released {released:.2f} s after close()"
        leaks = _assert_no_leaks(page, kernel_eval, coturn)
        _assert_no_egress(egress)
        [stream] = got["streams"]
        _record(
            "b_relay_tcp",
            {
                "cell_to_wait_live_s": round(got["t_live"], 3),
                "stream_timings_s": stream["timings"],
                "fps_python": fps,
                "page_selected_pair": pair,
                "kernel_selected_pair": got["kernel_selected"],
                "udp_packets_dropped": dropped,
                "allocations_made": coturn.made() - made_before,
                "allocations_live_before_close": live_allocations,
                "close_to_all_released_s": round(released, 3),
                "close_to_no_peers_s": round(t_close, 3),
                "leaks": leaks,
            },
        )
    finally:
        _close_all(kernel_eval)


def test_no_ice_servers_no_outside_contact(page, open_nb, kernel_eval, coturn, egress, lab):
    """c. With no ice_servers the kernel sends nothing outside the lab, where aiortc
    alone would (shown first, so that the counter is known to see it)."""
    egress.reset()
    control = lab.popen(
        lab.server,
        [sys.executable, "-c", _UNCONFIGURED_AIORTC],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        h.wait_for(
            lambda: egress.counters()["egress_v4"] > 0,
            timeout=20,
            message="the egress counter sees an unconfigured aiortc peer",
        )
        control_packets = egress.counters()["egress_v4"]
    finally:
        if control.poll() is None:
            control.kill()  # by its PID (ip netns exec exec'd python)
        control.wait(10)
    egress.reset()
    made_before = coturn.made()
    try:
        got = _go_live(page, open_nb, kernel_eval, "net_no_ice.ipynb")
        assert kernel_eval("nbrtc.config.ice_servers") == "[]"
        t_close = _close(page, kernel_eval)
        counted = egress.counters()
        assert counted == {"egress_v4": 0, "egress_v6": 0}, (
            f"the kernel sent {counted} packets outside the lab"
        )
        leaks = _assert_no_leaks(page, kernel_eval, coturn)
        assert coturn.made() == made_before
        _record(
            "c_no_outside_contact",
            {
                "control_unconfigured_aiortc_packets": control_packets,
                "camera_run_packets_outside": counted,
                "cell_to_wait_live_s": round(got["t_live"], 3),
                "close_to_no_peers_s": round(t_close, 3),
                "leaks": leaks,
            },
        )
    finally:
        _close_all(kernel_eval)


def test_coturn_tls_variant(lab, tmp_path):
    """The lab's TLS coturn (a certificate made here with openssl) takes TURN allocations
    over TLS from the client namespace (turnutils_uclient), and releases them. The
    ``turns:`` scenario of issue 10 builds on this."""
    cert, key = nl.self_signed_cert(tmp_path)
    turn = nl.Coturn(
        lab, tmp_path, port=3479, tls=(cert, key), tls_port=5350, min_port=49210, max_port=49230
    )
    with turn:
        assert any("TLS/TCP listener opened" in ln.text for ln in turn.lines()), turn.log_tail()
        uclient = ["turnutils_uclient", "-t", "-S", "-p", "5350", "-u", "u", "-w", "p"]
        lab.run(lab.client, [*uclient, "-r", "nbrtc.test", "-n", "2", "-y", nl.SERVER_IP])
        assert turn.made() >= 1, turn.log_tail(30)
        turn.wait_released(timeout=10)
    assert turn.proc is not None and turn.proc.poll() is not None
