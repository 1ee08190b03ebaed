"""The seam between the signaling core and the widgets (typing only, no behaviour).

``StreamOwner`` is what the ``PeerManager`` and a ``KernelStream`` may ask of the widget
that owns streams; ``StreamHost`` is what a stream may ask of the manager. Both are
``typing.Protocol``s in this low module so that ``_manager.py`` and ``_stream.py`` never
import ``_widget.py`` (not even for type checking): the widgets depend on the core, never
the reverse, and tests/test_imports.py keeps the module graph free of cycles.

Threads: every method is called on the media loop unless its docstring says otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from .._loop import MediaLoop
    from .protocol import Message, ProtocolError
    from .stream import KernelStream


class StreamHost(Protocol):
    """The manager, as a stream sees it."""

    media: MediaLoop

    def _reply_error(self, widget: StreamOwner, err: ProtocolError) -> None:
        """Send the page an ``error`` reply for one of its messages (any thread)."""

    def _browser_silent(self, stream: KernelStream, elapsed: float) -> bool:
        """Count ``elapsed`` idle-kernel seconds of silence; True when the page is gone."""

    def _forget(self, stream: KernelStream) -> None:
        """The stream closed: drop it from the registry, keep its tombstone."""


class StreamOwner(Protocol):
    """A widget that owns streams (a peer widget, a Room, a Doctor), as the manager and
    its streams see it."""

    model_id: str
    stats_interval: float
    transport_mode: str
    _kind: str
    _closed: bool
    _closed_by_shutdown: bool
    _cell_id: str | None
    _ice_policy: str
    _manager: Any
    _streams: dict[str, KernelStream]
    _stream_lock: threading.RLock
    #: message types this widget handles itself instead of the manager's stream routing:
    #: ``"*"`` for every type (a Room relays its members' signaling), or some types (a
    #: Doctor's ``doctor``); empty for the peer widgets
    _own_messages: ClassVar[frozenset[str]]

    def close(self) -> None: ...

    # --- messages ---------------------------------------------------------------------------
    def _send_protocol(self, msg: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """Send a kernel message to the page (any thread)."""

    def _own_message(self, msg: Message) -> None:
        """Handle a message of a type in ``_own_messages``."""

    def _answer_ice_servers(self, stream_id: str) -> None: ...

    def _browser_error(self, name: str, message: str) -> None:
        """The page failed before it could offer (e.g. the camera was refused)."""

    def _set_devices(self, devices: list[dict[str, str]]) -> None: ...

    # --- what a stream needs at birth ------------------------------------------------------
    def _ice_servers(self, stream_id: str) -> list[dict[str, Any]]: ...

    def _ice_policy_for(self, stream_id: str) -> str: ...

    def _tracks_for(self, stream: KernelStream) -> list[MediaStreamTrack]: ...

    def _teaching_prefs(self) -> dict[str, Any]: ...

    # --- what a stream reports ---------------------------------------------------------------
    def _stream_added(self, stream: KernelStream) -> None: ...

    def _stream_negotiated(self, stream: KernelStream) -> None: ...

    def _stream_state_changed(self, stream: KernelStream) -> None: ...

    def _stream_transport_changed(self, stream: KernelStream) -> None: ...

    def _stream_warning(self, stream: KernelStream, words: str) -> None: ...

    def _stream_closed(self, stream: KernelStream) -> None: ...

    def _update_state(self) -> None: ...

    def _on_frame(self, stream: KernelStream, frame: Any) -> None: ...

    def _on_audio(self, stream: KernelStream, frame: Any) -> None: ...

    def _on_datachannel(self, stream: KernelStream, channel: Any) -> None: ...


#: what ``StreamWidget.doctor()`` builds: registered by _doctor.py at import, so that
#: _widget.py does not import the module that subclasses it
DoctorFactory = Callable[[list[Any], str], Any]
