"""Google Colab, as far as it can be checked here (issue 12, host matrix).

Colab shows third-party widgets only once its custom widget manager is enabled, and
renders one only when the widget's display data names that manager. anywidget does both
when ``google.colab.output`` is imported; these tests stand in a module with Colab's two
entry points (the function and the installed-URL attribute anywidget reads) and check
that every nbrtc widget keeps that path: nothing in nbrtc replaces the display data or
skips anywidget's constructor. Whether media then flows on a real Colab VM (no UDP path:
TURN or the comm fallback) cannot be tested here; README "Google Colab" says how.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import nbrtc

_URL = "https://colab.invalid/widget-manager.js"  # .invalid: never resolved


@pytest.fixture()
def colab(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A stand-in ``google.colab.output``; yields the list of enable calls."""
    calls: list[int] = []
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append(1)  # type: ignore[attr-defined]
    output._widgets = types.SimpleNamespace(_installed_url=_URL)  # type: ignore[attr-defined]
    google = types.ModuleType("google")
    colab_mod = types.ModuleType("google.colab")
    google.colab = colab_mod  # type: ignore[attr-defined]
    colab_mod.output = output  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab_mod)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    from anywidget import _util

    # anywidget enables the manager once per process (functools.cache): start afresh
    _util.enable_custom_widget_manager_once.cache_clear()
    yield calls
    _util.enable_custom_widget_manager_once.cache_clear()


@pytest.mark.parametrize(
    "make",
    [
        lambda: nbrtc.Camera(),
        lambda: nbrtc.Microphone(),
        lambda: nbrtc.VideoView(nbrtc.sources.test_pattern()),
        lambda: nbrtc.Room("colab-room"),
    ],
    ids=["Camera", "Microphone", "VideoView", "Room"],
)
def test_widgets_take_colabs_widget_manager(colab: list[int], make: Callable[[], Any]) -> None:
    widget = make()
    try:
        assert colab, "Colab's custom widget manager was not enabled"
        bundle = widget._repr_mimebundle_()
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        mime = "application/vnd.jupyter.widget-view+json"
        assert data[mime]["model_id"] == widget.model_id
        assert metadata[mime]["colab"]["custom_widget_manager"]["url"] == _URL, metadata
    finally:
        widget.close()
