"""The receive-side bitrate estimate at a fraction of its per-packet cost (issue 14).

Every video receiver feeds aiortc's ``RemoteBitrateEstimator`` (the REMB the browser's
sender adapts to) with each packet. Two of its parts cost far more than what they
compute: its ``RateCounter`` (bytes of the last second) keeps one bucket per millisecond
and walks every millisecond elapsed since the previous packet, twice per packet (about
1,000 steps a second per feed, in Python), and its ``OveruseEstimator`` finds the
smallest of the last 60 frame intervals with a Python loop per frame.

:class:`WindowRate` gives the same figures as that ``RateCounter`` (same window, same
rounding, same origin rules, also when the wall clock steps back) from one entry per
packet, dropped when it leaves the window: a few steps per packet instead of one per
millisecond. :func:`install` puts it, and a built-in ``min`` over the same interval
history, into the estimator of every video receiver made from then on
(``_upstream.patch_bitrate_estimator``); the estimator's decisions are unchanged
(tests/unit/test_bitrate.py feeds both the same packets and compares every report).

Thread: the estimator runs on the media loop, with the receiver that owns it.
"""

from __future__ import annotations

import bisect
import collections

from .. import _upstream


class WindowRate:
    """What arrived over the last ``window_ms`` milliseconds, as a rate (``scale`` times
    the sum of values per millisecond of the active window, rounded): aiortc's
    ``RateCounter`` with the same ``add``/``rate``/``reset`` and results, in amortized
    O(1) per ``add``. Not thread-safe (one receiver's media loop)."""

    __slots__ = ("_factor", "_times", "_total", "_values", "_window", "_window_start")

    def __init__(self, window_ms: int, scale: int = 8000) -> None:
        self._window = window_ms
        self._factor = scale
        self._window_start: int | None = None
        # ms of each entry, ascending, and its value (two deques: no tuple per packet)
        self._times: collections.deque[int] = collections.deque()
        self._values: collections.deque[int] = collections.deque()
        self._total = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._window_start is None:
            self._window_start = now_ms
        else:
            self._erase_old(now_ms)
        origin: int = self._window_start
        # the millisecond aiortc's ring files it under: ``now_ms`` itself, except when the
        # clock stepped back before the window's origin (then one window later: its ring
        # index wraps around)
        at = origin + (now_ms - origin) % self._window
        times = self._times
        if not times or at >= times[-1]:
            times.append(at)
            self._values.append(value)
        else:  # the clock stepped back: keep the entries in time order
            i = bisect.bisect_right(times, at)
            times.insert(i, at)
            self._values.insert(i, value)
        self._total += value

    def rate(self, now_ms: int) -> int | None:
        """The rate at ``now_ms``; None before any ``add``, with nothing in the window, or
        when the window is not yet more than 1 ms long."""
        if self._window_start is None:
            return None
        self._erase_old(now_ms)
        active = now_ms - self._window_start + 1
        if self._times and active > 1:
            return round(self._factor * self._total / active)
        return None

    def reset(self) -> None:
        self._window_start = None
        self._times.clear()
        self._values.clear()
        self._total = 0

    def _erase_old(self, now_ms: int) -> None:
        start = now_ms - self._window + 1
        if self._window_start is None or self._window_start >= start:
            return
        self._window_start = start
        times, values = self._times, self._values
        while times and times[0] < start:
            times.popleft()
            self._total -= values.popleft()


def install() -> bool:
    """Give every video receiver made from now on the lighter estimate (idempotent, any
    thread, before the receivers exist). False when aiortc's internals changed (``import
    nbrtc`` already warned which): receivers then estimate as in plain aiortc."""
    if not _upstream.works(_upstream.bitrate_estimator_problems, "aiortc's bitrate estimate kept"):
        return False
    _upstream.patch_bitrate_estimator(WindowRate)
    return True
