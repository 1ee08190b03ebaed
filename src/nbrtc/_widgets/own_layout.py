"""The ``Layout`` ipywidgets makes for each widget, closed with it.

Every ``DOMWidget`` (an anywidget too) gets its own ``Layout`` widget, with its own comm,
at construction. ipywidgets' ``Widget.close()`` closes only the widget itself, so each
closed nbrtc widget left its Layout open in ipywidgets' registry (and as a model in every
page) for the life of the kernel: measured with ``tracemalloc`` over 100 open/close
cycles of a Camera and a VideoView, 200 Layouts (~2.3 KiB each with their comms), the
largest growth nbrtc itself caused (issue 14's flat-memory goal).

A layout the caller passed (``layout=``) may be shared with other widgets: only the one
ipywidgets made for this widget is closed.
"""

from __future__ import annotations

import contextlib
from typing import Any


def own_layout(widget: Any, kwargs: dict[str, Any]) -> Any:
    """The Layout ipywidgets made for ``widget`` (call right after its ``__init__``), or
    None when the caller passed one in ``kwargs``."""
    return None if "layout" in kwargs else getattr(widget, "layout", None)


def close_own_layout(widget: Any, layout: Any) -> None:
    """Close ``layout`` if it is still ``widget``'s (any thread; never raises)."""
    current: Any = getattr(widget, "layout", None)
    if layout is None or current is not layout:
        return
    with contextlib.suppress(Exception):  # its comm may be gone already (kernel shutdown)
        layout.close()
