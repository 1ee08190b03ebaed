"""Decode the camera's time stamp in Python (the page side is ``_js.READ_STAMPS_JS``).

The canvas camera paints 16 blocks of ``w/16`` pixels along the top of each frame; block
``i`` is white when bit ``i`` of ``round(performance.now()) & 0xffff`` (page clock, ms)
was set when the frame was painted. This module is imported by the floor server and its
source is sent into the notebook kernel, so it depends on nothing but numpy-like arrays.
"""

from __future__ import annotations

from typing import Any


def stamp_of(gray: Any) -> int:
    """The 16-bit page-clock stamp (ms) painted in a gray (H, W) uint8 frame."""
    bw = gray.shape[1] // 16
    row = gray[bw // 2]
    t = 0
    for i in range(16):
        if row[i * bw + bw // 2] > 128:
            t |= 1 << i
    return t


def one_way_ms(recv_epoch_ms: float, stamp: int, base_ms: float) -> int:
    """Camera -> receiver latency in ms: the receive time on the page clock minus stamp.

    ``base_ms`` is ``epoch_ms - performance.now()`` for the sending page, measured by
    ``_stack.clock_base``; ``recv_epoch_ms`` is ``time.time() * 1000`` at receipt.
    """
    page_now = round(recv_epoch_ms - base_ms) & 0xFFFF
    return (page_now - stamp + 65536) % 65536
