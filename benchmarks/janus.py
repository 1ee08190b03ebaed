"""Issue 13's broadcast rows: one kernel feed to many viewers, direct vs through Janus.

    sudo .venv/bin/python benchmarks/janus.py --quick   # 2 repetitions, short windows, few cycles
    sudo .venv/bin/python benchmarks/janus.py           # 3 repetitions, 100 cycles

The stack (as ``tests/e2e/test_janus.py``): Debian's ``janus`` in a network namespace of its
own (``tests/lab/janus.py``: a free /29 of 203.0.113.0/24 on a veth pair, its admin API on),
JupyterLab, the kernel and headless Debian Chromium on the host. ONE Chromium page (tab) holds the
benchmark notebook; every viewer of rows 1-3 is a view in that page, except the tab-close
cycles, which open and close a second tab. The source is
``nbrtc.sources.test_pattern(640, 480, 30)`` (made in the kernel).

1. ``cpu``: kernel CPU for one 640x480 feed watched by 0, 1, 4 and 16 viewers, per path:
   * ``direct``: ``Grid([VideoView(src) for _ in range(N)])``: every view is its own aiortc
     peer and VP8 encode (one shared producer). N=0 is the idle kernel.
   * ``janus``: ``feed = janus.broadcast(src)`` then ``Grid([VideoView(feed) ...])``: one
     aiortc publisher; each page view receives from Janus. N=0 is the broadcast alone.
   The cell runs; every view must show ``data-state=live`` and present frames
   (``getVideoPlaybackQuality``: decoded minus dropped); then ``--warm`` s pass (the
   encoders' bitrate ramp), then one window of ``--window`` s in which we read, at its two
   ends, utime+stime of the kernel process and of the janus process (/proc/PID/stat), of
   every Chromium process this script started (psutil, summed over the processes alive at
   both ends) and the machine's busy CPU (/proc/stat): CPU seconds per wall second
   (this process's ``time.monotonic``). Each view's frames presented per second over the
   same window say whether the figure is for views that actually played. Paths and sizes
   are interleaved in one run (the order flips every repetition); the feed and views are
   closed (and Janus's sessions gone) before the next measurement.
2. ``join``: with a broadcast live for >= ``LIVE_BEFORE_JOIN`` s (Janus asks the publisher
   for a keyframe only every 10 s, ``fir_freq``; a joiner must get one through the PLI Janus
   sends on its start), a cell displays a new ``VideoView(live)``: from the cell's start
   (its ``time.time()``, mapped to the page clock with Cristian's method,
   ``_stack.clock_base``) and from the ``<video>``'s insertion into the page (page clock) to
   its first presented frame (``requestVideoFrameCallback``, page clock). Kernel clock: the
   cell's start to the viewer's stream being created (the page's ``watch``), to Janus's
   offer being relayed and to Janus's ``webrtcup`` (the view's ``live``). The view is then
   closed and its handle waited gone; ``JOIN_GAP`` s pass between repetitions (so joins
   fall at different points of the keyframe cycle).
3. ``teardown``: Janus sessions and handles (admin API ``list_sessions`` /
   ``list_handles``) after N open/close cycles of each trigger, while the row's long-lived
   broadcast ``live`` keeps its own session and publisher handle (what "left" excludes):
   ``view.close()``, re-running the view's cell (counted with the last run's view still
   live: it owns one handle), closing a tab that shows a view, ``feed.close()`` of a
   broadcast one page view watches, and kernel-only ``feed.close()`` and ``janus.close()``
   cycles (a broadcast made, waited live, closed). Each count is taken once the server
   reaches the expected count or ``SETTLE_S`` s have passed. The kernel's aiortc peers and
   the page's live RTCPeerConnections (``counters.js``) are noted too.
4. Rooms through Janus: ``benchmarks/janus_room.py`` (upload per member of a 6-member Room,
   mesh vs through Janus).

Prints the table; writes ``benchmarks/results/janus.json`` (machine, versions, date,
every raw value). Needs root (the namespace), Debian ``janus`` and ``chromium``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import _stack  # noqa: E402
from benchmarks._js import RENDERED_FRAMES_JS, VIDEO_WATCH_JS  # noqa: E402
from benchmarks._lab import harness as h  # noqa: E402
from benchmarks._lab import video as e2e_video  # noqa: E402
from benchmarks._stack import clock_base, machine, proc_cpu_seconds, summary, versions  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "janus.json"
VIEWERS = (0, 1, 4, 16)
#: seconds the row-2 broadcast is live before the first join
LIVE_BEFORE_JOIN = 6.0
#: seconds between two joins (spreads them over Janus's 10 s keyframe cycle)
JOIN_GAP = 1.7
#: seconds a teardown count waits for the server to reach the expected count
SETTLE_S = 10.0
#: seconds a view (or 16) may take to go live and present frames
LIVE_TIMEOUT = 90.0

C_SETUP, C_GRID, C_JOIN, C_CYCLE, C_TAB, C_FEEDVIEW = range(6)
SETUP = """\
import json, os, threading, time
import nbrtc
URL, SECRET = {url!r}, {secret!r}
janus = nbrtc.Janus(URL, api_secret=SECRET)
src = nbrtc.sources.test_pattern(640, 480, 30)
N, PATH = 1, 'direct'"""
# One cell for both paths, so that the grid always sits at the same place in the page
# (in view: Chromium presents no frame of a <video> scrolled out of sight). display(), not
# a last expression: IPython's output cache would keep closed widgets alive.
CELLS = [
    "",  # SETUP, formatted with the server's address
    "T0E = time.time()\n"
    'if PATH == "janus":\n'
    "    feed = janus.broadcast(src)\n"
    '    feed.wait("live", timeout=20)\n'
    'views = [nbrtc.VideoView(feed if PATH == "janus" else src) for _ in range(N)]\n'
    "grid = nbrtc.Grid(views, columns=8)\n"
    "display(grid)",
    "T0 = time.monotonic(); T0E = time.time()\njview = nbrtc.VideoView(live)\ndisplay(jview)",
    "cview = nbrtc.VideoView(live)\ndisplay(cview)",
    "display(tview)",
    'f6 = janus.broadcast(src)\nf6.wait("live", timeout=20)\nv6 = nbrtc.VideoView(f6)\ndisplay(v6)',
]

#: per view of one cell: [frames presented, state, videoWidth, videoHeight]
VIEWS_JS = """
(cell) => [...cell.querySelectorAll('.nbrtc-root')].map((r) => {
  const v = r.querySelector('video.nbrtc-video');
  const n = v ? (RENDERED)(v) : 0;
  return [n, r.dataset.state || null, v ? v.videoWidth : 0, v ? v.videoHeight : 0];
})
""".replace("RENDERED", RENDERED_FRAMES_JS.strip())

KERNEL_HELPERS = '''
def _bench_join():
    """Kernel-clock figures of jview's stream, from T0 (the join cell's start)."""
    s = [x for x in nbrtc.manager().streams() if x["widget"] == jview.model_id][0]
    created = time.monotonic() - s["age"]
    t = s["timings"]
    return json.dumps({"watch_at": created - T0,
                       "offer_at": created + t["offer"] - T0 if "offer" in t else None,
                       "live_at": created + t["live"] - T0 if "live" in t else None,
                       "broadcast_live_for": T0 - LIVE_AT, "state": s["state"]})

def _bench_msgs():
    """Protocol messages of every live stream so far, by direction:type (each stream's
    Inspector history counts), summed; and the monotonic time of the reading."""
    import collections
    total = collections.Counter()
    for st in list(nbrtc.manager()._streams.values()):
        total.update(st.history.counts)
    return json.dumps({"t": time.monotonic(), "counts": dict(total)})

def _bench_cycles(k, with_janus):
    """k kernel-only cycles: a broadcast made, waited live, then feed.close() (or, with
    with_janus, a Janus of its own made and janus.close()); (seconds, failures)."""
    fails = []
    t = time.monotonic()
    for _ in range(k):
        j = nbrtc.Janus(URL, api_secret=SECRET) if with_janus else janus
        f = j.broadcast(src)
        try:
            f.wait("live", timeout=20)
        except Exception as exc:
            fails.append(repr(exc)[:300])
        finally:
            (j if with_janus else f).close()
    return json.dumps({"seconds": time.monotonic() - t, "failures": fails})
'''


# ------------------------------------------------------------------------------- helpers
def _cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            out[pid] = proc_cpu_seconds(pid)
    return out


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs together, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + f[4]  # idle + iowait
    return float(sum(f) - idle), float(sum(f))


def _chromium_pids() -> list[int]:
    """Every Chromium process this script started (Playwright's browser and its children):
    this process's descendants (``/proc/PID/stat``'s parent) whose name says chrom."""
    parent: dict[int, int] = {}
    name: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = (d / "stat").read_text()
            name[int(d.name)] = raw[raw.index("(") + 1 : raw.rindex(")")]
            parent[int(d.name)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    mine = {os.getpid()}
    for _ in range(20):  # depth bound: the process tree is a few levels deep
        more = {p for p, pp in parent.items() if pp in mine} - mine
        if not more:
            break
        mine |= more
    return sorted(p for p in mine if "chrom" in name.get(p, ""))


class KernelDied(RuntimeError):
    """The notebook's kernel process is gone (what follows would measure nothing)."""


class Bench:
    """The lab, JupyterLab, Chromium and the benchmark notebook (build, then ``close``)."""

    def __init__(self, base: Path) -> None:
        from playwright.sync_api import sync_playwright
        from tests.lab import janus as jl

        self.jl = jl
        self.base = base
        self._stack = contextlib.ExitStack()
        try:
            self.lab = self._stack.enter_context(jl.JanusLab())
            self.server = jl.JanusServer(self.lab, base / "janus", session_timeout=30)
            self._stack.enter_context(self.server)
            assert self.server.proc is not None
            self.janus_pid = self.server.proc.pid
            self.jupyter = h.start_jupyter_server(base / "jupyter", base / "jupyter.log")
            self._stack.callback(self.jupyter.stop)
            self.pw = sync_playwright().start()
            self._stack.callback(self.pw.stop)
            self.browser = self.pw.chromium.launch(
                executable_path=h.CHROMIUM, headless=True, args=h.CHROMIUM_ARGS
            )
            self._stack.callback(self.browser.close)
            self.context = h.capture_context(self.browser, self.jupyter.url)
            self.context.add_init_script(VIDEO_WATCH_JS)
            self._stack.callback(self.context.close)
            self.page = self.context.new_page()
            # 16 views in 2 rows of 8, all in sight (see CELLS)
            self.page.set_viewport_size({"width": 1600, "height": 1200})
            self.page.on("dialog", lambda d: d.accept())
            cells = list(CELLS)
            cells[C_SETUP] = SETUP.format(url=self.server.ws_url, secret=self.server.api_secret)
            self.path = h.write_notebook(self.jupyter, "bench_janus.ipynb", cells)
            h.open_notebook(self.page, self.jupyter, self.path)
            e2e_video._run(self.page, C_SETUP)
            self.k(KERNEL_HELPERS)
            self.kernel_pid = int(self.k("os.getpid()"))
        except BaseException:
            self._stack.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.k("janus.close()", timeout=15)
        self._stack.close()

    # --- kernel and server -----------------------------------------------------------------
    def k(self, code: str, timeout: float = 30.0) -> str:
        return h.kernel_eval(self.page, code, timeout=timeout)

    def q(self, expr: str, timeout: float = 30.0) -> Any:
        """``expr``'s value, read as a silent user_expression (no cell hooks, no stdout:
        a printed reply once came back empty under load) and parsed from its repr."""
        return ast.literal_eval(h.kernel_query(self.page, expr, timeout))

    def kjson(self, expr: str, timeout: float = 30.0) -> Any:
        """The value of ``expr``, an expression that returns a JSON string."""
        return json.loads(self.q(expr, timeout))

    def handles(self) -> dict[int, int]:
        """Janus's live sessions -> how many handles each has."""
        out = {}
        for s in self.server.sessions():
            with contextlib.suppress(Exception):  # a session may end between the two calls
                out[s] = len(self.server.handles(s))
        return out

    def settle(self, sessions: int, handles: int) -> dict[str, Any]:
        """Wait (<= SETTLE_S) for ``sessions`` sessions holding ``handles`` handles in all;
        the counts then, the seconds it took (None: never reached)."""
        t0 = time.monotonic()
        got: dict[int, int] = {}
        reached = None
        while True:
            got = self.handles()
            if len(got) == sessions and sum(got.values()) == handles:
                reached = time.monotonic() - t0
                break
            if time.monotonic() - t0 > SETTLE_S:
                break
            time.sleep(0.05)
        return {
            "sessions": len(got),
            "handles": sum(got.values()),
            "per_session": list(got.values()),
            "settle_s": reached,
        }

    def kernel_peers(self) -> int:
        return int(self.q("nbrtc.manager().resources()['peers']"))

    # --- the page ------------------------------------------------------------------------------
    def cell(self, i: int, page: Any = None) -> Any:
        return (page or self.page).locator(h.CELLS).nth(i)

    def views(self, i: int, page: Any = None) -> list[list[Any]]:
        return list(self.cell(i, page).evaluate(VIEWS_JS))

    def wait_views(self, i: int, n: int, page: Any = None, timeout: float = LIVE_TIMEOUT) -> float:
        """Until the ``n`` views of cell ``i`` are live and each presented a frame."""

        def ready() -> bool:
            v = self.views(i, page)
            return len(v) == n and all(x[1] == "live" and x[0] > 0 for x in v)

        try:
            return h.wait_for(ready, timeout, 0.2, f"{n} views of cell {i} live and playing")
        except TimeoutError as exc:
            seen = self.views(i, page)
            raise TimeoutError(f"{exc}; views [frames, state, w, h]: {seen}") from None

    def run(self, i: int, page: Any = None) -> None:
        e2e_video._run(page or self.page, i)

    def page_clean(self, page: Any = None) -> bool:
        c = h.counters(page or self.page)
        return bool(c["peersLive"] == 0)


# --------------------------------------------------------------------------- row 1: CPU
def cpu_once(b: Bench, path: str, n: int, warm: float, window: float) -> dict[str, Any]:
    """One measurement of ``path`` with ``n`` viewers (see the module docstring)."""
    row: dict[str, Any] = {"path": path, "viewers": n, "loadavg_1m": os.getloadavg()[0]}
    cell = C_GRID
    started = n > 0 or path == "janus"
    try:
        if started:
            b.k(f"N, PATH = {n}, {path!r}")
            t0 = time.monotonic()
            b.run(cell)
            row["live_s"] = b.wait_views(cell, n) if n else 0.0
            row["setup_s"] = time.monotonic() - t0
            if path == "janus":
                row["janus_viewers"] = int(b.q("feed.viewers"))
                row["server_handles"] = b.handles()
            row["kernel_peers"] = b.kernel_peers()
            row["transports"] = b.kjson(
                "json.dumps(sorted(s['transport'] for s in nbrtc.manager().streams()))"
            )
            row["page_peers"] = h.counters(b.page)["peersLive"]
        h.sample_for(lambda: None, warm, 0.25)  # the encoders' ramp-up, excluded on purpose
        pids = {"kernel": [b.kernel_pid], "janus": [b.janus_pid], "chromium": _chromium_pids()}
        f0 = b.views(cell) if n else []
        py_names = b.kjson("json.dumps({t.native_id: t.name for t in threading.enumerate()})")
        msgs0 = b.kjson("_bench_msgs()")
        c0 = {k: _cpu_of(v) for k, v in pids.items()}
        th0 = _stack.thread_cpu_seconds(b.kernel_pid)
        m0 = _machine_busy()
        t0 = time.monotonic()
        h.sample_for(lambda: None, window, 0.25)  # the window IS the measurement
        span = time.monotonic() - t0
        m1 = _machine_busy()
        c1 = {k: _cpu_of(v) for k, v in pids.items()}
        th1 = _stack.thread_cpu_seconds(b.kernel_pid)
        f1 = b.views(cell) if n else []
        msgs1 = b.kjson("_bench_msgs()")
        mspan = msgs1["t"] - msgs0["t"]
        row["messages_per_s"] = {
            k: round((v - msgs0["counts"].get(k, 0)) / mspan, 2)
            for k, v in sorted(msgs1["counts"].items())
            if v > msgs0["counts"].get(k, 0)
        }  # the kernel's protocol messages with the pages, all streams together
        for k in pids:
            both = set(c0[k]) & set(c1[k])
            row[f"cpu_{k}"] = sum(c1[k][p] - c0[k][p] for p in both) / span
        # the kernel's CPU by thread, grouped by name (a thread alive at both ends)
        names = _stack.thread_names(b.kernel_pid, {int(k): v for k, v in py_names.items()})
        groups: dict[str, float] = {}
        for tid in set(th0) & set(th1):
            name = names.get(tid, "?")
            name = "nbrtc-codec*" if name.startswith("nbrtc-codec") else name
            groups[name] = groups.get(name, 0.0) + (th1[tid] - th0[tid]) / span
        row["kernel_threads"] = {k: round(v, 4) for k, v in sorted(groups.items()) if v > 0}
        row["chromium_processes"] = len(pids["chromium"])
        row["cpu_machine_cores"] = (m1[0] - m0[0]) / (m1[1] - m0[1]) * (os.cpu_count() or 1)
        row["window_s"] = span
        row["cpu_others_cores"] = row["cpu_machine_cores"] - sum(
            row[f"cpu_{k}"] for k in pids
        )  # everything else on the machine (JupyterLab, this script, other jobs)
        fps = [(b1[0] - a[0]) / span for a, b1 in zip(f0, f1, strict=False)]
        row["view_fps"] = [round(x, 1) for x in fps]
        row["view_fps_min"] = min(fps) if fps else None
        row["view_sizes"] = sorted({f"{x[2]}x{x[3]}" for x in f1})
        row["views_not_playing"] = sum(1 for x in fps if x < 1)
    finally:
        if started:
            b.k("grid.close()" + ("\nfeed.close()" if path == "janus" else ""), timeout=20)
            try:
                h.wait_for(b.page_clean, 10, 0.1, "page peers closed")
                h.wait_for(lambda: b.q("len(nbrtc.manager().streams())") == 0, 10,
                           0.2, "kernel streams closed")  # fmt: skip
                if path == "janus":
                    h.wait_for(lambda: b.server.sessions() == [], 10, 0.1, "no Janus session")
            except TimeoutError as exc:
                row["teardown_problem"] = str(exc)
    return row


def row_cpu(
    b: Bench, reps: int, warm: float, window: float, log: Any, out: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Fills ``out`` as it goes (kept when the kernel dies) and returns it."""
    for rep in range(reps):
        paths = ("direct", "janus") if rep % 2 == 0 else ("janus", "direct")
        for n in VIEWERS:
            for path in paths:
                t = time.monotonic()
                try:
                    row = cpu_once(b, path, n, warm, window)
                except Exception as exc:  # counted as a failure, the run goes on
                    traceback.print_exc()
                    row = {"path": path, "viewers": n, "error": f"{type(exc).__name__}: {exc}"}
                    if not Path(f"/proc/{b.kernel_pid}").exists():
                        row["error"] = f"the kernel process died ({row['error'][:300]})"
                        row["rep"] = rep
                        out.append(row)
                        raise KernelDied(
                            f"kernel {b.kernel_pid} died: rep {rep} {path} {n}"
                        ) from exc
                row["rep"] = rep
                out.append(row)
                log(
                    f"  rep {rep} {path:6} {n:2} viewers: kernel "
                    f"{row.get('cpu_kernel', float('nan')):.3f} janus "
                    f"{row.get('cpu_janus', float('nan')):.3f} chromium "
                    f"{row.get('cpu_chromium', float('nan')):.3f} machine "
                    f"{row.get('cpu_machine_cores', float('nan')):.2f} cores; slowest view "
                    f"{row.get('view_fps_min')} fps ({time.monotonic() - t:.0f} s)"
                    + (f" ERROR {row['error'][:300]}" if "error" in row else "")
                )
    return out


# ------------------------------------------------------------------------- row 2: join
def start_live(b: Bench) -> float:
    """The long-lived broadcast ``live`` of rows 2 and 3; its live time (monotonic)."""
    b.k('live = janus.broadcast(src)\nlive.wait("live", timeout=20)\nLIVE_AT = time.monotonic()')
    return time.monotonic()


def row_join(b: Bench, reps: int, live_since: float, log: Any) -> list[dict[str, Any]]:
    # a live broadcast whose last keyframe is not just at hand
    h.sample_for(lambda: None, max(0.0, LIVE_BEFORE_JOIN - (time.monotonic() - live_since)))
    out: list[dict[str, Any]] = []
    for rep in range(reps):
        row: dict[str, Any] = {"rep": rep}
        try:
            b.run(C_JOIN)
            v = b.cell(C_JOIN).locator("video.nbrtc-video").first

            def first_frame(v: Any = v) -> Any:
                return v.evaluate("(v) => v.__firstFrameAt")

            h.wait_for(first_frame, 20, 0.02, "first frame")
            base, err = clock_base(b.page)
            t0e = float(b.q("T0E"))
            first, added = v.evaluate("(v) => [v.__firstFrameAt, v.__addedAt]")
            row["from_cell_s"] = (first - (t0e * 1000 - base)) / 1000
            row["from_video_s"] = (first - added) / 1000
            row["clock_err_ms"] = err
            row["kernel"] = b.kjson("_bench_join()")
        except Exception as exc:
            traceback.print_exc()
            row["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            b.k("jview.close()")
            with contextlib.suppress(TimeoutError):
                h.wait_for(lambda: sum(b.handles().values()) == 1, 5, 0.05, "join view's handle")
        out.append(row)
        log(f"  join {rep}: {json.dumps(row)}")
        h.sample_for(lambda: None, JOIN_GAP, 0.25)  # spreads joins over the keyframe cycle
    return out


# --------------------------------------------------------------------- row 3: teardown
def _timed(fn: Any, count: int, log: Any, what: str) -> tuple[float, list[str]]:
    """Run ``fn()`` ``count`` times; (seconds per cycle, failures in words)."""
    fails: list[str] = []
    t0 = time.monotonic()
    for i in range(count):
        try:
            fn()
        except Exception as exc:
            fails.append(f"cycle {i}: {type(exc).__name__}: {str(exc)[:300]}")
        if (i + 1) % 10 == 0:
            log(f"    {what}: {i + 1}/{count} ({time.monotonic() - t0:.0f} s)")
    return (time.monotonic() - t0) / max(1, count), fails


def row_teardown(b: Bench, view_cycles: int, tab_cycles: int, kernel_cycles: int,
                 log: Any, out: dict[str, Any]) -> None:  # fmt: skip
    """Fills ``out`` as it goes (a failing step leaves what came before)."""
    out["base"] = b.settle(1, 1)  # the live broadcast: 1 session, 1 handle

    def note(name: str, n: int, per: float, fails: list[str], want: int, **extra: Any) -> None:
        got = b.settle(1, want)
        got.update(
            cycles=n,
            seconds_per_cycle=per,
            failures=fails,
            expected_handles=want,
            kernel_peers=b.kernel_peers(),
            page_peers=h.counters(b.page)["peersLive"],
            **extra,
        )
        out[name] = got
        log(f"  {name}: {json.dumps(got)[:600]}")

    # view.close()
    def view_close() -> None:
        b.run(C_CYCLE)
        e2e_video._wait_state(e2e_video._root(b.page, C_CYCLE), "live", timeout=30)
        b.k("cview.close()")

    per, fails = _timed(view_close, view_cycles, log, "view.close()")
    note("view.close()", view_cycles, per, fails, 1)

    # re-running the view's cell (the last run's view stays live: its handle is expected)
    def rerun() -> None:
        b.run(C_CYCLE)
        e2e_video._wait_state(e2e_video._root(b.page, C_CYCLE), "live", timeout=30)

    per, fails = _timed(rerun, view_cycles, log, "re-run")
    note("re-run view cell", view_cycles, per, fails, 2)
    b.k("cview.close()")
    out["re-run view cell"]["after_closing_the_last"] = b.settle(1, 1)

    # closing a tab that shows a view
    b.k("tview = nbrtc.VideoView(live)")

    def tab_close() -> None:
        tab = b.context.new_page()
        tab.on("dialog", lambda d: d.accept())
        try:
            h.open_notebook(tab, b.jupyter, b.path)
            b.run(C_TAB, tab)
            e2e_video._wait_state(e2e_video._root(tab, C_TAB), "live", timeout=30)
        finally:
            h.forget_page(tab)
            tab.close()

    per, fails = _timed(tab_close, tab_cycles, log, "tab close")
    note("tab closed", tab_cycles, per, fails, 1)
    b.k("tview.close()")

    # feed.close() while a page view watches it
    def feed_with_view() -> None:
        b.run(C_FEEDVIEW)
        e2e_video._wait_state(e2e_video._root(b.page, C_FEEDVIEW), "live", timeout=30)
        b.k("f6.close()")

    per, fails = _timed(feed_with_view, tab_cycles, log, "feed.close() + view")
    note("feed.close() (1 view watching)", tab_cycles, per, fails, 1)

    # kernel-only cycles, in chunks of 10 (each kernel request stays bounded)
    for name, with_janus in (("feed.close()", False), ("janus.close()", True)):
        secs, fails = 0.0, []
        for start in range(0, kernel_cycles, 10):
            k = min(10, kernel_cycles - start)
            got = b.kjson(f"_bench_cycles({k}, {with_janus})", timeout=40 * k)
            secs += got["seconds"]
            fails += got["failures"]
            log(f"    {name}: {start + k}/{kernel_cycles} ({secs:.0f} s)")
        note(name, kernel_cycles, secs / max(1, kernel_cycles), fails, 1)

    # the end: everything closed, nothing left on the server
    b.k("live.close(); janus.close()", timeout=20)
    out["end (live.close(); janus.close())"] = b.settle(0, 0)


# ---------------------------------------------------------------------------- printing
def _cell(s: dict[str, Any], fmt: str = "{:.3f}") -> str:
    if s["median"] is None:
        return "n/a"
    return f"{fmt.format(s['median'])} [{fmt.format(s['min'])}..{fmt.format(s['max'])}]"


def report(raw: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    table: dict[str, Any] = {"cpu": {}, "join": {}, "teardown": {}}
    rows = [r for r in raw["cpu"] if "error" not in r]
    print(
        f"\n1. CPU, one 640x480 30 fps test_pattern feed; CPU s per wall s over a "
        f"{args.window:g} s window after {args.warm:g} s warm-up, median [min..max] of "
        f"{args.reps} repetitions; viewers are views in ONE Chromium page"
    )
    print(
        f"{'path':7}{'viewers':>8} {'kernel CPU':>22} {'janus CPU':>22} {'chromium CPU':>22}"
        f" {'machine (cores)':>22} {'slowest view fps':>18}"
    )
    for path in ("direct", "janus"):
        for n in VIEWERS:
            mine = [r for r in rows if r["path"] == path and r["viewers"] == n]
            s = {k: summary([r[k] for r in mine if r.get(k) is not None])
                 for k in ("cpu_kernel", "cpu_janus", "cpu_chromium", "cpu_machine_cores",
                           "view_fps_min")}  # fmt: skip
            table["cpu"][f"{path}_{n}"] = s
            label = "idle" if path == "direct" and n == 0 else ("feed only" if n == 0 else "")
            print(
                f"{path:7}{n:>8} {_cell(s['cpu_kernel']):>22} {_cell(s['cpu_janus']):>22} "
                f"{_cell(s['cpu_chromium']):>22} {_cell(s['cpu_machine_cores'], '{:.2f}'):>22}"
                f" {_cell(s['view_fps_min'], '{:.1f}'):>18} {label}"
            )
    for path in ("direct", "janus"):
        one = table["cpu"][f"{path}_1"]["cpu_kernel"]["median"]
        many = table["cpu"][f"{path}_16"]["cpu_kernel"]["median"]
        ratio = None if not one or many is None else many / one
        table["cpu"][f"{path}_ratio_16_to_1"] = ratio
        per_rep = []
        for rep in range(args.reps):
            k = {r["viewers"]: r.get("cpu_kernel") for r in rows
                 if r["path"] == path and r["rep"] == rep}  # fmt: skip
            if k.get(1) and k.get(16) is not None:
                per_rep.append(k[16] / k[1])
        table["cpu"][f"{path}_ratio_16_to_1_per_rep"] = summary(per_rep)
        goal = "   (goal through Janus: <= 1.2x)" if path == "janus" else "   (grows with viewers)"
        goal = f"; per repetition {_cell(summary(per_rep), '{:.2f}')}{goal}"
        print(f"kernel CPU 16 viewers / 1 viewer, {path}: "
              f"{'n/a' if ratio is None else f'{ratio:.2f}x'}{goal}")  # fmt: skip
    print("kernel CPU by thread (median CPU s/s over the repetitions; the top 6 >= 0.005):")
    for path in ("direct", "janus"):
        for n in VIEWERS:
            mine = [r.get("kernel_threads", {}) for r in rows
                    if r["path"] == path and r["viewers"] == n]  # fmt: skip
            names = sorted({k for t in mine for k in t})
            med = {k: summary([t.get(k, 0.0) for t in mine])["median"] for k in names}
            table["cpu"][f"{path}_{n}_kernel_threads"] = med
            top = sorted(med.items(), key=lambda kv: -(kv[1] or 0))[:6]
            shown = ", ".join(f"{k} {v:.3f}" for k, v in top if v and v >= 0.005)
            print(f"  {path:6} {n:2}: {shown}")
    print("protocol messages per second between the kernel and the page (all streams; median):")
    for path in ("direct", "janus"):
        for n in VIEWERS[1:]:
            mine = [r.get("messages_per_s", {}) for r in rows
                    if r["path"] == path and r["viewers"] == n]  # fmt: skip
            names = sorted({k for t in mine for k in t})
            med = {k: summary([t.get(k, 0.0) for t in mine])["median"] for k in names}
            table["cpu"][f"{path}_{n}_messages_per_s"] = med
            total = sum(v or 0 for v in med.values())
            shown = ", ".join(f"{k} {v:.1f}" for k, v in med.items() if v)
            print(f"  {path:6} {n:2}: {total:.1f}/s ({shown})")
    others = summary([r["cpu_others_cores"] for r in rows if "cpu_others_cores" in r])
    print(f"CPU of everything else on the machine during the windows (cores): {_cell(others)}")
    failed = [r for r in raw["cpu"] if "error" in r]
    not_playing = [r for r in rows if r.get("views_not_playing")]
    print(f"failed measurements: {len(failed)}; measurements with a view that did not play: "
          f"{len(not_playing)}")  # fmt: skip

    joins = [r for r in raw["join"] if "error" not in r]
    for key in ("from_cell_s", "from_video_s"):
        table["join"][key] = summary([r[key] for r in joins])
    for key in ("watch_at", "offer_at", "live_at", "broadcast_live_for"):
        table["join"]["kernel_" + key] = summary(
            [r["kernel"][key] for r in joins if r["kernel"].get(key) is not None]
        )
    print(
        f"\n2. Time to first frame, a view joining a live broadcast (s), median [min..max] of "
        f"{len(joins)} joins ({len(raw['join']) - len(joins)} failed); goal <= 1 s"
    )
    print(f"  cell start -> first frame presented (kernel time.time() mapped to page clock): "
          f"{_cell(table['join']['from_cell_s'])}")  # fmt: skip
    print(f"  <video> inserted -> first frame presented (page clock):                     "
          f"{_cell(table['join']['from_video_s'])}")  # fmt: skip
    print(f"  kernel clock from cell start: watch arrives {_cell(table['join']['kernel_watch_at'])}"
          f", offer relayed {_cell(table['join']['kernel_offer_at'])}, webrtcup "
          f"{_cell(table['join']['kernel_live_at'])}; broadcast live for "
          f"{_cell(table['join']['kernel_broadcast_live_for'], '{:.1f}')} s at join")  # fmt: skip

    print("\n3. Janus sessions / handles left after N open/close cycles (admin API; the live "
          "broadcast's own 1 session + 1 publisher handle excluded); goal 0")  # fmt: skip
    print(f"  {'trigger':34}{'N':>5} {'s/cycle':>8} {'sessions left':>14} {'handles left':>13}"
          f" {'failed':>7} {'kernel peers':>13} {'page peers':>11}")  # fmt: skip
    for name, got in raw["teardown"].items():
        if name in ("base",) or name.startswith("end") or not isinstance(got, dict):
            continue
        if "cycles" not in got:
            continue
        left_s = got["sessions"] - 1
        left_h = got["handles"] - got["expected_handles"]
        table["teardown"][name] = {"sessions_left": left_s, "handles_left": left_h}
        note = " (+1 handle: the last run's live view)" if got["expected_handles"] == 2 else ""
        print(
            f"  {name:34}{got['cycles']:>5} {got['seconds_per_cycle']:>8.2f} {left_s:>14} "
            f"{left_h:>13} {len(got['failures']):>7} {got['kernel_peers']:>13} "
            f"{got['page_peers']:>11}{note}"
        )
    end = raw["teardown"].get("end (live.close(); janus.close())")
    if end:
        print(f"  after live.close(); janus.close(): {end['sessions']} sessions, "
              f"{end['handles']} handles (goal 0)")  # fmt: skip
    if "error" in raw["teardown"]:
        print(f"  row 3 stopped early: {raw['teardown']['error'][:300]}")
    print("\n4. Room through Janus (upload per member, 6 members): benchmarks/janus_room.py")
    return table


# -------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 reps, short windows, few cycles")
    parser.add_argument("--reps", type=int, default=None, help="CPU repetitions (3; quick 2)")
    parser.add_argument("--window", type=float, default=None, help="CPU window s (6; quick 3)")
    parser.add_argument("--warm", type=float, default=None, help="warm-up s (4; quick 2)")
    parser.add_argument("--joins", type=int, default=None, help="join repetitions (8; quick 4)")
    parser.add_argument("--view-cycles", type=int, default=None, help="(100; quick 10)")
    parser.add_argument("--tab-cycles", type=int, default=None, help="(10; quick 3)")
    parser.add_argument("--kernel-cycles", type=int, default=None, help="(100; quick 20)")
    parser.add_argument("--skip", default="", help="comma list of rows to skip: cpu,join,teardown")
    args = parser.parse_args()
    q = args.quick
    defaults = {"reps": (3, 2), "window": (6.0, 3.0), "warm": (4.0, 2.0), "joins": (8, 4),
                "view_cycles": (100, 10), "tab_cycles": (10, 3),
                "kernel_cycles": (100, 20)}  # fmt: skip
    for key, (full, quick) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if q else full)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    from tests.lab import janus as jl

    why = jl.janus_missing()
    if why or not h.chromium_available():
        print(f"cannot run: {why or 'no Debian chromium'}", file=sys.stderr)
        return 2

    t_start = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t_start:6.0f} s] {msg}", flush=True)

    info: dict[str, Any] = {"machine": machine(), "versions": versions(), "args": vars(args)}
    raw: dict[str, Any] = {"cpu": [], "join": [], "teardown": {}}
    base = Path(tempfile.mkdtemp(prefix="nbrtc-bench-janus-"))
    log(f"starting the lab, Janus, JupyterLab and Chromium (logs in {base})")
    b = Bench(base)
    stopped = None
    try:
        info["janus"] = {k: b.server.info().get(k) for k in ("version_string", "server_name")}
        comm = Path(f"/proc/{b.janus_pid}/comm").read_text().strip()
        info["pids"] = {"kernel": b.kernel_pid, "janus": b.janus_pid, "janus_comm": comm}
        if "cpu" not in skip:
            log("row 1: kernel CPU, direct vs Janus")
            raw["cpu"] = row_cpu(b, args.reps, args.warm, args.window, log, raw["cpu"])
        live_since = start_live(b)
        if "join" not in skip:
            log("row 2: a viewer joining a live broadcast")
            raw["join"] = row_join(b, args.joins, live_since, log)
        if "teardown" not in skip:
            log("row 3: teardown cycles")
            try:
                row_teardown(
                    b, args.view_cycles, args.tab_cycles, args.kernel_cycles, log, raw["teardown"]
                )
            except Exception as exc:  # what was counted is still reported
                traceback.print_exc()
                raw["teardown"]["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a dead kernel, a failed start: report what was measured
        traceback.print_exc()
        stopped = f"{type(exc).__name__}: {exc}"[:1000]
        info["stopped_early"] = stopped
    finally:
        with contextlib.suppress(Exception):
            info["janus_log_tail"] = b.server.log_tail(30) if hasattr(b.server, "log_tail") else ""
        b.close()
    info["run_seconds"] = time.monotonic() - t_start
    table = report(raw, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({**info, "summary": table, "raw": raw}, indent=1, default=str) + "\n"
    )
    if stopped:
        print(f"\nTHE RUN STOPPED EARLY: {stopped} (see dmesg for a crash of the kernel)")
    print(f"\nrun time {info['run_seconds']:.0f} s; wrote {RESULTS}")
    failed = sum(1 for r in raw["cpu"] + raw["join"] if "error" in r)
    failed += "error" in raw["teardown"] or stopped is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
