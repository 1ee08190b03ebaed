"""Decoded frames reach the media loop with one call each, not a Task each (issue 14).

Every kernel receiver (camera, microphone, screen) decodes on its own thread; aiortc then
hands each decoded frame to the media loop by running a coroutine there, which costs a
Task and two chained futures per frame on the loop that also carries every packet of every
stream. :func:`install` swaps in ``_upstream.decoder_worker``, the same decoding loop with
a single ``call_soon_threadsafe`` per frame (order, end of track and decode-error reporting
unchanged). It is on by default; ``install(False)`` lets a benchmark compare both
hand-offs in one kernel.
"""

from __future__ import annotations

from .. import _upstream


def install(enabled: bool = True) -> bool:
    """Use the lighter hand-off (``enabled``) or aiortc's own for receivers started from now
    on; idempotent, any thread. False when aiortc's internals changed (``import nbrtc``
    already warned which, as :class:`nbrtc._upstream.UpstreamWarning`): frames then reach
    the loop as in plain aiortc and nothing else changes."""
    if not _upstream.works(_upstream.decoder_handoff_problems, "aiortc's decoder hand-off kept"):
        return False
    _upstream.patch_decoder_handoff(enabled)
    return True
