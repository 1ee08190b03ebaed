"""``StreamWidget``: what Camera and VideoView share (traits, streams, close, waiting).

Threads: the constructor, ``close`` and the blocking calls run on any user thread
(normally the kernel's main thread). ``_stream_*``, ``_on_frame`` and ``_tracks_for`` are
called by the manager on the media loop. Trait writes from the media loop are how the
browser and Python both learn about state changes while a cell is still running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

import anywidget
import traitlets

from .. import _redact
from .._bundle import esm
from .._config import (
    IceServerSpec,
    check_ice_servers,
    check_policy,
    config,
    has_turn,
    kernel_servers,
    public_rtc_config,
)
from .._inspection.controls import ConnectionMethods
from .._signaling.manager import manager
from .._signaling.protocol import COMM_KINDS, make_message
from .._transport.channel import Channel, PageChannels, check_label, close_quietly
from .._version import __version__
from ..errors import (
    NotDisplayedError,
    StreamClosedError,
    StreamError,
    StreamTimeoutError,
)
from .kernel_owned import KernelOwnedTraits

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from .._signaling.owner import DoctorFactory
    from .._signaling.stream import KernelStream

log = logging.getLogger("nbrtc")

CLOSE_WAIT = 1.0

#: states a user can wait for: "new" (no live view: not displayed yet, or its views were
#: removed), "connecting", "live", "error" (kept until a new view connects), "closed"
#: (only after close())
WIDGET_STATES = ("new", "connecting", "live", "closed", "error")


#: the ``transport=`` choices of every widget (see StreamWidget.transport_mode)
TRANSPORT_MODES = ("auto", "webrtc", "comm")

#: builds the Doctor of ``StreamWidget.doctor()`` from (ice_servers, policy); set by
#: register_doctor (from _doctor.py), so that this module never imports its subclass
_doctor_factory: DoctorFactory | None = None


def register_doctor(factory: DoctorFactory) -> None:
    """Called once by _doctor.py at import."""
    global _doctor_factory
    _doctor_factory = factory


class StreamWidget(KernelOwnedTraits, ConnectionMethods, anywidget.AnyWidget):
    """Base of nbrtc's media widgets. Not for direct use."""

    _esm = esm("widget.js")
    kind = traitlets.Unicode("view").tag(sync=True)
    state = traitlets.Unicode("new").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    #: the page's RTCConfiguration without secrets (synced, so saved with the notebook's
    #: widget state): ICE server URLs, and ``"credentials": "ask"`` when the page must
    #: ask the kernel for the logins (``ice-servers`` message, _answer_ice_servers)
    rtc_config = traitlets.Dict().tag(sync=True)
    #: seconds between the browser's getStats samples (0: none); from nbrtc.config
    stats_interval = traitlets.Float(1.0).tag(sync=True)
    #: how new streams start: "auto" (WebRTC, the comm when WebRTC has not connected
    #: after a short delay), "webrtc" (never the comm) or "comm" (never WebRTC)
    transport_mode = traitlets.Unicode("auto").tag(sync=True)
    #: a problem of the newest stream that has not (yet) ended it, in words: e.g. a TURN
    #: server refused the credentials while other paths are still tried (shown under the
    #: view); "" when there is none. Set by the kernel, cleared when a new stream starts.
    warning = traitlets.Unicode("").tag(sync=True)
    _version = traitlets.Unicode(__version__).tag(sync=True)
    #: message types this widget handles itself (``_own_message``) instead of the
    #: manager's stream routing; none for peer widgets (see _owner.StreamOwner)
    _own_messages: ClassVar[frozenset[str]] = frozenset()

    _kind = "view"

    def __init__(
        self,
        *,
        ice_servers: list[IceServerSpec] | None = None,
        ice_transport_policy: str | None = None,
        transport: str = "auto",
        **kwargs: Any,
    ) -> None:
        if transport not in TRANSPORT_MODES:
            raise ValueError(
                f"transport must be one of {TRANSPORT_MODES} (how streams start: 'comm' "
                f"sends video and sound over the notebook's own connection), got {transport!r}"
            )
        if transport == "comm" and self._kind not in COMM_KINDS:
            raise ValueError(
                f"transport='comm' carries cameras, screens, microphones and views only; "
                f"a {self._kind} widget needs WebRTC "
                "(transport='auto' or 'webrtc')"
            )
        servers = (
            check_ice_servers(ice_servers, "ice_servers")
            if ice_servers is not None
            else config.ice_servers
        )
        policy = (
            check_policy(ice_transport_policy, "ice_transport_policy")
            if ice_transport_policy is not None
            else config.ice_transport_policy
        )
        if policy == "relay" and not has_turn(servers):
            raise ValueError(
                "ice_transport_policy='relay' needs a TURN server, and ice_servers has none "
                f"({config.source if ice_servers is None else 'ice_servers='}): add one, e.g. "
                "ice_servers=[nbrtc.turn('turn:turn.example.org:3478', secret=...)]"
            )
        _redact.install()  # again: log handlers added since the last widget are covered
        self._closed = False
        self._closed_by_shutdown = False
        self._cell_id: str | None = None
        self._streams: dict[str, KernelStream] = {}
        self._stream_lock = threading.RLock()
        self._last_stream: KernelStream | None = None
        self._state_event = threading.Condition()
        self._widget_error: StreamError | None = None
        self._widget_error_at = 0.0
        self._servers = servers
        self._ice_policy = policy
        self._channels: dict[str, Channel] = {}
        self._init_teaching()
        super().__init__(
            kind=self._kind,
            rtc_config=public_rtc_config(servers, policy),
            stats_interval=config.stats_interval,
            transport_mode=transport,
            **kwargs,
        )
        self._manager = manager()
        self._manager.register(self)
        self.on_msg(self._on_custom_msg)
        # ipywidgets does not listen for the front end closing the comm (comm_close):
        # without this, the streams of a widget nothing can reach any more live on.
        if self.comm is not None:
            self.comm.on_close(self._on_comm_close)

    # --- comm --------------------------------------------------------------------------
    def _on_custom_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        self._manager.handle_message(self, content, buffers)

    def _on_comm_close(self, _msg: Any) -> None:
        """The front end closed this widget's comm (comm handler, kernel main thread): no
        offer, bye or candidate can arrive any more, so the widget closes. A comm handler
        must not block, and ``close()`` called on the media thread does not wait."""
        if self._closed:
            return
        log.info("nbrtc: the front end closed the comm of %s: closing it", self.model_id)
        media = self._manager.media
        if media.running():
            media.call_soon(self.close)
        else:  # no media loop: no stream to wait for
            self.close()

    def _send_protocol(self, msg: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """Send a protocol message (and a ``frame``'s binary buffer) to the browser (any
        thread; no-op once the comm closed)."""
        if self.comm is None:
            return
        try:
            self.send(msg, buffers)
        except Exception:
            log.debug("nbrtc: could not send %s", msg.get("type"), exc_info=True)

    def _ice_servers(self, tag: str = "kernel") -> list[dict[str, Any]]:
        """The full ICE servers for one stream (``tag``: its id), credentials included;
        ``nbrtc.turn`` servers get a credential minted for it. Any thread."""
        return kernel_servers(self._servers, tag)

    def _ice_policy_for(self, stream_id: str) -> str:
        """The kernel peer's ICE transport policy for ``stream_id`` (the widget's; a
        Doctor's probes have one per path). Media loop."""
        return self._ice_policy

    def doctor(self) -> Any:
        """An ``nbrtc.Doctor`` for this widget's own ICE servers and policy: which paths
        from the page to the kernel work, and what to do (see ``nbrtc.doctor``)."""
        if _doctor_factory is None:  # registered by _doctor.py, which `import nbrtc` loads
            raise RuntimeError("nbrtc's doctor is not loaded: import nbrtc first")
        return _doctor_factory(list(self._servers), self._ice_policy)

    def _own_message(self, msg: Any) -> None:
        """A message of a type in ``_own_messages`` (media loop); peer widgets have none."""
        raise NotImplementedError(f"{type(self).__name__} handles no message itself")

    def _answer_ice_servers(self, stream_id: str) -> None:
        """Send the page the full ICE servers for ``stream_id`` (media loop).

        The reply to the page's ``ice-servers`` request, which it sends right before it
        creates the RTCPeerConnection of a stream it is about to start when ``rtc_config``
        says ``"credentials": "ask"``. The credentials go to the page's memory only: the
        message is a custom comm message (never widget state), nbrtc logs its type and
        count only, and no stream history records it (the stream does not exist yet).
        """
        servers = self._ice_servers(stream_id)
        log.debug("nbrtc: sent %d ICE server(s) to stream %s", len(servers), stream_id)
        self._send_protocol(make_message("ice-servers", stream_id, {"iceServers": servers}))

    # --- stream bookkeeping (media loop) ---------------------------------------------------
    def _stream_added(self, stream: KernelStream) -> None:
        with self._stream_lock:
            self._streams[stream.id] = stream
            self._last_stream = stream
        if self.warning:
            self.warning = ""

    def _stream_warning(self, stream: KernelStream, words: str) -> None:
        """``stream`` has a problem that does not end it (yet) (media loop): the newest
        stream's shows as ``warning``."""
        if stream is self._last_stream and self.warning != words:
            self.warning = words

    def _stream_state_changed(self, stream: KernelStream) -> None:
        if stream is self._last_stream or stream.state == "live":
            if stream.state == "live":
                self._last_stream = stream
            self._update_state()

    def _stream_transport_changed(self, stream: KernelStream) -> None:
        """A stream moved to another transport (media loop): waiters of ``transport``
        wake up."""
        with self._state_event:
            self._state_event.notify_all()

    @property
    def transport(self) -> str:
        """How this widget's newest stream carries its media: ``"direct"`` (WebRTC
        peer to peer), ``"relay"`` (WebRTC through a TURN server), ``"comm"`` (the
        notebook's own connection, when WebRTC cannot connect), or ``""`` before it
        connected. Any thread."""
        stream = self._last_stream
        return stream.transport if stream is not None and not stream.closed else ""

    def _stream_closed(self, stream: KernelStream) -> None:
        self._remember_stream(stream)
        for channel in list(self._channels.values()):
            channel._detach(stream.id)
        with self._stream_lock:
            self._streams.pop(stream.id, None)
            if self._last_stream is stream and self._streams:
                self._last_stream = max(self._streams.values(), key=lambda s: s.created)
        self._update_state()

    def _update_state(self) -> None:
        """Derive the widget's state from its newest stream and publish it."""
        stream = self._last_stream
        failure = self._current_error()
        if self._closed:
            new, err = "closed", self.error
        elif failure is not None:  # kept after the failed stream's teardown closed it
            new, err = "error", str(failure)
        elif stream is None:
            new, err = "new", ""
        elif stream.state in ("new", "connecting"):
            new, err = "connecting", ""
        elif stream.state == "closed":
            # its views are gone but the widget is open: displaying it again starts a
            # new stream, so it is back to "new", not "closed"
            new, err = "new", ""
        else:
            new, err = stream.state, ""
        if new == "error":
            self._on_error(err)
        if self.state != new or self.error != err:
            log.info("widget %s: %s -> %s", self.model_id, self.state, new)
            with self.hold_sync():
                self.error = err
                self.state = new
        with self._state_event:
            self._state_event.notify_all()

    def _browser_error(self, name: str, message: str) -> None:
        """The browser failed before it could offer (media loop), e.g. camera refused."""
        from .._signaling.stream import browser_error

        self._widget_error = browser_error(name, message, self._kind)
        self._widget_error_at = time.monotonic()
        self._update_state()

    def _current_error(self) -> StreamError | None:
        """The newest failure: the browser's (before any offer) or the newest stream's."""
        stream = self._last_stream
        if self._widget_error is not None and (
            stream is None or stream.created < self._widget_error_at
        ):
            return self._widget_error
        return stream.error if stream is not None else None

    def _on_error(self, err: str) -> None:
        """Hook for subclasses: wake waiters when the stream failed."""

    def _tracks_for(self, stream: KernelStream) -> list[MediaStreamTrack]:
        """Tracks the kernel sends on ``stream`` (media loop)."""
        return []

    def _on_frame(self, stream: KernelStream, frame: Any) -> None:
        """A decoded frame from ``stream`` (media loop)."""

    def _set_devices(self, devices: list[dict[str, str]]) -> None:
        """The browser's device list (media loop)."""

    def _on_audio(self, stream: KernelStream, frame: Any) -> None:
        """A decoded audio frame from ``stream`` (media loop)."""

    def _stream_negotiated(self, stream: KernelStream) -> None:
        """``stream`` has its answer: open the channels Python asked for on it (media loop;
        labels only the page opened stay on the views that opened them)."""
        for channel in list(self._channels.values()):
            if channel._by_page:
                continue
            try:
                dc = stream.open_channel(channel.label)
            except Exception as exc:  # one channel must not fail the stream's answer
                log.warning("nbrtc: could not open data channel %.80r: %r", channel.label, exc)
                continue
            if dc is not None:
                channel._attach(stream.id, dc)

    def _on_datachannel(self, stream: KernelStream, dc: Any) -> None:
        """The browser opened a data channel on ``stream`` (media loop, inside aiortc's
        receive loop: nothing may raise into it). Admitted within the bounds of
        ``channel.PageChannels``; over them, closed at once with an ``error`` reply."""
        try:
            gate = self.__dict__.get("_page_channels")
            if gate is None:  # made here: the media loop is the only thread using it
                gate = self._page_channels = PageChannels()
            gate.admit(self, stream.id, dc)
        except Exception:
            log.exception("nbrtc: adopting data channel %.80r failed; closing it", dc.label)
            close_quietly(dc)

    # --- data channels --------------------------------------------------------------------
    def channel(self, label: str) -> Channel:
        """The data channel named ``label`` on every view's peer (made on first use).

        ``ch.send({"hello": 1})`` / ``ch.send(b"...")`` to the browser; ``ch.on_message(fn)``
        or ``ch.recv()`` for what the browser sends. It is opened on each live stream now
        and on every stream that connects later, and closes with the widget.
        """
        label = check_label(label)
        if self._closed:
            raise StreamClosedError(f"{type(self).__name__} is closed; it has no channels")
        with self._stream_lock:
            existing = self._channels.get(label)
            live = [s for s in self._streams.values() if not s.closed]
            if existing is not None and not existing._claim():
                return existing
            # new, or opened by the page until now: open it on every view from here on
            channel = existing or Channel(self, label)
            self._channels[label] = channel
        if live:
            self._manager.media.call_soon(self._open_on_streams, channel, live)
        return channel

    def _open_on_streams(self, channel: Channel, streams: list[KernelStream]) -> None:
        for stream in streams:
            if stream.id not in channel._dcs and "answer" in stream.timings:
                dc = stream.open_channel(channel.label)
                if dc is not None:
                    channel._attach(stream.id, dc)

    def _channel_closed(self, channel: Channel) -> None:
        with self._stream_lock:
            if self._channels.get(channel.label) is channel:
                del self._channels[channel.label]

    # --- public -----------------------------------------------------------------------
    @property
    def streams(self) -> list[dict[str, Any]]:
        """This widget's live streams (one per view in a page), as plain data."""
        with self._stream_lock:
            return [s.describe() for s in self._streams.values()]

    def close(self) -> None:
        """Close the widget: browser peers closed and tracks stopped, kernel peers closed.

        Idempotent and safe from any thread. Waits up to 1 s for the teardown unless
        called on the media thread.
        """
        if self._closed:
            return
        self._closed = True
        with self._stream_lock:
            live = list(self._streams.values())
        fut = self._manager.close_streams(live, "closed")
        if fut is not None:
            try:
                fut.result(CLOSE_WAIT)
            except concurrent.futures.TimeoutError:
                log.warning("nbrtc: %s teardown took longer than %.1f s", self.model_id, CLOSE_WAIT)
            except Exception:
                log.debug("teardown error", exc_info=True)
        self._update_state()
        for channel in list(self._channels.values()):
            channel.close()
        self._closed_cleanup()
        try:
            super().close()
        except Exception:  # the comm may already be gone (kernel shutting down)
            log.debug("comm close failed", exc_info=True)

    def _closed_cleanup(self) -> None:
        """Hook for subclasses (wake waiters, release sources)."""

    def __enter__(self) -> StreamWidget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:
            pass

    # --- waiting --------------------------------------------------------------------------
    def _blocking_would_deadlock(self) -> bool:
        """True when waiting here cannot succeed: we block the very thread (the kernel's
        main thread, inside a running cell) that would receive what we wait for: the
        browser's offer (no stream yet), or the frames of a stream on the comm (they
        arrive as comm messages, like the offer)."""
        with self._stream_lock:
            active = any(not s.closed and s.transport != "comm" for s in self._streams.values())
        return (
            not active
            and self._manager._busy
            and threading.current_thread() is threading.main_thread()
        )

    def _no_stream_error(self, call: str, acall: str) -> NotDisplayedError:
        name = type(self).__name__
        if self.transport == "comm":
            return NotDisplayedError(
                f"{name} streams over the notebook's connection (transport 'comm': WebRTC "
                "could not connect, see cam.doctor()), so its frames reach the kernel only "
                f"between cells or while a cell awaits. Use `await {acall}` in this cell, "
                "or process frames in the background with cam.process(fn)."
            )
        if self._last_stream is not None:  # it streamed before
            return NotDisplayedError(
                f"{name} has no live view any more (its output was cleared or its tab "
                f"closed). Display it again, then call {call} from the next cell."
            )
        return NotDisplayedError(
            f"{name} has no stream yet: the browser's offer cannot arrive while this cell is "
            f"still running. Display the widget, then call {call} from the next cell, or "
            f"use `await {acall}` in this one."
        )

    def _raise_if_unusable(self) -> None:
        if self._closed:
            raise StreamClosedError(
                f"{type(self).__name__} is closed; make a new one to stream again."
            )
        if self.state == "error":
            raise self._current_error() or StreamError(self.error)

    def wait(self, state: str = "live", timeout: float = 10.0) -> None:
        """Block until the widget reaches ``state`` (e.g. ``"live"``); raise on error/timeout."""
        if state not in WIDGET_STATES:
            raise ValueError(f"state must be one of {WIDGET_STATES}, got {state!r}")
        deadline = time.monotonic() + timeout
        with self._state_event:
            while self.state != state:
                if state != "error" and self.state == "error":
                    self._raise_if_unusable()
                if state != "closed" and self._closed:
                    self._raise_if_unusable()
                if self._blocking_would_deadlock():
                    raise self._no_stream_error(f"wait({state!r})", f"wait_async({state!r})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamTimeoutError(
                        f"{type(self).__name__} did not become {state!r} within {timeout} s "
                        f"(state is {self.state!r}{self._detail()})"
                    )
                self._state_event.wait(min(left, 0.1))

    async def wait_async(self, state: str = "live", timeout: float = 10.0) -> None:
        """Awaitable twin of :meth:`wait` (use inside ``async`` code and cells)."""
        if state not in WIDGET_STATES:
            raise ValueError(f"state must be one of {WIDGET_STATES}, got {state!r}")
        deadline = time.monotonic() + timeout
        while self.state != state:
            if (state != "error" and self.state == "error") or (state != "closed" and self._closed):
                self._raise_if_unusable()
            if time.monotonic() > deadline:
                raise StreamTimeoutError(
                    f"{type(self).__name__} did not become {state!r} within {timeout} s "
                    f"(state is {self.state!r}{self._detail()})"
                )
            await asyncio.sleep(0.02)

    #: the name before the ``*_async`` rule (kept)
    await_state = wait_async

    def _detail(self) -> str:
        if self._last_stream is None:
            return "; no browser view has connected: is the widget displayed?"
        return ""
