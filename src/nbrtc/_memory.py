"""Give the memory closed streams freed back to the system (glibc's ``malloc_trim``), and
collect reference cycles while no stream runs.

Why: a stream's native parts (codec contexts, decoded frames, SRTP sessions, socket
buffers) are allocated by aiortc's and PyAV's threads, each of which glibc serves from
its own malloc arena; when the stream closes the memory is freed but stays in those
arenas, so the kernel's RSS climbed with every open/close cycle although nothing leaked:
measured over 80 cycles of a Camera and a VideoView (after 10 warm-up cycles), +0.26 MiB
per cycle without a trim and about 0.07 with one (``benchmarks/run.py``'s teardown rows
and issue 14 give the figures).

What: a stream that closes (``PeerManager.forget``, media loop) schedules a trim
``TRIM_DELAY`` seconds later unless one is pending, so a burst of closes (a Grid, a re-run
cell) costs one, and steady open/close cycles at most one a second.
``malloc_trim(0)`` then runs in the media loop's executor (the bounded ``nbrtc-codec``
pool); ctypes releases the GIL for the call, so no Python thread waits on it, and the
media loop only schedules it. A no-op where there is no glibc ``malloc_trim`` (macOS,
Windows, musl). ``ENABLED = False`` turns it off (benchmarks compare).

Idle collection: when that moment comes and the kernel has no stream at all
(``PeerManager._no_streams``, read on the media loop), the same executor job first runs a
full ``gc.collect()``. Why: starting a stream makes thousands of long-lived objects
(aiortc's peer, SDP, transports); after enough of them Python collects the whole kernel
heap, stopping every Python thread, and that fell on a stream's start. Measured
(benchmarks stack, a camera opened and closed 6-8 times in one kernel): the 6th start had
its answer 75-180 ms late in 9 runs of 13; a ``gc.callbacks`` probe showed a full collection
there (88 ms and 97 ms, inside aiortc's ``setRemoteDescription``). Collecting when nothing
streams resets Python's count, so the starts that follow do not pay it, and the closed
streams' reference cycles are freed before the trim. With a stream open or opening nothing
is collected here (it would stop that stream's threads as long). A collection holds the
GIL (~50-90 ms in a notebook kernel): a cell running then waits that long, as it does for
Python's own collections; and at most ``COLLECT_DUTY`` (10 %) of the kernel's time goes to
them (a heap whose collection takes 2 s gets one every 20 s at most). ``COLLECT = False``
turns it off.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger("nbrtc")

#: seconds after the last close before the trim runs
TRIM_DELAY = 1.0
#: set False to keep freed memory in the allocator's arenas (as before)
ENABLED = True
#: set False to leave every collection to Python's own thresholds (as before)
COLLECT = True
#: idle collections take at most this share of the kernel's time: after one that took
#: ``d`` seconds, the next may run ``d / COLLECT_DUTY`` seconds later at the soonest (a
#: kernel holding a huge heap, where a collection takes seconds, is not paused for one
#: after every close; the ~50-90 ms of a notebook kernel allow one a second)
COLLECT_DUTY = 0.1


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_malloc_trim = _load_malloc_trim()


class Trimmer:
    """One pending trim after the newest close (media loop); ``trims`` counts those run,
    ``collections`` the idle collections that ran before them."""

    def __init__(
        self,
        trim: Callable[[int], int] | None = _malloc_trim,
        idle: Callable[[], bool] = lambda: False,
        collect: Callable[[], object] = gc.collect,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``idle``: whether the kernel has no stream (media loop); ``collect``: the full
        collection to run then (``gc.collect``); ``clock``: seconds, for the collections'
        duty bound (tests pass their own)."""
        self._trim = trim
        self._idle = idle
        self._collect = collect
        self._clock = clock
        #: no idle collection before this clock reading (COLLECT_DUTY); written by the
        #: executor thread, read on the media loop (one float: no lock needed)
        self._next_collect = 0.0
        #: the loop a job is pending on (None: none). Kept as the loop, not the timer: a
        #: media loop that stopped with a job pending (the media thread restarts: a new
        #: loop implementation, a shutdown) never runs it, and the next loop must not take
        #: it for a job of its own
        self._pending_on: asyncio.AbstractEventLoop | None = None
        #: trims run so far, and the last one's duration in seconds (any thread reads)
        self.trims = 0
        self.last_seconds = 0.0
        #: idle collections run so far, and the last one's duration in seconds
        self.collections = 0
        self.last_collect_seconds = 0.0

    def stream_closed(self, loop: asyncio.AbstractEventLoop) -> None:
        """A stream closed: a trim ``TRIM_DELAY`` s from now unless one is pending (media
        loop)."""
        if not ENABLED or loop.is_closed():
            return
        if self._pending_on is loop:
            return  # one pending trim covers every close until it runs
        if self._trim is None and not COLLECT:
            return
        loop.call_later(TRIM_DELAY, self._start, loop)
        self._pending_on = loop

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Media loop: hand the job to the executor, with a collection if nothing streams."""
        if self._pending_on is loop:
            self._pending_on = None
        if loop.is_closed():
            return
        collect = COLLECT and self._clock() >= self._next_collect and self._idle()
        loop.run_in_executor(None, self._run, collect)

    def _run(self, collect: bool = False) -> None:
        """Executor thread: collect reference cycles when asked, then hand freed memory
        back to the system. Never raises (housekeeping must not fail a stream)."""
        if collect:
            t0 = self._clock()
            try:
                self._collect()
            except Exception:
                log.debug("nbrtc: the idle collection failed", exc_info=True)
            else:
                self.last_collect_seconds = self._clock() - t0
                self._next_collect = t0 + self.last_collect_seconds / COLLECT_DUTY
                self.collections += 1
                log.debug(
                    "nbrtc: idle collection after closed streams took %.1f ms",
                    self.last_collect_seconds * 1e3,
                )
        trim = self._trim
        if trim is None:
            return
        t0 = time.perf_counter()
        try:
            trim(0)
        except Exception:  # never let housekeeping fail a stream
            log.debug("nbrtc: malloc_trim failed", exc_info=True)
            return
        self.last_seconds = time.perf_counter() - t0
        self.trims += 1
        log.debug("nbrtc: malloc_trim after closed streams took %.1f ms", self.last_seconds * 1e3)
