"""The kernel side's receive cost against bare aiortc's, without a browser: both at once.

    python benchmarks/kernel_cost.py                  # 1 and 4 feeds, 5 rounds (~4 min)
    python benchmarks/kernel_cost.py --feeds 1 --rounds 9 --seconds 20

The stack's cost rows (``run.py --only cost``) compare whole processes fed by Chromium,
one after the other; there the page's encoder (60 to 125 packets a second for the same
camera) and the shared machine move a 3 s window by +-20 %, which hides effects of a few
per cent. Here each round starts two processes AT ONCE, so the machine's load weighs on
both alike:

* ``nbrtc``: N ``Camera`` widgets live in a ``tests/kernel/_browser.FakeBrowser`` (the
  test suite's page: aiortc peers shaped like the real page's, the control channel open,
  the heartbeat on it), i.e. nbrtc's whole kernel side: signaling, the media loop (uvloop
  where installed), the decoder hand-off, liveness, stats and the camera's frame slot;
* ``bare``: N aiortc receivers on an event loop thread, fed by the same sender track
  (``CountingTrack``: 320x240 at 30 fps) from aiortc senders on another thread, each
  received frame counted and dropped, as ``benchmarks/floor/server.py`` does.

Each process reads the CPU time of its receiving threads only (the media loop and the
decoder threads; the sending page's threads are the same code on both sides and are left
out) from ``/proc/self/task/TID/schedstat`` over one window, and the frames they received.
The figure is CPU ms per frame received; the ratio nbrtc/bare is taken per round and
reported as median [min..max]. No ipykernel and no comm here: what the stack's rows add
on top (ipykernel's threads, the Jupyter server) is not nbrtc's receive path.
nbrtc's media loop is uvloop's where installed (``nbrtc.config.media_loop``); with
``NBRTC_MEDIA_LOOP=asyncio`` in the environment both sides run asyncio's loop, which
leaves nbrtc's own work per frame as the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._stack import fmt_summary, summary, thread_cpu_seconds  # noqa: E402

MODES = ("nbrtc", "bare")


def thread_cpu(tids: list[int]) -> float:
    """CPU seconds the threads ``tids`` of this process ran so far (ended ones: 0)."""
    ran = thread_cpu_seconds(os.getpid())
    return sum(ran.get(tid, 0.0) for tid in tids)


def _nbrtc(n: int) -> tuple[Callable[[], int], Callable[[str], bool], Callable[[], None]]:
    """``n`` live Cameras fed by the test suite's fake page; (frames, receiving thread?,
    close)."""
    from tests.kernel._browser import FakeBrowser

    import nbrtc

    page = FakeBrowser()
    cams = []
    for _ in range(n):
        cam = nbrtc.Camera(width=320, height=240, frame_rate=30)
        page.attach(cam)
        page.start(cam)
        cams.append(cam)
    for cam in cams:
        cam.wait("live", timeout=30)

    def close() -> None:
        for cam in cams:
            cam.close()
        page.close()

    return (
        lambda: sum(c.frame_count for c in cams),
        lambda name: name == "nbrtc-media" or name.startswith("video-decoder"),
        close,
    )


def _bare(n: int) -> tuple[Callable[[], int], Callable[[str], bool], Callable[[], None]]:
    """``n`` bare aiortc receivers (their own loop thread) fed by aiortc senders."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
    from tests.kernel._browser import CountingTrack, wait_for

    def loop_thread(name: str) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True, name=name).start()
        return loop

    sender_loop, media_loop = loop_thread("bare-sender"), loop_thread("bare-media")
    frames = [0]
    pcs: list[tuple[Any, asyncio.AbstractEventLoop]] = []

    def run(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    async def consume(track: MediaStreamTrack) -> None:
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            frames[0] += 1

    async def sender() -> Any:
        pc = RTCPeerConnection()
        pc.addTransceiver(CountingTrack(), direction="sendrecv")
        pc.createDataChannel("nbrtc")  # like the page: a data channel with the media
        await pc.setLocalDescription(await pc.createOffer())
        return pc

    async def receiver(sdp: str) -> Any:
        pc = RTCPeerConnection()
        pc.on("track", lambda track: asyncio.ensure_future(consume(track)))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc

    async def answered(pc: Any, sdp: str) -> None:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    for _ in range(n):
        s = run(sender_loop, sender())
        r = run(media_loop, receiver(s.localDescription.sdp))
        run(sender_loop, answered(s, r.localDescription.sdp))
        pcs += [(s, sender_loop), (r, media_loop)]
    wait_for(lambda: frames[0] >= n, 30, what=f"{n} bare receivers' first frames")

    def close() -> None:
        for pc, loop in pcs:
            run(loop, pc.close())

    return (
        lambda: frames[0],
        lambda name: name == "bare-media" or name.startswith("video-decoder"),
        close,
    )


def child(mode: str, n: int, seconds: float, warm: float) -> dict[str, Any]:
    """One process's measurement (run in a subprocess by :func:`main`)."""
    import logging

    logging.getLogger("aioice").setLevel(logging.WARNING)
    frames, receiving, close = (_nbrtc if mode == "nbrtc" else _bare)(n)
    try:
        time.sleep(warm)  # ramp-up (the senders' bitrate, the decoders) excluded on purpose
        tids = [t.native_id for t in threading.enumerate() if receiving(t.name) and t.native_id]
        c0, f0, t0 = thread_cpu(tids), frames(), time.monotonic()
        time.sleep(seconds)  # the measurement window
        c1, f1, t1 = thread_cpu(tids), frames(), time.monotonic()
    finally:
        close()
    got = f1 - f0
    return {
        "mode": mode,
        "feeds": n,
        "threads": len(tids),
        "cpu_s_per_s": (c1 - c0) / (t1 - t0),
        "fps": got / (t1 - t0),
        "ms_per_frame": 1000 * (c1 - c0) / got if got else None,
    }


def round_of(n: int, seconds: float, warm: float) -> dict[str, dict[str, Any]]:
    """Both modes at once, each in its own fresh process; their results by mode."""
    args = (n, seconds, warm)
    procs = {
        mode: subprocess.Popen(
            # as a module from the repository: with the script's folder first on the path,
            # benchmarks/comm.py would shadow the ``comm`` package ipywidgets imports
            [sys.executable, "-m", "benchmarks.kernel_cost", "--child", mode, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for mode in MODES
    }
    out: dict[str, dict[str, Any]] = {}
    for mode, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=seconds + warm + 120)
        if proc.returncode != 0 or not stdout.strip():
            raise RuntimeError(f"{mode} process failed ({proc.returncode}): {stderr[-2000:]}")
        out[mode] = json.loads(stdout.strip().splitlines()[-1])
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, n, seconds, warm = (
            sys.argv[2],
            int(sys.argv[3]),
            float(sys.argv[4]),
            float(sys.argv[5]),
        )
        print(json.dumps(child(mode, n, seconds, warm)), flush=True)
        os._exit(0)  # leftover daemon threads of the fake page must not hold the exit
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", default="1,4", help="feed counts, comma-separated (default 1,4)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per feed count (default 5)")
    ap.add_argument("--seconds", type=float, default=15.0, help="window per round (default 15)")
    ap.add_argument("--warm", type=float, default=4.0, help="ramp-up before it (default 4)")
    ap.add_argument("--out", type=Path, default=None, help="also write every round as JSON")
    args = ap.parse_args()
    try:
        feeds = [int(f) for f in args.feeds.split(",") if f.strip()]
    except ValueError:
        ap.error(f"--feeds takes comma-separated counts; got {args.feeds!r}")
    if not feeds or min(feeds) < 1 or args.rounds < 1 or args.seconds <= 0 or args.warm < 0:
        ap.error("--feeds >= 1, --rounds >= 1, --seconds > 0 and --warm >= 0, please")
    rounds: dict[int, list[dict[str, dict[str, Any]]]] = {}
    for n in feeds:
        rounds[n] = []
        for i in range(args.rounds):
            got = round_of(n, args.seconds, args.warm)
            rounds[n].append(got)
            nb, bare = got["nbrtc"], got["bare"]
            print(
                f"{n:2} feeds, round {i + 1}: ms/frame nbrtc {nb['ms_per_frame']:.3f} "
                f"bare {bare['ms_per_frame']:.3f}; fps {nb['fps']:.1f} / {bare['fps']:.1f}",
                flush=True,
            )
    print()
    print(f"kernel receive cost, CPU ms per frame ({args.rounds} rounds of {args.seconds:g} s, "
          "both processes at once), median [min..max]")  # fmt: skip
    print(f"{'feeds':>5}  {'bare aiortc':>24}  {'nbrtc':>24}  {'nbrtc / bare':>24}")
    for n, rs in rounds.items():
        nb_ms = [r["nbrtc"]["ms_per_frame"] for r in rs if r["nbrtc"]["ms_per_frame"]]
        bare_ms = [r["bare"]["ms_per_frame"] for r in rs if r["bare"]["ms_per_frame"]]
        ratio = [
            r["nbrtc"]["ms_per_frame"] / r["bare"]["ms_per_frame"]
            for r in rs
            if r["nbrtc"]["ms_per_frame"] and r["bare"]["ms_per_frame"]
        ]
        cols = [fmt_summary(summary(v)) for v in (bare_ms, nb_ms, ratio)]
        print(f"{n:>5}  {cols[0]:>24}  {cols[1]:>24}  {cols[2]:>24}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({str(n): rs for n, rs in rounds.items()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
