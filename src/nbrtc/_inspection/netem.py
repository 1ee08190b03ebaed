"""Network impairment ("netem") for one aiortc ``RTCPeerConnection``, for teaching.

``Impairment(pc).set(NetworkConditions(loss=0.05, delay_ms=120, rate_kbps=400))`` makes
the kernel end of a live WebRTC connection behave as if it sat behind a bad network, so a
learner sees the picture and the stats charts react: the receiver reports the configured
loss, the round-trip time grows by about twice the one-way delay, the bitrate is capped.

What is impaired, and why:

* RTP (media) packets may be dropped (``loss``). RTCP is never dropped, so the loss the
  receiver reports in its RTCP receiver reports is the loss that was configured.
* RTP and RTCP are delayed (``delay_ms`` plus ``jitter_ms``), so RTT measured from
  SR/RR pairs grows. Jitter never reorders packets (each packet leaves no earlier than
  the one before it), which keeps the stats easy to explain.
* RTP and RTCP bytes share a bottleneck (``rate_kbps``): a token bucket one full-size
  packet deep, a FIFO queue in front of it, drop-tail once a packet would wait longer
  than ``queue_ms``. Rates count plaintext RTP/RTCP bytes (before SRTP adds its tag).
* DTLS handshake records, ICE/STUN and SCTP data-channel traffic are never touched, so
  the control channel keeps working whatever the learner sets.

Each direction ("send" = kernel to browser, "recv" = browser to kernel) has its own
queue shared by all DTLS transports of the peer connection (with BUNDLE there is one).

Threading: everything here runs on the peer connection's asyncio loop (the thread that
runs aiortc). Construct ``Impairment`` on that loop; ``set``/``attach_transports``/
``stats``/``close`` must be called there too (from another thread, hop onto the loop with
``loop.call_soon_threadsafe`` or ``asyncio.run_coroutine_threadsafe``).

aiortc internals relied upon (private; reached through ``nbrtc._upstream``, which checks
them at import): the instance
methods ``RTCDtlsTransport._send_rtp(data)`` (plaintext RTP/RTCP out, SRTP-protected
inside), ``RTCDtlsTransport._handle_rtp_data(data, arrival_time_ms)`` and
``RTCDtlsTransport._handle_rtcp_data(data)`` (plaintext in, after SRTP unprotect), which
we shadow with instance attributes and restore on ``close``; ``RTCDtlsTransport.state``;
``aiortc.clock.current_ms`` (the receive-side arrival clock); and the peer connection's
``"signalingstatechange"``/``"connectionstatechange"`` events. ``Impairment()`` raises a
``RuntimeError`` naming the installed aiortc version if the methods are missing.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import math
import random
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import is_rtcp

from .. import _upstream

logger = logging.getLogger(__name__)

__all__ = ["Impairment", "NetworkConditions", "check_conditions"]

DIRECTIONS = ("both", "send", "recv")

# Token bucket depth: one full-size packet, so the link never bursts above the rate for
# longer than one packet's serialization time (a plain bottleneck link, not a shaper
# with a large burst allowance that would hide the cap from short stats windows).
_BURST_BYTES = 1500

# asyncio fires a timer when its deadline is within the clock resolution; release every
# packet due within this slack in one go instead of re-arming a timer for each.
_TIMER_SLACK_S = 0.001

# Which live Impairment owns a transport: two at once would stack their wrappers and
# make close() order-dependent, so the second one is refused.
_OWNERS: weakref.WeakKeyDictionary[RTCDtlsTransport, Impairment] = weakref.WeakKeyDictionary()


# --------------------------------------------------------------------------- conditions


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _number(name: str, value: object, lo: float, hi: float, *, hi_open: bool = False) -> float:
    """Validate a bounded number; the message names the argument, value and range."""
    interval = f"[{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in {interval}, got {_describe(value)}")
    v = float(value)
    ok = lo <= v < hi if hi_open else lo <= v <= hi  # NaN fails both
    if not ok:
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return v


def _rate(value: object) -> float | None:
    if value is None:
        return None
    what = "rate_kbps must be None (unlimited) or a finite number >= 8"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what}, got {_describe(value)}")
    v = float(value)
    if not (math.isfinite(v) and v >= 8):
        raise ValueError(f"{what}, got {value!r}")
    return v


def _direction(value: object) -> str:
    allowed = ", ".join(repr(d) for d in DIRECTIONS)
    if not isinstance(value, str):
        raise TypeError(f"direction must be one of {allowed}, got {_describe(value)}")
    if value not in DIRECTIONS:
        raise ValueError(f"direction must be one of {allowed}, got {value!r}")
    return value


@dataclass(frozen=True)
class NetworkConditions:
    """Network conditions to emulate; immutable, validated on construction.

    All-default values mean "no impairment" (see :meth:`active`). Numbers are stored as
    floats. Construction raises ``TypeError``/``ValueError`` naming the bad argument.
    Plain data: safe to create and read on any thread.
    """

    loss: float = 0.0
    """Probability in [0, 1) that an RTP (media) packet is dropped; RTCP is never dropped."""
    delay_ms: float = 0.0
    """One-way extra delay in [0, 10000] ms added to every RTP and RTCP packet."""
    rate_kbps: float | None = None
    """Bottleneck rate for RTP+RTCP bytes (>= 8 kbit/s); None means unlimited."""
    jitter_ms: float = 0.0
    """Extra uniform delay in [0, jitter_ms] ms per packet (0..1000), never reordering."""
    direction: str = "both"
    """"both", "send" (kernel -> browser only) or "recv" (browser -> kernel only)."""
    queue_ms: float = 500.0
    """Longest wait (10..5000 ms) at the rate limit before a packet is dropped (drop-tail)."""

    def __post_init__(self) -> None:
        # frozen: normalise through object.__setattr__ (ints become floats)
        set_ = object.__setattr__
        set_(self, "loss", _number("loss", self.loss, 0, 1, hi_open=True))
        set_(self, "delay_ms", _number("delay_ms", self.delay_ms, 0, 10_000))
        set_(self, "rate_kbps", _rate(self.rate_kbps))
        set_(self, "jitter_ms", _number("jitter_ms", self.jitter_ms, 0, 1_000))
        set_(self, "direction", _direction(self.direction))
        set_(self, "queue_ms", _number("queue_ms", self.queue_ms, 10, 5_000))

    def active(self) -> bool:
        """True if these conditions change anything (loss, delay, jitter or a rate cap)."""
        return bool(
            self.loss > 0 or self.delay_ms > 0 or self.jitter_ms > 0 or self.rate_kbps is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def applies_to(self, direction: str) -> bool:
        """True if these conditions impair ``direction`` ("send" or "recv")."""
        return self.active() and self.direction in ("both", direction)


_FIELDS = tuple(f.name for f in dataclasses.fields(NetworkConditions))


def check_conditions(**kwargs: Any) -> NetworkConditions:
    """Validate keyword arguments and return the :class:`NetworkConditions` they describe.

    Raises ``TypeError`` for an unknown argument or a value of the wrong type and
    ``ValueError`` for a value out of range; the message names the argument, the value
    and what is allowed, e.g. ``"loss must be a number in [0, 1), got 1.5"``.
    Pure function, any thread.
    """
    for name in kwargs:
        if name not in _FIELDS:
            raise TypeError(
                f"unknown network condition {name!r}; expected one of {', '.join(_FIELDS)}"
            )
    return NetworkConditions(**kwargs)


# --------------------------------------------------------------------------- one direction

Deliver = Callable[[], Awaitable[None]]


class _Pipe:
    """One direction of the emulated network: loss, token-bucket bottleneck, delay line.

    Packets that are not delivered at once wait in ``_waiting`` (FIFO; due times never
    decrease, which is what keeps jitter from reordering). A single ``call_at`` timer
    is armed for the head; when it fires, due packets move to ``_ready`` and one drain
    task delivers them in order, awaiting aiortc's original method for each.
    Loop thread only.
    """

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop, rng: random.Random) -> None:
        self.name = name
        self._loop = loop
        self._rng = rng
        self.conditions: NetworkConditions | None = None  # None: this direction unimpaired
        self.packets = 0
        self.bytes = 0
        self.dropped_loss = 0
        self.dropped_queue = 0
        self.delayed = 0
        self._tat = 0.0  # token bucket: loop time at which the bucket is full again
        self._last_depart = 0.0  # when the newest admitted packet leaves the bottleneck
        self._last_due = 0.0  # delivery time of the newest scheduled packet (FIFO floor)
        self._waiting: collections.deque[tuple[float, Deliver]] = collections.deque()
        self._ready: collections.deque[Deliver] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._drain: asyncio.Task[None] | None = None

    # -- configuration

    def configure(self, conditions: NetworkConditions | None) -> None:
        if conditions is None:
            # Off: whatever is still in flight is delivered now, in order, so turning the
            # impairment off takes effect at once rather than after the old delay.
            self._flush()
            self._tat = self._last_depart = self._last_due = 0.0
        elif conditions.rate_kbps is None:
            self._tat = self._last_depart = 0.0
        self.conditions = conditions

    # -- per packet

    def admit(self, nbytes: int, droppable: bool) -> float | None:
        """Account one packet; None = dropped, else the loop time it is due.

        The caller delivers at once if :meth:`now_ok` says so, else :meth:`schedule`.
        """
        self.packets += 1
        self.bytes += nbytes
        now = self._loop.time()
        cond = self.conditions
        if cond is None:
            return now
        if droppable and cond.loss > 0 and self._rng.random() < cond.loss:
            self.dropped_loss += 1
            return None
        depart = now
        if cond.rate_kbps is not None:
            rate = cond.rate_kbps * 125.0  # bytes per second
            tat = max(self._tat, now)
            # enough tokens for this packet once the bucket is within nbytes of full
            depart = max(now, tat + (nbytes - _BURST_BYTES) / rate)
            if depart - now > cond.queue_ms / 1000.0:
                self.dropped_queue += 1
                return None
            self._tat = tat + nbytes / rate
            self._last_depart = depart
        due = depart + cond.delay_ms / 1000.0
        if cond.jitter_ms > 0:
            due += self._rng.uniform(0.0, cond.jitter_ms / 1000.0)
        due = max(due, self._last_due)  # never overtake the packet before
        self._last_due = due
        return due

    def now_ok(self, due: float) -> bool:
        """True if a packet due at ``due`` may take the original path right now."""
        return not self._waiting and not self._ready and due <= self._loop.time()

    def schedule(self, due: float, deliver: Deliver) -> None:
        self.delayed += 1
        if not self._waiting and due <= self._loop.time():
            # due already, but behind packets still being delivered: keep FIFO
            self._ready.append(deliver)
            self._ensure_drain()
            return
        self._waiting.append((due, deliver))
        if self._timer is None:
            self._timer = self._loop.call_at(due, self._on_timer)

    def queue_ms(self) -> float:
        """Current queueing delay at the bottleneck, in ms (0 without a rate limit)."""
        if self.conditions is None or self.conditions.rate_kbps is None:
            return 0.0
        return max(0.0, self._last_depart - self._loop.time()) * 1000.0

    def counters(self) -> dict[str, int]:
        return {
            "packets": self.packets,
            "bytes": self.bytes,
            "dropped_loss": self.dropped_loss,
            "dropped_queue": self.dropped_queue,
            "delayed": self.delayed,
        }

    # -- delivery

    def _on_timer(self) -> None:
        self._timer = None
        if not self._waiting:
            return
        # the head is what the timer was armed for; equal due times tie-break in FIFO
        head_due, deliver = self._waiting.popleft()
        self._ready.append(deliver)
        limit = max(head_due, self._loop.time() + _TIMER_SLACK_S)
        while self._waiting and self._waiting[0][0] <= limit:
            self._ready.append(self._waiting.popleft()[1])
        if self._waiting:
            self._timer = self._loop.call_at(self._waiting[0][0], self._on_timer)
        self._ensure_drain()

    def _ensure_drain(self) -> None:
        if self._drain is None and self._ready:
            # strong reference: the loop only keeps weak references to tasks
            self._drain = self._loop.create_task(self._run_drain(), name=f"nbrtc-netem-{self.name}")

    async def _run_drain(self) -> None:
        try:
            while self._ready:
                deliver = self._ready.popleft()
                try:
                    await deliver()
                except ConnectionError:
                    pass  # the transport closed while the packet was in flight: lost
                except Exception:
                    logger.exception("netem: delivering a delayed %s packet failed", self.name)
        finally:
            self._drain = None

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            self._ready.append(self._waiting.popleft()[1])
        self._ensure_drain()

    def close(self) -> None:
        """Drop everything in flight and cancel the timer and the drain task."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()
        self._ready.clear()
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
        self.conditions = None


# --------------------------------------------------------------------------- the impairment


def _check_aiortc() -> None:
    """Fail clearly if this aiortc lacks the private methods we shadow."""
    problems = _upstream.netem_problems()
    if problems:
        raise RuntimeError(
            "nbrtc's network impairment relies on private aiortc internals as found in "
            f"aiortc{_upstream.tested_range('aiortc')} ({', '.join(problems)} missing or "
            f"changed in the installed aiortc {_upstream.installed_version('aiortc')}); it "
            "cannot be used with this aiortc version"
        )


class Impairment:
    """Emulated network conditions for one ``RTCPeerConnection``.

    One per peer connection; every method runs on the peer connection's asyncio loop
    (the aiortc thread); ``set``, ``attach_transports`` and ``close`` raise
    ``RuntimeError`` when called from another thread.

    Transports: the constructor hooks every DTLS transport the peer connection has
    (transceivers' ``sender.transport``/``receiver.transport`` and ``pc.sctp.transport``;
    with BUNDLE these are one object), and it re-checks on every ``"signalingstatechange"``
    of the peer connection, which aiortc emits at the end of each ``setLocalDescription``
    and ``setRemoteDescription`` (after BUNDLE has replaced transports, before media
    starts). So transports created later by negotiation are covered without any call;
    :meth:`attach_transports` does the same check explicitly and is idempotent.

    When the peer connection closes, the impairment closes itself (see :meth:`close`).
    """

    def __init__(self, pc: RTCPeerConnection, *, seed: int | None = None) -> None:
        """Hook ``pc``'s transports (unimpaired until :meth:`set`). Call on ``pc``'s loop.

        ``seed`` makes loss and jitter reproducible (``random.Random(seed)``).
        """
        _check_aiortc()
        if not isinstance(pc, RTCPeerConnection):
            raise TypeError(f"pc must be an aiortc RTCPeerConnection, got {_describe(pc)}")
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Impairment must be created on the peer connection's event loop "
                "(inside a coroutine or callback running on the aiortc thread)"
            ) from None
        self._pc = pc
        self._rng = random.Random(seed)
        self._conditions = NetworkConditions()
        self._closed = False
        self._send = _Pipe("send", self._loop, self._rng)
        self._recv = _Pipe("recv", self._loop, self._rng)
        # transport -> {hook name: the instance attribute it had before (or _MISSING)}
        self._saved: dict[RTCDtlsTransport, dict[str, object]] = {}
        # transport -> {hook name: our wrapper}, to restore only what is still ours
        self._wrappers: dict[RTCDtlsTransport, _upstream.DtlsPacketMethods] = {}
        try:
            self.attach_transports()
        except BaseException:
            self._restore()  # leave no half-hooked transport behind
            self._closed = True
            raise
        pc.on("signalingstatechange", self._on_signaling)
        pc.on("connectionstatechange", self._on_connection)

    # -- public API

    @property
    def conditions(self) -> NetworkConditions:
        """The conditions last passed to :meth:`set` (all-default before)."""
        return self._conditions

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (explicitly or because the connection closed)."""
        return self._closed

    def set(self, conditions: NetworkConditions) -> None:
        """Apply ``conditions`` at once, to every DTLS transport of the peer connection.

        Packets already in flight keep their schedule; new packets never overtake them.
        Conditions that are not :meth:`NetworkConditions.active` (all zero) turn the
        impairment off: queued packets are delivered immediately and later packets take
        aiortc's original path directly. Raises ``RuntimeError`` after :meth:`close`.
        """
        self._check_loop()
        if self._closed:
            raise RuntimeError(
                "this Impairment is closed (its peer connection closed or close() was "
                "called); create a new Impairment to impair a connection again"
            )
        if not isinstance(conditions, NetworkConditions):
            raise TypeError(
                f"conditions must be a NetworkConditions, got {_describe(conditions)}; "
                "build one with check_conditions(**kwargs)"
            )
        self.attach_transports()
        self._conditions = conditions
        self._send.configure(conditions if conditions.applies_to("send") else None)
        self._recv.configure(conditions if conditions.applies_to("recv") else None)

    def attach_transports(self) -> int:
        """Hook DTLS transports of the peer connection not hooked yet; return how many.

        Called automatically by the constructor, :meth:`set` and on every signaling
        state change; calling it after ``setRemoteDescription`` is harmless. No-op once
        closed. Loop thread.
        """
        self._check_loop()
        if self._closed:
            return 0
        added = 0
        for transport in self._transports():
            if transport not in self._saved:
                self._hook(transport)
                added += 1
        return added

    def stats(self) -> dict[str, Any]:
        """Plain-data snapshot of the conditions and per-direction counters. Loop thread.

        ``{"conditions": {...}, "send": {"packets", "bytes", "dropped_loss",
        "dropped_queue", "delayed"}, "recv": {...}, "queue_ms": {"send": ms, "recv": ms}}``.
        ``packets``/``bytes`` count RTP+RTCP offered to the network in that direction
        (including dropped ones); ``delayed`` counts packets not delivered at once;
        ``queue_ms`` is the current queueing delay at the rate limit.
        """
        return {
            "conditions": self._conditions.to_dict(),
            "send": self._send.counters(),
            "recv": self._recv.counters(),
            "queue_ms": {"send": self._send.queue_ms(), "recv": self._recv.queue_ms()},
        }

    def close(self) -> None:
        """Stop impairing: restore the transports' methods, drop packets still queued.

        Idempotent. Also called when the peer connection's state becomes "closed".
        Loop thread (or any thread once that loop has stopped).
        """
        if self._closed:
            return
        self._check_loop(allow_stopped=True)
        self._closed = True
        self._send.close()
        self._recv.close()
        self._restore()
        self._pc.remove_listener("signalingstatechange", self._on_signaling)
        self._pc.remove_listener("connectionstatechange", self._on_connection)

    # -- internals

    def _restore(self) -> None:
        """Put back the instance attributes our wrappers replaced."""
        for transport, saved in self._saved.items():
            # someone who wrapped on top of us keeps theirs; ours is then a pass-through
            # because it checks self._closed
            _upstream.restore_dtls_packet_methods(transport, saved, self._wrappers[transport])
            if _OWNERS.get(transport) is self:
                del _OWNERS[transport]
        self._saved.clear()
        self._wrappers.clear()

    def _check_loop(self, *, allow_stopped: bool = False) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return
        if allow_stopped and not self._loop.is_running():
            return  # nothing else can touch the transports any more
        raise RuntimeError(
            "Impairment methods must be called on the peer connection's event loop thread"
        )

    def _on_signaling(self) -> None:
        # pyee calls this synchronously inside aiortc's set*Description: never let an
        # exception escape into the negotiation
        if self._closed:
            return
        try:
            self.attach_transports()
        except Exception:
            logger.exception("netem: could not hook new transports")

    def _on_connection(self) -> None:
        if self._pc.connectionState == "closed":
            self.close()

    def _transports(self) -> list[RTCDtlsTransport]:
        found: list[RTCDtlsTransport] = []
        candidates: list[object] = []
        for transceiver in self._pc.getTransceivers():
            candidates += [transceiver.sender.transport, transceiver.receiver.transport]
        sctp = self._pc.sctp
        if sctp is not None:
            candidates.append(sctp.transport)
        for t in candidates:
            if isinstance(t, RTCDtlsTransport) and t not in found:
                found.append(t)
        return found

    def _hook(self, transport: RTCDtlsTransport) -> None:
        owner = _OWNERS.get(transport)
        if owner is not None and owner is not self and not owner._closed:
            raise RuntimeError(
                "this peer connection's transport is already impaired by another "
                "Impairment; close that one first (one Impairment per RTCPeerConnection)"
            )
        # bound methods as they resolve now (the class's, or an earlier instance wrapper)
        send_rtp, handle_rtp, handle_rtcp = _upstream.dtls_packet_methods(transport)
        send_pipe, recv_pipe = self._send, self._recv

        async def _send_rtp(data: bytes) -> None:
            # Not connected: let aiortc raise its ConnectionError so senders stop as usual.
            if self._closed or transport.state != "connected":
                await send_rtp(data)
                return
            due = send_pipe.admit(len(data), droppable=not is_rtcp(data))
            if due is None:
                return  # lost on the emulated network; the sender cannot tell
            if send_pipe.now_ok(due):
                await send_rtp(data)
            else:
                # return at once: the RTP sender must not wait for the emulated delay
                send_pipe.schedule(due, functools.partial(send_rtp, data))

        async def _deliver_rtp_late(data: bytes) -> None:
            # arrival time of the actual delivery, so aiortc's jitter and bandwidth
            # estimation see the impaired network
            await handle_rtp(data, arrival_time_ms=_upstream.arrival_clock_ms())

        async def _handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if self._closed:
                await handle_rtp(data, arrival_time_ms=arrival_time_ms)
                return
            due = recv_pipe.admit(len(data), droppable=True)
            if due is None:
                return
            if recv_pipe.now_ok(due):
                await handle_rtp(data, arrival_time_ms=arrival_time_ms)
            else:
                recv_pipe.schedule(due, functools.partial(_deliver_rtp_late, data))

        async def _handle_rtcp_data(data: bytes) -> None:
            if self._closed:
                await handle_rtcp(data)
                return
            due = recv_pipe.admit(len(data), droppable=False)
            if due is None:
                return
            if recv_pipe.now_ok(due):
                await handle_rtcp(data)
            else:
                recv_pipe.schedule(due, functools.partial(handle_rtcp, data))

        wrappers = _upstream.DtlsPacketMethods(_send_rtp, _handle_rtp_data, _handle_rtcp_data)
        saved = _upstream.shadow_dtls_packet_methods(transport, wrappers)
        self._saved[transport] = saved
        self._wrappers[transport] = wrappers
        _OWNERS[transport] = self
