"""Reconnection of one live stream after its network path is lost (``Reconnect``).

Who decides: the kernel. The page reports its peer connection's states over the comm
(``state`` messages), and the comm keeps working while UDP between the browser and the
kernel is blocked. When the page says its ICE (or its connection) is ``disconnected`` or
``failed`` on a stream that was live, the path is lost:

1. wait ``GRACE`` seconds (Chromium says ``disconnected`` after a couple of seconds
   without STUN answers and usually comes back by itself after a short blip);
2. ask the page for an ICE restart (``KernelStream.renegotiate(..., ice_restart=True)``:
   js/peer.js re-offers with new credentials, src/nbrtc/_ice_restart.py answers), then
   again after each of ``BACKOFF`` seconds (the last one repeating) while the path has
   not come back;
3. once the page says ``connected`` again, the path is back: the restarts stop;
4. ``GIVE_UP`` seconds after the path was lost, the stream fails in words.

The camera stays on meanwhile (js/reconnect.js keeps the page from failing the stream
on ``failed``; it gives up by itself only a little after ``GIVE_UP``, for a kernel that
stopped deciding). Every step is a line in the stream's ``history()``.

The kernel's own connection failing is terminal: aioice closes its ICE connection when
consent expires (no answer for about 30 s, RFC 7675), and an ICE restart needs a live
one. ``kernel_failed`` gives the words for that. A full renegotiation from scratch (a
new peer on both sides under the same stream) is not done.

Thread: the media loop (the stream's methods call these).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from .errors import StreamError

if TYPE_CHECKING:
    from ._stream import KernelStream

log = logging.getLogger("nbrtc")

#: Seconds the path must stay lost before the first ICE restart is asked for.
GRACE = 1.0
#: Seconds between ICE restarts while the path stays lost; the last value repeats.
BACKOFF: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
#: Seconds after the path was lost at which the stream fails (js/reconnect.js gives the
#: page a little longer, PAGE_GIVE_UP_MS).
GIVE_UP = 30.0

#: browser ICE / connection states that mean "no path now"
_LOST = frozenset({"disconnected", "failed"})
#: states: idle (healthy or not live yet), lost (grace), restarting, gave-up, closed
_ALLOWED = {
    "idle": {"lost", "closed"},
    "lost": {"idle", "restarting", "gave-up", "closed"},
    "restarting": {"idle", "gave-up", "closed"},
    "gave-up": {"closed"},
    "closed": set(),
}


def _on_comm(stream: KernelStream) -> bool:
    """Whether the stream's media goes over the comm (then WebRTC may fail harmlessly:
    _stream.py drops the peer and keeps streaming)."""
    return getattr(stream, "transport", "") == "comm"


class Reconnect:
    """Watches one stream's path and restarts ICE with backoff when it is lost.

    Owned by a ``KernelStream``; ``browser_states`` is called with the page's latest
    states, ``kernel_failed`` when the kernel's own connection failed, ``close`` when the
    stream closes (idempotent). ``state``, ``attempts`` (ICE restarts asked for since the
    path was lost), ``restarts`` and ``recoveries`` (totals) may be read from any thread.
    """

    def __init__(self, stream: KernelStream) -> None:
        self._stream = stream
        self.state = "idle"
        self.attempts = 0
        self.restarts = 0
        self.recoveries = 0
        self.lost_at: float | None = None
        self._why = ""
        self._task: asyncio.Task[None] | None = None

    def _set(self, new: str, detail: str) -> None:
        """The one place the reconnect state changes (logged, and noted in history)."""
        old = self.state
        if new == old or new not in _ALLOWED[old]:
            return
        self.state = new
        log.info("stream %s: reconnect %s -> %s (%s)", self._stream.id, old, new, detail)
        self._stream.history.note(f"reconnect: {old} -> {new} ({detail})")

    # --- inputs -------------------------------------------------------------------------
    def browser_states(self, browser: dict[str, str]) -> None:
        """The page's latest pc states (``ice``, ``connection``...), media loop."""
        stream = self._stream
        if stream.closed or "live" not in stream.timings or self.state in ("gave-up", "closed"):
            return
        if _on_comm(stream):
            return  # the comm carries the media: a lost WebRTC path harms nothing
        ice, conn = browser.get("ice", ""), browser.get("connection", "")
        if ice in _LOST or conn in _LOST:
            self._path_lost(f"the browser's ICE is {ice!r}, its connection {conn!r}")
        elif ice in ("connected", "completed") and conn in ("connected", ""):
            self._path_back()

    def kernel_failed(self) -> str | None:
        """The kernel's connection failed: the words to fail the stream with when it was
        live (its path is gone for good, see the module docstring), else None."""
        stream = self._stream
        if stream.closed or "live" not in stream.timings or _on_comm(stream):
            return None
        self._cancel()
        why = (
            "the kernel's ICE connection ended (the browser answered none of its consent "
            "checks for about 30 s)"
        )
        words = self._words(why)
        self._set("gave-up", why)
        return words

    def close(self) -> None:
        """Stop (idempotent): no restart is asked for afterwards."""
        self._cancel()
        if self.state == "idle":
            self.state = "closed"  # nothing happened: no line in every stream's history
        self._set("closed", "stream closed")

    # --- the path -------------------------------------------------------------------------
    def _path_lost(self, why: str) -> None:
        self._why = why
        if self.state != "idle":
            return
        self.lost_at = time.monotonic()
        self.attempts = 0
        self._set("lost", why)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _path_back(self) -> None:
        if self.state not in ("lost", "restarting") or self.lost_at is None:
            return
        self._cancel()
        self.recoveries += 1
        took = time.monotonic() - self.lost_at
        self._set("idle", f"path back after {took:.1f} s and {self.attempts} ICE restart(s)")

    def _cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _run(self) -> None:
        """Grace, then ICE restarts with backoff until the path is back or GIVE_UP."""
        stream = self._stream
        assert self.lost_at is not None
        delay = GRACE
        while True:
            left = GIVE_UP - (time.monotonic() - self.lost_at)
            await asyncio.sleep(max(0.0, min(delay, left)))
            if stream.closed or self.state not in ("lost", "restarting"):
                return
            if _on_comm(stream):
                self._task = None
                self._set("idle", "the stream moved to the comm transport")
                return
            if time.monotonic() - self.lost_at >= GIVE_UP:
                break
            self.attempts += 1
            self.restarts += 1
            delay = BACKOFF[min(self.attempts - 1, len(BACKOFF) - 1)]
            asked = stream.renegotiate(f"reconnect: ICE restart {self.attempts}", ice_restart=True)
            self._set("restarting", self._why)
            stream.history.note(
                f"reconnect: ICE restart {self.attempts} "
                f"{'asked of the page' if asked else 'not possible (not negotiated)'}, "
                f"{time.monotonic() - self.lost_at:.1f} s after the path was lost; "
                f"next in {delay:g} s"
            )
        words = self._words(self._why)
        self._set("gave-up", self._why)
        self._task = None
        await stream.fail(StreamError(words))

    def _words(self, why: str) -> str:
        lost = time.monotonic() - (self.lost_at if self.lost_at is not None else time.monotonic())
        if self.lost_at is None:
            return (
                f"The network path between the browser and the kernel was lost: {why}. "
                "Check the network (Wi-Fi, VPN, firewall), then run the cell again."
            )
        return (
            f"The network path between the browser and the kernel was lost {lost:.0f} s "
            f"ago and {self.attempts} ICE restart(s) did not bring it back: {why}. Check "
            "the network (Wi-Fi, VPN, firewall), then run the cell again."
        )
