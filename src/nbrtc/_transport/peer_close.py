"""Closing an aiortc peer connection so that nothing of it starts again (``seal``,
``start_close``, ``close_quietly``).

Every kernel peer, a stream's, a replaced one, or an SFU feed's, is closed here, on the
loop that runs it (the media loop).

Why a seal. aiortc's connect step (a task that ``setLocalDescription`` starts) awaits the
DTLS handshake and then, if the handshake succeeded, starts SCTP and the RTP senders and
receivers. ``close()`` stops SCTP first and DTLS next, and ``RTCSctpTransport.stop()``
before ``start()`` leaves it startable. So when the handshake completes during
``close()``'s own awaits (the page's last flight was already on its way), the connect step
goes on to start SCTP on a transport ``close()`` has stopped: it sends INIT into a closed
DTLS transport and retransmits it on its T1 timer for about 25 s, each time logging "Task
exception was never retrieved", and the transports' listeners keep the closed peer
alive all that while. The RTP senders and receivers would start too (they end on their own
within about a second). ``seal`` makes each of those ``start`` calls a no-op before
``close()`` begins; the connect step looks the methods up on the instances when it calls
them, so it finds the no-ops.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiortc import RTCPeerConnection

log = logging.getLogger("nbrtc")

#: how long a closer waits for ``pc.close()`` before it lets it go on by itself
CLOSE_TIMEOUT = 1.0

#: peers being closed: held here so the tasks are not garbage-collected, and never
#: cancelled (aiortc's close() cancelled half-way leaves the ICE sockets open and a second
#: close() waiting forever)
_CLOSING: set[asyncio.Task[None]] = set()


async def _refuse_start(*_args: Any, **_kwargs: Any) -> None:
    """What a sealed transport's, sender's or receiver's start does: nothing."""


def seal(pc: RTCPeerConnection) -> None:
    """Make ``pc``'s SCTP transport, RTP senders and RTP receivers refuse to start from
    now on (call right before ``pc.close()``, on the pc's loop; idempotent)."""
    sctp = pc.sctp
    if sctp is not None:
        setattr(sctp, "start", _refuse_start)  # noqa: B010 (an instance's method, on purpose)
    for transceiver in pc.getTransceivers():
        setattr(transceiver.sender, "send", _refuse_start)  # noqa: B010
        setattr(transceiver.receiver, "receive", _refuse_start)  # noqa: B010


def start_close(pc: RTCPeerConnection, label: str) -> asyncio.Task[None]:
    """Seal ``pc`` and close it in a task of its own, held until done (the pc's loop).
    ``label`` names the owner in the log (a stream id, a feed)."""
    seal(pc)

    async def close() -> None:
        try:
            await pc.close()
        except Exception as exc:
            log.warning("%s: peer close: %s", label, repr(exc))

    task = asyncio.get_running_loop().create_task(close())
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)
    return task


async def close_quietly(pc: RTCPeerConnection, label: str, timeout: float = CLOSE_TIMEOUT) -> None:
    """Close ``pc`` and wait for it at most ``timeout`` s; the close goes on if this wait
    is cancelled or times out (the pc's loop)."""
    await asyncio.wait({start_close(pc, label)}, timeout=timeout)
