"""A page that sends and plays sound over the comm as js/transport/comm-audio.js does: PCM s16
interleaved in the binary buffer of ``audio`` messages, 40 ms per chunk, at most
``MAX_UNACKED_MS`` unacknowledged (skipped beyond, never queued), and an ``audio-ack``
for the kernel's chunks every ``ACK_EVERY`` it played. Built on a ``FakeBrowser`` and a
``CommPage`` (offers, pings).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from nbrtc._transport.comm_audio import ACK_EVERY, MAX_UNACKED_MS

from ._browser import FakeBrowser
from ._comm_page import CommPage

CHUNK_MS = 40


def tone_pcm(
    freq: float, seconds: float, rate: int = 48_000, channels: int = 1, amplitude: float = 0.3
) -> np.ndarray:
    """(samples, channels) int16 of a sine at ``freq``."""
    t = np.arange(int(seconds * rate)) / rate
    mono = (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return np.repeat(mono[:, None], channels, axis=1)


class CommAudioPage:
    """Sound over the comm for streams of one fake page."""

    def __init__(self, browser: FakeBrowser, page: CommPage) -> None:
        self.b = browser
        self.page = page
        #: kernel -> page chunks per stream: (payload, pcm bytes)
        self.chunks: dict[str, list[tuple[dict[str, Any], bytes]]] = {}
        self.sent: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.max_unacked_ms: dict[str, float] = {}

    def attach(self, widget: Any) -> None:
        """Route ``widget``'s kernel -> page messages here first: ``audio`` messages (and
        their buffers) are kept, the rest go to the fake browser as before."""
        forward = widget._send_protocol

        def on_message(msg: dict[str, Any], buffers: Any = None) -> None:
            if msg["type"] == "audio":
                self.chunks.setdefault(msg["stream"], []).append(
                    (msg["payload"], bytes(buffers[0]))
                )
                return
            forward(msg, buffers)

        widget._send_protocol = on_message

    def chunk(self, widget: Any, sid: str, seq: int, pcm: np.ndarray, rate: int, pos: int) -> None:
        payload = {"seq": seq, "rate": rate, "ch": pcm.shape[1], "pos": pos, "t": pos / rate * 1000}
        widget._manager.handle_message(
            widget._port, self.b.envelope("audio", sid, payload), [pcm.astype("<i2").tobytes()]
        )

    def acked(self, sid: str) -> int:
        return max((m["payload"]["seq"] for m in self.b.of_type("audio-ack", sid)), default=0)

    def microphone(
        self, widget: Any, pcm: np.ndarray, rate: int = 48_000, kind: str | None = None
    ) -> str:
        """A microphone on the comm playing ``pcm`` (looped) at real time, honouring
        MAX_UNACKED_MS like js/transport/comm-audio.js."""
        sid = self.page.offer(widget, kind)
        self.page._go(self._send_loop(widget, sid, pcm, rate))
        self.page._go(self.page._ping(widget, sid))
        return sid

    async def _send_loop(self, widget: Any, sid: str, pcm: np.ndarray, rate: int) -> None:
        per = rate * CHUNK_MS // 1000
        seq = 0
        pos = 0
        sent_ms: dict[int, float] = {}
        t0 = time.monotonic()
        deadline = t0 + 120  # bounded, whatever the test does
        while sid not in self.page._stop and time.monotonic() < deadline:
            acked = self.acked(sid)
            for old in [s for s in sent_ms if s <= acked]:
                del sent_ms[old]
            unacked = sum(sent_ms.values())
            idx = np.arange(pos, pos + per) % len(pcm)
            if unacked + CHUNK_MS <= MAX_UNACKED_MS:
                seq += 1
                sent_ms[seq] = CHUNK_MS
                self.chunk(widget, sid, seq, pcm[idx], rate, pos)
                self.sent[sid] = seq
                self.max_unacked_ms[sid] = max(self.max_unacked_ms.get(sid, 0), unacked + CHUNK_MS)
            else:
                self.skipped[sid] = self.skipped.get(sid, 0) + 1
            pos += per
            due = t0 + pos / rate
            # pace: a microphone's chunk clock
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    def player(self, widget: Any, sid: str) -> None:
        """Play the kernel's chunks: acknowledge the first, then every ACK_EVERY."""
        self.page._go(self._play_loop(widget, sid))
        self.page._go(self.page._ping(widget, sid))

    async def _play_loop(self, widget: Any, sid: str) -> None:
        played = 0
        deadline = time.monotonic() + 120
        while sid not in self.page._stop and time.monotonic() < deadline:
            got = self.chunks.get(sid, [])
            if len(got) > played:
                last = played
                played = len(got)
                if last == 0 or played // ACK_EVERY > last // ACK_EVERY:
                    self.b.send(widget, "audio-ack", sid, {"seq": got[played - 1][0]["seq"]})
            await asyncio.sleep(0.01)  # poll interval (bounded by the loop's deadline)

    def pcm(self, sid: str) -> tuple[int, int, np.ndarray]:
        """(rate, channels, (samples, channels) int16) of everything the kernel sent."""
        got = list(self.chunks.get(sid, []))
        rate, ch = got[0][0]["rate"], got[0][0]["ch"]
        data = b"".join(d for _, d in got)
        return rate, ch, np.frombuffer(data, "<i2").reshape(-1, ch)
