"""``VideoView`` (kernel -> browser video, optionally with sound) and ``AudioView``."""

from __future__ import annotations

import contextlib
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from .._config import IceServerSpec
from ..sources import Source, as_audio_source, as_source, tone
from .stream_widget import StreamWidget


class _SourceView(StreamWidget):
    """Plays kernel-side sources; every view of one source shares one producer."""

    _sources: tuple[Source, ...] = ()

    def _watch_sources(self) -> None:
        for src in self._sources:
            src._error_listeners.append(self._source_error)

    def _source_error(self, text: str) -> None:
        if not self._closed and self.error != text:
            self.error = text

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
    """

    _kind = "view"

    def __init__(
        self,
        source: Source | MediaStreamTrack | str | None = None,
        *,
        audio: Source | MediaStreamTrack | None = None,
        ice_servers: list[IceServerSpec] | None = None,
        **kwargs: Any,
    ) -> None:
        self.source = as_source(source)
        self.audio_source = None if audio is None else as_audio_source(audio)
        self._sources = (self.source,) + (() if self.audio_source is None else (self.audio_source,))
        super().__init__(ice_servers=ice_servers, **kwargs)
        self._watch_sources()

    def __repr__(self) -> str:
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
