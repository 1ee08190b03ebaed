"""``jitter_buffer_ms``: how long the page holds the kernel's video before showing it
(js/peer/playout.js). What the setting and the trait take, what they say when they
cannot, and that a widget starts from ``nbrtc.config``'s value. The page side is in
js/tests/kinds.test.js and tests/e2e/test_media.py."""

from __future__ import annotations

import pytest
import traitlets

import nbrtc
from nbrtc._config import DEFAULT_JITTER_BUFFER_MS, Config


@pytest.mark.parametrize("bad", [-1, 4001, 1.5, "40", None, True])
def test_a_bad_setting_is_refused_naming_it(bad: object) -> None:
    c = Config()
    with pytest.raises(ValueError, match=r"nbrtc.config.jitter_buffer_ms must be"):
        c.jitter_buffer_ms = bad  # type: ignore[assignment]
    assert c.jitter_buffer_ms == DEFAULT_JITTER_BUFFER_MS == 0


def test_the_range_says_what_0_means() -> None:
    c = Config()
    said = r"between 0 \(the browser's own, lowest latency\) and 4000"
    with pytest.raises(ValueError, match=said):
        c.jitter_buffer_ms = 5000
    for ok in (0, 1, 4000):
        c.jitter_buffer_ms = ok
        assert c.jitter_buffer_ms == ok
    assert "jitter_buffer_ms=4000" in repr(c)


def test_a_widget_starts_from_the_config_and_may_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nbrtc.config, "_jitter_buffer_ms", 90)
    view = nbrtc.VideoView(nbrtc.sources.test_pattern(64, 48, 5))
    cam = nbrtc.Camera(jitter_buffer_ms=0)
    plain = nbrtc.Camera()
    try:
        assert view.jitter_buffer_ms == 90
        assert cam.jitter_buffer_ms == 0
        assert plain.jitter_buffer_ms == 90
        # synced to the page, which applies it (the trait is part of the widget's state)
        assert view.get_state()["jitter_buffer_ms"] == 90
        view.jitter_buffer_ms = 250
        assert view.get_state()["jitter_buffer_ms"] == 250
    finally:
        view.close()
        cam.close()
        plain.close()


@pytest.mark.parametrize("bad", [-5, 4001, 2.5])
def test_a_bad_trait_value_is_refused_and_the_old_one_kept(bad: object) -> None:
    view = nbrtc.VideoView(nbrtc.sources.test_pattern(64, 48, 5))
    try:
        with pytest.raises((ValueError, traitlets.TraitError), match="jitter_buffer_ms"):
            view.jitter_buffer_ms = bad  # type: ignore[assignment]
        assert view.jitter_buffer_ms == 0
    finally:
        view.close()
    with pytest.raises(ValueError, match="jitter_buffer_ms must be between 0"):
        nbrtc.Camera(jitter_buffer_ms=-1)
