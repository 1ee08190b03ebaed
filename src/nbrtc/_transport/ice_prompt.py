"""The kernel's ICE reports its success the moment it has it (issue 14).

Why: aioice's ``Connection.connect()`` paces its connectivity checks with a 20 ms sleep
(RFC 8445's Ta) and reads the check list's outcome only when that sleep ends, so the
nomination that completes ICE is acted on up to 20 ms late. aiortc starts DTLS, and so
the first frame, only when ``connect()`` returns. Traced in the kernel behind a real
JupyterLab page: the browser's nominating check completed ICE, and ``connect()``
returned 13 ms later (median of nine cameras).

What: the subclass of aioice's ``Connection`` that aiortc's ``RTCIceGatherer`` makes once
:func:`install` ran (``_upstream.patch_ice_connection``: it touches aioice's internals,
so it lives there) runs aioice's own ``connect()`` unchanged in a task of its own and
returns as soon as the check list has completed
(aioice's ``_check_list_maybe_complete``), or with that task's result or error when it
ends first (a failure keeps aioice's timing and words). After an early return, aioice's
``connect()`` wakes from its sleep within 20 ms, finds the check list completed, cancels
the checks left and starts its consent checks, as it always does; until then the
connection already sends and receives on its nominated pair. ``close()`` first ends that
task (it is only ever sleeping or reading the outcome then), so no task outlives the
connection and no consent check starts after it closed.

Effect: ``connect()`` returns as ICE completes (tests/unit/test_ice_prompt.py), but the
benchmark's first frame did not move beyond its noise (A/B of 22 repetitions each:
0.248 s without, 0.244 s with): behind a JupyterLab page it then waits for the page.

Threads: everything runs on the media loop, where aiortc runs aioice.
"""

from __future__ import annotations

from .. import _upstream


def install() -> bool:
    """Make every ICE connection aiortc creates from now on a prompt one (idempotent; any
    thread, before the peer connections exist). False when aioice's internals changed
    (``import nbrtc`` already warned which): ICE then completes as in plain aiortc."""
    if not _upstream.works(_upstream.ice_connection_problems, "aioice's ICE pacing kept"):
        return False
    _upstream.patch_ice_connection(True)
    return True
