"""The front-end bundle once per kernel and page (nbrtc/_bundle.py) against its text in
every widget's ``comm_open`` (as before), in the real stack: what it changes for a user.

    python benchmarks/bundle.py              # 3 repetitions each, a Grid of 16 feeds
    python benchmarks/bundle.py --reps 5 --feeds 16
    python benchmarks/bundle.py --mbps 10    # the page's traffic at 10 Mbit/s, 20 ms

A widget's ``_module`` carries the bundle's ~105 KiB text until a page of the kernel has
shown it holds the bundle; later widgets carry "" and the bundle's id. "every" puts the
text back in every widget (``_bundle.module_for_new_widget`` replaced by
``_bundle.module`` in the kernel), which is what nbrtc did before. Both ways run in one
JupyterLab server, alternating (once, every, once, ...); each repetition opens a notebook
of its own (a fresh kernel) in a fresh page, as a user opening a notebook does. Figures
per way, median (min..max):

* bytes of bundle text the Grid's widget models carry (``len(_module)`` summed);
* TTFF: one 640x480 Camera, the cell's start -> its first frame in Python (kernel clock);
  it is the kernel's first widget, so it carries the text either way;
* Grid startup: ``--feeds`` 320x240 Cameras in a Grid, the cell's start -> the slowest
  camera's first frame in Python (kernel clock), i.e. every feed delivering.

Writes ``benchmarks/results/bundle.json`` (``bundle-<N>mbps.json`` with ``--mbps``).
Needs ``scripts/setup.sh`` (JupyterLab, Chromium, the bundle in ``src/nbrtc/static``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._lab import harness as h  # noqa: E402
from benchmarks._stack import machine, start_stack, summary, versions  # noqa: E402
from benchmarks.measure_nbrtc import C_CAMS, Nbrtc  # noqa: E402

RESULTS_DIR = REPO / "benchmarks" / "results"


def throttle(page: Any, mbps: float) -> None:
    """Chromium's network emulation on ``page`` (its HTTP and WebSocket traffic, so the
    comm's ``comm_open`` messages): ``mbps`` each way and 20 ms latency, like a notebook
    on a remote hub. Media on loopback UDP is not throttled."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    rate = mbps * 1e6 / 8
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": rate, "uploadThroughput": rate},
    )


#: the kernel's code for each way: which function fills a new widget's ``_module``
WAYS = {
    "once": "import nbrtc._bundle as _b\n"
    "_b.module_for_new_widget = globals().setdefault('_once', _b.module_for_new_widget)",
    "every": "import nbrtc._bundle as _b\n"
    "globals().setdefault('_once', _b.module_for_new_widget)\n"
    "_b.module_for_new_widget = _b.module",
}


def one_rep(stack: Any, way: str, feeds: int, mbps: float, rep: int) -> dict[str, Any]:
    """One repetition the ``way`` (:data:`WAYS`), in a fresh page of a fresh kernel
    (throttled to ``mbps`` once the notebook is open, when ``mbps`` > 0): the page is the
    kernel's first, as when a user opens a notebook. The kernel is shut down after."""
    nb = Nbrtc(stack, f"bundle-{way}-{rep}.ipynb")
    out: dict[str, Any] = {}
    try:
        if mbps > 0:
            throttle(nb.page, mbps)
        nb.k(WAYS[way])
        out["ttff"] = nb.ttff()["python"]
        out["ttff_module_bytes"] = int(nb.k("len(cam._module.encode())"))
        nb.k(f"NCAM = {feeds}")
        nb.run(C_CAMS, 320, 240)
        try:
            h.wait_for(
                lambda: (
                    nb.k("all(c.state == 'live' and c.frame_count > 0 for c in cams)") == "True"
                ),
                60 + 2 * feeds,
                message=f"{feeds} cameras delivering",
            )
            firsts = nb.kjson("[json.loads(_bench_ttff(c))['ttff'] for c in cams]")
            out["grid_all_first_frames"] = max(firsts)
            out["grid_median_first_frame"] = sorted(firsts)[len(firsts) // 2]
            out["grid_module_bytes"] = int(nb.k("sum(len(c._module.encode()) for c in cams)"))
        finally:
            nb.k("for c in cams: c.close()")
    finally:
        nb.page.close()
        stack.server.shutdown_kernels()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--feeds", type=int, default=16)
    ap.add_argument(
        "--mbps", type=float, default=0, help="throttle the page's traffic (0: loopback as is)"
    )
    args = ap.parse_args()
    builds = WAYS
    raw: dict[str, list[dict[str, Any]]] = {name: [] for name in builds}
    started = time.time()
    stack = start_stack()
    try:
        for rep in range(args.reps):
            for name in builds:  # alternate the ways
                t = time.monotonic()
                try:
                    raw[name].append(one_rep(stack, name, args.feeds, args.mbps, rep))
                except Exception as exc:
                    raw[name].append({"error": f"{type(exc).__name__}: {exc}"[:1000]})
                    traceback.print_exc()
                print(f"rep {rep + 1} {name:<10} {time.monotonic() - t:5.1f} s", flush=True)
    finally:
        stack.close()
    rows = []
    for key, label, unit in (
        ("ttff_module_bytes", "bundle text the first Camera's model carries", "KiB"),
        ("ttff", "TTFF, one Camera 640x480 (cell start -> Python)", "s"),
        ("grid_all_first_frames", f"Grid of {args.feeds}: every feed's first frame", "s"),
        ("grid_median_first_frame", f"Grid of {args.feeds}: median feed's first frame", "s"),
        ("grid_module_bytes", f"Grid of {args.feeds}: bundle bytes in its models", "KiB"),
    ):
        scale = 1 / 1024 if unit == "KiB" else 1
        row: dict[str, Any] = {"figure": label, "unit": unit}
        for name in builds:
            row[name] = summary(
                [None if "error" in r else r.get(key) * scale for r in raw[name]]  # type: ignore[operator]
            )
        once_m, every_m = row["once"]["median"], row["every"]["median"]
        row["ratio"] = round(once_m / every_m, 3) if once_m is not None and every_m else None
        rows.append(row)
    print(f"\n{'figure':<52} {'once':>22} {'every':>22} {'once/every':>10}")
    for row in rows:
        cells = []
        for name in builds:
            s = row[name]
            cells.append(
                "failed"
                if s["median"] is None
                else f"{s['median']:.2f} ({s['min']:.2f}..{s['max']:.2f})"
            )
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}"
        print(f"{row['figure']:<52} {cells[0]:>22} {cells[1]:>22} {ratio:>10}  {row['unit']}")
    results = RESULTS_DIR / (f"bundle-{args.mbps:g}mbps.json" if args.mbps else "bundle.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "machine": machine(),
                "versions": versions(),
                "args": vars(args),
                "rows": rows,
                "raw": raw,
            },
            indent=1,
        )
    )
    print(f"\nwrote {results.relative_to(REPO)}")
    failed = sum("error" in r for runs in raw.values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
