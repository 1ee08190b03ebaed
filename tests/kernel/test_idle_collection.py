"""The idle collection (``_memory.Trimmer``): reference cycles are collected once no stream
is left, never while one streams. Real manager, real aiortc page (``FakeBrowser``).

Python's automatic collection is switched off for each test, so a cycle goes away only if
someone collects on purpose: the trimmer's job (or nothing, which the tests catch).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

import nbrtc

from ._browser import FakeBrowser, wait_for

# the trimmer's job runs TRIM_DELAY (1 s) after the last close; generous for a loaded CI
DEADLINE = 10.0


class _Cycle:
    """An object only a collection can free (it refers to itself)."""

    def __init__(self) -> None:
        self.me = self


def _garbage_cycle() -> weakref.ref[_Cycle]:
    return weakref.ref(_Cycle())


@pytest.fixture
def no_auto_gc() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _live_camera(browser: FakeBrowser, widgets: list[nbrtc.Camera]) -> nbrtc.Camera:
    cam = nbrtc.Camera()
    widgets.append(cam)
    browser.attach(cam)
    browser.start(cam)
    cam.wait("live", timeout=10)
    return cam


def _wait_collection(mgr: nbrtc.PeerManager, before: int) -> None:
    """Until the trimmer's collection count passes ``before``; a failure names the streams
    the manager still holds (a stream left open elsewhere keeps the kernel busy)."""
    try:
        wait_for(lambda: mgr.trimmer.collections > before, DEADLINE, what="an idle collection")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the manager still holds {mgr.streams()}") from None


def test_with_no_stream_left_the_cycles_of_closed_streams_are_collected(
    browser: FakeBrowser,
    widgets: list[nbrtc.Camera],
    no_auto_gc: None,
) -> None:
    mgr = nbrtc.manager()
    cam = _live_camera(browser, widgets)
    before = mgr.trimmer.collections
    cycle = _garbage_cycle()
    assert cycle() is not None, "automatic collection is off: the cycle stays until collected"
    cam.close()
    _wait_collection(mgr, before)
    assert cycle() is None, "the idle collection freed the cycle"
    assert mgr.trimmer.last_collect_seconds > 0


def test_while_a_stream_is_open_closing_another_collects_nothing(
    browser: FakeBrowser,
    widgets: list[nbrtc.Camera],
    no_auto_gc: None,
) -> None:
    mgr = nbrtc.manager()
    first = _live_camera(browser, widgets)
    second = _live_camera(browser, widgets)
    collections, trims = mgr.trimmer.collections, mgr.trimmer.trims
    cycle = _garbage_cycle()
    first.close()
    # the job after that close ran (glibc's malloc_trim is here), and collected nothing
    wait_for(lambda: mgr.trimmer.trims > trims, DEADLINE, what="the trim after the close")
    assert mgr.trimmer.collections == collections, "no collection while a stream is open"
    assert cycle() is not None
    assert second.state == "live", "the open stream kept streaming"
    second.close()
    _wait_collection(mgr, collections)
    assert cycle() is None
