"""``Channel``: a named, two-way data channel on a widget's peer connections.

``ch = cam.channel("chat")`` opens an RTCDataChannel labelled "chat" on every live
stream of the widget (and on each stream that connects later); the browser shows it in
the widget and page scripts get ``nbrtc-message`` events. Objects go as JSON text,
``bytes`` as binary messages. Channels close with their streams.

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
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import StreamClosedError, StreamTimeoutError

if TYPE_CHECKING:
    from ._widget import StreamWidget

log = logging.getLogger("nbrtc")

#: the browser's control channel (it makes every offer carry a data section)
CONTROL_LABEL = "nbrtc"
#: SCTP message size both Chromium and aiortc accept without fragmentation trouble
MAX_MESSAGE_BYTES = 65_536
#: received messages kept for recv(); older ones are dropped (counted)
INBOX_SIZE = 1000
#: messages sent before any stream's channel opened, delivered when one opens
PENDING_SIZE = 1000


def check_label(label: Any) -> str:
    if not isinstance(label, str) or not label or len(label) > 128:
        raise ValueError(
            f"a channel label must be a non-empty string of at most 128 chars, got {label!r}"
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
        except (TypeError, ValueError) as exc:
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
    """Binary stays bytes; text is JSON when it parses, else the text itself."""
    if isinstance(message, bytes):
        return message
    try:
        return json.loads(message)
    except ValueError:
        return message


class Channel:
    """A named data channel of one widget (all of its streams). Made by ``widget.channel``."""

    def __init__(self, widget: StreamWidget, label: str) -> None:
        self.label = label
        self._widget = widget
        self._lock = threading.Lock()
        self._dcs: dict[str, Any] = {}  # stream id -> aiortc RTCDataChannel (media loop)
        self._pending: deque[str | bytes] = deque(maxlen=PENDING_SIZE)
        self._inbox: deque[Any] = deque(maxlen=INBOX_SIZE)
        self._waiters: list[concurrent.futures.Future[None]] = []
        self._callbacks: list[Callable[[Any], Any]] = []
        self._calls: deque[Any] = deque()
        self._calling = False
        self.closed = False
        self.sent = 0
        self.received = 0
        self.dropped = 0
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
        self._widget._manager.media.call_soon(self._send_on_loop, payload)

    def on_message(self, callback: Callable[[Any], Any] | None) -> None:
        """Call ``callback(data)`` for each message from the browser (None removes all).

        Callbacks run on a worker thread, one message at a time, in order. One that
        raises is logged and kept in ``callback_error``; later messages still arrive.
        """
        if callback is None:
            self._callbacks.clear()
            return
        if not callable(callback):
            raise TypeError(f"on_message needs a callable, got {type(callback).__name__}")
        self._callbacks.append(callback)

    def recv(self, timeout: float = 10.0) -> Any:
        """The oldest unread message from the browser; waits up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            item, fut = self._poll()
            if fut is None:
                return item
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout(timeout)
            with contextlib.suppress(concurrent.futures.TimeoutError):
                fut.result(min(left, 0.25))

    async def arecv(self, timeout: float = 10.0) -> Any:
        """Awaitable twin of :meth:`recv`."""
        deadline = time.monotonic() + timeout
        while True:
            item, fut = self._poll()
            if fut is None:
                return item
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout(timeout)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.wrap_future(fut), min(left, 0.25))

    def close(self) -> None:
        """Close this channel on every stream (idempotent, any thread)."""
        if self.closed:
            return
        self.closed = True
        self._widget._channel_closed(self)
        media = self._widget._manager.media
        if media.running():
            media.call_soon(self._close_on_loop)
        self._wake()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("open" if self.open else "waiting for a stream")
        return f"<nbrtc.Channel {self.label!r} {state} sent={self.sent} received={self.received}>"

    # --- internals ----------------------------------------------------------------------------
    def _poll(self) -> tuple[Any, concurrent.futures.Future[None] | None]:
        with self._lock:
            if self._inbox:
                return self._inbox.popleft(), None
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

    # media loop ---------------------------------------------------------------------------
    def _attach(self, stream_id: str, dc: Any) -> None:
        """Adopt ``dc`` (made by us or by the browser) as this channel on ``stream_id``."""
        if self.closed:
            dc.close()
            return
        self._dcs[stream_id] = dc

        @dc.on("open")
        def _opened() -> None:
            self._flush(dc)

        @dc.on("message")
        def _message(message: str | bytes) -> None:
            self._received(decode(message))

        @dc.on("close")
        def _closed() -> None:
            if self._dcs.get(stream_id) is dc:
                del self._dcs[stream_id]

        if dc.readyState == "open":
            self._flush(dc)

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
        for dc in list(self._dcs.values()):
            with contextlib.suppress(Exception):
                dc.close()
        self._dcs.clear()
        self._pending.clear()

    def _received(self, data: Any) -> None:
        self.received += 1
        with self._lock:
            if len(self._inbox) == self._inbox.maxlen:
                self.dropped += 1
            self._inbox.append(data)
        self._wake()
        if self._callbacks:
            self._calls.append(data)
            if not self._calling:
                self._calling = True
                asyncio.get_running_loop().run_in_executor(None, self._run_callbacks)

    # worker thread -------------------------------------------------------------------------
    def _run_callbacks(self) -> None:
        """Drain queued messages through the callbacks, in order, then hand back."""
        while True:
            try:
                data = self._calls.popleft()
            except IndexError:
                self._calling = False
                # a message queued between the pop failing and the flag clearing
                if self._calls and not self._calling:
                    self._calling = True
                    continue
                return
            for callback in list(self._callbacks):
                try:
                    callback(data)
                except Exception as exc:
                    self.callback_error = f"{type(exc).__name__}: {exc}"
                    log.warning("channel %s: on_message callback failed: %s", self.label, exc)
