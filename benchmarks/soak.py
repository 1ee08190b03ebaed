"""Soak: a camera streams for N minutes while its consumers stall; memory and latency
must stay flat.

Real stack: JupyterLab in Debian Chromium (fake camera replaced by a canvas whose pixels
carry the page clock), a real kernel. In the kernel, two frame iterators are opened and
never read (``cam.frames(queue=5)`` and newest-frame-wins ``cam.frames()``), and a slow
``process()`` function (sleeps 200 ms per frame) sends its output back to the page. Every
``--every`` seconds it samples: kernel RSS and threads, frames received per second, frames
dropped, the processed video's camera -> fn -> page latency (decoded from the pixels, over
2 s) and the page's JS heap. It prints a table and writes JSON.

    python benchmarks/soak.py --minutes 10            # ~11 minutes
    python benchmarks/soak.py --minutes 1 --every 10  # a quick look
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._lab import harness as h  # noqa: E402  (the e2e harness starts the real stack)
from benchmarks._lab import video as e2e_video  # noqa: E402

READ_STAMPS_JS, STAMP_CAMERA_JS = e2e_video.READ_STAMPS_JS, e2e_video.STAMP_CAMERA_JS

CELL = "import nbrtc\ncam = nbrtc.Camera(width=640, height=480, frame_rate=30)\ncam"
SETUP = """
import json, os, threading, time
stalled_queue = cam.frames(queue=5)      # opened, never read
stalled_newest = cam.frames()            # opened, never read
def slow(rgb):
    time.sleep(0.2)
    return rgb
cam.process(slow)
def sample():
    rss = 0
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1]) / 1024
    st = cam.process_stats()
    return json.dumps({'rss_mb': round(rss, 1), 'threads': threading.active_count(),
        'frames': cam.frame_count, 'dropped': cam.dropped,
        'queued': len(stalled_queue._queue._items), 'processed': st['frames'],
        'process_dropped': st['dropped'], 'state': cam.state})
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "soak.json")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="nbrtc-soak-"))
    server = h.start_jupyter_server(base, base / "jupyter.log")
    rows: list[dict] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=h.CHROMIUM, headless=True, args=h.CHROMIUM_ARGS
            )
            context = browser.new_context(viewport=h.VIEWPORT)
            context.grant_permissions(["camera", "microphone"], origin=server.url.rstrip("/"))
            context.add_init_script(path=str(h.COUNTERS_JS))
            context.add_init_script(STAMP_CAMERA_JS)
            page = context.new_page()
            path = h.write_notebook(server, "soak.ipynb", [CELL])
            h.open_notebook(page, server, path)
            h.run_cell(page, 0)
            h.wait_for(
                lambda: h.kernel_eval(page, "cam.state") == "'live'", 30, message="camera live"
            )
            h.kernel_eval(page, SETUP)
            h.wait_for(
                lambda: (
                    page.locator(".nbrtc-root").first.get_attribute("data-showing") == "processed"
                ),
                20,
                message="processed video shown",
            )
            t0 = time.monotonic()
            end = t0 + args.minutes * 60
            last = None
            print(
                f"{'t (s)':>6} {'RSS MB':>7} {'thr':>4} {'fps in':>7} {'dropped':>8} "
                f"{'queued':>6} {'proc/s':>6} {'lat p50':>8} {'lat p95':>8} {'JS MB':>6}"
            )
            while True:
                now = time.monotonic()
                k = json.loads(h.kernel_eval(page, "print(sample())").strip().splitlines()[-1])
                video = page.locator(".nbrtc-root video.nbrtc-video").first.element_handle()
                stamps = page.evaluate(READ_STAMPS_JS, [video, 2000])
                lat = sorted(s for s in stamps if s < 10_000)
                heap = page.evaluate(
                    "performance.memory ? performance.memory.usedJSHeapSize / 1048576 : -1"
                )
                row = {
                    "t": round(now - t0, 1),
                    **k,
                    "latency_p50_ms": statistics.median(lat) if lat else None,
                    "latency_p95_ms": lat[int(0.95 * (len(lat) - 1))] if lat else None,
                    "js_heap_mb": round(heap, 1),
                }
                if last is not None:
                    span = row["t"] - last["t"]
                    row["fps_in"] = round((row["frames"] - last["frames"]) / span, 1)
                    row["processed_per_s"] = round((row["processed"] - last["processed"]) / span, 2)
                rows.append(row)
                print(
                    f"{row['t']:>6.0f} {row['rss_mb']:>7.1f} {row['threads']:>4} "
                    f"{row.get('fps_in', 0):>7.1f} {row['dropped']:>8} {row['queued']:>6} "
                    f"{row.get('processed_per_s', 0):>6.2f} {row['latency_p50_ms'] or -1:>8} "
                    f"{row['latency_p95_ms'] or -1:>8} {row['js_heap_mb']:>6.1f}",
                    flush=True,
                )
                last = row
                if now >= end:
                    break
                h.sample_for(lambda: None, max(0.0, min(args.every, end - time.monotonic())), 1.0)
            h.kernel_eval(page, "cam.close()")
            context.close()
            browser.close()
    finally:
        server.stop()

    steady = rows[1:] or rows
    first, final = steady[0], steady[-1]

    def change(key: str) -> float | None:
        a, b = first.get(key), final.get(key)
        return round((b - a) / a * 100, 1) if a and b is not None else None

    summary = {
        "minutes": args.minutes,
        "rss_mb_first_last": [first["rss_mb"], final["rss_mb"]],
        "rss_change_pct": change("rss_mb"),
        "latency_p50_first_last_ms": [first["latency_p50_ms"], final["latency_p50_ms"]],
        "latency_change_pct": change("latency_p50_ms"),
        "max_queued": max(r["queued"] for r in rows),
        "threads_first_last": [first["threads"], final["threads"]],
    }
    print("\nsummary:", json.dumps(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "soak: stalled frame iterators + a 200 ms process() function",
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
                "summary": summary,
                "samples": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
