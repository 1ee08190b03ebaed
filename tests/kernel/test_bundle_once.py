"""The front-end bundle crosses the comm once per kernel and page (nbrtc/_bundle.py): a
widget carries its text until a page has shown it holds it, later widgets carry "" and
the bundle's id, and a page that lacks it asks the widget, within a bound."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import nbrtc
from nbrtc import _bundle


@pytest.fixture(autouse=True)
def _fresh_kernel() -> Iterator[None]:
    _bundle.forget_pages()
    yield
    _bundle.forget_pages()


def _camera(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[dict], list[Any]]:
    """A Camera whose replies and routed messages are recorded instead of sent."""
    cam = nbrtc.Camera()
    sent: list[dict] = []
    routed: list[Any] = []
    monkeypatch.setattr(cam, "send", lambda content, buffers=None: sent.append(content))
    monkeypatch.setattr(
        cam._manager, "handle_message", lambda port, content, buffers=None: routed.append(content)
    )
    return cam, sent, routed


def test_the_text_goes_until_a_page_holds_it() -> None:
    text = _bundle.module("widget.js")
    first = nbrtc.Camera()
    try:
        assert first._module == text and len(text) > 10_000
        assert first._module_id.startswith("widget.js:") and len(first._module_id) == 26
        _bundle.page_holds("widget.js")
        later = nbrtc.Camera()
        try:
            # the id alone: the page's loader finds the bundle by it
            assert later._module == ""
            assert later._module_id == first._module_id
            assert later.get_state()["_module"] == ""
        finally:
            later.close()
        # another bundle is not held because this one is
        insp = nbrtc.Inspector(first)
        try:
            assert insp._module == _bundle.module("inspector.js")
            assert insp._module_id.startswith("inspector.js:")
        finally:
            insp.close()
    finally:
        first.close()


def test_a_page_message_proves_the_page_holds_the_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cam, sent, routed = _camera(monkeypatch)
    try:
        msg = {"v": 1, "type": "offer", "stream": "p1-1", "payload": {}}
        cam._on_custom_msg(cam, msg, [])
        assert routed == [msg] and sent == []
        assert nbrtc.Camera()._module == ""
    finally:
        cam.close()


def test_a_page_without_the_bundle_gets_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    cam, sent, routed = _camera(monkeypatch)
    try:
        cam._on_custom_msg(cam, {"nbrtc_module": cam._module_id}, [])
        assert sent == [{"nbrtc_module": cam._module_id, "text": _bundle.module("widget.js")}]
        # the request is the loader's, not the router's: nothing reaches the manager, and
        # it proves nothing about the page
        assert routed == []
        assert nbrtc.Camera()._module != ""
    finally:
        cam.close()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ({"nbrtc_module": "widget.js:0000000000000000"}, "restart the kernel and reload"),
        ({"nbrtc_module": 7}, "names the bundle's id, a string"),
        ({"nbrtc_module": "x" * 5000}, "names the bundle's id, a string"),
    ],
)
def test_a_bad_request_gets_an_error_reply_in_words(
    monkeypatch: pytest.MonkeyPatch, content: dict, words: str
) -> None:
    cam, sent, routed = _camera(monkeypatch)
    try:
        cam._on_custom_msg(cam, content, [])
        assert len(sent) == 1 and "text" not in sent[0]
        assert words in sent[0]["error"]
        assert len(str(sent[0])) < 1000, "the page's string is not echoed at any length"
        assert routed == []
    finally:
        cam.close()


def test_replies_are_bounded_per_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(_bundle.time, "monotonic", lambda: now[0])
    cam, sent, _routed = _camera(monkeypatch)
    try:
        ask = {"nbrtc_module": cam._module_id}
        for _ in range(_bundle.MAX_REPLIES + 2):
            cam._on_custom_msg(cam, ask, [])
        texts = [m for m in sent if "text" in m]
        refused = [m for m in sent if "error" in m]
        assert len(texts) == _bundle.MAX_REPLIES and len(refused) == 2
        assert "reload the page" in refused[0]["error"]
        # once the window has passed, the widget answers again
        now[0] += _bundle.REQUEST_WINDOW + 0.1
        cam._on_custom_msg(cam, ask, [])
        assert "text" in sent[-1]
        # the bound is the widget's own: another widget answers at once
        other, other_sent, _ = _camera(monkeypatch)
        try:
            other._on_custom_msg(other, {"nbrtc_module": other._module_id}, [])
            assert "text" in other_sent[-1]
        finally:
            other.close()
    finally:
        cam.close()


def test_the_inspector_answers_for_its_own_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    cam = nbrtc.Camera()
    insp = nbrtc.Inspector(cam)
    sent: list[dict] = []
    monkeypatch.setattr(insp, "send", lambda content, buffers=None: sent.append(content))
    try:
        insp._on_control(insp, {"nbrtc_module": insp._module_id}, [])
        assert sent == [{"nbrtc_module": insp._module_id, "text": _bundle.module("inspector.js")}]
        assert insp.error == ""
        insp._on_control(insp, {"nbrtc_module": cam._module_id}, [])
        assert "inspector.js:" in sent[-1]["error"]
    finally:
        insp.close()
        cam.close()
