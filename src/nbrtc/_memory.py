"""Give the memory closed streams freed back to the system (glibc's ``malloc_trim``).

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
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger("nbrtc")

#: seconds after the last close before the trim runs
TRIM_DELAY = 1.0
#: set False to keep freed memory in the allocator's arenas (as before)
ENABLED = True


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
    """One pending trim after the newest close (media loop); ``trims`` counts those run."""

    def __init__(self, trim: Callable[[int], int] | None = _malloc_trim) -> None:
        self._trim = trim
        self._handle: asyncio.TimerHandle | None = None
        #: trims run so far, and the last one's duration in seconds (any thread reads)
        self.trims = 0
        self.last_seconds = 0.0

    def stream_closed(self, loop: asyncio.AbstractEventLoop) -> None:
        """A stream closed: a trim ``TRIM_DELAY`` s from now unless one is pending (media
        loop)."""
        if not ENABLED or self._trim is None or loop.is_closed() or self._handle is not None:
            return  # one pending trim covers every close until it runs
        self._handle = loop.call_later(TRIM_DELAY, self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        if not loop.is_closed():
            loop.run_in_executor(None, self._run)

    def _run(self) -> None:
        """Executor thread: hand freed memory back to the system."""
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
