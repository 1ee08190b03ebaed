"""nbrtc.doctor() end to end (issue 10 section 4): JupyterLab, Debian Chromium, loopback.

A person runs ``nbrtc.doctor()`` in a cell: the page probes the host path with a real
RTCPeerConnection negotiated through the kernel's router, and the comm; the cell shows
the table; the host row works with a round trip, the comm row works; afterwards there is
no live peer in the page (counted by the init script, independently of nbrtc) and no
stream or aiortc peer in the kernel.
"""

from __future__ import annotations

import time

import pytest

from lab import jupyter as h
from lab.video import _close_all, _kjson, _open, _remove, _root, _run

pytestmark = pytest.mark.e2e


def test_doctor_on_loopback(page, jupyter_server, kernel_eval):
    name = "doctor_loopback.ipynb"
    _open(page, jupyter_server, name, ["import nbrtc, json\nd = nbrtc.doctor()\nd"])
    try:
        t0 = time.monotonic()
        _run(page, 0)
        root = _root(page, 0)
        h.wait_for(
            lambda: root.get_attribute("data-state") == "done",
            timeout=30,
            message="the doctor's view says done",
        )
        took = time.monotonic() - t0
        text = root.inner_text()
        assert "direct (host candidates)" in text and "notebook connection (comm)" in text
        assert "A direct connection to the kernel works" in text, text
        results = [r.get_attribute("data-result") for r in root.locator("tr[data-result]").all()]
        assert results == ["ok", "ok"], text
        got = _kjson(
            kernel_eval,
            "print(json.dumps({'rows': d.rows, 'text': str(d), "
            "'res': nbrtc.manager().resources()}))",
        )
        host, comm = got["rows"]
        assert host["result"] == "ok" and 0 < host["rtt_ms"] < 200, host
        assert host["via"].startswith("host"), host
        assert comm["result"] == "ok" and comm["rtt_ms"] is not None, comm
        assert "nothing to configure" in got["text"]
        # nothing left open: no peer in the page, no stream or peer in the kernel
        h.wait_for(
            lambda: h.counters(page)["peersLive"] == 0, timeout=5, message="no live page peer"
        )
        assert h.counters(page)["peersCreated"] >= 1, "the host probe was a real peer"
        res = _kjson(
            kernel_eval,
            "import gc\nr = nbrtc.manager().resources()\n"
            "print(json.dumps({'streams': r['streams'], 'peers': r['peers']}))",
        )
        assert res == {"streams": 0, "peers": 0}, res
        print(
            f"\ndoctor on loopback: done {took:.1f} s after the cell ran; host RTT "
            f"{host['rtt_ms']} ms ({host['via']}), comm RTT {comm['rtt_ms']} ms"
        )
    finally:
        _close_all(kernel_eval)
        _remove(jupyter_server, name)
