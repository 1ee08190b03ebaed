"""The e2e harness proves itself here, without any nbrtc code.

If these fail, the browser, server or helpers are broken, not nbrtc.
"""

from __future__ import annotations

import time

import pytest

from lab import jupyter as h

PRINT_CELL = "print('harness says hello')"


@pytest.fixture
def nb_name(request) -> str:
    return f"{h.artifact_name(request.node.name)}.ipynb"


def test_cell_output_kernel_eval_and_screenshot(page, jupyter_server, kernel_eval, nb_name):
    """One opened notebook (opening one costs ~5 s here): cell outputs are read back,
    kernel_eval runs in the notebook's kernel without moving its execution counter, and
    a screenshot lands in test-artifacts."""
    cells = [PRINT_CELL, "21 * 2", "x = 40\nimport os\nos.getpid()"]
    path = h.write_notebook(jupyter_server, nb_name, cells)
    nb = h.open_notebook(page, jupyter_server, path)
    assert nb.dialogs_accepted == []  # kernelspec in metadata, news disabled
    assert page.locator(".Toastify__toast").count() == 0  # no news/update toast
    assert h.cell_output_text(page, 0) == ""
    first = h.run_cell(page, 0)
    assert h.cell_output_text(page, 0) == "harness says hello"
    second = h.run_cell(page, 1)
    assert second == first + 1
    assert h.cell_output_text(page, 1) == "42"
    # Running a cell again is seen as a new execution, not mistaken for the old prompt.
    third = h.run_cell(page, 1)
    assert third == second + 1

    pid_run = h.run_cell(page, 2)
    assert kernel_eval("1+1") == "2"
    assert kernel_eval("x + 2") == "42"  # the notebook's namespace
    assert kernel_eval("os.getpid()") == h.cell_output_text(page, 2)  # same process
    assert kernel_eval("print('out')") == "out"
    with pytest.raises(h.KernelEvalError, match="ZeroDivisionError"):
        kernel_eval("1/0")
    # store_history=False: the probe does not move the notebook's execution counter.
    assert h.run_cell(page, 2) == pid_run + 1

    shot = h.screenshot(page, "harness-screenshot")
    assert shot.parent == h.ARTIFACTS_DIR
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_counters_count_tracks_and_peers(page, jupyter_server, nb_name):
    """The counting init script, then two wrapped peers connecting (one notebook)."""
    path = h.write_notebook(jupyter_server, nb_name, ["pass"])
    h.open_notebook(page, jupyter_server, path)
    assert h.counters(page) == {
        "peersCreated": 0,
        "peersLive": 0,
        "tracksCreated": 0,
        "tracksLive": 0,
    }

    page.evaluate(
        """async () => {
        window.__s = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
        }"""
    )
    assert h.counters(page)["tracksCreated"] == 2
    assert h.counters(page)["tracksLive"] == 2
    page.evaluate("() => window.__s.getVideoTracks()[0].stop()")
    assert h.counters(page)["tracksLive"] == 1
    page.evaluate("() => { window.__c = window.__s.getAudioTracks()[0].clone(); }")
    assert h.counters(page)["tracksCreated"] == 3
    assert h.counters(page)["tracksLive"] == 2
    page.evaluate("() => { window.__s.getTracks().forEach(t => t.stop()); window.__c.stop(); }")
    snap = h.counters(page)
    assert (snap["tracksCreated"], snap["tracksLive"]) == (3, 0)

    checks = page.evaluate(
        """() => {
        const pc = new RTCPeerConnection();
        window.__pc = pc;
        pc.addTransceiver('video', {direction: 'recvonly'});
        return {instance: pc instanceof RTCPeerConnection,
                name: RTCPeerConnection.name,
                cert: typeof RTCPeerConnection.generateCertificate};
        }"""
    )
    assert checks == {"instance": True, "name": "RTCPeerConnection", "cert": "function"}
    snap = h.counters(page)
    assert (snap["peersCreated"], snap["peersLive"]) == (1, 1)
    page.evaluate("() => window.__pc.close()")
    snap = h.counters(page)
    assert (snap["peersCreated"], snap["peersLive"]) == (1, 0)

    # A real loopback connection between two wrapped peers, fake camera on one side.
    state = page.evaluate(
        """async () => {
        const a = new RTCPeerConnection(), b = new RTCPeerConnection();
        a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
        b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
        const s = await navigator.mediaDevices.getUserMedia({video: true});
        s.getTracks().forEach((t) => a.addTrack(t, s));
        const got = new Promise((r) => { b.ontrack = (e) => r(e.track.kind); });
        await a.setLocalDescription(await a.createOffer());
        await b.setRemoteDescription(a.localDescription);
        await b.setLocalDescription(await b.createAnswer());
        await a.setRemoteDescription(b.localDescription);
        const kind = await got;
        const t0 = performance.now();
        while (a.connectionState !== 'connected' && performance.now() - t0 < 10000)
          await new Promise((r) => setTimeout(r, 50));
        window.__peers = [a, b]; window.__stream = s;
        return {kind, connection: a.connectionState};
        }"""
    )
    assert state == {"kind": "video", "connection": "connected"}
    assert h.counters(page) == {
        "peersCreated": 3,
        "peersLive": 2,
        "tracksCreated": 4,
        "tracksLive": 1,
    }
    page.evaluate(
        "() => { window.__peers.forEach((p) => p.close()); "
        "window.__stream.getTracks().forEach((t) => t.stop()); }"
    )
    assert h.counters(page) == {
        "peersCreated": 3,
        "peersLive": 0,
        "tracksCreated": 4,
        "tracksLive": 0,
    }


def test_notebook7_opens_and_runs_a_cell(page, jupyter_server, nb_name):
    path = h.write_notebook(jupyter_server, nb_name, [PRINT_CELL])
    nb = h.open_notebook(page, jupyter_server, path, ui="notebook7")
    assert "/notebooks/" in page.url
    h.run_cell(page, 0)
    assert h.cell_output_text(page, 0) == "harness says hello"
    assert h.kernel_eval(page, "2+3") == "5"
    assert nb.kernel_id == jupyter_server.session_for(path)["kernel"]["id"]


def test_select_kernel_dialog_is_accepted(page, jupyter_server, nb_name):
    path = h.write_notebook(jupyter_server, nb_name, ["'chosen'"], kernel=None)
    nb = h.open_notebook(page, jupyter_server, path)
    assert nb.dialogs_accepted == ["Select Kernel"]
    h.run_cell(page, 0)
    assert h.cell_output_text(page, 0) == "'chosen'"


def test_run_all_clear_and_delete(page, jupyter_server, nb_name):
    cells = ["a = 1\nprint('one')", "", "print('two', a + 1)", "'three'"]
    path = h.write_notebook(jupyter_server, nb_name, cells)
    h.open_notebook(page, jupyter_server, path)
    h.run_all(page)
    texts = [h.cell_output_text(page, i) for i in range(4)]
    assert texts == ["one", "", "two 2", "'three'"]
    h.clear_cell_output(page, 2)
    assert h.cell_output_text(page, 2) == ""
    assert h.cell_output_text(page, 3) == "'three'"
    h.delete_cell(page, 0)
    assert page.locator(h.CELLS).count() == 3
    assert h.cell_output_text(page, 2) == "'three'"


def test_run_all_stops_at_a_raising_cell_and_says_which(page, jupyter_server, nb_name):
    """Run All skips the cells after one that raises: run_all reports that cell and its
    error within seconds instead of waiting out its whole timeout."""
    cells = ["print('one')", "raise ValueError('boom in the middle')", "print('never')"]
    path = h.write_notebook(jupyter_server, nb_name, cells)
    h.open_notebook(page, jupyter_server, path)
    start = time.monotonic()
    with pytest.raises(h.HarnessError) as info:
        h.run_all(page, timeout=60)
    assert time.monotonic() - start < 30
    report = str(info.value)
    assert "cells [2] not run" in report, report
    assert "boom in the middle" in report and "cell 1 [" in report, report


@pytest.mark.parametrize("via", ["api", "ui"])
def test_restart_and_shutdown_kernel(page, jupyter_server, kernel_eval, nb_name, via):
    path = h.write_notebook(jupyter_server, nb_name, ["marker = 'before restart'"])
    h.open_notebook(page, jupyter_server, path)
    h.run_cell(page, 0)
    pid = kernel_eval("import os; os.getpid()")
    assert kernel_eval("marker") == "'before restart'"
    elapsed = h.restart_kernel(page, via=via)
    assert elapsed < 30
    assert kernel_eval("'marker' in globals()") == "False"
    assert kernel_eval("import os; os.getpid()") != pid
    h.run_cell(page, 0)  # the page can run cells in the restarted kernel
    assert kernel_eval("marker") == "'before restart'"
    kid = h.current_kernel_id(page)
    h.shutdown_kernel(page, via=via)
    assert all(k["id"] != kid for k in jupyter_server.kernels())


def test_wait_for_polls_to_a_deadline():
    box = {"n": 0}

    def third_time() -> bool:
        box["n"] += 1
        return box["n"] >= 3

    assert h.wait_for(third_time, timeout=5, interval=0.01) < 1
    with pytest.raises(TimeoutError, match="never"):
        h.wait_for(lambda: False, timeout=0.2, interval=0.01, message="never")
