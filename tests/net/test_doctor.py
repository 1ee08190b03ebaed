"""nbrtc.doctor() on a real blocked network (issue 10 section 4).

The lab of test_reach.py: JupyterLab, the kernel and coturn in the server namespace,
Chromium in the client namespace. UDP is dropped between the two (nftables), TURN over
TCP is reachable. The doctor's table must say: the host path fails, TURN over UDP fails,
TURN over TCP works with a round trip, the comm works; and the advice must say UDP is
blocked and TURN gets through. Afterwards: no peer in the page, no stream or aiortc peer
in the kernel, no coturn allocation.
"""

from __future__ import annotations

import time

import pytest

from lab import jupyter as h
from lab import netlab as nl
from lab.video import _close_all, _kjson, _root, _run

from .test_reach import _assert_no_egress, _record

pytestmark = pytest.mark.net

TURN_UDP = {"urls": f"turn:{nl.SERVER_IP}:3478", "username": "u", "credential": "p"}
TURN_TCP = {"urls": f"turn:{nl.SERVER_IP}:3478?transport=tcp", "username": "u", "credential": "p"}


# a slow network scenario (~26 s): tests/e2e/test_doctor.py and tests/kernel/test_doctor.py
# cover the doctor by default; `make slow-tests` regenerates test-artifacts/net-doctor.txt
@pytest.mark.slow
def test_doctor_udp_blocked_turn_tcp_works(page, open_nb, kernel_eval, coturn, egress, scenario):
    egress.reset()
    scenario.block_udp_between(nl.CLIENT_IP, nl.SERVER_IP)
    assert coturn.allocations() == 0
    made_before = coturn.made()
    cell = (
        "import nbrtc, json\n"
        f"nbrtc.config.ice_servers = [{TURN_UDP!r}, {TURN_TCP!r}]\n"
        "d = nbrtc.doctor()\nd"
    )
    try:
        open_nb("net_doctor.ipynb", [cell])
        t0 = time.monotonic()
        _run(page, 0)
        root = _root(page, 0)
        h.wait_for(
            lambda: root.get_attribute("data-state") == "done",
            timeout=60,
            message="the doctor's view says done",
        )
        took = time.monotonic() - t0
        got = _kjson(kernel_eval, "print(json.dumps({'rows': d.rows, 'advice': d.advice}))")
        text = kernel_eval("print(d)")
        print(f"\nthe doctor on a UDP-blocked network, {took:.1f} s:\n{text}")
        h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        (h.ARTIFACTS_DIR / "net-doctor.txt").write_text(text)
        by_path = {r["path"]: r for r in got["rows"]}
        host = by_path["direct (host candidates)"]
        udp = by_path["TURN over UDP"]
        tcp = by_path["TURN over TCP"]
        comm = by_path["notebook connection (comm)"]
        assert host["result"] == "failed", host
        assert udp["result"] == "failed", udp
        assert tcp["result"] == "ok" and tcp["rtt_ms"] is not None, tcp
        assert tcp["via"].startswith("relay/tcp"), tcp
        assert comm["result"] == "ok", comm
        assert any(
            "UDP to the kernel is blocked; you are fine through TURN" in a for a in got["advice"]
        ), got["advice"]
        assert "TURN over TCP" in root.inner_text()
        assert scenario.counters()["udp_dropped"] > 0, "the scenario blocked nothing tried"
        # nothing left open, on either side or on coturn
        h.wait_for(
            lambda: h.counters(page)["peersLive"] == 0, timeout=5, message="no live page peer"
        )
        res = _kjson(
            kernel_eval,
            "r = nbrtc.manager().resources()\n"
            "print(json.dumps({'streams': r['streams'], 'peers': r['peers']}))",
        )
        assert res == {"streams": 0, "peers": 0}, res
        released = coturn.wait_released(timeout=10)
        assert coturn.allocations() == 0, coturn.log_tail(20)
        _assert_no_egress(egress)
        _record(
            "doctor_udp_blocked",
            {
                "cell_to_done_s": round(took, 2),
                "rows": got["rows"],
                "advice": got["advice"],
                "allocations_made": coturn.made() - made_before,
                "released_s": round(released, 3),
            },
        )
    finally:
        _close_all(kernel_eval)
