"""Issue 13's room row: a 6-member Room at 640x480, upload per member, mesh vs through Janus.

    sudo .venv/bin/python benchmarks/janus_room.py            # one run of each path
    sudo .venv/bin/python benchmarks/janus_room.py --window 20 --warm 10

The stack (as ``tests/e2e/test_janus.py``): Debian's ``janus`` in a network namespace of its
own (``tests/lab/janus.py``), JupyterLab, the kernel and ONE headless Debian Chromium page
(its fake camera, 640x480) on the host. One cell makes ``nbrtc.Room(..., width=640,
height=480, frame_rate=FPS, max_members=6)`` and displays it six times: six views in one
page, six members. Paths, one after the other in the same page:

* ``mesh``: ``server=None``: each member has a pc to each of the 5 others, sending its
  camera on every one;
* ``janus``: ``server=janus``: each member sends its camera once, to Janus, and receives
  the 5 others from Janus.

Once all six members are live and every link reports connected (``room.links()``), ``--warm``
s pass (the encoders' bitrate ramp), then each member's upload is read twice, ``--window``
s apart: the sum of ``bytes_sent`` (the page's own getStats ``outbound-rtp``, which each
member reports to the kernel every second, ``room.links()``) over that member's links, and
the number of its links that carried media up (``streams``). Upload per member is bytes per
second over the window (the stats are 1 s samples: a figure is good to about one second of
the window). The room is closed and Janus's sessions waited gone between the paths.

Prints the table; writes ``benchmarks/results/janus_room.json`` (machine, versions, date,
every raw value). Needs root (the namespace), Debian ``janus`` and ``chromium``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._lab import harness as h  # noqa: E402
from benchmarks._lab import video as e2e_video  # noqa: E402
from benchmarks._stack import machine, versions  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "janus_room.json"
MEMBERS = 6
#: frames per second each member's camera is asked for (6 encodes of 640x480 in one
#: Chromium on a 2-core machine: 15 keeps the browser from CPU-limiting the mesh)
FPS = 15
#: seconds the six members may take to connect every link
LIVE_TIMEOUT = 90.0

C_SETUP, C_ROOM = 0, 1
SETUP = """\
import json
import nbrtc
janus = nbrtc.Janus({url!r}, api_secret={secret!r})
PATH = 'mesh'

def uploads(room):
    # member -> [bytes its page sent on all its links, links that carried media up]:
    # mesh links hold each side's own getStats ("sides"), server links their member's
    out = {{}}
    for link in room.links():
        sides = link.get('sides') or {{link['a']: {{'bytes_sent': link['bytes_sent']}}}}
        for mid, side in sides.items():
            sent = (side or {{}}).get('bytes_sent', 0)
            row = out.setdefault(mid, [0, 0])
            row[0] += sent
            row[1] += sent > 10000
    return json.dumps(out)"""
ROOM = (
    "room = nbrtc.Room('bench-' + PATH, server=janus if PATH == 'janus' else None,\n"
    f"                  width=640, height=480, frame_rate={FPS}, max_members={MEMBERS})\n"
    f"for _ in range({MEMBERS}):\n"
    "    display(room)"
)


class Bench:
    """The lab, JupyterLab, Chromium and the benchmark notebook (build, then ``close``)."""

    def __init__(self, base: Path) -> None:
        from playwright.sync_api import sync_playwright
        from tests.lab import janus as jl

        self._stack = contextlib.ExitStack()
        try:
            self.lab = self._stack.enter_context(jl.JanusLab())
            self.server = jl.JanusServer(self.lab, base / "janus", session_timeout=30)
            self._stack.enter_context(self.server)
            self.jupyter = h.start_jupyter_server(base / "jupyter", base / "jupyter.log")
            self._stack.callback(self.jupyter.stop)
            self.pw = sync_playwright().start()
            self._stack.callback(self.pw.stop)
            self.browser = self.pw.chromium.launch(
                executable_path=h.CHROMIUM, headless=True, args=h.CHROMIUM_ARGS
            )
            self._stack.callback(self.browser.close)
            self.context = h.capture_context(self.browser, self.jupyter.url)
            self._stack.callback(self.context.close)
            self.page = self.context.new_page()
            self.page.set_viewport_size({"width": 1600, "height": 1200})
            self.page.on("dialog", lambda d: d.accept())
            setup = SETUP.format(url=self.server.ws_url, secret=self.server.api_secret)
            self.path = h.write_notebook(self.jupyter, "bench_janus_room.ipynb", [setup, ROOM])
            h.open_notebook(self.page, self.jupyter, self.path)
            e2e_video._run(self.page, C_SETUP)
        except BaseException:
            self._stack.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            h.kernel_eval(self.page, "janus.close()", timeout=15)
        self._stack.close()

    def q(self, expr: str, timeout: float = 30.0) -> Any:
        return ast.literal_eval(h.kernel_query(self.page, expr, timeout))

    def kjson(self, expr: str) -> Any:
        return json.loads(self.q(expr))


def connected(b: Bench, path: str) -> bool:
    links = b.kjson("json.dumps(room.links())")
    want = MEMBERS * (MEMBERS - 1) // 2 if path == "mesh" else MEMBERS * MEMBERS
    return len(links) == want and all(link["state"] == "connected" for link in links)


def measure(b: Bench, path: str, warm: float, window: float) -> dict[str, Any]:
    """One path: the room up, warmed, measured over ``window`` s, closed."""
    h.kernel_eval(b.page, f"PATH = {path!r}")
    t0 = time.monotonic()
    e2e_video._run(b.page, C_ROOM)
    h.wait_for(lambda: b.q("len(room.members())") == MEMBERS, LIVE_TIMEOUT, 0.5, "6 members")
    h.wait_for(lambda: connected(b, path), LIVE_TIMEOUT, 0.5, f"every {path} link connected")
    up_s = time.monotonic() - t0
    h.sample_for(lambda: None, warm, interval=0.5)  # the warm-up IS the wait
    first, t1 = b.kjson("uploads(room)"), time.monotonic()
    h.sample_for(lambda: None, window, interval=0.5)  # the window IS the measurement
    last, t2 = b.kjson("uploads(room)"), time.monotonic()
    per_member = {
        mid: {
            "bytes_per_s": (last[mid][0] - first[mid][0]) / (t2 - t1),
            "streams": last[mid][1],
        }
        for mid in last
        if mid in first
    }
    kernel_peers = b.q("nbrtc.manager().resources()['peers']")
    left = b.kjson(
        "json.dumps([e['summary'] for e in room.history() if e['event'] in ('leave', 'note')])"
    )
    seats = b.kjson("json.dumps(room._server.describe()['seats'] if room._server else {})")
    handles = {s: len(b.server.handles(s)) for s in b.server.sessions()}
    b.q("room.close() or 0")
    h.wait_for(lambda: b.server.sessions() == [], 10, 0.1, "Janus sessions gone")
    rates = [m["bytes_per_s"] for m in per_member.values()]
    return {
        "path": path,
        "connected_after_s": round(up_s, 2),
        "window_s": round(t2 - t1, 2),
        "members": per_member,
        "upload_kB_s_median": round(statistics.median(rates) / 1000, 1) if rates else None,
        "upload_kB_s_min": round(min(rates) / 1000, 1) if rates else None,
        "upload_kB_s_max": round(max(rates) / 1000, 1) if rates else None,
        "streams_per_member": sorted({m["streams"] for m in per_member.values()}),
        "kernel_peers": kernel_peers,
        "janus_handles": handles,
        "left_during_run": left,
        "subscriptions": {mid: seat["subscribed"] for mid, seat in seats.items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warm", type=float, default=8.0, help="seconds before the window")
    ap.add_argument("--window", type=float, default=10.0, help="seconds measured")
    ap.add_argument("--paths", default="mesh,janus", help="which paths, in order")
    ap.add_argument("--log", default="", help="append the kernel's nbrtc log (INFO) to this file")
    args = ap.parse_args()
    raw: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "fps": FPS,
        "members": MEMBERS,
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="nbrtc-bench-room-") as tmp:
        b = Bench(Path(tmp))
        try:
            if args.log:
                h.kernel_eval(
                    b.page,
                    "import logging\n"
                    f"_h = logging.FileHandler({args.log!r})\n"
                    "_h.setFormatter(logging.Formatter('%(asctime)s %(message)s'))\n"
                    "logging.getLogger('nbrtc').addHandler(_h)\n"
                    "logging.getLogger('nbrtc').setLevel(logging.INFO)",
                )
            for path in args.paths.split(","):
                row = measure(b, path, args.warm, args.window)
                raw["rows"].append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "members"}), flush=True)
        finally:
            b.close()
    print(f"\n6-member Room, 640x480 at {FPS} fps, one Chromium (fake camera):")
    print("| path | upload per member, kB/s (median [min-max]) | streams up per member |")
    print("|---|---|---|")
    for row in raw["rows"]:
        print(
            f"| {row['path']} | {row['upload_kB_s_median']} [{row['upload_kB_s_min']}-"
            f"{row['upload_kB_s_max']}] | {row['streams_per_member']} |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(raw, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
