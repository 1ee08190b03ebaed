"""Reconnection of one live stream after its network path is lost (``Reconnect``).

Who decides: the kernel. The page reports its peer connection's states over the comm
(``state`` messages), and the comm keeps working while UDP between the browser and the
kernel is blocked. When the page says its ICE (or its connection) is ``disconnected`` or
``failed`` on a stream that was live, the path is lost:

1. wait ``GRACE`` seconds (Chromium says ``disconnected`` after a couple of seconds
   without STUN answers and usually comes back by itself after a short blip);
2. ask the page for an ICE restart (``KernelStream.renegotiate(..., ice_restart=True)``:
   js/peer/peer.js re-offers with new credentials, _transport/ice_restart.py answers), then
   again after each of ``BACKOFF`` seconds (the last one repeating) while the path has
   not come back;
3. after ``ICE_RESTARTS`` restarts that did not help, or at once when the kernel's own
   ICE connection ended, each further attempt is a renegotiation from scratch (``fresh``:
   the page makes a new RTCPeerConnection with the same camera tracks and sends its offer
   as a ``reoffer``; the kernel answers with a new peer under the same stream, so the
   widget, its ``frames()`` iterators and its recorder carry on);
4. once the page says ``connected`` again, the path is back: the attempts stop;
5. ``GIVE_UP`` seconds after the path was lost, the stream fails in words.

The camera stays on meanwhile (js/transport/reconnect.js keeps the page from failing the stream
on ``failed``; it gives up by itself only a little after ``GIVE_UP``, for a kernel that
stopped deciding). Every step is a line in the stream's ``history()``.

The kernel's own connection failing is why step 3 exists: aioice closes its ICE
connection when consent expires (no answer for about 30 s, RFC 7675), and an ICE restart
needs a live one; only a new peer connection can bring such a stream back.

Thread: the media loop (the stream's methods call these).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol

from ..errors import StreamError

if TYPE_CHECKING:
    from .._inspection.history import History


class ReconnectingStream(Protocol):
    """What the reconnection needs of its stream (``_stream.KernelStream``): a Protocol,
    so that this module does not import the stream module that imports it."""

    id: str
    history: History
    timings: dict[str, float]
    transport: str

    @property
    def closed(self) -> bool: ...

    def renegotiate(self, reason: str, ice_restart: bool = False, fresh: bool = False) -> bool:
        """Ask the page for a reoffer (``fresh``: on a new peer connection)."""

    async def fail(self, error: StreamError) -> None: ...


log = logging.getLogger("nbrtc")

#: Seconds the path must stay lost before the first ICE restart is asked for.
GRACE = 1.0
#: Seconds between ICE restarts while the path stays lost; the last value repeats.
BACKOFF: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
#: ICE restarts asked for before the next attempts build a new peer connection
#: (``fresh``); restarts first, since they keep the DTLS session and cost one SDP round.
ICE_RESTARTS = 3
#: Seconds after the path was lost at which the stream fails (js/transport/reconnect.js gives the
#: page a little longer, PAGE_GIVE_UP_MS). Longer than aioice's ~30 s consent timeout, so
#: an outage that kills the kernel's ICE connection can still be ridden out.
GIVE_UP = 60.0

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


def _on_comm(stream: ReconnectingStream) -> bool:
    """Whether the stream's media goes over the comm (then WebRTC may fail harmlessly:
    _stream.py drops the peer and keeps streaming)."""
    return getattr(stream, "transport", "") == "comm"


class Reconnect:
    """Watches one stream's path and restarts ICE with backoff when it is lost.

    Owned by a ``KernelStream``; ``browser_states`` is called with the page's latest
    states, ``kernel_failed`` when the kernel's own connection failed, ``close`` when the
    stream closes (idempotent). ``state``, ``attempts`` (ICE restarts asked for since the
    path was lost), ``restarts``, ``fresh_peers`` and ``recoveries`` (totals) may be read
    from any thread.
    """

    def __init__(self, stream: ReconnectingStream) -> None:
        self._stream = stream
        self.state = "idle"
        self.attempts = 0
        self.restarts = 0
        self.fresh_peers = 0
        self.recoveries = 0
        #: the kernel's ICE connection ended: only a fresh peer connection can help
        self._kernel_dead = False
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

    def kernel_failed(self) -> bool:
        """The kernel's peer connection failed (media loop). True when this takes it
        over (the stream was live: the next attempt, GRACE s from now, builds a new peer
        connection on both sides); False when the stream should fail now (never live, on
        the comm, or already given up)."""
        stream = self._stream
        if (
            stream.closed
            or "live" not in stream.timings
            or _on_comm(stream)
            or self.state in ("gave-up", "closed")
        ):
            return False
        self._kernel_dead = True
        why = "the kernel's ICE connection ended (its consent checks went unanswered)"
        if self.state == "idle":
            self._path_lost(why)
        else:  # restarting: do not wait out a long backoff for the fresh peer
            self._why = why
            self._cancel()
            self._task = asyncio.get_running_loop().create_task(self._run(GRACE))
        return True

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

    def peer_replaced(self) -> None:
        """The kernel answered a fresh offer with a new peer connection (media loop):
        the path is back once the page says this one connected."""
        self._kernel_dead = False

    def _path_back(self) -> None:
        if self.state not in ("lost", "restarting") or self.lost_at is None:
            return
        if self._kernel_dead:
            return  # the page's pc may still say connected; the kernel's is gone
        self._cancel()
        self.recoveries += 1
        self._kernel_dead = False
        took = time.monotonic() - self.lost_at
        self._set("idle", f"path back after {took:.1f} s and {self.attempts} attempt(s)")

    def _cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _run(self, first: float = GRACE) -> None:
        """Grace, then ICE restarts (later fresh peers) with backoff until the path is
        back or GIVE_UP."""
        stream = self._stream
        assert self.lost_at is not None
        delay = first
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
            fresh = self._kernel_dead or self.attempts > ICE_RESTARTS
            what = "a new peer connection" if fresh else "ICE restart"
            if fresh:
                self.fresh_peers += 1
            else:
                self.restarts += 1
            delay = BACKOFF[min(self.attempts - 1, len(BACKOFF) - 1)]
            asked = stream.renegotiate(
                f"reconnect: {what} (attempt {self.attempts})", ice_restart=True, fresh=fresh
            )
            self._set("restarting", self._why)
            stream.history.note(
                f"reconnect: attempt {self.attempts}, {what}, "
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
            f"ago and {self.attempts} attempt(s) ({self.restarts} ICE restart(s), "
            f"{self.fresh_peers} new peer connection(s)) did not bring it back: {why}. "
            "Check the network (Wi-Fi, VPN, firewall), then run the cell again."
        )
