"""The seams between the signaling core and the widgets (typing only, no behaviour).

Three ``typing.Protocol``s, all with public method names, so that no object reaches into
another's private members across a seam (tests/test_seams.py keeps it so):

- ``SignalingHost``: the ``PeerManager`` as a widget or a stream sees it (reply an error,
  judge a page's silence, forget a closed stream, whether a cell is running).
- ``CellOwned``: any widget the manager closes when the cell that made it runs again or
  the kernel shuts down (the signaling widgets, and the Grid and Inspector).
- ``SignalingOwner``: a widget the page signals to, as the manager sees it: a *port*, the
  package-private object every ``SignalingWidget`` hands the manager at birth
  (``_widgets/base.py``), never the widget itself, so that the seam's methods stay out of
  the user's tab completion. Message types the widget handles itself are registered on
  it (``handler_for``), not guessed from its class.
- ``StreamOwner``: a ``SignalingOwner`` whose views are kernel peers (the port of a
  ``StreamWidget``), as the manager and its ``KernelStream``\\ s see it: what a stream
  gets at birth (ICE servers and policy, tracks, teaching preferences) and what it reports
  (added, negotiated, state, transport, warning, closed, frames, channels).

They live in this low module so that ``manager.py`` and ``stream.py`` never import a
widget module (not even for type checking): the widgets depend on the core, never the
reverse, and tests/test_imports.py keeps the module graph free of cycles.

Threads: every method is called on the media loop unless its docstring says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from .._loop import MediaLoop
    from .protocol import Message, ProtocolError
    from .stream import KernelStream

#: a handler of one message type a widget handles itself (media loop)
Handler = Callable[["Message"], None]


class Silent(Protocol):
    """Whatever a page keeps alive by talking (a stream, a room member)."""

    #: idle-kernel seconds since the page last said anything about it
    silence: float


class SignalingHost(Protocol):
    """The manager, as a widget or a stream sees it."""

    media: MediaLoop

    @property
    def busy(self) -> bool:
        """A cell is running: the page's messages queue behind it (any thread)."""

    def reply_error(self, owner: SignalingOwner, err: ProtocolError) -> None:
        """Send the page an ``error`` reply for one of its messages (any thread)."""

    def browser_silent(self, subject: Silent, elapsed: float) -> bool:
        """Count ``elapsed`` idle-kernel seconds of silence; True when the page is gone."""

    def forget(self, stream: KernelStream | ServerStream) -> None:
        """The stream closed: drop it from the registry, keep its tombstone."""

    def ping_page(self, stream: KernelStream | ServerStream, t: float) -> None:
        """Ping ``stream``'s page: one ping per page for all its streams (media loop)."""


class OfferHost(SignalingHost, Protocol):
    """The manager, as its kernel offers (preoffer.KernelOffers) see it."""

    def stream_count(self) -> int:
        """Open and opening streams (any thread)."""

    def stream_limits(self, key: str, page: str) -> tuple[str, str] | None:
        """("limit", words) when a new stream of that page would pass a bound."""

    def add_stream(self, stream: KernelStream) -> None:
        """Route ``stream``'s messages from now on (media loop)."""

    def tombstone(self, stream_id: str) -> None:
        """No stream may ever use ``stream_id``."""


class TakenOffer(Protocol):
    """A kernel offer a page answered, as the ``KernelStream`` it becomes sees it
    (preoffer.PreOffer; ``KernelStream.start_offered``)."""

    #: the offer as the page got it
    sdp: str
    codec: str | None
    max_bitrate: int | None

    def take(self) -> tuple[Any, list[MediaStreamTrack], Any]:
        """The peer, the tracks and the control channel; the offer then owns nothing."""


class ServerStream(Silent, Protocol):
    """A stream whose far end is a media server, not a kernel peer (e.g. a view of a
    ``Broadcast``: the page's pc talks to Janus, the kernel relays the signaling,
    ``_sfu/viewer.py``). The manager routes the page's messages to it by id after the
    same checks as for a ``KernelStream`` (the page key, tombstones, bounds) and closes
    it with its widget, its cell, its page and the kernel. Media loop unless noted."""

    id: str
    #: the key of the page that asked for it (never logged)
    key: str
    page: str
    created: float

    @property
    def owner(self) -> StreamOwner | None:
        """The port of the widget this stream belongs to (None once it is gone)."""

    @property
    def state(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def start(self) -> None:
        """Begin (once the manager registered it): ask the server, relay its offer."""

    def heard(self) -> None:
        """The page said something about this stream: its silence starts again."""

    def send(self, type_: str, payload: Any) -> None:
        """A kernel -> page message of this stream (any thread)."""

    def receive(self, msg: Message) -> None:
        """A validated message of the page that owns it (not ``watch``)."""

    def spawn(self, coro: Any) -> Any:
        """Run ``coro`` as a task its teardown cancels."""

    async def close(self, reason: str, notify_browser: bool = True) -> None:
        """Tear down (idempotent): bye to the page, tombstone, release on the server."""

    def describe(self) -> dict[str, Any]:
        """Plain data for ``manager().streams()`` (any thread)."""


class CellOwned(Protocol):
    """A widget (its port) the manager closes with its cell and at shutdown. Any thread."""

    @property
    def model_id(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    #: the cell that made the widget (set by the manager at registration; main thread)
    cell_id: str | None

    def close(self) -> None:
        """Close the widget (e.g. its cell runs again)."""

    def closed_by_shutdown(self) -> None:
        """The kernel is shutting down: the widget's close is not the user's."""


class SignalingOwner(CellOwned, Protocol):
    """A widget the page signals to (its port), as the manager sees it."""

    @property
    def kind(self) -> str:
        """The widget's kind ("camera", "view", "room", "probe"...): the offer must match."""

    @property
    def stream_owner(self) -> StreamOwner | None:
        """This port as a ``StreamOwner`` when its views are kernel peers, else None."""

    def send(self, msg: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """Send a kernel message to the page (any thread)."""

    def handler_for(self, type_: str) -> Handler | None:
        """The widget's own handler of ``type_`` (None: the manager routes it)."""

    def answer_ice_servers(self, stream_id: str) -> None:
        """Send the page the full ICE servers for ``stream_id`` (its ``ice-servers``)."""


class StreamOwner(SignalingOwner, Protocol):
    """A widget whose views are kernel peers (its port), as the manager and its streams
    see it."""

    @property
    def stats_interval(self) -> float:
        """Seconds between stats samples while someone reads them (0: never)."""

    @property
    def stats_idle_interval(self) -> float:
        """Seconds between stats samples while nobody reads them."""

    def stats_read(self, stream: KernelStream, read: bool) -> None:
        """``stream``'s stats started (True) or stopped (False) being read, or its stats
        loop starts (either): the widget tells its pages the pace."""

    @property
    def transport_mode(self) -> str: ...

    @property
    def ice_policy(self) -> str:
        """The widget's ICE transport policy ("all" or "relay")."""

    # --- page reports before (or without) a stream ---------------------------------------
    def browser_error(self, name: str, message: str) -> None:
        """The page failed before it could offer (e.g. the camera was refused)."""

    def set_devices(self, devices: list[dict[str, str]]) -> None: ...

    def pick_device(self, stream: KernelStream, msg: Message) -> None:
        """The user chose a device in ``stream``'s view (a ``device`` message the manager
        took from the page that owns that live stream); refused in words or taken."""

    def has_live_stream(self) -> bool:
        """Any of the widget's streams is open (any thread)."""

    def watch(self, host: SignalingHost, msg: Message) -> ServerStream | None:
        """A page's ``watch`` (checked by the manager: key, tombstone, limits): the
        widget's stream whose far end is a media server, not started yet; None when this
        widget's views offer to a kernel peer instead (the manager refuses in words)."""

    # --- what a stream needs at birth ------------------------------------------------------
    def ice_servers(self, stream_id: str) -> list[dict[str, Any]]: ...

    def ice_policy_for(self, stream_id: str) -> str: ...

    def tracks_for(self, stream: KernelStream) -> list[MediaStreamTrack]: ...

    def teaching_prefs(self) -> dict[str, Any]: ...

    # --- what a stream reports ---------------------------------------------------------------
    def stream_added(self, stream: KernelStream) -> None: ...

    def stream_negotiated(self, stream: KernelStream) -> None: ...

    def stream_state_changed(self, stream: KernelStream) -> None: ...

    def stream_transport_changed(self, stream: KernelStream) -> None: ...

    def stream_warning(self, stream: KernelStream, words: str) -> None: ...

    def stream_closed(self, stream: KernelStream) -> None: ...

    def kernel_offer_done(self, stream_id: str) -> None:
        """The kernel's offer ``stream_id`` was taken or dropped (preoffer.py): a view
        rendered from now on offers itself (media loop)."""

    def update_state(self) -> None: ...

    def on_frame(self, stream: KernelStream, frame: Any) -> None: ...

    def on_audio(self, stream: KernelStream, frame: Any) -> None: ...

    def on_datachannel(self, stream: KernelStream, channel: Any) -> None: ...


#: what ``StreamWidget.doctor()`` builds: registered by doctor.py at import, so that
#: stream_widget.py does not import the module that subclasses it
DoctorFactory = Callable[[list[Any], str], Any]
