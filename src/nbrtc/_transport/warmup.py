"""The first camera of a kernel, spared the process's one-time costs (issue 14).

The first peer connection of a process pays for first uses: cryptography's and
OpenSSL's (its certificate and DTLS context), libvpx's (its VP8 decoder), aioice's host
addresses. :func:`schedule` has the media loop pay them once, when the first nbrtc
widget is displayed: between that display and the page's offer the kernel waits ~0.1 s
for the page (rendering, the camera, ``createOffer``), so the work is off the path.
Measured (`benchmarks` stack, a fresh kernel and page for each camera, blocks of 5 with
and without, alternating, 10 of each): the first camera's first frame in Python, from its
cell's start, 284 -> 263 ms (medians).

Threads: ``schedule`` from any thread (the display hook runs on the main one); the work
runs on the media loop, which it starts.
"""

from __future__ import annotations

import logging
import threading

from .. import _upstream

log = logging.getLogger("nbrtc")

_lock = threading.Lock()
_scheduled = False


def schedule() -> None:
    """Warm the peer machinery on the media loop, once per process (any thread)."""
    global _scheduled
    with _lock:
        if _scheduled:
            return
        _scheduled = True
    from .._signaling.manager import manager

    manager().media.call_soon(_warm)


def _warm() -> None:
    try:
        _upstream.warm_peer_machinery()
    except Exception as exc:  # a changed aiortc: the first peer pays, nothing else
        log.debug("nbrtc: warming the peer machinery failed: %s", exc)
