"""The media thread's event loop (``nbrtc.config.media_loop``, src/nbrtc/_loop.py): a
camera streams, closes and leaves nothing behind on uvloop's loop and on asyncio's, and
the setting takes effect at the media thread's next start."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import nbrtc
from nbrtc._config import config

from ._browser import FakeBrowser, live, wait_for


@pytest.fixture
def media_loop() -> Iterator[None]:
    """Restart the media thread around a test that changes ``config.media_loop``, so that
    the next test gets the default again (no stream is open at either end)."""
    mgr = nbrtc.manager()
    before = config.media_loop
    wait_for(lambda: not mgr.streams(), 5, what="no streams before")
    mgr.media.stop()
    yield
    config.media_loop = before
    wait_for(lambda: not mgr.streams(), 5, what="no streams after")
    mgr.media.stop()


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
def test_a_camera_streams_and_closes_on_either_loop(
    media_loop: None, browser: FakeBrowser, widgets: list, kind: str
) -> None:
    config.media_loop = kind
    mgr = nbrtc.manager()
    cam, _sid = live(browser, widgets, nbrtc.Camera(width=320, height=240))
    assert mgr.media.implementation == kind
    loop = mgr.media.loop
    assert type(loop).__module__.split(".")[0] == kind, type(loop)
    frame = cam.snapshot(timeout=10)
    assert frame.shape == (240, 320, 3)
    wait_for(lambda: cam.frame_count >= 10, 10, what="ten frames")
    cam.close()
    wait_for(lambda: not mgr.streams(), 2, what="the stream closed")
    # the loop still serves work after the stream's teardown
    assert mgr.media.run(asyncio.sleep(0, result="ok"), 5) == "ok"


def test_auto_is_uvloop_where_it_is_installed(media_loop: None) -> None:
    pytest.importorskip("uvloop", reason="uvloop is not installed (Windows)")
    config.media_loop = "auto"
    mgr = nbrtc.manager()
    assert mgr.media.run(asyncio.sleep(0, result=1), 5) == 1
    assert mgr.media.implementation == "uvloop"


def test_a_new_setting_applies_at_the_next_start(media_loop: None) -> None:
    mgr = nbrtc.manager()
    config.media_loop = "asyncio"
    mgr.media.run(asyncio.sleep(0), 5)
    assert mgr.media.implementation == "asyncio"
    config.media_loop = "uvloop"
    mgr.media.run(asyncio.sleep(0), 5)
    assert mgr.media.implementation == "asyncio"  # the running loop is kept
    mgr.media.stop()
    mgr.media.run(asyncio.sleep(0), 5)
    assert mgr.media.implementation == "uvloop"
