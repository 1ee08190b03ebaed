"""CPU of the receive-side bitrate estimate per packet: aiortc's own against nbrtc's
(``nbrtc._transport.bitrate``), on the same packets (issue 14).

    python benchmarks/bitrate.py [--seconds 60] [--packets-per-frame 3] [--reps 7]

Feeds each estimator ``--seconds`` of a 30 fps video (each frame ``--packets-per-frame``
packets, a millisecond apart, with a few ms of arrival jitter) and prints the median
[min..max] microseconds per packet and the ratio, plus what that is in milliseconds of
CPU per second of one feed. Pure Python, one thread: no browser, no kernel.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def packets(seconds: float, per_frame: int) -> list[tuple[int, int, int, int]]:
    rnd = random.Random(1)
    out = []
    for f in range(int(seconds * 30)):
        sent = 1000 + f * 1000 / 30
        for i in range(per_frame):
            arrival = int(sent + i + 20 + rnd.uniform(0, 3))
            out.append((arrival, int((sent + i) * 262.144) & 0xFFFFFF, 1100, 1111))
    return out


def cost(make, pkts) -> float:
    """Seconds to feed ``pkts`` to a new estimator from ``make``."""
    est = make()
    add = est.add
    t = time.perf_counter()
    for arrival, abs_send, size, ssrc in pkts:
        add(arrival_time_ms=arrival, abs_send_time=abs_send, payload_size=size, ssrc=ssrc)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--packets-per-frame", type=int, default=3)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()

    from aiortc import rate, rtcrtpreceiver

    from nbrtc._transport import bitrate

    if not bitrate.install():
        print("nbrtc's estimate is unavailable with this aiortc (see the import warning)")
        return 1
    pkts = packets(args.seconds, args.packets_per_frame)
    rows = {"aiortc": rate.RemoteBitrateEstimator, "nbrtc": rtcrtpreceiver.RemoteBitrateEstimator}
    us: dict[str, list[float]] = {k: [] for k in rows}
    for _ in range(args.reps):  # interleaved: both see the same moments of a noisy machine
        for name, make in rows.items():
            us[name].append(cost(make, pkts) / len(pkts) * 1e6)
    per_s = 30 * args.packets_per_frame
    print(f"{len(pkts)} packets ({per_s}/s of one feed), {args.reps} repetitions")
    for name, vals in us.items():
        med = statistics.median(vals)
        print(
            f"  {name:<7} {med:6.2f} us/packet [{min(vals):.2f}..{max(vals):.2f}]"
            f"  = {med * per_s / 1000:.2f} ms of CPU per second of a feed"
        )
    print(
        f"  nbrtc / aiortc: {statistics.median(us['nbrtc']) / statistics.median(us['aiortc']):.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
