"""Measurement loops shared by the floor and nbrtc benchmarks (stack-agnostic)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks import _js
from benchmarks._lab import harness as h
from benchmarks._stack import cpu_rate, percentile, proc_cpu_seconds, proc_rss_mb

#: seconds between polls while a first frame is timed, on both stacks: each poll is work
#: for the peer's process (a kernel request, whose status messages the page handles too;
#: an HTTP request to the echo server) in the very window measured. Every peer notes its
#: own first frame, so a slow poll changes nothing measured but that load (a poll every
#: 50 ms made the kernel's answer 18 ms instead of 10, medians of 12 alternating runs).
TTFF_POLL = 0.25


def rate_windows(
    read: Callable[[], tuple[float, float]], windows: int, seconds: float
) -> list[dict[str, float]]:
    """Per window of ``seconds``: rates of two counters ``read()`` returns (a, b) per s.

    ``read`` returns e.g. (frames received in Python, frames the browser sent). Windows
    follow each other; each is one repetition.
    """
    out = []
    a0, b0 = read()
    t0 = time.monotonic()
    for _ in range(windows):
        h.sample_for(lambda: None, seconds, interval=0.25)  # the window IS the measurement
        a1, b1 = read()
        t1 = time.monotonic()
        span = t1 - t0
        out.append(
            {
                "a_fps": (a1 - a0) / span,
                "b_fps": (b1 - b0) / span,
                "ratio": (a1 - a0) / (b1 - b0) if b1 > b0 else 0.0,
            }
        )
        a0, b0, t0 = a1, b1, t1
    return out


def latency_stats(samples: list[float]) -> dict[str, float | int | None]:
    """p50, p95, min and count of latency samples (ms); wrapped/absurd ones dropped."""
    ok = [s for s in samples if 0 <= s < 5000]
    return {
        "p50": percentile(ok, 0.5),
        "p95": percentile(ok, 0.95),
        "min": min(ok) if ok else None,
        "n": len(ok),
        "dropped_samples": len(samples) - len(ok),
    }


def cost_windows(
    aligned: Callable[[], tuple[float, float]],
    pid: int,
    streams: int,
    idle: float,
    windows: int,
    seconds: float,
    packets: Callable[[], float] | None = None,
) -> list[dict[str, float | None]]:
    """Per window: CPU seconds per second of process ``pid`` (minus ``idle``) per stream,
    its RSS, and the frames received / sent per second that ``aligned()`` counts; with
    ``packets`` (the RTP packets the sending page has sent so far) also the packets a
    second and the CPU per packet: the page's encoder sends between about 60 and 125
    packets a second for the same camera from one window to the next, and the receiving
    process's CPU follows them, so per packet the two stacks compare more tightly."""
    out: list[dict[str, float | None]] = []
    for _ in range(windows):
        t0 = time.monotonic()
        f0, s0 = aligned()
        p0 = packets() if packets else 0.0
        busy = cpu_rate(pid, seconds)
        p1 = packets() if packets else 0.0
        f1, s1 = aligned()
        span = time.monotonic() - t0
        per_packet = None
        if packets and p1 > p0:
            per_packet = 1e6 * (busy - idle) * span / (p1 - p0)
        out.append(
            {
                "packets_total_per_s": (p1 - p0) / span if packets else None,
                "cpu_us_per_packet": per_packet,
                "streams": streams,
                "cpu_idle": idle,
                "cpu_busy": busy,
                "cpu_per_stream": (busy - idle) / streams,
                # the same per frame received: fair when one side gets fewer frames
                "cpu_ms_per_frame": (1000 * (busy - idle) * span / (f1 - f0) if f1 > f0 else None),
                "rss_mb": proc_rss_mb(pid),
                "fps_total": (f1 - f0) / span,
                "sent_fps_total": (s1 - s0) / span,
            }
        )
    return out


def echo_window(page: Any, video: Any, pid: int, seconds: float) -> dict[str, Any]:
    """One window of an echo (a camera sent back to the page it came from), ``seconds`` long:
    CPU s/s of process ``pid`` (the peer's), frames the page presented per s of ``video``
    (its echoed ``<video>`` element locator) and the round trip of every presented frame
    (its stamp decoded in the page, ``_js.READ_STAMPS_JS``, which also paces the window)."""
    handle = video.element_handle()
    c0, t0 = proc_cpu_seconds(pid), time.monotonic()
    p0, r0 = video.evaluate(_js.PRESENTED_AT_JS)
    rt = page.evaluate(_js.READ_STAMPS_JS, [handle, seconds * 1000])
    p1, r1 = video.evaluate(_js.PRESENTED_AT_JS)
    c1, t1 = proc_cpu_seconds(pid), time.monotonic()
    span = t1 - t0
    # Frames per second of the page's own clock between its two readings: the driver's
    # span also holds one evaluation's round trip (its clock is read before the first
    # reading is made and after the last one returns), which undercounted the rate by
    # fps x round trip / span, more on JupyterLab's busier page than on the echo's.
    presented_span = (p1 - p0) / 1000
    return {
        "span_s": span,
        "cpu_busy": (c1 - c0) / span,
        "rendered_fps": (r1 - r0) / presented_span if presented_span > 0 else 0.0,
        "rendered_driver_fps": (r1 - r0) / span,
        "round_trip": latency_stats(rt),
        "rss_mb": proc_rss_mb(pid),
    }
