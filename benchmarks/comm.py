"""The comm transport (issue 10 section 2): frames per second, latency, a capped link and
a network where only the notebook's port is open.

    .venv/bin/python benchmarks/comm.py --part loopback        # no root needed
    sudo .venv/bin/python benchmarks/comm.py --part cap        # the lab: 4 Mbit/s, 2 minutes
    sudo .venv/bin/python benchmarks/comm.py --part comm-only  # the lab: only the notebook port
    sudo .venv/bin/python benchmarks/comm.py                   # all three

The camera is :data:`CAMERA_JS`: the benchmarks' stamp camera (its top row of 16 blocks
encodes ``performance.now()`` in ms, see ``_stamp.py``) over a moving camera-like
texture (gradients and sensor-like noise, amplitude ``--noise``), 640x480 at 30 fps.
A flat gray frame would be a 5 KB JPEG and no link would ever be the limit; this one is
tens of KB, like a real webcam's (the bytes per frame are reported).

* ``loopback``: JupyterLab and Chromium on 127.0.0.1. ``Camera(transport="comm")``:
  frames per second reaching Python (``cam.frame_count``) and the one-way latency page ->
  Python per window (a kernel thread reads ``cam.frames(format="av")``, notes
  ``time.time()`` and decodes the stamp; the page clock is mapped to the epoch with
  ``_stack.clock_base``), as ``measure_nbrtc.latency`` does for WebRTC.
  ``VideoView(test_pattern(640, 480, 30), transport="comm")``: frames presented per
  second by the view's ``<video>`` (``getVideoPlaybackQuality``) and frames the page
  acknowledged as drawn (kernel ``CommSender.acked``).
* ``cap``: the lab of tests/net (``tests/lab/netlab.py``); a ``tbf`` qdisc of 4 Mbit/s (burst
  32 kbit, latency 400 ms) on both ends of its veth; ``Camera(transport="comm")`` for
  ``--minutes`` (2): per 10 s window the frames per second, the one-way p50/p95, and
  what the page's Quality chose (JPEG quality, scale, best round trip, frames skipped).
* ``comm-only``: the lab, nftables letting only the Jupyter port through (no WebRTC
  path); per run a fresh notebook (a fresh kernel) whose one cell makes a plain
  ``nbrtc.Camera()``: the cell's start -> the first frame in Python, the same from just
  after ``import nbrtc``, and frames per second over 5 s; ``--runs`` (5) runs.

Prints tables with the issue's goals; writes ``benchmarks/results/comm.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import _js, _stamp  # noqa: E402
from benchmarks._common import latency_stats  # noqa: E402
from benchmarks._lab import harness as h  # noqa: E402
from benchmarks._lab import netlab  # noqa: E402
from benchmarks._lab import video as e2e_video  # noqa: E402
from benchmarks._stack import clock_base, machine, summary, versions  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "comm.json"
TC = "/usr/sbin/tc"
CAP = ["rate", "4mbit", "burst", "32kbit", "latency", "400ms"]

#: the stamp camera over a moving texture (see the module docstring); it stops painting once
#: its tracks are stopped (``UNTIL_STOPPED_JS``, tests/lab/video.py)
CAMERA_JS = (
    """
(() => {
"""
    + e2e_video.UNTIL_STOPPED_JS.replace("%", "%%")
    + """
  MediaDevices.prototype.getUserMedia = async function () {
    const size = window.__benchCam || {w: 640, h: 480};
    const amp = window.__benchNoise === undefined ? %(noise)d : window.__benchNoise;
    const w = size.w, h = size.h, bw = Math.floor(w / 16);
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const ctx = c.getContext('2d');
    const tex = document.createElement('canvas');
    tex.width = 2 * w; tex.height = 2 * h;
    const tctx = tex.getContext('2d');
    const img = tctx.createImageData(2 * w, 2 * h);
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let y = 0; y < 2 * h; y++) {
      for (let x = 0; x < 2 * w; x++) {
        const i = (y * 2 * w + x) * 4;
        const base = 70 + 90 * (0.5 + 0.5 * Math.sin(x / 37) * Math.cos(y / 23));
        const n = (rnd() - 0.5) * 2 * amp;
        img.data[i] = base + n; img.data[i + 1] = base * 0.9 + n;
        img.data[i + 2] = base * 1.1 + n; img.data[i + 3] = 255;
      }
    }
    tctx.putImageData(img, 0, 0);
    let k = 0;
    const paint = () => {
      if (k++ %% 6 === 0) {  // the scene moves at ~30 Hz, 50 px/s
        const off = (performance.now() / 20) %% w;
        ctx.drawImage(tex, off, off * h / w, w, h, 0, 0, w, h);
      }
      const t = Math.round(performance.now()) & 0xffff;
      for (let i = 0; i < 16; i++) {
        ctx.fillStyle = ((t >> i) & 1) ? '#ffffff' : '#000000';
        ctx.fillRect(i * bw, 0, bw, bw);
      }
    };
    paint();
    return untilStopped(c.captureStream(30), paint, 5);
  };
})();
"""
)

SETUP = "import json, threading, time\nimport nbrtc"
CAMERA = (
    "T0 = time.monotonic()\n"
    "cam = nbrtc.Camera(width=640, height=480, frame_rate=30, transport='comm')\ncam"
)
VIEW = "view = nbrtc.VideoView(nbrtc.sources.test_pattern(640, 480, 30), transport='comm')\nview"
# comm-only: a fresh kernel's one cell, as tests/net/test_comm_path.py runs it
AUTO_CELL = """\
import threading, time
_t0 = time.monotonic()
import nbrtc
_t_import = time.monotonic()
cam = nbrtc.Camera(width=640, height=480, frame_rate=30)
_first = []
def _note_first():
    _deadline = time.monotonic() + 60
    while cam.frame_count == 0 and time.monotonic() < _deadline and cam.state != "error":
        time.sleep(0.005)
    if cam.frame_count:
        _first.append(time.monotonic())
threading.Thread(target=_note_first, daemon=True).start()
cam"""

KERNEL_HELPERS = (
    "from typing import Any\n"
    + inspect.getsource(_stamp.stamp_of)
    + '''
_bench_out = []
def _bench_collect(seconds):
    """Note time.time() (ms) and the stamp of every frame cam delivers for seconds (the
    thread ends at the first frame after that; the caller polls is_alive())."""
    _bench_out.clear()
    def run():
        end = time.monotonic() + seconds
        for fr in cam.frames(format="av", timeout=5):
            now = time.time() * 1000
            _bench_out.append((now, stamp_of(fr.to_ndarray(format="gray"))))
            if time.monotonic() > end:
                break
    t = threading.Thread(target=run, name="bench-collect", daemon=True)
    t.start()
    return t

def _bench_comm(w):
    """The comm's counters: the kernel's (receiver, sender) and the page's newest."""
    s = w._last_stream
    out = {"kernel_in": s._comm_in.stats() if s._comm_in else None,
           "kernel_out": s._comm_out.stats() if s._comm_out else None, "page": None}
    try:
        out["page"] = [r for r in (w.stats().get("browser") or [])
                       if r.get("type") == "nbrtc-comm"]
    except Exception as exc:
        out["page"] = repr(exc)
    return json.dumps(out, default=str)
'''
)


# ------------------------------------------------------------------------ a notebook
class Notebook:
    """One notebook open in a fresh browser context; cells run through the UI."""

    def __init__(self, browser: Any, server: h.JupyterServer, name: str, cells: list[str],
                 zmq_ctx: Any = None, noise: int = 24) -> None:  # fmt: skip
        self.server, self.name = server, name
        self.context = browser.new_context(viewport=h.VIEWPORT)
        self.context.grant_permissions(["camera", "microphone"], origin=server.url.rstrip("/"))
        # the camera before the counting script, which must see its tracks
        self.context.add_init_script(CAMERA_JS % {"noise": noise})
        self.context.add_init_script(path=str(h.COUNTERS_JS))
        self.context.add_init_script(_js.VIDEO_WATCH_JS)
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        path = h.write_notebook(server, name, cells)
        nb = h.open_notebook(self.page, server, path)
        if zmq_ctx is not None:  # the lab: a probe made inside the server namespace
            cf = server.connection_file(nb.kernel_id)
            h.wait_for(cf.exists, timeout=30, message=f"connection file {cf}")
            nb.probe = h.KernelProbe(cf, context=zmq_ctx)

    def k(self, code: str, timeout: float = 30.0) -> str:
        return h.kernel_eval(self.page, code, timeout=timeout)

    def kjson(self, code: str, timeout: float = 30.0) -> Any:
        return e2e_video._kjson(self.k, code, timeout=timeout)

    def run(self, i: int) -> None:
        e2e_video._run(self.page, i)

    def close(self) -> None:
        e2e_video._close_all(self.k)
        with contextlib.suppress(Exception):
            h.wait_for(lambda: e2e_video._live_counters_zero(self.page), 5, message="page released")
        h.forget_page(self.page)
        with contextlib.suppress(Exception):
            self.context.close()
        self.server.shutdown_sessions()
        with contextlib.suppress(OSError):
            (self.server.root_dir / self.name).unlink()


def camera_windows(nb: Notebook, windows: int, seconds: float) -> list[dict[str, Any]]:
    """Per window of ``seconds``: frames per second into Python, one-way latency, and the
    comm's counters (the kernel stays idle between short reads: frames arrive then)."""
    out = []
    for _ in range(windows):
        base, err = clock_base(nb.page)
        before = nb.kjson("print(_bench_comm(cam))")
        n0, t0 = int(nb.k("cam.frame_count")), time.monotonic()
        nb.k(f"_bench_t = _bench_collect({seconds})")
        h.sample_for(lambda: None, seconds, interval=0.5)  # the window IS the measurement
        n1, t1 = int(nb.k("cam.frame_count")), time.monotonic()
        # not join() in the kernel: that would block the very thread comm frames arrive on
        h.wait_for(lambda: nb.k("_bench_t.is_alive()") == "False", 10, 0.1, "collector ended")
        stamps = nb.kjson("print(json.dumps(_bench_out))")
        after = nb.kjson("print(_bench_comm(cam))")
        ow = [_stamp.one_way_ms(t, s, base) for t, s in stamps]
        kin0, kin1 = before["kernel_in"] or {}, after["kernel_in"] or {}
        frames = kin1.get("framesReceived", 0) - kin0.get("framesReceived", 0)
        nbytes = kin1.get("bytesReceived", 0) - kin0.get("bytesReceived", 0)
        page = after.get("page") or [{}]
        up = next((r for r in page if r.get("id") == "nbrtc-comm-out"), {}) if isinstance(
            page, list) else {}  # fmt: skip
        out.append(
            {
                "fps": (n1 - n0) / (t1 - t0),
                "one_way": latency_stats(ow),
                "clock_err_ms": err,
                "kb_per_frame": round(nbytes / frames / 1024, 1) if frames else None,
                "mbit_s": round(nbytes * 8 / (t1 - t0) / 1e6, 2),
                "page_quality": up.get("quality"),
                "page_scale": up.get("scale"),
                "page_best_rtt_ms": up.get("bestRtt"),
                "page_skipped": up.get("framesSkipped"),
                "kernel_dropped": kin1.get("framesDropped"),
                "page_sent": up.get("framesSent"),
                "loadavg_1m": os.getloadavg()[0],
                "samples_ms": ow,
            }
        )
        last = out[-1]
        print(
            f"  window: {last['fps']:.1f} fps, one-way p50 {last['one_way']['p50']} "
            f"p95 {last['one_way']['p95']} ms, {last['kb_per_frame']} KB/frame, "
            f"{last['mbit_s']} Mbit/s, quality {last['page_quality']} scale {last['page_scale']}",
            flush=True,
        )
    return out


# -------------------------------------------------------------------------- loopback
def part_loopback(base: Path, windows: int, seconds: float, noise: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    server = h.start_jupyter_server(base / "jupyter-lo", base / "jupyter-lo.log")
    out: dict[str, Any] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=h.CHROMIUM, headless=True, args=h.CHROMIUM_ARGS
            )
            try:
                nb = Notebook(browser, server, "bench_comm.ipynb", [SETUP, CAMERA, VIEW],
                              noise=noise)  # fmt: skip
                try:
                    nb.run(0)
                    nb.k(KERNEL_HELPERS)
                    nb.run(1)
                    e2e_video._wait_state(e2e_video._root(nb.page, 1), "live", timeout=30)
                    assert nb.k("cam.transport").strip() == "'comm'"
                    h.sample_for(lambda: None, 2.0, 0.25)  # warm-up excluded on purpose
                    print("loopback camera -> Python over the comm:", flush=True)
                    out["camera"] = camera_windows(nb, windows, seconds)
                    nb.k("cam.close()")
                    nb.run(2)
                    root = e2e_video._root(nb.page, 2)
                    e2e_video._wait_state(root, "live", timeout=30)
                    assert nb.k("view.transport").strip() == "'comm'"
                    video = root.locator("video.nbrtc-video").first
                    h.wait_for(lambda: video.evaluate(_js.RENDERED_FRAMES_JS) > 0, 30,
                               message="view renders")  # fmt: skip
                    h.sample_for(lambda: None, 2.0, 0.25)
                    acked = "json.loads(_bench_comm(view))['kernel_out']['framesAcked']"
                    rows = []
                    print("loopback VideoView -> page over the comm:", flush=True)
                    for _ in range(windows):
                        r0, a0 = video.evaluate(_js.RENDERED_FRAMES_JS), nb.kjson(
                            f"print({acked})")  # fmt: skip
                        t0 = time.monotonic()
                        h.sample_for(lambda: None, seconds, interval=0.5)
                        r1, a1 = video.evaluate(_js.RENDERED_FRAMES_JS), nb.kjson(
                            f"print({acked})")  # fmt: skip
                        span = time.monotonic() - t0
                        rows.append({"presented_fps": (r1 - r0) / span,
                                     "drawn_fps": (a1 - a0) / span})  # fmt: skip
                        print(f"  window: {rows[-1]}", flush=True)
                    out["view"] = rows
                    out["view_comm"] = nb.kjson("print(_bench_comm(view))")
                finally:
                    nb.close()
            finally:
                browser.close()
    finally:
        server.stop()
    return out


# ------------------------------------------------------------------------------ lab
class Lab:
    """The tests/net lab with JupyterLab in the server namespace and Chromium (via
    Playwright) in the client namespace; everything stopped by :meth:`close`."""

    def __init__(self, base: Path) -> None:
        import zmq
        from playwright.sync_api import sync_playwright

        nl = netlab()
        self.nl = nl
        self.lab = nl.NetLab().up()
        self._stack = contextlib.ExitStack()
        self._stack.callback(self.lab.down)
        self._stack.enter_context(self.lab.enter(self.lab.server))
        self.egress = nl.Firewall(self.lab, self.lab.server, "nbrtc_bench_egress")
        self.egress.egress_counter()
        self._stack.callback(self.egress.remove)
        self.zmq_ctx = zmq.Context()
        self._stack.callback(lambda: self.zmq_ctx.destroy(linger=0))
        self.server = h.start_jupyter_server(
            base / "jupyter-lab", base / "jupyter-lab.log", ip=self.lab.server_ip,
            command_prefix=self.lab.prefix(self.lab.server),
        )  # fmt: skip
        self._stack.callback(self.server.stop)
        wrapper = nl.chromium_wrapper(self.lab, base / "chromium", h.CHROMIUM)
        args = [
            *h.CHROMIUM_ARGS,
            f"--unsafely-treat-insecure-origin-as-secure={self.server.url.rstrip('/')}",
        ]
        pw = self._stack.enter_context(sync_playwright())
        self.browser = pw.chromium.launch(executable_path=str(wrapper), headless=True, args=args)
        self._stack.callback(self.browser.close)

    def notebook(self, name: str, cells: list[str], noise: int) -> Notebook:
        return Notebook(self.browser, self.server, name, cells, self.zmq_ctx, noise)

    def close(self) -> dict[str, int]:
        got = self.egress.counters()
        self._stack.close()
        return got


def _tc(lab: Any, ns: str, argv: list[str]) -> None:
    subprocess.run(["ip", "netns", "exec", ns, TC, *argv], check=True, capture_output=True,
                   timeout=10)  # fmt: skip


def part_cap(lab: Lab, minutes: float, window: float, noise: int) -> dict[str, Any]:
    """4 Mbit/s both ways on the veth; Camera(transport='comm') for ``minutes``."""
    ends = [(lab.lab.server, lab.lab.server_if), (lab.lab.client, lab.lab.client_if)]
    nb = lab.notebook("bench_comm_cap.ipynb", [SETUP, CAMERA], noise)
    try:
        for ns, dev in ends:
            _tc(lab, ns, ["qdisc", "add", "dev", dev, "root", "tbf", *CAP])
        nb.run(0)
        nb.k(KERNEL_HELPERS)
        nb.run(1)
        e2e_video._wait_state(e2e_video._root(nb.page, 1), "live", timeout=30)
        assert nb.k("cam.transport").strip() == "'comm'"
        print(f"4 Mbit/s cap ({' '.join(CAP)}), {minutes} min:", flush=True)
        rows = camera_windows(nb, max(1, round(minutes * 60 / window)), window)
        qdisc = subprocess.run(
            ["ip", "netns", "exec", lab.lab.client, TC, "-s", "qdisc", "show", "dev",
             lab.lab.client_if], capture_output=True, text=True, timeout=10,
        ).stdout  # fmt: skip
        return {"cap": " ".join(CAP), "windows": rows, "client_qdisc": qdisc}
    finally:
        for ns, dev in ends:
            with contextlib.suppress(subprocess.CalledProcessError):
                _tc(lab, ns, ["qdisc", "del", "dev", dev, "root"])
        nb.close()


def part_comm_only(lab: Lab, runs: int, noise: int) -> list[dict[str, Any] | None]:
    """Only the Jupyter port open; a plain Camera() in a fresh kernel, ``runs`` times."""
    out: list[dict[str, Any] | None] = []
    fw = lab.nl.Firewall(lab.lab, lab.lab.server, "nbrtc_bench_comm_only")
    fw.only_port(lab.server.port)
    try:
        for n in range(runs):
            nb = lab.notebook(f"bench_comm_only_{n}.ipynb", [AUTO_CELL], noise)
            try:
                nb.run(0)
                h.wait_for(lambda nb=nb: nb.k("len(_first)") == "1", 40, 0.2, "first frame")
                got = nb.kjson(
                    "import json\nprint(json.dumps({'cell': _first[0] - _t0, 'after_import':"
                    " _first[0] - _t_import, 'import': _t_import - _t0,"
                    " 'transport': cam.transport}))"
                )
                n0, t0 = int(nb.k("cam.frame_count")), time.monotonic()
                h.sample_for(lambda: None, 5.0, interval=0.5)
                got["fps"] = (int(nb.k("cam.frame_count")) - n0) / (time.monotonic() - t0)
                got["loadavg_1m"] = os.getloadavg()[0]
                row: dict[str, Any] | None = got
            except Exception as exc:  # a failed run is counted, not fatal
                print(f"comm-only run {n}: FAILED {exc!r}", file=sys.stderr)
                row = None
            finally:
                nb.close()
            out.append(row)
            print(f"comm-only run {n}: {json.dumps(row)}", flush=True)
        out_dropped = fw.counters().get("dropped", 0)
        print(f"  packets the firewall dropped: {out_dropped}")
    finally:
        fw.remove()
    return out


# ---------------------------------------------------------------------------- report
def _s(values: list[Any]) -> str:
    s = summary([v for v in values if v is not None])
    if s["median"] is None:
        return "n/a"
    return f"{s['median']:.3g} ({s['min']:.3g}..{s['max']:.3g})"


def report(res: dict[str, Any]) -> None:
    print("\ncomm transport, 640x480 camera at 30 fps (median (min..max) over windows/runs)")
    print(f"{'figure':52} {'value':>26}   goal")
    lo = res.get("loopback") or {}
    cam = lo.get("camera") or []
    if cam:
        print(f"{'loopback camera -> Python fps':52} {_s([r['fps'] for r in cam]):>26}   >= 24")
        p50s = [r["one_way"]["p50"] for r in cam]
        print(f"{'loopback one-way page -> Python p50 (ms)':52} {_s(p50s):>26}   <= 80")
        p95s = [r["one_way"]["p95"] for r in cam]
        print(f"{'loopback one-way page -> Python p95 (ms)':52} {_s(p95s):>26}")
        print(f"{'  JPEG KB per frame':52} {_s([r['kb_per_frame'] for r in cam]):>26}")
        print(f"{'  machine load (1 min, 2 cores)':52} {_s([r['loadavg_1m'] for r in cam]):>26}")
    view = lo.get("view") or []
    if view:
        print(f"{'loopback VideoView -> page presented fps':52} "
              f"{_s([r['presented_fps'] for r in view]):>26}   >= 24")  # fmt: skip
        print(f"{'loopback VideoView -> page drawn (acked) fps':52} "
              f"{_s([r['drawn_fps'] for r in view]):>26}")  # fmt: skip
    cap = (res.get("cap") or {}).get("windows") or []
    if cap:
        print(f"\n4 Mbit/s cap, per 10 s window: {'fps':>6} {'p50':>6} {'p95':>6} "
              f"{'KB/fr':>6} {'Mbit/s':>6} {'q':>5} {'scale':>6} {'load':>5}")  # fmt: skip
        for i, r in enumerate(cap):
            ow = r["one_way"]
            q, sc = r["page_quality"] or 0, r["page_scale"] or 0
            print(f"  {(i + 1) * 10:4d} s{'':25} {r['fps']:6.1f} {ow['p50'] or 0:6.0f} "
                  f"{ow['p95'] or 0:6.0f} {r['kb_per_frame'] or 0:6.1f} {r['mbit_s']:6.2f} "
                  f"{q:5.2f} {sc:6.3f} {r['loadavg_1m']:5.1f}")  # fmt: skip
        print(f"{'cap: fps (all windows)':52} {_s([r['fps'] for r in cap]):>26}   >= 12")
        print(f"{'cap: p95 one-way (ms, all windows)':52} "
              f"{_s([r['one_way']['p95'] for r in cap]):>26}   <= 250, flat")  # fmt: skip
    only = res.get("comm_only") or []
    if only:
        ok = [r for r in only if r]
        print(f"\ncomm-only network, {len(only)} fresh kernels ({len(only) - len(ok)} failed)")
        print(f"{'first frame in Python from the cell start (s)':52} "
              f"{_s([r['cell'] for r in ok]):>26}   <= 3")  # fmt: skip
        print(f"{'first frame in Python from after the import (s)':52} "
              f"{_s([r['after_import'] for r in ok]):>26}")  # fmt: skip
        print(f"{'  import nbrtc (s)':52} {_s([r['import'] for r in ok]):>26}")
        print(f"{'fps over 5 s':52} {_s([r['fps'] for r in ok]):>26}")
        print(f"{'  machine load (1 min, 2 cores)':52} {_s([r['loadavg_1m'] for r in ok]):>26}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["all", "loopback", "cap", "comm-only"], default="all")
    ap.add_argument("--windows", type=int, default=5, help="loopback windows (default 5)")
    ap.add_argument("--window", type=float, default=3.0, help="loopback window s (default 3)")
    ap.add_argument("--minutes", type=float, default=2.0, help="capped run (default 2)")
    ap.add_argument("--runs", type=int, default=5, help="comm-only runs (default 5)")
    ap.add_argument("--noise", type=int, default=24, help="camera texture noise (default 24)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nbrtc-bench-comm-"))
    res: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        res = json.loads(args.out.read_text())  # parts run alone keep the others' rows
    res.update({"machine": machine(), "versions": versions(), "noise": args.noise})
    if args.part in ("all", "loopback"):
        res["loopback"] = part_loopback(base, args.windows, args.window, args.noise)
        res["loopback"]["settings"] = {"windows": args.windows, "window_s": args.window}
    if args.part in ("all", "cap", "comm-only"):
        lab = Lab(base)
        try:
            if args.part in ("all", "cap"):
                res["cap"] = part_cap(lab, args.minutes, 10.0, args.noise)
            if args.part in ("all", "comm-only"):
                res["comm_only"] = part_comm_only(lab, args.runs, args.noise)
        finally:
            res["egress_packets"] = lab.close()
    report(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
