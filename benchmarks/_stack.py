"""Start and stop the real stack the benchmarks run in, and read clocks and processes.

:class:`Stack` starts, in this order: JupyterLab (``tests/lab/jupyter.py``), the floor
server (``floor/server.py``, its own process) and Debian Chromium through Playwright with
the e2e suite's flags. One browser context holds both pages (the notebook and the floor
page) with the same init scripts: the stamped canvas camera, the e2e counting script
(``tests/e2e/counters.js``) and a ``<video>`` watcher. Everything it starts is stopped by
PID in :meth:`Stack.close`.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._js import STAMP_CAMERA_JS, VIDEO_WATCH_JS  # noqa: E402
from benchmarks._lab import harness as h  # noqa: E402

FLOOR_DIR = Path(__file__).resolve().parent / "floor"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# ----------------------------------------------------------------------- processes
def cpu_clock_id(pid: int) -> int:
    """The POSIX CPU-time clock of process ``pid``, as ``clock_getcpuclockid`` makes it on
    Linux: ``(~pid << 3) | CPUCLOCK_SCHED``. Read with ``time.clock_gettime``: the
    nanosecond run time of all the process's threads, ended ones included. (Linux refuses
    the per-thread clocks of another process, EINVAL: per-thread figures come from
    :func:`thread_cpu_seconds`.)"""
    return (~pid << 3) | 2


def proc_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by process ``pid`` (all its threads, ended ones too).

    From the kernel's scheduler clock (:func:`cpu_clock_id`), not /proc/PID/stat: stat
    counts whole clock ticks (10 ms), which over a 3 s window is a step of 0.0033 s/s,
    the size of the differences the cost rows look for. /proc is the fallback where the
    clock cannot be read."""
    try:
        return time.clock_gettime(cpu_clock_id(pid))
    except OSError:
        raw = Path(f"/proc/{pid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds used so far by each live thread of ``pid``, by TID.

    From /proc/PID/task/TID/schedstat (the scheduler's nanosecond run time, what
    :func:`proc_cpu_seconds` sums for the process), else from the thread's stat ticks
    (10 ms steps: a 10 s window then reads to 1 ms/s). A thread that ends between the
    listing and the read is left out."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = int((task / "schedstat").read_text().split()[0]) / 1e9
            continue
        except (OSError, ValueError, IndexError):
            pass
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = (task / "stat").read_text()
            fields = raw[raw.rindex(")") + 2 :].split()
            out[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def thread_names(pid: int, python_names: dict[int, str]) -> dict[int, str]:
    """TID -> name for each live thread of ``pid``: the Python thread's name from
    ``python_names`` (by native id; the OS names of Python threads are all "python"), else
    "native:" + the OS thread name (comm)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            tid = int(task.name)
            out[tid] = python_names.get(tid) or "native:" + (task / "comm").read_text().strip()
    return out


def proc_rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB, from /proc/PID/statm."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE / 2**20


def cpu_rate(pid: int, seconds: float) -> float:
    """CPU seconds per wall second used by ``pid`` over the next ``seconds``."""
    c0, t0 = proc_cpu_seconds(pid), time.monotonic()
    h.sample_for(lambda: None, seconds, interval=0.25)  # the window IS the measurement
    c1, t1 = proc_cpu_seconds(pid), time.monotonic()
    return (c1 - c0) / (t1 - t0)


# --------------------------------------------------------------------------- clocks
def clock_base(page: Any, samples: int = 15) -> tuple[float, float]:
    """``epoch_ms - performance.now()`` for ``page`` and its uncertainty (ms).

    Cristian's method: this process reads ``time.time()`` before and after asking the
    page for ``performance.now()`` (a Playwright round trip); the page's reading is
    assumed to sit at the midpoint. The sample with the shortest round trip is kept;
    the uncertainty is half that round trip. The kernel and the floor server read the
    same system clock (``time.time()``) as this process.
    """
    best: tuple[float, float] | None = None
    for _ in range(samples):
        t0 = time.time() * 1000
        p = page.evaluate("performance.now()")
        t1 = time.time() * 1000
        rtt = t1 - t0
        if best is None or rtt < best[1] * 2:
            best = ((t0 + t1) / 2 - p, rtt / 2)
    assert best is not None
    return best


# ------------------------------------------------------------------------- versions
def versions() -> dict[str, str]:
    """nbrtc, aiortc, av, aiohttp, python and Chromium versions."""
    from importlib.metadata import version

    out = {"python": sys.version.split()[0]}
    for name in ("nbrtc", "aiortc", "av", "aiohttp", "jupyterlab", "ipykernel"):
        try:
            out[name] = version(name)
        except Exception:
            out[name] = "?"
    try:
        out["chromium"] = subprocess.run(
            [h.CHROMIUM, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        out["chromium"] = f"? ({exc})"
    return out


def machine() -> dict[str, Any]:
    """Platform, CPU model and count, memory, load average at start."""
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, IndexError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":")[1].strip()
    return {
        "platform": platform.platform(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "memory": mem,
        "loadavg_at_start": os.getloadavg(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }


# ---------------------------------------------------------------------------- stack
@dataclass
class Stack:
    """The running pieces; build with :func:`start_stack`, stop with :meth:`close`."""

    base: Path
    server: h.JupyterServer
    floor_proc: subprocess.Popen
    floor_url: str
    pw: Any = field(repr=False)
    browser: Any = field(repr=False)
    context: Any = field(repr=False)

    def new_page(self) -> Any:
        return self.context.new_page()

    def floor_get(self, path: str) -> Any:
        with urllib.request.urlopen(self.floor_url + path.lstrip("/"), timeout=10) as r:
            return json.loads(r.read())

    def close(self) -> None:
        """Close Chromium, then the floor server and JupyterLab (by PID)."""
        for step in (self.context.close, self.browser.close, self.pw.stop):
            with contextlib.suppress(Exception):
                step()
        if self.floor_proc.poll() is None:
            self.floor_proc.send_signal(signal.SIGINT)
            try:
                self.floor_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.floor_proc.kill()
                self.floor_proc.wait(5)
        self.server.stop()


def start_stack() -> Stack:
    """JupyterLab + floor server + Chromium, each waited for until it answers."""
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="nbrtc-bench-"))
    server = h.start_jupyter_server(base, base / "jupyter.log")
    floor_proc = None
    pw = None
    try:
        port = h._free_port()
        floor_log = open(base / "floor.log", "ab")  # noqa: SIM115 - the child writes to it
        floor_proc = subprocess.Popen(
            [sys.executable, str(FLOOR_DIR / "server.py"), "--port", str(port)],
            stdout=floor_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        floor_log.close()
        floor_url = f"http://127.0.0.1:{port}/"

        def floor_up() -> bool:
            if floor_proc.poll() is not None:
                raise RuntimeError(f"floor server exited: {(base / 'floor.log').read_text()}")
            with urllib.request.urlopen(floor_url, timeout=2):
                return True

        h.wait_for(floor_up, 30, 0.1, "floor server answers", ignore=(OSError,))
        pw = sync_playwright().start()
        browser = pw.chromium.launch(
            executable_path=h.CHROMIUM, headless=True, args=h.CHROMIUM_ARGS
        )
        context = browser.new_context(viewport=h.VIEWPORT)
        for origin in (server.url, floor_url):
            context.grant_permissions(["camera", "microphone"], origin=origin.rstrip("/"))
        # Order matters: the counting script must wrap the canvas camera, not the reverse.
        context.add_init_script(STAMP_CAMERA_JS)
        context.add_init_script(path=str(h.COUNTERS_JS))
        context.add_init_script(VIDEO_WATCH_JS)
    except BaseException:
        if pw is not None:
            with contextlib.suppress(Exception):
                pw.stop()
        if floor_proc is not None and floor_proc.poll() is None:
            floor_proc.kill()
            floor_proc.wait(5)
        server.stop()
        raise
    return Stack(base, server, floor_proc, floor_url, pw, browser, context)


# -------------------------------------------------------------------------- summary
def summary(values: list[float]) -> dict[str, Any]:
    """Median, min, max and the raw values (None entries are failures, counted)."""
    ok = [v for v in values if v is not None]
    if not ok:
        return {"median": None, "min": None, "max": None, "n": 0, "failed": len(values)}
    return {
        "median": round(statistics.median(ok), 4),
        "min": round(min(ok), 4),
        "max": round(max(ok), 4),
        "n": len(ok),
        "failed": len(values) - len(ok),
        "values": [None if v is None else round(v, 4) for v in values],
    }


def fmt_summary(s: dict[str, Any]) -> str:
    """A :func:`summary` as ``median [min..max]``, with as many decimals as its size needs."""
    if not s or s.get("median") is None:
        return "n/a"
    m, lo, hi = s["median"], s["min"], s["max"]
    d = 3 if abs(m) < 1 else 2 if abs(m) < 10 else 1 if abs(m) < 100 else 0
    return f"{m:.{d}f} [{lo:.{d}f}..{hi:.{d}f}]"


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0..1) of ``values``; None when empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]
