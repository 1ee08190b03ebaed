"""The release bundle (minified, no source map) against the former one (minified with an
inline source map), in the real stack: what the lean bundle changes for a user.

    python benchmarks/bundle.py              # 3 repetitions each, a Grid of 16 feeds
    python benchmarks/bundle.py --reps 5 --feeds 16
    python benchmarks/bundle.py --mbps 10    # the page's traffic at 10 Mbit/s, 20 ms

anywidget syncs ``_esm`` (the bundle's text) with every widget model: it is in the
``comm_open`` message of each widget, the kernel's memory, a notebook saved with widget
state and every HTML export. Both builds run in one JupyterLab kernel: before each
repetition the widgets' ``_esm`` is set to that build's text, and each repetition opens
the notebook in a fresh page (so the page loads that build's module, not a cached one).
Builds alternate (lean, inline map, lean, ...). Figures per build, median (min..max):

* bytes each widget model carries (``len(_esm)``), and x feeds for the Grid;
* TTFF: one 640x480 Camera, the cell's start -> its first frame in Python (kernel clock);
* Grid startup: ``--feeds`` 320x240 Cameras in a Grid, the cell's start -> the slowest
  camera's first frame in Python (kernel clock), i.e. every feed delivering.

Writes ``benchmarks/results/bundle.json`` (``bundle-<N>mbps.json`` with ``--mbps``).
Needs ``scripts/setup.sh`` (JupyterLab, Chromium, the release bundle in
``src/nbrtc/static``) and Node (the inline-map build is made into a temporary folder
with ``node js/build.mjs --inline-map --outdir``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
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


def build_inline_map(outdir: Path) -> Path:
    """The former release build (minified + inline map) into ``outdir``; its widget.js."""
    subprocess.run(
        ["node", str(REPO / "js" / "build.mjs"), "--inline-map", "--outdir", str(outdir)],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    return outdir / "widget.js"


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


def one_rep(stack: Any, bundle: Path, feeds: int, mbps: float) -> dict[str, Any]:
    """One repetition with ``bundle`` as every nbrtc widget's ``_esm``, in a fresh page
    (throttled to ``mbps`` once the notebook is open, when ``mbps`` > 0)."""
    nb = Nbrtc(stack)
    out: dict[str, Any] = {}
    try:
        if mbps > 0:
            throttle(nb.page, mbps)
        nb.k(
            "from nbrtc._widgets.base import SignalingWidget\n"
            f"SignalingWidget._esm = open({str(bundle)!r}, encoding='utf-8').read()"
        )
        out["esm_bytes"] = int(nb.k("len(SignalingWidget._esm.encode())"))
        out["ttff"] = nb.ttff()["python"]
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
            out["grid_esm_bytes"] = int(nb.k("sum(len(c._esm.encode()) for c in cams)"))
        finally:
            nb.k("for c in cams: c.close()")
    finally:
        nb.page.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--feeds", type=int, default=16)
    ap.add_argument(
        "--mbps", type=float, default=0, help="throttle the page's traffic (0: loopback as is)"
    )
    args = ap.parse_args()
    lean = REPO / "src" / "nbrtc" / "static" / "widget.js"
    with tempfile.TemporaryDirectory(prefix="nbrtc-bundle-") as tmp:
        mapped = build_inline_map(Path(tmp))
        builds = {"lean": lean, "inline_map": mapped}
        raw: dict[str, list[dict[str, Any]]] = {name: [] for name in builds}
        started = time.time()
        stack = start_stack()
        try:
            for rep in range(args.reps):
                for name, path in builds.items():  # alternate the builds
                    t = time.monotonic()
                    try:
                        raw[name].append(one_rep(stack, path, args.feeds, args.mbps))
                    except Exception as exc:
                        raw[name].append({"error": f"{type(exc).__name__}: {exc}"[:1000]})
                        traceback.print_exc()
                    print(f"rep {rep + 1} {name:<10} {time.monotonic() - t:5.1f} s", flush=True)
        finally:
            stack.close()
    rows = []
    for key, label, unit in (
        ("esm_bytes", "bundle each widget model carries", "KiB"),
        ("ttff", "TTFF, one Camera 640x480 (cell start -> Python)", "s"),
        ("grid_all_first_frames", f"Grid of {args.feeds}: every feed's first frame", "s"),
        ("grid_median_first_frame", f"Grid of {args.feeds}: median feed's first frame", "s"),
        ("grid_esm_bytes", f"Grid of {args.feeds}: bundle bytes in its models", "KiB"),
    ):
        scale = 1 / 1024 if unit == "KiB" else 1
        row: dict[str, Any] = {"figure": label, "unit": unit}
        for name in builds:
            row[name] = summary(
                [None if "error" in r else r.get(key) * scale for r in raw[name]]  # type: ignore[operator]
            )
        lean_m, map_m = row["lean"]["median"], row["inline_map"]["median"]
        row["ratio"] = round(lean_m / map_m, 3) if lean_m and map_m else None
        rows.append(row)
    print(f"\n{'figure':<52} {'lean':>22} {'inline map':>22} {'lean/map':>9}")
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
        print(f"{row['figure']:<52} {cells[0]:>22} {cells[1]:>22} {ratio:>9}  {row['unit']}")
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
