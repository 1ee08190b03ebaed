"""``PeerManager``: the kernel's single owner of streams and router of signaling messages.

Threads:
- ``handle_message`` runs on the kernel's main thread (comm handler). It validates and
  hands the message to the media loop; it never blocks and never raises.
- Everything that touches aiortc runs on the media loop (``_dispatch`` and below).
- ``close_widget``/``streams``/``resources``/``shutdown`` are safe from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import gc
import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from .. import _memory, _redact
from .._config import config
from .._loop import MediaLoop
from .._transport import bitrate as _bitrate
from .._transport import decoder_handoff as _decoder_handoff
from .._transport import ice_prompt as _ice_prompt
from .._transport import rtp_recovery as _rtp_recovery
from .._transport.ice import install_loopback_candidates, install_turn_reports
from . import cells as _cells
from .liveness import WATCHDOG_TICK
from .preoffer import KernelOffers
from .protocol import (
    MAX_LIVE,
    Message,
    ProtocolError,
    make_error,
    make_message,
    parse_browser_message,
    split_batch,
)
from .stream import KernelStream
from .tombstones import TOMBSTONES, Tombstones

if TYPE_CHECKING:
    from .owner import CellOwned, Handler, ServerStream, SignalingOwner, Silent, StreamOwner

    #: a stream the manager routes: a kernel peer's, or one whose far end is a server
    AnyStream = KernelStream | ServerStream

log = logging.getLogger("nbrtc")

#: how long the browser may stay silent (kernel idle) before its streams are closed
BROWSER_TIMEOUT = 3.5
#: a page's streams share one kernel ping per this many seconds (their watchdogs each
#: ask every 0.8 s, liveness.PING_EVERY_TICKS; the page gives up after 3 s of silence)
PAGE_PING_GAP = 0.6
#: seconds that every media-server teardown (Janus sessions, broadcasts, rooms) shares
#: at the kernel's exit, whatever their number: the rest of the contract's 2 s goes to
#: the streams and the media thread. A teardown still running then is cut; the server
#: ends what it left when the kernel's socket closes (or after its session timeout).
SHUTDOWN_SHARE = 1.0
#: Validated messages waiting for the media loop. They are dispatched in slices of at
#: most INBOX_SLICE seconds, so that a flood (thousands of messages from one page) never
#: holds the media loop longer than that: asyncio runs every ready callback of a loop
#: iteration before any timer, so one callback per message let 5,000 queued candidates
#: delay every stream's timers by 150-400 ms.
INBOX_SLICE = 0.005
#: messages the inbox holds at most; beyond, a message is refused with `limit`
INBOX_SIZE = 10_000
#: comm frames (each up to MAX_FRAME_BYTES) one stream may have waiting in the inbox: the
#: page sends at most a window of 2 unacknowledged frames (js/transport/comm.js), so more is a page
#: that ignores flow control, and its frames are refused rather than held in memory
MAX_FRAMES_WAITING = 8
#: comm audio chunks (40 ms each, up to MAX_AUDIO_BYTES) one stream may have waiting: the
#: page keeps at most 600 ms (15 chunks) unacknowledged (js/transport/comm-audio.js), so 25 is only
#: passed by a page that ignores flow control
MAX_AUDIO_WAITING = 25


class PeerManager:
    """Owns every kernel peer; routes every signaling message by stream id."""

    def __init__(self) -> None:
        install_loopback_candidates()
        install_turn_reports()  # TURN failures in words (docs/protocol.md)
        _rtp_recovery.install_rtp_recovery()  # keyframe at once after a network gap
        _decoder_handoff.install()  # decoded frames to the media loop without a Task each
        _bitrate.install()  # the REMB estimate without a Python step per millisecond
        _ice_prompt.install()  # DTLS starts as ICE completes, not at aioice's next tick
        _redact.install()  # no ICE password in aiortc's or the comm's DEBUG logs
        # the loop's implementation is read at each start of the media thread
        self.media = MediaLoop(lambda: config.media_loop)
        self._lock = threading.RLock()
        self._streams: dict[str, AnyStream] = {}
        #: hands the memory closed streams freed back to the system, and collects
        #: reference cycles when no stream is left (_memory.py)
        self.trimmer = _memory.Trimmer(idle=self._no_streams)
        #: closed stream id -> the key of the page that owned it (checked in _dispatch)
        self._dead = Tombstones()
        #: every registered widget's port (the widget holds it: gone with the widget)
        self._widgets: weakref.WeakSet[CellOwned] = weakref.WeakSet()
        #: IPython's cell hooks; the runtime in use until the first widget picks the host's
        self._ipython = _cells.IPythonCells(self._close_cell)
        self._cells: _cells.CellRuntime = self._ipython
        self._hooks_installed = False
        self._shut_down = False
        self._shutdown_deadline: float | None = None
        #: page key -> (when its last ping went out, the streams that ping listed)
        self._page_pings: dict[str, tuple[float, frozenset[str]]] = {}
        #: media-server teardowns started during the kernel's exit (wait_teardown)
        self._teardowns: list[concurrent.futures.Future[Any]] = []
        self.errors_sent = 0
        self._inbox: collections.deque[tuple[SignalingOwner, Message]] = collections.deque()
        self._inbox_lock = threading.Lock()
        self._draining = False
        #: stream id -> comm frames of it waiting in the inbox (MAX_FRAMES_WAITING)
        self._frames_waiting: dict[str, int] = {}
        #: stream id -> comm audio chunks of it waiting in the inbox (MAX_AUDIO_WAITING)
        self._audio_waiting: dict[str, int] = {}
        #: page id (the part of a stream id before its last "-") -> the key of the page
        #: that used it first; see claim()
        self._page_keys: collections.OrderedDict[str, str] = collections.OrderedDict()
        #: (type, code) -> (time of the last warning logged, refusals not logged since)
        self._error_log: dict[tuple[str | None, str], tuple[float, int]] = {}
        #: the kernel's offers no page answered yet (preoffer.py)
        self.offers = KernelOffers(self)

    # --- widgets and cells (main thread) ----------------------------------------------------
    def register(self, owner: CellOwned) -> None:
        """Track a widget (its port, ``owner``) and remember the cell that made it."""
        self._install_hooks()
        owner.cell_id = self.current_cell
        self._cells.adopt(owner.cell_id)
        self._widgets.add(owner)

    def _install_hooks(self) -> None:
        if self._hooks_installed:
            return
        self._hooks_installed = True
        # the host's cell runtime (cells.py): IPython's hooks, or marimo's lifecycle registry
        self._cells = _cells.detect(self._ipython, self._close_cell)
        # threading's own exit hook runs before non-daemon threads are joined (unlike
        # atexit), so a decoder thread left by aiortc's MediaPlayer cannot hang the exit.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            register(self.shutdown)
        else:  # pragma: no cover
            import atexit

            atexit.register(self.shutdown)

    def _close_cell(self, cell_id: str) -> None:
        """``cell_id`` runs again (or is deleted): close the widgets its previous run made
        (no duplicate camera). Kernel main thread."""
        for widget in list(self._widgets):
            if widget.cell_id == cell_id and not widget.closed:
                log.info("cell %s runs again: closing %s", cell_id, widget.model_id)
                widget.close()

    def _pre_run_cell(self, info: Any) -> None:
        """IPython's ``pre_run_cell`` (cells.IPythonCells), by the manager's old name."""
        self._ipython.pre_run_cell(info)

    def _post_run_cell(self, result: Any) -> None:
        """IPython's ``post_run_cell`` (cells.IPythonCells), by the manager's old name."""
        self._ipython.post_run_cell(result)

    @property
    def _busy(self) -> bool:
        return self._cells.busy

    @_busy.setter
    def _busy(self, value: bool) -> None:
        # tests mark a cell as running where no host does
        self._cells.mark_busy(value)

    @property
    def current_cell(self) -> str | None:
        """The running cell's id (None between cells). Any thread."""
        return self._cells.current_cell

    @property
    def busy(self) -> bool:
        """A cell is running (IPython: between the pre- and post-run hooks; marimo: while
        its context names a cell): the page's messages queue behind it. Any thread."""
        return self._cells.busy

    def browser_silent(self, subject: Silent, elapsed: float) -> bool:
        """Count ``elapsed`` seconds of silence for ``subject`` (a stream, a room member)
        unless a cell is running (comm messages queue behind a running cell, so silence
        then proves nothing);
        True once the browser stayed silent for BROWSER_TIMEOUT seconds of idle kernel
        time. Counting only idle time, instead of restarting the grace after every cell,
        keeps a crashed tab from living on while the user runs short cells. Media loop."""
        if not self._busy:
            subject.silence += elapsed
        return subject.silence > BROWSER_TIMEOUT

    # --- liveness, one ping per page ---------------------------------------------------
    def ping_page(self, stream: AnyStream, t: float, asked: bool = False) -> None:
        """``stream``'s watchdog wants its page pinged (media loop). One ping goes out
        per page and PAGE_PING_GAP, on whichever of its streams asks first, listing
        (``live``) every open stream of that page: the page's router feeds each listed
        stream's watchdog. A stream the last ping did not list (a new one) gets its own.
        With 16 views in a page this is one ping where there were 16. It goes on the
        asking stream's control channel when that is open (no IOPub message, control.py)
        and through the comm too only while the channel does not work.
        While a stream of the page has been silent for ``liveness.ASK_AFTER`` the ping
        also goes through the comm, at every watchdog tick, with ``"ask": true``: the
        page answers it through the comm at once (its heartbeat stays off the comm while
        it hears the kernel on a control channel, js/peer/control.js). ``asked``: the page
        asked for this ping (its ping with ``ask``, after 1.25 s without a word from the
        kernel): it goes through the comm now, whatever the gap."""
        now = time.monotonic()
        key = stream.key
        last = self._page_pings.get(key)
        # seconds since the page's last ping listed this stream (None: never, or asked)
        age = now - last[0] if not asked and last is not None and stream.id in last[1] else None
        if age is not None and age < 0.9 * WATCHDOG_TICK:  # within either gap: done
            return
        with self._lock:
            others = [
                s
                for s in self._streams.values()
                if s.key == key and s is not stream and not s.closed
            ]
        # A page that went quiet (liveness.ASK_AFTER) is asked to answer through the comm
        # at once: it sends its heartbeat there only when asked, or when it hears the
        # kernel on no control channel (js/peer/control.js).
        silent = [s for s in (stream, *others) if isinstance(s, KernelStream) and s.wants_answer()]
        ask = bool(silent)
        if age is not None and not ask and age < PAGE_PING_GAP:
            return
        live = [stream.id, *(s.id for s in others)][:MAX_LIVE]
        payload = {"t": round(t, 3), "live": live}
        on_comm = not isinstance(stream, KernelStream) or stream.control.ping(payload)
        if on_comm or ask or asked:
            stream.send("ping", {**payload, "ask": True} if ask else payload)
            for s in silent:
                s.asked += 1
        if len(self._page_pings) > 256:  # pages come and go: forget the long-quiet ones
            self._page_pings = {k: v for k, v in self._page_pings.items() if now - v[0] < 10}
        self._page_pings[key] = (now, frozenset(live))

    def _vouched_for(self, carrier: AnyStream, live: Any) -> None:
        """The page's heartbeat (on ``carrier``) lists its live streams: each of them that
        belongs to the same page (key) has been heard from. Media loop."""
        if not isinstance(live, list):
            return
        with self._lock:
            found = [self._streams.get(sid) for sid in live[:MAX_LIVE] if sid != carrier.id]
        for stream in found:
            if stream is not None and stream.key == carrier.key:
                stream.heard()

    # --- routing ------------------------------------------------------------------------
    def handle_message(self, widget: SignalingOwner, content: Any, buffers: Any = None) -> None:
        """Comm handler entry point (kernel main thread). Never raises.

        A page's ``batch`` is taken apart here: each of its messages is checked, queued
        and answered exactly as if it had come alone (docs/protocol.md "Batches")."""
        try:
            batch = split_batch(content, buffers)
            if batch is None:
                self._take(widget, content, buffers)
            elif isinstance(batch, ProtocolError):
                self.reply_error(widget, batch)
            else:
                for item in batch:
                    self._take(widget, item, None)
        except Exception:  # pragma: no cover - defensive: a comm handler must not raise
            log.exception("nbrtc: failed to handle a message")

    def _take(self, widget: SignalingOwner, content: Any, buffers: Any) -> None:
        """Check one page message and queue it for the media loop (or reply its error)."""
        parsed = parse_browser_message(content, buffers)
        if isinstance(parsed, ProtocolError):
            self.reply_error(widget, parsed)
            return
        counts = self._media_waiting(parsed.type)
        bound = MAX_AUDIO_WAITING if parsed.type == "audio" else MAX_FRAMES_WAITING
        with self._inbox_lock:
            waiting = counts.get(parsed.stream, 0) if counts is not None else 0
            if len(self._inbox) >= INBOX_SIZE or waiting >= bound:
                full = True
            else:
                if counts is not None:
                    counts[parsed.stream] = waiting + 1
                full = False
                self._inbox.append((widget, parsed))
                start = not self._draining
                self._draining = True
        if full:
            self.reply_error(
                widget,
                ProtocolError(
                    "limit",
                    f"the kernel has {INBOX_SIZE} messages (or {bound} {parsed.type} "
                    "messages of this stream) waiting; this one was dropped",
                    parsed.stream,
                    parsed.type,
                ),
            )
        elif start:
            self.media.call_soon(self._drain)

    def _media_waiting(self, type_: str) -> dict[str, int] | None:
        """The per-stream count of waiting comm media of ``type_`` (None: not media)."""
        if type_ == "frame":
            return self._frames_waiting
        return self._audio_waiting if type_ == "audio" else None

    async def flushed(self) -> None:
        """Return once every message handed to ``handle_message`` before this call was
        dispatched (media loop; e.g. ``media.run(manager().flushed(), 5)``)."""
        marker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._inbox_lock:
            self._inbox.append((None, marker))  # type: ignore[arg-type]
            start = not self._draining
            self._draining = True
        if start:
            self._drain()
        await marker

    def _drain(self) -> None:
        """Dispatch waiting messages in arrival order for at most INBOX_SLICE seconds,
        then yield to the media loop's timers and I/O and go on (media loop)."""
        deadline = time.monotonic() + INBOX_SLICE
        while True:
            with self._inbox_lock:
                if not self._inbox:
                    self._draining = False
                    return
                widget, msg = self._inbox.popleft()
                counts = None if isinstance(msg, asyncio.Future) else self._media_waiting(msg.type)
                if counts is not None:
                    left = counts.pop(msg.stream, 1) - 1
                    if left > 0:
                        counts[msg.stream] = left
            if isinstance(msg, asyncio.Future):  # a marker of flushed()
                if not msg.done():
                    msg.set_result(None)
                continue
            self._dispatch_safely(widget, msg)
            if time.monotonic() >= deadline:
                self.media.loop.call_soon(self._drain)
                return

    def reply_error(self, widget: SignalingOwner, err: ProtocolError) -> None:
        """Send ``err`` as an ``error`` reply (any thread). The warning is logged at most
        once a second per (type, code), with the number of refusals it stands for: a
        flood from one page must not become a flood of log lines."""
        self.errors_sent += 1
        now = time.monotonic()
        key = (err.type, err.code)
        with self._lock:
            last, hidden = self._error_log.get(key, (0.0, 0))
            due = now - last >= 1.0
            self._error_log[key] = (now, 0) if due else (last, hidden + 1)
            if len(self._error_log) > 256:
                self._error_log.clear()
        if due:
            more = f" (and {hidden} more like it in the last second)" if hidden else ""
            log.warning(
                "nbrtc: refused %s message: %s (%s)%s", err.type, err.code, err.message, more
            )
        widget.send(make_error(err))

    def _dispatch_safely(self, widget: SignalingOwner, msg: Message) -> None:
        try:
            self._dispatch(widget, msg)
        except Exception as exc:
            log.exception("nbrtc: internal error handling %s", msg.type)
            self.reply_error(widget, ProtocolError("internal", str(exc), msg.stream, msg.type))

    def _dispatch(self, widget: SignalingOwner, msg: Message) -> None:
        """Route one validated message (media loop)."""
        handler: Handler | None = widget.handler_for(msg.type)
        if handler is not None:
            # A room's members have no kernel peer: the room registered a handler of
            # every type, relays their signaling itself (nbrtc/_widgets/room.py) and
            # refuses what is not a room message; a Doctor registered `doctor` and checks
            # the page key and the path of those messages itself.
            handler(msg)
            return
        owner = widget.stream_owner
        if owner is None or msg.type in ("join", "signal", "doctor"):
            self.reply_error(
                widget,
                ProtocolError(
                    "wrong-kind",
                    f"{msg.type} is a room message; this is a {widget.kind} widget"
                    if owner is not None
                    else f"a {widget.kind} widget handles no {msg.type} message",
                    msg.stream,
                    msg.type,
                ),
            )
            return
        self._route(owner, msg)

    def _route(self, widget: StreamOwner, msg: Message) -> None:
        """Route one validated message to a stream of ``widget`` (media loop)."""
        with self._lock:
            stream = self._streams.get(msg.stream)
            dead_key = self._dead.key(msg.stream)
        dead = dead_key is not None
        if msg.type in ("offer", "watch"):
            self._on_offer(widget, msg, stream, dead)
            return
        if msg.type == "answer" and stream is None and not dead:
            self.offers.answered(widget, msg)
            return
        if (stream is not None and stream.key != msg.key) or (dead and dead_key != msg.key):
            # Every page sees every stream id (the kernel's messages are broadcast on
            # IOPub), so an id proves nothing: only the page that offered the stream,
            # i.e. that holds its key, may speak for it (docs/protocol.md "Trust").
            log.info("nbrtc: refused %s for stream %s from another page", msg.type, msg.stream)
            self.reply_error(
                widget,
                ProtocolError(
                    "unknown-stream", f"no stream {msg.stream!r} here", msg.stream, msg.type
                ),
            )
            return
        if msg.type == "ice-servers":
            self._on_ice_servers(widget, msg, stream, dead)
            return
        if dead:
            if msg.type in ("error", "devices"):
                # The browser closes its peer right after reporting a failure, and the
                # peer's DTLS close can beat the comm message here: the stream is then
                # already gone, but the widget must still learn why (e.g. a camera
                # that does not exist after the answer).
                self._widget_level(widget, msg)
                return
            log.debug(
                "nbrtc: dropped late %s for closed stream %s: %.80r",
                msg.type,
                msg.stream,
                msg.payload,
            )
            return
        if stream is None and msg.type in ("error", "devices", "bye"):
            # The browser reports what happened before it could offer (getUserMedia
            # refused, no camera): there is no stream, but the widget must know.
            self._widget_level(widget, msg)
            return
        if stream is None or stream.owner is not widget:
            self.reply_error(
                widget,
                ProtocolError(
                    "unknown-stream", f"no stream {msg.stream!r} here", msg.stream, msg.type
                ),
            )
            return
        stream.heard()
        if msg.type == "ping" and isinstance(msg.payload, dict):
            self._vouched_for(stream, msg.payload.get("live"))
            if msg.payload.get("ask") is True:
                # the page has not heard the kernel for a while (the media path may be
                # dark towards it): its ping through the comm asks for one back there now
                if isinstance(stream, KernelStream):
                    stream.page_asked += 1
                self.ping_page(stream, time.monotonic(), asked=True)
        if not isinstance(stream, KernelStream):
            # its far end is a media server (_sfu/viewer.py): it takes what it relays
            # (answer, candidates, bye...) and refuses the rest in words
            stream.receive(msg)
            return
        stream.history.message("in", msg.type, msg.size, msg.payload)
        if msg.type == "answer":
            self.reply_error(
                widget,
                ProtocolError(
                    "out-of-order",
                    "answer is for a stream that watches a media server; this one offered",
                    msg.stream,
                    msg.type,
                ),
            )
            return
        # Tasks go through the stream, so its teardown cancels whatever is still pending.
        if msg.type == "candidate":
            if stream.take_candidate(msg.payload):
                stream.spawn(stream.add_candidate(msg.payload))
        elif msg.type == "state":
            stream.browser_state(msg.payload)
        elif msg.type == "stats":
            stream.browser_stats(msg.payload)
        elif msg.type == "ice-error":
            stream.browser_ice_error(msg.payload)
        elif msg.type == "transport":
            stream.page_transport(msg.payload["use"], msg.payload.get("why", ""))
        elif msg.type == "frame":
            stream.comm_frame(msg.payload, msg.data or b"")
        elif msg.type == "frame-ack":
            stream.comm_frame_ack(msg.payload["seq"])
        elif msg.type == "audio":
            stream.comm_audio(msg.payload, msg.data or b"")
        elif msg.type == "audio-ack":
            stream.comm_audio_ack(msg.payload["seq"])
        elif msg.type == "reoffer":
            stream.reoffer_arrived(msg.payload["sdp"])
            stream.spawn(
                stream.reoffer(
                    msg.payload["sdp"],
                    msg.payload.get("reason", ""),
                    fresh=msg.payload.get("fresh") is True,
                )
            )
        elif msg.type == "error":
            stream.browser_failed(msg.payload["name"], msg.payload.get("message", ""))
        elif msg.type == "devices":
            widget.set_devices(msg.payload)
        elif msg.type == "device":
            widget.pick_device(stream, msg)
        elif msg.type == "bye":
            reason = (msg.payload or {}).get("reason", "browser closed")
            stream.spawn(stream.close(f"browser: {reason}", notify_browser=False))

    def _on_ice_servers(
        self, widget: StreamOwner, msg: Message, stream: AnyStream | None, dead: bool
    ) -> None:
        """The page asks for the full ICE servers of a stream it is about to start (media
        loop). Answered at widget level, since the stream exists only after its offer;
        refused for a closed stream or widget, and once the stream has offered."""
        refusal: ProtocolError | None = None
        if dead or widget.closed:
            refusal = ProtocolError(
                "closed", "this stream or widget is closed", msg.stream, msg.type
            )
        elif stream is not None:
            refusal = ProtocolError(
                "out-of-order", "ice-servers comes before the offer", msg.stream, msg.type
            )
        if refusal is not None:
            self.reply_error(widget, refusal)
            return
        widget.answer_ice_servers(msg.stream)

    def _widget_level(self, widget: StreamOwner, msg: Message) -> None:
        if msg.type == "error":
            if widget.has_live_stream():
                # A live stream of this widget proves the browser can stream: an error
                # for a stream that never existed or already ended must not turn the
                # working widget into "error" (contract: never disturb another stream).
                log.info(
                    "nbrtc: ignored %s for stream %s: %s has a live stream",
                    msg.payload.get("name"),
                    msg.stream,
                    widget.model_id,
                )
                return
            widget.browser_error(msg.payload["name"], msg.payload.get("message", ""))
        elif msg.type == "devices":
            widget.set_devices(msg.payload)
        # a bye for a stream that never offered needs nothing

    def _on_offer(
        self, widget: StreamOwner, msg: Message, stream: AnyStream | None, dead: bool
    ) -> None:
        """An ``offer`` (a kernel peer answers it) or a ``watch`` (the widget's media
        server offers, _sfu/viewer.py): the same checks, one registry."""
        payload = msg.payload
        refusal: ProtocolError | None = None
        if not self.claim(msg.stream, msg.key):
            refusal = ProtocolError(
                "unknown-stream", "this stream id belongs to another page", msg.stream, "offer"
            )
        elif dead or widget.closed:
            refusal = ProtocolError(
                "closed", "this stream or widget is closed", msg.stream, "offer"
            )
        elif stream is not None:
            refusal = ProtocolError(
                "out-of-order", "this stream already has an offer", msg.stream, "offer"
            )
        elif payload["kind"] != widget.kind:
            refusal = ProtocolError(
                "wrong-kind",
                f"offer kind {payload['kind']!r} does not match a {widget.kind} widget",
                msg.stream,
                "offer",
            )
        elif msg.type == "watch" and widget.kind != "view":
            refusal = ProtocolError(
                "wrong-kind", f"a {widget.kind} widget watches no media server", msg.stream, "watch"
            )
        elif (over := self.stream_limits(msg.key, payload.get("page", ""))) is not None:
            refusal = ProtocolError(*over, msg.stream, "offer")
        if refusal is None and msg.type == "watch":
            server = widget.watch(self, msg)
            if server is None:
                refusal = ProtocolError(
                    "wrong-kind",
                    "this view plays a kernel source: it offers to the kernel, it watches "
                    "no media server",
                    msg.stream,
                    "watch",
                )
            else:
                with self._lock:
                    self._streams[server.id] = server
                widget.stream_added(server)  # type: ignore[arg-type]  # a server's stream
                server.start()
                return
        if refusal is not None:
            # the reply names what it answers: an offer or a watch
            refusal = ProtocolError(refusal.code, refusal.message, refusal.stream, msg.type)
            self.reply_error(widget, refusal)
            if refusal.code in ("closed", "limit", "wrong-kind"):
                widget.send(make_message("bye", msg.stream, {"reason": refusal.code}))
            return
        new = KernelStream(
            self,
            widget,
            msg.stream,
            payload["kind"],
            payload.get("page", ""),
            payload.get("view", ""),
            key=msg.key,
        )
        new.history.message("in", "offer", msg.size, payload)
        self.add_stream(new)
        widget.stream_added(new)
        # a view that offers did not take the kernel's offer (its page never saw it, e.g.
        # Voila's, which connects after the cells ran): its peer need not wait 30 s
        self.offers.drop(widget.model_id, "a view offered itself")
        if payload.get("transport") == "comm":
            new.start_comm()
        else:
            new.start(payload["sdp"])

    def claim(self, stream_id: str, key: str) -> bool:
        """May the page holding ``key`` start a stream (or join a room) as ``stream_id``?

        A page's stream ids are ``<pageId>-<n>``: public (the kernel's replies show them
        to every page) and predictable. The first key that uses a page id owns it, so
        another page cannot take a stream id before its page does. A page id is first
        seen in that page's own first offer or join, which no other page can see before
        the kernel answers it. Keyless messages (kernel tests, old pages) claim nothing.
        Any thread.
        """
        if not key:
            return True
        page_id = stream_id.rsplit("-", 1)[0]
        with self._lock:
            owner = self._page_keys.get(page_id)
            if owner is None:
                self._page_keys[page_id] = key
                while len(self._page_keys) > TOMBSTONES:
                    self._page_keys.popitem(last=False)
                return True
            self._page_keys.move_to_end(page_id)
            return owner == key

    def stream_limits(self, key: str, page: str) -> tuple[str, str] | None:
        """("limit", words) when a new stream of the page holding ``key`` (or, keyless,
        ``page``) would pass ``max_streams`` or ``max_streams_per_page``; else None."""
        with self._lock:
            total = len(self._streams)
        if total >= config.max_streams:
            return (
                "limit",
                f"this kernel already has {config.max_streams} streams "
                "(nbrtc.config.max_streams); close some widgets first",
            )
        if self._page_streams(key, page) >= config.max_streams_per_page:
            return (
                "limit",
                f"this page already has {config.max_streams_per_page} streams "
                "(nbrtc.config.max_streams_per_page); close some widgets first",
            )
        return None

    def stream_count(self) -> int:
        """Open and opening streams (any thread)."""
        with self._lock:
            return len(self._streams)

    def add_stream(self, stream: AnyStream) -> None:
        """Route ``stream``'s messages from now on (media loop)."""
        with self._lock:
            self._streams[stream.id] = stream

    def tombstone(self, stream_id: str) -> None:
        """No stream may ever use ``stream_id`` (an offer of the kernel's that ended)."""
        self._dead.bury(stream_id, "")

    def _page_streams(self, key: str, page: str) -> int:
        """How many open streams the page of ``key`` (or, keyless, of ``page``) holds."""
        with self._lock:
            live = list(self._streams.values())
        if key:
            return sum(1 for s in live if s.key == key)
        return sum(1 for s in live if not s.key and s.page == page)

    def _no_streams(self) -> bool:
        """Whether this kernel has no stream at all, open or opening (any thread)."""
        with self._lock:
            return not self._streams and not self.offers

    def forget(self, stream: AnyStream) -> None:
        """Drop ``stream`` and tombstone its id with its page's key (media loop)."""
        with self._lock:
            self._streams.pop(stream.id, None)
            self._dead.bury(stream.id, stream.key)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on a loop (a test's direct call): nothing to schedule
            return
        self.trimmer.stream_closed(loop)

    # --- closing (any thread) ----------------------------------------------------------------
    def close_streams(
        self, streams: list[AnyStream], reason: str
    ) -> concurrent.futures.Future[None] | None:
        """Close ``streams`` on the media loop; returns a future done when all are torn down."""
        if not streams or not self.media.running():
            return None

        async def close_all() -> None:
            await asyncio.gather(*(s.close(reason) for s in streams), return_exceptions=True)

        return self.media.start(close_all())

    def __repr__(self) -> str:
        with self._lock:
            states = [s.state for s in self._streams.values()]
        live = sum(1 for s in states if s == "live")
        widgets = sum(1 for w in self._widgets if not w.closed)
        return f"<nbrtc.PeerManager streams={len(states)} live={live} widgets={widgets}>"

    def streams(self) -> list[dict[str, Any]]:
        """Live streams: id, widget (model id), kind, page, state, age (s), frames, error."""
        with self._lock:
            live = list(self._streams.values())
        return [s.describe() for s in live]

    def resources(self) -> dict[str, Any]:
        """Counts for leak checks: streams, aiortc peers alive, threads, UDP sockets."""
        from aiortc import RTCPeerConnection

        gc.collect()
        peers = sum(1 for o in gc.get_objects() if isinstance(o, RTCPeerConnection))
        threads = threading.enumerate()
        return {
            "streams": len(self._streams),
            "widgets": sum(1 for w in self._widgets if not w.closed),
            "peers": peers,
            "threads": len(threads),
            "thread_names": sorted(t.name for t in threads),
            "udp_sockets": _count_udp_sockets(),
            "media_thread": self.media.running(),
        }

    def shutdown(self, timeout: float = 1.5) -> None:
        """Close every stream and stop the media thread (kernel exit; idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        deadline = self._shutdown_deadline = time.monotonic() + SHUTDOWN_SHARE
        try:
            for widget in list(self._widgets):
                widget.closed_by_shutdown()
            with self._lock:
                live = list(self._streams.values())
            fut = self.close_streams(live, "kernel-shutdown")
            if fut is not None:
                try:
                    fut.result(timeout)
                except Exception:
                    log.debug("streams did not close in time at shutdown", exc_info=True)
            dropping = self.offers.drop(None, "kernel-shutdown")
            if dropping is not None:
                try:
                    dropping.result(max(0.1, deadline - time.monotonic()))
                except Exception:
                    log.debug("kernel offers did not close in time at shutdown", exc_info=True)
            if self._teardowns:
                left = max(0.0, deadline - time.monotonic())
                _done, late = concurrent.futures.wait(self._teardowns, timeout=left)
                if late:
                    log.info("%d media-server teardowns cut short by the kernel's exit", len(late))
        finally:
            self._teardowns = []
            self.media.stop(timeout=1.0)
            try:  # recordings end with the kernel: finalize their files
                from .._media.recorder import stop_all

                stop_all(timeout=2.0)
            except Exception:
                log.debug("finalizing recordings at shutdown failed", exc_info=True)
            self._shut_down = False
            self._shutdown_deadline = None

    def wait_teardown(self, fut: concurrent.futures.Future[Any], wanted: float) -> None:
        """Wait up to ``wanted`` s for a media-server object's teardown (``fut``, running
        on the media loop); raises what ``fut.result`` raises. During the kernel's exit
        it does not wait: ``shutdown`` waits once for all of them together, at most
        until SHUTDOWN_SHARE has passed, so their number does not add up. Any thread."""
        if self._shutdown_deadline is not None:
            self._teardowns.append(fut)
            return
        fut.result(wanted)


def _count_udp_sockets() -> int:
    """UDP sockets this process holds (Linux /proc; -1 elsewhere)."""
    try:
        inodes = set()
        for name in ("udp", "udp6"):
            with open(f"/proc/net/{name}") as fh:
                for line in list(fh)[1:]:
                    parts = line.split()
                    if len(parts) > 9:
                        inodes.add(parts[9])
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                count += 1
        return count
    except OSError:
        return -1


_manager: PeerManager | None = None
_manager_lock = threading.Lock()


def manager() -> PeerManager:
    """The kernel's single :class:`PeerManager` (created on first use)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PeerManager()
        return _manager
