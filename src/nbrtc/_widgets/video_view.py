"""``VideoView`` (kernel -> browser video, optionally with sound) and ``AudioView``."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import traitlets
from aiortc.mediastreams import MediaStreamTrack

from .._config import IceServerSpec
from .._sfu.broadcast import Broadcast
from ..sources import Source, as_audio_source, as_source, tone
from .stream_widget import StreamWidget

if TYPE_CHECKING:
    from .._signaling.owner import ServerStream, SignalingHost
    from .._signaling.protocol import Message


class _SourceView(StreamWidget):
    """Plays kernel-side sources; every view of one source shares one producer."""

    _sources: tuple[Source, ...] = ()

    def _watch_sources(self) -> None:
        for src in self._sources:
            src._error_listeners.append(self._source_error)

    def _source_error(self, text: str) -> None:
        if not self._closed and self.error != text:
            self.error = text

    def _standing_error(self) -> str:
        # A source's failure stays in ``error`` when the stream's state changes after it
        # (a URL refused at once, before the stream is live): the state alone would say
        # "live" with no word of why nothing plays.
        return "; ".join(src.error for src in self._sources if src.error)

    def _tracks_for(self, stream: Any) -> list[MediaStreamTrack]:
        return [src._subscribe() for src in self._sources]

    def _closed_cleanup(self) -> None:
        for src in self._sources:
            with contextlib.suppress(ValueError):
                src._error_listeners.remove(self._source_error)


class VideoView(_SourceView):
    """Plays a kernel-side source in the cell.

    ``source`` is an nbrtc source (``sources.test_pattern()`` — the default —,
    ``sources.file(path)``, ``sources.frames(gen, fps)``), an aiortc ``MediaStreamTrack``,
    or a file path. ``audio`` adds sound on the same connection (``sources.tone(440)``,
    ``sources.audio(array, rate)`` or an aiortc audio track). Every view of one source
    shares one producer, which runs only while a view is live.

    ``source`` may also be an ``nbrtc.Broadcast`` (``janus.broadcast(...)``): then each
    view's page receives the video from Janus, and the kernel holds no peer for it.
    """

    _kind = "view"
    #: "janus" when the views watch a Broadcast through Janus (the page then asks the
    #: kernel to relay Janus's offer instead of offering), "" for a kernel source
    sfu = traitlets.Unicode(
        "", help="'janus' when the views receive a Broadcast from Janus, '' otherwise."
    ).tag(sync=True)

    def __init__(
        self,
        source: Source | MediaStreamTrack | str | None = None,
        *,
        audio: Source | MediaStreamTrack | None = None,
        ice_servers: list[IceServerSpec] | None = None,
        **kwargs: Any,
    ) -> None:
        self.broadcast: Broadcast | None = None
        self.source: Source
        self.audio_source: Source | None
        if isinstance(source, Broadcast):
            if audio is not None:
                raise ValueError("audio= cannot go with a Broadcast: it carries video only")
            if kwargs.get("transport", "auto") == "comm":
                raise ValueError("transport='comm' cannot carry a Broadcast: it comes from Janus")
            if source.closed:
                raise ValueError(f"the broadcast is closed ({source.error or 'closed'})")
            self.broadcast = source
            self.source = source.source
            self.audio_source = None
            self._sources = ()
            super().__init__(ice_servers=ice_servers, sfu="janus", **kwargs)
            return
        self.source = as_source(source)
        self.audio_source = None if audio is None else as_audio_source(audio)
        self._sources = (self.source,) + (() if self.audio_source is None else (self.audio_source,))
        super().__init__(ice_servers=ice_servers, **kwargs)
        self._watch_sources()

    def _watch(self, host: SignalingHost, msg: Message) -> ServerStream | None:
        """A page's ``watch`` (media loop): a view of the broadcast, from Janus."""
        if self.broadcast is None:
            return None
        port = self._port.stream_owner
        assert port is not None  # a StreamWidget's port is its StreamOwner
        return self.broadcast.viewer(host, port, msg)

    def _no_kernel_peer(self) -> str | None:
        if self.broadcast is None:
            return None
        return (
            "this view receives a Broadcast from Janus: its page's connection goes to the "
            "Janus server and the kernel holds no peer connection for it to measure or "
            "change. Use feed.state, feed.viewers and view.history() here, or a VideoView "
            "of a kernel source for stats, SDP and the teaching controls"
        )

    def __repr__(self) -> str:
        if self.broadcast is not None:
            streams = len(self._streams)
            return f"<nbrtc.VideoView {self.broadcast!r} state={self.state!r} streams={streams}>"
        sound = f" audio={self.audio_source!r}" if self.audio_source is not None else ""
        return (
            f"<nbrtc.VideoView {self.source!r}{sound} state={self.state!r} "
            f"streams={len(self._streams)}>"
        )


class AudioView(_SourceView):
    """Plays a kernel-side sound in the browser (a player with a level meter).

    ``source``: ``sources.tone(440)`` (the default), ``sources.audio(array, rate)``, a
    numpy array (48 kHz), or any aiortc audio ``MediaStreamTrack``.
    """

    _kind = "audio"

    def __init__(
        self,
        source: Source | MediaStreamTrack | Any = None,
        *,
        ice_servers: list[IceServerSpec] | None = None,
        **kwargs: Any,
    ) -> None:
        self.source = tone() if source is None else as_audio_source(source)
        self._sources = (self.source,)
        super().__init__(ice_servers=ice_servers, **kwargs)
        self._watch_sources()

    def __repr__(self) -> str:
        return (
            f"<nbrtc.AudioView {self.source!r} state={self.state!r} streams={len(self._streams)}>"
        )
