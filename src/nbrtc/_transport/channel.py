"""``Channel``: a named, two-way data channel on a widget's peer connections.

``ch = cam.channel("chat")`` opens an RTCDataChannel labelled "chat" on every live
stream of the widget (and on each stream that connects later); the browser shows it in
the widget and page scripts get ``nbrtc-message`` events. Objects go as JSON text,
``bytes`` as binary messages. Channels close with their streams.

Everything that arrives on a channel comes from the page and is untrusted. aiortc calls
our ``message`` and ``datachannel`` handlers synchronously from its SCTP/DTLS receive
loop on the media loop, where an exception would end the whole transport (the camera
goes silent), so those handlers only store the raw message, never raise, and never
decode: decoding (and the user's callbacks) happen on the thread that consumes the
message. Every structure is bounded (see the constants below and :class:`PageChannels`).

Threads: ``send``/``recv``/``close`` are safe from any thread; aiortc's channel objects
live on the media loop; ``on_message`` callbacks run one at a time, in arrival order, on
the media loop's worker pool (never on the media loop itself).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .._signaling.protocol import ProtocolError
from ..errors import StreamClosedError, StreamTimeoutError

if TYPE_CHECKING:
    from .._loop import MediaLoop


class ChannelOwner(Protocol):
    """The widget whose data channels these are (its port, ``_widgets/base.py``), as this
    module sees it: a Protocol, so that channel.py does not import the widget module
    that imports it."""

    @property
    def closed(self) -> bool: ...

    @property
    def media(self) -> MediaLoop: ...

    def reply_error(self, err: ProtocolError) -> None:
        """An ``error`` reply to the page (any thread)."""


log = logging.getLogger("nbrtc")

#: the browser's control channel (it makes every offer carry a data section)
CONTROL_LABEL = "nbrtc"
#: longest label, in characters (the browser's limit too: js/core/channels.js MAX_LABEL_CHARS)
MAX_LABEL_CHARS = 256
#: SCTP message size both Chromium and aiortc accept without fragmentation trouble (sending)
MAX_MESSAGE_BYTES = 65_536
#: longest message the kernel takes: what its aiortc advertises (a=max-message-size), so a
#: browser never sends more; a longer one (from a peer that ignores it) is dropped
MAX_RECEIVE_BYTES = 262_144
#: received messages kept for recv(): at most this many and INBOX_BYTES; the oldest are
#: dropped (counted in ``dropped``)
INBOX_SIZE = 1000
INBOX_BYTES = 8 * 1024 * 1024
#: messages waiting for on_message callbacks: at most this many and CALLBACK_BYTES; the
#: oldest are dropped (counted in ``callback_dropped``)
CALLBACK_BACKLOG = 1000
CALLBACK_BYTES = 8 * 1024 * 1024
#: messages sent before any stream's channel opened, delivered when one opens
PENDING_SIZE = 1000
#: a label the page opened that no ``widget.channel()`` asked for keeps only this much
#: until Python asks for it
PAGE_INBOX_SIZE = 64
PAGE_INBOX_BYTES = 1024 * 1024
#: labels the page may open per widget that no ``widget.channel()`` asked for
PAGE_LABELS = 16
#: channels the page may have open per stream (the control channel included)
PAGE_CHANNELS = 32
#: seconds between two `limit` errors for the same bound on page channels (per widget)
ERROR_EVERY = 1.0


def check_label(label: Any) -> str:
    if not isinstance(label, str) or not label or len(label) > MAX_LABEL_CHARS:
        raise ValueError(
            "a channel label must be a non-empty string of at most "
            f"{MAX_LABEL_CHARS} chars, got {label!r:.300}"
        )
    if label == CONTROL_LABEL:
        raise ValueError(f"the label {CONTROL_LABEL!r} is reserved by nbrtc; pick another")
    return label


def encode(data: Any) -> str | bytes:
    """What goes on the wire: bytes as binary, anything else as JSON text."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload: str | bytes = bytes(data)
        size = len(payload)
    else:
        try:
            payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(
                f"channel messages are bytes or JSON-serialisable values; {exc}"
            ) from None
        size = len(payload.encode())
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"message of {size} bytes is over the {MAX_MESSAGE_BYTES}-byte limit; split it"
        )
    return payload


def decode(message: str | bytes) -> Any:
    """What Python gets for a message: binary stays bytes; text is the JSON value when it
    parses, else the text itself. Text that Python's decoder refuses (not JSON, nested
    deeper than the interpreter's recursion limit allows, an integer of more than 4300
    digits) also arrives as the text itself. Never raises; runs on the consuming thread."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    try:
        return json.loads(message)
    except (ValueError, RecursionError, MemoryError):
        return message


def _size(message: Any) -> int:
    """Memory a raw message holds (bounds count this, not the wire size)."""
    try:
        return sys.getsizeof(message)
    except Exception:  # pragma: no cover - str and bytes always have a size
        return MAX_MESSAGE_BYTES


def close_quietly(dc: Any) -> None:
    """Close an aiortc data channel; one that fails to close (its transport is going
    down) goes with its transport anyway."""
    with contextlib.suppress(Exception):
        dc.close()


def _words(exc: BaseException) -> str:
    """``Type: text`` of an exception whose ``__str__`` may itself fail (user code)."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__


class Backlog:
    """A FIFO of raw messages bounded by count and by bytes; pushing beyond either bound
    drops the oldest. Not thread-safe: the caller holds its lock."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: deque[tuple[Any, int]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, message: Any, size: int) -> int:
        """Append ``message``; returns how many (oldest first) were dropped for room."""
        self._items.append((message, size))
        self.bytes += size
        return self.trim()

    def trim(self) -> int:
        dropped = 0
        while self._items and (len(self._items) > self.max_items or self.bytes > self.max_bytes):
            _, size = self._items.popleft()
            self.bytes -= size
            dropped += 1
        return dropped

    def pop(self) -> Any:
        """The oldest message (IndexError when empty)."""
        message, size = self._items.popleft()
        self.bytes -= size
        return message

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


class Channel:
    """A named data channel of one widget (all of its streams). Made by ``widget.channel``.

    Counters: ``sent``, ``received`` (every message that arrived), ``dropped`` (messages
    recv() never saw: over the inbox bound of 1000 messages / 8 MiB, the oldest go, or
    longer than the 256 KiB the kernel advertises), ``callback_dropped`` (messages the
    ``on_message`` callbacks never saw because they fell more than 1000 messages / 8 MiB
    behind; the oldest go). The reason of the latest drop is in ``drop_reason``.
    """

    def __init__(self, table: ChannelTable, label: str, *, by_page: bool = False) -> None:
        self.label = label
        self._table = table
        self._lock = threading.Lock()
        self._dcs: dict[str, Any] = {}  # stream id -> aiortc RTCDataChannel (media loop)
        self._live: set[Any] = set()  # every dc not closed yet, replaced ones too
        self._pending: deque[str | bytes] = deque(maxlen=PENDING_SIZE)
        #: opened by the page, not (yet) asked for by widget.channel(): kept small
        self._by_page = by_page
        if by_page:
            self._inbox = Backlog(PAGE_INBOX_SIZE, PAGE_INBOX_BYTES)
        else:
            self._inbox = Backlog(INBOX_SIZE, INBOX_BYTES)
        self._waiters: list[concurrent.futures.Future[None]] = []
        self._callbacks: list[Callable[[Any], Any]] = []
        self._calls = Backlog(CALLBACK_BACKLOG, CALLBACK_BYTES)
        self._calling = False
        self.closed = False
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self.callback_dropped = 0
        self.drop_reason = ""
        self.callback_error = ""

    # --- public ------------------------------------------------------------------------------
    @property
    def open(self) -> bool:
        """True while at least one stream's channel is open."""
        return any(dc.readyState == "open" for dc in list(self._dcs.values()))

    def send(self, data: Any) -> None:
        """Send ``data`` (JSON-able value or bytes) to every view's browser end.

        Sent at once where the channel is open; before any is open, up to 1000 messages
        wait and go to the first stream whose channel opens.
        """
        if self.closed:
            raise StreamClosedError(f"channel {self.label!r} is closed")
        payload = encode(data)
        self._table.owner.media.call_soon(self._send_on_loop, payload)

    def on_message(self, callback: Callable[[Any], Any] | None) -> None:
        """Call ``callback(data)`` for each message from the browser (None removes all).

        Callbacks run on a worker thread, one message at a time, in order, with the
        decoded message (see :func:`decode`). One that raises is logged and kept in
        ``callback_error``; later messages still arrive. When they fall more than 1000
        messages (or 8 MiB) behind, the oldest waiting messages are dropped, counted in
        ``callback_dropped`` and logged once.
        """
        if callback is None:
            self._callbacks.clear()
            return
        if not callable(callback):
            raise TypeError(f"on_message needs a callable, got {type(callback).__name__}")
        self._callbacks.append(callback)

    def recv(self, timeout: float = 10.0) -> Any:
        """The oldest unread message from the browser, decoded (see :func:`decode`); waits
        up to ``timeout`` seconds. At most 1000 messages / 8 MiB wait unread; beyond
        that the oldest are dropped (``dropped``)."""
        deadline = time.monotonic() + timeout
        while True:
            item, fut = self._poll()
            if fut is None:
                return decode(item)
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout(timeout)
            with contextlib.suppress(concurrent.futures.TimeoutError):
                fut.result(min(left, 0.25))

    async def recv_async(self, timeout: float = 10.0) -> Any:
        """Awaitable twin of :meth:`recv`."""
        deadline = time.monotonic() + timeout
        while True:
            item, fut = self._poll()
            if fut is None:
                return decode(item)
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout(timeout)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.wrap_future(fut), min(left, 0.25))

    #: the name before the ``*_async`` rule (kept)
    arecv = recv_async

    def close(self) -> None:
        """Close this channel on every stream (idempotent, any thread)."""
        if self.closed:
            return
        self.closed = True
        self._table.remove(self)
        media = self._table.owner.media
        if media.running():
            media.call_soon(self._close_on_loop)
        self._wake()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("open" if self.open else "waiting for a stream")
        drops = f" dropped={self.dropped}" if self.dropped else ""
        if self.callback_dropped:
            drops += f" callback_dropped={self.callback_dropped}"
        return (
            f"<nbrtc.Channel {self.label!r} {state} sent={self.sent} "
            f"received={self.received}{drops}>"
        )

    # --- internals ----------------------------------------------------------------------------
    def _poll(self) -> tuple[Any, concurrent.futures.Future[None] | None]:
        with self._lock:
            if self._inbox:
                return self._inbox.pop(), None
            if self.closed:
                raise StreamClosedError(f"channel {self.label!r} is closed")
            fut: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._waiters.append(fut)
            return None, fut

    def _timeout(self, timeout: float) -> StreamTimeoutError:
        where = "" if self.open else " (no stream has this channel open: is the widget live?)"
        return StreamTimeoutError(f"no message on channel {self.label!r} within {timeout} s{where}")

    def _wake(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _claim(self) -> bool:
        """Python asked for this page-opened label (any thread, under the widget's stream
        lock): from now on it is a full channel. True if it was the page's until now."""
        if not self._by_page:
            return False
        self._by_page = False
        with self._lock:
            self._inbox.max_items, self._inbox.max_bytes = INBOX_SIZE, INBOX_BYTES
        return True

    # media loop ---------------------------------------------------------------------------
    def _attach(self, stream_id: str, dc: Any) -> None:
        """Adopt ``dc`` (made by us or by the browser) as this channel on ``stream_id``.

        The handlers run inside aiortc's receive loop: each is guarded so that nothing
        raises into it (that would end the stream's whole transport)."""
        if self.closed:
            close_quietly(dc)
            return
        self._dcs[stream_id] = dc
        self._live.add(dc)

        @dc.on("open")
        def _opened() -> None:
            self._guarded("open", self._flush, dc)

        @dc.on("message")
        def _message(message: str | bytes) -> None:
            self._guarded("message", self._received, message)

        @dc.on("close")
        def _closed() -> None:
            self._guarded("close", self._dc_closed, stream_id, dc)

        if dc.readyState == "open":
            self._flush(dc)

    def _guarded(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # never into aiortc: it would end the stream
            with contextlib.suppress(Exception):
                log.error(
                    "nbrtc: channel %.300r: %s handler failed: %s", self.label, what, _words(exc)
                )

    def _dc_closed(self, stream_id: str, dc: Any) -> None:
        self._live.discard(dc)
        if self._dcs.get(stream_id) is dc:
            del self._dcs[stream_id]
        if self._by_page and not self._live:
            self._retire()

    def _retire(self) -> None:
        """A page-opened label nobody asked for lost its last channel: forget it (its
        unread messages too), so page-made labels never pile up on the widget."""
        table = self._table
        with table.lock:
            if not self._by_page or self._live or self.closed:
                return  # claimed by Python meanwhile, or reopened
            self.closed = True
            table.remove(self)
        with self._lock:
            self._inbox.clear()
            self._calls.clear()
        self._wake()

    def _detach(self, stream_id: str) -> None:
        self._dcs.pop(stream_id, None)

    def _flush(self, dc: Any) -> None:
        while self._pending and dc.readyState == "open":
            self._send_one(dc, self._pending.popleft())

    def _send_one(self, dc: Any, payload: str | bytes) -> None:
        try:
            dc.send(payload)
            self.sent += 1
        except Exception as exc:  # closed under us: the message is lost, say so once
            log.debug("channel %s: send failed: %r", self.label, exc)

    def _send_on_loop(self, payload: str | bytes) -> None:
        targets = [dc for dc in self._dcs.values() if dc.readyState == "open"]
        if not targets:
            self._pending.append(payload)
            return
        for dc in targets:
            self._send_one(dc, payload)

    def _close_on_loop(self) -> None:
        for dc in list(self._live) + list(self._dcs.values()):
            close_quietly(dc)
        self._dcs.clear()
        self._live.clear()
        self._pending.clear()

    def _received(self, message: str | bytes) -> None:
        """One raw message from aiortc (media loop): store it, wake readers, queue the
        callbacks. Cheap and bounded; decoding happens on the consuming thread."""
        self.received += 1
        if not isinstance(message, (str, bytes)) or len(message) > MAX_RECEIVE_BYTES:
            self._drop_noted("inbox", 1, f"a message longer than {MAX_RECEIVE_BYTES} bytes")
            return
        size = _size(message)
        with self._lock:
            lost = self._inbox.push(message, size)
            call = bool(self._callbacks) and not self.closed
            late = self._calls.push(message, size) if call else 0
            start = call and not self._calling
            if start:
                self._calling = True
        if lost:
            self._drop_noted("inbox", lost, "more unread messages than recv() keeps")
        if late:
            self._drop_noted("callback", late, "on_message is slower than messages arrive")
        self._wake()
        if start:
            try:
                asyncio.get_running_loop().run_in_executor(None, self._run_callbacks)
            except Exception as exc:  # the pool is gone: the kernel is shutting down
                with self._lock:
                    self._calling = False
                    self._calls.clear()
                log.debug("channel %s: no worker for on_message: %r", self.label, exc)

    def _drop_noted(self, where: str, n: int, why: str) -> None:
        """Count ``n`` dropped messages; the first drop of each kind is logged."""
        if where == "callback":
            first = not self.callback_dropped
            self.callback_dropped += n
            total = self.callback_dropped
            what = "callback_dropped"
        else:
            first = not self.dropped
            self.dropped += n
            total = self.dropped
            what = "dropped"
        self.drop_reason = why
        if first:
            log.warning(
                "nbrtc: channel %.300r dropped %d message(s): %s (the oldest go first; "
                "ch.%s counts them, now %d)",
                self.label,
                n,
                why,
                what,
                total,
            )

    # worker thread -------------------------------------------------------------------------
    def _run_callbacks(self) -> None:
        """Drain queued messages through the callbacks, in order, then hand back."""
        done = False
        try:
            while True:
                with self._lock:
                    if not self._calls:
                        self._calling = False
                        done = True
                        return
                    raw = self._calls.pop()
                data = decode(raw)
                for callback in list(self._callbacks):
                    try:
                        callback(data)
                    except Exception as exc:
                        self.callback_error = _words(exc)
                        with contextlib.suppress(Exception):
                            log.warning(
                                "channel %s: on_message callback failed: %s",
                                self.label,
                                self.callback_error,
                            )
        finally:
            if not done:  # a BaseException from a callback: the next message starts a worker
                with self._lock:
                    self._calling = False


class ChannelTable:
    """One widget's channels by label (``widget.channel()``'s and the page's), and what
    its streams do with them. Guarded by the widget's stream lock (``lock``), which also
    guards its streams, so that a channel and a stream never miss each other.

    Threads: ``claim``, ``values``, ``remove`` and ``close_all`` from any thread; the rest
    on the media loop."""

    def __init__(self, owner: ChannelOwner, lock: threading.RLock) -> None:
        self.owner = owner
        self.lock = lock
        self._by_label: dict[str, Channel] = {}

    def get(self, label: str) -> Channel | None:
        with self.lock:
            return self._by_label.get(label)

    def values(self) -> list[Channel]:
        with self.lock:
            return list(self._by_label.values())

    def claim(self, label: str) -> tuple[Channel, bool]:
        """The channel Python asked for (``widget.channel(label)``; made here when new):
        ``(channel, opened)`` where ``opened`` says it must now be opened on the live
        streams (new, or the page's until now). Call under ``lock``."""
        existing = self._by_label.get(label)
        if existing is not None and not existing._claim():
            return existing, False
        channel = existing or Channel(self, label)
        self._by_label[label] = channel
        return channel, True

    def page_channel(self, label: str) -> tuple[Channel | None, str]:
        """The channel for a label the page opened (made when new, within PAGE_LABELS),
        or None and why not."""
        try:
            check_label(label)
        except ValueError as exc:
            return None, str(exc)
        with self.lock:
            channel = self._by_label.get(label)
            if channel is not None:
                return channel, ""
            if self.owner.closed:
                return None, "the widget is closed"
            unasked = sum(1 for c in self._by_label.values() if c._by_page)
            if unasked >= PAGE_LABELS:
                return None, (
                    f"the page opened {PAGE_LABELS} channel labels that Python never asked "
                    "for; call widget.channel(label) in Python for the labels it should take"
                )
            channel = self._by_label[label] = Channel(self, label, by_page=True)
            return channel, ""

    def page_labels(self) -> int:
        """How many labels only the page opened (none asked for by Python)."""
        with self.lock:
            return sum(1 for c in self._by_label.values() if c._by_page)

    def remove(self, channel: Channel) -> None:
        """``channel`` closed: forget its label (unless another channel took it)."""
        with self.lock:
            if self._by_label.get(channel.label) is channel:
                del self._by_label[channel.label]

    def close_all(self) -> None:
        for channel in self.values():
            channel.close()

    # --- what streams do with the channels (media loop) -------------------------------------
    def stream_negotiated(self, stream: Any) -> None:
        """``stream`` has its answer: open on it the channels Python asked for (labels
        only the page opened stay on the views that opened them)."""
        for channel in self.values():
            if channel._by_page:
                continue
            try:
                dc = stream.open_channel(channel.label)
            except Exception as exc:  # one channel must not fail the stream's answer
                log.warning("nbrtc: could not open data channel %.80r: %r", channel.label, exc)
                continue
            if dc is not None:
                channel._attach(stream.id, dc)

    def open_on(self, channel: Channel, streams: list[Any]) -> None:
        """Open ``channel`` on each of ``streams`` that has its answer and lacks it."""
        for stream in streams:
            if stream.id not in channel._dcs and "answer" in stream.timings:
                dc = stream.open_channel(channel.label)
                if dc is not None:
                    channel._attach(stream.id, dc)

    def stream_closed(self, stream_id: str) -> None:
        for channel in self.values():
            channel._detach(stream_id)


class PageChannels:
    """Which data channels a page may open on one widget's streams (media loop only).

    Bounds, each enforced by closing the new channel at once, counting it in ``refused``
    and replying ``error`` (code ``limit``, ref type ``channel``; per widget at most one a
    second for each of the bounds below, the rest only counted) with a log line:

    - per stream at most :data:`PAGE_CHANNELS` open channels that the page opened (its
      control channel included, and only one channel named ``nbrtc``);
    - per widget at most :data:`PAGE_LABELS` labels that no ``widget.channel()`` asked
      for (a page label the kernel cannot use, e.g. over 256 characters, is refused too).

    A page-opened label keeps only :data:`PAGE_INBOX_SIZE` messages until Python asks for
    it, and is forgotten when its last channel closes.
    """

    def __init__(self) -> None:
        self._live: dict[str, set[Any]] = {}  # stream id -> open channels the page opened
        self._control: dict[str, Any] = {}  # stream id -> its control channel
        self._told_at: dict[str, float] = {}  # bound -> monotonic time of its last error
        self.refused = 0

    def live(self, stream_id: str) -> int:
        """How many channels the page opened on ``stream_id`` are still open."""
        return len(self._live.get(stream_id, ()))

    def admit(self, table: ChannelTable, stream_id: str, dc: Any) -> None:
        """The page opened ``dc`` on ``stream_id``: adopt it, or close it and say why."""
        label = dc.label
        live = self._live.get(stream_id, set())
        channel: Channel | None = None
        if label == CONTROL_LABEL and stream_id in self._control:
            bound, reason = "control", "a view has one control channel"
        elif len(live) >= PAGE_CHANNELS:
            bound = "view"
            reason = f"a view may have {PAGE_CHANNELS} channels it opened itself open at once"
        elif label == CONTROL_LABEL:
            self._control[stream_id] = dc
            bound = reason = ""
        else:
            channel, reason = table.page_channel(label)
            bound = "label"
        if reason:
            self._refuse(table.owner, stream_id, dc, label, bound, reason)
            return
        live.add(dc)
        self._live[stream_id] = live

        @dc.on("close")
        def _closed() -> None:
            self._forget(stream_id, dc)

        if channel is not None:
            channel._attach(stream_id, dc)

    def _forget(self, stream_id: str, dc: Any) -> None:
        live = self._live.get(stream_id)
        if live is not None:
            live.discard(dc)
            if not live:
                del self._live[stream_id]
        if self._control.get(stream_id) is dc:
            del self._control[stream_id]

    def _refuse(
        self, owner: ChannelOwner, stream_id: str, dc: Any, label: str, bound: str, reason: str
    ) -> None:
        self.refused += 1
        close_quietly(dc)
        now = time.monotonic()
        if owner.closed or now - self._told_at.get(bound, -ERROR_EVERY) < ERROR_EVERY:
            log.debug("nbrtc: closed data channel %.80r the page opened: %s", label, reason)
            return
        self._told_at[bound] = now
        words = f"data channel {label[:80]!r} closed: {reason}"
        owner.reply_error(ProtocolError("limit", words, stream_id, "channel"))
