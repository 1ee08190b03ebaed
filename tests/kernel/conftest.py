"""Kernel-side fixtures: a fake browser page (a real aiortc peer) and leak accounting."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import nbrtc

from ._browser import FakeBrowser, wait_for

# the Janus fixtures (janus_server, server, janus) of the modules that test against a real
# Janus; a module that defines its own (test_janus.py) overrides them
from ._janus import janus, janus_server, server  # noqa: F401

logging.getLogger("aioice").setLevel(logging.WARNING)


@pytest.fixture
def browser(no_leaks: None) -> Iterator[FakeBrowser]:
    page = FakeBrowser()
    yield page
    page.close()


@pytest.fixture
def widgets(browser: FakeBrowser) -> Iterator[list[nbrtc.Camera | nbrtc.VideoView]]:
    """Widgets made by a test; closed first at teardown, then the page, then the leak check."""
    made: list[nbrtc.Camera | nbrtc.VideoView] = []
    yield made
    for w in made:
        w.close()
    mgr = nbrtc.manager()
    wait_for(lambda: not mgr.streams(), 5, what="no streams left")


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves aiortc peers, UDP sockets or threads behind.

    The fake browser's peers live in this process too, so ``browser`` depends on this
    fixture: it is closed before the check runs.
    """
    mgr = nbrtc.manager()
    before = mgr.resources()
    yield

    def clean() -> bool:
        now = mgr.resources()
        return (
            now["streams"] == 0
            and now["peers"] == 0
            and now["udp_sockets"] <= before["udp_sockets"]
            and not any(
                n.startswith(("video-decoder", "nbrtc-frames", "media-player", "nbrtc-comm-"))
                for n in now["thread_names"]
            )
        )

    wait_for(clean, 5, what=f"kernel resources back to baseline (now {mgr.resources()})")
