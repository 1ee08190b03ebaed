"""The kernel's watchdog of a page: ping it, and judge its silence.

One engine for every presence a page keeps on the kernel: a ``KernelStream`` watches the
page of its one browser peer, a ``Room`` watches all its members at once. Every
WATCHDOG_TICK seconds the watchdog wakes; every PING_EVERY_TICKS-th wake it pings (the
browser gives a stream up after 3 s without any kernel message, js/core/liveness.js), then
it hands the seconds that passed to ``judge``, which counts them as silence (only while
the kernel is idle: ``PeerManager.browser_silent``) and ends what went quiet.

Threads: media loop only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

#: How often the kernel's watchdog looks at a browser's silence (and may ping it).
WATCHDOG_TICK = 0.4
#: The kernel pings every second tick (0.8 s): the browser gives a stream up after 3 s
#: without any message, so several pings fit in its window even when some come late, and
#: every message costs the kernel (IOPub) and the page (parsing) a little CPU.
PING_EVERY_TICKS = 2
#: a watchdog tick that came later than this many ticks counts as this many: the rest
#: was the kernel's own stall (a busy media loop), during which it could not read
STALL_TOLERANCE = 1.5
#: The page speaks about once a second (on the stream's control channel once it is
#: open). Silent this long in idle-kernel seconds (counted in whole ticks, so 1.2-1.6 s
#: of real silence, more than a heartbeat's period plus a tick: a healthy page is never
#: asked), the kernel's ping through the comm asks the page to answer through the comm
#: at once (``ask``), at every tick until it is heard. The page sends its heartbeat
#: through the comm only when asked or when it hears the kernel on none of its control
#: channels, so a media path that lost the page's messages is bridged about 1.6 s into
#: the silence, well inside BROWSER_TIMEOUT (3.5 s).
ASK_AFTER = 1.6


async def watch(
    alive: Callable[[], bool],
    ping: Callable[[float], None],
    judge: Callable[[float], Awaitable[bool]],
    urgent: Callable[[], bool] | None = None,
) -> None:
    """Run the watchdog until ``alive()`` is false or ``judge`` says it is done.

    ``ping(t)`` sends the page a ping stamped ``t`` (monotonic seconds); ``judge(elapsed)``
    counts ``elapsed`` seconds of silence and returns True when the watch should end (the
    one page it watched is gone); while ``urgent()`` is true (the page has been silent
    for ASK_AFTER) it pings at every tick instead of every PING_EVERY_TICKS-th.
    Cancelling the task ends the watch at once.
    """
    prev = time.monotonic()
    tick = 0
    while alive():
        if tick % PING_EVERY_TICKS == 0 or (urgent is not None and urgent()):
            ping(prev)
        tick += 1
        await asyncio.sleep(WATCHDOG_TICK)
        now = time.monotonic()
        # Time the media loop itself was stalled is not the browser's silence: its
        # messages were waiting for us (asyncio ran this timer late). Count at most
        # one tick and a little, and let queued messages in before judging.
        elapsed = min(now - prev, WATCHDOG_TICK * STALL_TOLERANCE)
        if now - prev > WATCHDOG_TICK * STALL_TOLERANCE:
            await asyncio.sleep(0)
        if await judge(elapsed):
            return
        prev = now


class Watchdog:
    """A restartable :func:`watch` task, for an owner that starts and stops watching
    (a Room watches while it has members). Media loop only."""

    def __init__(
        self,
        name: str,
        alive: Callable[[], bool],
        ping: Callable[[float], None],
        judge: Callable[[float], Awaitable[bool]],
    ) -> None:
        self.name = name
        self._alive = alive
        self._ping = ping
        self._judge = judge
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def ensure(self) -> None:
        """Start watching unless already watching (media loop)."""
        if not self.running:
            self.task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def stop(self) -> None:
        """Stop watching (media loop, or any thread once the loop is gone)."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()

    async def _run(self) -> None:
        try:
            await watch(self._alive, self._ping, self._judge)
        finally:
            if self.task is asyncio.current_task():
                self.task = None
