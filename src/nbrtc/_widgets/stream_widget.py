"""``StreamWidget``: the peer widgets (Camera, Microphone, ScreenShare, VideoView,
AudioView, the Doctor's probes): each view of one in a page is a browser peer with a
kernel peer (a ``KernelStream``). What every widget the page signals to shares (the comm,
registration, dispatch, close, waiting) is ``SignalingWidget``'s (base.py); this class adds
the streams, their state, data channels and the teaching controls (``ConnectionMethods``).

Threads: the constructor, ``close`` and the blocking calls run on any user thread
(normally the kernel's main thread). ``_stream_*``, ``_on_frame`` and ``_tracks_for`` are
called by the manager on the media loop. Trait writes from the media loop are how the
browser and Python both learn about state changes while a cell is still running.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import traitlets

from .._config import DEFAULT_JITTER_BUFFER_MS, IceServerSpec, check_jitter_buffer_ms, config
from .._inspection.controls import ConnectionMethods
from .._signaling.protocol import COMM_KINDS, ProtocolError
from .._transport.channel import (
    Channel,
    ChannelTable,
    PageChannels,
    check_label,
    close_quietly,
)
from ..errors import NotDisplayedError, StreamClosedError, StreamError
from . import device_pick
from .base import CLOSE_WAIT, SignalingPort, SignalingWidget

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from .._signaling.owner import DoctorFactory, ServerStream, SignalingHost
    from .._signaling.protocol import Message
    from .._signaling.stream import KernelStream

log = logging.getLogger("nbrtc")

#: the ``transport=`` choices of every widget (see StreamWidget.transport_mode)
TRANSPORT_MODES = ("auto", "webrtc", "comm")

#: builds the Doctor of ``StreamWidget.doctor()`` from (ice_servers, policy); set by
#: register_doctor (from _doctor.py), so that this module never imports its subclass
_doctor_factory: DoctorFactory | None = None


def register_doctor(factory: DoctorFactory) -> None:
    """Called once by _doctor.py at import."""
    global _doctor_factory
    _doctor_factory = factory


class StreamPort(SignalingPort):
    """A ``StreamWidget`` as the manager and its streams see it (``owner.StreamOwner``):
    every method hands over to the widget's implementation. Media loop unless noted."""

    _widget: StreamWidget

    @property
    def stream_owner(self) -> StreamPort:
        return self

    @property
    def stats_interval(self) -> float:
        return float(self._widget.stats_interval)

    @property
    def stats_idle_interval(self) -> float:
        return float(self._widget.stats_idle_interval)

    def stats_read(self, stream: KernelStream, read: bool) -> None:
        self._widget._stats_read(stream, read)

    @property
    def transport_mode(self) -> str:
        return str(self._widget.transport_mode)

    @property
    def ice_policy(self) -> str:
        return self._widget._ice_policy

    def browser_error(self, name: str, message: str) -> None:
        self._widget._browser_error(name, message)

    def set_devices(self, devices: list[dict[str, str]]) -> None:
        self._widget._set_devices(devices)

    def pick_device(self, stream: KernelStream, msg: Message) -> None:
        self._widget._on_device_pick(stream, msg)

    def has_live_stream(self) -> bool:
        """Any thread."""
        return self._widget._has_live_stream()

    def watch(self, host: SignalingHost, msg: Message) -> ServerStream | None:
        return self._widget._watch(host, msg)

    def ice_servers(self, stream_id: str) -> list[dict[str, Any]]:
        """Any thread."""
        return self._widget._ice_servers(stream_id)

    def ice_policy_for(self, stream_id: str) -> str:
        return self._widget._ice_policy_for(stream_id)

    def tracks_for(self, stream: KernelStream) -> list[MediaStreamTrack]:
        return self._widget._tracks_for(stream)

    def teaching_prefs(self) -> dict[str, Any]:
        return self._widget._teaching_prefs()

    def stream_added(self, stream: KernelStream) -> None:
        self._widget._stream_added(stream)

    def stream_negotiated(self, stream: KernelStream) -> None:
        self._widget._stream_negotiated(stream)

    def stream_state_changed(self, stream: KernelStream) -> None:
        self._widget._stream_state_changed(stream)

    def stream_transport_changed(self, stream: KernelStream) -> None:
        self._widget._stream_transport_changed(stream)

    def stream_warning(self, stream: KernelStream, words: str) -> None:
        self._widget._stream_warning(stream, words)

    def stream_closed(self, stream: KernelStream) -> None:
        self._widget._stream_closed(stream)

    def kernel_offer_done(self, stream_id: str) -> None:
        self._widget._kernel_offer_done(stream_id)

    def update_state(self) -> None:
        self._widget._update_state()

    def on_frame(self, stream: KernelStream, frame: Any) -> None:
        self._widget._on_frame(stream, frame)

    def on_audio(self, stream: KernelStream, frame: Any) -> None:
        self._widget._on_audio(stream, frame)

    def on_datachannel(self, stream: KernelStream, channel: Any) -> None:
        self._widget._on_datachannel(stream, channel)

    # --- for the Inspector (any thread) ---------------------------------------------------
    def newest_stream(self) -> KernelStream | None:
        """The newest stream, or the newest of the closed ones kept for inspection."""
        return self._widget._newest_stream()

    def live_streams(self) -> list[KernelStream]:
        return self._widget._live_streams()


class StreamWidget(ConnectionMethods, SignalingWidget):
    """Base of nbrtc's peer widgets (each view a kernel peer). Not for direct use."""

    #: seconds between the browser's getStats samples (0: none); from nbrtc.config
    stats_interval = traitlets.Float(
        1.0, help="Seconds between getStats samples on both sides (0: none); from nbrtc.config."
    ).tag(sync=True)
    #: seconds between those samples while nobody reads the stats; from nbrtc.config
    stats_idle_interval = traitlets.Float(
        5.0,
        help="Seconds between getStats samples on both sides while nobody reads the stats "
        "(stats(), stats_log(), an Inspector); from nbrtc.config.",
    ).tag(sync=True)
    #: whether someone reads a stream's stats (set by the kernel's stats loops): the page
    #: samples every stats_interval while it is True, every stats_idle_interval otherwise
    stats_read = traitlets.Bool(
        False, help="Someone reads the stats: both sides sample every stats_interval."
    ).tag(sync=True)
    #: ms the page's jitter buffer holds the kernel's video before showing it (0: the
    #: browser's own); from nbrtc.config, applied to live streams at once (js/peer/playout.js)
    jitter_buffer_ms = traitlets.Int(
        DEFAULT_JITTER_BUFFER_MS,
        help="Milliseconds the page's jitter buffer holds the video the kernel sends before "
        "showing it: more is smoother, less is sooner (0, the default: the browser's own, "
        "lowest latency; up to 4000); from nbrtc.config.jitter_buffer_ms. Changes apply "
        "at once.",
    ).tag(sync=True)

    @traitlets.validate("jitter_buffer_ms")
    def _check_jitter_buffer_ms(self, proposal: Any) -> int:
        return check_jitter_buffer_ms(proposal["value"], "jitter_buffer_ms")

    #: how new streams start: "auto" (WebRTC, the comm when WebRTC has not connected
    #: after a short delay), "webrtc" (never the comm) or "comm" (never WebRTC)
    transport_mode = traitlets.Unicode(
        "auto",
        help="How new streams start: auto (WebRTC, the comm when WebRTC cannot connect), "
        "webrtc or comm (the transport= argument; transport says which is in use).",
    ).tag(sync=True)
    #: a problem of the newest stream that has not (yet) ended it, in words: e.g. a TURN
    #: server refused the credentials while other paths are still tried (shown under the
    #: view); "" when there is none. Set by the kernel, cleared when a new stream starts.
    warning = traitlets.Unicode(
        "",
        help="A problem of the newest stream that has not ended it (e.g. a TURN server "
        "refused the credentials while other paths are tried); '' when none.",
    ).tag(sync=True)

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
        self._streams: dict[str, KernelStream] = {}
        self._stream_lock = threading.RLock()
        self._last_stream: KernelStream | None = None
        self._widget_error: StreamError | None = None
        self._widget_error_at = 0.0
        self._init_teaching()
        super().__init__(
            ice_servers=ice_servers,
            ice_transport_policy=ice_transport_policy,
            stats_interval=config.stats_interval,
            stats_idle_interval=config.stats_idle_interval,
            transport_mode=transport,
            **{"jitter_buffer_ms": config.jitter_buffer_ms, **kwargs},
        )
        #: the widget's data channels (guarded by the stream lock, like the streams)
        self._channels = ChannelTable(self._port, self._stream_lock)

    def _make_port(self) -> StreamPort:
        return StreamPort(self)

    def _newest_stream(self) -> KernelStream | None:
        stream = self._last_stream
        if stream is None and self._past_streams:
            stream = self._past_streams[-1]
        return stream

    def _has_live_stream(self) -> bool:
        with self._stream_lock:
            return any(not s.closed for s in self._streams.values())

    def _watch(self, host: SignalingHost, msg: Message) -> ServerStream | None:
        """A page's ``watch`` (media loop): a stream whose far end is a media server, or
        None (this widget's views offer to a kernel peer; a VideoView of a Broadcast
        says otherwise)."""
        return None

    def _ice_policy_for(self, stream_id: str) -> str:
        """The kernel peer's ICE transport policy for ``stream_id`` (the widget's; a
        Doctor's probes have one per path). Media loop."""
        return self._ice_policy

    def doctor(self) -> Any:
        """An ``nbrtc.Doctor`` for this widget's own ICE servers and policy: which paths
        from the page to the kernel work, and what to do (see ``nbrtc.doctor``)."""
        self._need_kernel_peer("doctor()")
        if _doctor_factory is None:  # registered by _doctor.py, which `import nbrtc` loads
            raise RuntimeError("nbrtc's doctor is not loaded: import nbrtc first")
        return _doctor_factory(list(self._servers), self._ice_policy)

    # --- stream bookkeeping (media loop) ---------------------------------------------------
    def _stream_added(self, stream: KernelStream) -> None:
        with self._stream_lock:
            self._streams[stream.id] = stream
            self._last_stream = stream
        if self.warning:
            self.warning = ""

    def _stats_read(self, stream: KernelStream, read: bool) -> None:
        """``stream``'s stats loop saw its stats start or stop being read (media loop):
        ``stats_read`` tells the pages whether any open stream of the widget is read."""
        with self._stream_lock:
            streams = list(self._streams.values())
        # a server's stream (a Broadcast's view) samples nothing and has no such flag
        anyone = read or any(getattr(s, "stats_read", False) for s in streams if s is not stream)
        if self.stats_read != anyone:
            self.stats_read = anyone

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
        self._channels.stream_closed(stream.id)
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
            new, err = "connecting", self._standing_error()
        elif stream.state == "closed":
            # its views are gone but the widget is open: displaying it again starts a
            # new stream, so it is back to "new", not "closed"
            new, err = "new", ""
        else:
            new, err = stream.state, self._standing_error()
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
        from .._signaling.stream_words import browser_error

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

    def _standing_error(self) -> str:
        """Hook for subclasses: words that stay in ``error`` while the stream connects or
        runs (a kernel source that failed), "" for none. Media loop."""
        return ""

    def _tracks_for(self, stream: KernelStream) -> list[MediaStreamTrack]:
        """Tracks the kernel sends on ``stream`` (media loop)."""
        return []

    def _on_frame(self, stream: KernelStream, frame: Any) -> None:
        """A decoded frame from ``stream`` (media loop)."""

    def _set_devices(self, devices: list[dict[str, str]]) -> None:
        """The browser's device list (media loop)."""

    def _on_audio(self, stream: KernelStream, frame: Any) -> None:
        """A decoded audio frame from ``stream`` (media loop)."""

    def _kernel_offer_done(self, stream_id: str) -> None:
        """The kernel's offer ``stream_id`` was taken or dropped (media loop; only a Camera
        makes one, preoffer.py)."""

    def _stream_negotiated(self, stream: KernelStream) -> None:
        """``stream`` has its answer: open the channels Python asked for on it (media loop;
        labels only the page opened stay on the views that opened them)."""
        self._channels.stream_negotiated(stream)

    def _on_datachannel(self, stream: KernelStream, dc: Any) -> None:
        """The browser opened a data channel on ``stream`` (media loop, inside aiortc's
        receive loop: nothing may raise into it). Admitted within the bounds of
        ``channel.PageChannels``; over them, closed at once with an ``error`` reply."""
        try:
            gate = self.__dict__.get("_page_channels")
            if gate is None:  # made here: the media loop is the only thread using it
                gate = self._page_channels = PageChannels()
            gate.admit(self._channels, stream.id, dc)
        except Exception:
            log.exception("nbrtc: adopting data channel %.80r failed; closing it", dc.label)
            close_quietly(dc)

    # --- the view's device picker (device_pick.py) -------------------------------------------
    def _pickable(self) -> frozenset[str]:
        """The kinds of device ("video", "audio") a user may pick in this widget's view."""
        return frozenset()

    def _listed_devices(self) -> list[dict[str, Any]]:
        """The devices the page listed (its ``devices`` message; capture widgets keep
        them in their ``devices`` trait)."""
        return list(getattr(self, "devices", ()))

    def _take_device(self, kind: str, device_id: str) -> None:
        """Restart with the picked device (a kind in ``_pickable``; media loop)."""

    def _on_device_pick(self, stream: KernelStream, msg: Message) -> None:
        """A page's ``device`` message for ``stream``: the user chose a device in the view
        (media loop; the manager routed it like every stream message, so it comes from the
        page that owns that live stream, and late ones for closed streams were dropped).

        A kind this widget does not capture or a deviceId the page did not list gets an
        ``error`` reply in words; a pick that is taken sets the widget's own settings (the
        same validated path as ``cam.constraints = {...}``), which restarts each view's
        stream with that device, and is a line in ``history()``."""
        kind, device_id = msg.payload["kind"], msg.payload["deviceId"]
        devices = self._listed_devices()
        why = device_pick.refusal(self._kind, self._pickable(), devices, msg.payload)
        if why is not None:
            stream.history.note(f"device pick refused: {why[1]}")
            self._refuse_pick(msg, *why)
            return
        name = device_pick.label(devices, kind, device_id) or "(no label)"
        word = "camera" if kind == "video" else "microphone"
        stream.history.note(f"the page picked the {word} {name!r}: restarting with it")
        log.info("nbrtc: %s: the page picked the %s %r", self.model_id, word, name)
        self._take_device(kind, device_id)

    def _refuse_pick(self, msg: Message, code: str, words: str) -> None:
        self._manager.reply_error(self._port, ProtocolError(code, words, msg.stream, msg.type))

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
            live = [s for s in self._streams.values() if not s.closed]
            # new, or opened by the page until now: open it on every view from here on
            channel, opened = self._channels.claim(label)
        if opened and live:
            self._manager.media.call_soon(self._channels.open_on, channel, live)
        return channel

    # --- public -----------------------------------------------------------------------
    @property
    def streams(self) -> list[dict[str, Any]]:
        """This widget's live streams (one per view in a page), as plain data."""
        with self._stream_lock:
            return [s.describe() for s in self._streams.values()]

    def _teardown_and_wait(self) -> None:
        """Close every stream (browser peers closed and tracks stopped, kernel peers
        closed) and the data channels; waits up to CLOSE_WAIT unless on the media loop."""
        with self._stream_lock:
            live = list(self._streams.values())
        offers = self._manager.offers.drop(self.model_id, "widget closed")  # nobody took them
        fut = self._manager.close_streams(live, "closed")
        if offers is not None:
            with contextlib.suppress(Exception):
                offers.result(CLOSE_WAIT)
        if fut is not None:
            try:
                fut.result(CLOSE_WAIT)
            except concurrent.futures.TimeoutError:
                log.warning("nbrtc: %s teardown took longer than %.1f s", self.model_id, CLOSE_WAIT)
            except Exception:
                log.debug("teardown error", exc_info=True)
        self._update_state()
        self._channels.close_all()

    # --- waiting --------------------------------------------------------------------------
    def _waits_on_comm(self) -> bool:
        """Waiting blocks the thread that would receive the browser's offer (no stream
        yet), or the frames of a stream on the comm (they arrive as comm messages, like
        the offer); a WebRTC stream's media does not pass the kernel's main thread."""
        with self._stream_lock:
            return not any(not s.closed and s.transport != "comm" for s in self._streams.values())

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

    def _detail(self) -> str:
        if self._last_stream is None:
            return "; no browser view has connected: is the widget displayed?"
        return ""
