"""The first display of an nbrtc widget warms the peer machinery once, on the media loop
(nbrtc._transport.warmup)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import nbrtc
from nbrtc import _upstream
from nbrtc._transport import warmup

from ._browser import wait_for


def test_the_warm_up_runs_on_this_aiortc() -> None:
    """The upstream probe: it uses aiortc privates; if this fails, the first camera of a
    kernel pays its one-time costs again (production only logs it)."""
    _upstream.warm_peer_machinery()


def test_the_first_display_warms_once_on_the_media_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "_scheduled", False)
    ran: list[str] = []
    monkeypatch.setattr(
        _upstream, "warm_peer_machinery", lambda: ran.append(threading.current_thread().name)
    )
    cams = [nbrtc.Camera(), nbrtc.Camera()]
    try:
        bundles = [c._repr_mimebundle_() for c in cams] + [cams[0]._repr_mimebundle_()]
        assert all("widget-view+json" in str(b) for b in bundles)  # what anywidget returns
        wait_for(lambda: ran, 5, what="the warm-up")
        mgr = nbrtc.manager()
        mgr.media.run(_turns(), 5)  # anything else scheduled would have run by now
        assert ran == [mgr.media.thread.name], ran
    finally:
        for c in cams:
            c.close()


def test_a_failing_warm_up_is_logged_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(warmup, "_scheduled", False)

    def broken() -> Any:
        raise AttributeError("no _create_ssl_context")

    monkeypatch.setattr(_upstream, "warm_peer_machinery", broken)
    cam = nbrtc.Camera()
    try:
        with caplog.at_level("DEBUG", logger="nbrtc"):
            assert cam._repr_mimebundle_()
            wait_for(
                lambda: "warming the peer machinery failed" in caplog.text, 5, what="the log line"
            )
        assert nbrtc.manager().media.running()
    finally:
        cam.close()


async def _turns() -> None:
    for _ in range(3):
        await asyncio.sleep(0)
