"""Measurement loops shared by the floor and nbrtc benchmarks (stack-agnostic)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.e2e import _harness as h

from benchmarks._stack import percentile


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
