"""``VideoView``: kernel -> browser video from any source."""

from __future__ import annotations

import contextlib
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from ._widget import StreamWidget
from .sources import Source, as_source


class VideoView(StreamWidget):
    """Plays a kernel-side source in the cell.

    ``source`` is an nbrtc source (``sources.test_pattern()`` — the default —,
    ``sources.file(path)``, ``sources.frames(gen, fps)``), an aiortc ``MediaStreamTrack``,
    or a file path. Every view of one source shares one producer, which runs only while
    a view is live.
    """

    _kind = "view"

    def __init__(
        self,
        source: Source | MediaStreamTrack | str | None = None,
        *,
        ice_servers: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.source = as_source(source)
        super().__init__(ice_servers=ice_servers, **kwargs)
        self.source._error_listeners.append(self._source_error)

    def _source_error(self, text: str) -> None:
        if not self._closed and self.error != text:
            self.error = text

    def _tracks_for(self, stream: Any) -> list[MediaStreamTrack]:
        return [self.source._subscribe()]

    def _closed_cleanup(self) -> None:
        with contextlib.suppress(ValueError):
            self.source._error_listeners.remove(self._source_error)

    def __repr__(self) -> str:
        return (
            f"<nbrtc.VideoView {self.source!r} state={self.state!r} streams={len(self._streams)}>"
        )
