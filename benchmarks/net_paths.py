"""Direct vs relayed (UDP blocked, TURN over TCP) on a real network: issue 10's rows.

    sudo .venv/bin/python benchmarks/net_paths.py            # 5 runs of each path
    sudo .venv/bin/python benchmarks/net_paths.py --runs 3

The lab of tests/net (``tests/lab/netlab.py``): JupyterLab, the kernel and Debian's coturn in a
"server" network namespace (192.0.2.1), Debian Chromium in a "client" namespace
(192.0.2.2), a veth pair between them; nothing leaves the lab (an nft egress table
drops and counts anything addressed outside it). Chromium's fake camera runs at
640x480, 30 fps (``--use-fake-device-for-media-stream=fps=30``; its default is 20).

Per run, in a fresh notebook (a fresh kernel) whose one cell makes ``nbrtc.Camera()``:

* ``ttff_s``: the cell's start -> the first camera frame in Python (``cam.frame_count``
  becomes 1, polled every 5 ms by a thread the cell starts), kernel clock. The cell's
  start is before ``import nbrtc`` (a fresh kernel's first cell pays it);
  ``ttff_after_import_s`` is from just after the import (what a re-run pays).
* ``fps``: frames reaching Python over 5 s once live, and the frame's shape.
* ``release_s`` (relay only): ``cam.close()`` -> coturn's log shows every allocation
  deleted (its ``delete`` lines, read as they are printed).
* ``close_s``: ``cam.close()`` -> no live peer/track in the page, no stream in the kernel.
* ``transport`` (``cam.transport``: "direct" or "relay") and the machine's 1-minute load
  average, per run: the 2 shared cores make the figures move with it.

The camera is pinned to ``transport="webrtc"``: the comm fallback cannot carry a slow
run. Paths, interleaved run by run: ``direct`` (nothing blocked, no ice_servers) and
``relay_tcp`` (UDP dropped both ways between the namespaces by nftables;
``ice_servers=[turn:192.0.2.1:3478?transport=tcp]``, policy "all"). Prints medians with
min..max next to the issue's goals; writes ``benchmarks/results/net_paths.json``.
Needs root (namespaces, nftables), Debian chromium and coturn (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._lab import harness as h  # noqa: E402
from benchmarks._lab import netlab  # noqa: E402
from benchmarks._lab import video as e2e_video  # noqa: E402
from benchmarks._stack import machine, summary, versions  # noqa: E402

nl = netlab()

RESULTS = REPO / "benchmarks" / "results" / "net_paths.json"
TURN_TCP = {"urls": f"turn:{nl.SERVER_IP}:3478?transport=tcp", "username": "u", "credential": "p"}
FPS_WINDOW_S = 5.0
FAKE_CAMERA_30FPS = "--use-fake-device-for-media-stream=fps=30"

CELL = """\
import time
_t0 = time.monotonic()
import threading, nbrtc
_t_import = time.monotonic()
# the WebRTC paths are measured: pinned, so the comm fallback (issue 10 section 2)
# cannot carry a slow run (benchmarks/comm.py measures the comm)
{config}cam = nbrtc.Camera(transport="webrtc")
_first = []
def _note():
    _deadline = time.monotonic() + 60
    while cam.frame_count == 0 and time.monotonic() < _deadline and cam.state != "error":
        time.sleep(0.005)
    if cam.frame_count:
        _first.append(time.monotonic())
threading.Thread(target=_note, daemon=True).start()
cam"""

MEASURE = """\
import json, time
_n0, _s0 = cam.frame_count, time.monotonic()
time.sleep({seconds})
_f = cam.latest_frame
print(json.dumps({{"ttff": _first[0] - _t0, "ttff_after_import": _first[0] - _t_import,
                   "fps": (cam.frame_count - _n0) / (time.monotonic() - _s0),
                   "shape": list(_f.shape) if _f is not None else None}}))"""


def _one_run(lab, server, browser, zmq_ctx, coturn, path: str, n: int) -> dict[str, Any]:
    """One camera over ``path`` in a fresh notebook; its figures (see the docstring)."""
    context = h.capture_context(browser, server.url)
    page = context.new_page()
    name = f"bench_net_{path}_{n}.ipynb"
    config = f"nbrtc.config.ice_servers = [{TURN_TCP!r}]\n" if path == "relay_tcp" else ""
    fw = nl.Firewall(lab, lab.server, "nbrtc_bench_scenario")
    if path == "relay_tcp":
        fw.block_udp_between(nl.CLIENT_IP, nl.SERVER_IP)
    try:
        nb_path = h.write_notebook(server, name, [CELL.format(config=config)])
        nb = h.open_notebook(page, server, nb_path)
        cf = server.connection_file(nb.kernel_id)
        h.wait_for(cf.exists, timeout=30, message=f"connection file {cf}")
        nb.probe = h.KernelProbe(cf, context=zmq_ctx)

        def kernel_eval(code: str, timeout: float = 30.0) -> str:
            return h.kernel_eval(page, code, timeout=timeout)

        e2e_video._run(page, 0)
        e2e_video._wait_state(e2e_video._root(page, 0), "live", timeout=30)
        try:
            h.wait_for(lambda: kernel_eval("len(_first)") == "1", 30, 0.2, "first frame")
        except TimeoutError as exc:  # say what the kernel saw, for the failed-run line
            seen = kernel_eval(
                "print(cam.state, cam.error, cam.frame_count, nbrtc.manager().streams())"
            )
            raise TimeoutError(f"{exc}; kernel: {seen.strip()[:2000]}") from None
        got = e2e_video._kjson(kernel_eval, MEASURE.format(seconds=FPS_WINDOW_S), timeout=40)
        transport = kernel_eval("cam.transport").strip().strip("'")
        live_allocations = coturn.allocations()
        t_close = time.monotonic()
        kernel_eval("cam.close()")
        h.wait_for(lambda: e2e_video._live_counters_zero(page), 5, message="page peers/tracks 0")
        h.wait_for(lambda: kernel_eval("nbrtc.manager().streams()") == "[]", 5,
                   message="kernel streams empty")  # fmt: skip
        close_s = time.monotonic() - t_close
        released = coturn.wait_released(timeout=10, since=t_close)
        dropped = fw.counters().get("udp_dropped", 0) if fw.scenario else 0
        e2e_video._close_all(kernel_eval)
        return {
            "ttff_s": got["ttff"],
            "ttff_after_import_s": got["ttff_after_import"],
            "fps": got["fps"],
            "shape": got["shape"],
            "close_s": close_s,
            "release_s": released if path == "relay_tcp" else None,
            "allocations_live": live_allocations,
            "udp_dropped": dropped,
            "transport": transport,
            "loadavg_1m": os.getloadavg()[0],
        }
    finally:
        fw.remove()
        h.forget_page(page)
        with contextlib.suppress(Exception):
            context.close()
        server.shutdown_sessions()
        with contextlib.suppress(OSError):
            (server.root_dir / name).unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each path (default 5)")
    args = parser.parse_args()
    why = nl.unavailable_reason()
    if why or nl.missing_tools() or not h.chromium_available():
        print(f"cannot run: {why or nl.missing_tools() or 'no Debian chromium'}", file=sys.stderr)
        return 2
    import zmq
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="nbrtc-bench-net-"))
    raw: dict[str, list[dict[str, Any] | None]] = {"direct": [], "relay_tcp": []}
    info = {"machine": machine(), "versions": versions(), "runs": args.runs}
    with nl.NetLab() as lab, lab.enter(lab.server):
        egress = nl.Firewall(lab, lab.server, "nbrtc_bench_egress").egress_counter()
        coturn = nl.Coturn(lab, base / "coturn").start()
        zmq_ctx = zmq.Context()
        server = h.start_jupyter_server(
            base / "jupyter", base / "jupyter.log", ip=lab.server_ip,
            command_prefix=lab.prefix(lab.server),
        )  # fmt: skip
        try:
            wrapper = nl.chromium_wrapper(lab, base / "chromium", h.CHROMIUM)
            chromium_args = [
                FAKE_CAMERA_30FPS if a == "--use-fake-device-for-media-stream" else a
                for a in h.CHROMIUM_ARGS
            ]
            chromium_args.append(
                f"--unsafely-treat-insecure-origin-as-secure={server.url.rstrip('/')}"
            )
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(wrapper), headless=True, args=chromium_args
                )
                try:
                    for n in range(args.runs):
                        for path in ("direct", "relay_tcp"):
                            try:
                                row = _one_run(lab, server, browser, zmq_ctx, coturn, path, n)
                            except Exception as exc:  # a failed run is counted, not fatal
                                print(f"{path} run {n}: FAILED {exc!r}", file=sys.stderr)
                                row = None
                            raw[path].append(row)
                            print(f"{path:9} run {n}: {json.dumps(row)}", flush=True)
                finally:
                    browser.close()
            info["egress_packets"] = egress.counters()
        finally:
            server.stop()
            zmq_ctx.destroy(linger=0)
            coturn.stop()
            egress.remove()

    def med(path: str, key: str) -> dict[str, Any]:
        return summary(
            [None if r is None else r[key] for r in raw[path] if r is None or r[key] is not None]
        )

    table = {
        path: {
            key: med(path, key)
            for key in ("ttff_s", "ttff_after_import_s", "fps", "close_s", "release_s")
        }
        for path in raw
    }
    shapes = {
        path: sorted({tuple(r["shape"]) for r in raw[path] if r and r["shape"]}) for path in raw
    }
    print(f"\nnet paths, {args.runs} runs each (median, min..max); camera 640x480 at 30 fps")
    goals = {"ttff_s": "<= 1.5 s (relay)", "fps": ">= 25 (relay)", "release_s": "<= 2 s"}
    print(f"{'figure':22} {'direct':>24} {'relay_tcp':>24}   goal")
    for key in ("ttff_s", "ttff_after_import_s", "fps", "close_s", "release_s"):
        cells = []
        for path in raw:
            s = table[path][key]
            cells.append(
                "n/a"
                if s["median"] is None
                else f"{s['median']:.3f} ({s['min']:.3f}..{s['max']:.3f})"
            )
        print(f"{key:22} {cells[0]:>24} {cells[1]:>24}   {goals.get(key, '')}")
    print(f"frame shapes: {shapes}; packets outside the lab: {info.get('egress_packets')}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({**info, "summary": table, "shapes": shapes, "raw": raw}, indent=1, default=str)
        + "\n"
    )
    print(f"wrote {RESULTS}")
    failed = sum(1 for rows in raw.values() for r in rows if r is None)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
