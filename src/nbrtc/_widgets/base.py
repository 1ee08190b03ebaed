"""``SignalingWidget``: what every widget with a presence in the signaling protocol shares.

Peer widgets (``StreamWidget``: Camera, Microphone, ScreenShare, VideoView, AudioView, the
Doctor) and ``Room`` are siblings on this base. It owns:

- registration with the kernel's one ``PeerManager`` (which closes the widget when the cell
  that made it runs again, and at kernel shutdown) through the widget's *port*
  (``SignalingPort``): the package-private object that the manager, the streams and the
  channels hold and call instead of the widget's private members. The port's public
  methods are the seam (``_signaling/owner.py``); they stay off the widget itself, so that
  tab completion on ``cam.`` shows the user's API only;
- the comm: page messages go to ``PeerManager.handle_message`` (never handled here), kernel
  messages leave through ``_send_protocol``; the front end closing the comm closes the widget;
- dispatch: the message types a widget handles itself are *registered*
  (``_register_handler``), so the manager looks a handler up instead of guessing the
  widget's kind;
- the ICE configuration (servers, policy, the public ``rtc_config`` and the ``ice-servers``
  answer with credentials);
- ``close()`` (idempotent, any thread, waits up to CLOSE_WAIT for the teardown), ``with``
  and ``__del__``;
- ``wait(state)`` / ``wait_async(state)`` and the check that a blocking call would deadlock
  (it waits for comm messages that queue behind the cell blocking this very thread).

Subclasses supply the teardown (``_teardown_and_wait``), the state (``_update_state``) and
the words of their errors (``_current_error``, ``_no_stream_error``, ``_detail``).

Threads: the constructor, ``close`` and the blocking calls run on any user thread (normally
the kernel's main thread); handlers and ``_update_state`` run on the media loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anywidget
import traitlets

from .. import _redact
from .._bundle import css, esm
from .._config import (
    IceServerSpec,
    check_ice_servers,
    check_policy,
    config,
    has_turn,
    kernel_servers,
    public_rtc_config,
)
from .._signaling.manager import manager
from .._signaling.protocol import make_message
from .._transport import warmup
from .._upstream import route_comm_by_header
from .._version import __version__
from ..errors import NotDisplayedError, StreamClosedError, StreamError, StreamTimeoutError
from .bundle_traits import BundleTraits
from .kernel_owned import KernelOwnedTraits
from .own_layout import close_own_layout, own_layout

if TYPE_CHECKING:
    from .._loop import MediaLoop
    from .._signaling.owner import StreamOwner
    from .._signaling.protocol import Message, ProtocolError

log = logging.getLogger("nbrtc")

#: seconds ``close()`` waits for the media loop's teardown (unless called on it)
CLOSE_WAIT = 1.0

#: states a user can wait for: "new" (no live view: not displayed yet, or its views were
#: removed), "connecting", "live", "error" (kept until a new view connects), "closed"
#: (only after close())
WIDGET_STATES = ("new", "connecting", "live", "closed", "error")

#: a handler of one message type a widget handles itself (media loop; never raises into
#: the manager, which replies ``internal`` if it does)
Handler = Callable[["Message"], None]

_W = TypeVar("_W", bound="SignalingWidget")


class WidgetPort:
    """A widget as the manager sees it for cell reruns and shutdown (``owner.CellOwned``):
    any widget the manager closes when the cell that made it runs again (every
    ``SignalingWidget``, and the Grid and Inspector). Holds the widget strongly; the widget
    holds its port, and the manager only weakly."""

    def __init__(self, widget: Any) -> None:
        self._widget = widget

    @property
    def model_id(self) -> str:
        return str(self._widget.model_id)

    @property
    def closed(self) -> bool:
        return bool(self._widget._closed)

    @property
    def cell_id(self) -> str | None:
        """The cell that made the widget (set by the manager at registration)."""
        return self._widget._cell_id

    @cell_id.setter
    def cell_id(self, value: str | None) -> None:
        self._widget._cell_id = value

    def close(self) -> None:
        self._widget.close()

    def closed_by_shutdown(self) -> None:
        self._widget._closed_by_shutdown = True


def port_of(widget: SignalingWidget) -> SignalingPort:
    """The port of ``widget``: how another part of nbrtc (the Inspector) reaches a widget
    it was given by the user, without touching the widget's private members."""
    return widget._port


class SignalingPort(WidgetPort):
    """A ``SignalingWidget`` as the manager sees it (``owner.SignalingOwner``)."""

    _widget: SignalingWidget

    @property
    def kind(self) -> str:
        return self._widget._kind

    @property
    def stream_owner(self) -> StreamOwner | None:
        return None

    @property
    def media(self) -> MediaLoop:
        """The media loop (channels schedule their work on it)."""
        return self._widget._manager.media

    def send(self, msg: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        if buffers is None:  # the call shape of a message without binary data
            self._widget._send_protocol(msg)
        else:
            self._widget._send_protocol(msg, buffers)

    def reply_error(self, err: ProtocolError) -> None:
        """An ``error`` reply to the page for one of its messages (any thread)."""
        self._widget._manager.reply_error(self, err)

    def handler_for(self, type_: str) -> Handler | None:
        return self._widget._handler_for(type_)

    def answer_ice_servers(self, stream_id: str) -> None:
        self._widget._answer_ice_servers(stream_id)


class SignalingWidget(KernelOwnedTraits, BundleTraits, anywidget.AnyWidget):
    """Base of every nbrtc widget the page signals to. Not for direct use."""

    _esm = esm("widget.js")
    _css = css("widget.css")
    _bundle_name = "widget.js"
    kind = traitlets.Unicode(
        "view",
        help="What this widget is on the page: camera, screen, microphone, view, audio, room.",
    ).tag(sync=True)
    state = traitlets.Unicode(
        "new",
        help="The newest stream's state: new, connecting, live, error or closed "
        "(wait(state) waits for one; set by the kernel only).",
    ).tag(sync=True)
    error = traitlets.Unicode(
        "",
        help="Why the widget failed, in words (camera refused, ICE failed, ...); '' when it "
        "did not.",
    ).tag(sync=True)
    #: the page's RTCConfiguration without secrets (synced, so saved with the notebook's
    #: widget state): ICE server URLs, and ``"credentials": "ask"`` when the page must
    #: ask the kernel for the logins (``ice-servers`` message, _answer_ice_servers)
    rtc_config = traitlets.Dict(
        help="The page's RTCConfiguration without secrets: ICE server URLs and policy."
    ).tag(sync=True)
    _version = traitlets.Unicode(__version__).tag(sync=True)

    _kind = "view"

    def __init__(
        self,
        *,
        ice_servers: list[IceServerSpec] | None = None,
        ice_transport_policy: str | None = None,
        **kwargs: Any,
    ) -> None:
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
        self._close_lock = threading.Lock()
        self._cell_id: str | None = None
        self._state_event = threading.Condition()
        self._servers = servers
        self._ice_policy = policy
        self._handlers: dict[str, Handler] = {}
        super().__init__(kind=self._kind, rtc_config=public_rtc_config(servers, policy), **kwargs)
        self._own_layout = own_layout(self, kwargs)
        self._manager = manager()
        self._port = self._make_port()
        self._manager.register(self._port)
        self.on_msg(self._on_custom_msg)
        route_comm_by_header(self.comm)  # the page's messages reach us during a running cell
        # ipywidgets does not listen for the front end closing the comm (comm_close):
        # without this, the streams of a widget nothing can reach any more live on.
        if self.comm is not None:
            self.comm.on_close(self._on_comm_close)

    def _make_port(self) -> SignalingPort:
        """The port the manager (and streams, channels) will hold (subclasses: theirs)."""
        return SignalingPort(self)

    # --- comm ----------------------------------------------------------------------------
    def _on_custom_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        if self._bundle_message(content):
            return
        self._manager.handle_message(self._port, content, buffers)

    def _on_comm_close(self, _msg: Any) -> None:
        """The front end closed this widget's comm (comm handler, kernel main thread): no
        message can arrive any more, so the widget closes. A comm handler must not block,
        and ``close()`` called on the media thread does not wait."""
        if self._closed:
            return
        log.info("nbrtc: the front end closed the comm of %s: closing it", self.model_id)
        media = self._manager.media
        if media.running():
            media.call_soon(self.close)
        else:  # no media loop: nothing to wait for
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

    # --- dispatch ---------------------------------------------------------------------------
    def _register_handler(self, type_: str, handler: Handler) -> None:
        """Handle page messages of ``type_`` here instead of the manager's stream routing
        (``"*"``: every type). Call in ``__init__``, before the widget is displayed."""
        self._handlers[type_] = handler

    def _handler_for(self, type_: str) -> Handler | None:
        """The registered handler of ``type_`` (or of every type), None when the manager
        routes it to a stream."""
        return self._handlers.get(type_) or self._handlers.get("*")

    # --- ICE configuration ---------------------------------------------------------------------
    def _ice_servers(self, tag: str = "kernel") -> list[dict[str, Any]]:
        """The full ICE servers for one stream (``tag``: its id), credentials included;
        ``nbrtc.turn`` servers get a credential minted for it. Any thread."""
        return kernel_servers(self._servers, tag)

    def _answer_ice_servers(self, stream_id: str) -> None:
        """Send the page the full ICE servers for ``stream_id`` (media loop).

        The reply to the page's ``ice-servers`` request, which it sends right before it
        creates the RTCPeerConnection of a stream (or room member) it is about to start
        when ``rtc_config`` says ``"credentials": "ask"``. The credentials go to the page's
        memory only: the message is a custom comm message (never widget state), nbrtc logs
        its type and count only, and no history records it.
        """
        servers = self._ice_servers(stream_id)
        log.debug("nbrtc: sent %d ICE server(s) to stream %s", len(servers), stream_id)
        self._send_protocol(make_message("ice-servers", stream_id, {"iceServers": servers}))

    # --- state (subclasses) ---------------------------------------------------------------------
    def _update_state(self) -> None:
        """Derive the widget's state and publish it; wake waiters (media loop)."""
        raise NotImplementedError

    def _current_error(self) -> StreamError | None:
        """The failure behind the state "error" (None when there is none)."""
        return None

    def _detail(self) -> str:
        """Words appended to a timeout: what the user might have missed."""
        return ""

    def _waits_on_comm(self) -> bool:
        """True when what a blocking call waits for can only arrive as a comm message."""
        return True

    def _no_stream_error(self, call: str, acall: str) -> NotDisplayedError:
        """Why ``call`` cannot succeed in this cell (see _blocking_would_deadlock)."""
        return NotDisplayedError(
            f"{type(self).__name__} cannot change while this cell is still running: the "
            f"browser's messages queue behind it. Call {call} from the next cell, or use "
            f"`await {acall}` in this one."
        )

    # --- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """ipywidgets' display hook (main thread): the first nbrtc widget displayed in the
        process also has the media loop pay the first peer's one-time costs while the page
        renders it (_transport/warmup.py)."""
        warmup.schedule()
        return super()._repr_mimebundle_(**kwargs)

    # --- closing ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the widget: everything it started in the browsers and the kernel ends.

        Idempotent and safe from any thread. Waits up to 1 s for the teardown unless
        called on the media thread.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._teardown_and_wait()
        self._closed_cleanup()
        try:
            super().close()  # the comm
        except Exception:  # the comm may already be gone (kernel shutting down)
            log.debug("comm close failed", exc_info=True)
        close_own_layout(self, getattr(self, "_own_layout", None))

    def _teardown_and_wait(self) -> None:
        """End what the widget runs on the media loop; wait up to CLOSE_WAIT unless on it."""

    def _closed_cleanup(self) -> None:
        """Hook for subclasses (wake waiters, release sources)."""

    def __enter__(self: _W) -> _W:
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
        main thread, inside a running cell) that would receive what we wait for."""
        return (
            self._waits_on_comm()
            and self._manager.busy
            and threading.current_thread() is threading.main_thread()
        )

    def _raise_if_unusable(self) -> None:
        if self._closed:
            raise StreamClosedError(
                f"{type(self).__name__} is closed; make a new one to stream again."
            )
        if self.state == "error":
            raise self._current_error() or StreamError(self.error)

    def _state_timeout(self, state: str, timeout: float) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"{type(self).__name__} did not become {state!r} within {timeout} s "
            f"(state is {self.state!r}{self._detail()})"
        )

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
                    raise self._state_timeout(state, timeout)
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
                raise self._state_timeout(state, timeout)
            await asyncio.sleep(0.02)

    #: the name before the ``*_async`` rule (kept)
    await_state = wait_async
