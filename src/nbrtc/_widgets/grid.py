"""``Grid``: many feeds laid out in columns, closed together.

A Grid lives exactly as long as its feeds: ``close()`` closes them, it closes itself when
its last nbrtc feed closes, and re-running the cell that made it closes it. (An
ipywidgets container otherwise stays in ipywidgets' registry until closed, holding its
closed children, their history and stats, for the life of the kernel.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import ipywidgets

from .._signaling.manager import manager
from .base import WidgetPort
from .camera import offer_ahead


class Grid(ipywidgets.GridBox):
    """Lays out widgets (``VideoView``, ``Camera``...) in ``columns`` equal columns.

    All feeds on a page share the page's one signaling router; each is its own stream.
    ``grid.close()`` closes every child too (their streams end within the usual bound).
    """

    def __init__(
        self, children: Iterable[ipywidgets.Widget] = (), columns: int = 4, **kwargs: Any
    ) -> None:
        items = list(children)
        bad = [type(c).__name__ for c in items if not isinstance(c, ipywidgets.Widget)]
        if bad:
            raise TypeError(f"Grid children must be widgets (e.g. nbrtc.VideoView); got {bad}")
        if not isinstance(columns, int) or isinstance(columns, bool) or not 1 <= columns <= 32:
            raise ValueError(f"columns must be an int from 1 to 32, got {columns!r}")
        layout = kwargs.pop("layout", None) or ipywidgets.Layout(
            grid_template_columns=f"repeat({columns}, minmax(0, 1fr))",
            grid_gap="4px",
            width="100%",
        )
        self._closed = False
        self._closed_by_shutdown = False
        self._cell_id: str | None = None
        super().__init__(children=items, layout=layout, **kwargs)
        self.columns = columns
        self._feeds = [c for c in items if hasattr(c, "_closed") and hasattr(c, "state")]
        for feed in self._feeds:
            feed.observe(self._feed_state, names="state")
        self._port = WidgetPort(self)
        manager().register(self._port)  # re-running the cell closes it

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """ipywidgets' display hook (main thread): the kernel offers for the grid's cameras
        at once, as a displayed Camera does for itself (``nbrtc.config.kernel_offer``)."""
        offer_ahead(list(self.children))
        return super()._repr_mimebundle_(**kwargs)

    def _feed_state(self, change: Any) -> None:
        """A feed's state changed (any thread): the grid ends with its last feed."""
        if change.get("new") == "closed" and all(f.state == "closed" for f in self._feeds):
            self.close()

    def close(self) -> None:
        """Close every child widget, then the grid and its layout (idempotent, any thread)."""
        if self._closed:
            return
        self._closed = True
        for feed in self._feeds:
            with contextlib.suppress(Exception):
                feed.unobserve(self._feed_state, names="state")
        for child in list(self.children):
            # one child failing must not keep the others open
            with contextlib.suppress(Exception):
                child.close()
        layout = self.layout
        super().close()
        with contextlib.suppress(Exception):
            layout.close()

    def __enter__(self) -> Grid:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<nbrtc.Grid {len(self.children)} feeds, {self.columns} columns>"
