"""Where the kernel's CPU goes with one 640x480 camera and ``process(identity)``, next to
the bare aiortc echo (issue 14): py-spy samples each process for the same window.

    .venv/bin/pip install py-spy
    python benchmarks/profile_process.py [--seconds 10] [--native] [--out DIR] [--feeds N] [--cpu]

Starts the benchmark stack (``_stack.start_stack``: JupyterLab, the floor server,
Chromium), runs the nbrtc notebook's camera cell with ``cam.process(lambda x: x)``, warms
up, then records the kernel with ``py-spy record --format raw --threads`` (collapsed
stacks, one line per distinct stack with its sample count); then the same for an echo
session of the floor server. With ``--feeds N``: N plain 320x240 cameras (no processing)
against N receive sessions of the floor, the cost rows of ``run.py``. Prints the top frames
(self and inclusive) and the share of samples per thread for each, and leaves the raw files
in ``--out`` (default ``benchmarks/results/profile/``) for flame graphs (``speedscope``,
``flamegraph.pl``).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._lab import harness as h
from benchmarks._stack import start_stack, thread_cpu_seconds, thread_names
from benchmarks.measure_floor import Floor
from benchmarks.measure_nbrtc import C_CAMERA, C_CAMS, Nbrtc


def record(pid: int, seconds: float, out: Path, native: bool, rate: int = 100) -> None:
    """py-spy on ``pid`` for ``seconds`` (``rate`` Hz, not pausing the process) into ``out``."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", str(rate)]
    cmd += ["--format", "raw", "--threads", "--nonblocking", "-o", str(out)]
    if native:
        cmd.append("--native")
    subprocess.run(cmd, check=True, capture_output=True, timeout=seconds + 60)


def _thread_names(pid: int) -> dict[int, str]:
    """Python thread names of ``pid`` by native thread id (``py-spy dump``: the OS names
    of Python threads are all "python")."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    dump = subprocess.run(
        [exe, "dump", "--pid", str(pid), "--nonblocking"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {int(m[1]): m[2] for m in re.finditer(r'^Thread (\d+) \(\w+\): "(.*)"$', dump, re.M)}


def _thread_seconds(pid: int, names: dict[int, str]) -> dict[str, float]:
    """CPU seconds used so far per thread family of ``pid`` (live threads)."""
    out: collections.Counter[str] = collections.Counter()
    for tid, seconds in thread_cpu_seconds(pid).items():
        out[_family(names.get(tid, str(tid)))] += seconds
    return out


def _family(name: str) -> str:
    """A thread's name without its instance part (``nbrtc-codec_0`` -> ``nbrtc-codec``)."""
    if name.startswith("subshell-"):
        return "subshell"
    return name.rstrip("0123456789").rstrip("_-") or name


def thread_cpu(pid: int, seconds: float, out: Path) -> None:
    """CPU seconds per second of each thread family of ``pid`` over ``seconds`` (the
    scheduler's run time per thread: exact, unlike sampling), written to ``out`` as
    ``name rate`` lines."""
    names = thread_names(pid, _thread_names(pid))
    a = _thread_seconds(pid, names)
    t0 = time.monotonic()
    time.sleep(seconds)  # the measurement window itself
    b = _thread_seconds(pid, names)
    span = time.monotonic() - t0
    rates = {k: (b[k] - a.get(k, 0.0)) / span for k in b}
    total = sum(rates.values())
    lines = [f"{k} {v:.4f}" for k, v in sorted(rates.items(), key=lambda kv: -kv[1]) if v > 0]
    out.write_text("\n".join([f"TOTAL {total:.4f}", *lines]) + "\n")


def report(path: Path, top: int = 25) -> str:
    """The threads' shares and the top self/inclusive frames of a raw py-spy file (or the
    per-thread CPU lines of :func:`thread_cpu`, as they are)."""
    if path.read_text().startswith("TOTAL"):
        return f"{path.name}: CPU s/s per thread\n" + path.read_text()
    threads: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        threads[frames[0]] += n
        own[frames[-1]] += n
        for f in set(frames[1:]):
            incl[f] += n
    lines = [f"{path.name}: {total} samples (active only)"]
    lines += [f"  thread {n:6d} {100 * n / total:5.1f}%  {t}" for t, n in threads.most_common()]
    lines.append("  self:")
    lines += [f"    {n:6d} {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  inclusive:")
    lines += [f"    {n:6d} {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warm", type=float, default=3.0)
    ap.add_argument("--native", action="store_true", help="C frames too (swscale, libvpx)")
    ap.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "profile"
    )
    ap.add_argument("--feeds", type=int, default=0, help="N plain 320x240 cameras instead")
    ap.add_argument(
        "--cpu", action="store_true", help="exact CPU s/s per thread (/proc) instead of py-spy"
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stack = start_stack()
    try:
        nb = Nbrtc(stack)
        floor = Floor(stack)
        if args.feeds:
            feeds(nb, floor, args)
        else:
            processing(nb, floor, args)
    finally:
        stack.close()
    for name in ("nbrtc.txt", "floor.txt"):
        print(report(args.out / name))
        print()
    return 0


def measure(pid: int, args: argparse.Namespace, out: Path) -> None:
    if args.cpu:
        thread_cpu(pid, args.seconds, out)
    else:
        record(pid, args.seconds, out, args.native, args.rate)


def feeds(nb: Nbrtc, floor: Floor, args: argparse.Namespace) -> None:
    """N plain cameras in the kernel, then N receive sessions of the floor, recorded alike."""
    nb.k(f"NCAM = {args.feeds}")
    nb.run(C_CAMS, 320, 240)
    try:
        h.wait_for(lambda: nb.k("all(c.state == 'live' for c in cams)") == "True", 60)
        h.sample_for(lambda: None, args.warm, 0.25)
        measure(nb.pid, args, args.out / "nbrtc.txt")
    finally:
        nb.k("for c in cams: c.close()")
    sids = [floor.start("recv", 320, 240)[0] for _ in range(args.feeds)]
    try:
        for sid in sids:
            floor.wait_frames(sid)
        h.sample_for(lambda: None, args.warm, 0.25)
        measure(floor.pid, args, args.out / "floor.txt")
    finally:
        for sid in sids:
            floor.stop(sid)


def processing(nb: Nbrtc, floor: Floor, args: argparse.Namespace) -> None:
    """One 640x480 camera with process(identity), then one echo session of the floor."""
    nb.run(C_CAMERA)
    try:
        nb.wait_live("cam")
        nb.k("cam.process(lambda x: x)")
        root = nb.cell(C_CAMERA).locator(".nbrtc-root").first
        h.wait_for(lambda: root.get_attribute("data-showing") == "processed", 20)
        h.sample_for(lambda: None, args.warm, 0.25)  # ramp-up excluded on purpose
        measure(nb.pid, args, args.out / "nbrtc.txt")
        print(nb.k("print(cam.process_stats())"))
    finally:
        nb.k("cam.close()")
    sid, _ = floor.start("echo", 640, 480)
    try:
        v = floor.video(sid)
        h.wait_for(lambda: v.evaluate("(v) => v.videoWidth") > 0, 20)
        h.sample_for(lambda: None, args.warm, 0.25)
        measure(floor.pid, args, args.out / "floor.txt")
    finally:
        floor.stop(sid)


if __name__ == "__main__":
    raise SystemExit(main())
